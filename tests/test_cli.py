"""The `fundapp` console script: users, the demo fund, ledger verification and migrations."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fundapp.auth.models import Role, User
from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.fund.models import Fund
from tests.conftest import make_user, tamper

pytestmark = pytest.mark.timeout(120)

FUNDAPP = Path(sys.executable).with_name("fundapp")
PASSWORD = "a-long-enough-password"


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def users_by_email() -> dict[str, set[str]]:
    db.session.expire_all()
    return {u.email: {r.value for r in u.roles} for u in db.session.scalars(select(User))}


def ledger_actions() -> list[str]:
    return list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.seq)))


def create(cli, *args: str, password: str = PASSWORD):
    return cli.invoke(args=["users", "create", *args, "--password-stdin"], input=password + "\n")


# --- users create -------------------------------------------------------------------------------

def test_users_create_reads_the_password_from_stdin(cli):
    from fundapp.auth.operations import check_password

    result = create(cli, "--email", "Chen@Example.cn", "--role", "fund_manager",
                    "--role", "ic_member", "--name", "陈经理")

    assert result.exit_code == 0, result.output
    assert "created user chen@example.cn (fund_manager, ic_member)" in result.output
    assert users_by_email() == {"chen@example.cn": {"fund_manager", "ic_member"}}
    user = db.session.scalar(select(User))
    assert user.name == "陈经理"
    assert check_password(user, PASSWORD)
    entry = db.session.scalar(select(LedgerEntry))
    assert (entry.action, entry.actor, entry.subject_id) == ("user.created", "cli", str(user.id))
    assert json.loads(entry.payload)["roles"] == ["fund_manager", "ic_member"]


def test_users_create_asks_for_the_password_twice(cli):
    from fundapp.auth.operations import check_password

    result = cli.invoke(args=["users", "create", "--email", "a@example.cn", "--role", "admin"],
                        input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password" in result.output and PASSWORD not in result.output
    assert check_password(db.session.scalar(select(User)), PASSWORD)


@pytest.mark.parametrize("args, password, message", [
    (("--email", "a@example.cn", "--role", "boss"), PASSWORD, "Unknown role"),
    (("--email", "a@example.cn", "--role", "admin", "--role", "boss"), PASSWORD, "Unknown role"),
    (("--email", "a@example.cn", "--role", "admin"), "short", "too short"),
    (("--email", "not-an-address", "--role", "admin"), PASSWORD, "valid e-mail"),
])
def test_users_create_refuses_bad_input_and_writes_nothing(cli, args, password, message):
    result = create(cli, *args, password=password)

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert users_by_email() == {}
    assert ledger_actions() == []


def test_unknown_role_error_lists_the_roles_there_are(cli):
    result = create(cli, "--email", "a@example.cn", "--role", "boss")

    for role in Role:
        assert role.value in result.output


def test_users_create_refuses_a_duplicate_email(cli):
    make_user("taken@example.cn", roles=("auditor",))

    result = create(cli, "--email", "TAKEN@example.cn", "--role", "admin")

    assert result.exit_code != 0
    assert "already exists" in result.output
    assert users_by_email() == {"taken@example.cn": {"auditor"}}
    assert ledger_actions() == ["user.created"]


# --- demo load ---------------------------------------------------------------------------------

def test_demo_load_creates_the_fund_and_a_user_of_every_role(cli):
    result = cli.invoke(args=["demo", "load", "--if-empty"])

    assert result.exit_code == 0, result.output
    [fund] = db.session.scalars(select(Fund)).all()
    assert fund.committed_amount == Decimal("500000000.00")
    users = users_by_email()
    assert set().union(*users.values()) == {r.value for r in Role}
    assert all(email in result.output for email in users)
    actions = ledger_actions()
    assert actions[0] == "fund.created"
    assert actions.count("user.created") == len(users)
    fund_entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.seq == 1))
    assert json.loads(fund_entry.payload)["committed_amount"] == "500000000.00"

    again = cli.invoke(args=["demo", "load", "--if-empty"])

    assert again.exit_code == 0, again.output
    assert "nothing loaded" in again.output
    assert db.session.scalar(select(func.count()).select_from(Fund)) == 1
    assert users_by_email() == users
    assert ledger_actions() == actions


# --- ledger verify -----------------------------------------------------------------------------

def test_ledger_verify_reports_ok_then_names_the_tampered_entry(cli):
    for n in range(3):
        make_user(f"u{n}@example.cn")

    ok = cli.invoke(args=["ledger", "verify"])

    assert ok.exit_code == 0, ok.output
    assert "ledger ok: 3 entries" in ok.output

    tamper("UPDATE ledger_entries SET actor = 'someone else' WHERE seq = 2")

    broken = cli.invoke(args=["ledger", "verify"])

    assert broken.exit_code == 1
    assert "BROKEN at entry 2" in broken.output
    assert "ledger ok" not in broken.output


# --- the installed console script ---------------------------------------------------------------

def run_fundapp(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(FUNDAPP), *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=60)


def test_console_script_migrates_an_empty_database_and_is_idempotent(tmp_path):
    from alembic.script import ScriptDirectory

    from fundapp.app import MIGRATIONS_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAPP_")}
    env["FUNDAPP_INSTANCE_DIR"] = str(tmp_path)
    database = tmp_path / "fundapp.sqlite3"
    heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())

    first = run_fundapp(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    second = run_fundapp(env, "db", "upgrade")
    assert second.returncode == 0, second.stderr

    with sqlite3.connect(database) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        triggers = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'")}
        versions = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    assert {"users", "user_roles", "funds", "ledger_entries", "ledger_heads",
            "job_runs"} <= tables
    assert {"ledger_entries_no_update", "ledger_entries_no_delete"} <= triggers
    assert versions == heads

    # The migrated database is one the other commands work on.
    created = run_fundapp(env, "users", "create", "--email", "ops@example.cn", "--role", "admin",
                          "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    verified = run_fundapp(env, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "ledger ok: 1 entries" in verified.stdout
