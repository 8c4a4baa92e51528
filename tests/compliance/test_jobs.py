"""The compliance jobs (issue 7): a chain break alerts the admins (in-app, and by e-mail when an
SMTP host is set); reminders, KPI requests and the quarterly report act once per natural key; two
scheduler processes run each occurrence once; admins read the run history."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from fundapp.compliance import jobs
from fundapp.compliance.models import JobRun, LedgerEntry, LedgerExport
from fundapp.dates import previous_quarter
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.extensions import db
from fundapp.notifications.models import Notification
from fundapp.portfolio.kpis.jobs import request_kpis_job
from fundapp.scheduler import JOBS, run_occurrence
from tests.compliance.helpers import add_entries, today_shanghai
from tests.conftest import login, make_user, tamper

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(path))
    monkeypatch.delenv("FUNDAPP_SMTP_HOST", raising=False)
    return path


def job(job_id: str):
    return next(j for j in JOBS if j.id == job_id)


def notes(kind: str | None = None) -> list[Notification]:
    db.session.expire_all()
    stmt = select(Notification).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


def break_chain() -> None:
    tamper("UPDATE ledger_entries SET payload = '{}' WHERE seq = 2")


class FakeSMTP:
    sent: list = []

    def __init__(self, host, port, timeout):
        self.host = host

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def send_message(self, message):
        FakeSMTP.sent.append(message)


def test_a_chain_break_alerts_admins_in_app_and_by_mail(app, client, monkeypatch):
    import smtplib

    make_user("admin@example.cn", roles=("admin",))
    make_user("manager@example.cn", roles=("fund_manager",))
    break_chain()
    monkeypatch.setenv("FUNDAPP_SMTP_HOST", "mail.example.cn")
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    FakeSMTP.sent = []

    run = run_occurrence(job("ledger.verify"), datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
    again = run_occurrence(job("ledger.verify"), datetime(2026, 3, 10, 18, 30, tzinfo=UTC))

    assert run.outcome == again.outcome == "failed" and "entry 2" in run.message
    [alert] = notes("ledger.chain_broken")  # not repeated while unread
    assert (alert.role, alert.severity, alert.clause) == ("admin", "critical", "R12")
    assert len(FakeSMTP.sent) == 1 and FakeSMTP.sent[0]["To"] == "admin@example.cn"

    login(client, "admin@example.cn")
    page = client.get("/compliance/notifications/",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "hash chain is broken at entry 2" in page
    manager = app.test_client()
    login(manager, "manager@example.cn")
    assert "chain is broken" not in manager.get(
        "/compliance/notifications/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert manager.post(f"/compliance/notifications/{alert.id}/read").status_code in (400, 404)


def test_no_mail_without_an_smtp_host(app, monkeypatch):
    import smtplib

    make_user("admin@example.cn", roles=("admin",))
    make_user("auditor@example.cn", roles=("auditor",))
    break_chain()
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    FakeSMTP.sent = []
    run_occurrence(job("ledger.verify"), datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
    assert len(notes("ledger.chain_broken")) == 1 and FakeSMTP.sent == []


def signed_and_noticed_deals() -> None:
    signed = Company(legal_name="甲科技有限公司", normalised_name="甲科技")
    noticed = Company(legal_name="乙科技有限公司", normalised_name="乙科技")
    db.session.add_all([signed, noticed])
    db.session.flush()
    now = datetime.now(UTC)
    db.session.add_all([
        Deal(company_id=signed.id, project_name="A", requested_grant_amount=Decimal("100.00"),
             approved_budget_amount=Decimal("1000.00"), stage=DealStage.AGREEMENT_SIGNED,
             stage_entered_at=now),
        Deal(company_id=noticed.id, project_name="B", requested_grant_amount=Decimal("100.00"),
             approved_budget_amount=Decimal("1000.00"), stage=DealStage.PUBLIC_NOTICE,
             stage_entered_at=now, public_notice_started_on=today_shanghai()),
    ])
    db.session.commit()


def test_reminders_kpi_requests_and_quarterly_report_act_once(app):
    signed_and_noticed_deals()
    quarter, start, end = previous_quarter(today_shanghai())
    add_entries(4, at=datetime.combine(start, datetime.min.time(), UTC) + timedelta(days=3))

    first = jobs.remind_deadlines_job()
    db.session.commit()
    assert first.startswith("1 reminders sent"), first
    [reminder] = notes("reminder.deals.public_notice")
    assert reminder.role == "fund_manager" and "public notice of deal B" in reminder.message_en
    db.session.commit()
    assert jobs.remind_deadlines_job().startswith("0 reminders sent")

    outcome = jobs.quarterly_report_job()
    db.session.commit()
    assert outcome.startswith(f"{quarter}: export ") and "with 4 entries" in outcome
    export = db.session.scalars(select(LedgerExport)).one()
    assert (export.period_from_on, export.period_to_on, export.created_by) == (start, end,
                                                                               "system")
    assert {n.role for n in notes("report.quarterly")} == {"admin", "auditor"}
    from fundapp.ic.quarterly import latest_report

    assert latest_report(db.session, quarter).pdf.startswith(b"%PDF-")  # the supervisors' PDF
    assert "exists already" in jobs.quarterly_report_job()


def test_kpi_job_asks_each_portfolio_company_once(app):
    """Companies with a signed grant are asked for last quarter's KPIs; a second run asks no one."""
    from tests.portfolio.helpers import make_deal, make_fund, manager_headers, signed_and_paid

    make_fund()
    client = app.test_client()
    headers = manager_headers(client)
    signed_and_paid(client, headers, make_deal("甲科技有限公司").id)
    quarter, _, _ = previous_quarter(today_shanghai())
    assert request_kpis_job() == f"KPI reports for {quarter} requested from 1 companies"
    db.session.commit()
    [kpi] = notes("kpi.request")
    assert "甲科技有限公司" in kpi.message_en and quarter in kpi.message_en
    assert "nothing new to request" in request_kpis_job()


