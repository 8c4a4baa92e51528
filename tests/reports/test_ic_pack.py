"""The IC pack PDF: Chinese in an embedded font, page numbers and a contents page, DRAFT until
final, nothing fetched from user text, the same bytes for the same version."""

from __future__ import annotations

import json
import re

import pytest

import reports.render as render
from tests.reports.helpers import pdf_fonts, pdf_text

EVIL = ('<img src="file:///etc/passwd"> <link rel="stylesheet" href="https://example.com/x.css">'
        ' <img src="https://httpbin.org/redirect-to?url=file:///etc/passwd">')


def deal(position, name, description=""):
    return {
        "position": position, "anchor": f"deal-{position}", "deal_id": position,
        "project_name": "脑机接口芯片",
        "company": {"legal_name": name, "name_en": "Deep Blue BCI", "uscc": "91310115000000001X",
                    "district": "浦东新区", "legal_form": "llc", "registered_capital": "10,000,000.00",
                    "share_count": "—", "sector_zh": "脑机接口", "sector_en": "BCI",
                    "founded_on": "2022-05-01", "website": "", "description": description},
        "team": [{"name": "张三", "title": "CEO", "background": "清华大学博士"}],
        "roadshow": {"name": "春季路演", "held_on": "2026-03-01", "rank": 1, "of": 2, "mean": "8.20",
                     "spread": "1.00", "judges": 3, "conflicts": 0, "chart_height": 42,
                     "criteria": [{"code": "technology", "label_zh": "技术", "label_en": "Technology",
                                   "weight": "20%", "mean": "8.50", "y": 8, "width": 255}]},
        "reviews": [], "project_summary": description, "milestone_plan": "",
        "dd_summary": "团队完整，技术领先。", "risks": description,
        "financials": {"requested": "1,000,000.00", "budget": "4,000,000.00",
                       "share_of_budget": "25.00%", "prior_grants": "0.00", "rounds": []},
        "tranches": [{"n": 1, "share": "40%", "amount": "400,000.00"}],
        "scenarios": [{"key": "base", "label_zh": "基准估值", "label_en": "Base",
                       "pre_money": "20,000,000.00", "new_money": "5,000,000.00",
                       "closed_on": "2028-09-20", "error": "", "round_price": "2.000000",
                       "conversion_price": "2.000000", "fund_units": "500000.00",
                       "stake": "3.8462%", "converted": "1,000,000.00", "stake_capped": False,
                       "steps": [{"clause": "R5.a", "label_zh": "转股价格", "label_en": "Price",
                                  "formula": "Pc = P", "inputs": "P = 2", "result": "Pc = 2"}],
                       "cap_table": [{"holder": "本基金 The fund", "units": "500000.00",
                                      "percent": "3.8462%", "is_fund": True}]}],
        "checklist": [{"clause": "R2.a", "label_zh": "拨款上限", "label_en": "Grant cap",
                       "ok": True, "detail": "1,000,000.00 ≤ 5,000,000.00"}],
        "voters": [{"user_id": 1, "name": "陈主任", "is_chair": True, "recused": False,
                    "recusal": ""}],
    }


def pack(is_final=False, description="", deals=2):
    return {"meeting": {"id": 1, "title": "2026 年第 1 次投决会", "held_on": "2026-03-20",
                        "location": "张江", "chair": "陈主任", "quorum": "2/3",
                        "decision_rule": "1/2"},
            "fund": {"name": "张江科创拨投结合基金", "name_en": "Zhangjiang fund"},
            "version": 3, "is_final": is_final, "generated_at": "2026-03-18 02:00 UTC",
            "policy_version": "2025-01", "members": [{"user_id": 1, "name": "陈主任",
                                                       "is_chair": True}],
            "deals": [deal(i, "深蓝脑机科技有限公司" if i == 1 else f"曦和机器人{i}有限公司",
                           description) for i in range(1, deals + 1)]}


@pytest.fixture(scope="module")
def draft_pdf():
    return render.render_pdf("ic_pack", pack(), "both")


