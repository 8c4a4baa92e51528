"""`fundapp worker`: the process that runs long work (tasks) claimed from the database."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import Flask
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the waiting tasks, then exit.")
@click.option("--poll-seconds", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="How long to wait before looking again when no task is waiting.")
@click.option("--no-bar", is_flag=True, help="No progress bar (e.g. when logging to a file).")
@with_appcontext
def worker_command(once: bool, poll_seconds: float, no_bar: bool):
    """Claim and run tasks (ledger exports, IC packs, reports...) until interrupted."""
    from fundapp.tasks.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    # systemctl stop: finish the task at hand, claim no other (a task cut short by a harder
    # kill is claimed again once its lease expires).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    count = run_worker(once=once, poll_seconds=poll_seconds, bar=not no_bar, stop=stop)
    if once:
        click.echo(f"worker: {count} task(s) run")


def register(app: Flask) -> None:
    app.cli.add_command(worker_command)
