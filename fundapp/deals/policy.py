"""The policy parameters the pipeline applies (R2.a, R10.a, R11), with the rule book's defaults.

The versioned policy store (rules.md, "versioned policies") is another piece of work; until it
exists `pipeline_policy()` returns the defaults, and it is the one place to read them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PipelinePolicy:
    grant_cap_abs: Decimal = Decimal("5000000.00")  # R2.a, CNY
    grant_cap_pct_of_budget: Decimal = Decimal("0.50")  # R2.a, fraction of the approved budget
    max_single_company_pct: Decimal = Decimal("0.10")  # R10.a, fraction of committed capital
    expert_quorum: Fraction = Fraction(2, 3)  # R11, fraction of the (unconflicted) panel
    public_notice_working_days: int = 10  # R11
    version: str = "default"


def pipeline_policy(session: Session) -> PipelinePolicy:
    """The policy in force (the defaults until versioned policies exist)."""
    return PipelinePolicy()
