"""The JSON API: bearer tokens, the one error envelope, input checking, roles, atomic writes and
the OpenAPI document."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import func, select

from fundapp.auth.models import ApiToken, User
from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.security_events import SecurityEvent
from fundapp.extensions import db
from tests.conftest import PASSWORD, login, make_user
from tests.isolation import IsolatedClient

ENVELOPE_KEYS = {"code", "message", "details"}
TRANSLATIONS = Path(__file__).resolve().parents[2] / "fundapp" / "translations"


class CheckedClient(IsolatedClient):
    """Checks what every response of this suite must satisfy, whatever the test is about."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        assert b"Traceback" not in response.get_data(), "a response shows a traceback"
        assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")
        assert response.headers.get("X-Content-Type-Options") == "nosniff"
        if response.status_code >= 400 and response.request.path.startswith("/api/"):
            assert_envelope_shape(response)
        return response


def assert_envelope_shape(response) -> dict:
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ENVELOPE_KEYS, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    error = assert_envelope_shape(response)
    assert error["code"] == code, error
    return error


@pytest.fixture
def client(app):
    app.test_client_class = CheckedClient
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def token_for(client, email: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(model) -> int:
    db.session.rollback()  # see what the requests committed
    return db.session.scalar(select(func.count()).select_from(model))


def actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))


# --- tokens -----------------------------------------------------------------------------------

def test_token_is_issued_stored_hashed_and_lets_the_caller_in(client):
    user = make_user("m@example.cn", name="Ma Li")
    response = client.post("/api/v1/auth/token", json={"email": "M@example.cn",
                                                       "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    secret = body["token"]
    assert body["token_type"] == "Bearer" and len(secret) >= 32
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=11) < expires_at - datetime.now(UTC) <= timedelta(hours=12)

    db.session.rollback()
    rows = db.session.execute(select(ApiToken.__table__)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in rows[0])  # no plaintext anywhere

    me = client.get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200
    assert me.get_json()["email"] == "m@example.cn"
    assert me.get_json()["roles"] == ["fund_manager"]
    assert "password_hash" not in me.get_json()
    assert actions()[-2:] == ["auth.login", "auth.token_issued"]
    payload = db.session.scalar(select(LedgerEntry.payload)
                                .where(LedgerEntry.action == "auth.login"))
    assert json.loads(payload)["via"] == "api"
    assert user.id == me.get_json()["id"]


def test_revoked_token_is_refused_with_a_message_saying_so(client):
    make_user("m@example.cn")
    token = token_for(client, "m@example.cn")
    other = token_for(client, "m@example.cn")
    response = client.delete("/api/v1/auth/token", headers=bearer(token))
    assert response.status_code == 204
    error = error_of(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    assert "revoked" in error["message"]
    error_of(client.delete("/api/v1/auth/token", headers=bearer(token)), 401, "unauthorized")
    # Only the token used was revoked.
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    assert "auth.token_revoked" in actions()


def test_expired_token_is_refused_with_a_message_saying_so(client):
    make_user("m@example.cn")
    token = token_for(client, "m@example.cn")
    db.session.rollback()
    row = db.session.scalar(select(ApiToken))
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    error = error_of(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    assert "expired" in error["message"]
    # In the caller's language: Chinese for Chinese readers, as the catalogue has it.
    english = "The access token has expired. Request a new one."
    expected = Translations.load(str(TRANSLATIONS), ["zh"]).gettext(english)
    error = error_of(client.get("/api/v1/me", headers={**bearer(token), "Accept-Language": "zh"}),
                     401, "unauthorized")
    assert error["message"] == expected


def test_missing_unknown_and_cookie_credentials_are_refused(client):
    make_user("m@example.cn")
    error = error_of(client.get("/api/v1/me"), 401, "unauthorized")
    assert "sign in" in error["message"]
    error = error_of(client.get("/api/v1/me", headers=bearer("fa_made-up")), 401, "unauthorized")
    assert "not valid" in error["message"]
    error_of(client.get("/api/v1/me", headers={"Authorization": "Basic bTpw"}), 401,
             "unauthorized")
    # A signed-in browser's cookie is no credential for the API (which has no CSRF check).
    assert login(client, "m@example.cn").status_code == 302
    assert client.get("/").status_code == 200
    error_of(client.get("/api/v1/me"), 401, "unauthorized")


def test_wrong_password_gets_no_token_and_is_a_security_event(client):
    make_user("m@example.cn")
    response = client.post("/api/v1/auth/token", json={"email": "m@example.cn",
                                                       "password": "wrong-password"})
    error = error_of(response, 401, "unauthorized")
    assert error["message"] == "The e-mail address or password is wrong."
    assert count(ApiToken) == 0
    assert count(SecurityEvent) == 1  # a security event, not a ledger entry (issue 16)
    assert "auth.login_failed" not in actions()


# --- input checking ---------------------------------------------------------------------------

def test_malformed_json_is_a_400_malformed_json(client):
    make_user("m@example.cn")
    response = client.post("/api/v1/auth/token", data='{"email": "m@example.cn", "pass',
                           content_type="application/json")
    error_of(response, 400, "malformed_json")
    assert count(SecurityEvent) == 0


def test_missing_and_invalid_fields_are_named_in_a_422(client):
    make_user("admin@example.cn", roles=("admin",))
    error = error_of(client.post("/api/v1/auth/token", json={}), 422, "validation_failed")
    assert set(error["details"]) == {"email", "password"}

    token = token_for(client, "admin@example.cn")
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "not-an-address", "password": "short", "roles": [], "locale": "fr",
        "is_active": False})
    error = error_of(response, 422, "validation_failed")
    assert set(error["details"]) == {"email", "password", "roles", "locale", "is_active"}
    assert error["details"]["is_active"] == ["Unknown field."]  # no mass assignment

    error = error_of(client.post("/api/v1/users", headers=bearer(token), json=["a", "b"]),
                     422, "validation_failed")
    assert "_schema" in error["details"]
    assert count(User) == 1


def test_unknown_api_route_is_a_404_envelope(client):
    make_user("m@example.cn")
    token = token_for(client, "m@example.cn")
    error_of(client.get("/api/v1/no-such-thing"), 404, "not_found")
    error_of(client.get("/api/v1/no-such-thing", headers=bearer(token)), 404, "not_found")
    error_of(client.post("/api/v2/users", json={}), 404, "not_found")


def test_wrong_method_is_a_405_envelope(client):
    make_user("m@example.cn")
    token = token_for(client, "m@example.cn")
    response = client.put("/api/v1/me", headers=bearer(token), json={})
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(client.get("/api/v1/auth/token"), 405, "method_not_allowed")


def test_oversized_body_is_a_413_envelope_and_writes_nothing(client, app):
    make_user("admin@example.cn", roles=("admin",))
    token = token_for(client, "admin@example.cn")
    users, entries = count(User), count(LedgerEntry)
    app.config["MAX_CONTENT_LENGTH"] = 512
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "big@example.cn", "password": "a-long-password", "roles": ["auditor"],
        "name": "x" * 1000})
    error_of(response, 413, "payload_too_large")
    response = client.post("/api/v1/auth/token", json={
        "email": "admin@example.cn", "password": "p" * 1000})
    error_of(response, 413, "payload_too_large")
    assert (count(User), count(LedgerEntry)) == (users, entries)
    assert count(SecurityEvent) == 0


