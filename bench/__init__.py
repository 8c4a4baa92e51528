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
