"""The grant, round, preview, conversion, cap table and policy pages, as a user sees them."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from fundapp.extensions import db
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.rounds.models import FinancingRound
from tests.conftest import csrf_from, login, make_user
from tests.isolation import isolated_client
from tests.portfolio.helpers import make_deal

EN = {"Accept-Language": "en"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def browser(app, email="manager@example.cn", roles=("fund_manager",)):
    make_user(email, roles=roles, locale="en")
    client = isolated_client(app)
    assert login(client, email).status_code == 302
    return client


def post_form(client, page_url, action_url, data):
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(action_url, data={"csrf_token": token, **data})


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


ROUND_FORM = {"name": "Series A", "kind": "priced_equity", "closed_on": "2026-11-01",
              "pre_money_valuation_amount": "100000000.00", "units_before": "10000000.00",
              "investor_1_name": "Lead Capital", "investor_1_cash": "20000000.00",
              "investor_1_independent": "yes", "lead": "1",
              "holder_1_name": "Founder Zhang", "holder_1_units": "10000000.00"}


def sign_via_page(client, deal_id):
    response = post_form(client, "/grants/new", "/grants/new", {
        "deal_id": str(deal_id), "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "区科创投资平台"})
    assert response.status_code == 302, text(response)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_a_grant_goes_from_signing_to_conversion_through_the_pages(app):
    client = browser(app)
    deal = make_deal()
    bad = post_form(client, "/grants/new", "/grants/new", {
        "deal_id": str(deal.id), "awarded_amount": "5000000.00", "signed_on": "2025-06-01",
        "holder_entity": "平台", "tranche_1_amount": "1000000.00",
        "tranche_2_amount": "1000000.00"})
    assert bad.status_code == 422
    assert "The tranches sum to 2,000,000.00 but the award is 5,000,000.00" in text(bad)
    assert count(Grant) == 0

    grant_id = sign_via_page(client, deal.id)
    page = f"/grants/{grant_id}"
    assert "2,000,000.00" in text(client.get(page))  # the 40% first tranche

    action = f"/grants/{grant_id}"
    early = post_form(client, page, f"{action}/disburse", {"tranche": "2",
                                                          "paid_on": "2025-06-10"})
    assert early.status_code == 422 and "R2.b" in text(early)
    steps = [("disburse", {"tranche": "1", "paid_on": "2025-06-10"}),
             ("review", {"tranche": "2", "is_passed": "yes", "reviewer": "Panel",
                         "reviewed_on": "2025-12-01"}),
             ("disburse", {"tranche": "2", "paid_on": "2025-12-01"}),
             ("review", {"tranche": "3", "is_passed": "yes", "reviewer": "Panel",
                         "reviewed_on": "2026-06-01"}),
             ("disburse", {"tranche": "3", "paid_on": "2026-06-01"}),
             ("accept", {"accepted_on": "2026-09-01", "reference": "验收"})]
    for name, data in steps:
        response = post_form(client, page, f"{action}/{name}", data)
        assert response.status_code == 302, (name, text(response))
    shown = text(client.get(page))
    assert 'data-testid="disbursed">5,000,000.00' in shown
    assert 'data-testid="grant-status">R&D accepted' in shown

    bad_round = post_form(client, f"/companies/{deal.company_id}/rounds/new",
                          f"/companies/{deal.company_id}/rounds/new",
                          {**ROUND_FORM, "units_before": "0"})
    assert bad_round.status_code == 422 and "units_before" in text(bad_round)
    assert count(FinancingRound) == 0
    recorded = post_form(client, f"/companies/{deal.company_id}/rounds/new",
                         f"/companies/{deal.company_id}/rounds/new", ROUND_FORM)
    assert recorded.status_code == 302, text(recorded)
    round_page = text(client.get(recorded.headers["Location"]))
    assert "qualifying financing" in round_page and "R3.e: independent lead investor" in round_page

    round_id = db.session.scalar(select(FinancingRound.id))
    preview = text(client.get(f"{page}/preview?mode=recorded&round_id={round_id}"))
    assert "500000.00" in preview and "4.0000%" in preview
    for clause in ("R4.a", "R5.a", "R6.a", "R6.b", "R6.c", "R6.e", "R6.g"):
        assert clause in preview
    assert count(Conversion) == 0  # the preview changed nothing

    hypothetical = client.get(f"{page}/preview", query_string={
        **ROUND_FORM, "mode": "hypothetical", "closed_on": "2025-05-01"})
    assert hypothetical.status_code == 422 and "R3.b" in text(hypothetical)

    converted = post_form(client, page, f"{page}/conversion", {"round_id": str(round_id),
                                                               "confirmed": "1"})
    assert converted.status_code == 302, text(converted)
    conversion_page = text(client.get(converted.headers["Location"]))
    assert "4,500,000.00" in conversion_page and "Founder Zhang" in conversion_page
    cap = text(client.get(f"/companies/{deal.company_id}/cap-table"))
    assert "80.0000%" in cap and "4.0000%" in cap and "Conversion of grant" in cap


def test_auditors_read_grants_without_action_forms(app):
    manager = browser(app)
    deal = make_deal()
    grant_id = sign_via_page(manager, deal.id)
    auditor = browser(app, "auditor@example.cn", roles=("auditor",))
    page = auditor.get(f"/grants/{grant_id}")
    assert page.status_code == 200
    assert "Release a tranche" not in text(page)
    assert auditor.get("/grants").status_code == 200
    assert auditor.get("/policies").status_code == 200
    assert auditor.get("/policies/new").status_code == 403


def test_an_admin_saves_a_new_policy_version_and_bad_values_are_named(app):
    admin = browser(app, "admin@example.cn", roles=("admin",))
    form = admin.get("/policies/new")
    html = form.get_data(as_text=True)
    values = dict(re.findall(r'name="(value_[a-z_0-9]+)" value="([^"]*)"', html))
    assert values["value_discount"] == "0"
    data = {**values, "effective_on": "2026-01-01", "approved_by": "IC",
            "ic_resolution_ref": "IC-2026-1"}
    bad = post_form(admin, "/policies/new", "/policies/new", {**data, "value_discount": "1"})
    assert bad.status_code == 422 and "Must be less than 1 (100%)." in text(bad)
    negative = post_form(admin, "/policies/new", "/policies/new",
                         {**data, "value_valuation_cap": "-1"})
    assert negative.status_code == 422 and "value_valuation_cap" in text(negative)
    ok = post_form(admin, "/policies/new", "/policies/new", {**data, "value_discount": "0.1"})
    assert ok.status_code == 302, text(ok)
    listed = text(admin.get("/policies"))
    assert "effective 2026-01-01" in listed and "default-1" in listed


def test_unknown_or_huge_ids_are_not_found_and_garbage_forms_never_fail(app):
    client = browser(app)
    huge = "9" * 25
    for url in (f"/grants/{huge}", f"/grants/{huge}/preview?mode=recorded&round_id={huge}",
                f"/rounds/{huge}", f"/companies/{huge}/cap-table", f"/documents/{huge}",
                "/grants/999", f"/grants/{huge}/conversion"):
        assert client.get(url).status_code == 404, url
    deal = make_deal()
    grant_id = sign_via_page(client, deal.id)
    page = f"/grants/{grant_id}"
    for action in ("review", "disburse", "refund", "accept", "breach", "tolerance", "override",
                   "registration"):
        for junk in ("", "x", huge, "-1", "2025-02-30"):
            data = {k: junk for k in ("tranche", "paid_on", "amount", "refunded_on",
                                      "accepted_on", "reference", "breach_on", "reason",
                                      "repaid_on", "closed_on", "ic_resolution_ref",
                                      "parameter", "value", "registered_on", "reviewer",
                                      "reviewed_on")}
            response = post_form(client, page, f"{page}/{action}", data)
            assert response.status_code in (302, 422), (action, junk, response.status_code)
    converted = post_form(client, page, f"{page}/conversion", {"round_id": huge})
    assert converted.status_code in (404, 422)


def test_evidence_uploads_on_the_round_page_keep_pdfs_and_refuse_other_files(app, tmp_path):
    from io import BytesIO

    client = browser(app)
    deal = make_deal()
    sign_via_page(client, deal.id)
    recorded = post_form(client, f"/companies/{deal.company_id}/rounds/new",
                         f"/companies/{deal.company_id}/rounds/new", ROUND_FORM)
    round_url = recorded.headers["Location"]
    token = csrf_from(client.get(round_url).get_data(as_text=True))
    refused = client.post(f"{round_url}/documents", data={
        "csrf_token": token, "file": (BytesIO(b"<html>not a pdf</html>"), "minutes.pdf")},
        content_type="multipart/form-data")
    assert refused.status_code == 422 and "Only PDF files and images" in text(refused)
    kept = client.post(f"{round_url}/documents", data={
        "csrf_token": token, "file": (BytesIO(b"%PDF-1.4 minutes"), "minutes.pdf")},
        content_type="multipart/form-data")
    assert kept.status_code == 302
    page = text(client.get(round_url))
    assert "minutes.pdf" in page and "application/pdf" in page
    doc_url = re.search(r'href="(/documents/\d+)"', page).group(1)
    download = client.get(doc_url)
    assert download.data == b"%PDF-1.4 minutes"
    assert "attachment" in download.headers["Content-Disposition"]


def test_an_over_long_ic_resolution_reference_on_the_conversion_form_is_an_inline_error(app):
    client = browser(app)
    deal = make_deal()
    grant_id = sign_via_page(client, deal.id)
    page = f"/grants/{grant_id}"
    steps = [("disburse", {"tranche": "1", "paid_on": "2025-06-10"}),
             ("accept", {"accepted_on": "2026-09-01", "reference": "验收"})]
    for name, data in steps:
        assert post_form(client, page, f"{page}/{name}", data).status_code == 302
    recorded = post_form(client, f"/companies/{deal.company_id}/rounds/new",
                         f"/companies/{deal.company_id}/rounds/new", ROUND_FORM)
    assert recorded.status_code == 302, text(recorded)
    round_id = db.session.scalar(select(FinancingRound.id))
    too_long = "IC-" + "9" * 147
    refused = post_form(client, page, f"{page}/conversion",
                        {"round_id": str(round_id), "ic_resolution_ref": too_long})
    assert refused.status_code == 422, text(refused)
    shown = text(refused)
    assert "Longer than maximum length 100." in shown
    assert f'value="{too_long}"' in shown  # what was typed stays in the form
    assert count(Conversion) == 0


def test_the_policy_pages_write_nothing_and_say_when_no_version_exists(app):
    from fundapp.compliance.models import LedgerEntry
    from fundapp.fund.models import PolicyVersion

    admin = browser(app, "admin@example.cn", roles=("admin",))
    before = count(LedgerEntry)
    listed = admin.get("/policies")
    assert listed.status_code == 200 and 'data-testid="no-policy"' in text(listed)
    form = admin.get("/policies/new")
    assert form.status_code == 200 and 'name="value_discount" value="0"' in text(form)
    assert count(PolicyVersion) == 0 and count(LedgerEntry) == before
