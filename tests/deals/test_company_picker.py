"""The company pickers search (issue 14): with 50,000 companies, the new deal and roadshow pages
never list them all. GET /companies/options feeds picker.js; without JavaScript the pages' own
search (company_q) narrows the drop-down to a short list plus the chosen company.
"""

from __future__ import annotations

import re

from fundapp.extensions import db
from tests.conftest import csrf_from, login, make_user
from tests.deals.factories import make_company, make_roadshow, uscc

EN = {"Accept-Language": "en"}
LIMIT = 20


def _companies(count: int = 30) -> list:
    """`count` companies named alike (测试科技N有限公司) and one to find: 星辰芯片有限公司."""
    made = [make_company(n) for n in range(1, count + 1)]
    star = make_company(count + 1, name="星辰芯片有限公司", name_en="Star Chips Ltd")
    db.session.commit()
    return [*made, star]


def _signed_in(client, roles=("fund_manager",), email="picker@example.cn"):
    make_user(email, roles=roles)
    assert login(client, email, **EN).status_code == 302
    return client


def _select_options(html: str, select_id: str) -> list[str]:
    """The values of the options of one <select> of the page."""
    body = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert body, f"no select #{select_id}"
    return [v for v in re.findall(r'<option value="(\d*)"', body.group(0)) if v]


def test_options_find_by_pinyin_initials_and_credit_code(client):
    star = _companies()[-1]
    _signed_in(client)
    by_initials = client.get("/companies/options", query_string={"q": "XCXP"}, headers=EN)
    assert by_initials.status_code == 200
    # the name in the reader's language, and the credit code
    assert by_initials.get_json() == {
        "items": [{"id": star.id, "label": f"Star Chips Ltd ({star.uscc})"}], "more": False}
    by_code = client.get("/companies/options", query_string={"q": star.uscc},
                         headers={"Accept-Language": "zh"}).get_json()
    assert by_code["items"] == [{"id": star.id, "label": f"星辰芯片有限公司 ({star.uscc})"}]
    by_pinyin = client.get("/companies/options", query_string={"q": "xingchen"}).get_json()
    assert [item["id"] for item in by_pinyin["items"]] == [star.id]
    nothing = client.get("/companies/options", query_string={"q": "没有这个公司"}).get_json()
    assert nothing == {"items": [], "more": False}


def test_options_stop_at_twenty_by_name_and_say_more(client):
    _companies()
    _signed_in(client)
    answer = client.get("/companies/options", query_string={"q": "测试科技"}).get_json()
    labels = [item["label"] for item in answer["items"]]
    assert len(labels) == LIMIT and answer["more"] is True
    assert labels == sorted(labels)
    everything = client.get("/companies/options").get_json()
    assert len(everything["items"]) == LIMIT and everything["more"] is True
    few = client.get("/companies/options", query_string={"q": "测试科技3"}).get_json()
    assert len(few["items"]) == 2 and few["more"] is False  # 3 and 30


def test_options_need_sign_in_and_the_right_role(client, app):
    _companies(3)
    anonymous = client.get("/companies/options", query_string={"q": "星辰"})
    assert anonymous.status_code in (302, 401)
    assert "星辰" not in anonymous.get_data(as_text=True)
    _signed_in(client, roles=("ic_member",), email="ic@example.cn")
    assert client.get("/companies/options", query_string={"q": "星辰"}).status_code == 403


def test_new_deal_page_lists_a_short_page_and_keeps_the_chosen(client):
    companies = _companies()
    _signed_in(client)
    html = client.get("/deals/new", headers=EN).get_data(as_text=True)
    options = _select_options(html, "f-company_id")
    assert 0 < len(options) <= LIMIT + 1
    assert 'data-picker-url="/companies/options"' in html and 'name="company_q"' in html
    assert "picker.js" in html

    star = companies[-1]
    found = client.get("/deals/new", query_string={"company_q": "xcxp"}, headers=EN)
    assert _select_options(found.get_data(as_text=True), "f-company_id") == [str(star.id)]
    last = max(companies, key=lambda c: c.legal_name)  # past the first page: kept when linked
    linked = client.get("/deals/new", query_string={"company": last.id}, headers=EN)
    linked_options = _select_options(linked.get_data(as_text=True), "f-company_id")
    assert str(last.id) in linked_options and len(linked_options) == LIMIT + 1


def test_a_refused_new_deal_shows_what_was_typed_and_the_chosen(client):
    companies = _companies()
    _signed_in(client)
    csrf = csrf_from(client.get("/deals/new", headers=EN).get_data(as_text=True))
    chosen = max(companies, key=lambda c: c.legal_name)  # not among the first names
    refused = client.post("/deals/new", headers=EN, data={
        "csrf_token": csrf, "company_id": str(chosen.id), "company_q": "测试科技2",
        "requested_grant_amount": "1000000.00", "approved_budget_amount": "3000000.00"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert f'<option value="{chosen.id}" selected>' in html
    assert 'value="测试科技2"' in html  # the search as typed
    untyped = client.post("/deals/new", headers=EN, data={
        "csrf_token": csrf, "company_q": "星辰", "project_name": "芯片项目",
        "requested_grant_amount": "1000000.00", "approved_budget_amount": "3000000.00"})
    html = untyped.get_data(as_text=True)
    assert untyped.status_code == 422 and 'value="星辰"' in html
    assert _select_options(html, "f-company_id") == [str(companies[-1].id)]


def test_roadshow_page_lists_a_short_page_and_searches(client):
    companies = _companies()
    roadshow = make_roadshow(panel=0)
    db.session.commit()
    _signed_in(client)
    html = client.get(f"/roadshows/{roadshow.id}", headers=EN).get_data(as_text=True)
    assert 0 < len(_select_options(html, "slot-company")) <= LIMIT
    assert 'data-picker-url="/companies/options"' in html
    found = client.get(f"/roadshows/{roadshow.id}", query_string={"company_q": uscc(31)},
                       headers=EN).get_data(as_text=True)
    assert _select_options(found, "slot-company") == [str(companies[-1].id)]
