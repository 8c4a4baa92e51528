"""Signed ledger exports for auditors (issue 7, R12).

An export is a segment of the hash chain, chosen by period (dates in Asia/Shanghai) and scope
(everything, an action prefix such as "deal.", or one subject type), written as one bundle:

    entries.jsonl   every entry of the chain segment, one canonical JSON object a line; the
                    entries recorded within the period and in scope with their exact values, every
                    other entry of the segment (another scope, or recorded outside the period:
                    recorded_at follows seq only roughly) as {"seq","prev_hash","hash",
                    "redacted": true}, so that the chain stays whole without showing them
    entries.csv     the entries in scope (UTF-8 with BOM for Excel), formula-like cells neutralised
    entries.xlsx    the same rows (openpyxl write-only mode, streamed)
    public_key.pem  the fund's Ed25519 public key (for convenience: auditors should use the one
                    published at /api/v1/ledger/public-key)
    README.txt      how to verify
    manifest.json   scope, counts, first/last sequence, each file's SHA-256, and the anchors
                    that tie the segment to the rest of the chain: anchor_before (the hash of the
                    entry just before the segment, or the genesis value) and anchor_after (the
                    sequence, prev_hash and hash of the entry just after it, when there is one)
                    -- written after all the files it describes
    manifest.sig    raw Ed25519 signature over the exact bytes of manifest.json, written last

The chain segment runs from the first to the last entry in scope recorded within the period
(recorded_at is UTC; the period's bounds are midnight Asia/Shanghai). Rows are streamed in keyset
pages of EXPORT_BATCH entries and written as they come, so memory stays flat whatever the ledger's
size. Files are written under a hidden staging name and renamed into place only when complete; a
ZIP is written as NAME.zip.part and renamed; an interrupted export never leaves a file that looks
finished. The export row and its own ledger entry are added in the caller's transaction once the
bundle exists.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fundapp.compliance.ledger import format_time, iter_entries_between, record
from fundapp.compliance.models import LedgerEntry, LedgerExport, LedgerHead
from fundapp.compliance.signing import load_signing_key
from fundapp.compliance.verify_export import CSV_COLUMNS, FORMAT, neutralise
from fundapp.config import instance_dir
from fundapp.errors import AppError, NotFound, ValidationFailed
from fundapp.fields import FIRST_DAY, LAST_DAY, day_out_of_range  # noqa: F401  (shared bounds)

TIMEZONE = ZoneInfo("Asia/Shanghai")
# Periods, ledger filters and other days the compliance area accepts: a fund's ledger lives well
# inside these, and day arithmetic (the day after `to`, midnight in UTC) stays in range.
SCOPE_KINDS = ("all", "action", "subject_type")
EXPORT_BATCH = 5000
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included
XLSX_MAX_CELL = 32_767  # Excel's limit per cell
# Characters XML 1.0 cannot hold (openpyxl refuses them): shown as \xNN in the XLSX copy only.
XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
STALE_PART_SECONDS = 24 * 3600


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
    path: Path
    manifest: dict[str, Any]


def exports_dir() -> Path:
    path = instance_dir() / "ledger_exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


class _HashingFile(io.RawIOBase):
    """Passes bytes through to a file while hashing and counting them."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.sha.update(data)
        self.size += len(data)
        self.fh.write(data)
        return len(data)


def _jsonl_line(row: Any, in_scope: bool) -> str:
    # The canonical JSON of the entry (sorted keys, no spaces), spelt out like entry_hash() for
    # speed; json.loads reads it back exactly.
    q = json.encoder.encode_basestring
    if not in_scope:
        return (f'{{"hash":{q(row.hash)},"prev_hash":{q(row.prev_hash)},"redacted":true,'
                f'"seq":{int(row.seq)}}}\n')
    return ('{"action":' + q(row.action) + ',"actor":' + q(row.actor) + ',"hash":' + q(row.hash)
            + ',"payload":' + q(row.payload) + ',"prev_hash":' + q(row.prev_hash)
            + ',"recorded_at":' + q(row.recorded_at) + ',"seq":' + str(int(row.seq))
            + ',"subject_id":' + q(row.subject_id) + ',"subject_type":' + q(row.subject_type)
            + "}\n")


def _xlsx_text(value: str) -> str:
    value = XLSX_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", neutralise(value))
    if len(value) > XLSX_MAX_CELL:
        value = value[:XLSX_MAX_CELL - 40] + " … [cut: see entries.jsonl]"
    return value


