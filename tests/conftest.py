"""Test fixtures: every database test runs on SQLite and, when a server answers, on PostgreSQL.

Each test gets a fresh database cloned from a template that Alembic upgraded once per run (a file
copy for SQLite, CREATE DATABASE ... TEMPLATE for PostgreSQL): the ledger's triggers forbid
deleting entries, so tests cannot share a database and clean up after themselves.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from fundapp.app import create_app
from fundapp.config import TestConfig
from fundapp.extensions import db

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct-horse-battery"
REQUIRE_PG = os.environ.get("FUNDAPP_REQUIRE_POSTGRES") == "1"


def pg_admin_url() -> str:
    url = os.environ.get("FUNDAPP_TEST_DATABASE_URL", DEFAULT_PG_URL)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _pg_connect(dbname: str | None = None) -> psycopg.Connection:
    url = make_url(pg_admin_url())
    return psycopg.connect(host=url.host or "127.0.0.1", port=url.port or 5432,
                           user=url.username or "postgres", password=url.password,
                           dbname=dbname or url.database, autocommit=True, connect_timeout=3)


def pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    try:
        with _pg_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {make_url(pg_admin_url()).render_as_string()}: {exc}"
    return None


_PG_PROBLEM = pg_available()


def pytest_report_header(config):
    return [f"databases: sqlite, postgresql ({'ok' if _PG_PROBLEM is None else _PG_PROBLEM})"]


def pytest_generate_tests(metafunc):
    if "database" in metafunc.fixturenames:
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("database") == "postgresql":
            item.add_marker(pytest.mark.postgres)


def _worker() -> str:
    # The pid keeps concurrent test runs (two terminals, xdist workers) out of each other's way.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _drop_orphans(conn: psycopg.Connection) -> None:
    """Drop test databases left behind by runs that were killed (their pid is gone)."""
    names = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'fundapp\\_t%'")
    for (name,) in names.fetchall():
        match = re.search(r"_(\d+)(?:_[0-9a-f]{10})?$", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _upgrade(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(TestConfig(url))
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if _PG_PROBLEM is not None:
        if REQUIRE_PG:
            pytest.fail(f"FUNDAPP_REQUIRE_POSTGRES=1 but {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)
    name = f"fundapp_tpl_{_worker()}"
    with _pg_connect() as conn:
        _drop_orphans(conn)
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _upgrade(make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False))
    yield name
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(request, tmp_path) -> Iterator[str]:
    """A URL of a fresh, fully migrated database of the parametrised kind."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"fundapp_t_{_worker()}_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_config(database_url: str) -> TestConfig:
    config = TestConfig(database_url)
    config.ARGON2_FAST = True
    return config


@pytest.fixture
def app(database) -> Iterator[Flask]:
    from tests.isolation import IsolatedClient

    app = create_app(make_config(database))
    # Each request of a test client runs in its own application context, as in production.
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


def make_user(email: str = "user@example.cn", roles=("fund_manager",), password: str = PASSWORD,
              name: str = "", locale: str | None = None):
    from fundapp.auth.operations import create_user

    user = create_user(db.session, email=email, password=password, roles=roles, name=name,
                       locale=locale, actor="test")
    db.session.commit()
    return user


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD, **headers):
    page = client.get("/login", headers=headers)
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_from(page.get_data(as_text=True))},
                       headers=headers)


def api_token(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]

def tamper(*statements: str, **params) -> None:
    """Run raw SQL on the ledger behind the triggers' back, as an intruder with full rights would."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER ledger_entries_no_update"))
            conn.execute(text("DROP TRIGGER ledger_entries_no_delete"))
        else:
            conn.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), params)
        if conn.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE ledger_entries ENABLE TRIGGER USER"))


def run_tasks(limit: int | None = None) -> list:
    """Run the queued tasks in this process, as `fundapp worker --once` would (issue 16): web and
    API requests only queue long work; a test calls this where the worker would run it."""
    from types import SimpleNamespace

    from fundapp.tasks.worker import run_pending

    ran = [SimpleNamespace(id=t.id, kind=t.kind, status=t.status, error=t.error,
                           attempts=t.attempts) for t in run_pending(limit)]
    db.session.expire_all()  # what the test holds is read afresh (the worker committed)
    return ran
