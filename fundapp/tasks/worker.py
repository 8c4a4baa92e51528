"""`fundapp worker`: claims tasks one at a time and runs them (it may run inside the scheduler).

Each task is three units of work, as a scheduled job is: the claim (committed at once so other
workers skip it), the work itself (all or nothing, inside `transaction()`), and the outcome
(done, another attempt, or failed; kept even when the work failed). Progress goes through its own
connection (ProgressReporter) so the task's page sees it while the work runs.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable

from flask import current_app
from flask_babel import force_locale

from fundapp.extensions import db
from fundapp.tasks.models import Task
from fundapp.tasks.operations import (
    TASKS,
    ClaimLost,
    ProgressReporter,
    claim,
    record_outcome,
    worker_name,
)
from fundapp.unit_of_work import transaction

log = logging.getLogger("fundapp.worker")
BAR_WIDTH = 30


def text_bar(out=None) -> Callable[[int, int], None]:
    """A small progress bar on a terminal: `[#####.....]  512/1,000  51%`."""
    out = out or sys.stderr
    last = [-1]

    def show(done: int, total: int) -> None:
        percent = 100 * done // total if total else 0
        if percent == last[0] and done < total:
            return
        last[0] = percent
        filled = BAR_WIDTH * done // total if total else 0
        out.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total:,} "
                  f"{percent:3d}%")
        if total and done >= total:
            out.write("\n")
        out.flush()

    return show


def run_one(worker: str | None = None, *, echo: Callable[[str], None] | None = None,
            bar: bool = False) -> Task | None:
    """Claim one task and run it to its outcome; None when nothing was waiting."""
    worker = worker or worker_name()
    task = claim(db.session, worker)
    if task is None:
        return None
    task_id, kind, attempt = task.id, task.kind, task.attempts
    params = json.loads(task.params_json or "{}")
    spec = TASKS[kind]
    if echo:
        echo(f"task {task_id} {kind} (attempt {attempt}) for {task.requested_by}")
    progress = ProgressReporter(db.engine, task_id, worker, spec.lease,
                                echo=text_bar() if bar else None)
    try:
        # No request chooses a language here: the work speaks the fund's default one.
        with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")), transaction():
            result = spec.function(db.session, params, progress)
            # The outcome commits with the work (see record_outcome).
            done = record_outcome(db.session, task_id, worker, result=result,
                                  progress=progress.last)
            if done is None:
                raise ClaimLost(task_id)
    except ClaimLost:
        log.warning("task %s (%s): %s lost its claim; its work was rolled back", task_id, kind,
                    worker)
        return db.session.get(Task, task_id)
    except Exception as exc:  # a failed task is recorded; the worker goes on
        log.exception("task %s (%s) failed", task_id, kind)
        with transaction():
            done = record_outcome(db.session, task_id, worker, exc=exc)
    if echo and done is not None:
        echo(f"task {task_id} {kind}: {done.status}" + (f" ({done.error})" if done.error else ""))
    return done


def run_pending(limit: int | None = None, worker: str | None = None) -> list[Task]:
    """Run tasks until none is waiting (or `limit` were run); what tests and `--once` use."""
    ran: list[Task] = []
    while limit is None or len(ran) < limit:
        task = run_one(worker)
        if task is None:
            break
        ran.append(task)
    return ran


def run_worker(*, once: bool = False, poll_seconds: float = 2.0, bar: bool = True,
               stop: threading.Event | None = None) -> int:
    """Claim and run tasks until interrupted (or, with `once`, until none is waiting)."""
    stop = stop or threading.Event()
    worker = worker_name()
    count = 0
    log.info("worker %s started; task kinds: %s", worker, ", ".join(sorted(TASKS)))
    try:
        while not stop.is_set():
            try:
                task = run_one(worker, echo=log.info, bar=bar)
            finally:
                db.session.remove()
            if task is not None:
                count += 1
                continue
            if once:
                break
            stop.wait(poll_seconds)
    except KeyboardInterrupt:
        log.info("worker %s stopped", worker)
    return count


def start_in_thread(app, poll_seconds: float = 2.0) -> threading.Thread:
    """A worker thread inside another process (the scheduler's, with FUNDAPP_WORKER_IN_SCHEDULER)."""

    def loop() -> None:
        with app.app_context():
            while True:
                try:
                    run_worker(poll_seconds=poll_seconds, bar=False)
                    return
                except Exception:  # the database went away: wait, then claim again
                    log.exception("worker thread error; retrying")
                    db.session.remove()
                    time.sleep(poll_seconds)

    thread = threading.Thread(target=loop, name="fundapp-worker", daemon=True)
    thread.start()
    return thread
