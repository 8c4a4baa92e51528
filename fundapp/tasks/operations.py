"""Task kinds, enqueueing, claiming (SKIP LOCKED on PostgreSQL) and recording outcomes."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.orm import Session

from fundapp.db import SQLITE_BUSY_TIMEOUT_MS
from fundapp.errors import AppError, NotFound
from fundapp.tasks.models import Task
from fundapp.unit_of_work import commit_step

log = logging.getLogger("fundapp.tasks")

Progress = Callable[[int, int], None]
DEFAULT_LEASE = timedelta(minutes=10)
DEFAULT_MAX_ATTEMPTS = 3
MAX_FILE_BYTES = int(os.environ.get("FUNDAPP_TASK_MAX_FILE_BYTES", 64 * 1024 * 1024))
MAX_ERROR_CHARS = 4000


@dataclass
class TaskResult:
    """What a task's function returns: a link to what it produced (an endpoint and its values,
    turned into an address by the page) and/or a file kept with the task."""

    endpoint: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # e.g. "Export 12"
    file_name: str = ""
    file_type: str = ""
    file_bytes: bytes | None = None
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"export_id": 12}


@dataclass(frozen=True)
class TaskKind:
    kind: str
    function: Callable[[Session, dict[str, Any], Progress], TaskResult | None]
    title: Any  # a lazy message, shown in the user's language
    lease: timedelta = DEFAULT_LEASE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


# The kinds of long work, filled by the domains' tasks modules (the app factory imports them),
# like the scheduler's JOBS.
TASKS: dict[str, TaskKind] = {}


def register_task(kind: str, function: Callable[..., TaskResult | None], title_label: Any, *,
                  lease: timedelta = DEFAULT_LEASE,
                  max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> TaskKind:
    """Register (or replace) a kind of task: `function(session, params, progress)` does the work
    inside the worker's unit of work and returns a TaskResult."""
    spec = TaskKind(kind, function, title_label, lease, max_attempts)
    TASKS[kind] = spec
    return spec


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def now_utc() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- the request side


def enqueue(session: Session, kind: str, params: dict[str, Any], *, requested_by: str) -> Task:
    """Queue a task (flushes, never commits: the request's unit of work commits it)."""
    spec = TASKS.get(kind)
    if spec is None:
        raise ValueError(f"unknown task kind {kind!r}")
    task = Task(kind=kind, params_json=json.dumps(params, sort_keys=True, default=str),
                status="queued", requested_by=requested_by, requested_at=now_utc(),
                attempts=0, max_attempts=spec.max_attempts, done=0, total=0, result_json="",
                error="", claimed_by="", file_name="", file_type="")
    session.add(task)
    session.flush()
    return task


def may_read(task: Task, user: Any) -> bool:
    """The requester, admins and auditors read a task; nobody else learns it exists."""
    if user is None:
        return False
    if task.requested_by == user.email:
        return True
    return any(role.value in ("admin", "auditor") for role in user.roles)


def task_for(session: Session, task_id: int, user: Any) -> Task:
    task = session.get(Task, task_id)
    if task is None or not may_read(task, user):
        raise NotFound(_l("No such task."))
    return task


def result_of(task: Task) -> dict[str, Any]:
    return json.loads(task.result_json) if task.result_json else {}


def title_of(task: Task) -> str:
    spec = TASKS.get(task.kind)
    return str(spec.title) if spec is not None else task.kind


# --------------------------------------------------------------------------- the worker side


def _claimable(now: datetime):
    return or_(Task.status == "queued",
               and_(Task.status == "running", Task.lease_expires_at < now))


def claim(session: Session, worker: str | None = None) -> Task | None:
    """Claim the oldest task that is queued or whose worker died (lease expired); None when there
    is none. Commits the claim at once (its own unit of work) so other workers see it.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers each take a different
    row without waiting. SQLite: under the database's write lock, a conditional UPDATE that only
    one writer can win. A dead
    worker's task that used up its attempts is failed here, with the reason kept.
    """
    worker = worker or worker_name()
    postgres = session.get_bind().dialect.name == "postgresql"
    while True:
        now = now_utc()
        stmt = (select(Task).where(_claimable(now))
                .order_by(Task.requested_at, Task.id).limit(1))
        if postgres:
            task = session.scalars(stmt.with_for_update(skip_locked=True)).first()
            if task is None:
                commit_step(session)
                return None
            previous, previous_worker = task.status, task.claimed_by
        else:
            # Take the database's write lock first (one writer at a time): two workers reading
            # before either writes would deadlock on the lock upgrade.
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))
            candidate = session.execute(select(Task.id, Task.status, Task.claimed_by)
                                        .where(_claimable(now))
                                        .order_by(Task.requested_at, Task.id).limit(1)).first()
            if candidate is None:
                session.rollback()
                return None
            previous, previous_worker = candidate.status, candidate.claimed_by
            # Only one writer's UPDATE matches: the row must still be as we read it.
            won = session.execute(update(Task).where(
                Task.id == candidate.id, Task.status == previous,
                Task.claimed_by == candidate.claimed_by, _claimable(now)).values(
                claimed_by=worker, claimed_at=now)).rowcount
            if not won:
                session.rollback()
                continue
            task = session.get(Task, candidate.id, populate_existing=True)
        spec = TASKS.get(task.kind)
        if previous == "running":
            log.warning("task %s: lease of %s expired at %s (attempt %s)", task.id,
                        previous_worker, task.lease_expires_at, task.attempts)
        if previous == "running" and task.attempts >= task.max_attempts:
            reason = (f"the worker {previous_worker} stopped mid-task (killed or lost) and its "
                      f"lease expired; {task.attempts} attempts made")
            _finish(session, task, "failed", error=reason)
            commit_step(session)
            continue
        if spec is None:
            _finish(session, task, "failed", error=f"unknown task kind {task.kind!r}")
            commit_step(session)
            continue
        if previous == "running":
            task.error = f"attempt {task.attempts}: the worker {previous_worker} stopped mid-task"
        task.status, task.claimed_by, task.claimed_at = "running", worker, now
        task.lease_expires_at = now + spec.lease
        task.attempts += 1
        commit_step(session)
        return task