class _XlsxWriter:
    """entries.xlsx in openpyxl's write-only mode: rows go to disk as they come."""

    def __init__(self, path: Path) -> None:
        from openpyxl import Workbook

        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet = None
        self.rows = XLSX_MAX_ROWS
        self.sheets = 0

    def append(self, values: list[Any]) -> None:
        if self.rows >= XLSX_MAX_ROWS:
            self.sheets += 1
            self.sheet = self.book.create_sheet(f"entries{'' if self.sheets == 1 else self.sheets}")
            self.sheet.append(list(CSV_COLUMNS))
            self.rows = 1
        self.sheet.append(values)
        self.rows += 1

    def discard(self) -> None:
        """Finish the half-written file so openpyxl's streams close (the caller deletes it)."""
        try:
            self.book.save(self.path)
        except Exception:  # it is being thrown away anyway
            pass

    def close(self) -> None:
        if self.sheet is None:
            self.sheet = self.book.create_sheet("entries")
            self.sheet.append(list(CSV_COLUMNS))
        self.book.save(self.path)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_stale_parts(directory: Path) -> None:
    """Remove what exports killed outright (SIGKILL, power loss) left a day or more ago."""
    cutoff = time.time() - STALE_PART_SECONDS
    for path in directory.glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                _remove(path)
        except OSError:
            pass


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


def write_bundle_files(rows: Iterable[Any], scope: ExportScope, staging: Path) -> dict[str, Any]:
    """Write entries.jsonl/.csv/.xlsx from rows in sequence order; return counts and hashes."""
    jsonl_raw = (staging / "entries.jsonl").open("wb")
    csv_raw = (staging / "entries.csv").open("wb")
    jsonl_hash, csv_hash = _HashingFile(jsonl_raw), _HashingFile(csv_raw)
    jsonl = io.TextIOWrapper(io.BufferedWriter(jsonl_hash, 1 << 16), encoding="utf-8",
                             newline="\n")
    csv_text = io.TextIOWrapper(io.BufferedWriter(csv_hash, 1 << 16), encoding="utf-8-sig",
                                newline="")
    writer = csv.writer(csv_text)
    writer.writerow(CSV_COLUMNS)
    xlsx = _XlsxWriter(staging / "entries.xlsx")
    low, high = scope.recorded_bounds()
    first = last = None
    before = after = ""
    chain = in_scope = 0
    try:
        for row in rows:
            if first is None:
                first, before = row.seq, row.prev_hash
            # Shown in full only when recorded within the period and in scope: the segment may
            # hold entries recorded outside the period (an entry's time is taken before its
            # sequence number is), which stay hash-only like out-of-scope ones.
            matches = (low <= row.recorded_at < high
                       and scope.matches(row.action, row.subject_type))
            jsonl.write(_jsonl_line(row, matches))
            if matches:
                texts = [row.recorded_at, row.actor, row.action, row.subject_type,
                         row.subject_id, row.payload, row.prev_hash, row.hash]
                writer.writerow([row.seq, *map(neutralise, texts)])
                xlsx.append([row.seq, *map(_xlsx_text, texts)])
                in_scope += 1
            chain += 1
            last, after = row.seq, row.hash
        xlsx.close()
    except BaseException:
        xlsx.discard()
        raise
    finally:
        jsonl.close()
        csv_text.close()
        jsonl_raw.close()
        csv_raw.close()
    return {
        "first_seq": first, "last_seq": last, "chain_hash_before": before,
        "chain_hash_after": after, "counts": {"entries": in_scope, "chain_entries": chain,
                                              "redacted": chain - in_scope},
        "files": {
            "entries.jsonl": {"sha256": jsonl_hash.sha.hexdigest(), "bytes": jsonl_hash.size,
                              "lines": chain},
            "entries.csv": {"sha256": csv_hash.sha.hexdigest(), "bytes": csv_hash.size,
                            "rows": in_scope},
            "entries.xlsx": {"sha256": _file_sha256(staging / "entries.xlsx"),
                             "bytes": (staging / "entries.xlsx").stat().st_size,
                             "rows": in_scope, "sheets": xlsx.sheets or 1},
        },
    }


