"""Signed ledger exports for auditors (issue 7, R12), rebuilt on demand (issue 16).

An export is a segment of the hash chain, chosen by period (dates in Asia/Shanghai) and scope
(everything, an action prefix such as "deal.", or one subject type), handed out as one ZIP:

    entries.jsonl   every entry of the chain segment, one canonical JSON object a line; the
                    entries recorded within the period and in scope with their exact values, every
                    other entry of the segment (another scope, or recorded outside the period:
                    recorded_at follows seq only roughly) as {"seq","prev_hash","hash",
                    "redacted": true}, so that the chain stays whole without showing them
    entries.csv     the entries in scope (UTF-8 with BOM for Excel), formula-like cells neutralised
    entries.xlsx    the same rows, as sheets of inline strings ("entries", "entries2", ...: a sheet
                    holds XLSX_MAX_ROWS rows, its header included)
    public_key.pem  the Ed25519 public key that signed the manifest (for convenience: auditors
                    should use the one published at /api/v1/ledger/public-key)
    README.txt      how to verify
    manifest.json   scope, counts, first/last sequence, each entries file's SHA-256, and the
                    anchors that tie the segment to the rest of the chain
    manifest.sig    raw Ed25519 signature over the exact bytes of manifest.json

An export is a pure function of its scope and the immutable ledger, and no file is kept on any
host: creating one renders every file once to hash it, signs the manifest and stores in the
database only the manifest's exact bytes, its signature, the public key that made it and the ZIP
layout (CRCs and sheet sizes, the rows per sheet). A download (bundle_response) rebuilds the
bundle from the ledger and streams it, byte for byte the same each time on any host: every ZIP
(the bundle, and the workbook inside it) is written here, members stored uncompressed (no zlib
version can change a byte) with a fixed time, in a fixed order, their sizes and CRCs in the local
headers (no data descriptors, which Excel refuses), ZIP64 records only past 4 GiB. The workbook's
sheets must be sized before their bytes: while the export is made their XML is spooled to an
anonymous temporary file (unlinked from the start, about 800 bytes an entry in scope, gone
whatever happens) and read back once to hash the workbook.

Rows are read with a raw database cursor in keyset pages of EXPORT_BATCH entries and rendered a
page at a time, so memory stays flat whatever the ledger's size. The export row and its own ledger
entry are added in the caller's transaction only once the manifest is signed: an interrupted export
leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import os
import re
import shutil
import struct
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from json.encoder import encode_basestring as _quote
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import day_text, format_time, record
from fundapp.compliance.models import LedgerEntry, LedgerExport, LedgerHead
from fundapp.compliance.signing import load_signing_key
from fundapp.compliance.verify_export import (
    CSV_COLUMNS,
    CSV_COLUMNS_V1,
    FORMAT,
    FORMAT_V1,
    NEUTRALISED_STARTS,
)
from fundapp.errors import AppError, NotFound, ValidationFailed
from fundapp.fields import FIRST_DAY, LAST_DAY, day_out_of_range  # noqa: F401  (shared bounds)

TIMEZONE = ZoneInfo("Asia/Shanghai")
# Periods, ledger filters and other days the compliance area accepts: a fund's ledger lives well
# inside these, and day arithmetic (the day after `to`, midnight in UTC) stays in range.
SCOPE_KINDS = ("all", "action", "subject_type")
EXPORT_BATCH = 10_000
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included (read at run time: tests
#                            patch it to see a workbook continue on a new sheet)
XLSX_MAX_CELL = 32_767  # Excel's limit per cell
# Characters XML 1.0 cannot hold: shown as \xNN in the XLSX copy only.
XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
ZIP64_LIMIT = 0xFFFFFFFF  # sizes and offsets from here on need ZIP64 records
BUNDLE_FILES = ("entries.jsonl", "entries.csv", "entries.xlsx", "public_key.pem", "README.txt",
                "manifest.json", "manifest.sig")
ProgressCallback = Callable[[int, int], Any]


def text_problem(value: str) -> str | None:
    """The message for text no database column can hold (a NUL byte, a lone surrogate)."""
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        return str(_l("Remove the control characters from this text."))
    return None


def day_start(day: date) -> str:
    """Midnight of `day` in Shanghai as recorded_at text (UTC), for comparing with entries."""
    return format_time(datetime.combine(day, datetime.min.time(), TIMEZONE))


@dataclass(frozen=True)
class ExportScope:
    from_on: date
    to_on: date
    kind: str = "all"
    value: str = ""

    def validate(self) -> None:
        problems: dict[str, list[str]] = {}
        for name, day in (("from", self.from_on), ("to", self.to_on)):
            if (message := day_out_of_range(day)) is not None:
                problems[name] = [message]
        if problems:
            raise ValidationFailed(_l("Some fields are not valid."), details=problems)
        if self.to_on < self.from_on:
            problems["to"] = [str(_l("The end date is before the start date."))]
        if self.kind not in SCOPE_KINDS:
            problems["scope"] = [str(_l("Unknown scope %(scope)s: use one of %(choices)s.",
                                        scope=self.kind, choices=", ".join(SCOPE_KINDS)))]
        elif self.kind != "all" and not self.value.strip():
            problems["value"] = [str(_l("Give the action prefix or subject type to export."))]
        elif len(self.value) > 80:
            problems["value"] = [str(_l("Longer than maximum length {max}.")).format(max=80)]
        elif (message := text_problem(self.value)) is not None:
            problems["value"] = [message]
        if problems:
            raise ValidationFailed(_l("Some fields are not valid."), details=problems)

    def matches(self, action: str, subject_type: str) -> bool:
        if self.kind == "action":
            return action.startswith(self.value)
        if self.kind == "subject_type":
            return subject_type == self.value
        return True

    def recorded_bounds(self) -> tuple[str, str]:
        """[from, before) as recorded_at text (UTC), from midnight to midnight in Shanghai."""
        return day_start(self.from_on), day_start(self.to_on + timedelta(days=1))

    def as_dict(self) -> dict[str, str]:
        low, high = self.recorded_bounds()
        return {"from": self.from_on.isoformat(), "to": self.to_on.isoformat(),
                "timezone": "Asia/Shanghai", "kind": self.kind, "value": self.value,
                "recorded_at_from": low, "recorded_at_before": high}


@dataclass(frozen=True)
class ExportResult:
    export: LedgerExport
    path: Path | None  # the copy written to `destination`, when one was asked for
    manifest: dict[str, Any]


# ---- reading the segment ---------------------------------------------------------------------

_SELECT = ("SELECT seq, recorded_at, actor, action, subject_type, subject_id, payload, prev_hash, "
           "hash, happened_on FROM ledger_entries WHERE seq > {p} AND seq <= {p} ORDER BY seq "
           "LIMIT {p}")


def fetch_batches(session: Session, first_seq: int, last_seq: int,
                  batch: int | None = None) -> Iterator[list[tuple]]:
    """Entries first_seq..last_seq in order, as lists of plain tuples (the columns of
    CSV_COLUMNS: happened_on last, as ISO text or ""), read through a raw cursor in keyset pages
    of `batch` rows."""
    batch = batch or EXPORT_BATCH
    connection = session.connection()
    sql = _SELECT.format(p="?" if connection.dialect.paramstyle == "qmark" else "%s")
    cursor = connection.connection.cursor()
    try:
        last = first_seq - 1
        while last < last_seq:
            cursor.execute(sql, (last, last_seq, batch))
            rows = [(*row[:9], day_text(row[9])) for row in cursor.fetchall()]
            if not rows:
                return
            yield rows
            last = rows[-1][0]
    finally:
        cursor.close()


# ---- rendering a page of rows ----------------------------------------------------------------

def render_jsonl(rows: list[tuple], flags: list[bool], with_day: bool = True) -> bytes:
    """The canonical JSON of each entry (sorted keys, no spaces), spelt out like entry_hash().

    `with_day` (format 2, issue 12): an entry shown in full names its happened_on when it has
    one, as its hash does; format 1 exports (made before any entry had one) never do."""
    q = _quote
    key = ',"happened_on":' if with_day else None
    lines = [
        f'{{"action":{q(action)},"actor":{q(actor)}{key + q(day) if key and day else ""},'
        f'"hash":{q(hash_)},"payload":{q(payload)},'
        f'"prev_hash":{q(prev)},"recorded_at":{q(at)},"seq":{int(seq)},'
        f'"subject_id":{q(sid)},"subject_type":{q(stype)}}}\n' if full else
        f'{{"hash":{q(hash_)},"prev_hash":{q(prev)},"redacted":true,"seq":{int(seq)}}}\n'
        for (seq, at, actor, action, stype, sid, payload, prev, hash_, day), full
        in zip(rows, flags, strict=True)]
    return "".join(lines).encode("utf-8")


def neutralised_rows(rows: list[tuple], flags: list[bool], with_day: bool = True) -> list[tuple]:
    """The rows shown in full, every text cell neutralised (CSV and XLSX show these); format 2
    (`with_day`) keeps happened_on last (ISO digits or "": nothing to neutralise)."""
    s = NEUTRALISED_STARTS
    shown = [(seq, "'" + at if at.startswith(s) else at,
              "'" + actor if actor.startswith(s) else actor,
              "'" + action if action.startswith(s) else action,
              "'" + stype if stype.startswith(s) else stype,
              "'" + sid if sid.startswith(s) else sid,
              "'" + payload if payload.startswith(s) else payload,
              "'" + prev if prev.startswith(s) else prev,
              "'" + hash_ if hash_.startswith(s) else hash_, *((day,) if with_day else ()))
             for (seq, at, actor, action, stype, sid, payload, prev, hash_, day), full
             in zip(rows, flags, strict=True) if full]
    return shown


CSV_BOM = "\ufeff".encode()


def _csv_cell(v: str) -> str:
    # csv.writer's default (excel) dialect, spelt out for speed: a cell holding a comma, a quote
    # or a line break is quoted, its quotes doubled (tests compare the two on any text).
    return ('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v or "\n" in v or "\r" in v)
            else v)


def render_csv(shown: list[tuple]) -> bytes:
    """Neutralised rows as CSV lines, exactly as csv.writer writes them (format 2 rows end with
    happened_on, format 1 rows without it)."""
    c = _csv_cell
    return "".join([
        f"{seq},{c(at)},{c(actor)},{c(action)},{c(stype)},{c(sid)},{c(payload)},{c(prev)},"
        f"{c(hash_)}{''.join(',' + c(v) for v in day)}\r\n"
        for seq, at, actor, action, stype, sid, payload, prev, hash_, *day in shown
    ]).encode("utf-8")


def csv_header(with_day: bool = True) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(CSV_COLUMNS if with_day else CSV_COLUMNS_V1)
    return CSV_BOM + buffer.getvalue().encode("utf-8")


# XML of the workbook: sheets of inline strings, without shared strings or styles beyond the
# default, every cell addressed (r="B7") for the strictest readers.
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_HEAD = (_XML_DECL + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"
_STYLES = (_XML_DECL + f'<styleSheet xmlns="{_MAIN}"><fonts count="1"><font><sz val="11"/>'
           '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill '
           'patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
           '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
           '</cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
           'xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
           'builtinId="0"/></cellStyles></styleSheet>')
_XLSX_RISKY_BYTES = bytes([ord("&"), ord("\r"), *range(0, 9), 11, 12, *range(14, 32)])


def sheet_name(number: int) -> str:
    return "entries" if number == 1 else f"entries{number}"


def _xlsx_text(value: str) -> str:
    """A neutralised cell as XML text: illegal characters as \\xNN, cut at Excel's cell limit."""
    value = XLSX_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if len(value) > XLSX_MAX_CELL:
        value = value[:XLSX_MAX_CELL - 40] + " … [cut: see entries.jsonl]"
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _rows_xml(shown: list[tuple], first_row: int) -> str:
    t = '</t></is></c><c r="'
    if shown and len(shown[0]) > 9:  # format 2: happened_on in column J
        return "".join(
            f'<row r="{n}"><c r="A{n}"><v>{seq}</v></c><c r="B{n}" t="inlineStr"><is><t>{at}{t}'
            f'C{n}" t="inlineStr"><is><t xml:space="preserve">{actor}{t}'
            f'D{n}" t="inlineStr"><is><t xml:space="preserve">{action}{t}'
            f'E{n}" t="inlineStr"><is><t xml:space="preserve">{stype}{t}'
            f'F{n}" t="inlineStr"><is><t xml:space="preserve">{sid}{t}'
            f'G{n}" t="inlineStr"><is><t xml:space="preserve">{payload}{t}'
            f'H{n}" t="inlineStr"><is><t>{prev}{t}I{n}" t="inlineStr"><is><t>{hash_}{t}'
            f'J{n}" t="inlineStr"><is><t>{day}</t></is></c></row>'
            for n, (seq, at, actor, action, stype, sid, payload, prev, hash_, day)
            in enumerate(shown, start=first_row))
    return "".join(
        f'<row r="{n}"><c r="A{n}"><v>{seq}</v></c><c r="B{n}" t="inlineStr"><is><t>{at}{t}'
        f'C{n}" t="inlineStr"><is><t xml:space="preserve">{actor}{t}'
        f'D{n}" t="inlineStr"><is><t xml:space="preserve">{action}{t}'
        f'E{n}" t="inlineStr"><is><t xml:space="preserve">{stype}{t}'
        f'F{n}" t="inlineStr"><is><t xml:space="preserve">{sid}{t}'
        f'G{n}" t="inlineStr"><is><t xml:space="preserve">{payload}{t}'
        f'H{n}" t="inlineStr"><is><t>{prev}{t}I{n}" t="inlineStr"><is><t>{hash_}</t></is></c>'
        "</row>"
        for n, (seq, at, actor, action, stype, sid, payload, prev, hash_)
        in enumerate(shown, start=first_row))


