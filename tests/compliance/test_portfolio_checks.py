"""Portfolio compliance checks (issue 7): stale marks, milestone reviews (R2.c), registration
deadlines (R6.g), conversion windows (R3.b / R8.a), the holding limit (R10.d), overdue KPI reports
and expiring appraisals (R9.a). Each item names its clause and its due date; the checks run at
chosen moments (run_checks(now=...)) so the thresholds are tested on both sides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from fundapp.compliance.checks import CheckItem, run_checks
from fundapp.extensions import db
from fundapp.portfolio.conversion.engine import add_months
from fundapp.portfolio.conversion.operations import record_registration
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.holdings.models import Holding
from fundapp.portfolio.kpis.operations import request_quarterly_kpis
from tests.conftest import login, make_user
from tests.portfolio.helpers import (
    grant_body,
    make_deal,
    make_fund,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)

pytestmark = pytest.mark.timeout(120)


def at(day: date) -> datetime:
    """Noon in Shanghai on `day`."""
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


def found(check: str, day: date) -> list[CheckItem]:
    return [i for i in run_checks(db.session, now=at(day), only=[check]).items
            if i.check == check]


def converted(client, headers) -> tuple[int, int]:
    """The rule book's worked example: signed 2025-06-01, converted 2026-11-01. (grant, holding)"""
    make_fund()
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id)
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers)
    assert rnd.status_code == 201, rnd.get_json()
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion",
                       json={"round_id": rnd.get_json()["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    return grant_id, db.session.query(Holding).one().id


def open_grant(client, headers, name: str = "乙科技有限公司", **extra) -> int:
    """A grant signed (by default on 2025-06-01) with no milestone review and no conversion."""
    deal = make_deal(name)
    response = client.post("/api/v1/grants", json=grant_body(deal.id, **extra), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_r6g_registration_deadline_warns_then_becomes_a_breach_candidate(app, client):
    headers = manager_headers(client)
    grant_id, _ = converted(client, headers)
    due = date(2026, 12, 31)  # converted 2026-11-01 + registration_days 60
    assert found("portfolio.registration", date(2026, 11, 30)) == []  # 31 days ahead
    [soon] = found("portfolio.registration", date(2026, 12, 1))
    assert (soon.clause, soon.severity, soon.due_on) == ("R6.g", "warning", due)
    assert soon.subject.startswith("星辰科技有限公司")
    message = soon.as_dict()["message"]
    assert "2026-12-31" in message["en"] and message["zh"]
    [late] = found("portfolio.registration", date(2027, 1, 1))
    assert (late.severity, late.due_on) == ("critical", due)
    assert "breach" in late.as_dict()["message"]["en"]

    record_registration(db.session, db.session.get(Grant, grant_id),
                        registered_on=date(2026, 11, 20), actor="test")
    db.session.commit()
    assert found("portfolio.registration", date(2027, 1, 1)) == []


def test_stale_marks_follow_the_latest_final_mark(app, client):
    headers = manager_headers(client)
    _, holding_id = converted(client, headers)
    acquired = db.session.get(Holding, holding_id).acquired_on
    assert found("portfolio.stale_marks", acquired + timedelta(days=150)) == []
    [none] = found("portfolio.stale_marks", date(2027, 8, 1))
    assert (none.clause, none.severity, none.subject_type) == ("metrics", "warning", "holding")
    assert none.due_on == add_months(acquired, 6)
    assert "no final valuation mark" in none.as_dict()["message"]["en"]

    mark = client.post(f"/api/v1/holdings/{holding_id}/marks", headers=headers, json={
        "measured_on": "2026-11-15", "method": "recent_round", "value_per_unit": "20.000000"})
    assert mark.status_code == 201, mark.get_json()
    # A draft does not count until a second person finalises it.
    assert [i.due_on for i in found("portfolio.stale_marks", date(2027, 8, 1))] == [none.due_on]
    other = manager_headers(client, "second@example.cn")
    assert client.post(f"/api/v1/marks/{mark.get_json()['id']}/finalise",
                       headers=other).status_code == 200
    assert found("portfolio.stale_marks", date(2027, 5, 14)) == []
    [stale] = found("portfolio.stale_marks", date(2027, 5, 16))
    assert stale.due_on == date(2027, 5, 15)
    assert "2026-11-15" in stale.as_dict()["message"]["en"]


def test_r2c_milestone_reviews_and_rd_acceptance_overdue(app, client):
    headers = manager_headers(client)
    make_fund()
    grant_id = open_grant(client, headers)  # rd due 2025-06-01 + 24 months
    due = date(2027, 6, 1)
    assert found("portfolio.milestone_reviews", date(2027, 4, 1)) == []
    soon = found("portfolio.milestone_reviews", date(2027, 5, 15))
    assert [(i.clause, i.severity, i.subject_type, i.due_on) for i in soon] == [
        ("R2.c", "info", "tranche", due)] * 2
    late = found("portfolio.milestone_reviews", date(2027, 6, 10))
    assert sorted((i.severity, i.subject_type) for i in late) == [
        ("warning", "grant"), ("warning", "tranche"), ("warning", "tranche")]
    assert all(i.due_on == due for i in late)

    review = client.post(f"/api/v1/grants/{grant_id}/reviews", headers=headers, json={
        "tranche": 2, "is_passed": True, "reviewer": "Expert panel", "reviewed_on": "2026-01-10"})
    assert review.status_code == 201, review.get_json()
    late = found("portfolio.milestone_reviews", date(2027, 6, 10))
    assert sorted(i.subject_type for i in late) == ["grant", "tranche"]
    # A grant with every tranche reviewed and paid and R&D accepted: nothing for it.
    signed_and_paid(client, headers, make_deal("丙科技有限公司").id)
    assert len(found("portfolio.milestone_reviews", date(2027, 6, 10))) == 2


def test_r3b_conversion_windows_within_90_and_30_days_from_the_pinned_policy(app, client):
    headers = manager_headers(client)
    make_fund()
    grant_id = open_grant(client, headers)  # window 36 months + 90 days grace
    grace_end = date(2028, 6, 1) + timedelta(days=90)
    assert grace_end == date(2028, 8, 30)
    assert found("portfolio.conversion_windows", grace_end - timedelta(days=91)) == []
    [info] = found("portfolio.conversion_windows", grace_end - timedelta(days=90))
    assert (info.clause, info.severity, info.due_on) == ("R3.b", "info", grace_end)
    assert "2028-06-01" in info.as_dict()["message"]["en"]
    [warn] = found("portfolio.conversion_windows", grace_end - timedelta(days=30))
    assert warn.severity == "warning"
    assert found("portfolio.conversion_windows", grace_end + timedelta(days=1)) == []

    # An override of the agreement's policy (IC resolution) moves the window.
    override = client.post(f"/api/v1/grants/{grant_id}/policy-override", headers=headers,
                           json={"values": {"grace_days": 30}, "ic_resolution_ref": "IC-9"})
    assert override.status_code == 200, override.get_json()
    [moved] = found("portfolio.conversion_windows", date(2028, 6, 20))
    assert (moved.severity, moved.due_on) == ("warning", date(2028, 7, 1))


def test_r10d_holding_limit_and_kpi_reports(app, client):
    headers = manager_headers(client)
    _, holding_id = converted(client, headers)
    acquired = db.session.get(Holding, holding_id).acquired_on
    limit = add_months(acquired, 120)
    assert found("portfolio.holding_limit", limit - timedelta(days=400)) == []
    [near] = found("portfolio.holding_limit", limit - timedelta(days=300))
    assert (near.clause, near.severity, near.due_on) == ("R10.d", "info", limit)
    [over] = found("portfolio.holding_limit", limit + timedelta(days=1))
    assert (over.severity, over.subject) == ("warning", "星辰科技有限公司")

    assert request_quarterly_kpis(db.session, "2026Q3", date(2026, 7, 1),
                                  date(2026, 9, 30)) == 1
    db.session.commit()
    due = date(2026, 10, 30)
    assert found("portfolio.kpi_reports", due) == []
    [overdue] = found("portfolio.kpi_reports", due + timedelta(days=1))
    assert (overdue.clause, overdue.severity, overdue.due_on) == ("KPI", "warning", due)
    assert "2026Q3" in overdue.as_dict()["message"]["en"]
    [report] = client.get("/api/v1/kpis", headers=headers).get_json()["items"]
    answered = client.post(f"/api/v1/kpis/{report['id']}/answer", headers=headers, json={
        "answered_on": "2026-11-02", "revenue_amount": "1.00", "rd_spend_amount": "1.00",
        "headcount": 2, "pct_applications": 0, "value_added_amount": "1.00"})
    assert answered.status_code == 200, answered.get_json()
    assert found("portfolio.kpi_reports", due + timedelta(days=1)) == []


def test_r9a_appraisals_expiring_within_60_days_or_expired(app, client):
    headers = manager_headers(client)
    _, holding_id = converted(client, headers)
    assert found("portfolio.appraisals", date(2027, 9, 1)) == []  # none filed
    appraisal = client.post(f"/api/v1/holdings/{holding_id}/appraisals", headers=headers, json={
        "base_on": "2026-10-31", "units": "500000.00", "value_amount": "9000000.00",
        "filing_no": "沪评备-7", "filed_on": "2026-11-10"})
    assert appraisal.status_code == 201, appraisal.get_json()
    until = date(2027, 10, 31)  # appraisal_validity_months 12
    assert found("portfolio.appraisals", until - timedelta(days=61)) == []
    [soon] = found("portfolio.appraisals", until - timedelta(days=60))
    assert (soon.clause, soon.severity, soon.due_on) == ("R9.a", "warning", until)
    assert "沪评备-7" in soon.as_dict()["message"]["zh"]
    [expired] = found("portfolio.appraisals", until + timedelta(days=1))
    assert (expired.severity, expired.due_on) == ("info", until)


def test_the_page_and_the_api_show_portfolio_items(app, client):
    headers = manager_headers(client)
    make_fund()
    today = date.today()
    signed = add_months(today, -25)
    open_grant(client, headers, signed_on=signed.isoformat())
    rd_due = add_months(signed, 24)
    request_quarterly_kpis(db.session, "2026Q2", today - timedelta(days=90),
                           today - timedelta(days=60))
    db.session.commit()
    kpi_due = today - timedelta(days=30)

    body = client.get("/api/v1/compliance/checks", headers=headers).get_json()
    ids = {c["id"] for c in body["checks"]}
    assert {"portfolio.stale_marks", "portfolio.milestone_reviews", "portfolio.registration",
            "portfolio.conversion_windows", "portfolio.holding_limit", "portfolio.kpi_reports",
            "portfolio.appraisals"} <= ids
    mine = [(i["check"], i["clause"], i["due_on"]) for i in body["items"]
            if i["check"].startswith("portfolio.")]
    assert ("portfolio.milestone_reviews", "R2.c", rd_due.isoformat()) in mine
    assert ("portfolio.kpi_reports", "KPI", kpi_due.isoformat()) in mine
    assert not any(i["severity"] == "critical" and i["check"].startswith("portfolio.")
                   for i in body["items"])  # none of them failed to run

    make_user("auditor@example.cn", roles=("auditor",))
    login(client, "auditor@example.cn")
    html = client.get("/compliance/checks").get_data(as_text=True)
    assert "R2.c" in html and rd_due.isoformat() in html and kpi_due.isoformat() in html


PORTFOLIO_CHECKS = ("portfolio.stale_marks", "portfolio.milestone_reviews",
                    "portfolio.registration", "portfolio.conversion_windows",
                    "portfolio.holding_limit", "portfolio.kpi_reports", "portfolio.appraisals")


def count_statements(day: date) -> tuple[int, int]:
    """(statements run, items found) by the portfolio checks at `day`."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = run_checks(db.session, now=at(day), only=PORTFOLIO_CHECKS)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements), len(report.items)


def test_the_number_of_queries_does_not_grow_with_the_portfolio(app, client):
    headers = manager_headers(client)
    _, holding_id = converted(client, headers)
    open_grant(client, headers, name="公司0")
    client.post(f"/api/v1/holdings/{holding_id}/appraisals", headers=headers, json={
        "base_on": "2026-10-31", "units": "500000.00", "value_amount": "9000000.00",
        "filing_no": "沪评备-1", "filed_on": "2026-11-10"})
    day = date(2027, 6, 10)  # milestone, stale-mark and appraisal items
    db.session.expire_all()
    few, few_items = count_statements(day)
    for n in range(1, 5):
        open_grant(client, headers, name=f"公司{n}")
    db.session.expire_all()
    many, many_items = count_statements(day)
    assert many_items > few_items
    assert many == few <= 2 * len(PORTFOLIO_CHECKS)  # at most 3 for a check, 13 in all
