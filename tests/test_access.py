"""The role x route table (fundapp/data/access.toml) covers every route, names only real routes
and roles, and is what the app enforces: every route and method, for every role and for anonymous
callers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from flask import Flask
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, UUIDConverter

from fundapp.access import ANONYMOUS, ANY_USER, TABLE_PATH, access_table
from fundapp.app import create_app
from fundapp.auth.models import Role
from tests.conftest import PASSWORD, csrf_from, login, make_config, make_user
from tests.isolation import isolated_client

ROLES = [role.value for role in Role]
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url with dummy arguments) for every rule except static files.

    Reading calls come first so that a call that changes something (a revoked token) happens after
    the calls that need the state it changes.
    """
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values = {name: dummy_value(rule._converters[name]) for name in rule.arguments}
        for method in sorted(rule.methods - SKIPPED_METHODS):
            found.append((rule.endpoint, method,
                          adapter.build(rule.endpoint, values, method=method)))
    return sorted(found, key=lambda call: (call[1] in WRITES, call[1] == "DELETE", call[0]))


def dummy_value(converter):
    if isinstance(converter, (IntegerConverter, FloatConverter)):
        return 1
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "x"


def unlisted_routes(app: Flask) -> list[str]:
    table = access_table()
    return [f"{method} {url} (endpoint {endpoint!r})" for endpoint, method, url in routes(app)
            if method not in table.get(endpoint, {})]


def is_allowed(allowed: frozenset[str], principal: str) -> bool:
    if ANONYMOUS in allowed:
        return True
    return principal != ANONYMOUS and (ANY_USER in allowed or principal in allowed)


@pytest.fixture(scope="module")
def routes_app() -> Flask:
    """The app's routes and table alone: these checks need no database."""
    return create_app(make_config("sqlite://"))


def test_every_route_and_method_is_in_the_access_table(routes_app):
    app = routes_app
    missing = unlisted_routes(app)
    assert not missing, (
        f"routes missing from {TABLE_PATH.name}; every route is refused to everyone until it is "
        "listed there with the roles that may call it:\n  " + "\n  ".join(missing))


def test_access_table_has_no_stale_entries_or_unknown_roles(routes_app):
    app = routes_app
    methods_of: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods_of.setdefault(rule.endpoint, set()).update(rule.methods - SKIPPED_METHODS)
    stale, unknown = [], []
    known_roles = {ANONYMOUS, ANY_USER, *ROLES}
    for endpoint, methods in access_table().items():
        for method, roles in methods.items():
            if method not in methods_of.get(endpoint, set()):
                stale.append(f"{endpoint} {method}")
            unknown += [f"{endpoint} {method}: {role!r}" for role in roles - known_roles]
            if not roles:
                unknown.append(f"{endpoint} {method}: no roles at all")
    assert not stale, (f"{TABLE_PATH.name} lists routes the app no longer has (remove them): "
                       f"{stale}")
    assert not unknown, f"{TABLE_PATH.name} names roles that do not exist: {unknown}"


