"""`make bench`: run every benchmark (or those named) and print figures and ratios.

    python -m bench                 # all
    python -m bench ledger_verify   # one
    BENCH_SCALE=0.1 python -m bench # smaller data, for a quick look
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = ["ledger_verify", "pipeline", "ledger_export", "ic_pack", "performance", "search",
              "ledger_write", "pages", "history_import"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}")
        started = time.perf_counter()
        result = module.run()
        for key, value in result.items():
            print(f"   {key:<34} {value}")
        goal = result.get("goal_met")
        if goal is False:
            failed += 1
        print(f"   ({time.perf_counter() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
