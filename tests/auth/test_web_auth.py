"""Signing in and out of the web pages, and what protects them: server-side sessions, CSRF,
throttling, cookie flags, security headers, safe redirects, the language switch and the ledger."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import select

from fundapp.auth.models import User
from fundapp.auth.operations import set_active
from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.security_events import (
    LOGIN_FAILED,
    LOGIN_THROTTLED,
    SecurityEvent,
    record_security_event,
)
from fundapp.extensions import db
from tests.conftest import PASSWORD, csrf_from, login, make_user
from tests.isolation import isolated_client

WRONG = "wrong-password-123"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
TRANSLATIONS = Path(__file__).resolve().parents[2] / "fundapp" / "translations"


@pytest.fixture
def client(app):
    return isolated_client(app)


def new_client(app):
    return isolated_client(app)


def entries(action: str) -> list[LedgerEntry]:
    db.session.rollback()  # see what the requests committed
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == action)
                                   .order_by(LedgerEntry.seq)))


def security_events(kind: str) -> list[SecurityEvent]:
    db.session.rollback()  # see what the requests committed
    return list(db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)
                                   .order_by(SecurityEvent.seq)))


def token_of(client, path: str = "/login", **kwargs) -> str:
    return csrf_from(client.get(path, **kwargs).get_data(as_text=True))


def signed_in(client) -> bool:
    response = client.get("/")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert match, "page has no <html lang>"
    return match.group(1)


def post_login(client, email: str, password: str, csrf: str, address: str = "127.0.0.1",
               **kwargs):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf,
                                       **kwargs}, environ_base={"REMOTE_ADDR": address},
                       headers=EN)


# --- signing in -------------------------------------------------------------------------------

def test_login_page_renders_a_form(client):
    response = client.get("/login", headers=EN)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="email"' in page and 'name="password"' in page
    assert csrf_from(page)


def test_wrong_password_is_refused_with_401_and_a_message(client):
    make_user("m@example.cn")
    response = login(client, "m@example.cn", WRONG, **EN)
    assert response.status_code == 401
    assert "The e-mail address or password is wrong." in response.get_data(as_text=True)
    assert not signed_in(client)


def test_unknown_account_gets_the_same_answer_as_a_wrong_password(client):
    make_user("m@example.cn")
    wrong = login(client, "m@example.cn", WRONG, **EN)
    unknown = login(new_client(client.application), "nobody@example.cn", WRONG, **EN)
    assert unknown.status_code == wrong.status_code == 401

    def message(response):
        return re.search(r'data-testid="login-error">([^<]*)<',
                         response.get_data(as_text=True)).group(1)

    assert message(unknown) == message(wrong)


def test_wrong_password_message_is_in_chinese_for_chinese_readers(client):
    english = "The e-mail address or password is wrong."
    catalogue = Translations.load(str(TRANSLATIONS), ["zh"])
    chinese = catalogue.gettext(english)
    if chinese == english:
        pytest.skip("the Chinese catalogue has no translation of the sign-in error yet")
    make_user("m@example.cn")
    response = login(client, "m@example.cn", WRONG, **ZH)
    assert response.status_code == 401
    assert chinese in response.get_data(as_text=True)


def test_successful_login_redirects_to_the_dashboard(client):
    make_user("m@example.cn", name="Ma Li")
    response = login(client, "m@example.cn", **EN)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    dashboard = client.get("/", headers=EN)
    assert dashboard.status_code == 200
    assert "Ma Li" in dashboard.get_data(as_text=True)
    # Coming back to the sign-in page while signed in leads to the dashboard.
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_pages_send_anonymous_visitors_to_login_and_back(client):
    make_user("m@example.cn")
    response = client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    csrf = csrf_from(page)
    assert 'value="/profile"' in page  # the form carries the target through the sign-in
    response = post_login(client, "m@example.cn", PASSWORD, csrf, next="/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


# --- signing out and disabled accounts ----------------------------------------------------------

def test_logout_ends_the_session_even_for_a_copied_cookie(client, app):
    make_user("m@example.cn")
    login(client, "m@example.cn")
    assert signed_in(client)
    stolen = client.get_cookie("session").value
    replay = new_client(app)
    replay.set_cookie("session", stolen)
    assert signed_in(replay)  # the copy works as long as the session lasts...

    response = client.post("/logout", data={"csrf_token": token_of(client, "/")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not signed_in(client)

    replay = new_client(app)  # ...and not after the logout
    replay.set_cookie("session", stolen)
    response = replay.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert entries("auth.logout")


def test_admin_disabling_a_user_ends_their_sessions_and_tokens(client, app):
    admin = make_user("admin@example.cn", roles=("admin",))
    admin_id = admin.id
    victim = make_user("m@example.cn")
    victim_id = victim.id
    browser = new_client(app)
    login(browser, "m@example.cn")
    token = app.test_client().post("/api/v1/auth/token", json={
        "email": "m@example.cn", "password": PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert signed_in(browser)
    assert new_client(app).get("/api/v1/me", headers=bearer).status_code == 200

    login(client, "admin@example.cn")
    # An admin cannot lock themself out.
    csrf = token_of(client, f"/admin/users/{admin_id}")
    response = client.post(f"/admin/users/{admin_id}",
                           data={"csrf_token": csrf, "roles": ["admin"]}, headers=EN)
    assert response.status_code == 422
    assert "You cannot disable your own account." in response.get_data(as_text=True)
    assert signed_in(client)

    csrf = token_of(client, f"/admin/users/{victim_id}")
    response = client.post(f"/admin/users/{victim_id}",
                           data={"csrf_token": csrf, "roles": ["fund_manager"]})  # not active
    assert response.status_code == 302

    assert not signed_in(browser)
    refused = new_client(app).get("/api/v1/me", headers={**bearer, **EN})
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "unauthorized"
    assert "revoked" in refused.get_json()["error"]["message"]  # revoked, not merely paused
    again = login(new_client(app), "m@example.cn", **EN)
    assert again.status_code == 401
    assert [e.subject_id for e in entries("user.disabled")] == [str(victim_id)]
    assert json.loads(security_events(LOGIN_FAILED)[-1].details)["reason"] == "disabled"


def test_set_active_false_ends_sessions_and_tokens(client, app):
    victim = make_user("m@example.cn")
    login(client, "m@example.cn")
    token = app.test_client().post("/api/v1/auth/token", json={
        "email": "m@example.cn", "password": PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}

    set_active(db.session, db.session.get(User, victim.id), False, actor="test")
    db.session.commit()
    assert not signed_in(client)
    assert new_client(app).get("/api/v1/me", headers=bearer).status_code == 401

    # Enabling again does not bring the old session or token back.
    set_active(db.session, db.session.get(User, victim.id), True, actor="test")
    db.session.commit()
    assert not signed_in(client)
    assert new_client(app).get("/api/v1/me", headers=bearer).status_code == 401


# --- CSRF -------------------------------------------------------------------------------------

def test_login_without_csrf_token_is_refused_and_signs_nobody_in(client):
    make_user("m@example.cn")
    client.get("/login")
    response = client.post("/login", data={"email": "m@example.cn", "password": PASSWORD},
                           headers=EN)
    assert response.status_code == 400
    assert "The form expired or was sent from elsewhere." in response.get_data(as_text=True)
    assert not signed_in(client)
    assert entries("auth.login") == []


def test_login_with_a_forged_or_foreign_csrf_token_is_refused(client, app):
    make_user("m@example.cn")
    client.get("/login")
    response = post_login(client, "m@example.cn", PASSWORD, csrf="forged")
    assert response.status_code == 400
    assert not signed_in(client)
    # A token taken from one browser does not work in another.
    other = new_client(app)
    other.get("/login")
    response = post_login(other, "m@example.cn", PASSWORD, token_of(client))
    assert response.status_code == 400
    assert not signed_in(other)


def test_logout_without_csrf_token_is_refused_and_keeps_the_session(client):
    make_user("m@example.cn")
    login(client, "m@example.cn")
    response = client.post("/logout")
    assert response.status_code == 400
    assert signed_in(client)
    assert entries("auth.logout") == []


# --- throttling -------------------------------------------------------------------------------

def test_ten_failures_for_one_account_lock_it_even_with_the_right_password(client, app):
    make_user("m@example.cn")
    csrf = token_of(client)
    for n in range(10):  # from ten different addresses: the account's own count locks it
        assert post_login(client, "m@example.cn", WRONG, csrf, f"10.0.0.{n}").status_code == 401
    response = post_login(client, "M@Example.cn", PASSWORD, csrf, "10.0.1.1")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert not signed_in(client)
    # The API shares the count: no going around the lock through the token endpoint.
    api = app.test_client().post("/api/v1/auth/token", json={
        "email": "m@example.cn", "password": PASSWORD}, environ_base={"REMOTE_ADDR": "10.0.2.1"})
    assert api.status_code == 429
    assert api.get_json()["error"]["code"] == "too_many_attempts"
    assert len(security_events(LOGIN_THROTTLED)) == 2
    # Another account is not affected.
    make_user("other@example.cn")
    assert post_login(client, "other@example.cn", PASSWORD, csrf, "10.0.1.2").status_code == 302


def test_failures_for_other_accounts_do_not_lock_out_colleagues_behind_one_address(client,
                                                                                 app):
    """Ten offices share one NAT address: one account's attacker must not lock the others out."""
    make_user("m@example.cn")
    csrf = token_of(client)
    for n in range(10):
        response = post_login(client, f"guess{n}@example.cn", WRONG, csrf, "192.0.2.7")
        assert response.status_code == 401
    assert post_login(client, "m@example.cn", PASSWORD, csrf, "192.0.2.7").status_code == 302


