"""Ledgered writes per second with 8 concurrent clients on PostgreSQL, and the head-lock wait.

Goal (issue 16): >= 300 ledgered writes/s with 8 clients, and a burst of failed sign-ins leaves
business writes unaffected (failed sign-ins are security events with their own head row).

Each client is a thread with its own application context, session and connection; a write is
one business fact recorded by fundapp.compliance.ledger.record in its own transaction, committed.
The wait for the head lock is the duration of record()'s statement that takes it (UPDATE
ledger_heads ... RETURNING, timed by an engine event): it returns once the lock is granted. The
floor of the time each write holds the lock is one durable commit (the lock is released after the
WAL flush), printed as "bare commit" with the ceiling it sets. Three phases of
BENCH_WRITE_SECONDS each (default 10), taken in BENCH_WRITE_ROUNDS (default 5) alternating rounds
so that the shared machine's other load falls on all three alike:
  1. business writes alone;
  2. the same with a burst of failed sign-ins (a separate process, as another web worker, with
     4 threads calling auth.operations.authenticate with wrong passwords as fast as they can):
     they go to security_events;
  3. for comparison, the same burst written to the ledger, as failed sign-ins were before
     issue 16.
On a scratch database created on FUNDAPP_TEST_DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test) and dropped afterwards; skipped with a message when
PostgreSQL does not answer.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

from bench import upgrade_quietly

CLIENTS = 8
BURST = 4
ROUNDS = int(os.environ.get("BENCH_WRITE_ROUNDS", 5))
GOAL = 300.0
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _url() -> str:
    url = os.environ.get("FUNDAPP_TEST_DATABASE_URL", DEFAULT_URL)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _admin(url):
    import psycopg

    return psycopg.connect(host=url.host or "127.0.0.1", port=url.port or 5432,
                           user=url.username or "postgres", password=url.password,
                           dbname=url.database, autocommit=True, connect_timeout=3)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


_timing = threading.local()


def _watch_head_lock(engine, waits_by_thread: dict) -> None:
    """Time the statement of ledger.record that takes the head's lock (UPDATE ledger_heads ...
    RETURNING): it returns once the lock is granted, so its duration is the wait."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE ledger_heads SET seq="):
            _timing.started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE ledger_heads SET seq="):
            waits = waits_by_thread.get(threading.get_ident())
            if waits is not None:
                waits.append(time.perf_counter() - _timing.started)


def _business_client(app, stop: threading.Event, n: int, waits: dict,
                     counts: list[int]) -> None:
    from fundapp.compliance.ledger import record
    from fundapp.extensions import db

    waits[threading.get_ident()] = []
    with app.app_context():
        session = db.session
        done = 0
        while not stop.is_set():
            record(session, actor="bench", action="bench.business_fact", subject_type="bench",
                   subject_id=n, payload={"client": n, "i": done})
            session.commit()
            done += 1
        counts[n] = done


def _guesser(app, stop: threading.Event, n: int, counts: list[int], via_ledger: bool) -> None:
    from fundapp.auth.operations import authenticate
    from fundapp.compliance.ledger import record
    from fundapp.extensions import db

    with app.app_context():
        session = db.session
        done = 0
        while not stop.is_set():
            email = f"guess{n}-{done % 50}@example.cn"
            address = f"10.{n}.{done // 250 % 250}.{done % 250}"
            if via_ledger:  # what a failed sign-in wrote before issue 16
                record(session, actor=email, action="auth.login_failed", subject_type="user",
                       subject_id=email, payload={"address": address, "via": "bench",
                                                  "reason": "unknown_user"})
            else:
                authenticate(session, email, "wrong-password", address, via="bench")
            session.commit()
            done += 1
        counts[n] = done


def _bare_commit_ms(session, count: int = 200) -> float:
    """One client's smallest durable transaction (one row updated, committed): the floor of the
    time a ledgered write holds the head's lock, since the lock is released after the commit's
    WAL flush."""
    from sqlalchemy import text

    started = time.perf_counter()
    for _ in range(count):
        session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        session.commit()
    return (time.perf_counter() - started) / count * 1000


def _burst_main(database_url: str, via_ledger: bool, ready, stop, results) -> None:
    """A process of its own (as another web worker would be): BURST threads failing sign-ins."""
    from fundapp.app import create_app
    from fundapp.config import TestConfig

    config = TestConfig(database_url)
    config.ARGON2_FAST = True
    config.SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": BURST + 1, "max_overflow": 2}
    app = create_app(config)
    halt = threading.Event()
    counts = [0] * BURST
    threads = [threading.Thread(target=_guesser, args=(app, halt, n, counts, via_ledger))
               for n in range(BURST)]
    for thread in threads:
        thread.start()
    ready.set()
    started = time.perf_counter()
    stop.wait()
    halt.set()
    for thread in threads:
        thread.join()
    results.put(sum(counts) / (time.perf_counter() - started))


