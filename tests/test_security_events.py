"""Failed sign-ins go to a chain of their own, off the ledger's lock (issue 16): the chain verifies,
tampering is found, the lock-out still counts them, auditors export them signed, and on
PostgreSQL a sign-in burst and business writes never wait for each other."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from fundapp.auth.operations import authenticate
from fundapp.compliance.ledger import record, verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.security_events import (
    LOGIN_FAILED,
    LOGIN_THROTTLED,
    SecurityEvent,
    UnusableSecurityExport,
    event_hash,
    record_security_event,
    verify_export,
    verify_security_chain,
)
from fundapp.compliance.signing import load_signing_key
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from tests.conftest import PASSWORD, api_token, csrf_from, make_user
from tests.isolation import isolated_client
from tests.test_migrations import empty_app  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(90)
WRONG = "wrong-password-123"


def post_login(client, email: str, password: str, address: str = "127.0.0.1"):
    csrf = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf},
                       environ_base={"REMOTE_ADDR": address}, headers={"Accept-Language": "en"})


def events() -> list[SecurityEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(SecurityEvent).order_by(SecurityEvent.seq)))


def ledger_actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))


def tamper_events(*statements: str, **params) -> None:
    """Raw SQL on security_events behind the triggers' back, as an intruder with full rights."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER security_events_no_update"))
            conn.execute(text("DROP TRIGGER security_events_no_delete"))
        else:
            conn.execute(text("ALTER TABLE security_events DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), params)
        if conn.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE security_events ENABLE TRIGGER USER"))


# --- what a failed sign-in writes -----------------------------------------------------------

def test_failed_sign_ins_are_chained_security_events_and_not_ledger_entries(app):
    user = make_user("m@example.cn")
    client = isolated_client(app)
    before = ledger_actions()
    assert post_login(client, "m@example.cn", WRONG).status_code == 401
    assert post_login(client, "nobody@example.cn", WRONG, "10.0.0.9").status_code == 401
    assert ledger_actions() == before  # nothing took the ledger's lock

    first, second = events()
    assert (first.kind, first.subject, first.address) == (LOGIN_FAILED, "m@example.cn",
                                                          "127.0.0.1")
    assert json.loads(first.details) == {"via": "web", "reason": "wrong_password",
                                         "user_id": user.id}
    assert json.loads(second.details)["reason"] == "unknown_user"
    assert second.prev_hash == first.hash
    assert second.hash == event_hash(second.seq, second.occurred_at, second.kind,
                                     second.subject, second.address, second.details,
                                     first.hash)
    result = verify_security_chain(db.session)
    assert (result.ok, result.count, result.last_hash) == (True, 2, second.hash)

    # A successful sign-in is still a business fact in the ledger.
    assert post_login(client, "m@example.cn", PASSWORD).status_code == 302
    assert ledger_actions()[-1] == "auth.login"
    assert len(events()) == 2
    assert verify_chain(db.session).ok


def test_ten_failures_still_lock_the_account_and_the_lock_is_a_security_event(app):
    make_user("m@example.cn")
    client = isolated_client(app)
    for n in range(10):
        assert post_login(client, "m@example.cn", WRONG, f"10.0.0.{n}").status_code == 401
    refused = post_login(client, "m@example.cn", PASSWORD, "10.0.1.1")
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    api = app.test_client().post("/api/v1/auth/token", json={
        "email": "m@example.cn", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "10.0.2.1"})
    assert api.status_code == 429
    assert [e.kind for e in events()] == [LOGIN_FAILED] * 10 + [LOGIN_THROTTLED] * 2
    assert not any(a.startswith("auth.login") for a in ledger_actions())
    assert verify_security_chain(db.session).count == 12


def test_failures_outside_the_window_do_not_count(app):
    make_user("m@example.cn")
    old = datetime.now(UTC) - timedelta(minutes=16)
    for _ in range(10):
        record_security_event(db.session, kind=LOGIN_FAILED, subject="m@example.cn",
                              address="127.0.0.1", at=old)
    db.session.commit()
    client = isolated_client(app)
    for _ in range(9):
        assert post_login(client, "m@example.cn", WRONG).status_code == 401
    assert post_login(client, "m@example.cn", PASSWORD).status_code == 302


# --- the chain is append-only and verified --------------------------------------------------

def test_database_refuses_changing_or_deleting_security_events(app):
    record_security_event(db.session, kind=LOGIN_FAILED, subject="m@example.cn", address="x")
    db.session.commit()
    db.session.remove()
    for statement in ("UPDATE security_events SET subject = 'someone@else.cn'",
                      "DELETE FROM security_events"):
        with db.engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(statement))
            conn.rollback()
    assert verify_security_chain(db.session).ok


def test_tampering_behind_the_apps_back_is_found_and_shown_to_auditors(app):
    for n in range(4):
        record_security_event(db.session, kind=LOGIN_FAILED, subject=f"u{n}@example.cn",
                              address="10.0.0.1", details={"via": "web"})
        db.session.commit()
    tamper_events("UPDATE security_events SET address = '192.168.1.1' WHERE seq = 3")
    result = verify_security_chain(db.session)
    assert not result.ok and result.problem_seq == 3 and result.count == 2
    assert "hash" in result.reason

    make_user("audit@example.cn", roles=("auditor",))
    client = app.test_client()
    body = client.get("/api/v1/compliance/checks",
                      headers={"Authorization": f"Bearer {api_token(client, 'audit@example.cn')}",
                               "Accept-Language": "en"}).get_json()
    [item] = [i for i in body["items"] if i["check"] == "security_events.chain"]
    assert item["severity"] == "critical"
    assert "event 3" in item["message"]["en"]


def test_a_deleted_tail_is_found_by_the_head(app):
    for n in range(3):
        record_security_event(db.session, kind=LOGIN_FAILED, subject="m@example.cn",
                              address=str(n))
    db.session.commit()
    tamper_events("DELETE FROM security_events WHERE seq = 3")
    result = verify_security_chain(db.session)
    assert not result.ok and "tail is missing" in result.reason


# --- the signed export --------------------------------------------------------------------

def test_auditors_export_security_events_signed_and_verifiable(app):
    make_user("audit@example.cn", roles=("auditor",))
    make_user("m@example.cn")
    client = isolated_client(app)
    for n in range(3):
        post_login(client, "m@example.cn", WRONG, f"10.0.0.{n}")
    day = shanghai_today().isoformat()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(api, 'audit@example.cn')}"}
    response = api.get(f"/api/v1/security-events/export?from={day}&to={day}", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert f"security-events-{day}-{day}.zip" in response.headers["Content-Disposition"]
    manifest = verify_export(response.data, load_signing_key().public)
    assert (manifest["count"], manifest["first_seq"], manifest["last_seq"]) == (3, 1, 3)
    assert manifest["chain_hash_after"] == events()[-1].hash
    assert manifest["signature"]["key_fingerprint"] == load_signing_key().fingerprint

    # A second export of the same days is the same bytes.
    again = api.get(f"/api/v1/security-events/export?from={day}&to={day}", headers=headers)
    assert again.data == response.data

    # A forged file does not pass.
    import io
    import zipfile
    forged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(response.data)) as src, \
            zipfile.ZipFile(forged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "events.jsonl":
                data = data.replace(b"10.0.0.1", b"10.0.0.7")
            dst.writestr(name, data)
    with pytest.raises(UnusableSecurityExport, match="SHA-256"):
        verify_export(forged.getvalue(), load_signing_key().public)

    # Days without events give an empty, still signed export.
    empty = api.get("/api/v1/security-events/export?from=2020-01-01&to=2020-01-31",
                    headers=headers)
    assert verify_export(empty.data, load_signing_key().public)["count"] == 0


def test_export_needs_an_auditor_and_two_valid_days(app):
    make_user("m@example.cn")
    make_user("audit@example.cn", roles=("auditor",))
    api = app.test_client()
    manager = {"Authorization": f"Bearer {api_token(api, 'm@example.cn')}"}
    assert api.get("/api/v1/security-events/export?from=2026-01-01&to=2026-01-02",
                   headers=manager).status_code == 403
    auditor = {"Authorization": f"Bearer {api_token(api, 'audit@example.cn')}",
               "Accept-Language": "en"}
    error = api.get("/api/v1/security-events/export?from=2026-02-01&to=2026-01-01",
                    headers=auditor)
    assert error.status_code == 422
    assert error.get_json()["error"]["details"]["to"] == ["The end date is before the start date."]
    error = api.get("/api/v1/security-events/export?from=20260101", headers=auditor)
    assert set(error.get_json()["error"]["details"]) == {"from", "to"}


# --- off the hot path (PostgreSQL: row locks until commit) -----------------------------------

def _no_wait(session: Session) -> None:
    # If this transaction had to wait for a lock, PostgreSQL refuses it after 2 s instead.
    session.execute(text("SET LOCAL lock_timeout = '2s'"))


def test_sign_in_burst_and_business_writes_never_wait_for_each_other(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; the row locks are PostgreSQL's")
    make_user("m@example.cn")
    db.session.remove()

    # A failed sign-in holds the security head, mid-transaction...
    guessing = Session(db.engine)
    assert authenticate(guessing, "m@example.cn", WRONG, "10.9.9.9", via="web").user is None
    try:
        # ...and a business write commits without waiting for it.
        business = Session(db.engine)
        _no_wait(business)
        record(business, actor="test", action="test.business", subject_type="test",
               subject_id=1, payload={"n": 1})
        business.commit()
        business.close()

        # The control: a second failed sign-in does wait for the security head.
        second = Session(db.engine)
        _no_wait(second)
        with pytest.raises(OperationalError, match="lock timeout"):
            record_security_event(second, kind=LOGIN_FAILED, subject="x@example.cn",
                                  address="10.9.9.8")
        second.rollback()
        second.close()
    finally:
        guessing.commit()
        guessing.close()

    # Vice versa: a business write holds the ledger head, mid-transaction...
    business = Session(db.engine)
    record(business, actor="test", action="test.business", subject_type="test", subject_id=2,
           payload={"n": 2})
    try:
        # ...and a failed sign-in commits without waiting for it.
        guessing = Session(db.engine)
        _no_wait(guessing)
        assert authenticate(guessing, "m@example.cn", WRONG, "10.9.9.9",
                            via="api").user is None
        guessing.commit()
        guessing.close()
    finally:
        business.commit()
        business.close()

    assert db.session.scalar(select(func.count()).select_from(SecurityEvent)) == 2
    assert verify_security_chain(db.session).ok
    assert verify_chain(db.session).ok


# --- the upgrade carries the lock-out over --------------------------------------------------

def test_upgrade_carries_recent_failed_sign_ins_over_and_downgrade_brings_them_back(
        empty_app):  # noqa: F811 - the fixture imported above
    from flask_migrate import downgrade, upgrade

    upgrade(revision="0016")
    recent = datetime.now(UTC) - timedelta(minutes=1)
    with db.engine.begin() as conn:
        for n in range(10):
            conn.execute(text("INSERT INTO login_attempts (email, address, attempted_at) "
                              "VALUES (:email, :address, :at)"),
                         {"email": "m@example.cn", "address": f"10.0.0.{n}",
                          "at": recent + timedelta(seconds=n)})
    upgrade(revision="0017")
    carried = events()
    assert [(e.seq, e.kind, e.subject) for e in carried] == [
        (n + 1, LOGIN_FAILED, "m@example.cn") for n in range(10)]
    assert [e.address for e in carried] == [f"10.0.0.{n}" for n in range(10)]
    assert verify_security_chain(db.session).count == 10
    db.session.remove()
    upgrade(revision="heads")  # the app's models are those of the newest revision
    make_user("m@example.cn")
    client = isolated_client(empty_app)
    assert post_login(client, "m@example.cn", PASSWORD).status_code == 429  # still locked out

    db.session.remove()
    downgrade(revision="0016")
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM login_attempts "
                                "WHERE email = 'm@example.cn'")) == 10


# --- the command line -----------------------------------------------------------------------

def test_cli_verifies_the_chain_and_writes_an_export_that_verifies(app, tmp_path):
    make_user("m@example.cn")
    client = isolated_client(app)
    post_login(client, "m@example.cn", WRONG)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["security-events", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK: 1 events" in result.output

    day = shanghai_today().isoformat()
    target = tmp_path / "events.zip"
    result = runner.invoke(args=["security-events", "export", "--from", day, "--to", day,
                                 "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert "1 security events written" in result.output
    result = runner.invoke(args=["security-events", "verify-export", str(target)])
    assert result.exit_code == 0 and "OK, 1 events" in result.output

    tamper_events("UPDATE security_events SET subject = 'x@example.cn'")
    result = runner.invoke(args=["security-events", "verify"])
    assert result.exit_code == 1
    assert "BROKEN after 0 good events: event 1: content does not match its hash" in result.output
