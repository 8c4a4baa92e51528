"""Read-side queries of the compliance area."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import format_time, verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.fund.models import Fund


def verification_report(session: Session, verified_by: str) -> dict[str, Any]:
    """Plain data for the ledger verification PDF: the chain is walked now, in full."""
    result = verify_chain(session)
    first_at, last_at = session.execute(select(func.min(LedgerEntry.recorded_at),
                                               func.max(LedgerEntry.recorded_at))).one()
    fund = session.execute(select(Fund.name, Fund.name_en).order_by(Fund.id).limit(1)).first()
    return {
        "fund_name": (fund.name if fund else "") or "fundapp",
        "fund_name_en": fund.name_en if fund else "",
        "ok": result.ok,
        "problem": str(result.problem) if result.problem else "",
        "count": f"{result.count:,}",
        "head_hash": result.last_hash,
        "first_at": first_at,
        "last_at": last_at,
        "verified_at": format_time(datetime.now(UTC))[:19].replace("T", " "),
        "verified_by": verified_by,
    }


def ledger_query(action: str = "", actor: str = "", from_on: date | None = None,
                 to_on: date | None = None):
    """Ledger entries newest first, filtered by action prefix, actor and period (Shanghai days)."""
    from fundapp.compliance.exports import day_start

    stmt = select(LedgerEntry).order_by(LedgerEntry.seq.desc())
    if action:
        stmt = stmt.where(func.substr(LedgerEntry.action, 1, len(action)) == action)
    if actor:
        stmt = stmt.where(LedgerEntry.actor == actor.strip().lower())
    if from_on is not None:
        stmt = stmt.where(LedgerEntry.recorded_at >= day_start(from_on))
    if to_on is not None:
        stmt = stmt.where(LedgerEntry.recorded_at < day_start(to_on + timedelta(days=1)))
    return stmt


FILTER_TEXT_MAX = 320  # the longest actor (an e-mail address) the ledger holds


def ledger_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """action, actor, from_on, to_on from query arguments; bad values name their field (422).

    Days are YYYY-MM-DD within 1900-01-01..2200-12-31 (a day outside cannot be turned into the
    UTC bounds the entries are compared with); text holds no NUL byte or lone surrogate.
    """
    from flask_babel import lazy_gettext as _l

    from fundapp.compliance.exports import day_out_of_range, text_problem
    from fundapp.errors import ValidationFailed

    problems: dict[str, list[str]] = {}
    dates: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        dates[name] = None
        if raw:
            try:
                # Exactly YYYY-MM-DD: fromisoformat also reads forms such as 20260401.
                if len(raw) != 10:
                    raise ValueError(raw)
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                problems[name] = [str(_l("Not a valid date."))]
                continue
            if (message := day_out_of_range(dates[name])) is not None:
                problems[name] = [message]
                dates[name] = None
    if dates["from"] and dates["to"] and dates["to"] < dates["from"]:
        problems["to"] = [str(_l("The end date is before the start date."))]
    texts = {name: (args.get(name) or "").strip() for name in ("action", "actor")}
    for name, value in texts.items():
        if len(value) > FILTER_TEXT_MAX:
            problems[name] = [str(_l("Longer than maximum length %(max)s.",
                                     max=FILTER_TEXT_MAX))]
        elif (message := text_problem(value)) is not None:
            problems[name] = [message]
    if problems:
        raise ValidationFailed(_l("Some fields are not valid."), details=problems)
    return {"action": texts["action"], "actor": texts["actor"],
            "from_on": dates["from"], "to_on": dates["to"]}


def corrections_for(session: Session, subject_type: str, subject_id: Any,
                    limit: int = 200) -> list[dict[str, Any]]:
    """The `<thing>.corrected` entries of one object (or of several: a list of ids), newest
    first (issue 12): who, when in Beijing time, and the payload ({"reason", "before", "after"})."""
    import json

    from fundapp.ui import beijing_time

    ids = [str(i) for i in subject_id] if isinstance(subject_id, list | tuple) \
        else [str(subject_id)]
    if not ids:
        return []
    rows = session.execute(
        select(LedgerEntry.actor, LedgerEntry.recorded_at, LedgerEntry.payload,
               LedgerEntry.action, LedgerEntry.subject_id)
        .where(LedgerEntry.subject_type == subject_type, LedgerEntry.subject_id.in_(ids),
               LedgerEntry.action.like("%.corrected"))
        .order_by(LedgerEntry.seq.desc()).limit(limit)).all()
    return [{"actor": row.actor, "action": row.action, "subject_id": row.subject_id,
             "at": beijing_time(datetime.fromisoformat(row.recorded_at.replace("Z", "+00:00"))),
             "payload": json.loads(row.payload)} for row in rows]
