"""Scheduled jobs of grant agreements (run by `fundapp scheduler run`, never by a web worker)."""

from __future__ import annotations

from datetime import timedelta

from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.portfolio.grants.operations import close_expired_grants
from fundapp.scheduler import JobSpec, register_job


def close_expired_grants_job() -> str:
    """Daily (R8.a): close the grants whose window and grace ended without a conversion.

    Idempotent by the grant's status: a grant already closed is not closed again, so a second
    run the same day (or a caught-up run) changes nothing. The scheduler's unit of work commits.
    """
    closed = close_expired_grants(db.session, shanghai_today())
    return f"{len(closed)} grant(s) closed under R8.a" + (
        f": {', '.join(map(str, closed))}" if closed else "")


register_job(JobSpec("grants.close_expired", close_expired_grants_job,
                     {"hour": "1", "minute": "15"}, timedelta(days=1), clause="R8.a"))
