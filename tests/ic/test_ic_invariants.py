"""The committee's invariants under concurrent requests and the wrong user (issue 11): one vote per
member and deal (a later one replaces it), one decision per deal, one signature of the minutes;
votes and decisions from the meeting's day on, on the final pack; only the meeting's members (and
its chair for the chair's acts) act on it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import shanghai_today
from fundapp.deals.models import DealStage, DealStageChange
from fundapp.errors import AppError, ValidationFailed
from fundapp.extensions import db
from fundapp.ic import operations as ops
from fundapp.ic.models import IcDecision, IcMeeting, IcMinutes, IcPack, IcVote
from tests.conftest import api_token, csrf_from, login, make_user, run_tasks
from tests.ic.conftest import AT, MEETING_DAY
from tests.isolation import isolated_client

TRIES = 20


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ledger(action: str | None = None) -> list[dict]:
    """The ledger's entries (of one action), signing in and out left aside."""
    query = select(LedgerEntry).where(LedgerEntry.action.not_like("auth.%")).order_by(
        LedgerEntry.seq)
    if action:
        query = query.where(LedgerEntry.action == action)
    return [json.loads(e.payload) for e in db.session.scalars(query)]


def meeting_of(c, *, held_on=MEETING_DAY, final=True, members=("member",)) -> int:
    """A meeting on deal B (nobody recused): the chair and `members`, a pack, committed."""
    meeting = ops.create_meeting(db.session, actor="admin@x.cn", title="投决会", held_on=held_on,
                                 chair_id=c["chair"].id, member_ids=[c[m].id for m in members],
                                 deal_ids=[c["deals"][1].id])
    ops.generate_pack(db.session, meeting, actor="admin@x.cn", is_final=final, now=AT)
    db.session.commit()
    return meeting.id


def decided(meeting_id: int, c) -> None:
    meeting = db.session.get(IcMeeting, meeting_id)
    for who in ("chair", "member"):
        ops.cast_vote(db.session, meeting.items[0], voter=c[who], choice="approve")
    ops.decide(db.session, meeting.items[0], actor="chair@x.cn")
    db.session.commit()


def bearer(client, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(client, email)}", "Accept-Language": "en"}