# --- users and roles --------------------------------------------------------------------------

def test_auditor_reads_users_but_cannot_create_them(client):
    make_user("audit@example.cn", roles=("auditor",))
    make_user("m@example.cn")
    token = token_for(client, "audit@example.cn")
    response = client.get("/api/v1/users", headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    assert [u["email"] for u in body["items"]] == ["audit@example.cn", "m@example.cn"]
    assert body["total"] == 2 and body["page"] == 1
    entries = count(LedgerEntry)
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "new@example.cn", "password": "a-long-password", "roles": ["admin"]})
    error_of(response, 403, "forbidden")
    assert count(User) == 2
    assert count(LedgerEntry) == entries
    # A fund manager may not even read the list.
    token = token_for(client, "m@example.cn")
    error_of(client.get("/api/v1/users", headers=bearer(token)), 403, "forbidden")


def test_users_list_is_paged(client):
    make_user("admin@example.cn", roles=("admin",))
    for n in range(3):
        make_user(f"u{n}@example.cn")
    token = token_for(client, "admin@example.cn")
    body = client.get("/api/v1/users?per_page=2&page=2", headers=bearer(token)).get_json()
    assert [u["email"] for u in body["items"]] == ["u1@example.cn", "u2@example.cn"]
    assert (body["total"], body["pages"], body["per_page"]) == (4, 2, 2)


def test_admin_creates_a_user_with_a_ledger_entry(client):
    make_user("admin@example.cn", roles=("admin",))
    token = token_for(client, "admin@example.cn")
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "New@Example.cn", "name": "Xin", "password": "a-long-password",
        "roles": ["ic_member", "auditor"], "locale": "en"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "new@example.cn"
    assert body["roles"] == ["auditor", "ic_member"]
    assert body["is_active"] is True and "password" not in body

    db.session.rollback()
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.action == "user.created"
                                                        ).order_by(LedgerEntry.seq.desc()))
    assert entry.actor == "admin@example.cn" and entry.subject_id == str(body["id"])
    assert json.loads(entry.payload) == {"email": "new@example.cn", "name": "Xin",
                                         "name_en": "", "roles": ["auditor", "ic_member"]}
    # The new user can sign in with the password given.
    assert client.get("/api/v1/me", headers=bearer(token_for(
        client, "new@example.cn", "a-long-password"))).get_json()["id"] == body["id"]


