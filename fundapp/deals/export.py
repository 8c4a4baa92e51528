"""The pipeline as XLSX and CSV (UTF-8 with a byte-order mark, which Excel opens as UTF-8)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from fundapp.compliance.verify_export import neutralise
from fundapp.deals.operations import stage_label
from fundapp.deals.sectors import sector_label


def _headers() -> list[str]:
    return [_("Deal"), _("Company"), _("Credit code"), _("Sector"), _("Project"), _("Stage"),
            _("Requested grant (CNY)"), _("Project budget (CNY)"), _("Fund manager"),
            _("Roadshow"), _("In stage since"), _("Days in stage")]


def _safe(text: Any) -> str:
    """Text that a spreadsheet will not run as a formula (names come from sign-up sheets); the
    one rule every export of fundapp follows, the ledger export's included."""
    return neutralise("" if text is None else str(text))


def _rows(rows: Iterable[Mapping[str, Any]]):
    locale = str(get_locale() or "zh")
    now = datetime.now(UTC)
    for row in rows:
        yield [row["id"], _safe(row["company_name"]), row["uscc"] or "",
               sector_label(row["sector"], locale) if row["sector"] else "",
               _safe(row["project_name"]), stage_label(row["stage"]),
               row["requested_grant_amount"], row["approved_budget_amount"],
               _safe(row["manager_name"] or ""), _safe(row["roadshow_name"] or ""),
               row["stage_entered_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
               max(0, (now - row["stage_entered_at"]).days)]


def pipeline_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_headers())
    for row in _rows(rows):
        row[6] = f"{row[6]:.2f}"
        row[7] = f"{row[7]:.2f}"
        writer.writerow(row)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def pipeline_xlsx(rows: Iterable[Mapping[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Pipeline"))
    sheet.append(_headers())
    for values in _rows(rows):
        cells = []
        for index, value in enumerate(values):
            cell = WriteOnlyCell(sheet, value=value)
            if index in (6, 7):
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
