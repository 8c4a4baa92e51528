#!/usr/bin/env python3
"""Offline verifier for a fundapp ledger export (Python 3.11+ standard library + `cryptography`).

    python3 verify_ledger_export.py EXPORT.zip --public-key fund_public_key.pem
    python3 verify_ledger_export.py EXPORT_DIRECTORY

It checks, without any access to the fund's systems:
1. the Ed25519 signature in manifest.sig over the exact bytes of manifest.json, with the fund's
   public key (give it with --public-key, as published at GET /api/v1/ledger/public-key; without
   it the key inside the bundle is used and only its fingerprint can tell you whose it is);
2. the SHA-256 of every file the manifest lists;
3. the hash chain in entries.jsonl: sequence numbers without gaps, each entry's prev_hash equal to
   the hash of the entry before (the first one equal to the manifest's chain_hash_before), each
   entry's hash recomputed from its fields, the last hash equal to chain_hash_after; entries out of
   the export's scope appear as hash-only lines ("redacted") that keep the chain whole;
4. that entries.csv holds the same entries as entries.jsonl (CSV cells that could start a
   spreadsheet formula carry one leading apostrophe, which is taken off before comparing).
It names the first bad entry. Exit status: 0 verified, 1 a check failed, 2 the input is unusable.

An entry's hash is the SHA-256 of its canonical JSON form: the keys action, actor, payload,
prev_hash, recorded_at, seq, subject_id, subject_type, sorted, no spaces, UTF-8 without escaping
non-ASCII text, seq as an integer and every other value as a string (payload is the exact JSON
text that was recorded).

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

FORMAT = "fundapp-ledger-export/1"
GENESIS_HASH = "0" * 64
CSV_COLUMNS = ("seq", "recorded_at", "actor", "action", "subject_type", "subject_id", "payload",
               "prev_hash", "hash")
# A cell starting with one of these is prefixed with an apostrophe in CSV and XLSX, so that a
# spreadsheet never runs it as a formula; a leading apostrophe is itself prefixed, so that taking
# one apostrophe off always gives the exact value back.
NEUTRALISED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(NEUTRALISED_STARTS) else value


def unneutralise(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def entry_hash(seq: int, recorded_at: str, actor: str, action: str, subject_type: str,
               subject_id: str, payload: str, prev_hash: str) -> str:
    """SHA-256 of the entry's canonical JSON form (see the module docstring)."""
    body = ('{"action":' + _quote(action) + ',"actor":' + _quote(actor)
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
    signature_ok: bool = False
    files: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the problem
    chain_count: int = 0
    entry_count: int = 0
    chain_problem: str = ""
    csv_problem: str = ""
    first_bad_entry: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

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
        out.append(f"signature: {'OK' if self.signature_ok else 'FAILED'}")
        for name, state in sorted(self.files.items()):
            out.append(f"file {name}: {'sha256 OK' if state == 'ok' else state}")
        out.append("chain: " + (f"BROKEN: {self.chain_problem}" if self.chain_problem else
                                f"OK ({self.chain_count} entries)"))
        out.append("entries.csv: " + (f"DIFFERS: {self.csv_problem}" if self.csv_problem else
                                      "matches entries.jsonl"))
        if self.ok:
            out.append("RESULT: VERIFIED")
        else:
            first = (f"; first bad entry: {self.first_bad_entry}"
                     if self.first_bad_entry is not None else "")
            out.append(f"RESULT: FAILED{first}")
            out.extend(f"  - {problem}" for problem in self.problems)
        return out


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


def _sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _csv_rows(bundle: Bundle, report: Report) -> Iterator[list[str] | None]:
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
            if header is None or tuple(header) != CSV_COLUMNS:
                report.csv_problem = f"entries.csv header is {header!r}, expected {CSV_COLUMNS}"
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
    except (KeyError, TypeError, ValueError) as exc:
        raise UnusableExport(f"manifest.json lacks a chain field ({exc})") from None
    try:
        raw = bundle.open("entries.jsonl")
    except FileNotFoundError:
        report.chain_problem = "entries.jsonl is missing"
        report.problems.append(report.chain_problem)
        return
    csv_rows = _csv_rows(bundle, report)
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
                fields = ("seq", "prev_hash", "hash") if redacted else CSV_COLUMNS
                if not all(isinstance(entry[k], str) for k in fields if k != "seq"):
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
                                    entry["prev_hash"])
                if digest != entry["hash"]:
                    broken(seq, "its content does not match its hash (changed after it was "
                                "recorded)")
                    return
                in_scope += 1
                row = next(csv_rows)
                if not report.csv_problem:
                    values = [str(entry[k]) for k in CSV_COLUMNS]
                    if row is None:
                        report.csv_problem = f"entry {seq} is missing from entries.csv"
                        report.bad_entry(seq, report.csv_problem)
                    elif row != values:
                        diff = [k for k, a, b in zip(CSV_COLUMNS, row, values, strict=False)
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


def verify_export(path: str | Path, public_key_pem: bytes | None = None) -> Report:
    """Check an export bundle; raises UnusableExport when it is not an export at all."""
    report = Report(str(path))
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
        if not isinstance(report.manifest, dict) or report.manifest.get("format") != FORMAT:
            raise UnusableExport(f"manifest.json is not a {FORMAT} manifest")

        if public_key_pem is not None:
            key, report.key_source = load_public_key(public_key_pem), "given with --public-key"
        elif "public_key.pem" in names:
            key = load_public_key(bundle.read("public_key.pem"))
            report.key_source = ("taken from the bundle: compare it with the fingerprint the fund "
                                 "publishes")
        else:
            raise UnusableExport("no public key: give the fund's key with --public-key")
        report.fingerprint = key_fingerprint(key)
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
    parser.add_argument("--public-key", help="the fund's Ed25519 public key (PEM file)")
    args = parser.parse_args(argv)
    try:
        pem = Path(args.public_key).read_bytes() if args.public_key else None
        report = verify_export(args.export, pem)
    except (UnusableExport, OSError) as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