_TAGS_PER_ROW = {9: _rows_xml([(1, *"abcdefgh")], 1).count("<"),
                 10: _rows_xml([(1, *"abcdefghi")], 1).count("<")}
_COLUMN_TEXTS = [operator.itemgetter(i) for i in range(1, 9)]


def _sheet_rows(shown: list[tuple], first_row: int) -> bytes:
    """<row> elements for neutralised rows, the first numbered `first_row`, as UTF-8. Cells are
    written as they are when nothing needs escaping (the page holds no &, \r or control character
    and exactly the markup's < and >); otherwise the page is written again cell by cell."""
    xml = _rows_xml(shown, first_row)
    tags = _TAGS_PER_ROW[len(shown[0]) if shown else 9] * len(shown)
    data = xml.encode("utf-8")
    if (xml.count("<") != tags or xml.count(">") != tags
            or len(data.translate(None, _XLSX_RISKY_BYTES)) != len(data)
            or max((max(map(len, map(column, shown)), default=0) for column in _COLUMN_TEXTS),
                   default=0) > XLSX_MAX_CELL):
        data = _rows_xml([(row[0], *map(_xlsx_text, row[1:])) for row in shown],
                         first_row).encode("utf-8")
    return data


_HEADER_ROWS = {with_day: _rows_xml([columns], 1).replace(
    '<c r="A1"><v>seq</v></c>', '<c r="A1" t="inlineStr"><is><t>seq</t></is></c>')
    for with_day, columns in ((True, CSV_COLUMNS), (False, CSV_COLUMNS_V1))}


