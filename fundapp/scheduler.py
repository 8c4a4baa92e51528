"""The scheduler process (`fundapp scheduler run`), never started inside a web worker.

Policy, also in README.md:
- Each job has a fixed id and a cron trigger in Asia/Shanghai time.
- An occurrence runs at most once across all scheduler processes: it is claimed by inserting the
  unique (job id, scheduled time) row into job_runs; a process that loses the insert skips it.
- Misfires: an occurrence missed while no scheduler ran (or while the machine slept) is run once
  at start-up if it is the job's latest occurrence and within its catch-up window; older missed
  occurrences are coalesced into that one run. Every run, skipped claim and failure is logged and
  kept in job_runs, where admins read the history.
- Leases: a run holds a lease for its job's `lease` (the longest the job may take). A run whose
  worker was killed mid-run never records its outcome; once its lease has expired, the next
  catch-up (at start-up, and every LEASE_CHECK while the scheduler runs) marks it failed and, if it
  is the job's latest occurrence within its catch-up window, runs it again as the next attempt, up
  to MAX_ATTEMPTS attempts per occurrence. A run that failed by itself (the job raised) is not
  retried: its failure is its outcome.
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
from apscheduler.triggers.interval import IntervalTrigger
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from fundapp.compliance.models import JobRun
from fundapp.extensions import db
from fundapp.unit_of_work import transaction

log = logging.getLogger("fundapp.scheduler")
TIMEZONE = "Asia/Shanghai"
CLAIM_ATTEMPTS = 5
DEFAULT_LEASE = timedelta(hours=1)
LEASE_CHECK = timedelta(minutes=5)  # how often a running scheduler looks for expired leases
MAX_ATTEMPTS = 3  # attempts per occurrence when workers keep dying mid-run


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], str]
    cron: dict[str, str]
    catch_up: timedelta
    clause: str = "R12"  # the rule-book clause the job serves (shown with its runs and checks)
    # The longest one run may take: past it, the run is taken for dead (its worker was killed).
    lease: timedelta = DEFAULT_LEASE


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


def run_occurrence(job: JobSpec, scheduled_for: datetime, attempt: int = 1) -> JobRun | None:
    """Claim and run one attempt at an occurrence; None when another process claimed it.

    Three units of work: the claim with its lease (so other processes see it at once), the job's
    own work (all or nothing), and the run's outcome (kept even when the work failed).
    """
    for tries in range(CLAIM_ATTEMPTS):
        started = datetime.now(UTC)
        run = JobRun(job_id=job.id, scheduled_for=scheduled_for, attempt=attempt,
                     started_at=started, lease_expires_at=started + job.lease,
                     worker=worker_name())
        try:
            with transaction():
                db.session.add(run)
            break
        except IntegrityError:
            log.info("job %s at %s (attempt %s) already claimed elsewhere; skipped", job.id,
                     scheduled_for, attempt)
            return None
        except OperationalError:
            # SQLite: another scheduler process held the write lock past the busy timeout.
            if tries == CLAIM_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (tries + 1))
    try:
        # No request here to choose a language: jobs speak the fund's default one.
        with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")), transaction():
            message = job.func()
        outcome, message = "ok", message or ""
    except Exception as exc:  # a failed job is recorded, the scheduler goes on
        log.exception("job %s failed", job.id)
        outcome, message = "failed", str(exc)[:2000]
    with transaction():
        if run.is_lease_expired:  # read afresh: another process took this run for dead
            message = f"{message} (finished after its lease had expired)".strip()
        run.outcome, run.message = outcome, message
        run.finished_at = datetime.now(UTC)
    log.info("job %s at %s: %s %s", job.id, scheduled_for, run.outcome, run.message)
    return run


def expire_leases(now: datetime | None = None) -> int:
    """Mark runs still `running` past their lease as failed (their worker died); returns how many.

    Runs recorded before leases existed have none: they count as expired DEFAULT_LEASE after they
    started.
    """
    now = now or datetime.now(UTC)
    stale = (JobRun.outcome == "running") & or_(
        JobRun.lease_expires_at < now,
        and_(JobRun.lease_expires_at.is_(None), JobRun.started_at < now - DEFAULT_LEASE))
    with transaction():
        runs = db.session.execute(select(JobRun.id, JobRun.job_id, JobRun.worker,
                                         JobRun.lease_expires_at).where(stale)).all()
        for run in runs:
            expired = run.lease_expires_at.isoformat() if run.lease_expires_at else "unknown"
            # Conditional: a worker that finishes just now keeps its own outcome.
            db.session.execute(update(JobRun).where(JobRun.id == run.id, stale).values(
                outcome="failed", is_lease_expired=True, finished_at=now,
                message=f"lease expired at {expired}: the worker {run.worker} stopped mid-run "
                        "(killed or lost) without recording an outcome"))
            log.warning("job %s run %s: lease expired, marked failed", run.job_id, run.id)
    return len(runs)


def next_attempt(job: JobSpec, due: datetime) -> int | None:
    """The attempt to run for an occurrence: 1 when it never ran, the next one after an attempt
    whose lease expired (up to MAX_ATTEMPTS), otherwise None."""
    last = db.session.scalars(select(JobRun).where(JobRun.job_id == job.id,
                                                   JobRun.scheduled_for == due)
                              .order_by(JobRun.attempt.desc()).limit(1)).first()
    if last is None:
        return 1
    if last.outcome == "failed" and last.is_lease_expired and last.attempt < MAX_ATTEMPTS:
        return last.attempt + 1
    return None


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
    """Fail the runs whose lease expired, then run each job's latest occurrence inside its
    catch-up window that never ran or whose last attempt died (see module doc).

    `now` chooses the occurrences; leases are always judged by the real clock.
    """
    expire_leases()
    now = now or datetime.now(UTC)
    runs = []
    for job in JOBS:
        due = latest_occurrence(job, now)
        if due is None:
            continue
        due = due.astimezone(UTC)
        attempt = next_attempt(job, due)
        if attempt is not None:
            log.info("catching up %s due at %s (attempt %s)", job.id, due, attempt)
            run = run_occurrence(job, due, attempt)
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

    def check_leases() -> None:
        with app.app_context():
            try:
                catch_up()
            finally:
                db.session.remove()

    for job in JOBS:
        scheduler.add_job(make_runner(job), CronTrigger(timezone=TIMEZONE, **job.cron),
                          id=job.id, replace_existing=True)
    # Runs killed mid-run are failed once their lease expires and retried by the catch-up policy.
    scheduler.add_job(check_leases, IntervalTrigger(seconds=LEASE_CHECK.total_seconds(),
                                                    timezone=TIMEZONE),
                      id="scheduler.leases", replace_existing=True)
    log.info("scheduler started with jobs: %s", ", ".join(j.id for j in JOBS))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
