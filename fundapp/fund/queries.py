"""Reading the fund's policy versions for pages and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.dates import shanghai_today
from fundapp.fund.models import Fund, PolicyVersion


def policy_versions(session: Session) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_on.desc(),
                                                               PolicyVersion.id.desc())))


def the_fund(session: Session) -> Fund | None:
    """The fund this installation runs (there is at most one), or None before it is set up."""
    return session.scalar(select(Fund).order_by(Fund.id).limit(1))


def fund_facts(session: Session, fund: Fund) -> dict[str, Any]:
    """The fund as plain data for pages and the API, with the policy version in force today."""
    version = session.scalar(select(PolicyVersion.version)
                             .where(PolicyVersion.effective_on <= shanghai_today())
                             .order_by(PolicyVersion.effective_on.desc(), PolicyVersion.id.desc())
                             .limit(1))
    return {"id": fund.id, "name": fund.name, "name_en": fund.name_en,
            "committed_amount": fund.committed_amount, "established_on": fund.established_on,
            "platform_name": fund.platform_name, "policy_version": version}
