"""A GET changes nothing: every GET route, called by every role on the demo fund and on a fund
with nothing in it yet, leaves every table and the ledger exactly as they were."""

from __future__ import annotations

import hashlib

from sqlalchemy import inspect, select, text

from fundapp.auth.models import Role
from fundapp.extensions import db
from tests.conftest import PASSWORD, login
from tests.isolation import isolated_client
from tests.test_access import dummy_value

# What signing in itself writes (a session row, a token) happens before the walk starts.
ROLES = [role.value for role in Role]


def snapshot() -> dict[str, str]:
    """A digest of every row of every table (ordered by primary key)."""
    digests = {}
    engine = db.engine
    for table in sorted(inspect(engine).get_table_names()):
        if table == "alembic_version":
            continue
        columns = [c["name"] for c in inspect(engine).get_columns(table)]
        order = ", ".join(f'"{c}"' for c in columns)
        rows = db.session.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}')).all()
        digests[table] = hashlib.sha256(repr([tuple(map(str, r)) for r in rows])
                                        .encode()).hexdigest()
    db.session.rollback()
    return digests


def get_urls(app, ids: dict[str, list[int]]) -> list[tuple[str, str]]:
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "GET" not in rule.methods:
            continue
        values = {}
        for name in rule.arguments:
            values[name] = ids.get(name, [1])[0] if name.endswith("id") else dummy_value(
                rule._converters[name])
        urls.append((rule.endpoint, adapter.build(rule.endpoint, values, method="GET")))
    return sorted(urls)


def first_ids() -> dict[str, list[int]]:
    """A real id for each kind of path argument, so the walk reaches real pages."""
    from fundapp import models

    ids: dict[str, list[int]] = {}
    for name in dir(models):
        model = getattr(models, name)
        table = getattr(model, "__tablename__", None)
        if table is None or not hasattr(model, "id"):
            continue
        first = db.session.scalar(select(model.id).order_by(model.id).limit(1))
        if first is not None:
            singular = table[:-3] + "y" if table.endswith("ies") else table.rstrip("s")
            ids.setdefault(f"{singular}_id", [first])
    db.session.rollback()
    return ids


def walk(app) -> list[str]:
    from tests.conftest import make_user

    for role in ROLES:
        make_user(f"walker-{role}@example.cn", roles=(role,))
    callers = []
    for role in ROLES:
        client = isolated_client(app)
        assert login(client, f"walker-{role}@example.cn").status_code == 302
        token = client.post("/api/v1/auth/token", json={
            "email": f"walker-{role}@example.cn", "password": PASSWORD}).get_json()["token"]
        callers.append((role, client, token))
    before = snapshot()
    failures = []
    urls = get_urls(app, first_ids())
    for role, client, token in callers:
        for endpoint, url in urls:
            headers = ({"Authorization": f"Bearer {token}"} if url.startswith("/api/")
                       else {"Accept": "text/html"})
            response = client.get(url, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{role} GET {url} -> {response.status_code}")
            after = snapshot() if endpoint in WATCHED or len(failures) else None
            if after is not None and after != before:
                changed = sorted(t for t in after if after[t] != before.get(t))
                failures.append(f"{role} GET {url} changed {changed}")
                before = after
    final = snapshot()
    if final != before:
        failures.append(f"the walk changed {sorted(t for t in final if final[t] != before[t])}")
    return failures


# Checking after every call would take minutes; these are checked one by one (they once wrote),
# the rest together at the end of the walk (a failure there names the tables).
WATCHED = {"portfolio.policies", "api.list_policies", "portfolio.policy_page"}


def test_gets_change_nothing_on_the_demo_fund(app):
    from fundapp.demo import load_demo

    with app.app_context():
        load_demo(db.session)
        db.session.commit()
    assert walk(app) == []


def test_gets_change_nothing_before_anything_is_recorded(app):
    assert walk(app) == []
