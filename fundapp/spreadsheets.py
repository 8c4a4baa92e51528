"""Opening an uploaded XLSX workbook without letting it choose how much work that is.

An XLSX file is a zip of XML files. A 100 KB upload can declare shared strings that inflate to
100 MB (a "zip bomb"), or a sheet whose cells sit in column XFD, which a reader pads out to
16,384 cells a row. So before openpyxl parses anything, the archive is checked from its directory
(the uncompressed sizes it declares, and how far each member inflates) and the worksheets are
scanned, as bytes, for their number of cells and their widest column. Python's zipfile never
inflates a member beyond the size its directory declares, so the declared sizes bound the work.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from flask_babel import lazy_gettext as _l

MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # the whole workbook, uncompressed
MAX_MEMBERS = 1000
MAX_RATIO = 100  # how far a member larger than RATIO_FLOOR may inflate; XML reaches 10 to 30
RATIO_FLOOR = 1024 * 1024
MAX_CELLS = 500_000  # in all worksheets together
MAX_COLUMNS = 256  # the widest column a cell may sit in (IV, as in old Excel)

_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
# A cell element (<c ...> with or without a namespace prefix) and its reference, e.g. r="XFD7".
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*)>")
_CELL_COLUMN = re.compile(rb"""\br\s*=\s*["']\$?([A-Za-z]{1,3})\$?\d""")
_CHUNK = 1024 * 1024


class SpreadsheetTooLarge(ValueError):
    """The workbook would take more work to read than any real upload; `message` says why."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + (letter - ord("A") + 1)
    return number


def check_xlsx(content: bytes) -> None:
    """Refuse a workbook whose unpacked size, inflation ratio, cell count or width is beyond the
    limits, reading only the zip directory and the worksheets' bytes.

    Raises SpreadsheetTooLarge, or zipfile.BadZipFile for a file that is no zip at all.
    """
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise SpreadsheetTooLarge(_l("The workbook has more than %(max)s parts; it cannot be "
                                         "read.", max=MAX_MEMBERS))
        unpacked = sum(member.file_size for member in members)
        if unpacked > MAX_UNPACKED_BYTES:
            raise SpreadsheetTooLarge(_l(
                "The workbook unpacks to %(size)s MB; at most %(max)s MB can be read. Remove "
                "what the sheet does not need, or save it as CSV.",
                size=unpacked // (1024 * 1024), max=MAX_UNPACKED_BYTES // (1024 * 1024)))
        for member in members:
            if (member.file_size > RATIO_FLOOR
                    and member.file_size > MAX_RATIO * max(member.compress_size, 1)):
                raise SpreadsheetTooLarge(_l(
                    "The workbook is compressed far more than a real one (%(name)s inflates "
                    "%(ratio)s times); it cannot be read.", name=member.filename[:100],
                    ratio=member.file_size // max(member.compress_size, 1)))
        cells = 0
        for member in members:
            if not _WORKSHEET.match(member.filename):
                continue
            cells += _scan_worksheet(archive, member, MAX_CELLS - cells)


def _scan_worksheet(archive: zipfile.ZipFile, member: zipfile.ZipInfo, room: int) -> int:
    """The number of cells in one worksheet; refuses past `room` cells or MAX_COLUMNS."""
    count = 0
    tail = b""
    with archive.open(member) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            data = tail + chunk
            # Keep an unfinished tag for the next round, so that no cell is counted twice or cut.
            cut = data.rfind(b"<")
            if cut == -1 or data.find(b">", cut) != -1:
                cut = len(data)
            data, tail = data[:cut], data[cut:]
            for match in _CELL.finditer(data):
                count += 1
                column = _CELL_COLUMN.search(match.group(1))
                if column and _column_number(column.group(1)) > MAX_COLUMNS:
                    raise SpreadsheetTooLarge(_l(
                        "The sheet has cells beyond column %(max)s. Delete the columns on the right, "
                        "or save it as CSV.", max=MAX_COLUMNS))
            if count > room:
                raise SpreadsheetTooLarge(_l(
                    "The workbook has more than %(max)s cells; split it.", max=MAX_CELLS))
    return count


def open_xlsx(content: bytes) -> Any:
    """openpyxl's read-only workbook of an upload that passed `check_xlsx`.

    Raises SpreadsheetTooLarge, or what openpyxl raises for a damaged file.
    """
    from openpyxl import load_workbook

    check_xlsx(content)
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    for sheet in book.worksheets:
        # A declared size wider than the cells themselves would pad every row out to it.
        if getattr(sheet, "max_column", None) and sheet.max_column > MAX_COLUMNS:
            sheet.reset_dimensions()
    return book
