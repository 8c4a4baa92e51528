"""Read-side queries of the compliance area."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import format_time, verify_chain
from fundapp.compliance.models import LedgerEntry, LedgerHead
from fundapp.compliance.subjects import NAME_QUERIES, SUBJECT_PAGES
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
                 to_on: date | None = None, *, actor_by_name: bool = False):
    """Ledger entries newest first, filtered by action prefix, actor and period (Shanghai days).

    The actor is an exact e-mail or literal actor ("scheduler"), as the API documents it; the page
    (actor_by_name) also takes part of a user's name, English name or e-mail, as people type it."""
    from fundapp.compliance.exports import day_start

    stmt = select(LedgerEntry).order_by(LedgerEntry.seq.desc())
    if action:
        stmt = stmt.where(func.substr(LedgerEntry.action, 1, len(action)) == action)
    if actor:
        exact = LedgerEntry.actor == actor.strip().lower()
        stmt = stmt.where(or_(exact, LedgerEntry.actor.in_(_emails_like(actor)))
                          if actor_by_name else exact)
    if from_on is not None:
        stmt = stmt.where(LedgerEntry.recorded_at >= day_start(from_on))
    if to_on is not None:
        stmt = stmt.where(LedgerEntry.recorded_at < day_start(to_on + timedelta(days=1)))
    return stmt


def ledger_count(action: str = "", actor: str = "", from_on: date | None = None,
                 to_on: date | None = None):
    """What counts ledger_query's rows cheaply: unfiltered, the head's seq (the entries are
    numbered 1..seq without a gap, as the chain's verification checks); None (count the rows)
    when filtered. COUNT(*) of 1,000,000 entries took 15 ms of a 20 ms page."""
    if action or actor or from_on is not None or to_on is not None:
        return None
    return select(LedgerHead.seq).where(LedgerHead.id == 1)


def _emails_like(text: str):
    """The e-mails of the users whose name, English name or e-mail holds `text`."""
    from fundapp.auth.models import User

    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text.strip()) + "%"
    return select(User.email).where(or_(*(column.ilike(pattern, escape="\\") for column in
                                          (User.name, User.name_en, User.email))))


FILTER_TEXT_MAX = 320  # the longest actor (an e-mail address) the ledger holds


def ledger_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """action, actor, from_on, to_on from query arguments; bad values name their field (422).

    Days are YYYY-MM-DD within 1900-01-01..2200-12-31 (a day outside cannot be turned into the
    UTC bounds the entries are compared with); text holds no NUL byte or lone surrogate.
    """
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


# ---------------------------------------------------------------------------- the ledger's names
# Actors the code records when no user acted (grep `actor=` in fundapp), read as who they are.
SYSTEM_ACTORS = {
    "system": _l("System"),
    "scheduler": _l("System (scheduler)"),
    "worker": _l("System (worker)"),
    "cli": _l("System (command line)"),
    "demo": _l("System (demo data)"),
}

# A subject type's page: (endpoint, its id argument).


@dataclass(frozen=True)
class LedgerNames:
    """The people and things a page of ledger entries names, looked up once for the page:
    users by e-mail, subjects by (type, id), each as (name, English name)."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    subjects: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def actor(self, actor: str) -> Markup:
        """Who acted, in the reader's language: a user's name (the e-mail as its title), a
        system actor's label, else the actor as recorded."""
        from fundapp.ui import user_text

        if actor in self.users:
            return Markup('<span title="%s">%s</span>') % (actor, _reader(*self.users[actor]))
        if actor in SYSTEM_ACTORS:
            return escape(str(SYSTEM_ACTORS[actor]))
        return user_text(actor)

    def subject(self, subject_type: str, subject_id: str | None) -> Markup:
        """The thing acted on: its name, linked to its page for those who may open it, else
        its number."""
        from flask import url_for

        from fundapp.access import can

        if subject_id in (None, ""):
            return Markup("")
        if (subject_type, subject_id) not in self.subjects:
            return escape(f"#{subject_id}")
        name = _reader(*self.subjects[subject_type, subject_id])
        endpoint, argument = SUBJECT_PAGES[subject_type]
        if not can(endpoint):
            return name
        return Markup('<a href="%s">%s</a>') % (url_for(endpoint, **{argument: subject_id}), name)


def _reader(chinese: str, english: str) -> Markup:
    """reader_name(), marked lang="" when it is the other language's name (none in this one)."""
    from fundapp.ui import reader_language, reader_name, user_text

    name = reader_name(chinese, english)
    return escape(name) if name == (english if reader_language() == "en" else chinese) \
        else user_text(name)


def ledger_names(session: Session, entries: list[LedgerEntry]) -> LedgerNames:
    """The names of a page of entries: one query per subject type present and one for the users
    (actors and user subjects), whatever the number of entries."""
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        # Ids the id columns can hold: ASCII digits only ("²" is a digit to str.isdigit).
        if entry.subject_type in SUBJECT_PAGES and re.fullmatch(r"[0-9]{1,9}",
                                                                str(entry.subject_id)):
            wanted.setdefault(entry.subject_type, set()).add(int(entry.subject_id))
    names = LedgerNames()
    for subject_type, ids in wanted.items():
        if subject_type in NAME_QUERIES:
            stmt, key = NAME_QUERIES[subject_type]()
            for row in session.execute(stmt.where(key.in_(ids))):
                names.subjects[subject_type, str(row[0])] = _both_names(*row[1:])
    emails = {entry.actor for entry in entries if "@" in entry.actor}
    if emails or wanted.get("user"):
        from fundapp.auth.models import User

        for user in session.execute(select(User.id, User.email, User.name, User.name_en).where(
                or_(User.email.in_(emails), User.id.in_(wanted.get("user", ()))))):
            both = (user.name or user.email, user.name_en)
            names.users[user.email] = names.subjects["user", str(user.id)] = both
    return names


def _both_names(chinese: str, english: str, number: str = "") -> tuple[str, str]:
    """(name, English name); a grant's agreement number follows its company's name."""
    if not number:
        return chinese or "", english or ""
    return f"{chinese} {number}", f"{english} {number}" if english else ""
