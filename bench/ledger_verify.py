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

from bench import upgrade_quietly

GOAL = 1.5


def _generate(session, count: int) -> None:
    from sqlalchemy import insert, text, update

    from fundapp.compliance.ledger import GENESIS_HASH, canonical_json, entry_hash
    from fundapp.compliance.models import LedgerEntry, LedgerHead

    if session.get_bind().dialect.name == "sqlite":
        # The unique index on hash takes random inserts: a larger page cache keeps a million of
        # them from rewriting the same pages over and over (generation only, not measured).
        session.execute(text("PRAGMA cache_size = -262144"))
    prev = GENESIS_HASH
    batch = []
    for seq in range(1, count + 1):
        payload = canonical_json({"amount": f"{seq * 37 % 10_000_000}.25", "company": "示例科技有限公司",
                                  "clause": "R6.a", "n": seq})
        row = dict(seq=seq, recorded_at=f"2026-01-01T00:00:{seq % 60:02d}.000000Z",
                   actor="bench@fundapp.cn", action="bench.entry", subject_type="bench",
                   subject_id=str(seq), payload=payload, prev_hash=prev)
        row["hash"] = entry_hash(**row)
        prev = row["hash"]
        batch.append(row)
        if len(batch) == 20_000:
            session.execute(insert(LedgerEntry), batch)
            batch.clear()
    if batch:
        session.execute(insert(LedgerEntry), batch)
    session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=count, hash=prev))
    session.commit()


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
            _generate(db.session, count)
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
