"""Signed ledger exports (issue 7): what an auditor downloads verifies offline with the shipped
script; every kind of tampering is caught and the first bad entry named; spreadsheets cannot be
made to run formulas; an interrupted export leaves nothing that looks complete."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fundapp.compliance import exports as exports_module
from fundapp.compliance.ledger import entry_hash, record, verify_chain
from fundapp.compliance.models import LedgerEntry, LedgerExport, LedgerHead
from fundapp.compliance.verify_export import verify_export
from fundapp.extensions import db
from tests.compliance.helpers import (
    AWKWARD,
    ROOT,
    TOOL,
    add_entries,
    load_tool,
    today_shanghai,
    unpack,
)
from tests.conftest import api_token, login, make_user, run_tasks

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(path))
    monkeypatch.delenv("FUNDAPP_LEDGER_SIGNING_KEY", raising=False)
    return path


def auditor_token(client) -> dict[str, str]:
    make_user("auditor@example.cn", roles=("auditor",))
    return {"Authorization": f"Bearer {api_token(client, 'auditor@example.cn')}"}


def period(**extra) -> dict:
    return {"from": "2020-01-01", "to": today_shanghai().isoformat(), **extra}


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def queue_export(client, headers, body: dict) -> dict:
    """POST an export (queued: 202 and a task), run the worker; the export's API body."""
    queued = client.post("/api/v1/ledger/exports", json=body, headers=headers)
    assert queued.status_code == 202, queued.get_json()
    ran = run_tasks()
    assert [t.status for t in ran] == ["done"], ran
    task = client.get(queued.get_json()["links"]["self"], headers=headers).get_json()
    export = client.get(f"/api/v1/ledger/exports/{task['result']['export_id']}",
                        headers=headers)
    assert export.status_code == 200
    return export.get_json()


def make_export(client, headers, tmp_path: Path, **scope) -> tuple[dict, Path, Path]:
    """Queue an export, let the worker make it, download it; returns (API body, the ZIP, the
    public key file)."""
    body = queue_export(client, headers, period(**scope))
    download = client.get(body["download_url"], headers=headers)
    assert download.status_code == 200
    bundle = tmp_path / "export.zip"
    bundle.write_bytes(download.data)
    key = client.get("/api/v1/ledger/public-key").get_json()
    key_file = tmp_path / "fund_public_key.pem"
    key_file.write_text(key["pem"])
    return body, bundle, key_file


def test_auditor_exports_and_the_standalone_script_verifies_it(app, client, tmp_path):
    add_entries(12)
    headers = auditor_token(client)  # signs in: one more entry (auth.token...)
    head = db.session.execute(select(LedgerHead.seq, LedgerHead.hash)).one()
    first = db.session.scalar(select(LedgerEntry).where(LedgerEntry.seq == 1))

    body, bundle, key_file = make_export(client, headers, tmp_path)

    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert names[-2:] == ["manifest.json", "manifest.sig"]  # the manifest is written last
    assert {"entries.csv", "entries.xlsx", "entries.jsonl"} <= set(names)
    assert (manifest["first_seq"], manifest["last_seq"]) == (1, head.seq)
    assert manifest["chain_hash_before"] == first.prev_hash == "0" * 64
    assert manifest["chain_hash_after"] == head.hash
    # Anchored to the genesis value before; the period ends at the ledger's head, nothing after.
    assert manifest["anchor_before"] == {"seq": 0, "hash": "0" * 64}
    assert manifest["anchor_after"] is None
    assert manifest["counts"]["entries"] == head.seq == body["entry_count"]
    assert body["chain_hash_after"] == head.hash

    result = run_tool(bundle, "--public-key", key_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: VERIFIED" in result.stdout
    assert f"chain: OK ({head.seq} entries)" in result.stdout
    fingerprint = client.get("/api/v1/ledger/public-key").get_json()["fingerprint"]
    assert body["key_fingerprint"] == fingerprint
    pinned = run_tool(bundle, "--fingerprint", fingerprint)
    assert pinned.returncode == 0 and "RESULT: VERIFIED" in pinned.stdout

    # The export is recorded, and itself ledgered; the chain is still whole.
    listed = client.get("/api/v1/ledger/exports", headers=headers).get_json()
    assert [e["id"] for e in listed["items"]] == [body["id"]]
    assert listed["items"][0]["created_by"] == "auditor@example.cn"
    entry = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "ledger.exported")).one()
    assert json.loads(entry.payload)["manifest_sha256"] == body["manifest_sha256"]
    assert verify_chain(db.session).ok


