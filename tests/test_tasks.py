"""Long work runs in a worker (issue 16): a request queues a task and answers at once; the worker
claims it (each task runs once, also with two workers on PostgreSQL), reports progress, retries
after a crash or a failure, and the requester reads the outcome on the task's page, through the
API and in a notification."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fundapp.compliance.models import LedgerExport
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.tasks import operations as ops
from fundapp.tasks.models import Task
from fundapp.tasks.worker import run_one, run_pending
from tests.conftest import api_token, csrf_from, login, make_user, run_tasks

pytestmark = pytest.mark.timeout(120)
EN = {"Accept-Language": "en"}
RAN: Counter = Counter()
RAN_LOCK = threading.Lock()


def _count(session, params, progress):
    progress(0, 2)
    time.sleep(params.get("sleep", 0))
    with RAN_LOCK:
        RAN[params["n"]] += 1
    progress(2, 2)
    return ops.TaskResult(data={"n": params["n"]})


def _flaky(session, params, progress):
    raise RuntimeError("the disk is full")


def _taken_over(session, params, progress):
    """Another worker takes the task over mid-work (this one's lease expired), then this one
    writes something."""
    with db.engine.begin() as conn:
        conn.execute(Task.__table__.update().where(Task.id == params["id"]).values(
            claimed_by="host-b:2"))
    from fundapp.notifications.operations import notify_user

    notify_user(session, email="manager@example.cn", kind="test", key="written-by-a",
                message="written by the worker that lost its claim")
    return ops.TaskResult()


ops.register_task("test.count", _count, "Counting")
ops.register_task("test.taken_over", _taken_over, "Taken over")
ops.register_task("test.flaky", _flaky, "A flaky task")


@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch):
    path = tmp_path / "instance"
    path.mkdir()
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(path))
    monkeypatch.delenv("FUNDAPP_LEDGER_SIGNING_KEY", raising=False)
    return path


def queue(kind: str, params: dict, by: str) -> int:
    task = ops.enqueue(db.session, kind, params, requested_by=by)
    db.session.commit()
    task_id = task.id
    db.session.remove()
    return task_id


def test_an_export_is_queued_run_by_the_worker_and_shown_with_its_link(client):
    make_user("auditor@example.cn", roles=("auditor",))
    login(client, "auditor@example.cn", **EN)
    page = client.get("/compliance/exports", headers=EN).get_data(as_text=True)
    started = time.monotonic()
    response = client.post("/compliance/exports", headers=EN, data={
        "csrf_token": csrf_from(page), "from": "2020-01-01",
        "to": shanghai_today().isoformat(), "scope": "all", "value": ""})
    assert time.monotonic() - started < 5
    assert response.status_code == 302
    task_url = response.headers["Location"]
    assert task_url.startswith("/tasks/")
    waiting = client.get(task_url, headers=EN).get_data(as_text=True)
    assert "Signed ledger export" in waiting and "Waiting for a worker" in waiting
    assert '<meta http-equiv="refresh"' in waiting and "<progress" in waiting

    assert [t.status for t in run_tasks()] == ["done"]

    done = client.get(task_url, headers=EN).get_data(as_text=True)
    assert "Done" in done and 'http-equiv="refresh"' not in done
    assert "/compliance/exports/1/download" in done
    assert db.session.get(LedgerExport, 1).entry_count > 0  # made by the worker
    token = api_token(client, "auditor@example.cn")
    body = client.get(f"/api/v1{task_url}", headers={"Authorization": f"Bearer {token}"})
    assert body.status_code == 200
    data = body.get_json()
    assert data["status"] == "done" and data["done"] == data["total"] > 0
    assert data["result"]["export_id"] == 1
    assert data["links"]["result"] == "/compliance/exports/1/download"
    notes = client.get("/compliance/notifications/", headers=EN).get_data(as_text=True)
    assert "Signed ledger export is ready." in notes and task_url in notes


def test_the_api_answers_202_with_the_task_to_poll(client):
    make_user("auditor@example.cn", roles=("auditor",))
    headers = {"Authorization": f"Bearer {api_token(client, 'auditor@example.cn')}"}
    created = client.post("/api/v1/ledger/exports", headers=headers, json={
        "from": "2020-01-01", "to": shanghai_today().isoformat()})
    assert created.status_code == 202, created.get_json()
    task = created.get_json()
    assert task["status"] == "queued" and created.headers["Location"] == task["links"]["self"]
    assert client.get(task["links"]["self"], headers=headers).get_json()["status"] == "queued"
    run_tasks()
    polled = client.get(task["links"]["self"], headers=headers).get_json()
    assert polled["status"] == "done" and polled["result"]["entry_count"] > 0
    # a period without entries is refused at once, nothing queued
    empty = client.post("/api/v1/ledger/exports", headers=headers,
                        json={"from": "2001-01-01", "to": "2001-12-31"})
    assert empty.status_code == 422
    assert db.session.scalar(select(Task.id).where(Task.id == task["id"] + 1)) is None


def test_a_failing_task_is_retried_then_failed_with_its_error_shown(client):
    make_user("manager@example.cn", roles=("fund_manager",))
    task_id = queue("test.flaky", {}, "manager@example.cn")
    run_one()
    task = db.session.get(Task, task_id)
    assert (task.status, task.attempts) == ("queued", 1)
    assert "the disk is full" in task.error
    db.session.remove()
    run_tasks()
    task = db.session.get(Task, task_id)
    assert (task.status, task.attempts) == ("failed", 3)
    login(client, "manager@example.cn", **EN)
    page = client.get(f"/tasks/{task_id}", headers=EN).get_data(as_text=True)
    assert "Failed" in page and "RuntimeError: the disk is full" in page
    assert 'http-equiv="refresh"' not in page
    notes = client.get("/compliance/notifications/", headers=EN).get_data(as_text=True)
    assert "A flaky task failed: RuntimeError: the disk is full" in notes


def test_a_task_whose_worker_died_is_picked_up_by_another(app):
    make_user("manager@example.cn", roles=("fund_manager",))
    RAN.clear()
    task_id = queue("test.count", {"n": "crash"}, "manager@example.cn")
    # worker A claims it, then dies before recording anything
    claimed = ops.claim(db.session, "host-a:1")
    assert claimed.id == task_id and claimed.status == "running"
    db.session.remove()
    assert run_pending(worker="host-b:2") == []  # its lease still holds: nobody takes it
    task = db.session.get(Task, task_id)
    task.lease_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    db.session.remove()
    ran = run_pending(worker="host-b:2")
    assert [t.id for t in ran] == [task_id]
    task = db.session.get(Task, task_id)
    assert (task.status, task.attempts, task.claimed_by) == ("done", 2, "host-b:2")
    assert RAN["crash"] == 1
    # a task whose workers keep dying fails after its attempts, with the reason kept
    again = queue("test.count", {"n": "doomed"}, "manager@example.cn")
    for attempt in range(3):
        ops.claim(db.session, f"dying:{attempt}")
        db.session.execute(Task.__table__.update().where(Task.id == again).values(
            lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    assert run_pending(worker="host-b:2") == []
    task = db.session.get(Task, again)
    assert task.status == "failed" and "dying:2 stopped mid-task" in task.error
    assert RAN["doomed"] == 0


def test_a_worker_that_lost_its_claim_has_its_work_undone(app):
    from fundapp.notifications.models import Notification

    make_user("manager@example.cn", roles=("fund_manager",))
    task_id = queue("test.taken_over", {}, "manager@example.cn")
    db.session.execute(Task.__table__.update().where(Task.id == task_id).values(
        params_json=f'{{"id": {task_id}}}'))
    db.session.commit()
    run_one("host-a:1")
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert (task.status, task.claimed_by) == ("running", "host-b:2")  # B's to finish
    assert db.session.scalar(select(Notification.id).where(
        Notification.key == "written-by-a")) is None


def test_each_task_runs_once_with_two_workers(app, database):
    """SKIP LOCKED claims on PostgreSQL (FUNDAPP_REQUIRE_POSTGRES=1 makes sure this half runs),
    conditional claims under the write lock on SQLite."""
    make_user("manager@example.cn", roles=("fund_manager",))
    RAN.clear()
    ids = [queue("test.count", {"n": n, "sleep": 0.05}, "manager@example.cn")
           for n in range(30)]
    errors: list[BaseException] = []

    def work(name: str) -> None:
        with app.app_context():
            try:
                run_pending(worker=name)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert RAN == Counter({n: 1 for n in range(30)})
    rows = db.session.execute(select(Task.status, Task.attempts, Task.claimed_by)
                              .where(Task.id.in_(ids))).all()
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert {r.claimed_by for r in rows} == {"w0", "w1"}  # both workers took a share


def test_only_the_requester_admins_and_auditors_read_a_task(client):
    make_user("manager@example.cn", roles=("fund_manager",))
    make_user("other@example.cn", roles=("fund_manager",))
    make_user("auditor@example.cn", roles=("auditor",))
    task_id = queue("test.count", {"n": "mine"}, "manager@example.cn")
    for email, status in (("other@example.cn", 404), ("auditor@example.cn", 200),
                          ("manager@example.cn", 200)):
        token = api_token(client, email)
        assert client.get(f"/api/v1/tasks/{task_id}", headers={
            "Authorization": f"Bearer {token}"}).status_code == status, email
    run_tasks()
    login(client, "other@example.cn", **EN)
    assert client.get(f"/tasks/{task_id}").status_code == 404
    assert client.get(f"/tasks/{task_id}/file").status_code == 404
    # the notification that it is done goes to its requester alone
    assert "Counting is ready." not in client.get("/compliance/notifications/",
                                                  headers=EN).get_data(as_text=True)


def test_the_deals_xlsx_is_made_by_the_worker_and_served_from_the_database(client):
    from openpyxl import load_workbook

    from tests.deals.factories import make_company, make_deal

    make_user("m@example.cn", roles=("fund_manager",))
    make_deal(make_company(1, name="甲脑机有限公司", sector="bci.interface"), requested="300000.00")
    make_deal(make_company(2, name="乙机器人有限公司", sector="robotics.industrial"))
    db.session.commit()
    login(client, "m@example.cn", **EN)
    html = client.get("/deals", headers=EN).get_data(as_text=True)
    assert 'data-testid="export-xlsx"' in html
    queued = client.post("/deals/export.xlsx?sector=bci", headers=EN,
                         data={"csrf_token": csrf_from(html)})
    assert queued.status_code == 302 and queued.headers["Location"].startswith("/tasks/")
    assert [t.status for t in run_tasks()] == ["done"]
    page = client.get(queued.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Deals export (XLSX)" in page and "Download pipeline-" in page
    task_id = int(queued.headers["Location"].rsplit("/", 1)[1])
    file = client.get(f"/tasks/{task_id}/file")
    assert file.status_code == 200 and "attachment" in file.headers["Content-Disposition"]
    values = list(load_workbook(io.BytesIO(file.data)).active.iter_rows(values_only=True))
    assert values[0][1] == "Company"  # the requester's language, not the worker's
    assert len(values) == 2 and values[1][1] == "甲脑机有限公司"


def test_the_verification_pdf_is_made_by_the_worker(client, tmp_path):
    from tests.reports.helpers import pdf_text

    make_user("audit@example.cn", roles=["auditor"])
    login(client, "audit@example.cn", **EN)
    html = client.get("/compliance/ledger", headers=EN).get_data(as_text=True)
    queued = client.post("/compliance/ledger/verification.pdf?lang=en",
                         data={"csrf_token": csrf_from(html)})
    assert queued.headers["Location"].startswith("/tasks/")
    assert [t.status for t in run_tasks()] == ["done"]
    task_id = int(queued.headers["Location"].rsplit("/", 1)[1])
    pdf = client.get(f"/tasks/{task_id}/file")
    assert pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data, tmp_path)
    assert "The hash chain is intact" in text and "audit@example.cn" in text


def _env(database: str, tmp_path) -> dict[str, str]:
    from fundapp.compliance.signing import generate_pem

    return {**os.environ, "FUNDAPP_INSTANCE_DIR": str(tmp_path), "FUNDAPP_SECRET_KEY": "test",
            "FUNDAPP_DATABASE_URL": database,
            "FUNDAPP_LEDGER_SIGNING_KEY_PEM": generate_pem().decode()}


def test_fundapp_worker_once_and_the_scheduler_with_its_worker(app, database, tmp_path):
    make_user("audit@example.cn", roles=("auditor",))
    first = queue("ledger.verification_pdf", {"actor": "audit@example.cn", "lang": "en"},
                  "audit@example.cn")
    fundapp = str(Path(sys.executable).with_name("fundapp"))
    done = subprocess.run([fundapp, "worker", "--once"], env=_env(database, tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 task(s) run" in done.stdout
    assert "2/2 100%" in done.stderr  # the progress bar
    assert db.session.get(Task, first).status == "done"
    db.session.remove()

    # `make run` starts the scheduler with a worker inside it (scripts/run.sh)
    second = queue("ledger.verification_pdf", {"actor": "audit@example.cn", "lang": "en"},
                   "audit@example.cn")
    process = subprocess.Popen([fundapp, "scheduler", "run", "--with-worker"],
                               env=_env(database, tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.monotonic() + 60, "queued"
        while time.monotonic() < deadline and process.poll() is None and status != "done":
            time.sleep(0.3)
            status = db.session.scalar(select(Task.status).where(Task.id == second))
            db.session.rollback()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert status == "done", output


def test_a_large_sign_up_sheet_is_imported_by_the_worker(client, monkeypatch):
    from fundapp.deals import tasks as deal_tasks
    from fundapp.deals.models import Deal
    from tests.deals.factories import make_roadshow

    monkeypatch.setattr(deal_tasks, "IMPORT_IN_REQUEST_ROWS", 5)  # the sample sheet has 6 rows
    make_user("m@example.cn", roles=("fund_manager",))
    roadshow = make_roadshow()
    db.session.commit()
    login(client, "m@example.cn", **EN)
    csrf = csrf_from(client.get(f"/roadshows/{roadshow.id}", headers=EN).get_data(as_text=True))
    content = (Path(__file__).parent / "data" / "roadshow_signup.csv").read_bytes()
    uploaded = client.post(f"/roadshows/{roadshow.id}/import", headers=EN, data={
        "csrf_token": csrf, "sheet": (io.BytesIO(content), "报名表.csv")},
        content_type="multipart/form-data")
    db.session.commit()
    queued = client.post(uploaded.headers["Location"], headers=EN, data={"csrf_token": csrf})
    assert queued.headers["Location"].startswith("/tasks/")
    assert db.session.scalar(select(Deal.id)) is None  # nothing imported in the request
    assert [t.status for t in run_tasks()] == ["done"]
    assert len(db.session.scalars(select(Deal.id)).all()) == 6
    page = client.get(queued.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Sign-up sheet import" in page and f"/roadshows/{roadshow.id}" in page


def test_an_admin_backs_the_database_up_through_the_worker(client, tmp_path, monkeypatch):
    monkeypatch.setenv("FUNDAPP_BACKUP_DIR", str(tmp_path / "backups"))
    make_user("root@example.cn", roles=["admin"])
    make_user("audit@example.cn", roles=["auditor"])
    login(client, "audit@example.cn", **EN)
    html = client.get("/compliance/jobs", headers=EN).get_data(as_text=True)
    assert 'data-testid="backup-now"' not in html  # auditors change nothing
    assert client.post("/compliance/backups", data={"csrf_token": csrf_from(html)},
                       headers=EN).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    login(client, "root@example.cn", **EN)
    html = client.get("/compliance/jobs", headers=EN).get_data(as_text=True)
    queued = client.post("/compliance/backups", data={"csrf_token": csrf_from(html)},
                         headers=EN)
    assert queued.status_code == 302 and queued.headers["Location"].startswith("/tasks/")
    assert not (tmp_path / "backups").exists()  # the request only queued it
    assert [t.status for t in run_tasks()] == ["done"]
    written = list((tmp_path / "backups").iterdir())
    assert len(written) == 1 and written[0].stat().st_size > 10_000
    assert not written[0].name.endswith(".part")
    page = client.get(queued.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Database backup" in page and written[0].name in page
