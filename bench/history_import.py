"""A 5,000-row history workbook imported (dry run and commit): rows per second, and the ratio
to bare openpyxl reading the same file.

The workbook is the test's three-year history (tests/data/history_workbook.py) with its pipeline
repeated until it has about 5,000 rows, imported into a scratch SQLite database migrated by
Alembic, through `run_import` (the parser, every operation, the ledger). Bare openpyxl reads every
cell of the same file (read-only, values only). Figures, not a goal: the issue asks for the rate.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from bench import upgrade_quietly

ROWS = int(5000 * float(os.environ.get("BENCH_SCALE", "1")))


def _bare_read(content: bytes) -> int:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    cells = 0
    for ws in book.worksheets:
        for row in ws.iter_rows(values_only=True):
            cells += len(row)
    book.close()
    return cells


def run() -> dict:
    os.environ.setdefault("FUNDAPP_SECRET_KEY", "bench")
    from fundapp.app import create_app
    from fundapp.config import TestConfig
    from fundapp.extensions import db
    from fundapp.fund.operations import create_fund
    from fundapp.history_import.operations import run_import
    from fundapp.reference.operations import add_lpr_rate
    from tests.data.history_workbook import build

    repeat = 1
    content, expected = build(difference=False, repeat=1)
    per_repeat = expected.rows
    repeat = max(1, round((ROWS - 60) / (per_repeat - 60)))
    content, expected = build(difference=False, repeat=repeat)
    rows = expected.rows
    bare = min(_timed(lambda: _bare_read(content)) for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        with app.app_context(), app.test_request_context():
            upgrade_quietly()
            create_fund(db.session, name="基准基金", committed_amount=Decimal(10**11),
                        established_on=date(2022, 1, 1), actor="bench")
            add_lpr_rate(db.session, published_on=date(2022, 8, 22), rate_pct="3.65",
                         actor="bench")
            db.session.commit()
            marks: list[tuple[int, int]] = []
            started = time.perf_counter()
            report = run_import(db.session, content, filename="bench.xlsx", actor="bench",
                                dry_run=True, locale="en", progress=lambda d, t: marks.append(
                                    (d, t)))
            db.session.rollback()
            dry = time.perf_counter() - started
            problems = len(report["problems"])
            if problems:  # a benchmark of a refused commit would measure nothing
                return {"rows": rows, "problems": report["problems"][:5], "goal_met": False}
            started = time.perf_counter()
            run_import(db.session, content, filename="bench.xlsx", actor="bench",
                       dry_run=False, locale="en")
            db.session.commit()
            commit = time.perf_counter() - started
            db.engine.dispose()
    return {"rows": rows, "bytes": len(content), "problems": problems,
            "progress_reports": len(marks), "bare_openpyxl_s": round(bare, 3),
            "dry_run_s": round(dry, 2), "commit_s": round(commit, 2),
            "dry_run_rows_per_s": round(rows / dry), "commit_rows_per_s": round(rows / commit),
            "bare_openpyxl_rows_per_s": round(rows / bare),
            "ratio_commit_to_bare": round(commit / bare, 1)}


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