class _Sheets:
    """Splits the rows shown into sheets of XLSX_MAX_ROWS rows (the header repeated on each);
    feed() returns the XML as (sheet number, bytes) pieces in order."""

    def __init__(self, limit: int, with_day: bool = True) -> None:
        self.limit = limit  # data rows per sheet
        self.header = _HEADER_ROWS[with_day]
        self.sheet = 0
        self.rows = self.limit  # the first row shown opens sheet 1

    def _open(self) -> tuple[int, bytes]:
        self.sheet += 1
        self.rows = 0
        return self.sheet, (_SHEET_HEAD + self.header).encode()

    def feed(self, shown: list[tuple]) -> list[tuple[int, bytes]]:
        pieces = []
        while shown:
            if self.rows >= self.limit:
                if self.sheet:
                    pieces.append((self.sheet, _SHEET_TAIL.encode()))
                pieces.append(self._open())
            room = self.limit - self.rows
            part, shown = shown[:room], shown[room:]
            pieces.append((self.sheet, _sheet_rows(part, self.rows + 2)))
            self.rows += len(part)
        return pieces

    def close(self) -> list[tuple[int, bytes]]:
        pieces = [] if self.sheet else [self._open()]
        return [*pieces, (self.sheet, _SHEET_TAIL.encode())]


