"""Batch intake of roadshow sign-up sheets (报名表): XLSX, or CSV in UTF-8 or GBK.

`preview_signup` reads a sheet and reports every row's problems without writing anything;
`import_signup` imports it all or nothing. Companies are matched by credit code, then by
normalised name, and a deal already opened for the company at this roadshow is not opened again,
so importing the same sheet twice creates nothing new. Each row goes through SignupRowSchema,
the field rules of the forms and the API (amounts, credit codes, lengths of the columns).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import record
from fundapp.dates import not_after_today, shanghai_today
from fundapp.deals.models import (
    Company,
    Contact,
    Deal,
    DealStage,
    DealStageChange,
    Roadshow,
    RoadshowSlot,
)
from fundapp.deals.operations import lock_roadshow, normalise_name
from fundapp.deals.schemas import SignupRowSchema
from fundapp.errors import ValidationFailed
from fundapp.inputs import translate_messages
from fundapp.textfiles import NotText, decode_csv

MAX_SHEET_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # lazy, in the reader's language
    headers: tuple[str, ...]  # accepted header texts, compared case- and space-insensitively
    required: bool = False


COLUMNS = (
    Column("legal_name", _l("Company name"), ("企业名称", "公司名称", "company name",
                                              "company"), True),
    Column("uscc", _l("Credit code"), ("统一社会信用代码", "信用代码", "credit code", "uscc",
                                       "unified social credit code")),
    Column("name_en", _l("English name"), ("英文名称", "english name")),
    Column("sector", _l("Sector"), ("所属行业", "行业", "sector"), True),
    Column("district", _l("District"), ("注册区", "注册地", "district")),
    Column("founded_on", _l("Founded on"), ("成立日期", "founded on", "founded")),
    Column("project_name", _l("Project"), ("项目名称", "project", "project name"), True),
    Column("project_name_en", _l("Project name in English"),
           ("项目英文名称", "英文项目名称", "project name in english", "english project name")),
    Column("requested_grant_amount", _l("Requested grant (CNY)"),
           ("申请拨款金额（元）", "申请拨款金额", "申请金额", "requested grant (cny)",
            "requested grant"), True),
    Column("approved_budget_amount", _l("Project budget (CNY)"),
           ("项目总预算（元）", "项目总预算", "项目预算", "project budget (cny)", "project budget",
            "approved budget"), True),
    Column("contact_name", _l("Contact"), ("联系人", "contact")),
    Column("contact_phone", _l("Phone"), ("联系电话", "电话", "phone")),
    Column("contact_email", _l("E-mail"), ("邮箱", "电子邮箱", "e-mail", "email")),
    Column("position", _l("Slot"), ("路演顺序", "顺序", "slot")),
)

class SheetError(Exception):
    """The file as a whole cannot be read; `message` says why in the reader's language."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class RowProblem:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class SheetRow:
    row: int
    values: dict[str, Any]
    company_id: int | None = None  # the existing company it matched
    deal_id: int | None = None  # the deal already opened for it at this roadshow


