"""The minutes (issue 15): times, recorder and discussion recorded through the API and the page,
printed in the PDF with the votes' pack version and hash, a signature block per member and the
signing record; refused once signed, in the future, or for someone who is not chair or recorder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.errors import Forbidden, ValidationFailed
from fundapp.extensions import db
from fundapp.ic import operations as ops
from fundapp.ic.models import IcMeeting
from tests.conftest import api_token, csrf_from, login, make_user
from tests.ic.conftest import AT, MEETING_DAY


@pytest.fixture
def fake_pack(monkeypatch):
    """Packs are not what these tests read (tests/reports render them): only the minutes are
    real PDFs."""
    real = ops._render
    monkeypatch.setattr(ops, "_render", lambda name, data, language: (
        real(name, data, language) if name == "ic_minutes" else b"%PDF-fake pack " +
        json.dumps(data["version"]).encode()))


def text_of(pdf: bytes, tmp_path: Path, name: str = "m.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return " ".join(out.split())


def decided_meeting(c) -> IcMeeting:
    """Both deals decided on the final pack v1: A approved with conditions, B rejected."""
    deal_a, deal_b = c["deals"]
    meeting = ops.create_meeting(
        db.session, actor="admin@x.cn", title="2026 年第 1 次投决会", held_on=MEETING_DAY,
        location="张江科学会堂 3 楼", chair_id=c["chair"].id,
        member_ids=[c["member"].id, c["manager"].id], deal_ids=[deal_a.id, deal_b.id])
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", now=AT, is_final=True)
    item_a, item_b = meeting.items
    ops.cast_vote(db.session, item_a, voter=c["chair"], choice="approve", now=AT)
    ops.cast_vote(db.session, item_a, voter=c["member"], choice="approve_with_conditions",
                  conditions="首期拨款前完成知识产权转让", now=AT)
    ops.decide(db.session, item_a, actor="chair@x.cn", now=AT)
    for user, choice in ((c["chair"], "reject"), (c["member"], "reject"),
                         (c["manager"], "abstain")):
        ops.cast_vote(db.session, item_b, voter=user, choice=choice, now=AT)
    ops.decide(db.session, item_b, actor="chair@x.cn", now=AT)
    db.session.commit()
    return meeting


def details_entries() -> list[dict]:
    return [json.loads(e.payload) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "ic.minutes_details_set")
        .order_by(LedgerEntry.seq))]


def test_minutes_record_times_recorder_discussion_and_print_them(app, client, committee,
                                                                  fake_pack, tmp_path):
    c = committee
    deal_a, deal_b = c["deals"]
    meeting = decided_meeting(c)
    url = f"/api/v1/ic/meetings/{meeting.id}/minutes/details"
    chair = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}"}
    make_user("fm2@x.cn", roles=("fund_manager",), name="王经理")
    other = {"Authorization": f"Bearer {api_token(client, 'fm2@x.cn')}"}

    # the chair records the times (Beijing time) and names the fund manager as recorder
    done = client.patch(url, headers=chair, json={
        "started_at": "2026-03-20T09:30", "ended_at": "2026-03-20 11:45",
        "recorder_id": c["manager"].id,
        "discussions": [{"deal_id": deal_a.id,
                         "discussion": "委员关注专利权属，建议以转让登记为首期拨款前提。"}]})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["started_at"] == "2026-03-20T09:30:00+08:00"
    assert body["ended_at"] == "2026-03-20T11:45:00+08:00"
    assert body["recorder"] == "李经理"
    assert body["agenda"][0]["discussion"].startswith("委员关注专利权属")
    change = details_entries()[-1]
    assert change["started_at"] == {"before": None, "after": "2026-03-20T01:30:00+00:00"}
    assert change["recorder_id"]["after"] == c["manager"].id

    # another fund manager, neither chair nor recorder, cannot write the minutes
    refused = client.patch(url, headers=other, json={"started_at": "2026-03-20T08:00"})
    assert refused.status_code == 403
    # a time in the future is refused, naming the field
    future = client.patch(url, headers=chair, json={"ended_at": "2099-01-01T10:00"})
    assert future.status_code == 422
    assert list(future.get_json()["error"]["details"]) == ["ended_at"]
    before_start = client.patch(url, headers=chair, json={"ended_at": "2026-03-20T09:00"})
    assert "ended_at" in before_start.get_json()["error"]["details"]
    meeting = db.session.get(IcMeeting, meeting.id)
    db.session.refresh(meeting)
    assert ops.queries._beijing(meeting.ended_at) == "2026-03-20 11:45"

    # the recorder writes deal B's discussion on the page; a future end is refused inline,
    # keeping what was typed, and only the chair names the recorder
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "mgr@x.cn")
    page_url = f"/ic/meetings/{meeting.id}"
    html = client.get(page_url).get_data(as_text=True)
    assert 'data-testid="minutes-details"' in html and 'name="recorder_id"' not in html
    saved = client.post(f"{page_url}/deals/{deal_b.id}/discussion", data={
        "csrf_token": csrf_from(html), "discussion": "样机验证数据不足，建议补充第三方测试。"})
    assert saved.status_code == 302
    bad = client.post(f"{page_url}/minutes/details", data={
        "csrf_token": csrf_from(html), "started_at": "2026-03-20T09:30",
        "ended_at": "2099-03-20T12:00"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Ended at: The time 2099-03-20 12:00 (Beijing time) is in the future." in page
    assert 'value="2099-03-20T12:00" aria-invalid="true"' in page
    renamed = client.post(f"{page_url}/minutes/details", data={
        "csrf_token": csrf_from(html), "recorder_choice": "name", "recorder_name": "某人"})
    assert renamed.status_code == 422
    assert "Recorder: Only the chair names the recorder." in renamed.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    login(client, "fm2@x.cn")
    assert client.post(f"{page_url}/deals/{deal_b.id}/discussion", data={
        "csrf_token": csrf_from(client.get(page_url).get_data(as_text=True)),
        "discussion": "x"}).status_code == 403

    # the draft minutes show it all, in Chinese and in English
    db.session.expire_all()
    meeting = db.session.get(IcMeeting, meeting.id)
    pack_hash = meeting.packs[-1].sha256
    zh = text_of(ops.render_minutes(meeting, version=1, language="zh"), tmp_path, "zh.pdf")
    for expected in ("开始时间 2026-03-20 09:30（北京时间）", "结束时间 2026-03-20 11:45（北京时间）",
                     "张江科学会堂 3 楼", "记录人 李经理", "委员关注专利权属",
                     "样机验证数据不足", "应到 3 人，须到 2 人", "实到 3 人",
                     "附条件同意：首期拨款前完成知识产权转让", "第 1 版", pack_hash[:12],
                     "会议决定：同意向深蓝脑机科技有限公司「脑机接口芯片」项目拨付资助资金",
                     "会议决定：不同意", "未签署（草稿）"):
        assert expected in zh, expected
    assert "Beijing" not in zh and "approve" not in zh
    # a signature block (name, role, line, date) for every member and the recorder
    signatures = zh[zh.index("签字"):zh.index("签署记录")]
    for name in ("陈主任", "赵委员", "李经理"):
        assert name in signatures
    assert signatures.count("日期：") == 4  # three members and the recorder
    assert "主任委员" in signatures and "记录人" in signatures
    en = text_of(ops.render_minutes(meeting, version=1, language="en"), tmp_path, "en.pdf")
    for expected in ("Started 2026-03-20 09:30 (Beijing time)", "Recorder 李经理",
                     "approve with conditions: 首期拨款前完成知识产权转让", pack_hash[:12],
                     "Resolved: to award", "Resolved: not to award", "Signing record"):
        assert expected in en, expected
    assert en.count("Date:") == 4

    # the chair signs: the signing record says who signed when; the record is locked
    signed = client.post(f"/api/v1/ic/meetings/{meeting.id}/minutes", headers=chair)
    assert signed.status_code == 201, signed.get_json()
    pdf = client.get(f"/api/v1/ic/meetings/{meeting.id}/minutes", headers=chair).data
    record = text_of(pdf, tmp_path, "signed.pdf")
    tail = record[record.index("签署记录 Signing record"):]
    assert "陈主任" in tail and "（北京时间 Beijing time）" in tail
    count = len(details_entries())
    locked = client.patch(url, headers=chair, json={"started_at": "2026-03-20T10:00",
                                                    "recorder_name": "某人"})
    assert locked.status_code == 409
    assert locked.get_json()["error"]["code"] == "minutes_locked"
    after = client.get(f"/api/v1/ic/meetings/{meeting.id}", headers=chair).get_json()
    assert after["started_at"] == "2026-03-20T09:30:00+08:00" and after["recorder"] == "李经理"
    assert len(details_entries()) == count


def test_start_on_the_meeting_day_and_a_named_recorder(app, committee, fake_pack):
    c = committee
    meeting = decided_meeting(c)
    with pytest.raises(ValidationFailed) as wrong_day:
        ops.record_minutes_details(db.session, meeting, user=c["chair"],
                                   started_at=AT.replace(day=21))
    assert list(wrong_day.value.details) == ["started_at"]
    db.session.rollback()
    meeting = db.session.get(IcMeeting, meeting.id)
    ops.record_minutes_details(db.session, meeting, user=c["chair"], recorder_id=None,
                               recorder_name="  秘书处 张三 ")
    db.session.commit()
    assert meeting.recorder_label == "秘书处 张三" and meeting.recorder_id is None
    # a recorder by name has no account: only the chair writes then
    with pytest.raises(Forbidden):
        ops.record_minutes_details(db.session, meeting, user=c["manager"],
                                   discussions={c["deals"][0].id: "x"})