def test_csv_and_xlsx_neutralise_formulas_while_jsonl_keeps_exact_values(app, client, tmp_path):
    from openpyxl import load_workbook

    add_entries(len(AWKWARD) * 2)
    headers = auditor_token(client)
    _, bundle, _ = make_export(client, headers, tmp_path)
    folder = unpack(bundle, tmp_path / "x")

    exact = [json.loads(line) for line in (folder / "entries.jsonl").read_text().splitlines()]
    with (folder / "entries.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sheet = load_workbook(folder / "entries.xlsx", read_only=True)["entries"]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(exact) == len(rows) == len(cells)
    seen = set()
    for entry, row, cell_row in zip(exact, rows, cells, strict=True):
        for column, index in (("actor", 2), ("subject_id", 5)):
            value = entry[column]
            if value.startswith(("=", "+", "-", "@", "\t", "\r", "'")):
                assert row[column] == "'" + value
                assert cell_row[index].startswith("'")
                seen.add(value[0])
            else:
                assert row[column] == value  # commas, quotes, newlines and Chinese round-trip
                assert cell_row[index] == value
    assert seen == {"=", "+", "-", "@", "\t", "\r", "'"}
    assert any("\n" in e["subject_id"] for e in exact)
    # JSONL keeps the exact recorded text, so its hashes recompute.
    for entry in exact:
        fields = {k: entry[k] for k in ("seq", "recorded_at", "actor", "action", "subject_type",
                                        "subject_id", "payload", "prev_hash")}
        assert entry_hash(**fields) == entry["hash"]
    # No cell of the workbook is a formula.
    workbook = load_workbook(folder / "entries.xlsx")
    assert all(c.data_type != "f" for row in workbook["entries"].iter_rows() for c in row)


def tamper_changed_byte(folder: Path) -> int:
    lines = (folder / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"i\\":4', b'"i\\":5')  # entry 5's payload, one byte
    (folder / "entries.jsonl").write_bytes(b"".join(lines))
    return 5


def tamper_deleted(folder: Path) -> int:
    lines = (folder / "entries.jsonl").read_bytes().splitlines(keepends=True)
    del lines[6]
    (folder / "entries.jsonl").write_bytes(b"".join(lines))
    return 7


def tamper_swapped(folder: Path) -> int:
    lines = (folder / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    (folder / "entries.jsonl").write_bytes(b"".join(lines))
    return 3


def tamper_truncated(folder: Path) -> int:
    lines = (folder / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "entries.jsonl").write_bytes(b"".join(lines[:-3]))
    return len(lines) - 2


def tamper_forged(folder: Path) -> int:
    """Change entry 4, recompute every hash after it and the manifest: only the key is missing."""
    import hashlib

    lines = [json.loads(line) for line in (folder / "entries.jsonl").read_text().splitlines()]
    prev = lines[2]["hash"]
    for entry in lines[3:]:
        if entry["seq"] == 4:
            entry["payload"] = entry["payload"].replace('"i":3', '"i":999')
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(**{k: entry[k] for k in (
            "seq", "recorded_at", "actor", "action", "subject_type", "subject_id", "payload",
            "prev_hash")})
        prev = entry["hash"]
    text = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                   + "\n" for e in lines)
    (folder / "entries.jsonl").write_text(text)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["chain_hash_after"] = prev
    manifest["files"]["entries.jsonl"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return 4


@pytest.mark.parametrize("tamper, reason", [
    (tamper_changed_byte, "content does not match its hash"),
    (tamper_deleted, "missing or out of order"),
    (tamper_swapped, "missing or out of order"),
    (tamper_truncated, "the tail was cut off"),
    (tamper_forged, "entries.csv differs from entries.jsonl"),
], ids=["changed-byte", "deleted", "swapped", "truncated-tail", "forged-rehashed"])
def test_verifier_names_the_first_bad_entry(app, client, tmp_path, tamper, reason):
    add_entries(10)
    headers = auditor_token(client)
    _, bundle, key_file = make_export(client, headers, tmp_path)
    folder = unpack(bundle, tmp_path / "tampered")
    assert run_tool(folder, "--public-key", key_file).returncode == 0

    bad = tamper(folder)

    result = run_tool(folder, "--public-key", key_file)
    assert result.returncode == 1, result.stdout
    assert f"RESULT: FAILED; first bad entry: {bad}" in result.stdout
    assert reason in result.stdout
    if tamper is tamper_forged:
        assert "signature: FAILED" in result.stdout
        assert "chain: OK" in result.stdout  # the forger's chain is consistent; the key is not
    else:
        assert "sha256 MISMATCH" in result.stdout
    # The app's own command reaches the same verdict.
    cli = app.test_cli_runner().invoke(args=["ledger", "verify-export", str(folder),
                                             "--public-key", str(key_file)])
    assert cli.exit_code == 1
    assert f"first bad entry: {bad}" in cli.output


def resign_with_another_key(folder: Path) -> str:
    """Re-sign the bundle's manifest with a key of the forger's own, put in public_key.pem."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from fundapp.compliance.signing import fingerprint

    forger = Ed25519PrivateKey.generate()
    (folder / "manifest.sig").write_bytes(forger.sign((folder / "manifest.json").read_bytes()))
    (folder / "public_key.pem").write_bytes(forger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return fingerprint(forger.public_key())


def test_a_re_signed_forgery_fails_when_the_key_is_pinned(app, client, tmp_path):
    add_entries(10)
    headers = auditor_token(client)
    _, bundle, key_file = make_export(client, headers, tmp_path)
    fund_fingerprint = client.get("/api/v1/ledger/public-key").get_json()["fingerprint"]
    folder = unpack(bundle, tmp_path / "forged")
    tamper_forged(folder)  # entry 4 changed, the chain and the manifest recomputed...
    # ...and entries.csv rewritten to match, so that only the key can tell.
    with (folder / "entries.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(load_tool_cached().CSV_COLUMNS)
        for line in (folder / "entries.jsonl").read_text().splitlines():
            entry = json.loads(line)
            writer.writerow([entry["seq"], *(load_tool_cached().neutralise(str(entry.get(k, "")))
                                             for k in load_tool_cached().CSV_COLUMNS[1:])])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["entries.csv"]["sha256"] = hashlib.sha256(
        (folder / "entries.csv").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    forger_fingerprint = resign_with_another_key(folder)

    # Pinned by the fund's key file or by its published fingerprint: refused.
    with_key = run_tool(folder, "--public-key", key_file)
    assert with_key.returncode == 1, with_key.stdout
    assert "signature: FAILED" in with_key.stdout and "RESULT: FAILED" in with_key.stdout
    with_fingerprint = run_tool(folder, "--fingerprint", fund_fingerprint)
    assert with_fingerprint.returncode == 1, with_fingerprint.stdout
    assert f"the key {forger_fingerprint} is not the pinned key {fund_fingerprint}" in \
        with_fingerprint.stdout
    assert "RESULT: VERIFIED" not in with_key.stdout + with_fingerprint.stdout
    # Not pinned: every check passes with the forger's key, yet it never says VERIFIED; it shows
    # the forger's fingerprint and says what to compare it with.
    alone = run_tool(folder)
    assert alone.returncode == 3, alone.stdout
    assert "chain: OK" in alone.stdout and "signature: OK" in alone.stdout
    assert "RESULT: NOT VERIFIED: the public key is not pinned" in alone.stdout
    assert "RESULT: VERIFIED" not in alone.stdout
    assert forger_fingerprint in alone.stdout and fund_fingerprint not in alone.stdout
    assert "fund's published fingerprint" in alone.stdout and "--fingerprint" in alone.stdout
    # The app's command pins this installation's key, or the fingerprint given.
    runner = app.test_cli_runner()
    cli = runner.invoke(args=["ledger", "verify-export", str(folder)])
    assert cli.exit_code == 1 and "signature: FAILED" in cli.output
    cli = runner.invoke(args=["ledger", "verify-export", str(folder), "--fingerprint",
                              fund_fingerprint])
    assert cli.exit_code == 1 and "is not the pinned key" in cli.output


def test_the_genuine_export_is_verified_only_once_pinned(app, client, tmp_path):
    add_entries(4)
    headers = auditor_token(client)
    _, bundle, _ = make_export(client, headers, tmp_path)
    fund_fingerprint = client.get("/api/v1/ledger/public-key").get_json()["fingerprint"]

    alone = run_tool(bundle)
    assert alone.returncode == 3
    assert "RESULT: NOT VERIFIED: the public key is not pinned" in alone.stdout
    assert f"compare the bundle key's fingerprint {fund_fingerprint}" in alone.stdout
    # A fingerprint as people copy it (upper case, in pairs) pins the key too.
    spaced = ":".join(fund_fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
    pinned = run_tool(bundle, "--fingerprint", spaced)
    assert pinned.returncode == 0 and "RESULT: VERIFIED" in pinned.stdout
    assert "pinned with --fingerprint" in pinned.stdout
    wrong = run_tool(bundle, "--fingerprint", "ab" * 32)
    assert wrong.returncode == 1 and "is not the pinned key" in wrong.stdout
    garbage = run_tool(bundle, "--fingerprint", "not-a-fingerprint")
    assert garbage.returncode == 2 and "is not a key fingerprint" in garbage.stderr


def test_scoped_export_shows_only_its_entries_and_keeps_the_chain_whole(app, client, tmp_path):
    add_entries(3, action="auth.login")
    add_entries(4, action="deal.moved", subject_type="deal")
    add_entries(2, action="auth.login")
    headers = auditor_token(client)

    body, bundle, key_file = make_export(client, headers, tmp_path, scope="action",
                                         value="deal.")

    folder = unpack(bundle, tmp_path / "scoped")
    with (folder / "entries.csv").open(encoding="utf-8-sig", newline="") as fh:
        actions = [row["action"] for row in csv.DictReader(fh)]
    assert actions == ["deal.moved"] * 4
    lines = [json.loads(x) for x in (folder / "entries.jsonl").read_text().splitlines()]
    assert [x["seq"] for x in lines] == [4, 5, 6, 7]
    assert body["entry_count"] == 4 and (body["first_seq"], body["last_seq"]) == (4, 7)
    assert run_tool(bundle, "--public-key", key_file).returncode == 0

    by_subject = queue_export(client, headers, period(scope="subject_type", value="test"))
    assert by_subject["entry_count"] == 5  # the auth.login entries
    assert by_subject["chain_count"] == by_subject["last_seq"] - by_subject["first_seq"] + 1
    assert by_subject["chain_count"] > 5  # deal entries in between are hash-only lines


def test_period_is_in_shanghai_days_and_ledger_api_filters_by_it(app, client, tmp_path):
    # 2026-03-31 23:30 in Shanghai is 15:30 UTC; it belongs to March 31, not April 1.
    add_entries(2, at=datetime(2026, 3, 31, 15, 30, tzinfo=UTC))
    add_entries(3, at=datetime(2026, 3, 31, 16, 30, tzinfo=UTC))  # 1 April, 00:30 Shanghai
    headers = auditor_token(client)

    march = queue_export(client, headers, {"from": "2026-03-01", "to": "2026-03-31"})
    april = queue_export(client, headers, {"from": "2026-04-01", "to": "2026-04-30"})
    assert (march["first_seq"], march["last_seq"]) == (1, 2)
    assert (april["first_seq"], april["last_seq"]) == (3, 5)

    page = client.get("/api/v1/ledger?from=2026-04-01&to=2026-04-01", headers=headers)
    assert sorted(e["seq"] for e in page.get_json()["items"]) == [3, 4, 5]
    bad = client.get("/api/v1/ledger?from=2026-04-31", headers=headers)
    assert bad.status_code == 422 and "from" in bad.get_json()["error"]["details"]
    reversed_ = client.get("/api/v1/ledger?from=2026-04-02&to=2026-04-01", headers=headers)
    assert reversed_.status_code == 422 and "to" in reversed_.get_json()["error"]["details"]


@pytest.mark.parametrize("body, field", [
    ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
    ({"from": "2026-04-01", "to": "2026-05-01", "scope": "everything"}, "scope"),
    ({"from": "2026-04-01", "to": "2026-05-01", "scope": "action"}, "value"),
    ({"from": "2026-04-01", "to": "2026-05-01", "scope": "action", "value": "d" * 81}, "value"),
    ({"from": "yesterday", "to": "2026-05-01"}, "from"),
    ({"to": "2026-05-01"}, "from"),
    ({"from": "2001-01-01", "to": "2001-12-31"}, "from"),  # no entries in that period
])
def test_bad_export_requests_name_the_field(app, client, body, field):
    add_entries(2)
    headers = auditor_token(client)
    response = client.post("/api/v1/ledger/exports", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]
    assert db.session.scalar(select(LedgerExport.id)) is None


def test_verify_export_refuses_a_corrupt_upload_clearly(app, tmp_path):
    garbage = tmp_path / "upload.zip"
    garbage.write_bytes(os.urandom(2000))
    cli = app.test_cli_runner().invoke(args=["ledger", "verify-export", str(garbage)])
    assert cli.exit_code == 1 and "cannot verify" in cli.output and "not a ZIP" in cli.output
    assert "Traceback" not in cli.output
    tool = run_tool(garbage)
    assert tool.returncode == 2 and "not a ZIP export bundle" in tool.stderr
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("entries.jsonl", "")
    tool = run_tool(empty_zip)
    assert tool.returncode == 2 and "no manifest.json" in tool.stderr


def test_an_interrupted_export_leaves_no_file_that_looks_complete(app, client, instance,
                                                                  monkeypatch, tmp_path):
    add_entries(30)
    make_user("auditor@example.cn", roles=("auditor",))
    real = exports_module.fetch_batches
    entries_before = db.session.scalar(select(LedgerHead.seq))
    spool = tmp_path / "spool"  # where the workbook's anonymous spool file would be
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setattr(exports_module, "EXPORT_BATCH", 7)
    progress = []

    def dies_half_way(*args, **kwargs):
        for count, rows in enumerate(real(*args, **kwargs)):
            if count == 2:
                raise KeyboardInterrupt  # Ctrl-C, or the worker killed, mid-export
            yield rows

    monkeypatch.setattr(exports_module, "fetch_batches", dies_half_way)
    scope = exports_module.ExportScope(date(2020, 1, 1), today_shanghai())
    with pytest.raises(KeyboardInterrupt):
        exports_module.create_export(db.session, scope, actor="auditor@example.cn",
                                     progress=lambda done, total: progress.append((done, total)))
    db.session.rollback()

    assert progress == [(7, 31), (14, 31)]  # reported page by page until it died
    assert list(spool.iterdir()) == [] and not (instance / "ledger_exports").exists()
    assert db.session.scalar(select(LedgerExport.id)) is None
    assert db.session.scalar(select(LedgerHead.seq)) == entries_before


def test_public_key_is_published_and_the_private_key_kept_private(app, client, instance):
    response = client.get("/api/v1/ledger/public-key")  # no sign-in needed: it is public
    assert response.status_code == 200
    body = response.get_json()
    assert body["algorithm"] == "Ed25519" and body["pem"].startswith("-----BEGIN PUBLIC KEY")
    key_file = instance / "ledger_signing_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cli = app.test_cli_runner().invoke(args=["ledger", "public-key"])
    assert cli.exit_code == 0
    assert body["pem"] in cli.output and body["fingerprint"] in cli.output


def test_signing_key_from_the_environment(app, client, tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "ops_key.pem"
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(path))
    pem = client.get("/api/v1/ledger/public-key").get_json()["pem"]
    expected = serialization.load_pem_private_key(path.read_bytes(), None).public_key()
    assert pem == expected.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    monkeypatch.setenv("FUNDAPP_LEDGER_SIGNING_KEY", str(tmp_path / "missing.pem"))
    cli = app.test_cli_runner().invoke(args=["ledger", "public-key"])
    assert cli.exit_code == 1 and "does not exist" in cli.output


def test_cli_export_to_a_directory_verifies(app, tmp_path):
    add_entries(5)
    out = tmp_path / "for-the-cpa"
    runner = app.test_cli_runner()
    made = runner.invoke(args=["ledger", "export", "--from", "2020-01-01", "--to",
                               today_shanghai().isoformat(), "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt", "entries.csv", "entries.jsonl", "entries.xlsx", "manifest.json",
        "manifest.sig", "public_key.pem"]
    from fundapp.compliance.signing import load_signing_key

    assert f"--fingerprint {load_signing_key().fingerprint}" in made.output
    checked = runner.invoke(args=["ledger", "verify-export", str(out)])
    assert checked.exit_code == 0 and "RESULT: VERIFIED" in checked.output
    wrong = runner.invoke(args=["ledger", "export", "--from", "2026-02-01", "--to", "2026-01-01"])
    assert wrong.exit_code == 1 and "to: The end date is before the start date." in wrong.output


def test_export_page_for_auditors_links_the_verifier(app, client):
    add_entries(3)
    make_user("auditor@example.cn", roles=("auditor",))
    make_user("ic@example.cn", roles=("ic_member",))
    login(client, "auditor@example.cn")
    page = client.get("/compliance/exports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "verify_ledger_export.py" in html
    # The fund's fingerprint is where the auditor gets the export: something to pin and compare.
    assert client.get("/api/v1/ledger/public-key").get_json()["fingerprint"] in html
    script = client.get("/compliance/exports/verify_ledger_export.py")
    assert script.status_code == 200 and script.data == TOOL.read_bytes()

    from tests.conftest import csrf_from

    english = {"Accept-Language": "en"}
    bad = client.post("/compliance/exports", headers=english, data={
        "csrf_token": csrf_from(html), "from": "2026-05-01", "to": "2026-04-01", "scope": "all"})
    assert bad.status_code == 422
    assert "The end date is before the start date." in bad.get_data(as_text=True)
    long_value = client.post("/compliance/exports", headers=english, data={
        "csrf_token": csrf_from(html), "from": "2026-04-01", "to": "2026-05-01",
        "scope": "action", "value": "d" * 81})
    assert long_value.status_code == 422
    assert 'value="' + "d" * 81 + '"' in long_value.get_data(as_text=True)
    assert "Longer than maximum length 80." in long_value.get_data(as_text=True)
    made = client.post("/compliance/exports", headers=english, data={
        "csrf_token": csrf_from(html), "from": "2020-01-01",
        "to": today_shanghai().isoformat(), "scope": "all"}, follow_redirects=True)
    assert made.status_code == 200
    assert [t.status for t in run_tasks()] == ["done"]  # the worker makes it
    export_id = db.session.scalar(select(LedgerExport.id))
    download = client.get(f"/compliance/exports/{export_id}/download")
    assert download.status_code == 200 and download.data[:2] == b"PK"

    other = app.test_client()
    login(other, "ic@example.cn")
    assert other.get("/compliance/exports").status_code == 403
    assert other.get(f"/compliance/exports/{export_id}/download").status_code == 403


def test_openapi_describes_the_export_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    assert "post" in spec["paths"]["/api/v1/ledger/exports"]
    assert "/api/v1/ledger/exports/{export_id}/download" in spec["paths"]
    assert "/api/v1/compliance/checks" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/v1/ledger"]["get"]["parameters"]}
    assert {"from", "to"} <= params


def test_the_shipped_script_is_the_apps_verifier_byte_for_byte():
    # tools/verify_ledger_export.py is a link to the app's module: one source, two names.
    app_copy = ROOT / "fundapp" / "compliance" / "verify_export.py"
    assert TOOL.read_bytes() == app_copy.read_bytes()
    assert not re.search(r"^\s*(import|from)\s+fundapp", TOOL.read_text(), re.MULTILINE)


text = st.text(max_size=30)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(min_value=1, max_value=10**12), recorded_at=text, actor=text,
       action=text, subject_type=text, subject_id=text, payload=text, prev_hash=text)
def test_the_standalone_script_hashes_entries_exactly_like_the_app(**fields):
    assert load_tool_cached().entry_hash(**fields) == entry_hash(**fields)


_TOOL = []


def load_tool_cached():
    if not _TOOL:
        _TOOL.append(load_tool())
    return _TOOL[0]


def test_neutralising_is_undone_exactly():
    tool = load_tool_cached()
    for value in [*AWKWARD, "", "'", "''=", "=", "normal"]:
        assert tool.unneutralise(tool.neutralise(value)) == value
        assert not tool.neutralise(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_a_million_rows_never_load_at_once(app, monkeypatch, tmp_path):
    """The export reads keyset pages: with a page of 7 rows, 30 entries come in 5 pages, once to
    make the export and once per entries file to download it."""
    add_entries(30)
    pages = []
    real = exports_module.fetch_batches

    def counting(session, first, last, batch=None):
        for rows in real(session, first, last, 7):
            pages.append(len(rows))
            yield rows

    monkeypatch.setattr(exports_module, "fetch_batches", counting)
    assert "LIMIT" in exports_module._SELECT
    result = exports_module.create_export(
        db.session, exports_module.ExportScope(date(2020, 1, 1), today_shanghai()),
        actor="test", destination=tmp_path / "paged.zip")
    assert result.export.chain_count == 30
    assert pages == [7, 7, 7, 7, 2] * 4  # made once, then rebuilt: jsonl, csv, xlsx
    assert verify_export(result.path, fingerprint=result.export.key_fingerprint).ok
    assert not verify_export(result.path).ok  # checks pass, but the key is not pinned


# ---- a period export holds only the period's entries, anchored to the chain (issue 11) -------

def march(day: int, hour: int = 4) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)  # noon in Shanghai


def test_a_period_export_shows_only_the_periods_entries_and_anchors_them(app, client, tmp_path):
    add_entries(2, at=datetime(2026, 2, 10, 4, tzinfo=UTC))  # 1, 2: February
    add_entries(2, at=march(3))  # 3, 4: March
    # 5: recorded with a time outside March although its sequence falls inside (an entry's time
    # is taken before its number; a slow transaction, a clock set wrong).
    record(db.session, actor="clerk@example.cn", action="test.entry", subject_type="test",
           subject_id="late", payload={"secret": "OUT-OF-PERIOD-PAYLOAD"},
           at=datetime(2026, 4, 20, 4, tzinfo=UTC))
    db.session.commit()
    add_entries(2, at=march(20))  # 6, 7: March
    add_entries(2, at=datetime(2026, 4, 2, 4, tzinfo=UTC))  # 8, 9: April
    entries = {e.seq: e for e in db.session.scalars(select(LedgerEntry))}
    headers = auditor_token(client)
    fingerprint = client.get("/api/v1/ledger/public-key").get_json()["fingerprint"]

    body = queue_export(client, headers, {"from": "2026-03-01", "to": "2026-03-31"})
    bundle = tmp_path / "march.zip"
    bundle.write_bytes(client.get(body["download_url"], headers=headers).data)
    folder = unpack(bundle, tmp_path / "march")

    lines = [json.loads(x) for x in (folder / "entries.jsonl").read_text().splitlines()]
    assert [x["seq"] for x in lines] == [3, 4, 5, 6, 7]
    assert [x["seq"] for x in lines if not x.get("redacted")] == [3, 4, 6, 7]
    assert lines[2] == {"seq": 5, "prev_hash": entries[5].prev_hash, "hash": entries[5].hash,
                        "redacted": True}
    with (folder / "entries.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["seq"]) for r in rows] == [3, 4, 6, 7]
    assert all(r["recorded_at"].startswith("2026-03-") for r in rows)
    from openpyxl import load_workbook

    sheet = load_workbook(folder / "entries.xlsx", read_only=True)["entries"]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    assert [int(r[0]) for r in sheet.iter_rows(min_row=2, values_only=True)] == [3, 4, 6, 7]
    for content in [(folder / "entries.jsonl").read_text(),
                    (folder / "entries.csv").read_text(encoding="utf-8-sig"), *cells]:
        assert "OUT-OF-PERIOD-PAYLOAD" not in content and "late" not in content
    assert (body["entry_count"], body["chain_count"]) == (4, 5)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"] == {"entries": 4, "chain_entries": 5, "redacted": 1}
    # Anchored before to entry 2 (February's last) and after to entry 8 (April's first).
    assert manifest["anchor_before"] == {"seq": 2, "hash": entries[2].hash}
    assert manifest["chain_hash_before"] == entries[3].prev_hash == entries[2].hash
    assert manifest["anchor_after"] == {"seq": 8, "prev_hash": entries[7].hash,
                                        "hash": entries[8].hash}
    result = run_tool(bundle, "--fingerprint", fingerprint)
    assert result.returncode == 0, result.stdout
    assert "chain: OK (5 entries)" in result.stdout
    assert f"anchored after entry 2 (hash {entries[2].hash})" in result.stdout
    assert f"followed by entry 8 (hash {entries[8].hash})" in result.stdout

    # April's export starts where March's anchor says the chain goes on.
    april = queue_export(client, headers, {"from": "2026-04-01", "to": "2026-04-30"})
    assert (april["first_seq"], april["chain_hash_before"]) == (5, entries[4].hash)


def test_the_verifier_refuses_an_entry_shown_outside_the_period(app, client, tmp_path):
    """An exporter that put an out-of-period entry in full, even signed by the fund, fails."""
    from fundapp.compliance.signing import load_signing_key

    add_entries(2, at=march(3))
    add_entries(1, at=datetime(2026, 4, 20, 4, tzinfo=UTC))  # 3, out of March
    add_entries(2, at=march(20))
    full = db.session.scalar(select(LedgerEntry).where(LedgerEntry.seq == 3))
    scope = exports_module.ExportScope(date(2026, 3, 1), date(2026, 3, 31))
    result = exports_module.create_export(db.session, scope, actor="test",
                                          destination=tmp_path / "march")
    db.session.commit()
    folder = result.path
    lines = (folder / "entries.jsonl").read_text().splitlines(keepends=True)
    assert json.loads(lines[2])["redacted"] is True
    lines[2] = json.dumps({k: getattr(full, k) for k in (
        "seq", "recorded_at", "actor", "action", "subject_type", "subject_id", "payload",
        "prev_hash", "hash")}, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    (folder / "entries.jsonl").write_text("".join(lines))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["entries.jsonl"]["sha256"] = hashlib.sha256(
        (folder / "entries.jsonl").read_bytes()).hexdigest()
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    (folder / "manifest.json").write_bytes(manifest_bytes)
    (folder / "manifest.sig").write_bytes(load_signing_key().sign(manifest_bytes))

    checked = run_tool(folder, "--fingerprint", result.export.key_fingerprint)
    assert checked.returncode == 1, checked.stdout
    assert "first bad entry: 3" in checked.stdout
    assert "outside the export's period" in checked.stdout


def test_a_tampered_anchor_is_caught(app, client, tmp_path):
    from fundapp.compliance.signing import load_signing_key

    add_entries(6, at=march(3))
    scope = exports_module.ExportScope(date(2026, 3, 1), date(2026, 3, 31), "action", "test.")
    result = exports_module.create_export(db.session, scope, actor="test",
                                          destination=tmp_path / "anchored")
    db.session.commit()
    folder = result.path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["anchor_before"]["seq"] == 0
    manifest["chain_hash_before"] = manifest["anchor_before"]["hash"] = "1" * 64
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    (folder / "manifest.json").write_bytes(manifest_bytes)
    (folder / "manifest.sig").write_bytes(load_signing_key().sign(manifest_bytes))

    checked = run_tool(folder, "--fingerprint", result.export.key_fingerprint)
    assert checked.returncode == 1
    assert "first bad entry: 1" in checked.stdout and "genesis" in checked.stdout


# ---- hostile dates and ids: a clear 422 or a form message, never a 500 (issue 11) ------------

HOSTILE_DAYS = ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01", "2026-02-30",
                "garbage", "2026-13-01", "+2026-01-01", "20260101x", "99999-01-01"]


@pytest.mark.parametrize("field", ["from", "to"])
def test_export_periods_outside_1900_to_2200_are_refused_by_field(app, client, field):
    add_entries(2)
    headers = {**auditor_token(client), "Accept-Language": "en"}
    for day in HOSTILE_DAYS:
        body = {"from": "2020-01-01", "to": today_shanghai().isoformat(), field: day}
        response = client.post("/api/v1/ledger/exports", json=body, headers=headers)
        assert response.status_code == 422, (day, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed" and field in error["details"], day
    out_of_range = client.post("/api/v1/ledger/exports", headers=headers, json={
        "from": "2020-01-01", "to": "2020-01-01", field: "0001-01-01"}).get_json()
    assert out_of_range["error"]["details"][field] == [
        "Enter a date between 1900-01-01 and 2200-12-31."]
    assert db.session.scalar(select(LedgerExport.id)) is None
    # The bounds themselves are days like any other.
    widest = queue_export(client, headers, {"from": "1900-01-01", "to": "2200-12-31"})
    assert (widest["from"], widest["to"]) == ("1900-01-01", "2200-12-31")


def test_ledger_filters_outside_1900_to_2200_are_refused(app, client):
    add_entries(3)
    headers = {**auditor_token(client), "Accept-Language": "en"}
    for day in HOSTILE_DAYS:
        for field in ("from", "to"):
            response = client.get("/api/v1/ledger", query_string={field: day},
                                  headers=headers)
            assert response.status_code == 422, (field, day, response.get_data(as_text=True))
            assert field in response.get_json()["error"]["details"]
    both = client.get("/api/v1/ledger?from=0001-01-01&to=9999-12-31", headers=headers)
    assert both.status_code == 422
    assert both.get_json()["error"]["details"] == {
        "from": ["Enter a date between 1900-01-01 and 2200-12-31."],
        "to": ["Enter a date between 1900-01-01 and 2200-12-31."]}
    for query in ("action=%00", "actor=a%00b", "actor=" + "a" * 321):
        response = client.get(f"/api/v1/ledger?{query}", headers=headers)
        assert response.status_code == 422, (query, response.get_data(as_text=True))
        assert "error" in response.get_json()
    widest = client.get("/api/v1/ledger?from=1900-01-01&to=2200-12-31", headers=headers)
    everything = db.session.scalar(select(LedgerHead.seq))
    assert widest.status_code == 200 and widest.get_json()["total"] == everything > 3


def test_hostile_dates_on_the_pages_give_a_message_next_to_the_form(app, client):
    from tests.conftest import csrf_from

    add_entries(3)
    make_user("auditor@example.cn", roles=("auditor",))
    login(client, "auditor@example.cn")
    english = {"Accept-Language": "en"}
    for day in ("0001-01-01", "9999-12-31", "garbage"):
        page = client.get("/compliance/ledger", query_string={"from": day, "to": "9999-12-31"},
                          headers=english)
        assert page.status_code == 422, day
        html = page.get_data(as_text=True)
        assert ('id="ledger-to-error" role="alert">Enter a date between 1900-01-01 and '
                '2200-12-31.</p>') in html  # next to its field, not named
    nul = client.get("/compliance/ledger?action=%00", headers=english)
    assert nul.status_code == 422
    assert "Remove the control characters from this text." in nul.get_data(as_text=True)
    assert client.get("/compliance/jobs?job=%00").status_code in (200, 422)  # never a 500

    html = client.get("/compliance/exports").get_data(as_text=True)
    for day in ("0001-01-01", "9999-12-31", "garbage"):
        response = client.post("/compliance/exports", headers=english, data={
            "csrf_token": csrf_from(html), "from": day, "to": "9999-12-31", "scope": "all"})
        assert response.status_code == 422, day
        text = response.get_data(as_text=True)
        assert "Enter a date between 1900-01-01 and 2200-12-31." in text
        assert 'value="9999-12-31"' in text  # what was typed stays
    assert db.session.scalar(select(LedgerExport.id)) is None


def test_the_cli_refuses_hostile_days_clearly(app, tmp_path):
    add_entries(2)
    runner = app.test_cli_runner()
    for args in (["--from", "0001-01-01", "--to", "2026-01-01"],
                 ["--from", "2026-01-01", "--to", "9999-12-31"]):
        made = runner.invoke(args=["ledger", "export", *args, "--out", str(tmp_path / "x")])
        assert made.exit_code == 1, made.output
        assert "Enter a date between 1900-01-01 and 2200-12-31." in made.output
        assert "Traceback" not in made.output
    caught = runner.invoke(args=["scheduler", "catch-up", "--now", "9999-12-31T23:00:00+08:00"])
    assert caught.exit_code == 2 and "not between 1900 and 2200" in caught.output


def test_export_ids_beyond_the_column_are_not_found(app, client):
    headers = auditor_token(client)
    for export_id in (2**31, 2**63, 2**64 + 7):
        for url in (f"/api/v1/ledger/exports/{export_id}",
                    f"/api/v1/ledger/exports/{export_id}/download"):
            response = client.get(url, headers=headers)
            assert response.status_code == 404, (url, response.get_data(as_text=True))
            assert "error" in response.get_json()


# ---- nothing the auditor downloads is kept by a cache (issue 11) ------------------------------

def test_export_responses_are_never_cached(app, client, tmp_path):
    add_entries(3)
    headers = auditor_token(client)
    body, _, _ = make_export(client, headers, tmp_path)
    api_responses = [client.get(body["download_url"], headers=headers),
                     client.get(f"/api/v1/ledger/exports/{body['id']}", headers=headers),
                     client.get("/api/v1/ledger/exports", headers=headers),
                     client.get("/api/v1/ledger", headers=headers),
                     client.get("/api/v1/ledger/public-key")]
    login(client, "auditor@example.cn")
    page_responses = [client.get(f"/compliance/exports/{body['id']}/download"),
                      client.get("/compliance/exports"),
                      client.get("/compliance/exports/verify_ledger_export.py"),
                      client.get("/compliance/exports/public_key.pem"),
                      client.get("/compliance/ledger")]
    for response in api_responses + page_responses:
        assert response.status_code == 200, response.request.path
        assert response.headers["Cache-Control"] == "no-store", response.request.path
        assert "Server" not in response.headers
    assert page_responses[0].data[:2] == b"PK"


# ---- an export is rebuilt on demand, byte for byte, on any host (issue 16) --------------------

def zip_layout(data: bytes) -> list[tuple[str, int, int, tuple]]:
    """(name, flags, compression, time) of each member: what strict readers (Excel) care for."""
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # every member's CRC checks
        return [(i.filename, i.flag_bits, i.compress_type, i.date_time) for i in zf.infolist()]


def test_a_download_is_rebuilt_byte_for_byte_on_any_host(app, client, instance, tmp_path):
    add_entries(25)
    headers = auditor_token(client)
    body = queue_export(client, headers, period())
    export = db.session.get(LedgerExport, body["id"])
    stored_manifest = export.manifest_json.encode()
    # The host that made it is replaced: nothing of the export was kept in its instance folder.
    shutil.rmtree(instance)

    first = client.get(body["download_url"], headers=headers)
    second = client.get(body["download_url"], headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.data == second.data and len(first.data) == body["size_bytes"]
    assert first.headers["Content-Length"] == str(body["size_bytes"])
    assert export.file_name in first.headers["Content-Disposition"]
    assert not instance.exists()  # the download wrote nothing either

    # Plain ZIPs: stored, fixed time, sizes and CRCs up front (no data descriptors), fixed order.
    members = zip_layout(first.data)
    assert [m[0] for m in members] == list(exports_module.BUNDLE_FILES)
    assert {m[1:] for m in members} == {(0, zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0))}
    bundle = tmp_path / "rebuilt.zip"
    bundle.write_bytes(first.data)
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read("manifest.json") == stored_manifest
        assert zf.read("manifest.sig") == export.manifest_sig
        manifest = json.loads(zf.read("manifest.json"))
        for name, meta in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"], name
        workbook = zf.read("entries.xlsx")
    assert {m[1:] for m in zip_layout(workbook)} == {(0, zipfile.ZIP_STORED,
                                                      (1980, 1, 1, 0, 0, 0))}
    assert hashlib.sha256(stored_manifest).hexdigest() == body["manifest_sha256"]
    report = verify_export(bundle, fingerprint=body["key_fingerprint"])
    assert report.ok, report.lines()
    assert report.chain_count == body["chain_count"]


def test_the_workbook_continues_on_a_new_sheet(app, client, monkeypatch, tmp_path):
    from openpyxl import load_workbook

    add_entries(10)
    headers = auditor_token(client)
    monkeypatch.setattr(exports_module, "XLSX_MAX_ROWS", 4)  # the header and 3 rows a sheet
    body = queue_export(client, headers, period())
    monkeypatch.undo()  # the limit of its time is kept with the export: the rebuild follows it
    bundle = tmp_path / "sheets.zip"
    bundle.write_bytes(client.get(body["download_url"], headers=headers).data)
    folder = unpack(bundle, tmp_path / "sheets")

    with (folder / "entries.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert len(rows) == body["entry_count"] > 10  # the 10 entries, the sign-in, the task...
    sheets = -(-len(rows) // 3)
    book = load_workbook(folder / "entries.xlsx", read_only=True)
    assert book.sheetnames == ["entries", *(f"entries{n}" for n in range(2, sheets + 1))]
    shown = []
    for name in book.sheetnames:
        cells = list(book[name].iter_rows(values_only=True))
        assert list(cells[0]) == list(exports_module.CSV_COLUMNS)  # the header on each sheet
        assert 1 <= len(cells) - 1 <= 3
        shown.extend(cells[1:])
    book.close()
    assert [[str(c) if c is not None else "" for c in row] for row in shown] == rows
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["entries.xlsx"]["sheets"] == sheets
    assert verify_export(bundle, fingerprint=body["key_fingerprint"]).ok


def test_bundles_past_4_gib_use_zip64_records(app, monkeypatch, tmp_path):
    """ZIP64 takes over from ZIP64_LIMIT: lowered here, every reader still opens the bundle."""
    from openpyxl import load_workbook

    add_entries(12)
    monkeypatch.setattr(exports_module, "ZIP64_LIMIT", 3000)
    result = exports_module.create_export(
        db.session, exports_module.ExportScope(date(2020, 1, 1), today_shanghai()),
        actor="test", destination=tmp_path / "wide.zip")
    data = result.path.read_bytes()
    assert len(data) == result.export.size_bytes and b"PK\x06\x06" in data  # ZIP64 end record
    zip_layout(data)
    assert verify_export(result.path, fingerprint=result.export.key_fingerprint).ok
    folder = unpack(result.path, tmp_path / "wide")
    rows = list(load_workbook(folder / "entries.xlsx", read_only=True)["entries"].iter_rows(
        min_row=2, values_only=True))
    assert [r[0] for r in rows] == list(range(1, 13))


def test_an_export_made_before_rebuilding_says_so(app, client):
    add_entries(3)
    headers = auditor_token(client)
    body = queue_export(client, headers, period())
    export = db.session.get(LedgerExport, body["id"])
    export.manifest_json = export.manifest_sig = export.bundle_layout = None  # as migrated
    db.session.commit()
    english = {**headers, "Accept-Language": "en"}
    response = client.get(body["download_url"], headers=english)
    assert response.status_code == 410
    assert "made before exports were rebuilt on demand" in response.get_json()["error"]["message"]
    assert "create the export again" in response.get_json()["error"]["message"]
    assert client.get(f"/api/v1/ledger/exports/{body['id']}", headers=headers).status_code == 200
    login(client, "auditor@example.cn")
    page = client.get(f"/compliance/exports/{body['id']}/download", headers={
        "Accept-Language": "en"})
    assert page.status_code == 410
    assert "made before exports were rebuilt on demand" in page.get_data(as_text=True)


def test_the_cli_writes_the_bundle_where_the_operator_is(app, monkeypatch, tmp_path):
    add_entries(4)
    monkeypatch.chdir(tmp_path)
    runner = app.test_cli_runner()
    made = runner.invoke(args=["ledger", "export", "--from", "2020-01-01", "--to",
                               today_shanghai().isoformat()])
    assert made.exit_code == 0, made.output
    export = db.session.scalars(select(LedgerExport)).one()
    bundle = tmp_path / export.file_name
    assert f"written to {bundle}" in made.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no .part
    checked = runner.invoke(args=["ledger", "verify-export", str(bundle)])
    assert checked.exit_code == 0 and "RESULT: VERIFIED" in checked.output


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=2**62),
                          *[st.text(alphabet=st.characters(blacklist_categories=("Cs",)))] * 8),
                max_size=5))
def test_the_fast_csv_writer_writes_what_the_csv_module_writes(rows):
    import io

    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    assert exports_module.render_csv(rows) == expected.getvalue().encode("utf-8")
