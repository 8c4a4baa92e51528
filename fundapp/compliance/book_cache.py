"""Results cached under the book's version (issue 14: pages within 150 ms at full scale).

The fund's performance figures read every flow, mark and grant (80,000 flows at full scale take
the better part of a second), the portfolio's compliance checks every holding; both change only
when the book does (or the day does), and every change to the book is an entry of the
compliance ledger in the same transaction. The ledger's head keeps the last entry that
could change the book (`LedgerHead.book_seq`, `book_hash`; compliance.ledger.BOOK_NEUTRAL lists
the actions that cannot), so figures computed under one book version are the figures of every
request that reads the same version: one indexed read of the head decides.

What changes outside the book but, like every change that matters, only with a ledger entry
(IC meetings, their packs and minutes) can be kept per version of the whole ledger instead
(`whole_ledger=True`: the head's seq and hash, which every entry moves).

The cache lives in the process (each web worker has its own), holds a few results per kind, and
returns the same objects to every caller: they are treated as read-only. The key carries the
head's hash as well as its number, so two databases at the same number never share a result
(tests make many), and the reader's language when the result holds rendered text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import current_app, has_request_context
from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.compliance.models import LedgerHead

T = TypeVar("T")
SIZE = 64  # results per kind and app: as-of dates, periods and pages in both languages


class _Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, key: tuple) -> Any:
        with self.lock:
            found = self.entries.get(key, _MISSING)
            if found is not _MISSING:
                self.entries.move_to_end(key)
            return found

    def put(self, key: tuple, value: Any) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > SIZE:
                self.entries.popitem(last=False)


_MISSING = object()


def book_version(session: Session) -> tuple[int, str]:
    """The last entry that could change the book: its number and hash."""
    head = session.execute(select(LedgerHead.book_seq, LedgerHead.book_hash)
                           .where(LedgerHead.id == 1)).one_or_none()
    return (head.book_seq, head.book_hash) if head is not None else (0, "")


def ledger_version(session: Session) -> tuple[int, str]:
    """The ledger's last entry: its number and hash (moves with every ledgered change)."""
    head = session.execute(select(LedgerHead.seq, LedgerHead.hash)
                           .where(LedgerHead.id == 1)).one_or_none()
    return (head.seq, head.hash) if head is not None else (0, "")


def cached(session: Session, kind: str, parts: tuple[Hashable, ...],
           compute: Callable[[], T], *, by_language: bool = True,
           whole_ledger: bool = False) -> T:
    """`compute()` once per book version, kind, parts (and language); then the same result.

    `whole_ledger`: once per version of the whole ledger instead, for what changes outside the
    book (IC meetings, users) but, like everything that matters, only with a ledger entry.
    Only while serving a request: a script, a job or a test calling the code directly computes.
    """
    if not has_request_context():
        return compute()
    version = ledger_version if whole_ledger else book_version
    # One pool per kind: a reader leafing through grants one by one does not push the fund's
    # figures (the better part of a second to compute) out of the cache.
    pools = current_app.extensions.setdefault("fundapp.book_cache", {})
    results = pools.get(kind) or pools.setdefault(kind, _Results())
    key = (kind, whole_ledger, *version(session),
           str(get_locale() or "") if by_language else "", *parts)
    found = results.get(key)
    if found is _MISSING:
        found = compute()
        # Read the version again: a change committed while computing must not be cached
        # under the older number (the figures may or may not include it).
        if version(session) == tuple(key[2:4]):
            results.put(key, found)
    return found
