"""The IC memo (issue 15): the manager's memo fields on a deal, saved through the web form and
the API with before/after in the ledger, and printed in the pack in Chinese and English."""

from __future__ import annotations

import json

from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.deals import operations as deal_ops
from fundapp.extensions import db
from tests.conftest import api_token, csrf_from, login
from tests.ic.conftest import AT, MEETING_DAY, committee  # noqa: F401
from tests.reports.helpers import pdf_text

MEMO = {
    "memo_recommendation": "建议附条件同意拨款。",
    "memo_recommendation_en": "We recommend approval with conditions.",
    "memo_thesis": "侵入式脑机接口芯片国产替代。",
    "memo_thesis_en": "A domestic invasive BCI chip.",
    "memo_conditions": "首期拨付前完成核心专利转让登记（R2.b）",
    "memo_conditions_en": "Register the core patent transfer before tranche 1 (R2.b)",
    "memo_dd_findings": "核心专利权属清晰 | 国家知识产权局检索报告 | closed\n"
                        "临床试验批件尚未取得 | 企业访谈纪要 | open",
    "memo_dd_findings_en": "Core patents are clearly owned | CNIPA search report | closed\n"
                           "Clinical trial approval not yet obtained | management interview | open",
    "memo_risks": "注册审批延迟 | 中 | 高 | 分期拨付与注册里程碑挂钩",
    "memo_risks_en": "Registration delay | medium | high | tranches tied to registration milestones",
}


def _meeting(c, deal_ids):
    from fundapp.ic import operations as ops

    return ops.create_meeting(db.session, actor="a", title="2026 年第 1 次投决会",
                              held_on=MEETING_DAY, chair_id=c["chair"].id,
                              member_ids=[c["member"].id, c["manager"].id], deal_ids=deal_ids)


def _pack_text(meeting, language, tmp_path):
    import reports.render as render
    from fundapp.ic.queries import pack_data

    data = json.loads(json.dumps(pack_data(db.session, meeting, version=2, generated_at=AT,
                                           is_final=False)))
    return pdf_text(render.render_pdf("ic_pack", data, language), tmp_path), data


def test_filled_memo_prints_summary_resolution_findings_risks_floor_and_votes(
        committee, tmp_path):  # noqa: F811
    from datetime import date
    from decimal import Decimal

    from fundapp.reference.models import LprRate

    db.session.add(LprRate(published_on=date(2025, 5, 20), rate=Decimal("0.030")))
    deal = committee["deals"][0]
    deal_ops.update_deal_memo(db.session, deal.id, "mgr@x.cn", **MEMO)
    meeting = _meeting(committee, [deal.id])
    db.session.flush()
    zh, data = _pack_text(meeting, "zh", tmp_path)
    flat = " ".join(zh.split())
    assert data["document_no"] == f"IC-2026-{meeting.id:02d}-P2"
    for expected in ("执行摘要", "建议附条件同意拨款", "拟审议决议", "R2.a", "R2.b",
                     "首期拨付前完成核心专利转让登记", "所需表决", "国家知识产权局检索报告", "未决",
                     "分期拨付与注册里程碑挂钩", "回购底价", "R7.b", "R7.c", "表决票", "附条件同意",
                     "R5.c", "R5.d", "R6.d", "R6.e", "投后估值"):
        assert expected in flat, expected
    assert "Not filled in yet" not in flat and "existing holders" not in flat
    assert "Hypothetical lead" not in flat and "The fund" not in flat
    en, _ = _pack_text(meeting, "en", tmp_path)
    flat = " ".join(en.split())
    for expected in ("Executive summary", "We recommend approval with conditions",
                     "Proposed resolution", "Register the core patent transfer before tranche 1",
                     "CNIPA search report", "tranches tied to registration milestones",
                     "Floor price", "Voting sheets", "Approve with conditions", "Vote required"):
        assert expected in flat, expected
    assert "草稿" not in flat and "建议附条件同意拨款" not in flat
    # the R7 floor: years 1-3 at the principal, later years above it
    rows = data["deals"][0]["exit"]["rows"]
    assert [r["year"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["gain"] == "0.00" and rows[4]["gain"] != "0.00"


def test_empty_memo_says_what_is_missing_and_who_fills_it_in(committee, tmp_path):  # noqa: F811
    meeting = _meeting(committee, [committee["deals"][1].id])
    db.session.flush()
    en, _ = _pack_text(meeting, "en", tmp_path)
    flat = " ".join(en.split())
    assert "Not filled in yet: the fund manager fills it in on the deal page" in flat
    assert "the fund manager writes the risks and their mitigants on the deal page" in flat
    zh, _ = _pack_text(meeting, "zh", tmp_path)
    assert "尚未填写：由项目经理在项目页" in " ".join(zh.split())


def _ledger(deal_id):
    return [json.loads(e.payload) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "deal.memo_updated",
                                  LedgerEntry.subject_id == str(deal_id)))]


def test_web_form_saves_and_ledgers_the_memo_and_refuses_long_text(app, committee):  # noqa: F811
    from tests.isolation import isolated_client

    deal_id = committee["deals"][0].id
    client = isolated_client(app)
    login(client, "mgr@x.cn", **{"Accept-Language": "en"})
    page = client.get(f"/deals/{deal_id}/memo", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Due-diligence findings" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    saved = client.post(f"/deals/{deal_id}/memo", data={"csrf_token": token,
                                                         "memo_thesis": "国产替代"},
                        headers={"Accept-Language": "en"})
    assert saved.status_code == 302
    with app.app_context():
        entries = _ledger(deal_id)
        assert entries and entries[-1]["memo_thesis"] == {"before": "", "after": "国产替代"}
    refused = client.post(f"/deals/{deal_id}/memo", data={"csrf_token": token,
                                                          "memo_market": "长" * 8001},
                          headers={"Accept-Language": "en"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'data-field="memo_market"' in html and "Longer than maximum length 8000" in html


def test_api_patches_the_memo_with_before_and_after_and_names_a_long_field(
        app, committee):  # noqa: F811
    from tests.isolation import isolated_client

    deal_id = committee["deals"][0].id
    client = isolated_client(app)
    headers = {"Authorization": f"Bearer {api_token(client, 'mgr@x.cn')}",
               "Accept-Language": "en"}
    ok = client.patch(f"/api/v1/deals/{deal_id}/memo", json={"memo_risks": "延期 | 高 | 中 | 分期"},
                      headers=headers)
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["memo"]["memo_risks"] == "延期 | 高 | 中 | 分期"
    assert ok.get_json()["memo"]["memo_thesis"] == ""  # not sent, not changed
    with app.app_context():
        assert _ledger(deal_id)[-1] == {"memo_risks": {"before": "", "after": "延期 | 高 | 中 | 分期"}}
    bad = client.patch(f"/api/v1/deals/{deal_id}/memo",
                       json={"memo_reviewed_by": "x" * 201}, headers=headers)
    assert bad.status_code == 422
    assert "memo_reviewed_by" in json.dumps(bad.get_json())
