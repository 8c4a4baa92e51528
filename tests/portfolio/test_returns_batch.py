"""The fast path of returns.py: many groups at once, each rate proved unique or left to the scan.

`irr_batch` must give, group by group, exactly what `since_inception_irr` gives for the same flows,
and both must agree with the exhaustive scan (`_irr_by_scan`) to 1e-9 whenever there is a rate.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np
import pyxirr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fundapp.portfolio.performance.irr import _irr_by_scan
from fundapp.portfolio.performance.returns import (
    CashFlow,
    irr_batch,
    net_by_day,
    since_inception_irr,
    solve_xirr,
)

D = Decimal


def flows_of(*pairs: tuple[str, int]) -> list[CashFlow]:
    return [CashFlow(date.fromisoformat(on), D(amount)) for on, amount in pairs]


def steps(result) -> str:
    return " | ".join(result.steps)


def test_a_fund_with_many_changes_of_sign_but_one_of_its_running_total_is_solved_fast():
    # Follow-ons and dividends alternate (six changes of sign), but the running total of the
    # flows turns positive only once: Norström's criterion proves the rate is the only one.
    flows = flows_of(("2020-01-01", -100), ("2020-07-01", 5), ("2021-01-01", -50),
                     ("2021-07-01", 8), ("2022-01-01", -30), ("2022-07-01", 10),
                     ("2024-01-01", 260))
    result = solve_xirr(flows)
    assert "Norström" in steps(result) and "scanned" not in steps(result)
    oracle = pyxirr.xirr([f.on for f in flows], [float(f.amount) for f in flows])
    assert math.isclose(float(result.rate), oracle, rel_tol=1e-9, abs_tol=1e-9)


def test_a_second_rate_below_zero_is_not_missed():
    # -10, +20, -1 a year apart: the running totals change sign once (so r > 0 has one root,
    # 94.5 %), but the totals from the end change sign too: -94.9 % is also a root. pyxirr
    # returns the first; the module says there is no single rate.
    flows = flows_of(("2020-01-01", -10), ("2021-01-01", 20), ("2022-01-01", -1))
    result = solve_xirr(flows)
    assert result.rate is None and "several rates" in result.reason
    assert [round(c, 4) for c in result.candidates] == [D("-0.9487"), D("0.9450")]


def test_discounting_at_the_rate_can_prove_it_unique_when_the_plain_totals_cannot():
    # Undiscounted running totals: -100, 5, -45, 55 (three changes). Discounted at a rate next
    # to the root (27 %), the +105 no longer pays back the 100 and the totals change sign once.
    flows = flows_of(("2020-01-01", -100), ("2021-01-01", 105), ("2022-01-01", -50),
                     ("2023-01-01", 100))
    result = solve_xirr(flows)
    assert "discounted at a rate next to it" in steps(result)
    reference = _irr_by_scan(net_by_day(flows), len(flows), annualise_short_periods=True)
    assert abs(result.rate - reference.rate) < D("1e-12")


def test_a_batch_gives_each_group_what_the_single_call_gives():
    groups = [
        flows_of(("2008-01-01", -10000), ("2008-03-01", 2750), ("2008-10-30", 4250),
                 ("2009-02-15", 3250), ("2009-04-01", 2750)),
        flows_of(("2021-01-01", -100), ("2022-01-01", 230), ("2023-01-01", -132)),  # two roots
        flows_of(("2020-01-01", -100), ("2021-01-01", -50)),  # no change of sign
        flows_of(("2024-01-01", -100), ("2024-04-01", 105)),  # under a year: not annualised
        flows_of(("2020-01-01", -100), ("2021-01-01", 100)),  # 0 %
        flows_of(("2020-01-01", -100)),  # one date
    ]
    days, amounts, starts = [], [], []
    for flows in groups:
        starts.append(len(days))
        for flow in net_by_day(flows):
            days.append(flow.on.toordinal())
            amounts.append(int(flow.amount * 100))  # fen
    batch = irr_batch(np.array(days), np.array(amounts), np.array(starts))
    single = [since_inception_irr(flows) for flows in groups]
    assert [b.rate for b in batch] == [s.rate for s in single]
    assert [b.annualised for b in batch] == [s.annualised for s in single]
    assert batch[0].rate.quantize(D("1e-8")) == D("0.37336253")
    assert batch[1].rate is None and "several rates" in batch[1].reason
    assert "do not change sign" in batch[2].reason and "two dates" in batch[5].reason
    assert not batch[3].annualised and abs(batch[3].rate - D("0.05")) < D("1e-15")
    assert batch[4].rate == 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(st.integers(0, 6000),
                                   st.integers(-10**9, 10**9)), min_size=1, max_size=9),
                min_size=1, max_size=6))
def test_batches_match_single_calls_and_the_exhaustive_scan(raw_groups):
    groups = [net_by_day(CashFlow(date.fromordinal(730000 + day), D(fen)) for day, fen in raw)
              for raw in raw_groups]
    days = np.array([f.on.toordinal() for g in groups for f in g], dtype=np.int64)
    amounts = np.array([int(f.amount) for g in groups for f in g], dtype=np.int64)
    starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
    for flows, fast in zip(groups, irr_batch(days, amounts, starts), strict=True):
        assert fast.rate == since_inception_irr(flows).rate
        scan = _irr_by_scan(flows, len(flows), annualise_short_periods=False)
        assert (fast.rate is None) == (scan.rate is None), (flows, fast.reason, scan.reason)
        if fast.rate is not None:
            assert abs(fast.rate - scan.rate) <= D("1e-9") * max(1, abs(scan.rate))