def _xlsx_parts(sheets: int) -> list[tuple[str, bytes]]:
    """The workbook's parts other than its sheets, which come before them in this order."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for n in range(1, sheets + 1))
    types = (_XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
             'content-types"><Default Extension="rels" ContentType="application/'
             'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
             'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
             'main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/'
             'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
             + overrides + "</Types>")
    root_rels = (_XML_DECL + f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
                 'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                 'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    book = (_XML_DECL + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            + "".join(f'<sheet name="{sheet_name(n)}" sheetId="{n}" r:id="rId{n}"/>'
                      for n in range(1, sheets + 1))
            + "</sheets></workbook>")
    book_rels = (_XML_DECL + f'<Relationships xmlns="{_PKG_REL}">'
                 + "".join(f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" '
                           f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, sheets + 1))
                 + f'<Relationship Id="rId{sheets + 1}" Type="{_REL}/styles" '
                 'Target="styles.xml"/></Relationships>')
    return [("[Content_Types].xml", types.encode()), ("_rels/.rels", root_rels.encode()),
            ("xl/workbook.xml", book.encode()), ("xl/_rels/workbook.xml.rels", book_rels.encode()),
            ("xl/styles.xml", _STYLES.encode())]


# ---- ZIP files whose members' sizes and CRCs are known before their bytes ---------------------

_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1  # 1980-01-01 00:00:00, the earliest ZIP time


class ZipStream:
    """Writes a ZIP as a sequence of byte strings: member(name, size, crc) gives the local header,
    the caller then yields exactly `size` bytes, and end() gives the central directory. Members are
    stored (no compression) with fixed times: the same members give the same bytes anywhere."""

    def __init__(self) -> None:
        self.offset = 0
        self.members: list[tuple[bytes, int, int, int]] = []

    def member(self, name: str, size: int, crc: int) -> bytes:
        raw = name.encode("ascii")
        wide = size >= ZIP64_LIMIT
        extra = struct.pack("<HHQQ", 1, 16, size, size) if wide else b""
        small = 0xFFFFFFFF if wide else size
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if wide else 20, 0, 0, _DOS_TIME,
                           _DOS_DATE, crc, small, small, len(raw), len(extra)) + raw + extra
        self.members.append((raw, size, crc, self.offset))
        self.offset += len(head) + size
        return head

    def end(self) -> bytes:
        start = self.offset
        entries = []
        for raw, size, crc, offset in self.members:
            big = [size, size] if size >= ZIP64_LIMIT else []
            if offset >= ZIP64_LIMIT:
                big.append(offset)
            extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
            version = 45 if big else 20
            small = 0xFFFFFFFF if size >= ZIP64_LIMIT else size
            entries.append(struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, 0, _DOS_TIME, _DOS_DATE,
                crc, small, small, len(raw), len(extra), 0, 0, 0, 0,
                0xFFFFFFFF if offset >= ZIP64_LIMIT else offset) + raw + extra)
        directory = b"".join(entries)
        count, length = len(self.members), len(directory)
        tail = b""
        if start >= ZIP64_LIMIT or length >= ZIP64_LIMIT or count >= 0xFFFF:
            tail = (struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, length,
                                start)
                    + struct.pack("<IIQI", 0x07064B50, 0, start + length, 1))
            count, length, start = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, length, start, 0)
        self.offset += len(directory) + len(tail)
        return directory + tail


class _Digest:
    """SHA-256, CRC-32 and size of a stream of bytes."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.crc = 0
        self.size = 0

    def update(self, data: bytes) -> None:
        self.sha.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)