def test_unknown_role_is_a_422_naming_roles(client):
    make_user("admin@example.cn", roles=("admin",))
    token = token_for(client, "admin@example.cn")
    users, entries = count(User), count(LedgerEntry)
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "new@example.cn", "password": "a-long-password", "roles": ["auditor", "king"]})
    error = error_of(response, 422, "validation_failed")
    assert list(error["details"]) == ["roles"]
    # The message names the second item, the one that is wrong, and what would be right.
    assert list(error["details"]["roles"]) == ["1"]
    [message] = error["details"]["roles"]["1"]
    assert all(role in message for role in ("admin", "fund_manager", "ic_member", "auditor"))
    assert (count(User), count(LedgerEntry)) == (users, entries)


@pytest.mark.parametrize("field, value", [("name", "x" * 201),
                                          ("email", "a@" + "x" * 320 + ".cn"),
                                          ("password", "p" * 1025)])
def test_text_longer_than_its_column_is_a_422_naming_the_field(client, field, value):
    make_user("admin@example.cn", roles=("admin",))
    token = token_for(client, "admin@example.cn")
    users = count(User)
    body = {"email": "new@example.cn", "password": "a-long-password", "roles": ["auditor"]}
    response = client.post("/api/v1/users", headers=bearer(token), json={**body, field: value})
    error = error_of(response, 422, "validation_failed")
    assert list(error["details"]) == [field]
    assert count(User) == users


def test_duplicate_user_is_refused_and_writes_nothing(client):
    make_user("admin@example.cn", roles=("admin",))
    make_user("m@example.cn")
    token = token_for(client, "admin@example.cn")
    users, entries = count(User), count(LedgerEntry)
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "M@example.cn", "password": "a-long-password", "roles": ["auditor"]})
    error = error_of(response, 409, "duplicate")
    assert "email" in error["details"]
    assert (count(User), count(LedgerEntry)) == (users, entries)


def test_a_create_that_fails_half_way_leaves_nothing_behind(client, monkeypatch):
    """The user row is flushed before its ledger entry; when the entry fails, both are gone."""
    import fundapp.auth.operations as operations

    make_user("admin@example.cn", roles=("admin",))
    token = token_for(client, "admin@example.cn")
    users, entries = count(User), count(LedgerEntry)

    def broken_record(*args, **kwargs):
        raise RuntimeError("the ledger is unavailable")

    monkeypatch.setattr(operations, "record", broken_record)
    response = client.post("/api/v1/users", headers=bearer(token), json={
        "email": "new@example.cn", "password": "a-long-password", "roles": ["auditor"]})
    error = error_of(response, 500, "internal_error")
    assert "Nothing was changed" in error["message"]
    assert "ledger is unavailable" not in response.get_data(as_text=True)
    assert (count(User), count(LedgerEntry)) == (users, entries)
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.email == "new@example.cn")) is None


# --- the document and the service ---------------------------------------------------------------

def test_openapi_document_describes_every_api_route(client, app):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    paths = spec["paths"]

    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule
        for converter in ("int:", "string:", "path:", "uuid:"):
            path = path.replace(f"<{converter}", "<")
        path = path.replace("<", "{").replace(">", "}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from /api/openapi.json: {missing}"

    for path, operations in paths.items():
        for method, operation in operations.items():
            assert method in {"get", "post", "put", "patch", "delete"}, (path, method)
            assert operation["responses"], (path, method)
            assert operation.get("summary"), (path, method)
    # Every reference points at something the document defines.
    text = json.dumps(spec)
    for ref in set(part.split('"')[0] for part in text.split('"$ref": "')[1:]):
        node = spec
        for key in ref.removeprefix("#/").split("/"):
            assert key in node, f"dangling $ref {ref}"
            node = node[key]
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(spec)


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_unexpected_errors_are_a_500_envelope_without_a_traceback(client, app, monkeypatch):
    import fundapp.access as access

    def boom():
        raise RuntimeError("secret internals")

    app.add_url_rule("/api/v1/boom", "boom", boom)
    app.add_url_rule("/boom", "page_boom", boom)
    table = access.access_table()
    monkeypatch.setattr(access, "access_table", lambda: {
        **table, "boom": {"GET": frozenset({"anonymous"})},
        "page_boom": {"GET": frozenset({"anonymous"})}})
    response = client.get("/api/v1/boom")
    error = error_of(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert error["details"] == {}
    page = client.get("/boom")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "secret internals" not in page.get_data(as_text=True)
    assert "Something went wrong on our side" in page.get_data(as_text=True)
