"""Ledger export (CSV + XLSX + JSONL + signed manifest) at two sizes: time and peak memory.

Goal (issue 7): memory flat as the ledger grows. Each size runs in its own process on a scratch
SQLite database filled through the real schema; the export is timed with the peak resident set
(VmHWM, reset just before the export) and run again under tracemalloc for the peak of Python
allocations. Sizes: BENCH_EXPORT_SIZES (default 250000,1000000), times BENCH_SCALE.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from bench import upgrade_quietly

FLAT = 1.25  # peak at the largest size ≤ 1.25 × peak at the smallest, + 4 MiB of slack


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def _measure(count: int, queue) -> None:
    import tracemalloc

    from bench.ledger_verify import _generate
    from fundapp.app import create_app
    from fundapp.compliance.exports import ExportScope, create_export
    from fundapp.config import TestConfig
    from fundapp.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FUNDAPP_INSTANCE_DIR"] = tmp
        app = create_app(TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        with app.app_context():
            upgrade_quietly()
            _generate(db.session, count)
            db.session.remove()
            db.engine.dispose()  # generation enlarged the SQLite page cache of its connection
            scope = ExportScope(date(2025, 1, 1), date(2027, 1, 1))
            _reset_peak_rss()
            rss_before = _status("VmRSS")
            started = time.perf_counter()
            result = create_export(db.session, scope, actor="bench")
            seconds = time.perf_counter() - started
            rss_peak = _status("VmHWM") - rss_before
            size = result.path.stat().st_size
            db.session.rollback()
            result.path.unlink()
            tracemalloc.start()
            create_export(db.session, scope, actor="bench").path.unlink()
            _, heap_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            db.session.rollback()
            db.engine.dispose()
    queue.put({"count": count, "seconds": seconds, "rss_peak": rss_peak,
               "heap_peak": heap_peak, "bundle_bytes": size})


def run() -> dict:
    scale = float(os.environ.get("BENCH_SCALE", 1))
    sizes = [int(int(s) * scale) for s in
             os.environ.get("BENCH_EXPORT_SIZES", "250000,1000000").split(",")]
    context = multiprocessing.get_context("spawn")  # a fresh process: its own peak RSS
    results = []
    for count in sizes:
        queue = context.Queue()
        process = context.Process(target=_measure, args=(count, queue))
        process.start()
        results.append(queue.get())
        process.join()
    out: dict = {}
    mib = 1024 * 1024
    for r in results:
        label = f"{r['count']:,} entries"
        out[f"{label}: time (s)"] = f"{r['seconds']:.1f}"
        out[f"{label}: entries per second"] = f"{r['count'] / r['seconds']:,.0f}"
        out[f"{label}: peak RSS growth (MiB)"] = f"{r['rss_peak'] / mib:.1f}"
        out[f"{label}: peak Python heap (MiB)"] = f"{r['heap_peak'] / mib:.1f}"
        out[f"{label}: bundle (MiB)"] = f"{r['bundle_bytes'] / mib:.1f}"
    small, large = results[0], results[-1]
    flat = large["heap_peak"] <= FLAT * small["heap_peak"] + 4 * mib
    out["heap growth, largest / smallest"] = f"{large['heap_peak'] / small['heap_peak']:.2f}"
    out["goal_met"] = flat
    out["raw"] = json.dumps(results)
    return out
