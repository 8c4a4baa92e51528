"""Corrections of recorded facts (issue 12): never a silent overwrite.

A correction changes what was recorded wrongly, with a reason, and writes one ledger entry
`<thing>.corrected` holding {"reason", "before", "after"} (only the fields that changed; money as
decimal strings) in the same transaction as the change. Each domain's operation locks its
aggregate, checks its guard, then calls `require_reason()` and `record_correction()` from here;
pages show the entries with `history_rows()` (the shared "History" macro in
templates/_corrections.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.errors import ValidationFailed

REASON_MAX = 2000

# A corrected field's name in the reader's language (the ledger keeps the field's code).
CORRECTION_LABELS: dict[str, Any] = {
    # companies
    "legal_name": _l("Legal name (Chinese)"), "name_en": _l("English name"),
    "uscc": _l("Unified social credit code"), "district": _l("District of registration"),
    "legal_form": _l("Legal form"), "registered_capital_amount": _l("Registered capital (CNY)"),
    "share_count": _l("Number of shares (joint-stock)"),
    "par_value_amount": _l("Par value per share (CNY)"), "sector": _l("Sector"),
    "founded_on": _l("Founded on"), "website": _l("Website"), "description": _l("Description"),
    "former_names": _l("Former names (one per line)"), "founders": _l("Founders"),
    "contacts": _l("Contacts"),
    # deals
    "project_name": _l("Project name"), "project_name_en": _l("Project name (English)"),
    "requested_grant_amount": _l("Requested grant (CNY)"),
    "approved_budget_amount": _l("Approved budget (CNY)"),
    "project_summary": _l("Project summary"), "milestone_plan": _l("Milestone plan"),
    "manager_id": _l("Fund manager"), "roadshow_id": _l("Source roadshow"),
    # roadshows
    "name": _l("Name"), "held_on": _l("Date"), "venue": _l("Venue"),
    "organiser": _l("Organiser"), "format": _l("Format"), "panel": _l("Panel"),
    "slots": _l("Companies presenting"), "criteria": _l("Criteria"),
    # grant agreements and tranches
    "agreement_no": _l("Agreement number"), "awarded_amount": _l("Award (CNY)"),
    "signed_on": _l("Signed on"), "holder_entity": _l("Holding entity"),
    "exit_filing_no": _l("Exit filing number (R7.d)"),
    "exit_filed_on": _l("Exit filed on (R7.d)"),
    "alternative_conditions": _l("Alternative conditions (R3.f)"),
    "tranches": _l("Tranches"),
    # rounds and investors
    "kind": _l("Kind"), "closed_on": _l("Closing date"),
    "definitive_agreement_signed_on": _l("Definitive agreement signed on"),
    "pre_money_valuation_amount": _l("Pre-money valuation (CNY)"),
    "units_before": _l("Units before the round"), "investors": _l("Investors"),
    # valuation marks
    "measured_on": _l("Measurement date"), "method": _l("Method"),
    "value_per_unit": _l("Value per unit"), "note": _l("Note"), "inputs": _l("Inputs"),
}


def correction_label(field: str) -> str:
    label = CORRECTION_LABELS.get(field)
    return str(label) if label is not None else field


def plain(value: Any) -> Any:
    """A value as the ledger keeps it: Decimal as its string, dates ISO, enums by value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def require_reason(reason: str | None) -> str:
    """The reason for a correction, trimmed; a blank one is refused, by the field."""
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_l("Some fields are not valid."), details={
            "reason": [str(_l("Give the reason for this correction."))]})
    return text


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict, dict]:
    """The fields whose plain value differs: (before, after), each holding only those fields."""
    old, new = {}, {}
    for key in after:
        if _comparable(before.get(key)) != _comparable(after.get(key)):
            old[key], new[key] = plain(before.get(key)), plain(after.get(key))
    return old, new


def _comparable(value: Any) -> Any:
    """A value compared by what it is: 1.00 and 1.0000 are the same amount."""
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, Mapping):
        return {str(k): _comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_comparable(v) for v in value]
    return plain(value)


def record_correction(session: Session, *, actor: str, thing: str, subject_type: str,
                      subject_id: Any, reason: str, before: Mapping[str, Any],
                      after: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Ledger `<thing>.corrected` with the reason and the changed fields; a correction that
    changes nothing is refused (the caller's unit of work rolls back)."""
    reason = require_reason(reason)
    old, new = field_diff(before, after)
    if not new:
        raise ValidationFailed(_l("Nothing was changed: correct at least one field."),
                               details={"_form": [str(_l("Nothing was changed: correct at "
                                                         "least one field."))]})
    payload = {"reason": reason, "before": old, "after": new, **plain(extra)}
    record(session, actor=actor, action=f"{thing}.corrected", subject_type=subject_type,
           subject_id=subject_id, payload=payload)
    return payload


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{correction_label(k)} {_text(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return str(_l("Yes")) if value else str(_l("No"))
    return str(value)


def history_rows(subject_type: str, subject_id: Any) -> list[dict[str, Any]]:
    """The corrections of one object for its page's History section, newest first."""
    from fundapp.compliance.queries import corrections_for
    from fundapp.extensions import db

    rows = []
    for entry in corrections_for(db.session, subject_type, subject_id):
        payload = entry["payload"]
        before, after = payload.get("before", {}), payload.get("after", {})
        rows.append({
            "action": entry["action"], "subject_id": entry["subject_id"],
            "actor": entry["actor"], "at": entry["at"], "reason": payload.get("reason", ""),
            "changes": [{"field": key, "label": correction_label(key),
                         "before": _text(before.get(key)), "after": _text(after.get(key))}
                        for key in after],
        })
    return rows


def correction_schema(schema_class: type) -> Any:
    """A correction's schema for PATCH: the fields sent are corrected, the reason is required."""
    names = [name for name in schema_class().fields if name != "reason"]
    return schema_class(partial=names)
