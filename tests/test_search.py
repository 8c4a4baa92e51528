"""The search box: companies by name, former name, pinyin (whole or initials) and credit code;
deals, grants, founders and users; grouped by kind, in the reader's language, only links the
reader may open."""

from __future__ import annotations

from sqlalchemy import select

from fundapp.deals import operations as ops
from fundapp.deals.models import Company
from fundapp.extensions import db
from fundapp.search import company_search_key, fold
from tests.conftest import api_token, login, make_user
from tests.deals.factories import make_company, make_deal, uscc


def test_the_key_holds_names_pinyin_initials_and_the_credit_code():
    key = company_search_key("张江科创（上海）有限公司", "Zhangjiang Innovation", "浦东芯片有限公司",
                             "91310000MA1FL0XX0X")
    for part in ("张江科创上海有限公司", "zhangjianginnovation", "zhangjiangkechuangshanghaiyouxiangongsi",
                 "zjkcshyxgs", "pudongxinpian", "pdxp", "91310000ma1fl0xx0x"):
        assert f"{part}" in key, part
    assert fold("ＺＨＡＮＧ jiang-科创") == "zhangjiang科创"  # full width folded, spaces dropped


def _companies(app):
    with app.app_context():
        zj = make_company(1, name="张江科创有限公司", name_en="Zhangjiang Innovation Co.")
        make_company(2, name="临港智造有限公司")
        make_deal(zj, project_name="类脑芯片研发")
        db.session.commit()
        return zj.id


def test_pinyin_initials_english_and_credit_code_find_the_company(app, client):
    company_id = _companies(app)
    with app.app_context():
        make_user("m@example.cn", roles=("fund_manager",), locale="zh")
    token = api_token(client, "m@example.cn")
    headers = {"Authorization": f"Bearer {token}"}

    def names(q: str) -> list[str]:
        body = client.get("/api/v1/search", query_string={"q": q}, headers=headers).get_json()
        return [r["legal_name"] for r in body["companies"]["rows"]]

    assert names("zjkc") == ["张江科创有限公司"]
    assert names("zhangjiang") == ["张江科创有限公司"]
    assert names("Zhang Jiang") == ["张江科创有限公司"]  # spaces and case do not matter
    assert names("innovation") == ["张江科创有限公司"]
    assert names("科创") == ["张江科创有限公司"]
    assert names(uscc(1)) == ["张江科创有限公司"]
    assert names("lgzz") == ["临港智造有限公司"]
    assert names("nothing-like-it") == []
    # Deals of a matching company, and deals by project name.
    body = client.get("/api/v1/search", query_string={"q": "zjkc"}, headers=headers).get_json()
    assert [d["project_name"] for d in body["deals"]["rows"]] == ["类脑芯片研发"]
    assert body["deals"]["rows"][0]["stage_label"] == "形式审查"
    body = client.get("/api/v1/search", query_string={"q": "类脑"}, headers=headers).get_json()
    assert body["deals"]["rows"][0]["company"] == "张江科创有限公司"
    # A fund manager is not shown users (the users page is the admin's and auditor's).
    assert "users" not in body
    assert company_id


def test_a_renamed_company_is_found_by_its_former_name(app, client):
    company_id = _companies(app)
    with app.app_context():
        company = db.session.get(Company, company_id)
        ops.update_company(db.session, company, actor="test", legal_name="张江脑科学有限公司")
        db.session.commit()
        renamed = db.session.get(Company, company_id)
        assert renamed.former_names == "张江科创有限公司"
        make_user("m@example.cn", roles=("fund_manager",), locale="zh")
    login(client, "m@example.cn")
    page = client.get("/search?q=zjkc").get_data(as_text=True)
    assert "张江脑科学有限公司" in page and "曾用名" in page  # found by the old name's initials
    page = client.get("/search?q=zjnkx").get_data(as_text=True)
    assert "张江脑科学有限公司" in page
    company_page = client.get(f"/companies/{company_id}").get_data(as_text=True)
    assert 'data-testid="former-names"' in company_page


def test_the_page_groups_results_and_speaks_the_readers_language(app, client):
    _companies(app)
    with app.app_context():
        make_user("a@example.cn", roles=("admin",), name="王管理", locale="en")
    login(client, "a@example.cn")
    dashboard = client.get("/").get_data(as_text=True)
    assert 'data-testid="quick-search"' in dashboard and 'accesskey="k"' in dashboard
    page = client.get("/search?q=zjkc").get_data(as_text=True)
    assert 'data-testid="results-companies"' in page and 'data-testid="results-deals"' in page
    assert "Zhangjiang Innovation Co." in page  # the English name for an English reader
    users = client.get("/search?q=王管理").get_data(as_text=True)
    assert 'data-testid="results-users"' in users  # admins find users
    empty = client.get("/search?q=qqqqqq").get_data(as_text=True)
    assert 'data-testid="no-results"' in empty and "zjkc" in empty


def test_bad_queries_are_named_not_crashes(app, client):
    with app.app_context():
        make_user("m@example.cn", roles=("auditor",))
    token = api_token(client, "m@example.cn")
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}
    long = client.get("/api/v1/search", query_string={"q": "张" * 101}, headers=headers)
    assert long.status_code == 422 and "q" in long.get_json()["error"]["details"]
    missing = client.get("/api/v1/search", headers=headers)
    assert missing.status_code == 422 and "q" in missing.get_json()["error"]["details"]
    limit = client.get("/api/v1/search", query_string={"q": "a", "limit": "500"}, headers=headers)
    assert limit.status_code == 422 and "limit" in limit.get_json()["error"]["details"]
    wild = client.get("/api/v1/search", query_string={"q": "%_%"}, headers=headers)
    assert wild.status_code == 200  # LIKE's wildcards are taken literally
    login(client, "m@example.cn")
    page = client.get("/search?q=" + "张" * 101)
    assert page.status_code == 422 and "100" in page.get_data(as_text=True)


def test_a_company_written_through_the_orm_is_indexed_with_phrase_pinyin(app):
    with app.app_context():
        make_company(7, name="重庆银河有限公司")
        db.session.commit()
        key = db.session.scalar(select(Company.search_key).where(Company.legal_name.like("重庆%")))
        assert "|" in key and "cqyhyxgs" in key  # 重 read as chóng in a place name
