"""Financing rounds as reported (R3, R12): recording a round with its R3 check against every
open grant of the company, the pure engine's view of a round, and evidence documents.

Every function changes the database with flush() only; the caller commits once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today
from fundapp.db import utcnow
from fundapp.deals.models import Company
from fundapp.errors import AppError, NotFound, ValidationFailed
from fundapp.portfolio.common import MAX_ID, ZERO, field_error, refuse
from fundapp.portfolio.conversion import engine as calc
from fundapp.portfolio.conversion.models import CapTable, CapTableRow
from fundapp.portfolio.grants.models import OPEN_STATUSES, Grant
from fundapp.portfolio.grants.operations import grant_policy
from fundapp.portfolio.rounds.models import (
    EvidenceBlob,
    EvidenceDocument,
    FinancingRound,
    RoundCheck,
    RoundInvestor,
    RoundKind,
)


def get_round(session: Session, round_id: int, company_id: int | None = None) -> FinancingRound:
    row = session.get(FinancingRound, round_id) if 0 < round_id <= MAX_ID else None
    if row is None or (company_id is not None and row.company_id != company_id):
        raise NotFound(_l("No such financing round."))
    return row


def check_round_input(company: Company, data: Mapping[str, Any]) -> None:
    """The checks that need the company (units of its legal form) or several fields together."""
    form = company.legal_form.value
    units = Decimal(data["units_before"])
    if units <= 0:
        raise field_error("units_before", _l("Units before the round must be more than 0."))
    if units != units.quantize(calc.unit_quantum(form)):
        raise field_error("units_before",
                          _l("A joint-stock company's units are whole shares.") if form == "jsc"
                          else _l("Registered capital has at most 2 decimal places."))
    names = [i["name"] for i in data["investors"]]
    if len(set(names)) != len(names):
        raise field_error("investors", _l("Each investor may appear once."))
    lead = data.get("lead")
    if lead and lead not in names:
        raise field_error("lead", _l("The lead investor must be one of the investors."))
    agreed = data.get("definitive_agreement_signed_on")
    if agreed and data["closed_on"] < agreed:
        raise field_error("closed_on",
                          _l("The round cannot close before its definitive agreement is signed."))
    holders = data.get("holders_before") or []
    if holders and sum((Decimal(h["units"]) for h in holders), ZERO) != units:
        raise field_error("holders_before",
                          _l("The holders before the round must hold exactly the units before "
                             "the round."))


def pure_round(company: Company, data: Mapping[str, Any]) -> calc.FinancingRound:
    """The pure module's round from validated input (a recorded round or a what-if)."""
    lead = data.get("lead")
    try:
        return calc.FinancingRound(
            kind=data["kind"], closed_on=data["closed_on"],
            pre_money_valuation=data["pre_money_valuation_amount"],
            units_before=data["units_before"], legal_form=company.legal_form.value,
            definitive_agreement_signed_on=data.get("definitive_agreement_signed_on"),
            par_value=company.par_value_amount if company.legal_form.value == "jsc" else None,
            investors=tuple(calc.Investor(i["name"], i["cash_amount"], i["is_independent"],
                                          i["name"] == lead) for i in data["investors"]))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_l("Some fields are not valid."),
                               details={"_schema": [str(exc)]}) from None


def round_input(row: FinancingRound) -> dict[str, Any]:
    lead = next((i.name for i in row.investors if i.is_lead), None)
    return {"kind": row.kind.value, "closed_on": row.closed_on,
            "definitive_agreement_signed_on": row.definitive_agreement_signed_on,
            "pre_money_valuation_amount": row.pre_money_valuation_amount,
            "units_before": row.units_before, "lead": lead,
            "investors": [{"name": i.name, "cash_amount": i.cash_amount,
                           "is_independent": i.is_independent} for i in row.investors]}


def pure_grant(grant: Grant) -> calc.Grant:
    return calc.Grant(signed_on=grant.signed_on, awarded_amount=grant.awarded_amount,
                      disbursements=tuple((d.paid_on, d.amount) for d in grant.disbursements),
                      refunds=tuple((r.refunded_on, r.amount) for r in grant.refunds),
                      rd_accepted_on=grant.rd_accepted_on)