def test_chinese_company_name_reads_back_and_no_glyph_is_missing(draft_pdf, tmp_path):
    text = pdf_text(draft_pdf, tmp_path)
    assert "深蓝脑机科技有限公司" in text
    assert "投资决策委员会审议材料" in text and "Investment committee memo" in text
    assert "\ufffd" not in text
    cjk = [line for line in pdf_fonts(draft_pdf, tmp_path).splitlines() if "CJK" in line]
    assert cjk and all(" yes " in line for line in cjk)


def test_page_x_of_y_contents_with_page_numbers_and_draft_mark(draft_pdf, tmp_path):
    text = pdf_text(draft_pdf, tmp_path)
    pages = text.count("\f")
    assert f"Page 2 of {pages}" in text and f"第 2 页 / 共 {pages} 页" in text
    assert "Version 3" in text and "Confidential" in text
    # the contents line of deal 2 ends with the page its chapter starts on
    entry = re.search(r"2\. 曦和机器人2有限公司.*?(\d+)\s*$", text, re.M)
    assert entry, text[:2000]
    chapter_page = int(entry.group(1))
    assert "曦和机器人2有限公司" in text.split("\f")[chapter_page - 1]
    assert "DRAFT" in text
    final = pdf_text(render.render_pdf("ic_pack", pack(is_final=True, deals=1), "en"), tmp_path)
    # the English pack names the company by its English name (issue 15: language purity)
    assert "DRAFT" not in final and "Deep Blue BCI" in final


def test_user_text_is_escaped_and_fetches_nothing(monkeypatch, tmp_path):
    fetched = []

    class Spy(render.AssetFetcher):
        def fetch(self, url, headers=None):
            fetched.append(url)
            return super().fetch(url, headers)

        __call__ = fetch

    monkeypatch.setattr(render, "AssetFetcher", Spy)
    data = pack(description=EVIL, deals=1)
    assert EVIL not in render.render_html("ic_pack", data, "en")
    text = pdf_text(render.render_pdf("ic_pack", data, "en"), tmp_path)
    assert "root:x:0:0" not in text
    assert "file:///etc/passwd" in text  # shown as text
    assert fetched and all(url.startswith(render.ASSET_BASE) for url in fetched), fetched


def test_same_data_and_version_give_the_same_bytes():
    data = json.loads(json.dumps(pack(deals=1)))
    assert render.render_pdf("ic_pack", data, "zh") == render.render_pdf("ic_pack", data, "zh")


def test_generated_pack_is_stored_reproducible_and_ledgered(app):
    """A pack made from the database: conversion scenarios from the engine, bytes reproducible."""
    import hashlib

    from sqlalchemy import select

    from fundapp.compliance.models import LedgerEntry
    from fundapp.extensions import db
    from fundapp.ic import operations as ops
    from tests.ic.conftest import AT, MEETING_DAY, committee  # noqa: F401

    with app.test_request_context():
        c = _committee(app)
        meeting = ops.create_meeting(db.session, actor="a", title="投决会", held_on=MEETING_DAY,
                                     chair_id=c["chair"].id, member_ids=[c["member"].id],
                                     deal_ids=[c["deals"][0].id])
        pack_row = ops.generate_pack(db.session, meeting, actor="a", language="both", now=AT)
        db.session.commit()
        data = json.loads(pack_row.data_json)
        scenarios = data["deals"][0]["scenarios"]
        assert [s["key"] for s in scenarios] == ["low", "base", "high"]
        assert all(s["steps"] and s["stake"].endswith("%") for s in scenarios), scenarios
        assert ops.render_pack(pack_row) == pack_row.pdf
        entry = db.session.scalars(select(LedgerEntry).where(
            LedgerEntry.action == "ic.pack_generated")).one()
        assert json.loads(entry.payload)["sha256"] == hashlib.sha256(pack_row.pdf).hexdigest()


def _committee(app):
    from tests.ic.conftest import committee

    return committee.__wrapped__(app)
