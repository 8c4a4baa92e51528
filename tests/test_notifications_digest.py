"""Notifications read per person and the daily e-mail digest (issue 14).

The digest goes through a real SMTP server started by the test (aiosmtpd on a free port).
"""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from fundapp.auth.models import UserRole
from fundapp.extensions import db
from fundapp.notifications.models import DigestRun, Notification
from fundapp.notifications.operations import notify
from tests.conftest import api_token, csrf_from, login, make_user

EN = {"Accept-Language": "en"}
UNREAD = re.compile(r'data-testid="unread-count"[^>]*>(\d+) unread<')


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, loop=asyncio.new_event_loop())
    controller.start()
    monkeypatch.setenv("FUNDAPP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FUNDAPP_SMTP_PORT", str(port))
    monkeypatch.setenv("FUNDAPP_BASE_URL", "https://fund.example.cn/")
    try:
        yield inbox
    finally:
        controller.stop()


def alert(key: str = "chain", link: str = "/compliance/checks", role: str = "admin") -> Notification:
    note = Notification(created_at=datetime.now(UTC), role=role, kind="ledger.chain_broken",
                        key=key, severity="critical", clause="R12",
                        message_en=f"The ledger's hash chain is broken ({key}).",
                        message_zh=f"账本哈希链已断裂（{key}）。", link=link)
    db.session.add(note)
    db.session.commit()
    return note


def run_digest() -> str:
    from fundapp.main.digest import daily_digest_job

    message = daily_digest_job()
    db.session.commit()
    return message


def parts(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def test_one_digest_a_day_per_person_in_their_language(app, smtp):
    make_user("en-admin@x.cn", roles=("admin",), name="Admin E", locale="en")
    make_user("zh-admin@x.cn", roles=("admin",), name="管理员", locale=None)
    make_user("ic@x.cn", roles=("ic_member",), locale="en")  # nothing pending: no mail
    idle = make_user("idle@x.cn", roles=("auditor",), name="Idle")
    db.session.execute(delete(UserRole).where(UserRole.user_id == idle.id))  # no role: no mail
    db.session.commit()
    alert()

    first = run_digest()
    assert first.startswith("2 digest(s) sent"), first
    by_to = {m["To"]: m for m in smtp.messages}
    assert set(by_to) == {"en-admin@x.cn", "zh-admin@x.cn"}

    text, html = parts(by_to["en-admin@x.cn"])
    assert "daily digest" in by_to["en-admin@x.cn"]["Subject"]
    assert "The ledger's hash chain is broken (chain)." in text
    assert "https://fund.example.cn/compliance/checks" in text
    assert "Idle (idle@x.cn) can sign in but holds no role" in text  # the inbox sentence
    assert "https://fund.example.cn/admin/users/" in text
    assert '<a href="https://fund.example.cn/compliance/checks">' in html
    assert "账本" not in text

    text, html = parts(by_to["zh-admin@x.cn"])
    assert "账本哈希链已断裂（chain）。" in text
    assert "Idle (idle@x.cn) 可以登录但没有任何角色" in text
    assert "hash chain" not in text and "账本哈希链已断裂" in html

    second = run_digest()
    assert second.startswith("0 digest(s) sent"), second
    assert len(smtp.messages) == 2  # once a day per person
    assert len(db.session.scalars(select(DigestRun)).all()) == 2


def test_without_smtp_the_digest_does_nothing_and_says_so(app, monkeypatch):
    monkeypatch.delenv("FUNDAPP_SMTP_HOST", raising=False)
    make_user("admin@x.cn", roles=("admin",))
    alert()
    assert "SMTP is not configured" in run_digest()
    assert db.session.scalars(select(DigestRun)).all() == []


def page(client) -> str:
    response = client.get("/compliance/notifications/", headers=EN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def unread(html: str) -> int:
    return int(UNREAD.search(html).group(1))


def test_one_admin_reading_leaves_it_unread_for_the_other(app):
    make_user("a@x.cn", roles=("admin",), locale="en")
    make_user("b@x.cn", roles=("admin",), locale="en")
    first = alert("one")
    a, b = app.test_client(), app.test_client()
    login(a, "a@x.cn", **EN)
    login(b, "b@x.cn", **EN)

    html = page(a)
    assert unread(html) == 1 and "broken (one)" in html and "Mark as read" in html
    response = a.post(f"/compliance/notifications/{first.id}/read",
                      data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    assert unread(page(a)) == 0 and "broken (one)" in page(a)  # still listed, as read
    assert "broken (one)" not in a.get("/compliance/notifications/?show=unread",
                                       headers=EN).get_data(as_text=True)
    assert unread(page(b)) == 1  # b has not read it
    # still unread by b, so the same alert is not written again
    assert notify(db.session, role="admin", kind="ledger.chain_broken", key="one",
                  message="again") is None

    alert("two")
    alert("three")
    html = page(b)
    assert unread(html) == 3
    # unread first, newest first
    order = re.findall(r"broken \((\w+)\)", html)
    assert order == ["three", "two", "one"]
    b.post("/compliance/notifications/read-all", data={"csrf_token": csrf_from(html)})
    assert unread(page(b)) == 0
    assert unread(page(a)) == 2
    html = page(a)
    assert re.findall(r"broken \((\w+)\)", html) == ["three", "two", "one"]
    # without a CSRF token nothing is marked
    assert a.post("/compliance/notifications/read-all").status_code == 400
    assert unread(page(a)) == 2
    # b's reading left them open for a; a's "mark all" closes them for everyone, at once
    db.session.expire_all()
    assert [n.read_at is None for n in db.session.scalars(
        select(Notification).order_by(Notification.id))] == [False, True, True]
    a.post("/compliance/notifications/read-all", data={"csrf_token": csrf_from(html)})
    assert unread(page(a)) == 0 and unread(page(b)) == 0
    db.session.expire_all()
    closed = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.read_at is not None, n.read_by) for n in closed] == [
        (True, "b@x.cn"), (True, "a@x.cn"), (True, "a@x.cn")]  # "one": closed by b's reading
    # closed, so the same alert can be written again
    assert notify(db.session, role="admin", kind="ledger.chain_broken", key="two",
                  message="again") is not None


def test_the_api_lists_unread_only_when_asked(app, client):
    make_user("a@x.cn", roles=("admin",), locale="en")
    make_user("m@x.cn", roles=("fund_manager",), locale="en")
    seen, fresh = alert("seen"), alert("fresh")
    other = alert("theirs", role="fund_manager")
    auth = {"Authorization": f"Bearer {api_token(client, 'a@x.cn')}", **EN}

    done = client.post(f"/api/v1/notifications/{seen.id}/read", headers=auth)
    assert done.status_code == 200 and done.get_json()["unread"] is False
    assert client.post(f"/api/v1/notifications/{other.id}/read",
                       headers=auth).status_code == 404

    everything = client.get("/api/v1/notifications", headers=auth).get_json()
    assert [(n["id"], n["unread"]) for n in everything["items"]] == [
        (fresh.id, True), (seen.id, False)]
    assert everything["items"][0]["message"] == "The ledger's hash chain is broken (fresh)."
    only = client.get("/api/v1/notifications?unread=1", headers=auth).get_json()
    assert [n["id"] for n in only["items"]] == [fresh.id] and only["total"] == 1