class _Segment:
    """What a bundle is rebuilt from: the chain segment and the period and scope shown in full."""

    def __init__(self, first_seq: int, last_seq: int, scope: dict[str, str],
                 with_day: bool = True) -> None:
        self.first_seq, self.last_seq = first_seq, last_seq
        self.with_day = with_day  # format 2 (issue 12) shows happened_on; format 1 did not
        low, high = scope["recorded_at_from"], scope["recorded_at_before"]
        kind, value = scope.get("kind", "all"), scope.get("value", "")
        if kind == "action":
            self.flags = lambda rows: [low <= r[1] < high and r[3].startswith(value) for r in rows]
        elif kind == "subject_type":
            self.flags = lambda rows: [low <= r[1] < high and r[4] == value for r in rows]
        else:
            self.flags = lambda rows: [low <= r[1] < high for r in rows]

    def batches(self, session: Session) -> Iterator[tuple[list[tuple], list[bool]]]:
        for rows in fetch_batches(session, self.first_seq, self.last_seq):
            yield rows, self.flags(rows)


def _counting(batches: Iterable[tuple[list[tuple], list[bool]]], progress: ProgressCallback | None,
              done: int, total: int) -> Iterator[tuple[list[tuple], list[bool]]]:
    for rows, flags in batches:
        yield rows, flags
        done += len(rows)
        if progress is not None:
            progress(done, total)


def jsonl_chunks(session: Session, segment: _Segment) -> Iterator[bytes]:
    for rows, flags in segment.batches(session):
        yield render_jsonl(rows, flags, segment.with_day)


def csv_chunks(session: Session, segment: _Segment) -> Iterator[bytes]:
    yield csv_header(segment.with_day)
    for rows, flags in segment.batches(session):
        yield render_csv(neutralised_rows(rows, flags, segment.with_day))


def sheet_pieces(batches: Iterable[tuple[list[tuple], list[bool]]],
                 rows_per_sheet: int, with_day: bool = True) -> Iterator[tuple[int, bytes]]:
    """The XML of the workbook's sheets as (sheet number, bytes) pieces, in order."""
    splitter = _Sheets(rows_per_sheet, with_day)
    for rows, flags in batches:
        yield from splitter.feed(neutralised_rows(rows, flags, with_day))
    yield from splitter.close()


def xlsx_chunks(pieces: Iterable[tuple[int, bytes]], sheets: list[list[int]]) -> Iterator[bytes]:
    """entries.xlsx from its sheets' XML pieces, given each sheet's [size, crc] (known from a
    first rendering)."""
    zipped = ZipStream()
    for name, data in _xlsx_parts(len(sheets)):
        yield zipped.member(name, len(data), zlib.crc32(data))
        yield data
    current, written = 0, 0
    for number, data in pieces:
        if number != current:
            if current and written != sheets[current - 1][0]:
                raise ExportChanged(current)
            current, written = number, 0
            size, crc = sheets[number - 1]
            yield zipped.member(f"xl/worksheets/sheet{number}.xml", size, crc)
        written += len(data)
        yield data
    if current != len(sheets) or written != sheets[-1][0]:
        raise ExportChanged(current)
    yield zipped.end()


def _spooled_pieces(spool: IO[bytes], sheets: list[list[int]]) -> Iterator[tuple[int, bytes]]:
    spool.seek(0)
    for number, (size, _crc) in enumerate(sheets, start=1):
        while size > 0:
            block = spool.read(min(size, 1 << 20))
            if not block:
                raise ExportChanged(number)
            size -= len(block)
            yield number, block


class ExportChanged(RuntimeError):
    """The ledger no longer gives the bytes the export's manifest describes."""