def record_round(session: Session, company: Company, data: Mapping[str, Any], *,
                 actor: str) -> FinancingRound:
    """A round as reported; it is checked against R3 for every open grant of the company.
    (A hypothetical round in a preview may lie ahead; a recorded one has happened.)"""
    not_after_today(data["closed_on"], "closed_on")
    not_after_today(data.get("definitive_agreement_signed_on"), "definitive_agreement_signed_on")
    check_round_input(company, data)
    spec = pure_round(company, data)
    lead = data.get("lead")
    row = FinancingRound(company=company, name=data.get("name", ""), kind=RoundKind(data["kind"]),
                         closed_on=data["closed_on"],
                         definitive_agreement_signed_on=data.get("definitive_agreement_signed_on"),
                         pre_money_valuation_amount=data["pre_money_valuation_amount"],
                         units_before=data["units_before"],
                         par_value_amount=spec.par_value, recorded_by=actor,
                         investors=[RoundInvestor(position=n, name=i["name"],
                                                  cash_amount=i["cash_amount"],
                                                  is_independent=i["is_independent"],
                                                  is_lead=i["name"] == lead)
                                    for n, i in enumerate(data["investors"], start=1)])
    session.add(row)
    session.flush()
    holders = data.get("holders_before") or []
    if holders:
        session.add(CapTable(company_id=company.id, as_of=data["closed_on"], source="before_round",
                             round_id=row.id,
                             rows=[CapTableRow(position=n, holder=h["holder"], units=h["units"],
                                               percent=None, is_fund=False)
                                   for n, h in enumerate(holders, start=1)]))
    checks = []
    grants = session.scalars(select(Grant).where(Grant.company_id == company.id,
                                                 Grant.status.in_(OPEN_STATUSES))
                             .order_by(Grant.id)).all()
    for grant in grants:
        result = qualifying_check(grant, spec)
        session.add(RoundCheck(round_id=row.id, grant_id=grant.id,
                               is_qualifying=result.qualifies,
                               clauses_json=json.dumps(result.to_dict()["clauses"],
                                                       ensure_ascii=False)))
        checks.append({"grant_id": grant.id, "qualifies": result.qualifies,
                       "failed": [c.message_en for c in result.failed_clauses]})
    session.flush()
    record(session, actor=actor, action="round.recorded", subject_type="financing_round",
           happened_on=row.closed_on,
           subject_id=row.id, payload={"company_id": company.id, "input": round_input(row),
                                       "holders_before": holders, "checks": checks})
    return row


def clause_message(clause: calc.ClauseResult) -> str:
    """The clause's message in the user's language (the pure module writes both)."""
    zh = has_app_context() and str(get_locale() or "") == "zh"
    return clause.message_zh if zh else clause.message_en


def live_checks(grant: Grant, rounds: Sequence[FinancingRound]) -> dict[int, list[dict]]:
    """R3 for each round against the grant as it stands now (payments change R3.d)."""
    checks = {}
    for row in rounds:
        try:
            result = qualifying_check(grant, pure_round(grant.company, round_input(row)))
        except AppError:
            continue
        checks[row.id] = result.to_dict()["clauses"]
    return checks


def qualifying_check(grant: Grant, spec: calc.FinancingRound) -> calc.QualifyingResult:
    try:
        return calc.check_qualifying(pure_grant(grant), spec, grant_policy(grant))
    except calc.ConversionError as exc:
        raise refuse(exc.clause, str(exc)) from None


# Magic bytes of the evidence files we accept: PDF and common images, never by the name alone.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024


def sniff_type(content: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def _keep_blob(session: Session, digest: str, content: bytes) -> None:
    """Store the bytes once per SHA-256; a concurrent upload of the same bytes is no conflict."""
    values = {"sha256": digest, "size_bytes": len(content), "content": content,
              "created_at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(EvidenceBlob).values(**values).on_conflict_do_nothing(
        index_elements=["sha256"]))


def evidence_content(session: Session, doc: EvidenceDocument) -> bytes | None:
    """The bytes of an evidence document, from the database (any host), or None."""
    return session.scalar(select(EvidenceBlob.content).where(EvidenceBlob.sha256 == doc.sha256))


