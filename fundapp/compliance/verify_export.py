#!/usr/bin/env python3
"""Offline verifier for a fundapp ledger export (Python 3.11+ standard library + `cryptography`).

    python3 verify_ledger_export.py EXPORT.zip --fingerprint FUND_FINGERPRINT
    python3 verify_ledger_export.py EXPORT.zip --public-key fund_public_key.pem
    python3 verify_ledger_export.py EXPORT_DIRECTORY --fingerprint FUND_FINGERPRINT

It checks, without any access to the fund's systems:
1. the Ed25519 signature in manifest.sig over the exact bytes of manifest.json, with the fund's
   public key pinned: --public-key FILE (the key published at GET /api/v1/ledger/public-key) or
   --fingerprint HEX (the SHA-256 of the fund's raw key, as the fund publishes it: the key inside
   the bundle is used only if its fingerprint is that one);
2. the SHA-256 of every file the manifest lists;
3. the hash chain in entries.jsonl: sequence numbers without gaps, the first entry's prev_hash
   equal to the anchor before the segment (the genesis value, 64 zeros, for entry 1), each entry's
   prev_hash equal to the hash of the entry before, each entry's hash recomputed from its fields,
   the last hash equal to chain_hash_after and to the prev_hash of the anchor after the segment
   (the next entry of the ledger, when there is one); entries out of the export's period or scope
   appear as hash-only lines ("redacted") that keep the chain whole, and every entry shown in full
   must be recorded within the period and in scope;
4. that entries.csv holds the same entries as entries.jsonl (CSV cells that could start a
   spreadsheet formula carry one leading apostrophe, which is taken off before comparing).
It names the first bad entry. Without --public-key or --fingerprint it still checks everything,
but never says VERIFIED: a forger who changes the entries can re-sign the bundle with a key of
their own, so it prints the bundle key's fingerprint to compare with the fund's published one.
Exit status: 0 verified; 1 a check failed; 2 the input is unusable; 3 every check passed but the
key was not pinned.

An entry's hash is the SHA-256 of its canonical JSON form: the keys action, actor, payload,
prev_hash, recorded_at, seq, subject_id, subject_type, and happened_on (the day the recorded fact
happened, YYYY-MM-DD) only when the entry has one, sorted, no spaces, UTF-8 without escaping
non-ASCII text, seq as an integer and every other value as a string (payload is the exact JSON
text that was recorded). Exports of format 2 show happened_on in entries.jsonl when the entry has
one and as the last column of entries.csv ("" for none); format 1 exports, made before it
existed, have neither.

This file is shipped twice, byte for byte: fundapp/compliance/verify_export.py (used by
`fundapp ledger verify-export` and served from the export page) and tools/verify_ledger_export.py
(for auditors). tests/compliance/test_exports.py fails when the two differ, and proves that this
file and the app compute the same entry hashes. It must never import fundapp.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote  # json.dumps' quoting, ensure_ascii=False
from pathlib import Path
from typing import IO, Any

FORMAT = "fundapp-ledger-export/2"
FORMAT_V1 = "fundapp-ledger-export/1"  # before happened_on (issue 12): still verified
GENESIS_HASH = "0" * 64
EXIT_VERIFIED, EXIT_FAILED, EXIT_UNUSABLE, EXIT_NOT_PINNED = 0, 1, 2, 3
WHERE_PUBLISHED = ("the fund's export page, GET /api/v1/ledger/public-key, `fundapp ledger "
                   "public-key`, or as the fund gave it to you")
CSV_COLUMNS_V1 = ("seq", "recorded_at", "actor", "action", "subject_type", "subject_id",
                  "payload", "prev_hash", "hash")
CSV_COLUMNS = (*CSV_COLUMNS_V1, "happened_on")
# A cell starting with one of these is prefixed with an apostrophe in CSV and XLSX, so that a
# spreadsheet never runs it as a formula; a leading apostrophe is itself prefixed, so that taking
# one apostrophe off always gives the exact value back.
NEUTRALISED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(NEUTRALISED_STARTS) else value


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def entry_hash(seq: int, recorded_at: str, actor: str, action: str, subject_type: str,
               subject_id: str, payload: str, prev_hash: str,
               happened_on: str | None = None) -> str:
    """SHA-256 of the entry's canonical JSON form (see the module docstring)."""
    body = ('{"action":' + _quote(action) + ',"actor":' + _quote(actor)
            + (',"happened_on":' + _quote(str(happened_on)) if happened_on else "")
            + ',"payload":' + _quote(payload) + ',"prev_hash":' + _quote(prev_hash)
            + ',"recorded_at":' + _quote(recorded_at) + ',"seq":' + str(int(seq))
            + ',"subject_id":' + _quote(subject_id) + ',"subject_type":' + _quote(subject_type)
            + "}")
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class UnusableExport(Exception):
    """The input is not an export at all (not a ZIP or directory, no manifest, bad JSON...)."""


