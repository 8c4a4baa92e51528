"""Compliance checks (issue 7): each item names its clause, in both languages; the page, the API
and the CSV/XLSX export show the same items; a broken check does not hide the others."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fundapp.compliance import checks as checks_module
from fundapp.compliance.checks import CheckItem, register_check, run_checks
from fundapp.deals.models import Company, Deal, DealStage
from fundapp.extensions import db
from fundapp.fund.operations import create_fund
from fundapp.scheduler import JOBS, latest_occurrence, run_occurrence
from tests.conftest import api_token, login, make_user, tamper

pytestmark = pytest.mark.timeout(60)


def fund_with_deals(*requested: tuple[str, str, str], committed: str = "10000000.00") -> None:
    """requested: (company, requested grant, approved budget) per deal."""
    create_fund(db.session, name="示范基金", committed_amount=Decimal(committed),
                established_on=date(2025, 1, 1), actor="test")
    companies: dict[str, Company] = {}
    for name, amount, budget in requested:
        if name not in companies:
            companies[name] = Company(legal_name=name, normalised_name=name.lower())
            db.session.add(companies[name])
            db.session.flush()
        db.session.add(Deal(company_id=companies[name].id, project_name=f"{name} project",
                            requested_grant_amount=Decimal(amount),
                            approved_budget_amount=Decimal(budget),
                            stage=DealStage.DUE_DILIGENCE, stage_entered_at=datetime.now(UTC)))
    db.session.commit()


def items(check: str) -> list[CheckItem]:
    return [i for i in run_checks(db.session).items if i.check == check]


def test_single_company_limit_r10a_and_grant_cap_r2a(app, client):
    # Limit: 10% of 10,000,000.00 = 1,000,000.00.
    fund_with_deals(("甲科技有限公司", "600000.00", "2000000.00"),
                    ("甲科技有限公司", "500000.00", "2000000.00"),  # 1,100,000.00 in all: over
                    ("乙科技有限公司", "850000.00", "1000000.00"),  # 85%: near; > 50% of budget
                    ("丙科技有限公司", "100000.00", "1000000.00"))  # fine
    [over, near] = items("limits.single_company")
    assert (over.clause, over.severity, over.subject) == ("R10.a", "critical", "甲科技有限公司")
    assert "1,100,000.00" in over.as_dict()["message"]["en"]
    assert "1,000,000.00" in over.as_dict()["message"]["en"]
    assert (near.severity, near.subject) == ("warning", "乙科技有限公司")
    [cap] = items("deals.grant_cap")
    assert cap.clause == "R2.a" and "50%" in cap.as_dict()["message"]["en"]

    make_user("manager@example.cn", roles=("fund_manager",))
    headers = {"Authorization": f"Bearer {api_token(client, 'manager@example.cn')}"}
    body = client.get("/api/v1/compliance/checks", headers=headers).get_json()
    r10a = [i for i in body["items"] if i["clause"] == "R10.a"]
    assert [i["severity"] for i in r10a] == ["critical", "warning"]
    assert set(r10a[0]["message"]) == {"en", "zh"} and r10a[0]["message"]["zh"]
    assert body["counts"]["critical"] >= 1
    assert {"ledger.chain", "limits.single_company", "users.without_roles"} <= {
        c["id"] for c in body["checks"]}


def test_checks_page_and_exports_for_staff_but_not_ic_members(app, client):
    fund_with_deals(("=cmd|' /C calc'!A0", "2000000.00", "5000000.00"))
    make_user("auditor@example.cn", roles=("auditor",))
    make_user("ic@example.cn", roles=("ic_member",))
    login(client, "auditor@example.cn")

    page = client.get("/compliance/checks")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "R10.a" in html and "R12" in html

    exported = client.get("/compliance/checks.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    r10a = [r for r in rows if r["clause"] == "R10.a"]
    assert r10a and r10a[0]["subject"] == "'=cmd|' /C calc'!A0"  # neutralised
    assert r10a[0]["message_en"].startswith("'=cmd")
    xlsx = client.get("/compliance/checks.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"

    ic = app.test_client()
    login(ic, "ic@example.cn")
    assert ic.get("/compliance/checks").status_code == 403
    assert ic.get("/compliance/checks.csv").status_code == 403


def test_ledger_chain_item_follows_the_nightly_verification(app):
    make_user("someone@example.cn")
    [chain] = items("ledger.chain")
    assert chain.severity == "warning" and "not been verified" in chain.as_dict()["message"]["en"]

    [job] = [j for j in JOBS if j.id == "ledger.verify"]
    now = datetime.now(UTC)
    assert run_occurrence(job, now - timedelta(minutes=5)).outcome == "ok"
    assert items("ledger.chain") == []

    tamper("UPDATE ledger_entries SET actor = 'nobody' WHERE seq = 1")
    assert run_occurrence(job, now - timedelta(minutes=1)).outcome == "failed"
    [broken] = items("ledger.chain")
    assert broken.severity == "critical" and "entry 1" in broken.as_dict()["message"]["en"]


def test_users_without_roles_and_stale_or_missed_jobs(app):
    from fundapp.auth.models import UserRole
    from fundapp.compliance.models import JobRun

    user = make_user("orphan@example.cn", roles=("auditor",))
    db.session.query(UserRole).filter_by(user_id=user.id).delete()
    db.session.commit()
    [orphan] = items("users.without_roles")
    assert orphan.subject == "orphan@example.cn"

    now = datetime.now(UTC)
    # The job's latest occurrence, started five hours ago and never finished (whatever the time
    # of day the test runs at, so no "did not run" item hides it).
    [remind] = [j for j in JOBS if j.id == "deadlines.remind"]
    # The last occurrence however long ago (past the job's 12-hour catch-up window from 20:00
    # Beijing time on, latest_occurrence would say there is none to catch up).
    due = latest_occurrence(replace(remind, catch_up=timedelta(days=2)), now).astimezone(UTC)
    db.session.add(JobRun(job_id="deadlines.remind", scheduled_for=due,
                          started_at=now - timedelta(hours=5), outcome="running"))
    db.session.commit()
    jobs = {i.subject_id: i for i in items("scheduler.jobs")}
    assert "marked running" in jobs["deadlines.remind"].as_dict()["message"]["en"]


def test_a_broken_check_becomes_an_item_and_the_others_still_run(app, monkeypatch):
    monkeypatch.setattr(checks_module, "CHECKS", dict(checks_module.CHECKS))

    @register_check("test.broken", clause="R6.g", title="broken")
    def broken(ctx):
        raise RuntimeError("registration table missing")
        yield  # pragma: no cover

    report = run_checks(db.session)
    [item] = [i for i in report.items if i.check == "test.broken"]
    assert (item.clause, item.severity) == ("R6.g", "critical")
    assert "registration table missing" in item.as_dict()["message"]["en"]
    assert any(i.check == "ledger.chain" for i in report.items)