@dataclass
class Preview:
    filename: str
    digest: str
    rows: list[SheetRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def is_importable(self) -> bool:
        return bool(self.rows) and not self.problems

    @property
    def new_companies(self) -> int:
        return sum(1 for r in self.rows if r.company_id is None)

    @property
    def new_deals(self) -> int:
        return sum(1 for r in self.rows if r.deal_id is None)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()[:10]
    return str(value).strip()


def read_table(filename: str, content: bytes) -> list[list[Any]]:
    """The sheet's rows as lists of cells; SheetError when the file cannot be read."""
    if len(content) > MAX_SHEET_BYTES:
        size_mb = f"{len(content) / 1024 / 1024:.1f}"
        raise SheetError(_l("The file is %(size)s MB; a sign-up sheet may be at most %(max)s MB.",
                            size=size_mb, max=MAX_SHEET_BYTES // 1024 // 1024))
    if not content.strip():
        raise SheetError(_l("The file is empty."))
    name = filename.lower()
    if content[:4] == b"PK\x03\x04" or name.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(content)
    if name.endswith(".xls") or content[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise SheetError(_l("Old Excel files (.xls) cannot be read: save the sheet as .xlsx or "
                            "CSV."))
    return _read_csv(content)


def _read_xlsx(content: bytes) -> list[list[Any]]:
    from fundapp.spreadsheets import SpreadsheetTooLarge, open_xlsx

    try:
        book = open_xlsx(content)  # bounded: unpacked size, inflation, cells, width
    except SpreadsheetTooLarge as exc:
        raise SheetError(exc.message) from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise SheetError(_l("The file is not a readable XLSX workbook.")) from exc
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        raise SheetError(_l("The file is not a readable XLSX workbook.")) from exc
    try:
        sheet = book.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    except Exception as exc:
        raise SheetError(_l("The file is not a readable XLSX workbook.")) from exc
    finally:
        book.close()


def _read_csv(content: bytes) -> list[list[Any]]:
    try:
        text = decode_csv(content)
    except NotText as exc:
        raise SheetError(exc.message) from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [row for row in csv.reader(io.StringIO(text), dialect)][: MAX_ROWS + 2]
    except csv.Error as exc:
        raise SheetError(_l("The CSV file is malformed: %(problem)s", problem=str(exc))) from exc


def _header_key(text: str) -> str:
    return "".join(text.split()).lower().replace("(", "（").replace(")", "）")


HEADER_INDEX = {_header_key(h): c for c in COLUMNS for h in c.headers}


# Sheets write what schemas call missing as blank cells; what fails is shown as written, except
# the values the preview formats (amounts) or the import relies on (days, slots).
_ROW_SCHEMA = SignupRowSchema()
_SHOWN_AS_WRITTEN = ("legal_name", "uscc", "name_en", "sector", "district", "project_name",
                     "project_name_en",
                     "contact_name", "contact_phone", "contact_email")


def _checked_row(cells: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One row through SignupRowSchema: its values, and its problems by column key."""
    texts = {column.key: _cell_text(cells.get(column.key)) for column in COLUMNS}
    try:
        return _ROW_SCHEMA.load({key: text for key, text in texts.items() if text}), {}
    except ValidationError as exc:
        found = {key: [str(m) for m in translate_messages(
            messages if isinstance(messages, list) else [messages])]
            for key, messages in exc.messages.items()}
        values = {key: texts[key] if key in _SHOWN_AS_WRITTEN else None for key in texts}
        values.update(exc.valid_data or {})
        values["uscc"] = values["uscc"] or None
        values.setdefault("normalised_name", normalise_name(values["legal_name"])
                          if values["legal_name"] and "legal_name" not in found else None)
        return values, found


def parse_sheet(filename: str, content: bytes) -> tuple[list[SheetRow], list[RowProblem]]:
    """Rows with their values cleaned, and every problem found (nothing is looked up)."""
    table = read_table(filename, content)
    while table and not any(_cell_text(v) for v in table[0]):
        table.pop(0)
    if not table:
        raise SheetError(_l("The file is empty."))
    header = [_cell_text(v) for v in table[0]]
    columns: dict[int, Column] = {}
    for index, text in enumerate(header):
        column = HEADER_INDEX.get(_header_key(text))
        if column is not None and column not in columns.values():
            columns[index] = column
    missing = [c for c in COLUMNS if c.required and c not in columns.values()]
    if missing:
        raise SheetError(_l("The header row lacks the columns %(columns)s. Is this a sign-up "
                            "sheet, saved as XLSX or as CSV in UTF-8 or GBK?",
                            columns=", ".join(f"{c.headers[0]} ({c.label})" for c in missing)))
    body = table[1:]
    if len(body) > MAX_ROWS:
        raise SheetError(_l("The sheet has more than %(max)s rows; split it.", max=MAX_ROWS))
    rows: list[SheetRow] = []
    problems: list[RowProblem] = []
    seen_codes: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    labels = {c.key: str(c.label) for c in COLUMNS}
    for offset, raw in enumerate(body):
        number = offset + 2
        cells = {column.key: raw[i] if i < len(raw) else None for i, column in columns.items()}
        if not any(_cell_text(v) for v in cells.values()):
            continue  # blank lines at the end of Excel sheets
        values, found = _checked_row(cells)
        code = values["uscc"] if "uscc" not in found else None
        if code:
            if code in seen_codes:
                found.setdefault("uscc", []).append(str(_l(
                    "The same credit code is on row %(row)s.", row=seen_codes[code])))
            else:
                seen_codes[code] = number
        normalised = values.get("normalised_name")
        if normalised:
            if normalised in seen_names:
                found.setdefault("legal_name", []).append(str(_l(
                    "The same company is on row %(row)s.", row=seen_names[normalised])))
            else:
                seen_names[normalised] = number
        for key, messages in found.items():
            for message in messages:
                problems.append(RowProblem(number, labels.get(key, key), message))
        rows.append(SheetRow(number, values))
    if not rows:
        raise SheetError(_l("The sheet has a header row but no companies."))
    return rows, problems


def _chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def preview_signup(session: Session, roadshow: Roadshow, filename: str,
                   content: bytes) -> Preview:
    """Every row with its problems and what importing it would do. Writes nothing."""
    rows, problems = parse_sheet(filename, content)
    preview = Preview(filename, hashlib.sha256(content).hexdigest(), rows, problems)
    codes = [r.values["uscc"] for r in rows if r.values.get("uscc")]
    names = [r.values["normalised_name"] for r in rows if r.values.get("normalised_name")]
    by_code: dict[str, Company] = {}
    by_name: dict[str, list[Company]] = {}
    for chunk in _chunks(codes):
        for company in session.scalars(select(Company).where(Company.uscc.in_(chunk))):
            by_code[company.uscc] = company
    for chunk in _chunks(names):
        for company in session.scalars(select(Company).where(Company.normalised_name.in_(chunk))):
            by_name.setdefault(company.normalised_name, []).append(company)
    for row in rows:
        code = row.values.get("uscc")
        company = by_code.get(code) if code else None
        if company is None:
            named = by_name.get(row.values.get("normalised_name", ""), [])
            if len(named) == 1 and (not code or not named[0].uscc):
                company = named[0]
            elif named and code:
                preview.problems.append(RowProblem(
                    row.row, str(COLUMNS[1].label),
                    str(_l("%(name)s is already registered with the credit code %(code)s.",
                           name=named[0].legal_name, code=named[0].uscc))))
        row.company_id = company.id if company else None
    matched = [r.company_id for r in rows if r.company_id]
    existing: dict[int, int] = {}
    for chunk in _chunks(matched):
        for deal_id, company_id in session.execute(
                select(Deal.id, Deal.company_id).where(Deal.roadshow_id == roadshow.id,
                                                       Deal.company_id.in_(chunk))):
            existing.setdefault(company_id, deal_id)
    for row in rows:
        row.deal_id = existing.get(row.company_id) if row.company_id else None
    preview.problems.sort(key=lambda p: p.row)
    return preview


@dataclass(frozen=True)
class ImportResult:
    rows: int
    companies_created: int
    companies_matched: int
    deals_created: int
    deals_existing: int


def import_signup(session: Session, roadshow: Roadshow, filename: str, content: bytes, *,
                  actor: str, now: datetime | None = None) -> ImportResult:
    """Import a sign-up sheet all or nothing: any row problem refuses the whole sheet.

    The roadshow is locked first: two imports of one sheet at once create its deals once.
    """
    moment = now or datetime.now(UTC)
    not_after_today(shanghai_today(moment), "created_at")
    roadshow = lock_roadshow(session, roadshow.id)
    preview = preview_signup(session, roadshow, filename, content)
    if preview.problems:
        raise ValidationFailed(_l("The sheet has %(n)s problems; nothing was imported.",
                                  n=len(preview.problems)),
                               details={"rows": [p.as_dict() for p in preview.problems]})
    new_rows = [r for r in preview.rows if r.company_id is None]
    companies = []
    for row in new_rows:
        v = row.values
        company = Company(legal_name=v["legal_name"], name_en=v["name_en"],
                          normalised_name=v["normalised_name"], uscc=v["uscc"],
                          district=v["district"], sector=v["sector"], founded_on=v["founded_on"],
                          created_at=moment)
        if v["contact_name"]:
            company.contacts = [Contact(name=v["contact_name"], phone=v["contact_phone"],
                                        email=v["contact_email"])]
        companies.append(company)
    session.add_all(companies)
    session.flush()
    for row, company in zip(new_rows, companies, strict=True):
        row.company_id = company.id
    slotted = {cid for (cid,) in session.execute(
        select(RoadshowSlot.company_id).where(RoadshowSlot.roadshow_id == roadshow.id))}
    last = max([s.position for s in roadshow.slots] or [0])
    slots = []
    deals = []
    for row in sorted(preview.rows, key=lambda r: (r.values["position"] or 10**6, r.row)):
        if row.company_id not in slotted:
            last = max(last + 1, row.values["position"] or 0)
            slots.append(RoadshowSlot(roadshow_id=roadshow.id, company_id=row.company_id,
                                      position=last))
            slotted.add(row.company_id)
        if row.deal_id is None:
            v = row.values
            deals.append(Deal(company_id=row.company_id, project_name=v["project_name"],
                              project_name_en=v.get("project_name_en", ""),
                              requested_grant_amount=v["requested_grant_amount"],
                              approved_budget_amount=v["approved_budget_amount"],
                              roadshow_id=roadshow.id, stage=DealStage.FORMAL_CHECK,
                              stage_entered_at=moment, created_at=moment))
    session.add_all(slots + deals)
    session.flush()
    session.add_all([DealStageChange(deal_id=d.id, from_stage=None,
                                     to_stage=DealStage.FORMAL_CHECK, actor=actor,
                                     reason=f"sign-up sheet {filename}", changed_at=moment)
                     for d in deals])
    result = ImportResult(len(preview.rows), len(companies), len(preview.rows) - len(companies),
                          len(deals), len(preview.rows) - len(deals))
    record(session, actor=actor, action="roadshow.signup_imported", subject_type="roadshow",
           subject_id=roadshow.id, at=moment,
           payload={"filename": filename, "sha256": preview.digest, "rows": result.rows,
                    "companies_created": [c.id for c in companies],
                    "companies_matched": result.companies_matched,
                    "deals_created": [d.id for d in deals],
                    "total_requested_amount": sum((d.requested_grant_amount for d in deals),
                                                  Decimal(0))})
    return result
