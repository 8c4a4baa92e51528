"""The history import's operations: upload, dry run, commit (issue 12).

The dry run and the commit run the same replay (planner.py) inside a savepoint of the caller's
unit of work: the dry run rolls it back and returns the report (a summary per sheet, every problem
as sheet / row / column / message in the user's language, every conversion whose recorded figures
differ from the engine's); the commit keeps it only when there is no problem and every difference
is accepted with a reason and an IC reference, and ledgers `history.imported` with the file's
SHA-256. A file whose SHA-256 was imported before creates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.errors import AppError, NotFound
from fundapp.history_import.models import HistoryImport
from fundapp.history_import.parser import read_workbook
from fundapp.history_import.planner import Difference, Planner
from fundapp.history_import.sheets import SHEETS
from fundapp.unit_of_work import lock_key, release_savepoint

MAX_BYTES = 16 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportRefused(AppError):
    """The commit was refused: the report says why (problems, or differences not accepted)."""

    def __init__(self, message: Any, report: dict[str, Any],
                 fields: dict[str, list[str]] | None = None):
        super().__init__(message, status=422, code="import_refused",
                         details={**(fields or {}), "report": report})
        self.report = report


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def imported(session: Session, digest: str) -> HistoryImport | None:
    return session.scalar(select(HistoryImport).where(HistoryImport.sha256 == digest,
                                                      HistoryImport.status == "imported"))


def upload(session: Session, content: bytes, filename: str, *, actor: str) -> HistoryImport:
    """Keep an uploaded workbook (once per SHA-256) for its dry run and commit."""
    if not content:
        raise AppError(_l("The file is empty."), status=422, code="empty_file",
                       details={"file": [str(_l("The file is empty."))]})
    if len(content) > MAX_BYTES:
        raise AppError(_l("The file is too large."), status=413, code="too_large")
    digest = sha256_of(content)
    row = session.scalar(select(HistoryImport).where(HistoryImport.sha256 == digest))
    if row is None:
        row = HistoryImport(sha256=digest, filename=filename[:255], status="uploaded",
                            content=content, uploaded_by=actor, uploaded_at=datetime.now(UTC),
                            imported_by="", rows=0, report_json="")
        session.add(row)
        session.flush()
    return row


def get_upload(session: Session, import_id: int) -> HistoryImport:
    row = session.get(HistoryImport, import_id) if 0 < import_id < 2**31 else None
    if row is None:
        raise NotFound(_l("No such import."))
    return row


def run_import(session: Session, content: bytes, *, filename: str, actor: str,
               dry_run: bool = True, locale: str | None = None, reason: str = "",
               ic_reference: str = "",
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Dry-run or commit a workbook; returns the report (see the module's docstring).

    The commit raises ImportRefused (nothing written) when the report has a problem, or a
    difference that is not accepted with both a reason and an IC reference.
    """
    with force_locale(locale) if locale else nullcontext():
        return _run(session, content, filename=filename, actor=actor, dry_run=dry_run,
                    locale=locale or _current_locale(), reason=reason.strip(),
                    ic_reference=ic_reference.strip(), progress=progress)


def _current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh")


