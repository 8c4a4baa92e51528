"""The one writer of the compliance ledger, and the chain verifier.

`record()` appends an entry inside the caller's transaction: when the change it records rolls
back, the entry rolls back with it, and an entry is never committed without its change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring as _quote  # json.dumps' quoting, ensure_ascii=False
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from fundapp.compliance.models import LedgerEntry, LedgerHead

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot put {type(value).__name__} in a ledger payload")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, Decimals as strings: one byte form for one value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_default, allow_nan=False)


def entry_hash(seq: int, recorded_at: str, actor: str, action: str, subject_type: str,
               subject_id: str, payload: str, prev_hash: str,
               happened_on: str | date | None = None) -> str:
    """SHA-256 of the entry's canonical JSON form.

    The body is exactly canonical_json() of the entry's fields (sorted keys, no spaces), spelt out
    so that verifying a million entries does not pay for a generic json.dumps each time;
    tests/compliance/test_ledger_hash.py holds the two forms equal. `happened_on` (issue 12) is
    a field of the form only when the entry has one, so entries made before it hash as they did.
    """
    body = ('{"action":' + _quote(action) + ',"actor":' + _quote(actor)
            + _happened_field(happened_on)
            + ',"payload":' + _quote(payload) + ',"prev_hash":' + _quote(prev_hash)
            + ',"recorded_at":' + _quote(recorded_at) + ',"seq":' + str(int(seq))
            + ',"subject_id":' + _quote(subject_id) + ',"subject_type":' + _quote(subject_type)
            + "}")
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def day_text(day: str | date | None) -> str:
    """A happened_on value as the text that is hashed ("" for none); the database gives a date
    (PostgreSQL) or its ISO text (SQLite)."""
    if day is None or day == "":
        return ""
    return day.isoformat() if isinstance(day, date) else str(day)


def _happened_field(day: str | date | None) -> str:
    text_ = day_text(day)
    return ',"happened_on":' + _quote(text_) if text_ else ""


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LEDGER_ENTRIES = LedgerEntry.__table__
_LEDGER_HEADS = LedgerHead.__table__
# Actions (by their first part) that cannot change a figure of the fund's book: signing in,
# users, the IC's meetings and votes, roadshows, reports and exports of the ledger,
# notifications, reminders. Every other entry moves the head's book version (LedgerHead.book_seq),
# under which performance figures are cached: an action missing here only costs a recomputation.
BOOK_NEUTRAL = frozenset({"auth", "user", "ic", "roadshow", "ledger", "report", "notifications",
                          "deadlines", "scheduler"})


def moves_book(action: str) -> bool:
    return action.split(".", 1)[0] not in BOOK_NEUTRAL


# Takes the head's write lock and reads it in one round trip.
_TAKE_HEAD = (_LEDGER_HEADS.update().where(_LEDGER_HEADS.c.id == 1)
              .values(seq=_LEDGER_HEADS.c.seq + 1)
              .returning(_LEDGER_HEADS.c.seq, _LEDGER_HEADS.c.hash))
_INSERT_ENTRY = _LEDGER_ENTRIES.insert()
_SET_HEAD_HASH = (_LEDGER_HEADS.update().where(_LEDGER_HEADS.c.id == 1)
                  .values(hash=bindparam("new_hash")))
_SET_HEAD_HASH_BOOK = (_LEDGER_HEADS.update().where(_LEDGER_HEADS.c.id == 1)
                       .values(hash=bindparam("new_hash"), book_seq=_LEDGER_HEADS.c.seq,
                               book_hash=bindparam("new_hash")))
# PostgreSQL: the entry and the head's new hash in one round trip.
_APPEND_SQL = (
    "WITH entry AS (INSERT INTO ledger_entries (seq, recorded_at, happened_on, actor, action, "
    "subject_type, subject_id, payload, prev_hash, hash) VALUES (:seq, :recorded_at, "
    ":happened_on, :actor, :action, :subject_type, :subject_id, :payload, :prev_hash, :hash)) "
    "UPDATE ledger_heads SET hash = :hash{book} WHERE id = 1")
_APPEND_PG = text(_APPEND_SQL.format(book=""))
_APPEND_PG_BOOK = text(_APPEND_SQL.format(book=", book_seq = seq, book_hash = :hash"))


def record(session: Session, *, actor: str, action: str, subject_type: str,
           subject_id: Any = "", payload: dict[str, Any] | None = None,
           at: datetime | None = None, happened_on: date | None = None) -> LedgerEntry:
    """Append one entry to the ledger in the session's current transaction (flushes, never commits).

    Every ledgered write in the fund queues on the head's lock until its transaction ends
    (issue 16), so the time under the lock is kept short: the change and the payload's canonical
    form are ready before the lock is taken, and the append is two round trips on PostgreSQL
    (three on SQLite, where the lock is the whole database's anyway). The entry is written by
    Core statements; the LedgerEntry returned describes it and is not added to the session.

    `happened_on` (issue 12): the day the recorded fact happened, when the entry records one (a
    payment, a signing...); `recorded_at` is always when it was recorded.
    """
    session.flush()  # the change being recorded must reach the database before its entry
    text_ = canonical_json(payload or {})
    subject = str(subject_id)
    # Take the write lock first, then read the head (one statement): see LedgerHead.
    head = session.execute(_TAKE_HEAD).one()
    recorded_at = format_time(at or datetime.now(UTC))
    if isinstance(happened_on, datetime):  # a day, never a moment
        happened_on = happened_on.date()
    digest = entry_hash(head.seq, recorded_at, actor, action, subject_type, subject, text_,
                        head.hash, happened_on)
    values = {"seq": head.seq, "recorded_at": recorded_at, "happened_on": happened_on,
              "actor": actor, "action": action,
              "subject_type": subject_type, "subject_id": subject, "payload": text_,
              "prev_hash": head.hash, "hash": digest}
    book = moves_book(action)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_APPEND_PG_BOOK if book else _APPEND_PG, values)
    else:
        session.execute(_INSERT_ENTRY, values)
        session.execute(_SET_HEAD_HASH_BOOK if book else _SET_HEAD_HASH, {"new_hash": digest})
    return LedgerEntry(**values)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    count: int
    last_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


# entry_hash()'s body as one format string: verifying a million entries formats each once instead
# of concatenating seventeen pieces (tests/compliance/test_verify_rows.py holds the two equal).
_BODY = ('{"action":%s,"actor":%s%s,"payload":%s,"prev_hash":%s,"recorded_at":%s,"seq":%d,'
         '"subject_id":%s,"subject_type":%s}')


def verify_rows(rows: Iterable[Any]) -> VerifyResult:
    """Walk entries in sequence order and name the first one that breaks the chain.

    Rows are (seq, recorded_at, actor, action, subject_type, subject_id, payload, prev_hash,
    hash[, happened_on]) in that order, as iter_entries() yields them.
    """
    expected_seq = 1
    prev = GENESIS_HASH
    sha256, quote, body, happened = hashlib.sha256, _quote, _BODY, _happened_field
    for row in rows:
        (seq, recorded_at, actor, action, subject_type, subject_id, payload, prev_hash,
         digest) = row[:9]
        day = row[9] if len(row) > 9 else None
        if seq != expected_seq:
            reason = (f"sequence jumps from {expected_seq - 1} to {seq} (entries missing)"
                      if seq > expected_seq else f"sequence {seq} out of order")
            return VerifyResult(expected_seq - 1, prev, ChainProblem(expected_seq, reason))
        if prev_hash != prev:
            return VerifyResult(expected_seq - 1, prev,
                                ChainProblem(seq, "previous hash does not match"))
        text = body % (quote(action), quote(actor), happened(day) if day else "", quote(payload),
                       quote(prev_hash),
                       quote(recorded_at), seq, quote(subject_id), quote(subject_type))
        if sha256(text.encode("utf-8")).hexdigest() != digest:
            return VerifyResult(expected_seq - 1, prev,
                                ChainProblem(seq, "content does not match its hash"))
        prev = digest
        expected_seq += 1
    return VerifyResult(expected_seq - 1, prev, None)


def iter_entries(session: Session, batch: int = 5000) -> Iterator[Any]:
    columns = (LedgerEntry.seq, LedgerEntry.recorded_at, LedgerEntry.actor, LedgerEntry.action,
               LedgerEntry.subject_type, LedgerEntry.subject_id, LedgerEntry.payload,
               LedgerEntry.prev_hash, LedgerEntry.hash, LedgerEntry.happened_on)
    last = 0
    # Keyset pages keep memory flat and need no server-side cursor on either database.
    while True:
        rows = session.execute(select(*columns).where(LedgerEntry.seq > last)
                               .order_by(LedgerEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> VerifyResult:
    result = verify_rows(iter_entries(session))
    if result.ok:
        head = session.execute(select(LedgerHead.seq, LedgerHead.hash)
                               .where(LedgerHead.id == 1)).one_or_none()
        if head is not None and (head.seq != result.count or head.hash != result.last_hash):
            # Entries were removed from the end: the head still remembers the longer chain.
            return VerifyResult(result.count, result.last_hash,
                                ChainProblem(result.count + 1, "chain is shorter than its head "
                                             f"records ({head.seq} entries): the tail is missing"))
    return result


def iter_entries_between(session: Session, first_seq: int, last_seq: int,
                         batch: int = 5000) -> Iterator[Any]:
    """Entries first_seq..last_seq (inclusive) in order, in keyset pages of `batch` rows."""
    columns = (LedgerEntry.seq, LedgerEntry.recorded_at, LedgerEntry.actor, LedgerEntry.action,
               LedgerEntry.subject_type, LedgerEntry.subject_id, LedgerEntry.payload,
               LedgerEntry.prev_hash, LedgerEntry.hash, LedgerEntry.happened_on)
    last = first_seq - 1
    while last < last_seq:
        rows = session.execute(select(*columns)
                               .where(LedgerEntry.seq > last, LedgerEntry.seq <= last_seq)
                               .order_by(LedgerEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