class Bundle:
    """An export as a ZIP file or as a directory holding the same files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            return
        if not self.path.is_file():
            raise UnusableExport(f"{self.path}: no such file or directory")
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnusableExport(f"{self.path} is not a ZIP export bundle ({exc})") from None

    def names(self) -> set[str]:
        if self.zip is not None:
            return set(self.zip.namelist())
        return {p.name for p in self.path.iterdir() if p.is_file()}

    def open(self, name: str) -> IO[bytes]:
        if name not in self.names():
            raise FileNotFoundError(name)
        if self.zip is not None:
            return self.zip.open(name)
        return (self.path / name).open("rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


@dataclass
class Report:
    path: str
    manifest: dict[str, Any] = field(default_factory=dict)
    key_source: str = ""
    fingerprint: str = ""
    pinned: bool = False  # the key was given (--public-key) or its fingerprint (--fingerprint)
    signature_ok: bool = False
    files: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the problem
    chain_count: int = 0
    entry_count: int = 0
    chain_problem: str = ""
    csv_problem: str = ""
    first_bad_entry: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def checks_passed(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        """VERIFIED: every check passed against a pinned key."""
        return self.checks_passed and self.pinned

    @property
    def exit_status(self) -> int:
        if not self.checks_passed:
            return EXIT_FAILED
        return EXIT_VERIFIED if self.pinned else EXIT_NOT_PINNED

    def bad_entry(self, seq: int, problem: str) -> None:
        if self.first_bad_entry is None or seq < self.first_bad_entry:
            self.first_bad_entry = seq
        self.problems.append(problem)

    def lines(self) -> list[str]:
        m = self.manifest
        scope = m.get("scope", {})
        out = [f"export: {self.path}"]
        if m:
            out.append(f"fund: {m.get('fund', '')}; exported {m.get('created_at', '')} by "
                       f"{m.get('created_by', '')}")
            out.append(f"period: {scope.get('from', '')} to {scope.get('to', '')} "
                       f"({scope.get('timezone', '')}); scope: {scope.get('kind', '')} "
                       f"{scope.get('value', '')}".rstrip())
            out.append(f"entries: {m.get('counts', {}).get('entries')} in scope, chain "
                       f"{m.get('first_seq')}..{m.get('last_seq')} "
                       f"({m.get('counts', {}).get('chain_entries')} entries)")
        out.append(f"public key fingerprint: {self.fingerprint} ({self.key_source})")
        before, after = m.get("anchor_before"), m.get("anchor_after")
        if isinstance(before, dict):
            out.append(f"anchored after entry {before.get('seq')} (hash {before.get('hash')})")
        if isinstance(after, dict):
            out.append(f"followed by entry {after.get('seq')} (hash {after.get('hash')})")
        elif "anchor_after" in m:
            out.append("followed by no entry when exported (the segment ended at the ledger's "
                       "head)")
        out.append(f"signature: {'OK' if self.signature_ok else 'FAILED'}")
        for name, state in sorted(self.files.items()):
            out.append(f"file {name}: {'sha256 OK' if state == 'ok' else state}")
        out.append("chain: " + (f"BROKEN: {self.chain_problem}" if self.chain_problem else
                                f"OK ({self.chain_count} entries)"))
        out.append("entries.csv: " + (f"DIFFERS: {self.csv_problem}" if self.csv_problem else
                                      "matches entries.jsonl"))
        if self.ok:
            out.append("RESULT: VERIFIED")
        elif self.checks_passed:
            out.append("RESULT: NOT VERIFIED: the public key is not pinned")
            out.extend(self.unpinned_advice())
        else:
            first = (f"; first bad entry: {self.first_bad_entry}"
                     if self.first_bad_entry is not None else "")
            out.append(f"RESULT: FAILED{first}")
            out.extend(f"  - {problem}" for problem in self.problems)
            if not self.pinned and self.fingerprint:
                out.extend(self.unpinned_advice())
        return out

    def unpinned_advice(self) -> list[str]:
        return [
            "  The checks used the key inside the bundle. Anyone who changes the entries can",
            "  re-sign the bundle with a key of their own, so this proves nothing until you",
            f"  compare the bundle key's fingerprint {self.fingerprint}",
            f"  with the fund's published fingerprint ({WHERE_PUBLISHED}),",
            "  then run again with --fingerprint FUND_FINGERPRINT or --public-key FUND_KEY.pem.",
        ]


def load_public_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise UnusableExport(f"the public key is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UnusableExport("the public key is not an Ed25519 key")
    return key


def key_fingerprint(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """64 lower-case hex digits from a fingerprint as people copy it (colons, spaces, case)."""
    digits = "".join(ch for ch in text.strip().lower() if ch not in ": \t-")
    if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
        raise UnusableExport(f"--fingerprint {text!r} is not a key fingerprint: give the 64 hex "
                             "digits of the SHA-256 the fund publishes")
    return digits


def _sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _csv_rows(bundle: Bundle, report: Report,
              columns: tuple[str, ...] = CSV_COLUMNS) -> Iterator[list[str] | None]:
    """entries.csv rows after the header, un-neutralised; None once the file is exhausted."""
    try:
        raw = bundle.open("entries.csv")
    except FileNotFoundError:
        report.csv_problem = "entries.csv is missing"
        report.problems.append(report.csv_problem)
        while True:
            yield None
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None or tuple(header) != columns:
                report.csv_problem = f"entries.csv header is {header!r}, expected {columns}"
                report.problems.append(report.csv_problem)
            for row in reader:
                yield [unneutralise(cell) for cell in row]
        except (csv.Error, UnicodeDecodeError) as exc:
            report.csv_problem = f"entries.csv cannot be read: {exc}"
            report.problems.append(report.csv_problem)
    while True:
        yield None


def _check_chain(bundle: Bundle, report: Report) -> None:
    m = report.manifest
    try:
        first_seq, last_seq = int(m["first_seq"]), int(m["last_seq"])
        prev = str(m["chain_hash_before"])
        after = str(m["chain_hash_after"])
        expected_entries = int(m["counts"]["entries"])
        scope = m.get("scope", {})
        period = (str(scope["recorded_at_from"]), str(scope["recorded_at_before"]))
        kind, value = str(scope.get("kind", "all")), str(scope.get("value", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnusableExport(f"manifest.json lacks a chain field ({exc})") from None
    _check_anchors(report, first_seq, last_seq, prev, after)
    try:
        raw = bundle.open("entries.jsonl")
    except FileNotFoundError:
        report.chain_problem = "entries.jsonl is missing"
        report.problems.append(report.chain_problem)
        return
    columns = CSV_COLUMNS_V1 if m.get("format") == FORMAT_V1 else CSV_COLUMNS
    csv_rows = _csv_rows(bundle, report, columns)
    expected = first_seq
    in_scope = 0

    def broken(seq: int, reason: str) -> None:
        report.chain_problem = f"entry {seq}: {reason}"
        report.bad_entry(seq, report.chain_problem)

    with raw:
        for line_no, line in enumerate(raw, start=1):
            try:
                entry = json.loads(line)
                seq = entry["seq"]
                if not isinstance(seq, int) or isinstance(seq, bool):
                    raise TypeError("seq is not an integer")
                redacted = entry.get("redacted") is True
                fields = ("seq", "prev_hash", "hash") if redacted else columns
                if not all(isinstance(entry[k], str) for k in fields
                           if k not in ("seq", "happened_on")):
                    raise TypeError("a field is not text")
                if not isinstance(entry.get("happened_on", ""), str):
                    raise TypeError("a field is not text")
            except (ValueError, KeyError, TypeError) as exc:
                broken(expected, f"line {line_no} of entries.jsonl is not a valid entry ({exc})")
                return
            if seq > last_seq:
                broken(seq, f"beyond the manifest's last entry {last_seq}")
                return
            if seq != expected:
                if seq > expected:
                    broken(expected, f"missing or out of order: entry {seq} is in its place "
                                     f"(line {line_no})")
                else:
                    broken(expected, f"out of order: entry {seq} is in its place "
                                     f"(line {line_no})")
                return
            if entry["prev_hash"] != prev:
                broken(seq, "its prev_hash does not match the hash of the entry before it")
                return
            if not redacted:
                digest = entry_hash(seq, entry["recorded_at"], entry["actor"], entry["action"],
                                    entry["subject_type"], entry["subject_id"], entry["payload"],
                                    entry["prev_hash"], entry.get("happened_on") or None)
                if digest != entry["hash"]:
                    broken(seq, "its content does not match its hash (changed after it was "
                                "recorded)")
                    return
                if not period[0] <= entry["recorded_at"] < period[1]:
                    report.bad_entry(seq, f"entry {seq} is shown in full but was recorded at "
                                          f"{entry['recorded_at']}, outside the export's period")
                elif not _in_scope(kind, value, entry["action"], entry["subject_type"]):
                    report.bad_entry(seq, f"entry {seq} is shown in full but is outside the "
                                          f"export's scope ({kind} {value})")
                in_scope += 1
                row = next(csv_rows)
                if not report.csv_problem:
                    values = [str(entry.get(k, "")) for k in columns]
                    if row is None:
                        report.csv_problem = f"entry {seq} is missing from entries.csv"
                        report.bad_entry(seq, report.csv_problem)
                    elif row != values:
                        diff = [k for k, a, b in zip(columns, row, values, strict=False)
                                if a != b] or ["the number of cells"]
                        report.csv_problem = (f"entry {seq}: entries.csv differs from "
                                              f"entries.jsonl in {', '.join(diff)}")
                        report.bad_entry(seq, report.csv_problem)
            prev = entry["hash"]
            expected += 1
            report.chain_count += 1
    report.entry_count = in_scope
    if expected <= last_seq:
        broken(expected, f"missing: entries.jsonl ends after entry {expected - 1}, the manifest "
                         f"says the export runs to entry {last_seq} (the tail was cut off)")
        return
    if prev != after:
        broken(last_seq, "the chain ends at a hash other than the manifest's chain_hash_after")
        return
    if in_scope != expected_entries:
        report.problems.append(f"entries.jsonl holds {in_scope} entries in scope, the manifest "
                               f"says {expected_entries}")
    if not report.csv_problem and next(csv_rows) is not None:
        report.csv_problem = "entries.csv has rows after the last entry"
        report.problems.append(report.csv_problem)


def _in_scope(kind: str, value: str, action: str, subject_type: str) -> bool:
    if kind == "action":
        return action.startswith(value)
    if kind == "subject_type":
        return subject_type == value
    return True


def _check_anchors(report: Report, first_seq: int, last_seq: int, before: str,
                   after: str) -> None:
    """The segment's ties to the rest of the chain, as the signed manifest states them."""
    m = report.manifest
    if first_seq < 1 or last_seq < first_seq:
        raise UnusableExport(f"manifest.json names no chain segment ({first_seq}..{last_seq})")
    if first_seq == 1 and before != GENESIS_HASH:
        report.bad_entry(1, "entry 1 must follow the genesis value (64 zeros), the manifest's "
                            "chain_hash_before is another hash")
    anchor = m.get("anchor_before")
    if anchor is not None and (not isinstance(anchor, dict) or anchor.get("seq") != first_seq - 1
                               or anchor.get("hash") != before):
        report.bad_entry(first_seq, "the manifest's anchor_before is not the entry just before "
                                    "the segment with the segment's chain_hash_before")
    anchor = m.get("anchor_after")
    if anchor is not None and (not isinstance(anchor, dict) or anchor.get("seq") != last_seq + 1
                               or anchor.get("prev_hash") != after
                               or not isinstance(anchor.get("hash"), str)):
        report.bad_entry(last_seq, "the manifest's anchor_after is not the entry just after the "
                                   "segment, linked to the segment's last hash")