def attach_evidence(session: Session, row: FinancingRound, *, filename: str, content: bytes,
                    actor: str) -> EvidenceDocument:
    """Keep an evidence document of a round (R12): PDF or image, size-limited, its bytes in the
    database by SHA-256 (no file on any host)."""
    limit = (current_app.config.get("EVIDENCE_MAX_BYTES", EVIDENCE_MAX_BYTES)
             if has_app_context() else EVIDENCE_MAX_BYTES)
    if not content:
        raise field_error("file", _l("The file is empty."))
    if len(content) > limit:
        raise field_error("file", _l("The file is larger than %(mb)s MB.",
                                     mb=limit // (1024 * 1024) or 1))
    kind = sniff_type(content)
    if kind is None:
        raise field_error("file", _l("Only PDF files and images (PNG, JPEG, GIF, WebP) are "
                                     "accepted."))
    digest = hashlib.sha256(content).hexdigest()
    _keep_blob(session, digest, content)
    name = Path(filename or "evidence").name[:255] or "evidence"
    doc = EvidenceDocument(round=row, filename=name, content_type=kind, size_bytes=len(content),
                           sha256=digest, uploaded_by=actor)
    session.add(doc)
    session.flush()
    record(session, actor=actor, action="round.evidence_added", subject_type="financing_round",
           subject_id=row.id, payload={"document_id": doc.id, "filename": name,
                                       "content_type": kind, "size_bytes": len(content),
                                       "sha256": digest})
    return doc


# --------------------------------------------------------------------------- corrections

ROUND_FIELDS = ("name", "kind", "closed_on", "definitive_agreement_signed_on",
                "pre_money_valuation_amount", "units_before")


def _round_snapshot(row: FinancingRound) -> dict[str, Any]:
    return {**{name: getattr(row, name) for name in ROUND_FIELDS},
            "investors": [{"name": i.name, "cash_amount": i.cash_amount,
                           "is_independent": i.is_independent, "is_lead": i.is_lead}
                          for i in sorted(row.investors, key=lambda i: i.position)]}


def round_used_by_conversion(session: Session, round_id: int) -> bool:
    """A standing conversion was priced by the round (a reversed one, issue 12, no longer is)."""
    from fundapp.portfolio.conversion.models import Conversion

    stmt = select(Conversion.id).where(Conversion.round_id == round_id)
    if hasattr(Conversion, "reversed_at"):
        stmt = stmt.where(Conversion.reversed_at.is_(None))
    return session.scalar(stmt.limit(1)) is not None


def correct_round(session: Session, round_id: int, data: Mapping[str, Any], *, actor: str,
                  reason: str) -> FinancingRound:
    """Correct a round as reported and its investors (issue 12), only while no conversion uses
    it: its R3 checks are made again. One `round.corrected` entry with reason, before, after."""
    from fundapp.compliance.corrections import record_correction, require_reason
    from fundapp.unit_of_work import lock

    row = lock(session, FinancingRound, round_id) if 0 < round_id <= MAX_ID else None
    if row is None:
        raise NotFound(_l("No such financing round."))
    reason = require_reason(reason)
    if round_used_by_conversion(session, row.id):
        raise refuse("R12", _l("A conversion is priced by this round: reverse the conversion "
                               "before correcting the round."), round_id=row.id)
    before = _round_snapshot(row)
    current = {**round_input(row), "name": row.name}
    wanted = {**current, **{k: v for k, v in data.items()
                            if k in (*ROUND_FIELDS, "investors", "lead")}}
    if "investors" in data and "lead" not in data:
        names = [i["name"] for i in wanted["investors"]]
        wanted["lead"] = current["lead"] if current["lead"] in names else None
    not_after_today(wanted["closed_on"], "closed_on")
    not_after_today(wanted.get("definitive_agreement_signed_on"), "definitive_agreement_signed_on")
    company = row.company
    check_round_input(company, wanted)
    spec = pure_round(company, wanted)
    row.name = (wanted.get("name") or "").strip()
    row.kind = RoundKind(wanted["kind"])
    row.closed_on = wanted["closed_on"]
    row.definitive_agreement_signed_on = wanted.get("definitive_agreement_signed_on")
    row.pre_money_valuation_amount = wanted["pre_money_valuation_amount"]
    row.units_before = wanted["units_before"]
    row.par_value_amount = spec.par_value
    lead = wanted.get("lead")
    if "investors" in data:
        row.investors = []
        session.flush()  # the old rows go before the new ones take their positions
        row.investors = [RoundInvestor(position=n, name=i["name"], cash_amount=i["cash_amount"],
                                       is_independent=i["is_independent"],
                                       is_lead=i["name"] == lead)
                         for n, i in enumerate(wanted["investors"], start=1)]
    else:
        for investor in row.investors:
            investor.is_lead = investor.name == lead
    session.flush()
    # The R3 checks stored with the round follow the corrected figures.
    for check in session.scalars(select(RoundCheck).where(RoundCheck.round_id == row.id)).all():
        session.delete(check)
    session.flush()
    checks = []
    grants = session.scalars(select(Grant).where(Grant.company_id == company.id,
                                                 Grant.status.in_(OPEN_STATUSES))
                             .order_by(Grant.id)).all()
    for grant in grants:
        result = qualifying_check(grant, spec)
        session.add(RoundCheck(round_id=row.id, grant_id=grant.id,
                               is_qualifying=result.qualifies,
                               clauses_json=json.dumps(result.to_dict()["clauses"],
                                                       ensure_ascii=False)))
        checks.append({"grant_id": grant.id, "qualifies": result.qualifies})
    session.flush()
    session.expire(row, ["investors", "checks"])
    record_correction(session, actor=actor, thing="round", subject_type="financing_round",
                      subject_id=row.id, reason=reason, before=before,
                      after=_round_snapshot(row), checks=checks)
    return row