def create_export(session: Session, scope: ExportScope, *, actor: str,
                  destination: Path | None = None, fund_name: str = "") -> ExportResult:
    """Write a signed export bundle and record it (row + ledger entry); flushes, never commits.

    `destination` is a .zip path or a directory path to create; by default a ZIP in the
    instance's ledger_exports directory.
    """
    scope.validate()
    key = load_signing_key()
    bounds = segment_bounds(session, scope)
    if bounds is None:
        raise AppError(_l("No ledger entries match this period and scope."), code="empty_export",
                       status=422, details={"from": [str(_l("No ledger entries match this "
                                                            "period and scope."))]})
    uid = uuid.uuid4().hex
    directory = exports_dir()
    if destination is None:
        destination = directory / (f"ledger-export-{scope.from_on:%Y%m%d}-{scope.to_on:%Y%m%d}-"
                                   f"{uid[:8]}.zip")
    destination = destination.resolve()
    if destination.exists():
        raise AppError(_l("%(path)s already exists.", path=str(destination)),
                       code="exists", status=409)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_parts(destination.parent)
    as_zip = destination.suffix.lower() == ".zip"
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".part",
                                    dir=destination.parent))
    part = destination.with_name(destination.name + ".part")
    created_at = datetime.now(UTC)
    try:
        summary = write_bundle_files(iter_entries_between(session, *bounds, EXPORT_BATCH),
                                     scope, staging)
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
            "entry_hash": "sha256 of the canonical JSON of action, actor, payload, prev_hash, "
                          "recorded_at, seq, subject_id, subject_type (sorted keys, no spaces, "
                          "UTF-8)",
            "clause": "R12",
        }
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                          + "\n").encode("utf-8")
        (staging / "public_key.pem").write_text(key.public_pem)
        (staging / "README.txt").write_text(README)
        # The manifest and then its signature go last: without them nothing looks complete.
        (staging / "manifest.json").write_bytes(manifest_bytes)
        (staging / "manifest.sig").write_bytes(key.sign(manifest_bytes))
        order = ("entries.jsonl", "entries.csv", "entries.xlsx", "public_key.pem", "README.txt",
                 "manifest.json", "manifest.sig")
        if as_zip:
            with zipfile.ZipFile(part, "w", allowZip64=True) as bundle:
                for name in order:
                    compression = (zipfile.ZIP_STORED if name == "entries.xlsx"
                                   else zipfile.ZIP_DEFLATED)
                    bundle.write(staging / name, name, compress_type=compression)
            with part.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(part, destination)
            _remove(staging)
        else:
            os.replace(staging, destination)
    except BaseException:
        _remove(staging)
        _remove(part)
        raise
    size = (destination.stat().st_size if as_zip
            else sum(p.stat().st_size for p in destination.iterdir()))
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    in_exports = destination.parent == directory.resolve()
    export = LedgerExport(
        uid=uid, created_at=created_at, created_by=actor, period_from_on=scope.from_on,
        period_to_on=scope.to_on, scope_kind=scope.kind, scope_value=scope.value,
        entry_count=summary["counts"]["entries"], chain_count=summary["counts"]["chain_entries"],
        first_seq=summary["first_seq"], last_seq=summary["last_seq"],
        chain_hash_before=summary["chain_hash_before"],
        chain_hash_after=summary["chain_hash_after"], manifest_sha256=manifest_sha,
        key_fingerprint=key.fingerprint,
        file_name=destination.name if in_exports else str(destination), size_bytes=size)
    session.add(export)
    session.flush()
    record(session, actor=actor, action="ledger.exported", subject_type="ledger_export",
           subject_id=export.id, payload={
               "clause": "R12", "export_uid": uid, "scope": scope.as_dict(),
               "counts": summary["counts"], "first_seq": summary["first_seq"],
               "last_seq": summary["last_seq"], "chain_hash_after": summary["chain_hash_after"],
               "anchor_after": summary["anchor_after"],
               "manifest_sha256": manifest_sha, "key_fingerprint": key.fingerprint})
    return ExportResult(export, destination, manifest)


def fund_name(session: Session, default: str = "") -> str:
    from fundapp.fund.models import Fund

    return session.scalar(select(Fund.name).order_by(Fund.id).limit(1)) or default


def export_path(export: LedgerExport) -> Path:
    """The bundle of an export made into the exports directory; NotFound otherwise."""
    directory = exports_dir().resolve()
    path = (directory / export.file_name).resolve()
    if path.parent != directory or not path.is_file():
        raise NotFound(_l("The export file is no longer on the server."))
    return path


def get_export(session: Session, export_id: int) -> LedgerExport:
    # An id beyond the INTEGER column (2^63 in a URL) is simply no export, not a database error.
    export = session.get(LedgerExport, export_id) if 0 < export_id < 2**31 else None
    if export is None:
        raise NotFound(_l("There is no such export."))
    return export
