"""Ledger export (JSONL + CSV + XLSX + signed manifest) against chain verification, same entries.

Goal (issue 16): 1,000,000 entries exported (every file rendered and hashed, the manifest signed
and the export recorded) in ≤ 25 s and ≤ 3 × `verify_chain` over the same entries in the same run,
with memory flat: the peak resident set growth during the export (VmHWM, reset just before it)
at the largest size stays within 1.25 × that at the smallest, + 16 MiB. Also timed, not part of the
goal: the download, the bundle rebuilt from the ledger and the stored manifest and streamed (here
into a SHA-256, nothing written). Each size is measured in a fresh process on a scratch SQLite
database that another process filled through the real schema. Sizes: BENCH_EXPORT_SIZES (default
100000,1000000), times BENCH_SCALE.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from bench import upgrade_quietly

SECONDS_PER_MILLION = 25.0  # the absolute goal, scaled to the size measured
RATIO = 3.0  # export time / verification time
FLAT = 1.25  # peak RSS growth at the largest size ≤ 1.25 × that at the smallest, + 16 MiB
SLACK = 16 * 1024 * 1024


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


def _app(path: Path):
    from fundapp.app import create_app
    from fundapp.config import TestConfig

    return create_app(TestConfig(f"sqlite:///{path}"))


def _fill(path: Path, count: int) -> None:
    from bench import continue_ledger
    from fundapp.extensions import db

    with _app(path).app_context():
        upgrade_quietly()
        continue_ledger(db.session, count)
        db.session.remove()
        db.engine.dispose()


def _measure(path: Path, count: int, queue) -> None:
    """In a fresh process (the ledger was filled by another): verification, then the export and
    the download, each with the peak growth of the resident set."""
    from fundapp.compliance.exports import ExportScope, bundle_chunks, create_export
    from fundapp.compliance.ledger import verify_chain
    from fundapp.extensions import db

    with _app(path).app_context():
        scope = ExportScope(date(2025, 1, 1), date(2027, 1, 1))
        started = time.perf_counter()
        verified = verify_chain(db.session)
        verify_seconds = time.perf_counter() - started
        assert verified.ok and verified.count == count, verified
        db.session.rollback()

        _reset_peak_rss()
        rss_before = _status("VmRSS")
        started = time.perf_counter()
        result = create_export(db.session, scope, actor="bench")
        db.session.commit()
        export_seconds = time.perf_counter() - started
        rss_export = _status("VmHWM") - rss_before

        _reset_peak_rss()
        rss_before = _status("VmRSS")
        started = time.perf_counter()
        digest, size = hashlib.sha256(), 0
        for chunk in bundle_chunks(db.session, result.export):
            digest.update(chunk)
            size += len(chunk)
        download_seconds = time.perf_counter() - started
        rss_download = _status("VmHWM") - rss_before
        assert size == result.export.size_bytes
        db.session.rollback()
        db.engine.dispose()
    queue.put({"count": count, "export_seconds": export_seconds,
               "verify_seconds": verify_seconds, "download_seconds": download_seconds,
               "rss_export": rss_export, "rss_download": rss_download, "bundle_bytes": size,
               "xlsx_sheets": result.manifest["files"]["entries.xlsx"]["sheets"]})


def _in_process(context, target, *args) -> None:
    process = context.Process(target=target, args=args)
    process.start()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{target.__name__} failed ({process.exitcode})")


def _others() -> str:
    """What else kept the CPUs busy (load average), for reading the figures."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


def run() -> dict:
    scale = float(os.environ.get("BENCH_SCALE", 1))
    sizes = [int(int(s) * scale) for s in
             os.environ.get("BENCH_EXPORT_SIZES", "100000,1000000").split(",")]
    context = multiprocessing.get_context("spawn")  # a fresh process: its own peak RSS
    results = []
    load_before = _others()
    for count in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["FUNDAPP_INSTANCE_DIR"] = tmp
            path = Path(tmp) / "bench.sqlite3"
            _in_process(context, _fill, path, count)
            queue = context.Queue()
            _in_process(context, _measure, path, count, queue)
            results.append(queue.get())
    out: dict = {"load average before / after": f"{load_before} / {_others()} "
                                                 f"({os.cpu_count()} CPUs)"}
    mib = 1024 * 1024
    for r in results:
        label = f"{r['count']:,} entries"
        out[f"{label}: export (s)"] = f"{r['export_seconds']:.1f}"
        out[f"{label}: export entries/s"] = f"{r['count'] / r['export_seconds']:,.0f}"
        out[f"{label}: verify_chain (s)"] = f"{r['verify_seconds']:.1f}"
        out[f"{label}: export / verify"] = f"{r['export_seconds'] / r['verify_seconds']:.2f}"
        out[f"{label}: peak RSS growth, export (MiB)"] = f"{r['rss_export'] / mib:.1f}"
        out[f"{label}: download rebuilt (s)"] = f"{r['download_seconds']:.1f}"
        out[f"{label}: peak RSS growth, download (MiB)"] = f"{r['rss_download'] / mib:.1f}"
        out[f"{label}: bundle (MiB)"] = f"{r['bundle_bytes'] / mib:.1f}"
    small, large = results[0], results[-1]
    limit = SECONDS_PER_MILLION * large["count"] / 1_000_000
    ratio = large["export_seconds"] / large["verify_seconds"]
    flat = large["rss_export"] <= FLAT * small["rss_export"] + SLACK
    out[f"goal: export ≤ {limit:.1f} s"] = large["export_seconds"] <= limit
    out[f"goal: export / verify ≤ {RATIO:g}"] = f"{ratio:.2f} ({ratio <= RATIO})"
    out["goal: memory flat (RSS growth)"] = (f"{large['rss_export'] / mib:.1f} vs "
                                             f"{small['rss_export'] / mib:.1f} MiB ({flat})")
    out["goal_met"] = large["export_seconds"] <= limit and ratio <= RATIO and flat
    out["raw"] = json.dumps(results)
    return out
