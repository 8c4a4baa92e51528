"""`fundapp backup` and `fundapp restore` (issue 7): a restored database holds the same ledger and
passes `fundapp ledger verify`, on SQLite and PostgreSQL; wrong files and missing tools are
refused with a clear message."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from fundapp.app import create_app
from fundapp.compliance.models import LedgerHead
from fundapp.extensions import db
from tests import conftest
from tests.conftest import make_config, make_user

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def empty_target(database, tmp_path) -> Iterator[str]:
    """A second, fully migrated database of the same kind, to restore into."""
    if database.startswith("sqlite"):
        path = tmp_path / "target.sqlite3"
        shutil.copyfile(make_url(database).database, path)  # a fresh copy before any data
        yield f"sqlite:///{path}"
        return
    name = f"fundapp_t_{conftest._worker()}_{uuid.uuid4().hex[:10]}"
    with conftest._pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(conftest.pg_admin_url()).set(database=name).render_as_string(
        hide_password=False)
    with conftest._pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_then_restore_passes_ledger_verify(app, empty_target, tmp_path):
    for i in range(5):
        make_user(f"user{i}@example.cn")
    head = db.session.execute(select(LedgerHead.seq, LedgerHead.hash)).one()
    backup = tmp_path / "fund.backup"

    made = app.test_cli_runner().invoke(args=["backup", str(backup)])
    assert made.exit_code == 0, made.output
    assert "backup written to" in made.output and backup.stat().st_size > 0
    again = app.test_cli_runner().invoke(args=["backup", str(backup)])
    assert again.exit_code == 1 and "already exists" in again.output

    target = create_app(make_config(empty_target))
    with target.app_context():
        runner = target.test_cli_runner()
        restored = runner.invoke(args=["restore", str(backup), "--yes"])
        assert restored.exit_code == 0, restored.output
        assert f"ledger ok: {head.seq} entries" in restored.output
        verified = runner.invoke(args=["ledger", "verify"])
        assert verified.exit_code == 0 and f"ledger ok: {head.seq} entries, head {head.hash}" \
            in verified.output
        # Restoring again over the now-full database replaces it rather than doubling it.
        twice = runner.invoke(args=["restore", str(backup), "--yes"])
        assert twice.exit_code == 0 and f"ledger ok: {head.seq} entries" in twice.output
        db.session.remove()
        db.engine.dispose()


def test_restore_refuses_a_file_of_the_wrong_kind(app, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    result = app.test_cli_runner().invoke(args=["restore", str(junk), "--yes"])
    assert result.exit_code == 1
    assert "is not an SQLite backup" in result.output or "not a pg_dump archive" in result.output
    missing = app.test_cli_runner().invoke(args=["restore", str(tmp_path / "nope"), "--yes"])
    assert missing.exit_code == 1 and "no such backup file" in missing.output


def test_missing_postgres_tools_are_named(monkeypatch, tmp_path):
    from fundapp.compliance import backup

    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    with pytest.raises(backup.BackupError, match="pg_dump is not installed"):
        backup.backup_database("postgresql+psycopg://u:secret@db.invalid/fund",
                               tmp_path / "x.dump")
    assert not (tmp_path / "x.dump.part").exists()