def race(app, call) -> list[int]:
    """TRIES requests let go at once, each from its own client; their statuses."""
    barrier = threading.Barrier(TRIES)
    statuses: list[int] = []

    def run(n: int) -> None:
        worker = isolated_client(app)
        barrier.wait()
        response = call(worker, n)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(TRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    db.session.expire_all()
    return statuses


# ------------------------------------------------------------------------------ races


def test_twenty_concurrent_votes_by_one_member_leave_one_vote_each_replacing_the_last(
        app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    deal_id = c["deals"][1].id
    chair = bearer(client, "chair@x.cn")
    choices = ["approve", "reject", "abstain"]

    statuses = race(app, lambda worker, n: worker.post(
        f"/api/v1/ic/meetings/{meeting_id}/votes", headers=chair,
        json={"deal_id": deal_id, "choice": choices[n % 3]}))

    # A member's vote may change until the deal is decided: every try is a replacement, in turn.
    assert statuses == [201] * TRIES, statuses
    assert count(IcVote, IcVote.user_id == c["chair"].id) == 1
    cast = [e for e in ledger("ic.vote_cast") if e["user_id"] == c["chair"].id]
    assert len(cast) == TRIES
    assert [e["before"] for e in cast] == [None] + [e["choice"] for e in cast[:-1]]
    stored = db.session.scalars(select(IcVote)).one()
    assert stored.choice.value == cast[-1]["choice"]
    assert verify_chain(db.session).ok


def test_twenty_concurrent_decisions_decide_the_deal_once(app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    meeting = db.session.get(IcMeeting, meeting_id)
    for who in ("chair", "member"):
        ops.cast_vote(db.session, meeting.items[0], voter=c[who], choice="approve")
    db.session.commit()
    deal_id = c["deals"][1].id
    chair = bearer(client, "chair@x.cn")

    statuses = race(app, lambda worker, n: worker.post(
        f"/api/v1/ic/meetings/{meeting_id}/decisions", headers=chair, json={"deal_id": deal_id}))

    assert sorted(statuses) == [201] + [409] * (TRIES - 1), statuses
    assert count(IcDecision) == 1
    assert len(ledger("ic.decision_recorded")) == 1
    assert count(DealStageChange, DealStageChange.deal_id == deal_id,
                 DealStageChange.to_stage == DealStage.PUBLIC_NOTICE) == 1
    refused = client.post(f"/api/v1/ic/meetings/{meeting_id}/decisions", headers=chair,
                          json={"deal_id": deal_id})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["message"] == "This deal is decided already."
    assert verify_chain(db.session).ok


def test_twenty_concurrent_signatures_sign_the_minutes_once(app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    decided(meeting_id, c)
    chair = bearer(client, "chair@x.cn")

    statuses = race(app, lambda worker, n: worker.post(
        f"/api/v1/ic/meetings/{meeting_id}/minutes", headers=chair))

    assert sorted(statuses) == [201] + [409] * (TRIES - 1), statuses
    minutes = db.session.scalars(select(IcMinutes)).all()
    assert [(m.version, m.is_signed) for m in minutes] == [(1, True)]
    signed = ledger("ic.minutes_signed")
    assert len(signed) == 1 and signed[0]["sha256"] == minutes[0].sha256
    assert verify_chain(db.session).ok


def test_concurrent_packs_get_consecutive_versions(app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c)  # version 1
    admin = bearer(client, "admin@x.cn")

    statuses = race(app, lambda worker, n: worker.post(
        f"/api/v1/ic/meetings/{meeting_id}/pack", headers=admin,
        json={"language": "zh", "is_final": True}))

    assert statuses == [202] * TRIES, statuses  # queued (issue 16): the worker makes them
    assert {t.status for t in run_tasks()} == {"done"}
    versions = db.session.scalars(select(IcPack.version).order_by(IcPack.version)).all()
    assert versions == list(range(1, TRIES + 2))
    assert len(ledger("ic.pack_generated")) == TRIES + 1
    assert verify_chain(db.session).ok


# ------------------------------------------------------------------------------ refusals


def assert_refused(response, status: int, code: str, words: str) -> None:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["error"]["code"] == code
    assert words in body["error"]["message"]


def test_a_meeting_a_week_away_takes_no_votes_decision_or_signature(app, client, committee,
                                                                     fake_pdf):
    c = committee
    next_week = shanghai_today() + timedelta(days=7)
    meeting_id = meeting_of(c, held_on=next_week)
    deal_id = c["deals"][1].id
    chair = bearer(client, "chair@x.cn")
    entries = len(ledger())
    url = f"/api/v1/ic/meetings/{meeting_id}"

    vote = client.post(f"{url}/votes", headers=chair, json={"deal_id": deal_id,
                                                            "choice": "approve"})
    assert_refused(vote, 409, "meeting_not_started",
                   f"Votes are cast at the meeting, on {next_week.isoformat()} or later")
    decision = client.post(f"{url}/decisions", headers=chair, json={"deal_id": deal_id})
    assert_refused(decision, 409, "meeting_not_started",
                   f"The committee decides at its meeting, on {next_week.isoformat()} or later")
    signing = client.post(f"{url}/minutes", headers=chair)
    assert_refused(signing, 409, "decisions_missing", "needs a decision")
    login(client, "chair@x.cn")
    page = client.get(f"/ic/meetings/{meeting_id}", headers={"Accept-Language": "en"})
    present = client.post(f"/ic/meetings/{meeting_id}/attendance", headers={
        "Accept-Language": "en"}, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                        "present_ids": [str(c["chair"].id)]})
    assert present.status_code == 422
    assert "Attendance is recorded at the meeting" in present.get_data(as_text=True)

    db.session.expire_all()
    assert count(IcVote) == 0 and count(IcDecision) == 0 and count(IcMinutes) == 0
    assert not any(m.is_present for m in db.session.get(IcMeeting, meeting_id).members)
    assert c["deals"][1].stage is DealStage.IC_DECISION
    assert len(ledger()) == entries


def test_the_meeting_page_says_when_voting_opens_instead_of_offering_a_vote_it_would_refuse(
        app, client, committee, fake_pdf):
    c = committee
    deal_id = c["deals"][1].id
    next_week = shanghai_today() + timedelta(days=7)
    ahead = meeting_of(c, held_on=next_week)
    draft = meeting_of(c, final=False)
    login(client, "ic2@x.cn")
    page = client.get(f"/ic/meetings/{ahead}", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert f"Voting opens at the meeting, on {next_week.isoformat()}." in html
    assert f'data-testid="vote-form-{deal_id}"' not in html
    html = client.get(f"/ic/meetings/{draft}", headers={"Accept-Language": "zh"}).get_data(
        as_text=True)
    assert "最终版材料包生成后开始投票。" in html and "pending" not in html
    assert f'data-testid="vote-form-{deal_id}"' not in html


def test_votes_are_refused_on_a_draft_pack(app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c, final=False)
    entries = len(ledger())
    vote = client.post(f"/api/v1/ic/meetings/{meeting_id}/votes",
                       headers=bearer(client, "ic2@x.cn"),
                       json={"deal_id": c["deals"][1].id, "choice": "approve"})
    assert_refused(vote, 409, "pack_not_final", "Votes are cast on the final pack; version 1 "
                                                "is a draft")
    assert count(IcVote) == 0 and len(ledger()) == entries


def test_a_decision_is_dated_neither_after_today_nor_before_the_meeting(app, committee,
                                                                       fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    meeting = db.session.get(IcMeeting, meeting_id)
    for who in ("chair", "member"):
        ops.cast_vote(db.session, meeting.items[0], voter=c[who], choice="approve")
    db.session.commit()
    entries = len(ledger())
    tomorrow = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(ValidationFailed) as future:
        ops.decide(db.session, meeting.items[0], actor="chair@x.cn", now=tomorrow)
    assert list(future.value.details) == ["decided_at"]
    assert "is in the future" in future.value.details["decided_at"][0]
    db.session.rollback()
    the_day_before = datetime(2026, 3, 19, 2, 0, tzinfo=UTC)
    with pytest.raises(AppError) as early:
        ops.decide(db.session, meeting.items[0], actor="chair@x.cn", now=the_day_before)
    assert early.value.code == "meeting_not_started"
    db.session.rollback()
    assert count(IcDecision) == 0 and len(ledger()) == entries
    ops.decide(db.session, meeting.items[0], actor="chair@x.cn", now=AT)  # on the day: fine
    assert meeting.items[0].outcome.value == "approved"


def test_minutes_are_signed_after_the_decision_and_only_by_the_chair(app, client, committee,
                                                                     fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    decided(meeting_id, c)
    entries = len(ledger())
    member = bearer(client, "ic2@x.cn")
    url = f"/api/v1/ic/meetings/{meeting_id}/minutes"
    assert_refused(client.post(url, headers=member), 403, "forbidden",
                   "Only the chair of this meeting does this.")
    meeting = db.session.get(IcMeeting, meeting_id)
    with pytest.raises(AppError) as early:  # signed before the decision was taken
        ops.sign_minutes(db.session, meeting, user=c["chair"],
                         now=meeting.items[0].decided_at - timedelta(hours=1))
    assert early.value.code == "signed_before_decision"
    db.session.rollback()
    assert count(IcMinutes) == 0 and len(ledger()) == entries
    assert client.post(url, headers=bearer(client, "chair@x.cn")).status_code == 201


def test_only_the_chair_reopens_signed_minutes(app, client, committee, fake_pdf):
    c = committee
    meeting_id = meeting_of(c)
    decided(meeting_id, c)
    ops.sign_minutes(db.session, db.session.get(IcMeeting, meeting_id), user=c["chair"])
    db.session.commit()
    entries = len(ledger())
    url = f"/ic/meetings/{meeting_id}/minutes/reopen"
    for email in ("ic2@x.cn", "admin@x.cn"):  # a member who is not the chair; an admin
        browser = isolated_client(app)
        login(browser, email)
        csrf = csrf_from(browser.get(f"/ic/meetings/{meeting_id}").get_data(as_text=True))
        refused = browser.post(url, data={"csrf_token": csrf, "reason": "更正"},
                               headers={"Accept": "application/json"})
        assert refused.status_code == 403, email
    db.session.expire_all()
    assert count(IcMinutes) == 1 and len(ledger()) == entries
    browser = isolated_client(app)
    login(browser, "chair@x.cn")
    csrf = csrf_from(browser.get(f"/ic/meetings/{meeting_id}").get_data(as_text=True))
    assert browser.post(url, data={"csrf_token": csrf, "reason": "更正"}).status_code == 302
    db.session.expire_all()
    assert [m.version for m in db.session.scalars(select(IcMinutes))] == [1, 2]
    assert ledger("ic.minutes_reopened")[0]["version"] == 2


def test_an_ic_member_of_another_meeting_neither_acts_on_it_nor_reads_it(app, client, committee,
                                                                        fake_pdf):
    """The issue's "wrong user": reopened signed minutes, recorded attendance, downloaded other
    meetings' packs, minutes and votes."""
    c = committee
    make_user("outsider@x.cn", roles=("ic_member",), name="钱委员")
    meeting_id = meeting_of(c)
    decided(meeting_id, c)
    ops.sign_minutes(db.session, db.session.get(IcMeeting, meeting_id), user=c["chair"])
    db.session.commit()
    entries = len(ledger())
    api = f"/api/v1/ic/meetings/{meeting_id}"
    outsider = bearer(client, "outsider@x.cn")
    for path in ("", "/votes", "/pack", "/minutes"):
        assert_refused(client.get(api + path, headers=outsider), 403, "forbidden",
                       "for its members, fund managers, admins and auditors")
    for path, body in (("/votes", {"deal_id": c["deals"][1].id, "choice": "reject"}),
                       ("/decisions", {"deal_id": c["deals"][1].id}), ("/minutes", None)):
        assert client.post(api + path, headers=outsider, json=body).status_code == 403
    listed = client.get("/api/v1/ic/meetings", headers=outsider).get_json()["items"]
    assert listed == []
    login(client, "outsider@x.cn")
    csrf = csrf_from(client.get("/ic/meetings").get_data(as_text=True))
    page = f"/ic/meetings/{meeting_id}"
    for path, data in (("/minutes/reopen", {"reason": "改"}),
                       ("/attendance", {"present_ids": [str(c["chair"].id)]}),
                       (f"/deals/{c['deals'][1].id}/conflict", {"note": ""})):
        assert client.post(page + path, data={"csrf_token": csrf, **data}).status_code == 403
    for path in ("", "/pack.pdf", "/minutes.pdf"):
        assert client.get(page + path).status_code == 403
    db.session.expire_all()
    assert count(IcMinutes) == 1 and len(ledger()) == entries
    # those who may read it still do: a member, and an auditor who belongs to no meeting
    make_user("audit@x.cn", roles=("auditor",))
    for email in ("ic2@x.cn", "audit@x.cn"):
        headers = bearer(client, email)
        for path in ("/votes", "/pack", "/minutes"):
            assert client.get(api + path, headers=headers).status_code == 200, (email, path)
