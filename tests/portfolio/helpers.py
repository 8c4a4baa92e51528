"""Builders for grant tests: a company and a deal at "agreement signed", and API shortcuts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from fundapp.deals.models import Company, Deal, DealStage, LegalForm
from fundapp.extensions import db
from fundapp.fund.models import Fund
from fundapp.fund.operations import create_fund
from fundapp.reference.operations import add_lpr_rate
from tests.conftest import api_token, make_user

SIGNED = "2025-06-01"


def make_fund(committed: str = "500000000.00") -> Fund:
    fund = create_fund(db.session, name="测试基金", committed_amount=Decimal(committed),
                       established_on=date(2025, 1, 1), actor="test")
    db.session.commit()
    return fund


def make_deal(name: str = "星辰科技有限公司", legal_form: LegalForm = LegalForm.LLC,
              stage: DealStage = DealStage.AGREEMENT_SIGNED, budget: str = "10000000.00") -> Deal:
    company = Company(legal_name=name, normalised_name=name.lower(), legal_form=legal_form,
                      registered_capital_amount=Decimal("10000000.00"))
    deal = Deal(company=company, project_name=f"{name} R&D", requested_grant_amount=Decimal(
        "5000000.00"), approved_budget_amount=Decimal(budget), stage=stage,
        stage_entered_at=datetime.now(UTC))
    db.session.add(deal)
    db.session.commit()
    return deal


def add_lpr(published_on: date, rate: str) -> None:
    """Through the operation, ledgered: performance figures are cached under the ledger."""
    add_lpr_rate(db.session, published_on=published_on, rate_pct=Decimal(rate) * 100,
                 actor="test")
    db.session.commit()


def manager_headers(client, email: str = "manager@example.cn", roles=("fund_manager",)) -> dict:
    make_user(email, roles=roles)
    return {"Authorization": f"Bearer {api_token(client, email)}"}


def grant_body(deal_id: int, **extra) -> dict:
    body = {"deal_id": deal_id, "awarded_amount": "5000000.00", "signed_on": SIGNED,
            "holder_entity": "区科创投资平台", "approved_budget_amount": "10000000.00"}
    body.update(extra)
    return body


def worked_example_round(**extra) -> dict:
    """The rule book's common round: one independent lead, 20m at 100m pre, 10m units."""
    body = {"name": "Series A", "kind": "priced_equity", "closed_on": "2026-11-01",
            "pre_money_valuation_amount": "100000000.00", "units_before": "10000000.00",
            "investors": [{"name": "Lead Capital", "cash_amount": "20000000.00",
                           "is_independent": True}],
            "lead": "Lead Capital",
            "holders_before": [{"holder": "Founder Zhang", "units": "6000000.00"},
                               {"holder": "Founder Li", "units": "4000000.00"}]}
    body.update(extra)
    return body


def signed_and_paid(client, headers, deal_id: int, *, accept: bool = True, **extra) -> int:
    """The worked examples' grant: 5m awarded, paid 2.0m / 1.5m / 1.5m, R&D accepted 2026-09-01."""
    response = client.post("/api/v1/grants", json=grant_body(deal_id, **extra), headers=headers)
    assert response.status_code == 201, response.get_json()
    grant_id = response.get_json()["id"]
    url = f"/api/v1/grants/{grant_id}"
    payments = [(1, "2025-06-10", "2000000.00"), (2, "2025-12-01", "1500000.00"),
                (3, "2026-06-01", "1500000.00")]
    for tranche, paid_on, amount in payments:
        if tranche > 1:
            review = client.post(f"{url}/reviews", json={"tranche": tranche, "is_passed": True,
                                                         "reviewer": "Expert panel",
                                                         "reviewed_on": paid_on}, headers=headers)
            assert review.status_code == 201, review.get_json()
        paid = client.post(f"{url}/disbursements", json={"tranche": tranche, "paid_on": paid_on,
                                                         "amount": amount}, headers=headers)
        assert paid.status_code == 201, paid.get_json()
    if accept:
        accepted = client.post(f"{url}/rd-acceptance", json={"accepted_on": "2026-09-01",
                                                             "reference": "验收-2026-01"},
                               headers=headers)
        assert accepted.status_code == 200, accepted.get_json()
    return grant_id
