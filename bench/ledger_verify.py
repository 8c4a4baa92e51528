"""Ledger chain verification against the bare work (a plain SELECT of the same rows + SHA-256).

Goal (issue 7): verification ≤ 1.5 × the bare work. Entries are generated straight into a scratch
SQLite database through the real schema (Alembic), with real hashes, so that `verify_chain` reads
exactly what production would.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bench import continue_ledger, upgrade_quietly

GOAL = 1.5


def _bare(session) -> float:
    from fundapp.compliance.ledger import iter_entries

    started = time.perf_counter()
    for row in iter_entries(session):
        hashlib.sha256("|".join((str(row.seq), row.recorded_at, row.actor, row.action,
                                 row.subject_type, row.subject_id, row.payload,
                                 row.prev_hash)).encode()).hexdigest()
    return time.perf_counter() - started


def run() -> dict:

    from fundapp.app import create_app
    from fundapp.compliance.ledger import verify_chain
    from fundapp.config import TestConfig
    from fundapp.extensions import db

    count = int(int(os.environ.get("BENCH_LEDGER_ENTRIES", 1_000_000))
                * float(os.environ.get("BENCH_SCALE", 1)))
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        with app.app_context():
            upgrade_quietly()
            continue_ledger(db.session, count)
            db.session.execute(select(1))
            bare = min(_bare(db.session) for _ in range(2))
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                result = verify_chain(db.session)
                timings.append(time.perf_counter() - started)
            assert result.ok and result.count == count, result
            verify = min(timings)
            db.engine.dispose()
    ratio = verify / bare
    return {
        "entries": f"{count:,}",
        "bare SELECT + sha256 (s)": f"{bare:.3f}",
        "verify_chain (s)": f"{verify:.3f}",
        "entries per second": f"{count / verify:,.0f}",
        "ratio (goal ≤ 1.5)": f"{ratio:.2f}",
        "goal_met": ratio <= GOAL,
    }
