"""One unit of work per request, command and job: what a view did is kept only when it answers
with success, and nothing in fundapp commits except fundapp/unit_of_work.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import jsonify, redirect
from sqlalchemy import func, select

from fundapp import access
from fundapp.compliance.ledger import record
from fundapp.compliance.models import LedgerEntry
from fundapp.errors import RuleRefused, ValidationFailed
from fundapp.extensions import csrf, db
from fundapp.unit_of_work import attempt, keep_on_error, transaction
from tests.conftest import api_token, make_user
from tests.isolation import isolated_client

ROOT = Path(__file__).resolve().parent.parent


def entries() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def write(action: str = "test.probe") -> None:
    record(db.session, actor="probe", action=action, subject_type="probe", subject_id=1,
           payload={})


@pytest.fixture
def probe(app, monkeypatch):
    """Routes that write a ledger entry and then end in each possible way."""
    real = access.allowed_roles
    monkeypatch.setattr(access, "allowed_roles", lambda endpoint, method: (
        frozenset({access.ANY_USER}) if endpoint and "probe" in endpoint
        else real(endpoint, method)))

    def ok():
        write()
        return jsonify(done=True)

    def refused():
        write()
        raise RuleRefused("R3.d", "refused after writing")

    def error_page():
        write()
        return "bad input", 422

    def crash():
        write()
        raise ValueError("a bug")

    def kept():
        write("test.kept")
        keep_on_error()
        raise RuleRefused("R0", "refused, but the attempt is kept")

    def form_refusal():
        def action():
            write()
            raise ValidationFailed("no", details={"amount": ["Must be more than 0."]})

        _, errors = attempt(action)
        assert errors == {"amount": ["Must be more than 0."]}
        return redirect("/")  # a 302 after a refusal must not commit what the action wrote

    calls = app.extensions.setdefault("probe_calls", [])

    def pay():
        calls.append(1)
        write("test.paid")
        return {"paid": len(calls)}, 201

    pay.idempotent = True  # what api_route(..., idempotent=True) marks
    for name, view in [("probe_pay", pay), ("probe_ok", ok), ("probe_refused", refused),
                       ("probe_error_page", error_page), ("probe_crash", crash),
                       ("probe_kept", kept), ("probe_form", form_refusal)]:
        csrf.exempt(view)  # like the API blueprint: bearer tokens, no cookie
        app.add_url_rule(f"/api/v1/{name}", name, view, methods=["POST"])
    make_user("probe@example.cn", roles=("fund_manager",))
    client = isolated_client(app)
    token = api_token(client, "probe@example.cn")
    return client, {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("route, status, kept", [
    ("probe_ok", 200, 1), ("probe_refused", 409, 0), ("probe_error_page", 422, 0),
    ("probe_crash", 500, 0), ("probe_kept", 409, 1), ("probe_form", 302, 0)])
def test_a_request_keeps_its_writes_only_when_it_succeeds(probe, route, status, kept):
    client, headers = probe
    before = entries()
    response = client.post(f"/api/v1/{route}", headers=headers)
    assert response.status_code == status
    assert entries() - before == kept
    if status >= 400 and route != "probe_error_page":
        assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_idempotency_key_replays_the_first_answer_for_any_marked_route(app, probe):
    client, headers = probe
    calls = app.extensions["probe_calls"]
    keyed = {**headers, "Idempotency-Key": "pay-1"}
    first = client.post("/api/v1/probe_pay", json={"amount": "10.00"}, headers=keyed)
    again = client.post("/api/v1/probe_pay", json={"amount": "10.00"}, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json() == {"paid": 1}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(calls) == 1
    other = client.post("/api/v1/probe_pay", json={"amount": "99.00"}, headers=keyed)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.action == "test.paid")) == 1


def test_a_command_or_job_commits_all_or_nothing(app):
    before = entries()
    with pytest.raises(RuntimeError), transaction():
        write()
        raise RuntimeError("the job failed half-way")
    assert entries() == before
    with transaction():
        write()
    assert entries() == before + 1


def test_nothing_in_fundapp_commits_outside_the_unit_of_work():
    offenders = []
    for path in sorted((ROOT / "fundapp").rglob("*.py")):
        if path.name == "unit_of_work.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.commit\(\)", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
