"""The performance summary pauses Python's garbage collector only where that touches nobody
else: a process of one thread (the worker, the CLI, a sync web worker), never a threaded web
worker serving other requests (issue 16)."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

from fundapp.portfolio.performance.book import collector_paused


def test_one_thread_pauses_the_collector_and_switches_it_back_on():
    # In a fresh interpreter: this test process may have other threads by now.
    script = ("import gc, threading\n"
              "from fundapp.portfolio.performance.book import collector_paused\n"
              "assert threading.active_count() == 1 and gc.isenabled()\n"
              "with collector_paused():\n"
              "    assert not gc.isenabled()\n"
              "assert gc.isenabled()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_threaded_process_keeps_collecting_for_the_other_requests():
    release = threading.Event()
    other = threading.Thread(target=release.wait)  # another request being served
    other.start()
    try:
        with collector_paused():
            assert gc.isenabled()
    finally:
        release.set()
        other.join()
    assert gc.isenabled()