def test_jobs_with_nothing_to_act_on_say_so():
    assert previous_quarter(date(2026, 1, 15)) == ("2025Q4", date(2025, 10, 1),
                                                        date(2025, 12, 31))
    assert previous_quarter(date(2026, 7, 1))[0] == "2026Q2"


def test_empty_fund_job_messages(app):
    assert "no deadlines within 30 days" in jobs.remind_deadlines_job()
    assert "nothing new to request" in request_kpis_job()
    assert "nothing to export" in jobs.quarterly_report_job()


def test_two_scheduler_processes_run_each_occurrence_once(app, database, tmp_path, instance):
    """Two real `fundapp scheduler catch-up` processes race over the same missed occurrences."""
    make_user("admin@example.cn", roles=("admin",))
    quarter, start, _ = previous_quarter(today_shanghai())
    add_entries(3, at=datetime.combine(start, datetime.min.time(), UTC) + timedelta(days=2))
    db.session.remove()
    from fundapp.compliance.signing import generate_pem

    env = {**os.environ, "FUNDAPP_INSTANCE_DIR": str(instance), "FUNDAPP_SECRET_KEY": "test",
           "FUNDAPP_DATABASE_URL": database,
           # on PostgreSQL a real app needs its keys as configuration (issue 16)
           "FUNDAPP_LEDGER_SIGNING_KEY_PEM": generate_pem().decode()}
    fundapp = str(Path(sys.executable).with_name("fundapp"))
    # Noon on the first day of this quarter: every job's latest occurrence is in its window.
    today = today_shanghai()
    now = datetime(today.year, (today.month - 1) // 3 * 3 + 1, 1, 12, 0,
                   tzinfo=ZoneInfo("Asia/Shanghai")).isoformat()
    processes = [subprocess.Popen([fundapp, "scheduler", "catch-up", "--now", now], env=env,
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=90) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]

    runs = db.session.execute(select(JobRun.job_id, JobRun.scheduled_for, func.count())
                              .group_by(JobRun.job_id, JobRun.scheduled_for)).all()
    assert runs and all(count == 1 for _, _, count in runs)
    assert "report.quarterly" in {job_id for job_id, _, _ in runs}
    # Each effect happened once: one quarterly export, one ledger entry for it.
    assert db.session.scalar(select(func.count()).select_from(LedgerExport)) == 1
    assert db.session.scalar(select(func.count()).where(
        LedgerEntry.action == "ledger.exported")) == 1
    claimed_by = {line.split()[0] for out, _ in outputs for line in out.splitlines() if line}
    assert "report.quarterly" in claimed_by


def test_admins_see_the_run_history_with_outcomes(app, client):
    make_user("admin@example.cn", roles=("admin",))
    make_user("manager@example.cn", roles=("fund_manager",))
    run_occurrence(job("ledger.verify"), datetime(2026, 3, 9, 18, 30, tzinfo=UTC))
    login(client, "admin@example.cn")
    page = client.get("/compliance/jobs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "ledger.verify" in html and "2 entries verified" in html and "outcome-ok" in html
    assert "report.quarterly" in html  # every job is listed with its schedule
    manager = app.test_client()
    login(manager, "manager@example.cn")
    assert manager.get("/compliance/jobs").status_code == 403
