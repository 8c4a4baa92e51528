"""Maintaining the reference data: the working-day calendar (R1) and the 1-year LPR (R7.b, R8.c).

Each change is written to the ledger; a CSV import is all or nothing and names each bad row.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.errors import NotFound, ValidationFailed
from fundapp.reference.models import CalendarDay, LprRate
from fundapp.textfiles import NotText, decode_csv

MAX_CSV_BYTES = 1024 * 1024
NAME_LENGTH = 100  # calendar_days.name
WORKING = {"1", "true", "yes", "y", "work", "working", "workday", "上班", "补班", "工作日", "调休上班"}
RESTING = {"0", "false", "no", "n", "holiday", "off", "rest", "休息", "假日", "节假日", "放假"}


def _date(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    text = str(value or "").strip().replace("/", "-")
    try:
        return date.fromisoformat("-".join(p.zfill(2) for p in text.split("-")))
    except ValueError:
        raise ValidationFailed(_l("Enter a date as YYYY-MM-DD."), details={
            field: [str(_l("Enter a date as YYYY-MM-DD."))]}) from None


def _check_year(day: date, field: str) -> None:
    if not 2000 <= day.year <= 2100:
        raise ValidationFailed(_l("Enter a date between 2000 and 2100."), details={
            field: [str(_l("Enter a date between 2000 and 2100."))]})


def set_calendar_day(session: Session, *, on: Any, is_working_day: bool, name: str = "",
                     actor: str) -> CalendarDay:
    """Mark a day as a holiday or a make-up working day (replacing what was there)."""
    day = _date(on, "on")
    _check_year(day, "on")
    name = (name or "").strip()[:NAME_LENGTH]  # the schema and the CSV import refuse longer
    row = session.scalar(select(CalendarDay).where(CalendarDay.on == day))
    before = None if row is None else {"is_working_day": row.is_working_day, "name": row.name}
    if row is None:
        row = CalendarDay(on=day)
        session.add(row)
    row.is_working_day = bool(is_working_day)
    row.name = name
    session.flush()
    record(session, actor=actor, action="calendar.day_set", subject_type="calendar_day",
           subject_id=day.isoformat(), payload={"on": day, "is_working_day": row.is_working_day,
                                                "name": name, "before": before})
    return row


def remove_calendar_day(session: Session, day_id: int, *, actor: str) -> None:
    row = session.get(CalendarDay, day_id)
    if row is None:
        raise NotFound(_l("No such calendar day."))
    session.delete(row)
    record(session, actor=actor, action="calendar.day_removed", subject_type="calendar_day",
           subject_id=row.on.isoformat(), payload={"on": row.on,
                                                   "is_working_day": row.is_working_day,
                                                   "name": row.name})


def _read_csv(content: bytes) -> list[list[str]]:
    if len(content) > MAX_CSV_BYTES:
        raise ValidationFailed(_l("The file is larger than 1 MB."), details={
            "file": [str(_l("The file is larger than 1 MB."))]})
    try:
        text = decode_csv(content)
    except NotText as exc:
        raise ValidationFailed(exc.message, details={"file": [str(exc.message)]}) from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if rows and rows[0] and not rows[0][0].strip()[:1].isdigit():
        rows = rows[1:]  # a header row
    if not rows:
        raise ValidationFailed(_l("The file is empty."), details={
            "file": [str(_l("The file is empty."))]})
    return rows


def import_calendar_csv(session: Session, content: bytes, *, actor: str) -> int:
    """Rows of date, working (1/0, 上班/休息), name. All or nothing."""
    rows = _read_csv(content)
    problems: dict[str, list[str]] = {}
    parsed = []
    for number, row in enumerate(rows, start=1):
        try:
            day = _date(row[0], "on")
            _check_year(day, "on")
        except ValidationFailed:
            problems.setdefault(f"row {number}", []).append(str(_l("Enter a date as YYYY-MM-DD.")))
            continue
        flag = (row[1].strip().lower() if len(row) > 1 else "")
        if flag in WORKING:
            working = True
        elif flag in RESTING:
            working = False
        else:
            problems.setdefault(f"row {number}", []).append(str(_l(
                "Say whether the day is worked: 1 (make-up working day) or 0 (holiday).")))
            continue
        name = row[2].strip() if len(row) > 2 else ""
        if len(name) > NAME_LENGTH:
            problems.setdefault(f"row {number}", []).append(
                str(_l("Longer than maximum length {max}.")).format(max=NAME_LENGTH))
            continue
        parsed.append((day, working, name))
    if problems:
        raise ValidationFailed(_l("Nothing was imported: some rows are not valid."),
                               details=problems)
    for day, working, name in parsed:
        set_calendar_day(session, on=day, is_working_day=working, name=name, actor=actor)
    return len(parsed)


def _rate(value: Any, field: str) -> Decimal:
    """A percentage per year (3.45 = 3.45%) to a decimal fraction (0.0345)."""
    text = str(value or "").strip().rstrip("%").strip()
    try:
        pct = Decimal(text)
    except InvalidOperation:
        pct = None
    if pct is None or not pct.is_finite() or pct <= 0 or pct > 20 or \
            pct != pct.quantize(Decimal("0.0001")):
        raise ValidationFailed(_l("Enter the rate in percent per year, such as 3.10."), details={
            field: [str(_l("Enter the rate in percent per year, such as 3.10."))]})
    return (pct / 100).quantize(Decimal("0.000001"))


def add_lpr_rate(session: Session, *, published_on: Any, rate_pct: Any, actor: str) -> LprRate:
    """Record the 1-year LPR published on a date (the rate given in percent per year)."""
    day = _date(published_on, "published_on")
    _check_year(day, "published_on")
    rate = _rate(rate_pct, "rate_pct")
    row = session.scalar(select(LprRate).where(LprRate.published_on == day))
    before = None if row is None else row.rate
    if row is None:
        row = LprRate(published_on=day, rate=rate)
        session.add(row)
    row.rate = rate
    session.flush()
    record(session, actor=actor, action="lpr.rate_set", subject_type="lpr_rate",
           subject_id=day.isoformat(), payload={"published_on": day, "rate": rate,
                                                "before": before})
    return row


def import_lpr_csv(session: Session, content: bytes, *, actor: str) -> int:
    """Rows of publication date, rate in percent. All or nothing."""
    rows = _read_csv(content)
    problems: dict[str, list[str]] = {}
    parsed = []
    for number, row in enumerate(rows, start=1):
        try:
            day = _date(row[0], "published_on")
            _check_year(day, "published_on")
            rate = row[1] if len(row) > 1 else ""
            _rate(rate, "rate_pct")
        except ValidationFailed as exc:
            problems.setdefault(f"row {number}", []).extend(
                m for v in exc.details.values() for m in v)
            continue
        parsed.append((day, rate))
    if problems:
        raise ValidationFailed(_l("Nothing was imported: some rows are not valid."),
                               details=problems)
    for day, rate in parsed:
        add_lpr_rate(session, published_on=day, rate_pct=rate, actor=actor)
    return len(parsed)
