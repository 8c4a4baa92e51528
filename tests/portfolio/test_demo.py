"""The demo fund has grants in every state, each produced by the app's own operations."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from fundapp.compliance.ledger import verify_chain
from fundapp.demo import load_demo
from fundapp.extensions import db
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.demo import load_grants_demo
from fundapp.portfolio.grants.models import Grant


def test_the_demo_has_grants_in_every_state(app):
    load_demo(db.session)
    db.session.commit()
    grants = db.session.scalars(select(Grant).order_by(Grant.id)).unique().all()
    states = sorted(g.status.value for g in grants)
    assert states == ["closed", "converted", "converted", "converted", "converted",
                      "disbursing", "in_breach", "rd_accepted"]
    # One conversion via each R5 policy: the rule book's cases A-D, to the unit.
    units = sorted(str(c.fund_units) for c in db.session.scalars(select(Conversion)))
    assert units == ["500000.00", "526315.78", "625000.00", "833333.33"]
    breach = next(g for g in grants if g.status.value == "in_breach")
    assert breach.recovery_interest_amount > 0
    assert verify_chain(db.session).ok
    assert load_grants_demo(db.session, date(2026, 11, 26)) == 0  # once only


def test_the_demo_pages_render(app):
    from tests.conftest import login
    from tests.isolation import isolated_client

    load_demo(db.session)
    db.session.commit()
    client = isolated_client(app)
    assert login(client, "manager@demo.fundapp.cn", "demo-password").status_code == 302
    grants = db.session.scalars(select(Grant)).unique().all()
    for grant in grants:
        assert client.get(f"/grants/{grant.id}").status_code == 200
        assert client.get(f"/companies/{grant.company_id}/cap-table").status_code == 200
        if grant.conversion:
            assert client.get(f"/grants/{grant.id}/conversion").status_code == 200
    assert client.get("/grants").status_code == 200