def _phase(app, seconds: float, burst: str | None) -> dict:
    import multiprocessing

    stop = threading.Event()
    app.extensions["bench_waits"].clear()
    counts = [0] * CLIENTS
    threads = [threading.Thread(target=_business_client,
                                args=(app, stop, n, app.extensions["bench_waits"], counts))
               for n in range(CLIENTS)]
    process = None
    if burst:
        context = multiprocessing.get_context("fork")  # before any thread of this phase starts
        ready, halt, results = context.Event(), context.Event(), context.Queue()
        process = context.Process(target=_burst_main, args=(
            app.config["SQLALCHEMY_DATABASE_URI"], burst == "ledger", ready, halt, results))
        process.start()
        if not ready.wait(120):
            process.kill()
            raise RuntimeError("the sign-in burst process did not start")
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    guesses_per_s = 0.0
    if process is not None:
        halt.set()
        guesses_per_s = results.get(timeout=120)
        process.join(60)
    waits = [w for thread_waits in app.extensions["bench_waits"].values() for w in thread_waits]
    return {"writes": sum(counts), "elapsed": elapsed, "guesses": guesses_per_s * elapsed,
            "waits": waits}


def _summary(rounds: list[dict]) -> dict:
    elapsed = sum(r["elapsed"] for r in rounds)
    waits = [w for r in rounds for w in r["waits"]]
    return {"writes_per_s": sum(r["writes"] for r in rounds) / elapsed,
            "guesses_per_s": sum(r["guesses"] for r in rounds) / elapsed,
            "p50_ms": _percentile(waits, 0.50) * 1000, "p99_ms": _percentile(waits, 0.99) * 1000,
            "mean_ms": (statistics.fmean(waits) * 1000) if waits else 0.0}


def run() -> dict:
    from sqlalchemy.engine import make_url

    url = make_url(_url())
    try:
        with _admin(url) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL does not answer
        message = (f"skipped: PostgreSQL does not answer at "
                   f"{url.render_as_string()} ({str(exc).strip().splitlines()[0]})")
        print(f"   {message}")
        return {"skipped": message}

    from fundapp.app import create_app
    from fundapp.compliance.ledger import verify_chain
    from fundapp.compliance.security_events import verify_security_chain
    from fundapp.config import TestConfig
    from fundapp.extensions import db

    seconds = float(os.environ.get("BENCH_WRITE_SECONDS", 10))
    name = f"fundapp_bench_write_{os.getpid()}"
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        config = TestConfig(url.set(database=name).render_as_string(hide_password=False))
        config.ARGON2_FAST = True
        config.SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": CLIENTS + 2, "max_overflow": 4}
        app = create_app(config)
        app.extensions["bench_waits"] = {}
        with app.app_context():
            upgrade_quietly()
            db.session.remove()
            _watch_head_lock(db.engine, app.extensions["bench_waits"])
            commit_ms = _bare_commit_ms(db.session)
        _phase(app, min(seconds, 1.0), None)  # warm-up: connections opened, caches filled
        # The phases take turns in ROUNDS short rounds, so that a change in the machine's other
        # load (a shared machine) falls on all three alike.
        rounds: dict[str | None, list[dict]] = {None: [], "security": [], "ledger": []}
        for _ in range(ROUNDS):
            for burst_kind, results in rounds.items():
                results.append(_phase(app, seconds / ROUNDS, burst_kind))
        alone, burst, before = (_summary(rounds[k]) for k in (None, "security", "ledger"))
        with app.app_context():
            chains_ok = verify_chain(db.session).ok and verify_security_chain(db.session).ok
            db.session.remove()
            db.engine.dispose()
    finally:
        with _admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "clients": CLIENTS,
        "seconds per phase": f"{seconds:g} (in {ROUNDS} alternating rounds)",
        "bare commit (1 client)": f"{commit_ms:.2f} ms, ceiling {1000 / commit_ms:.0f}/s",
        "alone: ledgered writes/s": f"{alone['writes_per_s']:.0f}",
        "alone: head-lock wait p50/p99": f"{alone['p50_ms']:.2f} / {alone['p99_ms']:.2f} ms",
        "+ sign-in burst: writes/s": f"{burst['writes_per_s']:.0f}",
        "+ sign-in burst: wait p50/p99": f"{burst['p50_ms']:.2f} / {burst['p99_ms']:.2f} ms",
        "+ sign-in burst: failed sign-ins/s": f"{burst['guesses_per_s']:.0f}",
        "before #16 (burst in ledger): writes/s": f"{before['writes_per_s']:.0f}",
        "before #16: wait p50/p99": f"{before['p50_ms']:.2f} / {before['p99_ms']:.2f} ms",
        "before #16: failed sign-ins/s": f"{before['guesses_per_s']:.0f}",
        "chains verify": chains_ok,
        "goal_met": alone["writes_per_s"] >= GOAL and burst["writes_per_s"] >= GOAL,
    }