def _render(session: Session, segment: _Segment, progress: ProgressCallback | None,
            total: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Render every file once: the summary for the manifest and the ZIP layout to store."""
    jsonl, csv_digest = _Digest(), _Digest()
    csv_digest.update(csv_header(segment.with_day))
    rows_per_sheet = XLSX_MAX_ROWS - 1  # the header takes a row of each sheet
    splitter = _Sheets(rows_per_sheet, segment.with_day)
    sheets: dict[int, list[int]] = {}
    first = last = None
    before = after = ""
    chain = shown_count = 0
    # The workbook's sheets go into it with their sizes and CRCs ahead of their bytes: their XML
    # is spooled to an anonymous temporary file (unlinked from the start: nothing is left behind
    # whatever happens) and read back to put the workbook together once they are known.
    with tempfile.TemporaryFile(prefix="fundapp-export-") as spool:

        def add(found: list[tuple[int, bytes]]) -> None:
            for number, data in found:
                size_crc = sheets.setdefault(number, [0, 0])
                size_crc[0] += len(data)
                size_crc[1] = zlib.crc32(data, size_crc[1])
                spool.write(data)

        for rows, flags in _counting(segment.batches(session), progress, 0, total):
            if first is None:
                first, before = rows[0][0], rows[0][7]
            jsonl.update(render_jsonl(rows, flags, segment.with_day))
            shown = neutralised_rows(rows, flags, segment.with_day)
            csv_digest.update(render_csv(shown))
            add(splitter.feed(shown))
            chain += len(rows)
            shown_count += len(shown)
            last, after = rows[-1][0], rows[-1][8]
        add(splitter.close())
        if first is None or first != segment.first_seq or last != segment.last_seq:
            raise ExportChanged(0)
        layout = {"entries.jsonl": {"crc32": jsonl.crc}, "entries.csv": {"crc32": csv_digest.crc},
                  "entries.xlsx": {"sheets": [sheets[n] for n in sorted(sheets)],
                                   "rows_per_sheet": rows_per_sheet}}
        xlsx = _Digest()
        for chunk in xlsx_chunks(_spooled_pieces(spool, layout["entries.xlsx"]["sheets"]),
                                 layout["entries.xlsx"]["sheets"]):
            xlsx.update(chunk)
    layout["entries.xlsx"]["crc32"] = xlsx.crc
    summary = {
        "first_seq": first, "last_seq": last, "chain_hash_before": before,
        "chain_hash_after": after, "counts": {"entries": shown_count, "chain_entries": chain,
                                              "redacted": chain - shown_count},
        "files": {
            "entries.jsonl": {"sha256": jsonl.sha.hexdigest(), "bytes": jsonl.size,
                              "lines": chain},
            "entries.csv": {"sha256": csv_digest.sha.hexdigest(), "bytes": csv_digest.size,
                            "rows": shown_count},
            "entries.xlsx": {"sha256": xlsx.sha.hexdigest(), "bytes": xlsx.size,
                             "rows": shown_count, "sheets": len(sheets)},
        },
    }
    return summary, layout


README = """fundapp ledger export
=====================

manifest.json lists what this export holds and the SHA-256 of every file; manifest.sig is the
fund's Ed25519 signature over the exact bytes of manifest.json. entries.jsonl holds the exact
entries and is what the hash chain is verified from; entries.csv and entries.xlsx are copies for
reading, where a cell that starts with = + - @ ' a tab or a carriage return carries one extra
leading apostrophe so that a spreadsheet never runs it as a formula.

entries.jsonl holds the whole chain segment from the first to the last entry of the period in
scope: entries recorded within the period and in scope in full, any other entry of the segment as
a hash-only line. manifest.json names the anchors that tie the segment to the rest of the chain:
the hash of the entry just before it (64 zeros for the first entry) and the entry just after it.

Verify offline (Python 3.11+ with the `cryptography` package), pinning the fund's key:

    python3 verify_ledger_export.py THIS_EXPORT.zip --fingerprint FUND_FINGERPRINT
    python3 verify_ledger_export.py THIS_EXPORT.zip --public-key fund_public_key.pem

using the verifier from the fund's export page and the fingerprint the fund publishes (on the
export page, at /api/v1/ledger/public-key, or as you received it from the fund). public_key.pem in
this bundle proves nothing by itself: whoever changes the entries can re-sign them with a key of
their own. Without --fingerprint or --public-key the verifier checks everything but does not say
VERIFIED; it prints the bundle key's fingerprint for you to compare with the fund's.
The signature alone can also be checked with OpenSSL 3:

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig
"""


def segment_bounds(session: Session, scope: ExportScope) -> tuple[int, int] | None:
    """(first, last) sequence of the entries in scope within the period, or None."""
    low, high = scope.recorded_bounds()
    head = session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0
    stmt = select(func.min(LedgerEntry.seq), func.max(LedgerEntry.seq)).where(
        LedgerEntry.recorded_at >= low, LedgerEntry.recorded_at < high, LedgerEntry.seq <= head)
    if scope.kind == "action":
        # substr, not LIKE: exact and case-sensitive on both databases, no wildcards to escape.
        stmt = stmt.where(func.substr(LedgerEntry.action, 1, len(scope.value)) == scope.value)
    elif scope.kind == "subject_type":
        stmt = stmt.where(LedgerEntry.subject_type == scope.value)
    first, last = session.execute(stmt).one()
    return None if first is None else (int(first), int(last))


def entry_after(session: Session, last_seq: int) -> dict[str, Any] | None:
    """The anchor after a segment: seq, prev_hash and hash of entry last_seq + 1, if recorded."""
    head = session.scalar(select(LedgerHead.seq).where(LedgerHead.id == 1)) or 0
    if last_seq >= head:
        return None
    row = session.execute(select(LedgerEntry.seq, LedgerEntry.prev_hash, LedgerEntry.hash)
                          .where(LedgerEntry.seq == last_seq + 1)).one_or_none()
    return None if row is None else {"seq": int(row.seq), "prev_hash": row.prev_hash,
                                     "hash": row.hash}




def create_export(session: Session, scope: ExportScope, *, actor: str,
                  progress: ProgressCallback | None = None, destination: Path | None = None,
                  fund_name: str = "") -> ExportResult:
    """Sign an export of `scope` and record it (row + ledger entry); flushes, never commits.

    Nothing is written anywhere but the caller's transaction: the bundle is rebuilt on demand
    (bundle_chunks). `progress(done, total)` is called after every page of rows (entries of the
    segment rendered, out of its length). `destination`, a .zip path or a directory to create,
    also writes a copy there (the command line's --out).
    """
    scope.validate()
    key = load_signing_key()
    bounds = segment_bounds(session, scope)
    if bounds is None:
        raise AppError(_l("No ledger entries match this period and scope."), code="empty_export",
                       status=422, details={"from": [str(_l("No ledger entries match this "
                                                            "period and scope."))]})
    if destination is not None:
        destination = destination.resolve()
        if destination.exists():
            raise AppError(_l("%(path)s already exists.", path=str(destination)),
                           code="exists", status=409)
    uid = uuid.uuid4().hex
    created_at = datetime.now(UTC)
    segment = _Segment(*bounds, scope.as_dict())
    summary, layout = _render(session, segment, progress, bounds[1] - bounds[0] + 1)
    # The anchors tie the segment to the rest of the chain: it starts from the hash of the
    # entry before it (the genesis value for entry 1) and the entry after it, when there is
    # one, names the segment's last hash as its prev_hash.
    summary["anchor_before"] = {"seq": summary["first_seq"] - 1,
                                "hash": summary["chain_hash_before"]}
    summary["anchor_after"] = entry_after(session, summary["last_seq"])
    manifest = {
        "format": FORMAT,
        "export_uid": uid,
        "fund": fund_name,
        "created_at": format_time(created_at),
        "created_by": actor,
        "scope": scope.as_dict(),
        **summary,
        "public_key_fingerprint": key.fingerprint,
        "entry_hash": "sha256 of the canonical JSON of action, actor, happened_on (only when "
                      "not empty), payload, prev_hash, recorded_at, seq, subject_id, "
                      "subject_type (sorted keys, no spaces, UTF-8)",
        "clause": "R12",
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n").encode("utf-8")
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    export = LedgerExport(
        uid=uid, created_at=created_at, created_by=actor, period_from_on=scope.from_on,
        period_to_on=scope.to_on, scope_kind=scope.kind, scope_value=scope.value,
        entry_count=summary["counts"]["entries"], chain_count=summary["counts"]["chain_entries"],
        first_seq=summary["first_seq"], last_seq=summary["last_seq"],
        chain_hash_before=summary["chain_hash_before"],
        chain_hash_after=summary["chain_hash_after"], manifest_sha256=manifest_sha,
        key_fingerprint=key.fingerprint,
        file_name=f"ledger-export-{scope.from_on:%Y%m%d}-{scope.to_on:%Y%m%d}-{uid[:8]}.zip",
        size_bytes=0, manifest_json=manifest_bytes.decode("utf-8"),
        manifest_sig=key.sign(manifest_bytes), public_key_pem=key.public_pem,
        bundle_layout=json.dumps(layout, sort_keys=True))
    export.size_bytes = bundle_size(export)
    session.add(export)
    session.flush()
    record(session, actor=actor, action="ledger.exported", subject_type="ledger_export",
           subject_id=export.id, payload={
               "clause": "R12", "export_uid": uid, "scope": scope.as_dict(),
               "counts": summary["counts"], "first_seq": summary["first_seq"],
               "last_seq": summary["last_seq"], "chain_hash_after": summary["chain_hash_after"],
               "anchor_after": summary["anchor_after"],
               "manifest_sha256": manifest_sha, "key_fingerprint": key.fingerprint})
    path = write_bundle(session, export, destination) if destination is not None else None
    return ExportResult(export, path, manifest)


# ---- rebuilding a bundle ---------------------------------------------------------------------

def rebuildable(export: LedgerExport) -> bool:
    return bool(export.manifest_json and export.manifest_sig and export.bundle_layout
                and export.public_key_pem)


def _require_rebuildable(export: LedgerExport) -> None:
    if not rebuildable(export):
        raise AppError(_l("This export was made before exports were rebuilt on demand, and its "
                          "file was kept only on the host that made it: create the export again."),
                       code="export_predates_rebuild", status=410)


def _small_files(export: LedgerExport) -> list[tuple[str, bytes]]:
    return [("public_key.pem", export.public_key_pem.encode()), ("README.txt", README.encode()),
            ("manifest.json", export.manifest_json.encode("utf-8")),
            ("manifest.sig", bytes(export.manifest_sig))]


def _file_chunks(session: Session, export: LedgerExport) -> list[tuple[str, int, int, Any]]:
    """(name, size, crc32, chunks) of every file of the bundle, in order."""
    manifest = json.loads(export.manifest_json)
    layout = json.loads(export.bundle_layout)
    files = manifest["files"]
    segment = _Segment(int(manifest["first_seq"]), int(manifest["last_seq"]), manifest["scope"],
                       with_day=manifest.get("format") != FORMAT_V1)
    big = [
        ("entries.jsonl", lambda: jsonl_chunks(session, segment)),
        ("entries.csv", lambda: csv_chunks(session, segment)),
        ("entries.xlsx", lambda: xlsx_chunks(
            sheet_pieces(segment.batches(session), layout["entries.xlsx"]["rows_per_sheet"],
                         segment.with_day),
            layout["entries.xlsx"]["sheets"])),
    ]
    out = [(name, int(files[name]["bytes"]), int(layout[name]["crc32"]), chunks)
           for name, chunks in big]
    for name, data in _small_files(export):
        out.append((name, len(data), zlib.crc32(data), (lambda data=data: iter((data,)))))
    return out


def bundle_size(export: LedgerExport) -> int:
    """The exact size of the bundle's ZIP (for Content-Length), from the stored layout."""
    manifest, layout = json.loads(export.manifest_json), json.loads(export.bundle_layout)
    zipped = ZipStream()
    for name in BUNDLE_FILES[:3]:
        zipped.member(name, int(manifest["files"][name]["bytes"]), int(layout[name]["crc32"]))
    for name, data in _small_files(export):
        zipped.member(name, len(data), 0)
    zipped.end()
    return zipped.offset


def bundle_chunks(session: Session, export: LedgerExport) -> Iterator[bytes]:
    """The export's ZIP, rebuilt from the ledger and the stored manifest, as byte strings: the
    same bytes each time, on any host. Raises ExportChanged mid-way if the ledger no longer gives
    the bytes the manifest names (the stream is then cut short and the ZIP unreadable)."""
    _require_rebuildable(export)
    files = _file_chunks(session, export)

    def stream() -> Iterator[bytes]:
        zipped = ZipStream()
        for name, size, crc, chunks in files:
            yield zipped.member(name, size, crc)
            written = 0
            for chunk in chunks():
                written += len(chunk)
                yield chunk
            if written != size:
                raise ExportChanged(name)
        yield zipped.end()

    return stream()


def bundle_response(session: Session, export: LedgerExport) -> Any:
    """The download: the bundle rebuilt and streamed as it is made (nothing on disk, any host).

    The stream outlives the request: it reads through a database session of its own (no Flask
    context: a generator runs in whichever context iterates it), closed when the stream ends or
    the client goes away."""
    from flask import Response

    from fundapp.extensions import db

    _require_rebuildable(export)
    engine, export_id = db.engine, export.id

    def stream() -> Iterator[bytes]:
        with Session(engine) as own:
            yield from bundle_chunks(own, own.get(LedgerExport, export_id))

    return Response(stream(), mimetype="application/zip", headers={
        "Content-Length": str(export.size_bytes),
        "Content-Disposition": f"attachment; filename={export.file_name}"})


def write_bundle(session: Session, export: LedgerExport, destination: Path) -> Path:
    """A copy of the bundle at `destination` (a .zip file, or else a directory of its files),
    written under a hidden name and renamed into place only when complete."""
    _require_rebuildable(export)
    destination = destination.resolve()
    if destination.exists():
        raise AppError(_l("%(path)s already exists.", path=str(destination)),
                       code="exists", status=409)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        if destination.suffix.lower() == ".zip":
            with part.open("wb") as fh:
                for chunk in bundle_chunks(session, export):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            part.mkdir()
            for name, _size, _crc, chunks in _file_chunks(session, export):
                with (part / name).open("wb") as fh:
                    for chunk in chunks():
                        fh.write(chunk)
        os.replace(part, destination)
    except BaseException:
        if part.is_dir():
            shutil.rmtree(part, ignore_errors=True)
        else:
            part.unlink(missing_ok=True)
        raise
    return destination


def fund_name(session: Session, default: str = "") -> str:
    from fundapp.fund.models import Fund

    return session.scalar(select(Fund.name).order_by(Fund.id).limit(1)) or default


def get_export(session: Session, export_id: int) -> LedgerExport:
    # An id beyond the INTEGER column (2^63 in a URL) is simply no export, not a database error.
    export = session.get(LedgerExport, export_id) if 0 < export_id < 2**31 else None
    if export is None:
        raise NotFound(_l("There is no such export."))
    return export
