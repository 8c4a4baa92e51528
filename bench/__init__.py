"""Benchmarks: each compares fundapp's work with the bare work measured in the same run."""


def upgrade_quietly() -> None:
    """Alembic's upgrade to the newest schema, without its log lines in the benchmark's figures."""
    import contextlib
    import io

    from flask_migrate import upgrade

    with contextlib.redirect_stderr(io.StringIO()):
        upgrade(revision="heads")


def best_of(fn, repeat: int) -> float:
    """The fastest of `repeat` runs of `fn`, in seconds (the least disturbed by the machine)."""
    import time

    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def continue_ledger(session, up_to: int, actors: tuple[str, ...] = ("bench@fundapp.cn",)) -> None:
    """Ledger entries from the head's seq + 1 to `up_to`, inserted in bulk with real hashes (the
    chain stays valid) and the head moved; committed. For the benchmarks' data, not measured."""
    from sqlalchemy import insert, select, text, update

    from fundapp.compliance.ledger import canonical_json, entry_hash
    from fundapp.compliance.models import LedgerEntry, LedgerHead

    if session.get_bind().dialect.name == "sqlite":
        # The unique index on hash takes random inserts: a larger page cache keeps a million of
        # them from rewriting the same pages over and over.
        session.execute(text("PRAGMA cache_size = -262144"))
    head = session.execute(select(LedgerHead.seq, LedgerHead.hash)).one()
    prev, last = head.hash, head.seq
    batch = []
    for seq in range(head.seq + 1, up_to + 1):
        payload = canonical_json({"amount": f"{seq * 37 % 10_000_000}.25",
                                  "company": "示例科技有限公司", "clause": "R6.a", "n": seq})
        row = dict(seq=seq, recorded_at=f"2026-01-01T00:00:{seq % 60:02d}.000000Z",
                   actor=actors[seq % len(actors)], action="bench.entry", subject_type="bench",
                   subject_id=str(seq), payload=payload, prev_hash=prev)
        row["hash"] = entry_hash(**row)
        prev, last = row["hash"], seq
        batch.append(row)
        if len(batch) == 20_000:
            session.execute(insert(LedgerEntry), batch)
            batch.clear()
    if batch:
        session.execute(insert(LedgerEntry), batch)
    session.execute(update(LedgerHead).where(LedgerHead.id == 1).values(seq=last, hash=prev))
    session.commit()
