"""Keys as configuration and key rotation (issue 16).

On PostgreSQL the app refuses to start without FUNDAPP_SECRET_KEY and the ledger signing key and
says what to set; the SQLite default still makes its own. A new signing key is registered with a
first day; exports made before keep verifying with the key of their day, and every public key is
published with its fingerprint and validity.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from fundapp.compliance.keys_cli import keys
from fundapp.compliance.models import LedgerEntry
from fundapp.compliance.signing import fingerprint, generate_pem, read_public_key
from fundapp.compliance.verify_export import verify_export
from fundapp.extensions import db
from tests.compliance.helpers import add_entries, today_shanghai
from tests.conftest import login, make_user
from tests.isolation import isolated_client

pytestmark = pytest.mark.timeout(90)

PG_URL = "postgresql://fundapp@127.0.0.1:5432/fundapp"
KEY_VARS = ("FUNDAPP_SECRET_KEY", "FUNDAPP_LEDGER_SIGNING_KEY", "FUNDAPP_LEDGER_SIGNING_KEY_PEM")


@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(path))
    for name in KEY_VARS[1:]:
        monkeypatch.delenv(name, raising=False)
    return path


def new_key(path: Path) -> Path:
    result = CliRunner().invoke(keys, ["generate", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def fingerprint_of(path: Path) -> str:
    return fingerprint(read_public_key(path.read_bytes(), str(path)))


# --------------------------------------------------------------------------- keys as configuration


def test_on_postgresql_the_app_refuses_to_start_without_keys_and_says_what_to_set(
        monkeypatch, instance, tmp_path):
    from fundapp.app import create_app
    from fundapp.config import ConfigurationError

    monkeypatch.setenv("FUNDAPP_DATABASE_URL", PG_URL)
    monkeypatch.delenv("FUNDAPP_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    message = str(refused.value)
    assert "FUNDAPP_SECRET_KEY" in message and "FUNDAPP_LEDGER_SIGNING_KEY_PEM" in message
    assert "fundapp keys generate" in message and "docs/setup.md" in message
    assert list(instance.iterdir()) == []  # nothing generated behind the operator's back

    monkeypatch.setenv("FUNDAPP_SECRET_KEY", "one-secret-for-every-host")
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert "Missing: the ledger signing key" in str(refused.value)

    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert "missing.pem, which does not exist" in str(refused.value)

    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(new_key(tmp_path / "ledger.pem")))
    assert create_app().config["SECRET_KEY"] == "one-secret-for-every-host"
    monkeypatch.delenv("FUNDAPP_LEDGER_SIGNING_KEY")
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY_PEM", generate_pem().decode())
    assert create_app() is not None
    assert list(instance.iterdir()) == []


def test_the_fundapp_command_prints_the_message_not_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update(FUNDAPP_DATABASE_URL=PG_URL, FUNDAPP_INSTANCE_DIR=str(tmp_path))
    fundapp = str(Path(sys.executable).with_name("fundapp"))
    refused = subprocess.run([fundapp, "users", "create", "--email", "a@example.cn", "--role",
                              "admin"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "fundapp refuses to start" in refused.stderr and "Traceback" not in refused.stderr
    # The key the message asks for can be made without a working configuration.
    made = subprocess.run([fundapp, "keys", "generate", "--out", str(tmp_path / "k.pem")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert fingerprint_of(tmp_path / "k.pem") in made.stdout


def test_the_sqlite_default_still_makes_its_own_keys(monkeypatch, instance):
    from fundapp.app import create_app
    from fundapp.compliance.signing import load_signing_key

    monkeypatch.delenv("FUNDAPP_DATABASE_URL", raising=False)
    monkeypatch.delenv("FUNDAPP_SECRET_KEY", raising=False)
    app = create_app()
    assert app.config["SECRET_KEY"] == (instance / "secret_key").read_text().strip()
    key = load_signing_key()
    assert stat.S_IMODE((instance / "ledger_signing_key.pem").stat().st_mode) == 0o600
    assert load_signing_key().fingerprint == key.fingerprint  # made once, then kept


def test_keys_generate_writes_a_private_file_and_never_overwrites(tmp_path):
    runner = CliRunner()
    made = runner.invoke(keys, ["generate", "--out", str(tmp_path / "k.pem")])
    assert made.exit_code == 0
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert f"fingerprint (sha256 of the raw public key): {fingerprint_of(tmp_path / 'k.pem')}" \
        in made.output
    before = (tmp_path / "k.pem").read_bytes()
    again = runner.invoke(keys, ["generate", "--out", str(tmp_path / "k.pem")])
    assert again.exit_code == 1 and "already exists" in again.output
    assert (tmp_path / "k.pem").read_bytes() == before
    printed = runner.invoke(keys, ["generate"])
    assert printed.exit_code == 0 and "-----BEGIN PRIVATE KEY-----" in printed.output


# --------------------------------------------------------------------------- rotation


def export_to(app, out: Path) -> dict:
    made = app.test_cli_runner().invoke(args=[
        "ledger", "export", "--from", "2020-01-01", "--to", today_shanghai().isoformat(),
        "--out", str(out)])
    assert made.exit_code == 0, made.output
    return json.loads((out / "manifest.json").read_text())


def test_after_rotation_old_exports_verify_with_the_key_of_their_day(app, client, tmp_path,
                                                                    monkeypatch):
    old, new = new_key(tmp_path / "old.pem"), new_key(tmp_path / "new.pem")
    old_print, new_print = fingerprint_of(old), fingerprint_of(new)
    # Every host is configured with both keys; until a key is registered, the first one signs.
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", f"{old}{os.pathsep}{new}")
    add_entries(4)
    before = export_to(app, tmp_path / "before")
    assert before["public_key_fingerprint"] == old_print

    cli = app.test_cli_runner()
    today = today_shanghai()
    past = cli.invoke(args=["keys", "add", "--pem", str(new), "--valid-from",
                            (today - timedelta(days=1)).isoformat()])
    assert past.exit_code == 1 and "that day is past" in past.output
    added = cli.invoke(args=["keys", "add", "--pem", str(new), "--valid-from", today.isoformat()])
    assert added.exit_code == 0, added.output
    assert new_print in added.output and "warning" not in added.output

    listed = client.get("/api/v1/ledger/public-keys")  # public: no sign-in
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert [(k["fingerprint"], k["current"]) for k in items] == [(new_print, True),
                                                                 (old_print, False)]
    assert items[0]["valid_from"].startswith(today.isoformat()[:4])
    assert items[0]["valid_until"] is None and items[1]["valid_until"] == items[0]["valid_from"]
    assert items[1]["valid_from"] < items[0]["valid_from"]
    assert client.get("/api/v1/ledger/public-key").get_json()["fingerprint"] == new_print

    # The export made before the rotation verifies with the old public key as published.
    (tmp_path / "old_pub.pem").write_text(items[1]["pem"])
    assert verify_export(tmp_path / "before", items[1]["pem"].encode(), None).ok
    assert not verify_export(tmp_path / "before", items[0]["pem"].encode(), None).ok
    checked = cli.invoke(args=["ledger", "verify-export", str(tmp_path / "before"),
                               "--public-key", str(tmp_path / "old_pub.pem")])
    assert checked.exit_code == 0 and "RESULT: VERIFIED" in checked.output
    # Given no key, the command pins the published key the export names (the key of its time).
    by_default = cli.invoke(args=["ledger", "verify-export", str(tmp_path / "before")])
    assert by_default.exit_code == 0 and "RESULT: VERIFIED" in by_default.output
    assert old_print in by_default.output
    # Exports made now are signed with the newest valid key.
    after = export_to(app, tmp_path / "after")
    assert after["public_key_fingerprint"] == new_print
    assert verify_export(tmp_path / "after", None, new_print).ok

    # Both registrations are in the ledger.
    added_entries = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "ledger.signing_key_added").order_by(LedgerEntry.seq)).all()
    assert [json.loads(e.payload)["fingerprint"] for e in added_entries] == [old_print, new_print]
    assert json.loads(added_entries[1].payload)["supersedes"] == old_print
    listing = cli.invoke(args=["keys", "list"])
    assert listing.exit_code == 0
    assert f"{new_print}  from {today.isoformat()}T" in listing.output
    assert listing.output.splitlines()[0].endswith("current")

    # Auditors see both keys with their validity on the exports page.
    make_user("auditor@example.cn", roles=("auditor",), locale="en")
    browser = isolated_client(app)
    assert login(browser, "auditor@example.cn").status_code == 302
    page = browser.get("/compliance/exports")
    assert page.status_code == 200
    table = page.get_data(as_text=True).split('data-testid="signing-keys"')[1].split("</table>")[0]
    assert old_print in table and new_print in table and "current" in table


def test_a_key_valid_from_a_later_day_waits_and_a_host_without_the_current_key_refuses(
        app, client, tmp_path, monkeypatch):
    first, later = new_key(tmp_path / "first.pem"), new_key(tmp_path / "later.pem")
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(first))
    add_entries(2)
    cli = app.test_cli_runner()
    tomorrow = (today_shanghai() + timedelta(days=1)).isoformat()
    (tmp_path / "later_pub.pem").write_text(
        read_public_key(later.read_bytes(), "later").public_bytes(
            *_public_format()).decode())
    added = cli.invoke(args=["keys", "add", "--pem", str(tmp_path / "later_pub.pem"),
                             "--valid-from", tomorrow])
    assert added.exit_code == 0, added.output
    assert "not configured with its private key yet" in added.output
    items = client.get("/api/v1/ledger/public-keys").get_json()["items"]
    assert [(k["fingerprint"], k["current"], k["valid_until"]) for k in items] == [
        (fingerprint_of(later), False, None),
        (fingerprint_of(first), True, f"{tomorrow}T00:00:00+08:00")]
    assert export_to(app, tmp_path / "today")["public_key_fingerprint"] == fingerprint_of(first)
    again = cli.invoke(args=["keys", "add", "--pem", str(later), "--valid-from", tomorrow])
    assert again.exit_code == 1 and "already registered" in again.output

    # A host configured with a key other than the registered current one refuses to sign.
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(later))
    refused = cli.invoke(args=["ledger", "export", "--from", "2020-01-01", "--to",
                               today_shanghai().isoformat(), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 1
    assert f"fingerprint {fingerprint_of(first)}) is not configured on this host" in refused.output


def _public_format():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
