"""The scheduler: each occurrence runs once across processes, missed ones are caught up once, and
a failing job is recorded without stopping the others."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from fundapp import scheduler
from fundapp.auth.models import User
from fundapp.auth.operations import create_user
from fundapp.compliance.models import JobRun, LedgerEntry
from fundapp.extensions import db
from fundapp.scheduler import JobSpec, catch_up, run_occurrence
from tests.conftest import make_user, tamper

pytestmark = pytest.mark.timeout(120)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent
DAILY_0230 = {"hour": "2", "minute": "30"}


class Counter:
    def __init__(self, message: str = "done", error: Exception | None = None) -> None:
        self.calls = 0
        self.message = message
        self.error = error

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.message


def job_runs() -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(select(JobRun).order_by(JobRun.id)))


def test_an_occurrence_runs_once(app):
    func = Counter("7 things done")
    job = JobSpec("test.once", func, DAILY_0230, timedelta(days=1))
    due = datetime(2026, 3, 9, 18, 30, tzinfo=UTC)

    first = run_occurrence(job, due)
    second = run_occurrence(job, due)

    assert first is not None and second is None
    assert func.calls == 1
    [run] = job_runs()
    assert (run.job_id, run.scheduled_for, run.outcome, run.message) == (
        "test.once", due, "ok", "7 things done")
    assert run.finished_at is not None and run.finished_at >= run.started_at
    # The next occurrence is a new claim and runs.
    assert run_occurrence(job, due + timedelta(days=1)) is not None
    assert func.calls == 2


def test_a_failing_job_is_recorded_and_the_scheduler_goes_on(app, monkeypatch):
    broken = Counter(error=RuntimeError("bank feed unreachable"))
    healthy = Counter("fine")
    monkeypatch.setattr(scheduler, "JOBS", [
        JobSpec("test.broken", broken, DAILY_0230, timedelta(days=1)),
        JobSpec("test.healthy", healthy, DAILY_0230, timedelta(days=1)),
    ])

    runs = catch_up(datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI))

    assert [(r.job_id, r.outcome) for r in runs] == [("test.broken", "failed"),
                                                     ("test.healthy", "ok")]
    by_job = {r.job_id: r for r in job_runs()}
    assert by_job["test.broken"].outcome == "failed"
    assert "bank feed unreachable" in by_job["test.broken"].message
    assert by_job["test.broken"].finished_at is not None
    assert by_job["test.healthy"].outcome == "ok"
    assert (broken.calls, healthy.calls) == (1, 1)


def test_a_failed_job_leaves_none_of_its_changes(app):
    def half_done() -> str:
        create_user(db.session, email="half@example.cn", password="long-enough-pw",
                    roles=["auditor"], actor="job")
        raise RuntimeError("failed after writing")

    run = run_occurrence(JobSpec("test.half", half_done, DAILY_0230, timedelta(days=1)),
                         datetime(2026, 3, 9, 18, 30, tzinfo=UTC))

    assert (run.outcome, run.message) == ("failed", "failed after writing")
    assert db.session.scalar(select(User.id)) is None
    assert db.session.scalar(select(LedgerEntry.seq)) is None


def test_catch_up_runs_the_latest_missed_occurrence_once(app, monkeypatch):
    func = Counter()
    monkeypatch.setattr(scheduler, "JOBS", [JobSpec("test.nightly", func, DAILY_0230,
                                                    timedelta(days=3))])
    # Down for two nights: 8 and 9 March were missed; only the latest runs (coalesced).
    now = datetime(2026, 3, 10, 1, 0, tzinfo=SHANGHAI)

    [run] = catch_up(now)

    assert run.scheduled_for == datetime(2026, 3, 9, 2, 30, tzinfo=SHANGHAI)
    assert run.outcome == "ok"
    assert catch_up(now + timedelta(minutes=5)) == []
    assert func.calls == 1
    assert len(job_runs()) == 1


def test_catch_up_skips_an_occurrence_outside_its_window(app, monkeypatch):
    func = Counter()
    monkeypatch.setattr(scheduler, "JOBS", [JobSpec("test.short", func, DAILY_0230,
                                                    timedelta(hours=1))])

    assert catch_up(datetime(2026, 3, 10, 5, 0, tzinfo=SHANGHAI)) == []
    assert func.calls == 0
    assert job_runs() == []


def test_nightly_ledger_check_records_a_broken_chain(app):
    make_user("a@example.cn")
    make_user("b@example.cn")
    [job] = [j for j in scheduler.JOBS if j.id == "ledger.verify"]
    good = run_occurrence(job, datetime(2026, 3, 8, 18, 30, tzinfo=UTC))
    assert (good.outcome, good.message) == ("ok", "2 entries verified")

    tamper("UPDATE ledger_entries SET payload = '{}' WHERE seq = 1")

    bad = run_occurrence(job, datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
    assert bad.outcome == "failed"
    assert "entry 1" in bad.message


RACER = """
import glob, os, sys, time
from datetime import UTC, datetime, timedelta
from fundapp.app import create_app
from fundapp.config import TestConfig
from fundapp.scheduler import JobSpec, run_occurrence

