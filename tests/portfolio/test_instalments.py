"""Issue 13: instalment schedules of deferred exit balances (R9.d exchange sales, buy-backs).

The schedule is checked against an annuity worked out here in Decimal (not numpy), the NAV's
receivable against the unpaid principal, and the reminders, the overdue check and the refusals by
what a fund manager sees: figures, notifications, check items and error answers.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from sqlalchemy import func, select

from fundapp.compliance.checks import run_checks
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.notifications.models import Notification
from fundapp.portfolio.exits.jobs import remind_instalments, remind_instalments_job
from fundapp.portfolio.exits.schedule import build_schedule, payment
from fundapp.portfolio.holdings.models import CashFlow, Holding
from fundapp.scheduler import JOBS
from tests.conftest import login, make_user
from tests.portfolio.helpers import (
    add_lpr,
    make_deal,
    make_fund,
    manager_headers,
    signed_and_paid,
    worked_example_round,
)
from tests.test_migrations import empty_app  # noqa: F401  (the fixture of the last test)

D = Decimal
FEN = D("0.01")
BALANCE = D("2100000.00")
DOWN = D("1000000.00")
LPR = D("0.0345")


def fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def annuity(balance: Decimal, annual: Decimal, n: int, months: int) -> Decimal:
    """B·i / (1 − (1 + i)^−n), i = r·m/12, in 50-digit Decimal."""
    with localcontext() as ctx:
        ctx.prec = 50
        i = annual * months / 12
        return fen(balance * i / (1 - (1 + i) ** -n))


# --------------------------------------------------------------------------- the pure schedule


def test_the_schedule_is_the_annuity_worked_out_in_decimal():
    lines = build_schedule(BALANCE, LPR, 4, 3, date(2026, 10, 20))
    level = annuity(BALANCE, LPR, 4, 3)
    assert payment(BALANCE, LPR, 4, 3) == level == D("536368.92")
    assert [line.due_on for line in lines] == [date(2027, 1, 20), date(2027, 4, 20),
                                               date(2027, 7, 20), date(2027, 10, 20)]
    assert sum(line.principal for line in lines) == BALANCE  # exactly
    outstanding = BALANCE
    for line in lines:
        # Each line's interest is the outstanding principal times r·m/12, to the fen.
        assert line.interest == fen(outstanding * LPR * 3 / 12)
        if line.number < 4:
            assert line.total == level
        outstanding -= line.principal
    assert outstanding == 0
    assert lines[0].interest == D("18112.50")  # 2,100,000.00 × 0.8625%
    # The last line takes the rounding difference: within a few fen of the level payment.
    assert abs(lines[-1].total - level) <= D("0.05")


def test_each_line_agrees_with_numpy_financial_ipmt_and_ppmt():
    """The split numpy-financial gives (ipmt/ppmt on the unrounded annuity) is the same schedule
    to the fen or two; the stored lines are the Decimal ones a person can check by hand."""
    import numpy_financial as npf

    for balance, rate, count, months in ((BALANCE, LPR, 4, 3), (D("987654.32"), D("0.0310"), 12, 1),
                                         (D("5000000.00"), D("0.0435"), 2, 6)):
        periodic = float(rate) * months / 12
        lines = build_schedule(balance, rate, count, months, date(2026, 1, 31))
        for line in lines:
            interest = -npf.ipmt(periodic, line.number, count, float(balance))
            principal = -npf.ppmt(periodic, line.number, count, float(balance))
            assert abs(float(line.interest) - interest) <= 0.02, (balance, line)
            assert abs(float(line.principal) - principal) <= 0.05, (balance, line)


def test_rate_zero_splits_the_principal_evenly_and_due_dates_clamp_to_the_month_end():
    lines = build_schedule(D("100.00"), D("0"), 3, 1, date(2026, 1, 31))
    assert [line.principal for line in lines] == [D("33.33"), D("33.33"), D("33.34")]
    assert all(line.interest == 0 for line in lines)
    assert [line.due_on for line in lines] == [date(2026, 2, 28), date(2026, 3, 31),
                                               date(2026, 4, 30)]


# --------------------------------------------------------------------------- exchange sale


def performance(client, headers, as_of: str) -> dict:
    response = client.get(f"/api/v1/performance?as_of={as_of}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def exchange_holding(client, headers) -> tuple[int, int]:
    """A direct holding (1m for 100,000 units on 2025-07-01) with a filed appraisal of half."""
    make_fund()
    deal = make_deal()
    made = client.post("/api/v1/cash-flows", headers=headers, json={
        "kind": "follow_on", "on": "2025-07-01", "amount": "1000000.00", "units": "100000.00",
        "company_id": deal.company_id, "reference": "FO-1"})
    assert made.status_code == 201, made.get_json()
    holding_id = made.get_json()["holding_id"]
    appraisal = client.post(f"/api/v1/holdings/{holding_id}/appraisals", headers=headers, json={
        "base_on": "2026-06-30", "units": "50000.00", "value_amount": "2850000.00",
        "filing_no": "沪国资评备〔2026〕118号", "filed_on": "2026-08-10"})
    assert appraisal.status_code == 201, appraisal.get_json()
    add_lpr(date(2026, 9, 22), str(LPR))
    return holding_id, appraisal.get_json()["id"]


def sell(client, headers, holding_id: int, appraisal_id: int, **terms):
    body = {"kind": "exchange", "transfer_on": "2026-10-20", "units": "50000.00",
            "price_amount": "3100000.00", "buyer": "张江科技产业集团",
            "appraisal_id": appraisal_id, "disclosure_start_on": "2026-08-31",
            "disclosure_end_on": "2026-09-30", "reserve_price_amount": "2900000.00",
            "down_payment_amount": str(DOWN)}
    body.update(terms)
    return client.post(f"/api/v1/holdings/{holding_id}/exits", headers=headers, json=body)


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(CashFlow)),
            db.session.scalar(select(func.count()).select_from(LedgerEntry)))


def test_an_exchange_sale_in_four_quarterly_instalments(client):
    headers = manager_headers(client)
    holding_id, appraisal_id = exchange_holding(client, headers)
    sale = sell(client, headers, holding_id, appraisal_id, instalments=4, instalment_months=3)
    assert sale.status_code == 201, sale.get_json()
    body = sale.get_json()
    exit_id = body["id"]
    expected = build_schedule(BALANCE, LPR, 4, 3, date(2026, 10, 20))
    assert body["balance_amount"] == "2100000.00" and body["balance_due_on"] == "2027-10-20"
    assert [(i["number"], i["due_on"], i["principal_amount"], i["interest_amount"])
            for i in body["instalments"]] == [
        (line.number, line.due_on.isoformat(), str(line.principal), str(line.interest))
        for line in expected]
    assert sum(D(i["principal_amount"]) for i in body["instalments"]) == BALANCE
    listed = client.get(f"/api/v1/exits/{exit_id}/instalments", headers=headers)
    assert listed.status_code == 200 and listed.get_json()["items"] == body["instalments"]
    # The schedule is in the exit's ledger entry, with the rate and where it came from.
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "exit.exchange"))
    schedule = json.loads(entry.payload)["details"]["schedule"]
    assert schedule["rate_source"] == "1-year LPR in force on the transfer date"
    assert D(schedule["annual_rate"]) == LPR and schedule["months"] == 3
    assert [line["interest_amount"] for line in schedule["lines"]] == [
        str(line.interest) for line in expected]

    # NAV: the unpaid principal is a receivable at face value, the next due date shown.
    left_at_cost = D("500000.00")
    owed = performance(client, headers, "2026-11-24")["holdings"][0]
    assert D(owed["receivable_amount"]) == BALANCE and owed["receivable_due_on"] == "2027-01-20"
    assert D(owed["nav_amount"]) == left_at_cost + BALANCE
    assert D(owed["distributed_amount"]) == DOWN

    # Instalment 2 arrives first (any unpaid instalment may be paid): principal + interest.
    second = expected[1]
    paid = client.post(f"/api/v1/exits/{exit_id}/instalments/2/payment", headers=headers,
                       json={"paid_on": "2026-11-25"})
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["paid_amount"] == str(second.total) == "536368.92"
    flow = db.session.scalar(select(CashFlow).where(CashFlow.exit_id == exit_id,
                                                    CashFlow.on == date(2026, 11, 25)))
    assert flow.kind.value == "exit_proceeds" and flow.amount == second.total
    assert flow.reference == f"exit {exit_id} instalment 2"
    assert performance(client, headers, "2026-11-24")["holdings"][0] == owed  # the day before
    after = performance(client, headers, "2026-11-30")["holdings"][0]
    assert D(after["receivable_amount"]) == BALANCE - second.principal
    assert D(after["distributed_amount"]) == DOWN + second.total
    assert D(after["nav_amount"]) == left_at_cost + BALANCE - second.principal
    assert after["receivable_due_on"] == "2027-01-20"

    # Paying it twice: 409 and nothing written.
    before = counts()
    again = client.post(f"/api/v1/exits/{exit_id}/instalments/2/payment", headers=headers,
                        json={"paid_on": "2026-11-26"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "settled"
    db.session.expire_all()
    assert counts() == before
    # A future date, a date before the transfer and an unknown instalment are refused.
    tomorrow = (shanghai_today() + timedelta(days=1)).isoformat()
    future = client.post(f"/api/v1/exits/{exit_id}/instalments/1/payment", headers=headers,
                         json={"paid_on": tomorrow})
    assert future.status_code == 422 and "paid_on" in future.get_json()["error"]["details"]
    early = client.post(f"/api/v1/exits/{exit_id}/instalments/1/payment", headers=headers,
                        json={"paid_on": "2026-10-19"})
    assert early.status_code == 422 and "paid_on" in early.get_json()["error"]["details"]
    assert client.post(f"/api/v1/exits/{exit_id}/instalments/5/payment", headers=headers,
                       json={"paid_on": "2026-11-26"}).status_code == 404
    # The one-payment balance form points to the instalments.
    whole = client.post(f"/api/v1/exits/{exit_id}/balance", headers=headers,
                        json={"paid_on": "2026-11-26"})
    assert whole.status_code == 409 and whole.get_json()["error"]["code"] == "instalments"
    db.session.expire_all()
    assert counts() == before

    # The holding page shows the schedule with its statuses and a form per unpaid instalment.
    make_user("reader@example.cn", roles=("fund_manager",), locale="en")
    assert login(client, "reader@example.cn").status_code == 302
    page = client.get(f"/portfolio/holdings/{holding_id}").get_data(as_text=True)
    assert f'data-testid="instalments-{exit_id}"' in page
    row2 = page.split(f'data-testid="instalment-{exit_id}-2"')[1].split("</tr>")[0]
    assert "536,368.92" in row2 and "2026-11-25" in row2 and "Paid" in row2
    row1 = page.split(f'data-testid="instalment-{exit_id}-1"')[1].split("</tr>")[0]
    assert "518,256.42" in row1 and "18,112.50" in row1 and "To be paid" in row1
    assert 'name="number" value="1"' in row1 and 'name="number"' not in row2
    # Paid from the page: instalment 1.
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    posted = client.post(f"/portfolio/holdings/{holding_id}/instalment", data={
        "csrf_token": token, "exit_id": str(exit_id), "number": "1", "paid_on": "2026-11-27"})
    assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    settled = performance(client, headers, "2026-11-30")["holdings"][0]
    assert D(settled["receivable_amount"]) == expected[2].principal + expected[3].principal
    assert settled["receivable_due_on"] == "2027-07-20"


def test_r9d_refuses_a_last_instalment_more_than_a_year_after_the_transfer(client):
    headers = manager_headers(client)
    holding_id, appraisal_id = exchange_holding(client, headers)
    before = counts()
    late = sell(client, headers, holding_id, appraisal_id, instalments=5, instalment_months=3)
    assert late.status_code == 409, late.get_json()
    details = late.get_json()["error"]["details"]
    assert details["rule"] == "R9.d" and details["field"] == "instalments"
    assert "2027-10-20" in late.get_json()["error"]["message"]  # the limit is named
    yearly = sell(client, headers, holding_id, appraisal_id, instalments=2, instalment_months=12)
    assert yearly.status_code == 409 and yearly.get_json()["error"]["details"]["rule"] == "R9.d"
    both = sell(client, headers, holding_id, appraisal_id, instalments=2, instalment_months=6,
                balance_due_on="2027-04-20")
    assert both.status_code == 422 and "balance_due_on" in both.get_json()["error"]["details"]
    little = sell(client, headers, holding_id, appraisal_id, down_payment_amount="900000.00",
                  instalments=4, instalment_months=3)
    assert little.status_code == 409
    assert little.get_json()["error"]["details"]["rule"] == "R9.d"  # below 30% down
    no_months = sell(client, headers, holding_id, appraisal_id, instalments=3)
    assert no_months.status_code == 422
    assert "instalment_months" in no_months.get_json()["error"]["details"]
    db.session.expire_all()
    assert counts() == before
    # A one-payment balance (as before issue 13) is one instalment without interest.
    single = sell(client, headers, holding_id, appraisal_id, balance_due_on="2027-04-20")
    assert single.status_code == 201, single.get_json()
    [line] = single.get_json()["instalments"]
    assert (line["number"], line["due_on"], line["principal_amount"], line["interest_amount"]) == (
        1, "2027-04-20", "2100000.00", "0.00")


# --------------------------------------------------------------------------- reminders, checks


def test_reminders_go_out_once_and_the_overdue_check_lists_the_instalment(client):
    headers = manager_headers(client)
    holding_id, appraisal_id = exchange_holding(client, headers)
    sale = sell(client, headers, holding_id, appraisal_id, instalments=2, instalment_months=6)
    assert sale.status_code == 201, sale.get_json()
    exit_id = sale.get_json()["id"]
    first_due = date(2027, 4, 20)
    assert any(job.id == "exits.instalments" for job in JOBS)
    assert "announced" in remind_instalments_job()  # today (2026-11-30 or later) runs

    def notes(kind: str) -> list[Notification]:
        return list(db.session.scalars(select(Notification).where(Notification.kind == kind)))

    assert remind_instalments(db.session, first_due - timedelta(days=31)) == (0, 0)
    assert remind_instalments(db.session, first_due - timedelta(days=30)) == (1, 0)
    assert remind_instalments(db.session, first_due - timedelta(days=29)) == (0, 0)  # once
    db.session.commit()
    [due] = notes("exit.instalment_due")
    assert due.role == "fund_manager" and first_due.isoformat() in due.message_en
    assert f"exit {exit_id}" in due.message_en and "星辰科技有限公司" in due.message_en

    def found(day: date):
        return [i for i in run_checks(db.session, now=_noon(day),
                                      only=["portfolio.instalments"]).items]

    assert found(first_due) == []
    [item] = found(first_due + timedelta(days=1))
    assert (item.clause, item.severity, item.due_on) == ("R9.d", "warning", first_due)
    assert "has not been paid" in item.as_dict()["message"]["en"]
    assert remind_instalments(db.session, first_due + timedelta(days=1)) == (0, 1)
    assert remind_instalments(db.session, first_due + timedelta(days=2)) == (0, 0)  # once
    db.session.commit()
    assert len(notes("exit.instalment_overdue")) == 1
    assert len(notes("exit.instalment_due")) == 1

    # The fund manager's inbox lists instalments due within 30 days or overdue (none today).
    paid = client.post(f"/api/v1/exits/{exit_id}/instalments/1/payment", headers=headers,
                       json={"paid_on": "2026-11-28"})
    assert paid.status_code == 200, paid.get_json()
    assert found(first_due + timedelta(days=1)) == []


def test_the_inbox_lists_an_overdue_instalment(client):
    from fundapp.auth.models import User
    from fundapp.main.inbox import exit_instalments

    headers = manager_headers(client)
    holding_id, appraisal_id = exchange_holding(client, headers)
    sale = sell(client, headers, holding_id, appraisal_id, balance_due_on="2026-11-20")
    assert sale.status_code == 201, sale.get_json()
    user = db.session.scalar(select(User).where(User.email == "manager@example.cn"))
    [item] = exit_instalments(db.session, user, date(2026, 11, 30))
    assert item.is_overdue and item.due_on == date(2026, 11, 20)
    assert f"exit {sale.get_json()['id']}" in item.text
    assert exit_instalments(db.session, user, date(2026, 10, 20)) == []  # 31 days before


def _noon(day: date):
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- buy-back


def test_a_buyback_paid_down_and_in_two_half_yearly_instalments(client):
    """The grant's policy sets instalment_rate 5%: it, not the LPR (3.0%), prices the schedule."""
    headers = manager_headers(client)
    make_fund()
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id,
                               policy_override={"instalment_rate": "0.05"},
                               override_ic_ref="IC-9")
    rnd = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                      json=worked_example_round(), headers=headers)
    assert rnd.status_code == 201, rnd.get_json()
    conv = client.post(f"/api/v1/grants/{grant_id}/conversion",
                       json={"round_id": rnd.get_json()["id"]}, headers=headers)
    assert conv.status_code == 201, conv.get_json()
    holding = db.session.scalars(select(Holding)).one()
    add_lpr(date(2025, 5, 20), "0.030")
    units = holding.units
    half = (units / 2).quantize(FEN)
    floor = (D("5000000.00") * half / units).quantize(FEN)  # before t1: the principal
    down = fen(floor * D("0.4"))
    url = f"/api/v1/holdings/{holding.id}/exits"
    body = {"kind": "buyback", "transfer_on": "2026-11-20", "units": str(half),
            "price_amount": str(floor), "buyer": "Founder Zhang",
            "down_payment_amount": str(down)}
    too_late = client.post(url, headers=headers, json={**body, "instalments": 2,
                                                       "instalment_months": 12})
    assert too_late.status_code == 422 and "instalments" in too_late.get_json()["error"]["details"]
    undated = client.post(url, headers=headers, json=body)
    assert undated.status_code == 422 and "balance_due_on" in undated.get_json()["error"]["details"]
    sold = client.post(url, headers=headers, json={**body, "instalments": 2,
                                                   "instalment_months": 6})
    assert sold.status_code == 201, sold.get_json()
    exit_id = sold.get_json()["id"]
    expected = build_schedule(floor - down, D("0.05"), 2, 6, date(2026, 11, 20))
    assert [(i["due_on"], D(i["principal_amount"]), D(i["interest_amount"]))
            for i in sold.get_json()["instalments"]] == [
        ("2027-05-20", expected[0].principal, expected[0].interest),
        ("2027-11-20", expected[1].principal, expected[1].interest)]
    assert expected[0].interest == fen((floor - down) * D("0.025"))
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "exit.buyback"))
    assert json.loads(entry.payload)["details"]["schedule"]["rate_source"] == (
        "policy instalment_rate")
    # The units left at the transfer; the down payment is a buy-back distribution.
    db.session.expire_all()
    assert db.session.get(Holding, holding.id).units == units - half
    owed = performance(client, headers, "2026-11-29")
    assert D(owed["fund"]["distributed_amount"]) == down
    assert D(owed["holdings"][0]["receivable_amount"]) == floor - down
    paid = client.post(f"/api/v1/exits/{exit_id}/instalments/1/payment", headers=headers,
                       json={"paid_on": "2026-11-29"})
    assert paid.status_code == 200, paid.get_json()
    flow = db.session.scalar(select(CashFlow).where(CashFlow.reference
                                                    == f"exit {exit_id} instalment 1"))
    assert flow.kind.value == "buyback_proceeds" and flow.amount == expected[0].total
    after = performance(client, headers, "2026-11-29")
    assert D(after["fund"]["distributed_amount"]) == down + expected[0].total
    assert D(after["holdings"][0]["receivable_amount"]) == expected[1].principal


