"""Security events (failed and throttled sign-ins) in a hash chain of their own (issue 16).

They are not business facts, and an attacker decides how many there are: recorded in the ledger
they took the ledger head's lock, so a password-guessing burst made every business write wait.
Here they have their own head row (`SecurityEventHead`), so their lock never waits on a business
write and a business write never waits on them. The chain is built exactly like the ledger's
(canonical JSON, SHA-256, each event naming its predecessor's hash), is append-only in the
database (triggers, migration 0017), is verified by `verify_security_chain` and exported for
auditors by `build_export` (JSONL + a manifest signed with the ledger's signing key).

Successful sign-ins stay in the business ledger: only someone who knows the password can cause
one, so their rate is bounded by real users, and auditors read them next to the changes that
those users made.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, bindparam, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fundapp.compliance.ledger import GENESIS_HASH, canonical_json, format_time
from fundapp.dates import SHANGHAI
from fundapp.db import Base

LOGIN_FAILED = "login_failed"
LOGIN_THROTTLED = "login_throttled"
KINDS = (LOGIN_FAILED, LOGIN_THROTTLED)
EXPORT_FORMAT = "fundapp-security-events/1"


class SecurityEvent(Base):
    """One event of the security chain. Rows are never updated or deleted (triggers refuse it).

    `occurred_at` is the exact ISO-8601 UTC text that was hashed (fixed width, so it also sorts
    and compares as time); `details` the canonical JSON that was hashed.
    """

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_kind_subject", "kind", "subject", "occurred_at"),
        Index("ix_security_events_kind_address", "kind", "address", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    occurred_at: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(320))  # the e-mail address that was tried
    address: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class SecurityEventHead(Base):
    """The security chain's last event; its writers lock this row, never the ledger's head."""

    __tablename__ = "security_event_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


def event_hash(seq: int, occurred_at: str, kind: str, subject: str, address: str, details: str,
               prev_hash: str) -> str:
    """SHA-256 of the event's canonical JSON form (the ledger's canonical_json)."""
    body = canonical_json({"seq": int(seq), "occurred_at": occurred_at, "kind": kind,
                           "subject": subject, "address": address, "details": details,
                           "prev_hash": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_EVENTS = SecurityEvent.__table__
_HEADS = SecurityEventHead.__table__
_TAKE_HEAD = (_HEADS.update().where(_HEADS.c.id == 1).values(seq=_HEADS.c.seq + 1)
              .returning(_HEADS.c.seq, _HEADS.c.hash))
_SET_HEAD_HASH = _HEADS.update().where(_HEADS.c.id == 1).values(hash=bindparam("new_hash"))


def record_security_event(session: Session, *, kind: str, subject: str, address: str,
                          details: dict[str, Any] | None = None,
                          at: datetime | None = None) -> SecurityEvent:
    """Append one event to the security chain in the session's transaction (never commits).

    Takes the security head's write lock (an UPDATE first, as ledger.record does for its head:
    a row lock on PostgreSQL until commit), never the ledger's.
    """
    text = canonical_json(details or {})
    subject, address = subject[:320], address[:64]
    head = session.execute(_TAKE_HEAD).one()
    occurred_at = format_time(at or datetime.now(UTC))
    digest = event_hash(head.seq, occurred_at, kind, subject, address, text, head.hash)
    values = {"seq": head.seq, "occurred_at": occurred_at, "kind": kind, "subject": subject,
              "address": address, "details": text, "prev_hash": head.hash, "hash": digest}
    session.execute(_EVENTS.insert(), values)
    session.execute(_SET_HEAD_HASH, {"new_hash": digest})
    return SecurityEvent(**values)


def count_recent(session: Session, kind: str, *, since: datetime, subject: str | None = None,
                 address: str | None = None) -> int:
    """Events of a kind since a moment, for one account or one address (the sign-in throttle)."""
    stmt = select(func.count()).select_from(SecurityEvent).where(
        SecurityEvent.kind == kind, SecurityEvent.occurred_at >= format_time(since))
    if subject is not None:
        stmt = stmt.where(SecurityEvent.subject == subject)
    if address is not None:
        stmt = stmt.where(SecurityEvent.address == address)
    return session.scalar(stmt) or 0


# --- verification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SecurityChainResult:
    count: int
    last_hash: str
    problem_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.problem_seq is None

    @property
    def problem(self) -> str:
        return f"event {self.problem_seq}: {self.reason}" if self.problem_seq else ""


COLUMNS = (SecurityEvent.seq, SecurityEvent.occurred_at, SecurityEvent.kind,
           SecurityEvent.subject, SecurityEvent.address, SecurityEvent.details,
           SecurityEvent.prev_hash, SecurityEvent.hash)


def iter_events(session: Session, first_seq: int = 1, last_seq: int | None = None,
                batch: int = 5000) -> Iterator[Any]:
    """Events in sequence order, in keyset pages (memory stays flat)."""
    last = first_seq - 1
    while True:
        stmt = select(*COLUMNS).where(SecurityEvent.seq > last)
        if last_seq is not None:
            stmt = stmt.where(SecurityEvent.seq <= last_seq)
        rows = session.execute(stmt.order_by(SecurityEvent.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_rows(rows: Iterable[Any], *, first_seq: int = 1,
                prev: str = GENESIS_HASH) -> SecurityChainResult:
    """Walk events in order; name the first one that breaks the chain."""
    expected = first_seq
    for seq, occurred_at, kind, subject, address, details, prev_hash, digest in rows:
        if seq != expected:
            reason = (f"sequence jumps from {expected - 1} to {seq} (events missing)"
                      if seq > expected else f"sequence {seq} out of order")
            return SecurityChainResult(expected - first_seq, prev, expected, reason)
        if prev_hash != prev:
            return SecurityChainResult(expected - first_seq, prev, seq,
                                       "previous hash does not match")
        if event_hash(seq, occurred_at, kind, subject, address, details, prev_hash) != digest:
            return SecurityChainResult(expected - first_seq, prev, seq,
                                       "content does not match its hash")
        prev = digest
        expected += 1
    return SecurityChainResult(expected - first_seq, prev)


def verify_security_chain(session: Session) -> SecurityChainResult:
    result = verify_rows(iter_events(session))
    if result.ok:
        head = session.execute(select(SecurityEventHead.seq, SecurityEventHead.hash)
                               .where(SecurityEventHead.id == 1)).one_or_none()
        if head is not None and (head.seq != result.count or head.hash != result.last_hash):
            return SecurityChainResult(result.count, result.last_hash, result.count + 1,
                                       f"chain is shorter than its head records ({head.seq} "
                                       "events): the tail is missing")
    return result


# --- export ----------------------------------------------------------------------------------

def day_bounds(first: date, last: date) -> tuple[str, str]:
    """The UTC text bounds [start, end) of Asia/Shanghai days first..last."""
    start = datetime.combine(first, time(), SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), time(), SHANGHAI)
    return format_time(start), format_time(end)


def _line(row: Any) -> bytes:
    return (canonical_json({"seq": row.seq, "occurred_at": row.occurred_at, "kind": row.kind,
                            "subject": row.subject, "address": row.address,
                            "details": row.details, "prev_hash": row.prev_hash,
                            "hash": row.hash}) + "\n").encode("utf-8")


@dataclass(frozen=True)
class SecurityExport:
    filename: str
    data: bytes
    manifest: dict[str, Any]


def build_export(session: Session, first: date, last: date, key) -> SecurityExport:
    """A zip of the events on Asia/Shanghai days first..last: events.jsonl, manifest.json and
    manifest.sig (the signing key's raw Ed25519 signature over manifest.json's exact bytes).

    Byte-identical for the same days and key once those days are over: no creation time, fixed
    zip timestamps. The segment is contiguous in the chain (first to last event of those days,
    by sequence) and each event carries its prev_hash and hash, so it verifies on its own;
    chain_hash_before anchors it to the rest of the chain.
    """
    start, end = day_bounds(first, last)
    bounds = session.execute(select(func.min(SecurityEvent.seq), func.max(SecurityEvent.seq))
                             .where(SecurityEvent.occurred_at >= start,
                                    SecurityEvent.occurred_at < end)).one()
    jsonl = hashlib.sha256()
    body = io.BytesIO()
    count, before, after = 0, None, None
    if bounds[0] is not None:
        for row in iter_events(session, bounds[0], bounds[1]):
            line = _line(row)
            jsonl.update(line)
            body.write(line)
            before = before or row.prev_hash
            after = row.hash
            count += 1
    verified = verify_rows(iter_events(session, bounds[0], bounds[1]),
                           first_seq=bounds[0], prev=before) if count else None
    manifest = {
        "format": EXPORT_FORMAT, "from": first.isoformat(), "to": last.isoformat(),
        "timezone": "Asia/Shanghai", "count": count, "first_seq": bounds[0],
        "last_seq": bounds[1], "chain_hash_before": before, "chain_hash_after": after,
        "chain_verified": verified.ok if verified else True,
        "files": {"events.jsonl": {"sha256": jsonl.hexdigest(), "bytes": body.tell()}},
        "signature": {"algorithm": "Ed25519", "key_fingerprint": key.fingerprint},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n").encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in (("events.jsonl", body.getvalue()), ("manifest.json", manifest_bytes),
                           ("manifest.sig", key.sign(manifest_bytes)),
                           ("public_key.pem", key.public_pem.encode("ascii"))):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    name = f"security-events-{first.isoformat()}-{last.isoformat()}.zip"
    return SecurityExport(name, out.getvalue(), manifest)


class UnusableSecurityExport(ValueError):
    pass


def verify_export(data: bytes, public_key) -> dict[str, Any]:
    """Check a security-events export offline against a pinned public key; returns its manifest.

    Raises UnusableSecurityExport naming the first problem (signature, file hash, chain).
    """
    from cryptography.exceptions import InvalidSignature

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            manifest_bytes = bundle.read("manifest.json")
            signature = bundle.read("manifest.sig")
            events = bundle.read("events.jsonl")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise UnusableSecurityExport(f"not a security-events export: {exc}") from None
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise UnusableSecurityExport("the manifest's signature does not verify") from None
    manifest = json.loads(manifest_bytes)
    if hashlib.sha256(events).hexdigest() != manifest["files"]["events.jsonl"]["sha256"]:
        raise UnusableSecurityExport("events.jsonl does not match the manifest's SHA-256")
    rows = []
    for line in events.decode("utf-8").splitlines():
        e = json.loads(line)
        rows.append((e["seq"], e["occurred_at"], e["kind"], e["subject"], e["address"],
                     e["details"], e["prev_hash"], e["hash"]))
    if rows:
        result = verify_rows(rows, first_seq=manifest["first_seq"],
                             prev=manifest["chain_hash_before"])
        if not result.ok:
            raise UnusableSecurityExport(result.problem)
        if result.last_hash != manifest["chain_hash_after"]:
            raise UnusableSecurityExport("the last event is not the manifest's chain_hash_after")
    if len(rows) != manifest["count"]:
        raise UnusableSecurityExport("the number of events does not match the manifest")
    return manifest