def test_the_separate_higher_limit_per_address_locks_that_address(client, app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 25
    make_user("m@example.cn")
    csrf = token_of(client)
    for n in range(25):
        response = post_login(client, f"guess{n}@example.cn", WRONG, csrf, "192.0.2.7")
        assert response.status_code == 401
    response = post_login(client, "m@example.cn", PASSWORD, csrf, "192.0.2.7")
    assert response.status_code == 429
    assert not signed_in(client)
    # The account itself is fine from elsewhere.
    elsewhere = new_client(app)
    assert post_login(elsewhere, "m@example.cn", PASSWORD, token_of(elsewhere),
                      "198.51.100.1").status_code == 302


def test_concurrent_wrong_passwords_are_counted_against_the_limit(app):
    """30 guesses at once: at most the limit's worth are checked, the rest are refused 429."""
    import threading

    make_user("m@example.cn")
    statuses: list[int] = []

    def guess(n: int) -> None:
        response = new_client(app).post("/api/v1/auth/token", json={
            "email": "m@example.cn", "password": WRONG},
            environ_base={"REMOTE_ADDR": f"10.9.0.{n}"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == 10
    db.session.rollback()
    assert db.session.query(SecurityEvent).filter_by(kind=LOGIN_FAILED,
                                                     subject="m@example.cn").count() == 10


def test_changing_the_password_ends_other_sessions_and_tokens(app):
    make_user("m@example.cn")
    here, there = new_client(app), new_client(app)
    login(here, "m@example.cn")
    login(there, "m@example.cn")
    token = here.post("/api/v1/auth/token", json={"email": "m@example.cn", "password": PASSWORD}
                      ).get_json()["token"]
    api = {"Authorization": f"Bearer {token}"}
    assert here.get("/api/v1/me", headers=api).status_code == 200
    response = here.post("/profile/password", data={
        "csrf_token": token_of(here, "/profile"), "current_password": PASSWORD,
        "new_password": "a-new-password-1"})
    assert response.status_code == 302
    assert signed_in(here)  # the session that changed it stays
    assert not signed_in(there)  # every other session ends
    assert here.get("/api/v1/me", headers=api).status_code == 401  # and every token
    [entry] = entries("user.password_changed")
    assert json.loads(entry.payload) == {"sessions_ended": 1, "tokens_revoked": 1}


def test_taking_a_role_away_ends_the_users_sessions_and_tokens(app):
    from fundapp.auth.operations import set_roles

    user = make_user("m@example.cn", roles=("fund_manager", "auditor"))
    browser = new_client(app)
    login(browser, "m@example.cn")
    token = browser.post("/api/v1/auth/token", json={"email": "m@example.cn",
                                                     "password": PASSWORD}).get_json()["token"]
    set_roles(db.session, user, ["auditor"], actor="admin@example.cn")
    db.session.commit()
    assert not signed_in(browser)
    assert browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 401


def test_api_pdf_and_export_answers_are_not_cached_and_name_no_server(client):
    make_user("m@example.cn")
    token = client.post("/api/v1/auth/token", json={"email": "m@example.cn",
                                                    "password": PASSWORD}).get_json()["token"]
    for response in (client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
                     client.get("/api/v1/me"), client.get("/api/openapi.json")):
        assert response.headers["Cache-Control"] == "no-store"
        assert "Server" not in response.headers
    assert client.get("/static/app.css").headers.get("Cache-Control") != "no-store"


def test_nine_recent_failures_and_older_ones_still_let_the_right_password_in(client):
    make_user("m@example.cn")
    old = datetime.now(UTC) - timedelta(minutes=16)  # outside the 15-minute window
    for _ in range(10):
        record_security_event(db.session, kind=LOGIN_FAILED, subject="m@example.cn",
                              address="127.0.0.1", at=old)
    db.session.commit()
    csrf = token_of(client)
    for _ in range(9):
        assert post_login(client, "m@example.cn", WRONG, csrf).status_code == 401
    assert post_login(client, "m@example.cn", PASSWORD, csrf).status_code == 302


# --- cookies and headers ----------------------------------------------------------------------

def session_cookie_header(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie was set"
    return cookies[-1]


def test_session_cookie_is_httponly_lax_and_not_secure_over_http(client):
    make_user("m@example.cn")
    header = session_cookie_header(client.get("/login"))
    signed = session_cookie_header(login(client, "m@example.cn"))
    for cookie in (header, signed):
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "secure" not in attributes


def test_session_cookie_is_secure_over_https(client):
    make_user("m@example.cn")
    page = client.get("/login", base_url="https://localhost")
    csrf = csrf_from(page.get_data(as_text=True))
    # Over HTTPS the CSRF check also wants a same-origin Referer, as browsers send it.
    response = client.post("/login", base_url="https://localhost", data={
        "email": "m@example.cn", "password": PASSWORD, "csrf_token": csrf},
        headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    for cookie in (session_cookie_header(page), session_cookie_header(response)):
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in attributes and "httponly" in attributes
        assert "samesite=lax" in attributes


def assert_security_headers(response, what: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, what
    assert "default-src 'self'" in csp, what
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    assert response.headers.get("Referrer-Policy"), what


def test_security_headers_on_every_kind_of_response(client):
    make_user("m@example.cn")
    anonymous = [
        ("GET", "/login", 200), ("GET", "/", 302), ("GET", "/no-such-page", 404),
        ("GET", "/healthz", 200), ("GET", "/api/openapi.json", 200),
        ("GET", "/api/v1/me", 401), ("GET", "/api/v1/nothing", 404),
        ("PUT", "/api/v1/me", 405), ("POST", "/login", 400), ("GET", "/static/app.css", 200),
    ]
    for method, path, status in anonymous:
        response = client.open(path, method=method)
        assert response.status_code == status, (method, path, response.status_code)
        assert_security_headers(response, f"{method} {path}")
    login(client, "m@example.cn")
    for method, path, status in [("GET", "/", 200), ("GET", "/admin/users", 403),
                                 ("POST", "/profile", 400)]:
        response = client.open(path, method=method)
        assert response.status_code == status, (method, path, response.status_code)
        assert_security_headers(response, f"{method} {path} (signed in)")
    assert client.get("/").headers.get("Cache-Control") == "no-store"  # pages with personal data


# --- redirects --------------------------------------------------------------------------------

EVIL_TARGETS = ["//evil.example", "//evil.example/login", "https://evil.example/",
                "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
                "/\r\n/evil.example",
                "javascript:alert(1)", " //evil.example"]


def test_next_never_leads_off_site(client, app):
    make_user("m@example.cn")
    for target in EVIL_TARGETS:
        browser = new_client(app)
        page = browser.get("/login", query_string={"next": target}).get_data(as_text=True)
        carried = re.search(r'<input id="next" name="next" type="hidden" value="([^"]*)"', page)
        assert carried and carried.group(1) == "", (target, carried)
        # An attacker can also post the field directly.
        response = post_login(browser, "m@example.cn", PASSWORD, csrf_from(page), next=target)
        assert response.status_code == 302
        assert response.headers["Location"] == "/", (target, response.headers["Location"])


def test_language_switch_never_leads_off_site(client):
    for target in EVIL_TARGETS:
        response = client.post("/language/en", data={"csrf_token": token_of(client),
                                                      "next": target})
        assert response.status_code == 302
        assert "evil.example" not in response.headers["Location"], target


# --- language ---------------------------------------------------------------------------------

def test_language_switch_changes_the_page_language(client):
    assert html_lang(client.get("/login", headers=ZH)) == "zh-CN"
    response = client.post("/language/en", headers=ZH,
                           data={"csrf_token": token_of(client, headers=ZH), "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert html_lang(client.get("/login", headers=ZH)) == "en"
    client.post("/language/fr", headers=EN, data={"csrf_token": token_of(client)})
    assert html_lang(client.get("/login", headers=ZH)) == "en"  # unknown: nothing changes
    client.post("/language/zh", headers=EN, data={"csrf_token": token_of(client)})
    assert html_lang(client.get("/login", headers=EN)) == "zh-CN"


def test_language_chosen_before_signing_in_is_kept_after(client):
    make_user("m@example.cn")
    client.post("/language/en", headers=ZH, data={"csrf_token": token_of(client, headers=ZH)})
    csrf = token_of(client, headers=ZH)
    client.post("/login", headers=ZH, data={"email": "m@example.cn", "password": PASSWORD,
                                            "csrf_token": csrf})
    assert html_lang(client.get("/", headers=ZH)) == "en"


def test_signed_in_users_language_follows_them_to_a_new_browser(client, app):
    make_user("m@example.cn")
    login(client, "m@example.cn", **ZH)
    assert html_lang(client.get("/", headers=ZH)) == "zh-CN"
    client.post("/language/en", headers=ZH, data={"csrf_token": token_of(client, "/")})
    other = new_client(app)
    login(other, "m@example.cn", **ZH)
    assert html_lang(other.get("/", headers=ZH)) == "en"


# --- ledger -----------------------------------------------------------------------------------

def test_logins_are_ledgered_and_failed_logins_are_security_events(client):
    user = make_user("m@example.cn")
    login(client, "m@example.cn", WRONG)
    login(client, "m@example.cn")
    assert entries("auth.login_failed") == []  # off the ledger's lock (issue 16)
    failed = security_events(LOGIN_FAILED)
    assert [(e.subject, e.address) for e in failed] == [("m@example.cn", "127.0.0.1")]
    assert json.loads(failed[0].details) == {"via": "web", "reason": "wrong_password",
                                             "user_id": user.id}
    succeeded = entries("auth.login")
    assert [(e.actor, e.subject_id) for e in succeeded] == [("m@example.cn", str(user.id))]
    assert json.loads(succeeded[0].payload)["via"] == "web"


def test_user_creation_and_role_changes_in_the_admin_pages_are_ledgered(client):
    make_user("admin@example.cn", roles=("admin",))
    login(client, "admin@example.cn")
    response = client.post("/admin/users/new", data={
        "csrf_token": token_of(client, "/admin/users/new"), "email": "New@Example.cn",
        "name": "Xin", "password": "a-long-password", "roles": ["ic_member"]})
    assert response.status_code == 302
    db.session.rollback()
    created = db.session.scalar(select(User).where(User.email == "new@example.cn"))
    assert created is not None and {r.value for r in created.roles} == {"ic_member"}
    [entry] = entries("user.created")[-1:]
    assert entry.actor == "admin@example.cn" and entry.subject_id == str(created.id)
    assert json.loads(entry.payload)["roles"] == ["ic_member"]

    response = client.post(f"/admin/users/{created.id}", data={
        "csrf_token": token_of(client, f"/admin/users/{created.id}"),
        "roles": ["ic_member", "auditor"], "is_active": "y"})
    assert response.status_code == 302
    [change] = entries("user.roles_changed")
    assert change.actor == "admin@example.cn" and change.subject_id == str(created.id)
    assert json.loads(change.payload) == {"email": "new@example.cn", "before": ["ic_member"],
                                          "after": ["auditor", "ic_member"],
                                          "sessions_ended": 0, "tokens_revoked": 0}
    assert entries("user.disabled") == []


def test_admin_page_refuses_a_duplicate_user_and_writes_nothing(client):
    make_user("admin@example.cn", roles=("admin",))
    make_user("m@example.cn")
    login(client, "admin@example.cn")
    before = len(entries("user.created"))
    response = client.post("/admin/users/new", headers=EN, data={
        "csrf_token": token_of(client, "/admin/users/new"), "email": "M@example.cn",
        "password": "a-long-password", "roles": ["auditor"]})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert len(entries("user.created")) == before


# --- the form's own checks (fundapp/auth/schemas.py) ------------------------------------------

def test_login_form_problems_are_named_next_to_their_fields_and_count_no_attempt(client):
    make_user("m@example.cn")
    csrf = token_of(client)
    blank = post_login(client, "", "", csrf)
    assert blank.status_code == 422
    page = blank.get_data(as_text=True)
    assert 'id="email-error"' in page and "Enter your e-mail address." in page
    assert 'id="password-error"' in page and "Enter your password." in page
    invalid = post_login(client, "not-an-address", WRONG, csrf)
    assert invalid.status_code == 422
    assert "Enter a valid e-mail address." in invalid.get_data(as_text=True)
    assert 'value="not-an-address"' in invalid.get_data(as_text=True)  # what was typed stays
    too_long = post_login(client, "m@" + "x" * 320 + ".cn", WRONG, csrf)
    assert too_long.status_code == 422
    db.session.rollback()
    assert db.session.scalar(select(SecurityEvent.seq)) is None
    assert entries("auth.login_failed") == []


def test_a_failed_sign_in_keeps_its_security_event(client):
    make_user("m@example.cn")
    response = post_login(client, "m@example.cn", WRONG, token_of(client))
    assert response.status_code == 401
    assert [e.subject for e in security_events(LOGIN_FAILED)] == ["m@example.cn"]


def test_changing_the_password_shows_each_problem_next_to_its_field(client):
    make_user("m@example.cn")
    login(client, "m@example.cn", **EN)
    csrf = token_of(client, "/profile")
    short = client.post("/profile/password", headers=EN, data={
        "csrf_token": csrf, "current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422
    assert 'id="new_password-error"' in short.get_data(as_text=True)
    assert "At least 10 characters." in short.get_data(as_text=True)
    wrong = client.post("/profile/password", headers=EN, data={
        "csrf_token": csrf, "current_password": WRONG, "new_password": "a-new-long-password"})
    assert wrong.status_code == 422
    assert 'id="current_password-error"' in wrong.get_data(as_text=True)
    assert entries("user.password_changed") == []
    done = client.post("/profile/password", headers=EN, data={
        "csrf_token": csrf, "current_password": PASSWORD, "new_password": "a-new-long-password"})
    assert done.status_code == 302
    assert len(entries("user.password_changed")) == 1


def test_admin_user_pages_check_lengths_and_roles_and_write_nothing_when_refused(client):
    admin = make_user("admin@example.cn", roles=("admin",))
    admin_id = admin.id
    login(client, "admin@example.cn")
    before = len(entries("user.created"))
    response = client.post("/admin/users/new", headers=EN, data={
        "csrf_token": token_of(client, "/admin/users/new"), "email": "new@example.cn",
        "name": "x" * 201, "password": "a-long-password"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="name-error"' in page and 'id="roles-error"' in page
    assert "Choose at least one role." in page
    assert 'value="new@example.cn"' in page  # what was typed stays
    assert len(entries("user.created")) == before
    response = client.post(f"/admin/users/{admin_id}", headers=EN, data={
        "csrf_token": token_of(client, f"/admin/users/{admin_id}"), "is_active": "y"})
    assert response.status_code == 422
    assert "Choose at least one role." in response.get_data(as_text=True)
    assert entries("user.roles_changed") == []
