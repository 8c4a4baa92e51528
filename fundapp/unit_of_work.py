"""One unit of work per web request, API request, CLI command and scheduler job.

Operations only ``flush()``; the boundary around them decides once, at the end, whether what they
did becomes true. This module is that boundary and the only place in fundapp that commits:

- a web or API request commits when its view returns a response below 400 and rolls back on any
  error response or exception (`dispatch`, installed by the app factory);
- a CLI command or a scheduler job runs inside `transaction()`;
- a form refusal goes through `attempt()`: it rolls the work back at once and hands the view the
  messages by field, so the page can show them next to what the user typed.

A request may keep its writes despite answering with an error (a failed sign-in keeps its attempt
and ledger entry for the lock-out count) by calling `keep_on_error()` first.

Idempotency-Key: an API route registered with ``idempotent=True`` claims (user, route, key) in
`idempotent_requests` before its view runs. The unique constraint makes a concurrent twin wait for
the first transaction; once that commits, the twin finds the stored answer and replays it. A
different body under the same key is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Response, current_app, g, has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from fundapp.errors import AppError, RuleRefused, ValidationFailed, next_step_html
from fundapp.extensions import db
from fundapp.idempotency import IdempotentRequest

T = TypeVar("T")

MAX_KEY_LENGTH = 200


# --------------------------------------------------------------------------- requests


def dispatch(view: Callable[[], Any]) -> Response:
    """Run a request's view as one unit of work (called by the app's dispatch_request)."""
    g._uow_doomed = False
    try:
        claim = _claim_idempotency_key()
        if isinstance(claim, Response):
            return claim
        response = current_app.make_response(view())
    except BaseException as exc:
        if isinstance(exc, AppError) and g.get("_uow_keep_on_error") and not g._uow_doomed:
            _commit()
        else:
            db.session.rollback()
        raise
    if g._uow_doomed or (response.status_code >= 400 and not g.get("_uow_keep_on_error")):
        db.session.rollback()
        return response
    if claim is not None and response.status_code < 400:
        claim.status_code = response.status_code
        claim.response_json = response.get_data(as_text=True)
    _commit()
    return response


def _commit() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def keep_on_error() -> None:
    """Keep this request's writes even though it will answer with an error (failed sign-ins)."""
    g._uow_keep_on_error = True


def rollback() -> None:
    """Undo everything this unit of work did so far; nothing more of it will be committed."""
    db.session.rollback()
    if has_request_context():
        g._uow_doomed = True


def attempt(action: Callable[[], T]) -> tuple[T | None, dict[str, list[str]]]:
    """Run a form's operation; a refusal rolls back and comes back as messages by field.

    Field names map to their messages; "_form" holds what concerns the whole form (a rule of the
    rule book, a conflict). The view shows them next to the fields or as a notice.
    """
    try:
        return action(), {}
    except AppError as exc:
        rollback()
        return None, error_messages(exc)


def error_messages(exc: AppError) -> dict[str, list[str]]:
    """The one adapter from an AppError to form messages, each in the user's language."""
    if isinstance(exc, ValidationFailed) and exc.details:
        messages: dict[str, list[str]] = {}
        for field, value in exc.details.items():
            key = "_form" if field in ("_schema", "_form") else field
            messages.setdefault(key, []).extend(_flatten(value))
        return messages
    next_step = next_step_html(exc.details) if isinstance(exc, RuleRefused) else None
    # Issue 12: a refusal that waits on another person's step says who and links there.
    return {"_form": [clause_message(exc), *([next_step] if next_step else [])]}


def clause_message(exc: AppError) -> str:
    """The refusal's message, led by the rule-book clause that refuses it ("R2.b: ...")."""
    message = str(exc.message)
    rule = exc.details.get("rule") if isinstance(exc, RuleRefused) else None
    if rule and not message.startswith(f"{rule}:"):
        return f"{rule}: {message}"
    return message


def _flatten(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flatten(v)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _flatten(v)]
    return [str(value)]