# --------------------------------------------------------------------------- migration 0012


def test_the_migration_gives_every_existing_balance_one_instalment(empty_app):  # noqa: F811
    """Exits recorded before 0012: a balance (paid or not) becomes instalment 1 of the same
    amount, without interest; an exit paid in full gets none."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    upgrade(revision="0011")
    now = "2026-10-01 00:00:00+00:00"
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO companies (id, legal_name, name_en, normalised_name, district, legal_form, "
            "registered_capital_amount, par_value_amount, sector, website, description, "
            "created_at) VALUES (1, '甲', '', '甲', '', 'llc', 100, 100, '', '', '', :now)"),
            {"now": now})
        conn.execute(text(
            "INSERT INTO holdings (id, company_id, holder_entity, units, cost_amount, "
            "acquired_on, is_state_asset, created_at) VALUES (1, 1, 'P', 100, 100, "
            "'2025-07-01', true, :now)"), {"now": now})
        for exit_id, balance, due, paid in ((1, 210000000, "2027-04-20", None),
                                            (2, 5000, "2027-01-01", "2026-11-02"),
                                            (3, 0, None, None)):
            conn.execute(text(
                "INSERT INTO exits (id, holding_id, kind, transfer_on, units, price_amount, "
                "cost_amount, buyer, balance_amount, balance_due_on, balance_paid_on, is_closing, "
                "details_json, recorded_by, created_at) VALUES (:id, 1, 'exchange', "
                "'2026-10-20', 1, 310000000, 1, '', :balance, :due, :paid, false, '{}', "
                "'m@x.cn', :now)"),
                {"id": exit_id, "balance": balance, "due": due, "paid": paid, "now": now})
    upgrade(revision="0012")
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT exit_id, number, due_on, principal_amount, interest_amount, paid_on, "
            "paid_amount FROM exit_instalments ORDER BY exit_id")).all()
    assert [(r[0], r[1], str(r[2]), r[3], r[4], None if r[5] is None else str(r[5]), r[6])
            for r in rows] == [(1, 1, "2027-04-20", 210000000, 0, None, None),
                               (2, 1, "2027-01-01", 5000, 0, "2026-11-02", 5000)]
