"""Evidence documents live in the database (issue 16): any app host serves what another one
received, and no host keeps a copy of its own."""

from __future__ import annotations

import hashlib
from io import BytesIO

import pytest
from sqlalchemy import func, select

from fundapp.app import create_app
from fundapp.extensions import db
from fundapp.portfolio.rounds.models import EvidenceBlob, EvidenceDocument
from tests.conftest import login, make_config, make_user
from tests.isolation import isolated_client
from tests.portfolio.helpers import grant_body, make_deal, manager_headers, worked_example_round

pytestmark = pytest.mark.timeout(90)

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + bytes(range(256)) * 40


def _round(client, headers) -> tuple[int, int]:
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=headers).get_json()
    assert grant["id"]
    response = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                           json=worked_example_round(), headers=headers)
    assert response.status_code == 201, response.get_json()
    return deal.company_id, response.get_json()["id"]


def _upload(client, headers, company_id, round_id, content: bytes, name: str):
    return client.post(f"/api/v1/companies/{company_id}/rounds/{round_id}/documents",
                       data={"file": (BytesIO(content), name)}, headers=headers,
                       content_type="multipart/form-data")


def test_evidence_uploaded_through_one_host_is_downloaded_through_another(
        database, tmp_path, monkeypatch):
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(host_a))
    app_a = create_app(make_config(database))
    with app_a.app_context():
        client = isolated_client(app_a)
        headers = manager_headers(client)
        company_id, round_id = _round(client, headers)
        uploaded = _upload(client, headers, company_id, round_id, PDF, "股东会决议.pdf")
        assert uploaded.status_code == 201, uploaded.get_json()
        document_id = uploaded.get_json()["id"]
        db.session.remove()
        db.engine.dispose()
    # Host A kept nothing on its disk: it could be replaced now without losing the document.
    assert not (host_a / "evidence").exists()

    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(host_b))
    app_b = create_app(make_config(database))
    with app_b.app_context():
        make_user("auditor@example.cn", roles=("auditor",), locale="en")
        browser = isolated_client(app_b)
        assert login(browser, "auditor@example.cn").status_code == 302
        download = browser.get(f"/documents/{document_id}")
        assert download.status_code == 200
        assert download.data == PDF
        assert download.mimetype == "application/pdf"
        assert "attachment" in download.headers["Content-Disposition"]
        assert "filename*=UTF-8''%E8%82%A1" in download.headers["Content-Disposition"]
        assert browser.get(f"/documents/{document_id + 1}").status_code == 404
        db.session.remove()
        db.engine.dispose()


def test_the_same_bytes_are_stored_once_and_the_size_limit_holds(app, client):
    app.config["EVIDENCE_MAX_BYTES"] = 20 * 1024
    headers = manager_headers(client)
    company_id, round_id = _round(client, headers)
    first = _upload(client, headers, company_id, round_id, PDF, "term-sheet.pdf")
    again = _upload(client, headers, company_id, round_id, PDF, "term-sheet-copy.pdf")
    assert first.status_code == again.status_code == 201
    too_big = _upload(client, headers, company_id, round_id, b"%PDF-" + b"x" * 21 * 1024,
                      "big.pdf")
    assert too_big.status_code == 422
    assert too_big.get_json()["error"]["details"]["file"] == ["文件超过 1 MB。"]
    assert db.session.scalar(select(func.count()).select_from(EvidenceDocument)) == 2
    [blob] = db.session.scalars(select(EvidenceBlob)).all()
    assert (blob.sha256, blob.size_bytes, blob.content) == (
        hashlib.sha256(PDF).hexdigest(), len(PDF), PDF)


def test_the_upgrade_copies_the_files_earlier_versions_kept_on_disk(tmp_path, monkeypatch):
    """Migration 0015 moves evidence from the instance folder into the database; a missing or
    altered file is skipped (its download stays 404, as before)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    instance = tmp_path / "instance"
    monkeypatch.setenv("FUNDAPP_INSTANCE_DIR", str(instance))
    app = create_app(make_config(f"sqlite:///{tmp_path / 'old.sqlite3'}"))
    kept, lost, altered = PDF, PDF + b"lost", PDF + b"altered"
    with app.app_context():
        upgrade(revision="0014")
        for number, content in enumerate((kept, lost, altered), start=1):
            digest = hashlib.sha256(content).hexdigest()
            db.session.execute(text(
                "INSERT INTO evidence_documents (id, round_id, filename, content_type, size_bytes,"
                " sha256, uploaded_by, created_at) VALUES (:id, 1, 'a.pdf', 'application/pdf', "
                ":size, :sha, 'x', '2026-01-01 00:00:00')"),
                {"id": number, "size": len(content), "sha": digest})
            if content is not lost:
                path = instance / "evidence" / digest[:2] / digest
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content if content is kept else content + b"!")
        db.session.commit()
        upgrade(revision="0015")
        rows = db.session.execute(text("SELECT sha256, size_bytes, content FROM evidence_blobs"))
        assert [(r[0], r[1], bytes(r[2])) for r in rows] == [
            (hashlib.sha256(kept).hexdigest(), len(kept), kept)]
        db.session.remove()
        db.engine.dispose()
