"""Reading the fund's policy versions for pages and the API."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.fund.models import PolicyVersion


def policy_versions(session: Session) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_on.desc(),
                                                               PolicyVersion.id.desc())))
