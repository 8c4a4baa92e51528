"""The policy parameters the pipeline applies (R2.a, R10.a, R11), with the rule book's defaults.

The versioned policy store (rules.md, "versioned policies") is another piece of work; until it
exists `pipeline_policy()` returns the defaults, and it is the one place to read them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PipelinePolicy:
    grant_cap_abs: Decimal = Decimal("5000000.00")  # R2.a, CNY
    grant_cap_pct_of_budget: Decimal = Decimal("0.50")  # R2.a, fraction of the approved budget
    max_single_company_pct: Decimal = Decimal("0.10")  # R10.a, fraction of committed capital
    expert_quorum: Fraction = Fraction(2, 3)  # R11, fraction of the (unconflicted) panel
    public_notice_working_days: int = 10  # R11
    version: str = "default"


def pipeline_policy(session: Session, on: date | None = None) -> PipelinePolicy:
    """The policy in force: with `on`, the fund's policy version in force that day (issue 12: a
    move is checked against the rules of the day it happened), else the rule book's defaults
    (also when no version is in force that day)."""
    if on is None:
        return PipelinePolicy()
    from fundapp.fund.models import PolicyVersion  # every domain may import the fund

    version = session.scalar(select(PolicyVersion).where(PolicyVersion.effective_on <= on)
                             .order_by(PolicyVersion.effective_on.desc(),
                                       PolicyVersion.id.desc()).limit(1))
    if version is None:
        return PipelinePolicy()
    values, base = version.values, PipelinePolicy()
    return PipelinePolicy(
        grant_cap_abs=Decimal(str(values.get("grant_cap_abs", base.grant_cap_abs))),
        grant_cap_pct_of_budget=Decimal(str(values.get("grant_cap_pct_of_budget",
                                                       base.grant_cap_pct_of_budget))),
        max_single_company_pct=Decimal(str(values.get("max_single_company_pct",
                                                      base.max_single_company_pct))),
        expert_quorum=Fraction(str(values.get("expert_quorum", base.expert_quorum))),
        public_notice_working_days=int(values.get("public_notice_working_days",
                                                  base.public_notice_working_days)),
        version=version.version)
