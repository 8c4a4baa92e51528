"""The migrations build exactly the schema the models describe, from empty, on both databases,
and can be undone and redone."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from fundapp.app import MIGRATIONS_DIR, create_app
from fundapp.compliance.ledger import record, verify_chain
from fundapp.db import Base
from fundapp.extensions import db
from tests import conftest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path) -> Iterator:
    """An app on a database with no tables at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        name = None
    else:
        if conftest._PG_PROBLEM is not None:
            if conftest.REQUIRE_PG:
                pytest.fail(conftest._PG_PROBLEM)
            pytest.skip(conftest._PG_PROBLEM)
        name = f"fundapp_t_{conftest._worker()}_{uuid.uuid4().hex[:10]}"
        with conftest._pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(conftest.pg_admin_url()).set(database=name).render_as_string(
            hide_password=False)
    app = create_app(conftest.make_config(url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    if name is not None:
        with conftest._pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_diff() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def assert_ledger_refuses_update() -> None:
    record(db.session, actor="test", action="test.migrated", subject_type="test")
    db.session.commit()
    db.session.remove()
    with db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE ledger_entries SET actor = 'x'"))


def test_migrations_have_a_single_head():
    # `fundapp db upgrade` goes to "head": with two heads it refuses to run at all.
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    assert len(heads) == 1, f"migration heads {heads}: chain the newer one onto the other"


def test_migrations_never_import_the_app():
    # A migration must keep working after the models it was written against have changed.
    offenders = [path.name for path in Path(MIGRATIONS_DIR, "versions").glob("*.py")
                 if re.search(r"^\s*(from|import)\s+fundapp\b", path.read_text(), re.M)]
    assert offenders == []


def test_upgrade_from_empty_matches_the_models(empty_app):
    assert tables() == set()

    upgrade(revision="heads")

    assert {t.name for t in Base.metadata.sorted_tables} <= tables()
    assert schema_diff() == []
    assert_ledger_refuses_update()


def test_downgrade_to_base_and_upgrade_again(empty_app):
    upgrade(revision="heads")
    downgrade(revision="base")

    assert tables() <= {"alembic_version"}

    upgrade(revision="heads")

    assert schema_diff() == []
    assert_ledger_refuses_update()
    result = verify_chain(db.session)  # the ledger head was seeded again: the chain starts at 1
    assert (result.ok, result.count) == (True, 1)
