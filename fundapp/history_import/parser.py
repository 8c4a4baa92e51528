"""Reads the history workbook: every cell checked against its column (sheets.py), every problem
kept as sheet / row / column / message, in the language of whoever imports."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from fundapp.history_import.sheets import BY_KEY, SHEETS, Column, Sheet

FEN = Decimal("0.01")
TRUE = {"yes", "y", "true", "1", "是", "对", "√", "x"}
FALSE = {"no", "n", "false", "0", "否", ""}
IGNORED = {"readme", "说明", "example", "示例"}
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")


@dataclass
class Problem:
    """One problem: the sheet's key, the row as Excel numbers it, the column's key (or "")."""

    sheet: str
    row: int
    column: str
    message: str

    def as_dict(self, locale: str) -> dict[str, Any]:
        sheet = BY_KEY.get(self.sheet)
        sheet_name = (sheet.zh if locale == "zh" else sheet.en) if sheet else self.sheet
        column = next((c for c in sheet.columns if c.key == self.column), None) if sheet else None
        column_name = ((column.zh if locale == "zh" else column.en) if column
                       else self.column)
        return {"sheet": sheet_name, "row": self.row, "column": column_name,
                "message": str(self.message)}


@dataclass
class Row:
    sheet: str
    number: int  # Excel's row number
    values: dict[str, Any]
    bad: bool = False  # a cell of it has a problem: the row is not replayed


@dataclass
class Workbook:
    rows: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def _sheet_for(title: str) -> Sheet | None:
    name = " ".join(str(title).split()).lower()
    for sheet in SHEETS:
        if name in {sheet.title.lower(), sheet.zh.lower(), sheet.en.lower(), sheet.key}:
            return sheet
    return None


def _column_for(sheet: Sheet, header: Any) -> Column | None:
    text = " ".join(str(header or "").split()).lower()
    for column in sheet.columns:
        names = {column.header.lower(), column.zh.lower(), column.en.lower(), column.key}
        if text in names or text.replace(" / ", "/") == column.header.lower().replace(" / ", "/"):
            return column
    return None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidOperation
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    text = str(value).strip().replace(",", "").replace("，", "").replace("¥", "")
    return Decimal(text)


def _cell(column: Column, value: Any) -> Any:
    """The cell's value as the column wants it; raises ValueError with the message."""
    kind = column.kind
    if kind in ("money", "units", "decimal"):
        try:
            number = _decimal(value)
        except (InvalidOperation, ValueError):
            raise ValueError(_l("Not a number: %(value)s.", value=str(value))) from None
        if not number.is_finite():
            raise ValueError(_l("Not a number: %(value)s.", value=str(value)))
        if kind in ("money", "units"):
            rounded = number.quantize(FEN, rounding=ROUND_HALF_UP)
            if rounded != number:
                raise ValueError(_l("At most 2 decimal places: %(value)s.", value=str(value)))
            if number < 0:
                raise ValueError(_l("Must not be negative."))
            return rounded
        return number
    if kind == "int":
        try:
            number = _decimal(value)
        except (InvalidOperation, ValueError):
            raise ValueError(_l("Not a whole number: %(value)s.", value=str(value))) from None
        if number != number.to_integral_value():
            raise ValueError(_l("Not a whole number: %(value)s.", value=str(value)))
        return int(number)
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        match = _DATE.match(str(value).strip())
        if match:
            try:
                return date(*(int(g) for g in match.groups()))
            except ValueError:
                pass
        raise ValueError(_l("Not a date (YYYY-MM-DD): %(value)s.", value=str(value)))
    if kind == "bool":
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError(_l("Write yes or no: %(value)s.", value=str(value)))
    if kind == "ref":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()
    if kind == "choice":
        text = str(value).strip().lower()
        if text not in column.choices:
            raise ValueError(_l("%(value)s is not one of: %(choices)s.", value=str(value),
                                choices=", ".join(column.choices)))
        return text
    return str(value).strip()


def read_workbook(content: bytes, progress: Callable[[int, int], None] | None = None
                  ) -> Workbook:
    """Every sheet the workbook knows, its rows read and checked; never raises on bad data."""
    from openpyxl import load_workbook

    result = Workbook()
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # not an XLSX file at all: one problem for the whole file
        result.problems.append(Problem("", 0, "", str(_l(
            "This file is not an XLSX workbook. Download the template and fill it in."))))
        return result
    try:
        for worksheet in book.worksheets:
            sheet = _sheet_for(worksheet.title)
            if sheet is None:
                if worksheet.title.strip().lower() not in IGNORED and not any(
                        part in IGNORED for part in worksheet.title.lower().split()):
                    result.problems.append(Problem(worksheet.title, 0, "", str(_l(
                        "Unknown sheet %(name)s: it is not read.", name=worksheet.title))))
                continue
            _read_sheet(sheet, worksheet, result)
            if progress:
                progress(len(result.rows), len(SHEETS))
    finally:
        book.close()
    return result


def _read_sheet(sheet: Sheet, worksheet: Any, result: Workbook) -> None:
    rows = worksheet.iter_rows(values_only=True)
    header = next(rows, None)
    out = result.rows.setdefault(sheet.key, [])
    if header is None:
        return
    positions: list[Column | None] = []
    for value in header:
        if value is None or str(value).strip() == "":
            positions.append(None)
            continue
        column = _column_for(sheet, value)
        if column is None:
            result.problems.append(Problem(sheet.key, 1, str(value), str(_l(
                "Unknown column %(name)s.", name=str(value)))))
        positions.append(column)
    present = {c.key for c in positions if c is not None}
    for column in sheet.columns:
        if column.required and column.key not in present:
            result.problems.append(Problem(sheet.key, 1, column.key, str(_l(
                "The column is missing."))))
    for number, cells in enumerate(rows, start=2):
        if cells is None or all(c is None or str(c).strip() == "" for c in cells):
            continue
        values: dict[str, Any] = {}
        before = len(result.problems)
        for column, value in zip(positions, cells, strict=False):
            if column is None:
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                if column.required:
                    result.problems.append(Problem(sheet.key, number, column.key, str(_l(
                        "Missing data for required field."))))
                continue
            try:
                values[column.key] = _cell(column, value)
            except ValueError as exc:
                result.problems.append(Problem(sheet.key, number, column.key, str(exc.args[0])))
        out.append(Row(sheet.key, number, values, bad=len(result.problems) > before))