def test_a_route_missing_from_the_table_is_reported_and_refused_to_everyone(app):
    app.add_url_rule("/probe", "probe", lambda: "open")
    app.add_url_rule("/api/v1/probe", "api_probe", lambda: {"open": True})
    missing = unlisted_routes(app)
    assert "GET /api/v1/probe (endpoint 'api_probe')" in missing
    assert "GET /probe (endpoint 'probe')" in missing

    make_user("admin@example.cn", roles=("admin",))
    client = isolated_client(app)
    assert client.get("/probe").status_code == 403  # even anonymous callers: no sign-in helps
    token = client.post("/api/v1/auth/token", json={"email": "admin@example.cn",
                                                    "password": PASSWORD}).get_json()["token"]
    response = client.get("/api/v1/probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    login(client, "admin@example.cn")
    assert client.get("/probe").status_code == 403


@dataclass
class Caller:
    """One principal with a browser session (pages) and a bearer token (API)."""

    name: str
    app: Flask
    browser: object = None
    token: str | None = None
    logins: int = field(default=0)
    email: str = ""  # f"{name}@example.cn" unless given

    def sign_in(self) -> None:
        self.browser = isolated_client(self.app)
        if self.name == ANONYMOUS:
            return
        email = self.email or f"{self.name}@example.cn"
        assert login(self.browser, email).status_code == 302
        response = self.browser.post("/api/v1/auth/token",
                                     json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        self.token = response.get_json()["token"]
        self.logins += 1

    def call(self, method: str, url: str):
        headers = {"Accept": "text/html"}
        if url.startswith("/api/") and self.token:
            headers = {"Authorization": f"Bearer {self.token}"}
        return self.browser.open(url, method=method, headers=headers)


def test_every_route_answers_each_role_as_the_table_says(app):
    for role in ROLES:
        make_user(f"{role}@example.cn", roles=(role,))
    table = access_table()
    callers = [Caller(name, app) for name in [ANONYMOUS, *ROLES]]
    for caller in callers:
        caller.sign_in()

    problems, calls = [], 0
    for endpoint, method, url in routes(app):
        allowed = table.get(endpoint, {}).get(method)
        if allowed is None:
            problems.append(f"{method} {url}: endpoint {endpoint!r} has no {method} entry in "
                            f"{TABLE_PATH.name}")
            continue
        for caller in callers:
            response = caller.call(method, url)
            calls += 1
            status = response.status_code
            location = response.headers.get("Location", "")
            what = f"{caller.name} {method} {url} -> {status} {location}".rstrip()
            if is_allowed(allowed, caller.name):
                if status in (401, 403) or (status == 302 and location.startswith("/login")):
                    problems.append(f"{what}: the table allows it")
                if method in WRITES and status < 400 and caller.name != ANONYMOUS:
                    caller.sign_in()  # the call changed the caller's state (a revoked token)
            elif caller.name == ANONYMOUS and url.startswith("/api/"):
                if status != 401:
                    problems.append(f"{what}: expected 401")
            elif caller.name == ANONYMOUS:
                if status != 302 or not location.startswith("/login"):
                    problems.append(f"{what}: expected a redirect to /login")
            elif status != 403:
                problems.append(f"{what}: expected 403")
    assert not problems, "access table not enforced:\n  " + "\n  ".join(problems)
    assert calls >= 5 * 15  # the walk did walk
    # Each role signed in once, plus again after each write that succeeded with the walk's dummy
    # values: at least revoking its own token (others, such as marking every notification read,
    # succeed with no body at all).
    logins = {caller.name: caller.logins for caller in callers}
    assert logins[ANONYMOUS] == 0 and all(logins[role] >= 2 for role in ROLES), logins


# ---- per meeting (issue 11): the table says which roles; the IC code says which meetings


def meeting_routes(app: Flask, meeting_id: int, deal_id: int) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route with a meeting in its path, on a real meeting."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if "meeting_id" not in rule.arguments:
            continue
        values = {name: dummy_value(rule._converters[name]) for name in rule.arguments}
        values |= {"meeting_id": meeting_id} | ({"deal_id": deal_id}
                                                if "deal_id" in rule.arguments else {})
        for method in sorted(rule.methods - SKIPPED_METHODS):
            found.append((rule.endpoint, method,
                          adapter.build(rule.endpoint, values, method=method)))
    return sorted(found, key=lambda call: (call[1] in WRITES, call[0]))


def test_meeting_routes_refuse_an_ic_member_who_does_not_belong_to_the_meeting(app, monkeypatch):
    """The issue's "wrong user": an IC member of no meeting reopened signed minutes, recorded
    attendance and downloaded other meetings' packs, minutes and votes. On every route of a
    meeting such a member gets 403 and changes nothing; its members, fund managers, admins and
    auditors read its pack, votes and minutes."""
    from sqlalchemy import func, select

    from fundapp.compliance.models import LedgerEntry
    from fundapp.extensions import db
    from fundapp.ic import operations as ops
    from tests.ic.conftest import MEETING_DAY, committee

    monkeypatch.setattr(ops, "_render", lambda name, data, language: b"%PDF-fake " + name.encode())
    with app.test_request_context():
        c = committee.__wrapped__(app)
        deal = c["deals"][1]
        meeting = ops.create_meeting(db.session, actor="admin@x.cn", title="投决会",
                                     held_on=MEETING_DAY, chair_id=c["chair"].id,
                                     member_ids=[c["member"].id], deal_ids=[deal.id])
        ops.generate_pack(db.session, meeting, actor="admin@x.cn", is_final=True)
        for voter in (c["chair"], c["member"]):
            ops.cast_vote(db.session, meeting.items[0], voter=voter, choice="approve")
        ops.decide(db.session, meeting.items[0], actor="chair@x.cn")
        ops.sign_minutes(db.session, meeting, user=c["chair"])
        meeting_id, deal_id, chair_id = meeting.id, deal.id, c["chair"].id
        db.session.commit()
    for role in ROLES:
        make_user(f"{role}@example.cn", roles=(role,))  # ic_member@example.cn: of no meeting

    def ledger_size() -> int:
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.action.not_like("auth.%")))

    outsider = Caller("ic_member", app)
    outsider.sign_in()
    csrf = csrf_from(outsider.browser.get("/ic/meetings").get_data(as_text=True))
    form = {"csrf_token": csrf, "choice": "approve", "present_ids": [str(chair_id)],
            "reason": "改", "note": "", "dd_summary": "", "risks": "", "language": "zh",
            "is_final": "1"}
    body = {"deal_id": deal_id, "choice": "approve", "language": "zh", "is_final": True}
    before = ledger_size()
    calls = meeting_routes(app, meeting_id, deal_id)
    problems = []
    for endpoint, method, url in calls:
        if url.startswith("/api/"):
            response = outsider.browser.open(url, method=method, json=body if method in WRITES
                                             else None,
                                             headers={"Authorization": f"Bearer {outsider.token}"})
        else:
            response = outsider.browser.open(url, method=method, headers={"Accept": "text/html"},
                                             data=form if method in WRITES else None)
        if response.status_code != 403:
            problems.append(f"outsider {method} {url} ({endpoint}) -> {response.status_code}")
    assert not problems, "a member of no meeting got through:\n  " + "\n  ".join(problems)
    assert ledger_size() == before
    assert {endpoint for endpoint, _method, _url in calls} >= {
        "ic.meeting", "ic.pack_pdf", "ic.minutes_pdf", "ic.attendance", "ic.reopen_minutes",
        "ic.vote", "ic.decide", "ic.sign_minutes", "api.get_ic_meeting", "api.list_ic_votes",
        "api.get_ic_pack", "api.get_ic_minutes", "api.cast_ic_vote", "api.sign_ic_minutes"}
    listed = outsider.browser.get("/api/v1/ic/meetings",
                                  headers={"Authorization": f"Bearer {outsider.token}"})
    assert listed.status_code == 200 and listed.get_json()["items"] == []

    # Those who may read the meeting do: its member, and fund managers, admins and auditors.
    readers = [Caller("member", app, email="ic2@x.cn"),
               *(Caller(role, app) for role in ("admin", "fund_manager", "auditor"))]
    for reader in readers:
        reader.sign_in()
    for reader in readers:
        for endpoint, method, url in calls:
            if method != "GET":
                continue
            status = reader.call(method, url).status_code
            if status != 200:
                problems.append(f"{reader.name} GET {url} ({endpoint}) -> {status}")
    assert not problems, "a reader of the meeting was refused:\n  " + "\n  ".join(problems)

