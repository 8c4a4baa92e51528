"""Roadshow scoring: weighted totals and rankings. Pure: plain values in, plain values out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

MIN_SCORE = Decimal("0")
MAX_SCORE = Decimal("10")
# Judges whose weighted totals for one company lie further apart than this (on the 0-10 scale)
# disagree strongly: the ranking flags the company so the panel discusses it.
DISAGREEMENT_SPREAD = Decimal("3.00")
CENT = Decimal("0.01")

# code -> English label; the defaults of the issue, in this order, 20% each.
DEFAULT_CRITERIA: tuple[tuple[str, str, Decimal], ...] = (
    ("technology", "Technology", Decimal("20.00")),
    ("team", "Team", Decimal("20.00")),
    ("market", "Market", Decimal("20.00")),
    ("park_fit", "Fit with the park's industries", Decimal("20.00")),
    ("policy_value", "Policy value", Decimal("20.00")),
)


def weighted_total(scores: Mapping[str, Decimal], weights: Mapping[str, Decimal]) -> Decimal:
    """Sum of score x weight% over the criteria, on the 0-10 scale, rounded half-up to 0.01."""
    total = sum((scores[code] * weight for code, weight in weights.items()), Decimal(0))
    return (total / 100).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class RankingRow:
    company_id: int
    company_name: str
    totals: list[Decimal] = field(default_factory=list)
    conflicts: int = 0
    rank: int | None = None

    @property
    def count(self) -> int:
        return len(self.totals)

    @property
    def mean(self) -> Decimal | None:
        if not self.totals:
            return None
        return (sum(self.totals, Decimal(0)) / len(self.totals)).quantize(
            CENT, rounding=ROUND_HALF_UP)

    @property
    def spread(self) -> Decimal | None:
        return max(self.totals) - min(self.totals) if self.totals else None

    @property
    def is_disputed(self) -> bool:
        return self.spread is not None and self.spread > DISAGREEMENT_SPREAD


def rank_companies(companies: Iterable[tuple[int, str]],
                   sheets: Iterable[tuple[int, bool, Mapping[str, Decimal]]],
                   weights: Mapping[str, Decimal]) -> list[RankingRow]:
    """Rank companies by the mean of their judges' weighted totals.

    `sheets` holds (company_id, has_conflict, scores by criterion code); a conflicted judge's
    sheet is left out of the company's score (it only counts as a declared conflict). Companies
    without any score come last, unranked.
    """
    rows = {company_id: RankingRow(company_id, name) for company_id, name in companies}
    for company_id, has_conflict, scores in sheets:
        row = rows.get(company_id)
        if row is None:
            continue
        if has_conflict:
            row.conflicts += 1
        elif all(code in scores for code in weights):
            row.totals.append(weighted_total(scores, weights))
    scored = sorted((r for r in rows.values() if r.totals),
                    key=lambda r: (-r.mean, r.spread, r.company_name))
    rank = 0
    previous = None
    for position, row in enumerate(scored, start=1):
        if row.mean != previous:
            rank = position
            previous = row.mean
        row.rank = rank
    unscored = sorted((r for r in rows.values() if not r.totals), key=lambda r: r.company_name)
    return scored + unscored