def _run(session: Session, content: bytes, *, filename: str, actor: str, dry_run: bool,
         locale: str, reason: str, ic_reference: str,
         progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    digest = sha256_of(content)
    # One import at a time; on SQLite this also opens the transaction the savepoints nest in.
    lock_key(session, "history_import")
    before = imported(session, digest)
    if before is not None:
        report = _report(locale, digest, filename, None, None, dry_run)
        report.update(already_imported=True, imported_on=before.imported_at.isoformat()
                      if before.imported_at else None, import_id=before.id)
        return report
    book = read_workbook(content)
    accept = (reason, ic_reference) if reason and ic_reference else None
    outer = session.begin_nested()
    try:
        planner = Planner(session, book, actor=actor, progress=progress, accept=accept,
                          sha256=digest)
        replay = planner.run()
    except BaseException:
        outer.rollback()
        raise
    report = _report(locale, digest, filename, book, replay, dry_run)
    if dry_run:
        outer.rollback()
        return report
    if report["problems"]:
        outer.rollback()
        raise ImportRefused(_l("The workbook has problems: nothing was imported."), report)
    if replay.differences and accept is None:
        outer.rollback()
        need = str(_l("Needed to accept the recorded figures of a conversion."))
        raise ImportRefused(_l("Some conversions differ from the engine's figures: accept the "
                               "recorded figures with a reason and an IC reference, or correct "
                               "the workbook."), report,
                            {"reason": [need] if not reason else [],
                             "ic_reference": [need] if not ic_reference else []})
    row = session.scalar(select(HistoryImport).where(HistoryImport.sha256 == digest))
    now = datetime.now(UTC)
    if row is None:
        row = HistoryImport(sha256=digest, filename=filename[:255], content=content,
                            uploaded_by=actor, uploaded_at=now)
        session.add(row)
    row.status, row.imported_by, row.imported_at = "imported", actor, now
    row.rows = book.row_count
    report.update(imported=True)
    row.report_json = json.dumps(report, ensure_ascii=False)
    session.flush()
    record(session, actor=actor, action="history.imported", subject_type="import",
           subject_id=row.id, payload={
               "sha256": digest, "filename": filename, "rows": book.row_count,
               "counts": {s["key"]: s["applied"] for s in report["sheets"]},
               "accepted_differences": [d.as_dict() for d in replay.differences],
               "reason": reason if replay.differences else "",
               "ic_reference": ic_reference if replay.differences else ""})
    release_savepoint(outer)
    report["import_id"] = row.id
    return report


def _report(locale: str, digest: str, filename: str, book: Any, replay: Any,
            dry_run: bool) -> dict[str, Any]:
    sheets = []
    for sheet in SHEETS:
        rows = len(book.rows.get(sheet.key, [])) if book else 0
        applied = replay.created.get(sheet.key, 0) if replay else 0
        if sheet.key in ("tranches", "investors", "holders"):
            applied = rows - sum(1 for r in book.rows.get(sheet.key, []) if r.bad) if book \
                else 0
        sheets.append({"key": sheet.key, "name": sheet.zh if locale == "zh" else sheet.en,
                       "rows": rows, "applied": applied})
    problems = ([p.as_dict(locale) for p in book.problems] if book else []) + \
        ([p.as_dict(locale) for p in replay.problems] if replay else [])
    problems.sort(key=lambda p: (p["sheet"] != "" and _sheet_order(p["sheet"]), p["row"]))
    return {"sha256": digest, "filename": filename, "dry_run": dry_run, "imported": False,
            "already_imported": False, "rows": book.row_count if book else 0,
            "sheets": sheets, "problems": problems,
            "differences": [d.as_dict() for d in replay.differences] if replay else []}


def _sheet_order(name: str) -> int:
    for index, sheet in enumerate(SHEETS):
        if name in (sheet.zh, sheet.en):
            return index
    return len(SHEETS)


def accept_recorded(session: Session, differences: list[Difference], *, reason: str,
                    ic_reference: str, sha256: str, actor: str) -> None:
    """Replace the engine's figures of one conversion by the recorded ones, ledgered with the
    reason and the IC reference (the history as it was recorded is what the fund holds)."""
    from fundapp.portfolio.conversion.models import CapTable, CapTableRow, Conversion
    from fundapp.portfolio.grants.operations import lock_grant
    from fundapp.portfolio.holdings.models import Holding

    conversion = session.get(Conversion, differences[0].conversion_id)
    lock_grant(session, conversion.grant_id)
    conversion = session.get(Conversion, differences[0].conversion_id)
    holding = session.scalar(select(Holding).where(Holding.conversion_id == conversion.id))
    computed = {d.field: d.computed for d in differences}
    recorded = {d.field: d.recorded for d in differences}
    for name, value in recorded.items():
        setattr(conversion, name, value)
    if "fund_units" in recorded and holding is not None:
        holding.units = holding.initial_units = recorded["fund_units"]
    if "converted_amount" in recorded and holding is not None:
        holding.cost_amount = holding.initial_cost_amount = recorded["converted_amount"]
    table_id = session.scalar(select(CapTable.id).where(CapTable.conversion_id == conversion.id))
    if table_id is not None:
        fund_row = session.scalar(select(CapTableRow).where(CapTableRow.cap_table_id == table_id,
                                                            CapTableRow.is_fund.is_(True)))
        if fund_row is not None:
            fund_row.units = conversion.fund_units
            fund_row.percent = conversion.stake_percent
    session.flush()
    record(session, actor=actor, action="history.conversion_accepted", subject_type="grant",
           subject_id=conversion.grant_id, happened_on=conversion.converted_on, payload={
               "conversion_id": conversion.id, "grant_ref": differences[0].grant,
               "computed": {k: str(v) for k, v in computed.items()},
               "recorded": {k: str(v) for k, v in recorded.items()},
               "reason": reason, "ic_reference": ic_reference, "sha256": sha256})


def template_bytes() -> bytes:
    from fundapp.history_import.template import build_template

    return build_template()


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value))
