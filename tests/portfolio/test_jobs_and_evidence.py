"""The daily R8.a closing job, and evidence documents of rounds."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from sqlalchemy import select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.portfolio.grants.models import Grant
from fundapp.portfolio.grants.operations import close_expired_grants
from fundapp.portfolio.rounds.models import EvidenceBlob, EvidenceDocument
from fundapp.scheduler import JOBS, run_occurrence
from tests.portfolio.helpers import grant_body, make_deal, manager_headers, worked_example_round

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sign(client, headers, name, signed_on, accept_on=None):
    deal = make_deal(name)
    grant = client.post("/api/v1/grants", json=grant_body(deal.id, signed_on=signed_on),
                        headers=headers).get_json()
    client.post(f"/api/v1/grants/{grant['id']}/disbursements",
                json={"tranche": 1, "paid_on": signed_on}, headers=headers)
    if accept_on:
        response = client.post(f"/api/v1/grants/{grant['id']}/rd-acceptance",
                               json={"accepted_on": accept_on, "reference": "验收"},
                               headers=headers)
        assert response.status_code == 200
    return grant["id"]


def closings() -> list[LedgerEntry]:
    return list(db.session.scalars(select(LedgerEntry)
                                   .where(LedgerEntry.action == "grant.closed_as_grant")))


def test_expired_grants_close_once_with_a_ledger_entry(client):
    headers = manager_headers(client)
    expired = sign(client, headers, "甲", "2022-01-10", accept_on="2023-06-01")
    not_accepted = sign(client, headers, "乙", "2022-01-10")
    in_window = sign(client, headers, "丙", "2025-01-10", accept_on="2025-12-01")

    # 2022-01-10 + 36 months = 2025-01-10, + 90 days grace = 2025-04-10.
    assert close_expired_grants(db.session, date(2025, 4, 10)) == []
    assert close_expired_grants(db.session, date(2025, 4, 11)) == [expired]
    db.session.commit()
    assert close_expired_grants(db.session, date(2025, 4, 12)) == []  # exactly once
    db.session.commit()

    grant = db.session.get(Grant, expired)
    assert grant.status.value == "closed" and grant.closed_on == date(2025, 4, 11)
    assert [t.status.value for t in grant.tranches] == ["released", "cancelled", "cancelled"]
    entries = closings()
    assert len(entries) == 1 and json.loads(entries[0].payload)["clause"] == "R8.a"
    # Without accepted R&D the grant waits for the IC (R8.b or R8.c); in its window it stays.
    assert db.session.get(Grant, not_accepted).status.value == "disbursing"
    assert db.session.get(Grant, in_window).status.value == "rd_accepted"


def test_a_late_run_still_closes_on_the_day_after_the_grace_period(client):
    headers = manager_headers(client)
    expired = sign(client, headers, "丁", "2022-01-10", accept_on="2023-06-01")
    # The job did not run for a week: the grant still closes on 2025-04-11 (window + grace + 1).
    assert close_expired_grants(db.session, date(2025, 4, 18)) == [expired]
    db.session.commit()
    assert db.session.get(Grant, expired).closed_on == date(2025, 4, 11)
    assert json.loads(closings()[0].payload)["closed_on"] == "2025-04-11"


def test_the_scheduled_job_closes_and_a_second_claim_does_nothing(client):
    headers = manager_headers(client)
    sign(client, headers, "甲", "2020-01-10", accept_on="2021-06-01")
    job = next(j for j in JOBS if j.id == "grants.close_expired")
    due = datetime(2026, 11, 26, 17, 15, tzinfo=UTC)
    run = run_occurrence(job, due)
    assert run.outcome == "ok" and run.message.startswith("1 grant")
    assert run_occurrence(job, due) is None  # the same occurrence is claimed once
    later = run_occurrence(job, datetime(2026, 11, 27, 17, 15, tzinfo=UTC))
    assert later.message.startswith("0 grant")
    assert len(closings()) == 1


def _round(client, headers):
    deal = make_deal()
    grant = client.post("/api/v1/grants", json=grant_body(deal.id), headers=headers).get_json()
    assert grant["id"]
    response = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                           json=worked_example_round(), headers=headers)
    return deal.company_id, response.get_json()["id"]


def test_evidence_is_kept_by_sha256_and_only_pdf_or_images_are_accepted(app, client, tmp_path):
    app.config["EVIDENCE_MAX_BYTES"] = 1024
    headers = manager_headers(client)
    company_id, round_id = _round(client, headers)
    url = f"/api/v1/companies/{company_id}/rounds/{round_id}/documents"

    def upload(content: bytes, name: str):
        from io import BytesIO

        return client.post(url, data={"file": (BytesIO(content), name)}, headers=headers,
                           content_type="multipart/form-data")

    ok = upload(PDF, "term-sheet.pdf")
    assert ok.status_code == 201, ok.get_json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert ok.get_json()["sha256"] == digest
    assert ok.get_json()["content_type"] == "application/pdf"
    assert db.session.get(EvidenceBlob, digest).content == PDF
    assert upload(PNG, "photo.png").status_code == 201
    # The name says PDF, the bytes say otherwise: refused.
    fake = upload(b"MZ\x90\x00 this is an executable", "contract.pdf")
    assert fake.status_code == 422 and "file" in fake.get_json()["error"]["details"]
    big = upload(b"%PDF-" + b"x" * 2000, "big.pdf")
    assert big.status_code == 422
    assert len(db.session.scalars(select(EvidenceDocument)).all()) == 2
    rnd = client.get(f"/api/v1/companies/{company_id}/rounds/{round_id}", headers=headers)
    assert [d["filename"] for d in rnd.get_json()["documents"]] == ["term-sheet.pdf", "photo.png"]
    added = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.action == "round.evidence_added")).all()
    assert json.loads(added[0].payload)["sha256"] == digest