def _finish(session: Session, task: Task, status: str, *, error: str = "",
            result: TaskResult | None = None) -> None:
    task.status, task.finished_at = status, now_utc()
    task.lease_expires_at = None
    task.error = error[:MAX_ERROR_CHARS]
    if status == "done":
        task.error = ""
        if task.total == 0:
            task.done = task.total = 1
        task.done = task.total
    if result is not None:
        task.result_json = json.dumps({"endpoint": result.endpoint, "values": result.values,
                                       "label": result.label, "data": result.data},
                                      sort_keys=True, default=str)
        if result.file_bytes is not None:
            task.file_name, task.file_type = result.file_name[:200], result.file_type[:100]
            task.file_bytes = result.file_bytes
    session.flush()
    _notify(session, task)


def _notify(session: Session, task: Task) -> None:
    from fundapp.notifications.operations import notify_user

    spec = TASKS.get(task.kind)
    title = spec.title if spec is not None else task.kind
    if task.status == "done":
        message = _l("%(title)s is ready.", title=title)
        severity = "info"
    else:
        message = _l("%(title)s failed: %(error)s", title=title, error=task.error[:300])
        severity = "warning"
    notify_user(session, email=task.requested_by, kind=f"task.{task.status}",
                key=f"task:{task.id}:{task.status}", message=message, severity=severity,
                link=f"/tasks/{task.id}")


class ClaimLost(Exception):
    """The worker no longer holds the task: its work is rolled back, nothing is recorded."""


def record_outcome(session: Session, task_id: int, worker: str, *, result: TaskResult | None = None,
                   exc: BaseException | None = None,
                   progress: tuple[int, int] | None = None) -> Task | None:
    """After the work: done, queued again (another attempt) or failed. Only the worker still
    holding the task records its outcome (a worker whose lease was taken over records nothing).

    Done is recorded in the work's own unit of work, the task's row locked: the work and its
    outcome commit together, and a worker that lost its claim (its lease expired and another
    worker took the task) has its work undone, so each task's work takes effect once.
    """
    stmt = select(Task).where(Task.id == task_id, Task.status == "running",
                              Task.claimed_by == worker)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    task = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if task is None:
        log.warning("task %s: no longer held by %s; outcome dropped", task_id, worker)
        return None
    if exc is None and result is not None and result.file_bytes is not None \
            and len(result.file_bytes) > MAX_FILE_BYTES:
        # Raised inside the work's unit of work: it is undone, and the failure recorded apart.
        raise AppError(_l("The file is larger than %(max)s bytes.", max=MAX_FILE_BYTES),
                       status=413, code="file_too_large")
    if exc is None:
        if progress is not None and progress[1]:
            task.total = progress[1]  # the count the work reported, whatever reached the page
        _finish(session, task, "done", result=result)
        return task
    message = _error_text(exc)
    # A refusal (bad input, a rule of the rule book) is the same on every attempt: fail at once.
    if isinstance(exc, AppError) or task.attempts >= task.max_attempts:
        _finish(session, task, "failed", error=message)
    else:
        task.status, task.claimed_by, task.lease_expires_at = "queued", "", None
        task.error = f"attempt {task.attempts}: {message}"[:MAX_ERROR_CHARS]
        session.flush()
    return task


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, AppError):
        from fundapp.errors import describe

        return describe(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class ProgressReporter:
    """progress(done, total): writes the task's progress (and extends its lease) on a connection
    of its own, committed at once, so the task's page sees it while the work's own transaction
    is still open. At most one write per `interval` seconds, plus the last one.

    SQLite has one writer at a time and the work's transaction may hold the write lock: there the
    write is attempted without waiting and skipped when the lock is taken (progress is a hint;
    the outcome is always recorded).
    """

    def __init__(self, engine, task_id: int, worker: str, lease: timedelta,
                 echo: Callable[[int, int], None] | None = None, interval: float = 0.5):
        self.engine, self.task_id, self.worker, self.lease = engine, task_id, worker, lease
        self.echo, self.interval = echo, interval
        self.last_write = 0.0
        self.sqlite = engine.dialect.name == "sqlite"
        self.last: tuple[int, int] | None = None  # recorded with the outcome (SQLite may skip)

    def __call__(self, done: int, total: int) -> None:
        total = max(int(total), 0)
        done = min(max(int(done), 0), total)
        self.last = (done, total)
        if self.echo is not None:
            self.echo(done, total)
        moment = time.monotonic()
        if done < total and moment - self.last_write < self.interval:
            return
        self.last_write = moment
        stmt = update(Task).where(Task.id == self.task_id, Task.claimed_by == self.worker,
                                  Task.status == "running").values(
            done=done, total=total, lease_expires_at=now_utc() + self.lease)
        try:
            with self.engine.connect() as conn:
                if not self.sqlite:
                    conn.execute(stmt)
                    commit_step(conn)
                    return
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                try:
                    conn.execute(stmt)
                    commit_step(conn)
                finally:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        except Exception:  # noqa: BLE001 - progress is a hint, never the work's failure
            if not self.sqlite:
                log.exception("task %s: progress not recorded", self.task_id)
