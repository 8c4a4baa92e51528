"""Issue 14: a conversion, an exit and signing the minutes first show what they will do; nothing
changes until the user confirms, and a bad value at the preview comes back on the form."""

from __future__ import annotations

from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.ic.models import IcMeeting
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.exits.models import Exit
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.rounds.models import FinancingRound
from tests.conftest import csrf_from, login
from tests.ic.conftest import committee  # noqa: F401  (the fixture)
from tests.ic.test_minutes import decided_meeting, fake_pack  # noqa: F401
from tests.portfolio.helpers import make_deal
from tests.portfolio.test_pages import ROUND_FORM, browser, post_form, sign_via_page, text
from tests.portfolio.test_portfolio_pages import holding_of, portfolio


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def ledger_size() -> int:
    return count(LedgerEntry)


def test_a_conversion_shows_its_sheet_and_the_cancelled_tranches_before_it_happens(app):
    client = browser(app)
    deal = make_deal()
    grant_id = sign_via_page(client, deal.id)
    page = f"/grants/{grant_id}"
    for name, data in (("disburse", {"tranche": "1", "paid_on": "2025-06-10"}),
                       ("accept", {"accepted_on": "2026-09-01", "reference": "验收"})):
        assert post_form(client, page, f"{page}/{name}", data).status_code == 302
    assert post_form(client, f"/companies/{deal.company_id}/rounds/new",
                     f"/companies/{deal.company_id}/rounds/new", ROUND_FORM).status_code == 302
    round_id = str(db.session.scalar(select(FinancingRound.id)))
    entries = ledger_size()

    shown = post_form(client, page, f"{page}/conversion", {"round_id": round_id,
                                                           "ic_resolution_ref": "IC-7"})
    assert shown.status_code == 200, text(shown)
    sheet = text(shown)
    assert "Confirm the conversion" in sheet and "Nothing has been changed yet." in sheet
    assert "Undisbursed tranches cancelled (R4.b)" in sheet
    assert "1,500,000.00" in sheet  # tranches 2 and 3 (30% each of 5,000,000.00)
    assert "Registration due (R6.g)" in sheet and "Fund stake" in sheet
    assert 'name="confirmed" value="1"' in sheet and 'value="IC-7"' in sheet
    assert "back=convert" in sheet and "Go back" in sheet
    db.session.expire_all()
    assert count(Conversion) == 0 and ledger_size() == entries
    assert db.session.get(Grant, grant_id).status.value == "rd_accepted"

    back = client.get(f"{page}?back=convert&round_id={round_id}&ic_resolution_ref=IC-7")
    assert back.status_code == 200 and 'value="IC-7"' in text(back)

    confirmed = post_form(client, page, f"{page}/conversion", {
        "round_id": round_id, "ic_resolution_ref": "IC-7", "confirmed": "1"})
    assert confirmed.status_code == 302, text(confirmed)
    db.session.expire_all()
    assert count(Conversion) == 1 and ledger_size() > entries
    grant = db.session.get(Grant, grant_id)
    assert grant.status.value == "converted"
    assert [t.status.value for t in grant.tranches][1:] == ["cancelled", "cancelled"]


def test_a_bad_value_at_the_conversion_preview_comes_back_on_the_form(app):
    client = browser(app)
    grant_id = sign_via_page(client, make_deal().id)
    page = f"/grants/{grant_id}"
    refused = post_form(client, page, f"{page}/conversion",
                        {"round_id": "appraisal", "keep_undisbursed_ref": "IC-9"})
    assert refused.status_code in (409, 422)
    shown = text(refused)
    assert "Confirm the conversion" not in shown and 'value="IC-9"' in shown
    assert count(Conversion) == 0


def test_an_exit_is_shown_then_recorded_only_once_confirmed(app):
    setup = portfolio(app)
    client = setup["fund_manager"]
    ruikang = holding_of("Ruikang Medtech")
    url = f"/portfolio/holdings/{ruikang.id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    exits, entries, units = count(Exit), ledger_size(), ruikang.units
    form = {"csrf_token": token, "kind": "trade_sale", "transfer_on": "2026-10-01",
            "units": "1000.00", "price_amount": "12345.00", "buyer": "某产业资本"}
    shown = client.post(f"{url}/exit", data=form)
    assert shown.status_code == 200, text(shown)
    sheet = text(shown)
    assert "Confirm the exit" in sheet and "12,345.00" in sheet
    assert "Cost of the units sold" in sheet and "Gain" in sheet
    assert 'value="某产业资本"' in sheet
    db.session.expire_all()
    assert count(Exit) == exits and ledger_size() == entries
    assert holding_of("Ruikang Medtech").units == units

    bad = client.post(f"{url}/exit", data={**form, "units": "99999999.00"})
    assert bad.status_code == 422 and "Confirm the exit" not in text(bad)
    assert "Units" in text(bad) and 'value="99999999.00"' in text(bad)

    done = client.post(f"{url}/exit", data={**form, "confirmed": "1"})
    assert done.status_code == 302, text(done)
    db.session.expire_all()
    assert count(Exit) == exits + 1 and holding_of("Ruikang Medtech").units == units - 1000


def test_signing_the_minutes_shows_the_version_hashes_and_decisions_first(
        app, client, committee, fake_pack):  # noqa: F811 (fixtures imported above)
    meeting = decided_meeting(committee)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "chair@x.cn")
    url = f"/ic/meetings/{meeting.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'data-testid="sign-minutes"' in html
    entries = ledger_size()
    shown = client.post(f"{url}/minutes", data={"csrf_token": csrf_from(html)})
    assert shown.status_code == 200, text(shown)
    sheet = text(shown)
    assert "Confirm signing the minutes" in sheet and "Decisions being fixed" in sheet
    assert meeting.packs[0].sha256 in sheet
    assert "Approved with conditions" in sheet and "Rejected" in sheet
    db.session.expire_all()
    assert ledger_size() == entries
    assert not any(m.is_signed for m in db.session.get(IcMeeting, meeting.id).minutes)

    done = client.post(f"{url}/minutes", data={"csrf_token": csrf_from(html), "confirmed": "1"})
    assert done.status_code == 302, text(done)
    db.session.expire_all()
    assert db.session.get(IcMeeting, meeting.id).minutes[-1].is_signed