def verify_export(path: str | Path, public_key_pem: bytes | None = None,
                  fingerprint: str | None = None) -> Report:
    """Check an export bundle; raises UnusableExport when it is not an export at all.

    The report says VERIFIED (`ok`) only when the key is pinned: `public_key_pem` is the fund's
    key, or `fingerprint` is the fund's published fingerprint (checked against the bundle's key,
    or against `public_key_pem` when both are given).
    """
    report = Report(str(path))
    pinned_fingerprint = normalise_fingerprint(fingerprint) if fingerprint else None
    bundle = Bundle(path)
    try:
        names = bundle.names()
        for required in ("manifest.json", "manifest.sig"):
            if required not in names:
                raise UnusableExport(f"{path} has no {required}: it is not a complete export")
        manifest_bytes = bundle.read("manifest.json")
        signature = bundle.read("manifest.sig")
        try:
            report.manifest = json.loads(manifest_bytes)
        except ValueError as exc:
            report.problems.append(f"manifest.json is not valid JSON ({exc})")
            report.manifest = {}
        if not isinstance(report.manifest, dict) or report.manifest.get("format") not in (
                FORMAT, FORMAT_V1):
            raise UnusableExport(f"manifest.json is not a {FORMAT} manifest")

        if public_key_pem is not None:
            key, report.key_source = load_public_key(public_key_pem), "pinned with --public-key"
        elif "public_key.pem" in names:
            key = load_public_key(bundle.read("public_key.pem"))
            report.key_source = ("the bundle's key, pinned with --fingerprint"
                                 if pinned_fingerprint else
                                 "the bundle's key, NOT PINNED: compare it with the fund's "
                                 "published fingerprint")
        else:
            raise UnusableExport("the bundle holds no public key: give the fund's key with "
                                 "--public-key")
        report.fingerprint = key_fingerprint(key)
        report.pinned = public_key_pem is not None or pinned_fingerprint is not None
        if pinned_fingerprint is not None and report.fingerprint != pinned_fingerprint:
            report.problems.append(f"the key {report.fingerprint} is not the pinned key "
                                   f"{pinned_fingerprint}: the export was not signed by the fund "
                                   "(or the fingerprint given is not the fund's)")
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(signature, manifest_bytes)
            report.signature_ok = True
        except InvalidSignature:
            report.problems.append("the signature does not match manifest.json: the manifest was "
                                   "changed, or not signed with the fund key "
                                   f"{report.fingerprint}")

        files = report.manifest.get("files", {})
        if not isinstance(files, dict) or "entries.jsonl" not in files:
            raise UnusableExport("manifest.json lists no entries.jsonl")
        for name, meta in sorted(files.items()):
            try:
                with bundle.open(name) as fh:
                    actual = _sha256(fh)
            except FileNotFoundError:
                report.files[name] = "MISSING"
                report.problems.append(f"{name} is missing")
                continue
            if isinstance(meta, dict) and actual == meta.get("sha256"):
                report.files[name] = "ok"
            else:
                report.files[name] = f"sha256 MISMATCH ({actual})"
                report.problems.append(f"{name} was changed: its SHA-256 is not the manifest's")
        _check_chain(bundle, report)
    except zipfile.BadZipFile as exc:
        raise UnusableExport(f"{path} is a damaged ZIP file ({exc})") from None
    finally:
        bundle.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a fundapp ledger export offline.")
    parser.add_argument("export", help="the export: a .zip bundle or a directory")
    parser.add_argument("--public-key", help="the fund's Ed25519 public key (PEM file), as "
                                             "published at GET /api/v1/ledger/public-key")
    parser.add_argument("--fingerprint", help="the fund's published key fingerprint (64 hex "
                                              "digits, the SHA-256 of the raw public key)")
    args = parser.parse_args(argv)
    try:
        pem = Path(args.public_key).read_bytes() if args.public_key else None
        report = verify_export(args.export, pem, args.fingerprint)
    except (UnusableExport, OSError) as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print("\n".join(report.lines()))
    return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