# --------------------------------------------------------------------------- locks


def lock_key(session, key: str) -> None:
    """Serialise the work on one named thing (an account's sign-ins) until this unit ends.

    PostgreSQL: a transaction-scoped advisory lock on the key. SQLite has one writer at a time:
    a write that changes nothing takes the database's write lock now rather than at the first
    real write, so what is read after this call cannot change before the commit.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": key})
    else:
        session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        session.expire_all()


def lock(session, model: type[T], ident: int) -> T | None:
    """Lock one aggregate (a grant, a holding, a deal, a meeting, a fund) for the rest of this
    unit of work and read it afresh; None when there is no such row.

    Every operation that checks an invariant of an aggregate and then changes it calls this first,
    so that two concurrent requests check one after the other. PostgreSQL: ``SELECT ... FOR
    UPDATE`` on the aggregate's row (the second request waits, then sees the first one's writes).
    SQLite: the database's write lock is taken now (one writer at a time), and everything this
    session read before is expired, so what is read after the call is current.
    """
    session.flush()  # what this unit wrote so far stays; what it read is read again below
    if session.get_bind().dialect.name == "postgresql":
        session.expire_all()
        return session.execute(select(model).where(model.id == ident)
                               .with_for_update(of=model)).scalar_one_or_none()
    session.execute(text("UPDATE alembic_version SET version_num = version_num"))
    session.expire_all()
    return session.get(model, ident)


# --------------------------------------------------------------------------- CLI and jobs


@contextmanager
def transaction() -> Iterator[None]:
    """A CLI command's or a scheduler job's unit of work: commit on success, else roll back."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    _commit()


def commit_step(target: Any) -> None:
    """One step of the worker's own unit of work (fundapp/tasks): a claim, an outcome, a progress
    note, each committed at once so that other workers and the pages see it. `target` is the
    worker's session or a connection of its own; nothing else in fundapp commits."""
    target.commit()


def release_savepoint(savepoint: Any) -> None:
    """Keep what was done since `session.begin_nested()` (RELEASE SAVEPOINT). Nothing is committed:
    the enclosing unit of work still decides whether any of it is (the history import replays each
    row in a savepoint of its own, and the whole workbook in one more)."""
    savepoint.commit()


# --------------------------------------------------------------------------- idempotency


def _claim_idempotency_key():
    """Claim the request's Idempotency-Key, or answer with the stored first response."""
    if request.method != "POST" or not getattr(current_app.view_functions.get(
            request.endpoint or ""), "idempotent", False):
        return None
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(_l("Some fields are not valid."), details={"Idempotency-Key": [
            str(_l("Longer than maximum length %(max)s.", max=MAX_KEY_LENGTH))]})
    scope = f"{request.method} {request.path}"
    body = request.get_json(silent=True)
    digest = hashlib.sha256(canonical_json(body).encode() if body is not None
                            else request.get_data()).hexdigest()
    stored = _stored(IdempotentRequest, scope, key)
    if stored is None:
        claim = IdempotentRequest(user_id=g.user.id, scope=scope, key=key, request_hash=digest,
                                  status_code=0, response_json="")
        db.session.add(claim)
        try:
            db.session.flush()
        except IntegrityError:
            # A twin with the same key committed while we waited on its row: replay its answer.
            db.session.rollback()
            stored = _stored(IdempotentRequest, scope, key)
        else:
            return claim
    if stored is None:  # pragma: no cover - the twin's row vanished: nothing to replay
        raise AppError(_l("This conflicts with a change made at the same time. Try again."),
                       status=409, code="conflict")
    if stored.request_hash != digest:
        raise AppError(_l("This Idempotency-Key was used with a different request."),
                       status=409, code="idempotency_key_reused")
    response = Response(stored.response_json, status=stored.status_code,
                        mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    db.session.rollback()
    return response


def _stored(model, scope: str, key: str):
    return db.session.scalar(select(model).where(model.user_id == g.user.id,
                                                 model.scope == scope, model.key == key))


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
