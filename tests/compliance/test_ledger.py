"""The compliance ledger (R12): one writer, same transaction as the change, a hash chain that
the database itself keeps append-only, and a verifier that names the first bad entry."""

from __future__ import annotations

import hashlib
import json
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from fundapp.auth.models import User
from fundapp.compliance.ledger import (
    GENESIS_HASH,
    canonical_json,
    entry_hash,
    record,
    verify_chain,
)
from fundapp.compliance.models import LedgerEntry, LedgerHead
from fundapp.extensions import db
from tests.conftest import make_user, tamper

pytestmark = pytest.mark.timeout(60)


def entries() -> list[LedgerEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def append(count: int, **payload) -> None:
    for i in range(count):
        record(db.session, actor="test", action="test.appended", subject_type="test",
               subject_id=i, payload={"i": i, **payload})
        db.session.commit()




def expect_refused(statement: str, **params) -> None:
    db.session.remove()  # an open read would hold a lock that TRUNCATE waits for
    with db.engine.connect() as conn:
        with pytest.raises(DBAPIError) as excinfo:
            conn.execute(text(statement), params)
        conn.rollback()
    assert "append-only" in str(excinfo.value.orig)


# --- canonical form --------------------------------------------------------------------------

def test_key_order_does_not_change_the_canonical_form_or_hash():
    one = {"amount": Decimal("1.10"), "name": "基金", "nested": {"b": 1, "a": [1, 2]}}
    two = {"nested": {"a": [1, 2], "b": 1}, "name": "基金", "amount": Decimal("1.10")}

    assert canonical_json(one) == canonical_json(two)
    args = ("2026-01-01T00:00:00.000000Z", "a", "x", "t", "1")
    assert entry_hash(1, *args, canonical_json(one), GENESIS_HASH) == entry_hash(
        1, *args, canonical_json(two), GENESIS_HASH)


def test_decimals_are_strings_and_chinese_text_stays_utf8():
    text_form = canonical_json({"committed_amount": Decimal("500000000.00"), "name": "张江基金"})

    assert text_form == '{"committed_amount":"500000000.00","name":"张江基金"}'
    assert "张江基金".encode() in text_form.encode("utf-8")  # not \\u escapes


def test_a_value_without_one_canonical_form_is_refused():
    with pytest.raises(TypeError):
        canonical_json({"object": object()})
    with pytest.raises(ValueError):
        canonical_json({"not a number": float("nan")})


# --- one writer, same transaction -------------------------------------------------------------

def test_rolled_back_change_leaves_no_entry(app):
    from fundapp.auth.operations import create_user

    create_user(db.session, email="gone@example.cn", password="long-enough-pw", roles=["auditor"],
                actor="test")
    db.session.rollback()

    assert db.session.scalar(select(User.id).where(User.email == "gone@example.cn")) is None
    assert entries() == []
    assert verify_chain(db.session).ok
    # The next entry starts the chain: the rolled-back one left no gap and no fork.
    make_user("kept@example.cn")
    [entry] = entries()
    assert (entry.seq, entry.prev_hash, entry.action) == (1, GENESIS_HASH, "user.created")


def test_entry_never_commits_without_its_change(app):
    make_user("first@example.cn")
    db.session.add(User(email="first@example.cn", name="", password_hash="x"))  # duplicate
    with pytest.raises(IntegrityError):
        record(db.session, actor="test", action="user.created", subject_type="user",
               subject_id="dup", payload={})
        db.session.commit()
    db.session.rollback()

    assert [e.action for e in entries()] == ["user.created"]
    assert verify_chain(db.session).count == 1


def test_entries_link_into_a_hash_chain(app):
    make_user("a@example.cn", roles=("admin",), name="管理员")
    append(3, amount=Decimal("12.30"))

    chain = entries()
    assert [e.seq for e in chain] == [1, 2, 3, 4]
    assert chain[0].prev_hash == GENESIS_HASH
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.prev_hash == before.hash
    for entry in chain:
        # Recomputed here from the stored columns, independently of the app's helper.
        body = json.dumps({"seq": entry.seq, "recorded_at": entry.recorded_at,
                           "actor": entry.actor, "action": entry.action,
                           "subject_type": entry.subject_type, "subject_id": entry.subject_id,
                           "payload": entry.payload, "prev_hash": entry.prev_hash},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert entry.hash == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert json.loads(chain[0].payload)["name"] == "管理员"
    assert json.loads(chain[1].payload) == {"i": 0, "amount": "12.30"}
    head = db.session.get(LedgerHead, 1)
    assert (head.seq, head.hash) == (4, chain[-1].hash)
    result = verify_chain(db.session)
    assert (result.ok, result.count, result.last_hash) == (True, 4, chain[-1].hash)


# --- the database refuses changes -------------------------------------------------------------

def test_database_refuses_update_and_delete(app):
    append(2)
    before = [(e.seq, e.payload, e.hash) for e in entries()]

    expect_refused("UPDATE ledger_entries SET payload = '{}' WHERE seq = 1")
    expect_refused("UPDATE ledger_entries SET actor = 'someone else'")
    expect_refused("DELETE FROM ledger_entries WHERE seq = 2")
    expect_refused("DELETE FROM ledger_entries")
    if db.engine.dialect.name == "postgresql":
        expect_refused("TRUNCATE ledger_entries")
        expect_refused("TRUNCATE ledger_entries, ledger_heads")

    assert [(e.seq, e.payload, e.hash) for e in entries()] == before
    assert verify_chain(db.session).ok


def test_database_refuses_overwriting_an_entry_by_upsert(app):
    append(2)
    forged = dict(seq=1, at="2026-01-01T00:00:00.000000Z", actor="intruder", action="x",
                  st="x", sid="x", payload="{}", prev=GENESIS_HASH, hash="f" * 64)
    columns = ("INSERT {verb} INTO ledger_entries (seq, recorded_at, actor, action, subject_type, "
               "subject_id, payload, prev_hash, hash) VALUES (:seq, :at, :actor, :action, :st, "
               ":sid, :payload, :prev, :hash)")
    if db.engine.dialect.name == "sqlite":
        # REPLACE deletes the old row without firing a DELETE trigger.
        expect_refused(columns.format(verb="OR REPLACE"), **forged)
    else:
        expect_refused(columns.format(verb="") + " ON CONFLICT (seq) DO UPDATE SET "
                       "actor = excluded.actor, payload = excluded.payload", **forged)

    assert [e.actor for e in entries()] == ["test", "test"]
    assert verify_chain(db.session).ok


# --- verification names the first bad entry --------------------------------------------------

def test_verify_names_a_changed_payload(app):
    append(4)
    tamper("UPDATE ledger_entries SET payload = :payload WHERE seq = 3", payload='{"i":99}')

    result = verify_chain(db.session)
    assert not result.ok
    assert result.problem.seq == 3
    assert "hash" in result.problem.reason
    assert result.count == 2


def test_verify_names_a_rehashed_entry_by_the_broken_link(app):
    append(4)
    entry = entries()[1]
    forged_payload = '{"i":99}'
    forged = entry_hash(entry.seq, entry.recorded_at, entry.actor, entry.action,
                        entry.subject_type, entry.subject_id, forged_payload, entry.prev_hash)
    tamper("UPDATE ledger_entries SET payload = :payload, hash = :hash WHERE seq = 2",
           payload=forged_payload, hash=forged)

    result = verify_chain(db.session)
    assert result.problem.seq == 3  # entry 2 is self-consistent; entry 3 no longer links to it
    assert "previous hash" in result.problem.reason


def test_verify_names_a_deleted_middle_entry(app):
    append(5)
    tamper("DELETE FROM ledger_entries WHERE seq = 3")

    result = verify_chain(db.session)
    assert result.problem.seq == 3
    assert "missing" in result.problem.reason
    assert result.count == 2


def test_verify_detects_a_truncated_tail_through_the_head(app):
    append(5)
    tamper("DELETE FROM ledger_entries WHERE seq >= 4")

    result = verify_chain(db.session)
    assert not result.ok
    assert result.problem.seq == 4
    assert "tail is missing" in result.problem.reason


def test_verify_names_two_swapped_entries(app):
    append(4)
    tamper("UPDATE ledger_entries SET seq = -2 WHERE seq = 2",
           "UPDATE ledger_entries SET seq = 2 WHERE seq = 3",
           "UPDATE ledger_entries SET seq = 3 WHERE seq = -2")

    result = verify_chain(db.session)
    assert not result.ok
    assert result.problem.seq == 2


# --- concurrent writers ------------------------------------------------------------------------

def test_concurrent_writers_make_one_unbroken_chain(app):
    threads_count, per_thread = 8, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            with app.app_context():  # its own session and connection
                start.wait()
                for i in range(per_thread):
                    record(db.session, actor=f"worker-{worker}", action="test.concurrent",
                           subject_type="test", subject_id=i,
                           payload={"worker": worker, "i": i})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    total = threads_count * per_thread
    result = verify_chain(db.session)
    assert (result.ok, result.count) == (True, total)
    assert db.session.scalar(select(func.max(LedgerEntry.seq))) == total
    written = {(e["worker"], e["i"]) for e in
               (json.loads(p) for p in db.session.scalars(select(LedgerEntry.payload)))}
    assert written == {(w, i) for w in range(threads_count) for i in range(per_thread)}
