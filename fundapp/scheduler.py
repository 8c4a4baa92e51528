"""The scheduler process (`fundapp scheduler run`), never started inside a web worker.

Policy, also in README.md:
- Each job has a fixed id and a cron trigger in Asia/Shanghai time.
- An occurrence runs at most once across all scheduler processes: it is claimed by inserting the
  unique (job id, scheduled time) row into job_runs; a process that loses the insert skips it.
- Misfires: an occurrence missed while no scheduler ran (or while the machine slept) is run once
  at start-up if it is the job's latest occurrence and within its catch-up window; older missed
  occurrences are coalesced into that one run. Every run, skipped claim and failure is logged and
  kept in job_runs, where admins read the history.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from fundapp.compliance.models import JobRun
from fundapp.extensions import db
from fundapp.unit_of_work import transaction

log = logging.getLogger("fundapp.scheduler")
TIMEZONE = "Asia/Shanghai"
CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], str]
    cron: dict[str, str]
    catch_up: timedelta
    clause: str = "R12"  # the rule-book clause the job serves (shown with its runs and checks)


# Times are Asia/Shanghai. A new job: a JobSpec with a fixed id, a function that is idempotent by
# a natural key and returns a one-line outcome for the run history, and a catch-up window,
# registered with register_job() in its domain's jobs.py (the app factory imports those).
JOBS: list[JobSpec] = []


def register_job(job: JobSpec) -> JobSpec:
    """Add a job to the schedule (once: re-importing a jobs module replaces its entry)."""
    for index, existing in enumerate(JOBS):
        if existing.id == job.id:
            JOBS[index] = job
            return job
    JOBS.append(job)
    return job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_occurrence(job: JobSpec, scheduled_for: datetime) -> JobRun | None:
    """Claim and run one occurrence; None when another process already claimed it.

    Three units of work: the claim (so other processes see it at once), the job's own work
    (all or nothing), and the run's outcome (kept even when the work failed).
    """
    for attempt in range(CLAIM_ATTEMPTS):
        run = JobRun(job_id=job.id, scheduled_for=scheduled_for, started_at=datetime.now(UTC),
                     worker=worker_name())
        try:
            with transaction():
                db.session.add(run)
            break
        except IntegrityError:
            log.info("job %s at %s already claimed elsewhere; skipped", job.id, scheduled_for)
            return None
        except OperationalError:
            # SQLite: another scheduler process held the write lock past the busy timeout.
            if attempt == CLAIM_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    try:
        # No request here to choose a language: jobs speak the fund's default one.
        with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")), transaction():
            message = job.func()
        outcome, message = "ok", message or ""
    except Exception as exc:  # a failed job is recorded, the scheduler goes on
        log.exception("job %s failed", job.id)
        outcome, message = "failed", str(exc)[:2000]
    with transaction():
        run.outcome, run.message = outcome, message
        run.finished_at = datetime.now(UTC)
    log.info("job %s at %s: %s %s", job.id, scheduled_for, run.outcome, run.message)
    return run


def latest_occurrence(job: JobSpec, now: datetime) -> datetime | None:
    trigger = CronTrigger(timezone=TIMEZONE, **job.cron)
    start = now - job.catch_up
    fire = trigger.get_next_fire_time(None, start)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest


def catch_up(now: datetime | None = None) -> list[JobRun]:
    """Run each job's latest missed occurrence inside its catch-up window (see module doc)."""
    now = now or datetime.now(UTC)
    runs = []
    for job in JOBS:
        due = latest_occurrence(job, now)
        if due is None:
            continue
        seen = db.session.scalar(select(JobRun.id).where(JobRun.job_id == job.id,
                                                         JobRun.scheduled_for == due))
        if seen is None:
            log.info("catching up %s due at %s", job.id, due)
            run = run_occurrence(job, due.astimezone(UTC))
            if run is not None:
                runs.append(run)
    return runs


def run_scheduler() -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    catch_up()
    scheduler = BlockingScheduler(timezone=TIMEZONE, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def make_runner(job: JobSpec) -> Callable[[], None]:
        def runner() -> None:
            with app.app_context():
                due = latest_occurrence(job, datetime.now(UTC))
                if due is not None:
                    run_occurrence(job, due.astimezone(UTC))
                db.session.remove()
        return runner

    for job in JOBS:
        scheduler.add_job(make_runner(job), CronTrigger(timezone=TIMEZONE, **job.cron),
                          id=job.id, replace_existing=True)
    log.info("scheduler started with jobs: %s", ", ".join(j.id for j in JOBS))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
