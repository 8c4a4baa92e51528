"""A database with the demo fund in it, made once per run and copied for each test that asks.

Tests of hostile input need rows at ids 1, 2, 3 ... (a company, a deal, a grant, a holding, a
meeting), or most routes would answer 404 before they read a body. The demo fund, made by the
app's own operations, has them all; making it takes seconds, so it is made once per database kind
and each test gets a copy. A module opts in with its own `database` fixture (seeded_database).
PDFs are stubbed while seeding (and in the tests that opt in): rendering is not what they test.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy.engine import make_url

from fundapp.app import create_app
from fundapp.auth.models import Role
from fundapp.extensions import db
from tests.conftest import _pg_connect, _worker, make_config, make_user, pg_admin_url

SEED_EMAIL = "all-roles@example.cn"  # a user with every role: no route refuses them
FAKE_PDF = b"%PDF-1.4\n% stub of the tests of hostile input\n%%EOF\n"


def stub_pdfs():
    return mock.patch("reports.render.render_pdf", lambda *args, **kwargs: FAKE_PDF)


def _seed(url: str) -> None:
    from fundapp.demo import load_demo

    app = create_app(make_config(url))
    with app.app_context(), stub_pdfs():
        load_demo(db.session)
        db.session.commit()
        make_user(SEED_EMAIL, roles=tuple(Role))
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def demo_sqlite_template(sqlite_template, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    _seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def demo_pg_template(pg_template) -> Iterator[str]:
    name = f"fundapp_demo_{_worker()}"
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    _seed(make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False))
    yield name
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seeded_database(request, tmp_path) -> Iterator[str]:
    """The body of a module's own `database` fixture: like the suite's, with the demo fund and
    SEED_EMAIL's user already in it. Use it as

        @pytest.fixture
        def database(request, tmp_path):
            yield from seeded_database(request, tmp_path)
    """
    with stub_pdfs():
        if request.param == "sqlite":
            path = tmp_path / "test.sqlite3"
            shutil.copyfile(request.getfixturevalue("demo_sqlite_template"), path)
            yield f"sqlite:///{path}"
            return
        template = request.getfixturevalue("demo_pg_template")
        name = f"fundapp_t_{_worker()}_{uuid.uuid4().hex[:10]}"
        with _pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