url, marker, gate = sys.argv[1], sys.argv[2], sys.argv[3]

def job():
    with open(marker, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(0.5)  # still running while the other process tries to claim
    return "ran"

app = create_app(TestConfig(url))
with app.app_context():
    spec = JobSpec("test.race", job, {"hour": "2", "minute": "30"}, timedelta(days=1))
    from fundapp.extensions import db
    db.session.execute(db.text("SELECT 1"))  # connect before the start line
    db.session.rollback()
    # Both processes wait at a gate until both are ready, then race for the claim.
    open(f"{gate}.{os.getpid()}", "w").close()
    deadline = time.monotonic() + 30
    while len(glob.glob(f"{gate}.*")) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    run = run_occurrence(spec, datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
    print("ran" if run is not None else "skipped")
"""


def test_two_scheduler_processes_run_an_occurrence_once(app, database, tmp_path):
    marker = tmp_path / "ran.txt"
    env = {**os.environ, "FUNDAPP_INSTANCE_DIR": str(tmp_path), "FUNDAPP_SECRET_KEY": "test",
           "PYTHONPATH": str(ROOT)}
    gate = str(tmp_path / "ready")
    processes = [subprocess.Popen([sys.executable, "-c", RACER, database, str(marker), gate],
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in processes]

    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["ran", "skipped"]
    assert len(marker.read_text().splitlines()) == 1
    [run] = job_runs()
    assert (run.job_id, run.outcome, run.message) == ("test.race", "ok", "ran")


def test_scheduler_run_catches_up_on_start(app, database, tmp_path):
    from fundapp.compliance.signing import generate_pem

    env = {**os.environ, "FUNDAPP_INSTANCE_DIR": str(tmp_path), "FUNDAPP_SECRET_KEY": "test",
           "FUNDAPP_DATABASE_URL": database,
           # on PostgreSQL a real app needs its keys as configuration (issue 16)
           "FUNDAPP_LEDGER_SIGNING_KEY_PEM": generate_pem().decode()}
    make_user("a@example.cn")
    db.session.remove()
    process = subprocess.Popen([str(Path(sys.executable).with_name("fundapp")), "scheduler",
                                "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        runs: list[JobRun] = []
        while time.monotonic() < deadline and process.poll() is None:
            runs = [r for r in job_runs() if r.job_id == "ledger.verify" and r.finished_at]
            db.session.rollback()
            if runs:
                break
            time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]

    assert runs, output
    [run] = runs
    # The nightly verification ran at start-up for its latest occurrence (02:30 Shanghai time).
    assert (run.outcome, run.message) == ("ok", "1 entries verified")
    local = run.scheduled_for.astimezone(SHANGHAI)
    assert (local.hour, local.minute) == (2, 30)
    assert datetime.now(UTC) - run.scheduled_for <= timedelta(days=1)


# ---- leases: a run killed mid-run is failed and retried (issue 11) ----------------------------

def dead_run(job: JobSpec, due: datetime, *, lease_left: timedelta = timedelta(minutes=-10),
             attempt: int = 1) -> JobRun:
    """A run whose worker was killed mid-run: claimed, never finished, its lease as given."""
    now = datetime.now(UTC)
    run = JobRun(job_id=job.id, scheduled_for=due.astimezone(UTC), attempt=attempt,
                 started_at=now - job.lease + lease_left, lease_expires_at=now + lease_left,
                 worker="gone-host:4242")
    db.session.add(run)
    db.session.commit()
    return run


def test_a_run_killed_mid_run_is_failed_after_its_lease_and_retried(app, monkeypatch):
    func = Counter("done on the retry")
    job = JobSpec("test.killed", func, DAILY_0230, timedelta(days=1),
                  lease=timedelta(minutes=30))
    monkeypatch.setattr(scheduler, "JOBS", [job])
    now = datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)
    due = datetime(2026, 3, 10, 2, 30, tzinfo=SHANGHAI)
    dead_run(job, due)

    [retry] = catch_up(now)

    first, second = job_runs()
    assert (first.attempt, first.outcome, first.is_lease_expired) == (1, "failed", True)
    assert "lease expired" in first.message and "gone-host:4242" in first.message
    assert first.finished_at is not None
    assert (second.id, second.attempt, second.outcome, second.message) == (
        retry.id, 2, "ok", "done on the retry")
    assert second.scheduled_for == due and second.lease_expires_at > second.started_at
    assert func.calls == 1
    # Done: a later catch-up leaves the occurrence alone.
    assert catch_up(now + timedelta(minutes=5)) == []
    assert func.calls == 1 and len(job_runs()) == 2


def test_a_run_within_its_lease_is_left_running(app, monkeypatch):
    func = Counter()
    job = JobSpec("test.busy", func, DAILY_0230, timedelta(days=1))
    monkeypatch.setattr(scheduler, "JOBS", [job])
    dead_run(job, datetime(2026, 3, 10, 2, 30, tzinfo=SHANGHAI), lease_left=timedelta(minutes=5))

    assert catch_up(datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)) == []

    [run] = job_runs()
    assert (run.outcome, run.is_lease_expired, func.calls) == ("running", False, 0)


def test_an_expired_run_outside_the_catch_up_policy_is_failed_not_retried(app, monkeypatch):
    func = Counter()
    job = JobSpec("test.old", func, DAILY_0230, timedelta(hours=1))
    monkeypatch.setattr(scheduler, "JOBS", [job])
    # Killed on 8 March; now it is 10 March 05:00, past the one-hour catch-up window.
    dead_run(job, datetime(2026, 3, 8, 2, 30, tzinfo=SHANGHAI))

    assert catch_up(datetime(2026, 3, 10, 5, 0, tzinfo=SHANGHAI)) == []

    [run] = job_runs()
    assert (run.outcome, run.is_lease_expired, func.calls) == ("failed", True, 0)


def test_an_occurrence_whose_workers_keep_dying_stops_after_max_attempts(app, monkeypatch):
    func = Counter()
    job = JobSpec("test.doomed", func, DAILY_0230, timedelta(days=1))
    monkeypatch.setattr(scheduler, "JOBS", [job])
    due = datetime(2026, 3, 10, 2, 30, tzinfo=SHANGHAI)
    for attempt in range(1, scheduler.MAX_ATTEMPTS + 1):
        dead_run(job, due, attempt=attempt)

    assert catch_up(datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)) == []

    runs = job_runs()
    assert [r.outcome for r in runs] == ["failed"] * scheduler.MAX_ATTEMPTS
    assert func.calls == 0


def test_a_job_that_failed_by_itself_is_not_retried(app, monkeypatch):
    broken = Counter(error=RuntimeError("bank feed unreachable"))
    monkeypatch.setattr(scheduler, "JOBS", [JobSpec("test.broken", broken, DAILY_0230,
                                                    timedelta(days=1))])
    now = datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)
    [run] = catch_up(now)
    assert (run.outcome, run.is_lease_expired) == ("failed", False)

    assert catch_up(now + timedelta(minutes=5)) == []
    assert broken.calls == 1


KILLED = """
import sys, time
from datetime import UTC, datetime, timedelta
from fundapp.app import create_app
from fundapp.config import TestConfig
from fundapp.scheduler import JobSpec, run_occurrence

url, marker = sys.argv[1], sys.argv[2]

def job():
    open(marker, "w").write("started")
    time.sleep(120)  # killed long before this ends
    return "never"

app = create_app(TestConfig(url))
with app.app_context():
    spec = JobSpec("test.killed", job, {"hour": "2", "minute": "30"}, timedelta(days=1),
                   lease=timedelta(seconds=1))
    run_occurrence(spec, datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
"""


def test_a_worker_killed_with_sigkill_is_failed_and_retried(app, database, tmp_path,
                                                            monkeypatch):
    import signal

    marker = tmp_path / "started.txt"
    env = {**os.environ, "FUNDAPP_INSTANCE_DIR": str(tmp_path), "FUNDAPP_SECRET_KEY": "test",
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", KILLED, database, str(marker)], env=env,
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), process.communicate(timeout=10)
    finally:
        process.send_signal(signal.SIGKILL)  # mid-run: no outcome, no finally, nothing
        process.communicate(timeout=10)
    [stuck] = job_runs()
    assert (stuck.outcome, stuck.finished_at) == ("running", None)

    time.sleep(1.2)  # the one-second lease runs out
    func = Counter("ran again")
    monkeypatch.setattr(scheduler, "JOBS", [JobSpec("test.killed", func, DAILY_0230,
                                                    timedelta(days=1))])
    [retry] = catch_up(datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI))

    killed, again = job_runs()
    assert (killed.id, killed.outcome, killed.is_lease_expired) == (stuck.id, "failed", True)
    assert (again.id, again.attempt, again.outcome) == (retry.id, 2, "ok")
    assert func.calls == 1
