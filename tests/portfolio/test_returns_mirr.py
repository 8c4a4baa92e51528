"""MIRR (dated, actual/365) and the quarterly periodic IRR (numpy_financial.irr), each checked
against an independent computation: numpy_financial.mirr on the daily series, the closed form in
Decimal, and spreadsheet values written here."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundapp.fund.policies import clean_values, load_default_file
from fundapp.portfolio.performance.returns import (
    CashFlow,
    mirr,
    mirr_batch,
    quarterly_irr,
)

D = Decimal


def daily_npf_mirr(flows: list[CashFlow], finance: float, reinvest: float) -> float:
    """numpy_financial.mirr on the flows laid out one period a day, annualised."""
    first = min(f.on for f in flows)
    span = (max(f.on for f in flows) - first).days
    values = np.zeros(span + 1)
    for f in flows:
        values[(f.on - first).days] += float(f.amount)
    daily = npf.mirr(values, (1 + finance) ** (1 / 365) - 1, (1 + reinvest) ** (1 / 365) - 1)
    return (1 + daily) ** 365 - 1


def closed_form(flows: list[CashFlow], finance: Decimal, reinvest: Decimal) -> Decimal:
    """(FV of inflows at the reinvestment rate / PV of outflows at the finance rate)^(365/days)-1."""
    with localcontext() as ctx:
        ctx.prec = 40
        first, last = min(f.on for f in flows), max(f.on for f in flows)
        pv = sum((-f.amount / (1 + finance) ** (D((f.on - first).days) / 365)
                  for f in flows if f.amount < 0), D(0))
        fv = sum((f.amount * (1 + reinvest) ** (D((last - f.on).days) / 365)
                  for f in flows if f.amount > 0), D(0))
        return (fv / pv) ** (D(365) / (last - first).days) - 1


FLOWS = [CashFlow(date(2020, 1, 1), D("-1000000")), CashFlow(date(2020, 9, 30), D("-500000")),
         CashFlow(date(2021, 6, 15), D("200000")), CashFlow(date(2022, 3, 1), D("-250000")),
         CashFlow(date(2023, 12, 31), D("2400000"))]


def test_mirr_matches_numpy_financial_and_the_closed_form():
    result = mirr(FLOWS, D("0.0345"), D("0.05"))
    assert result.annualised and result.span_days == (date(2023, 12, 31) - date(2020, 1, 1)).days
    assert abs(float(result.rate) - daily_npf_mirr(FLOWS, 0.0345, 0.05)) < 1e-9
    assert abs(result.rate - closed_form(FLOWS, D("0.0345"), D("0.05"))) < D("1e-10")
    # Finance = reinvestment = 0: the MIRR is just (inflows / outflows)^(1/years) - 1.
    flat = mirr(FLOWS, D(0), D(0))
    expected = (D(2600000) / D(1750000)) ** (D(365) / 1460) - 1
    assert abs(flat.rate - expected) < D("1e-12")


def test_mirr_batch_solves_each_group_as_alone():
    second = [CashFlow(date(2024, 1, 1), D("-300")), CashFlow(date(2025, 7, 1), D("450"))]
    third = [CashFlow(date(2024, 1, 1), D("-300")), CashFlow(date(2024, 2, 1), D("-10"))]
    groups = [FLOWS, second, third]
    days, amounts, starts = [], [], []
    for group in groups:
        starts.append(len(days))
        days += [f.on.toordinal() for f in group]
        amounts += [float(f.amount) for f in group]
    results = mirr_batch(np.array(days), np.array(amounts), np.array(starts), D("0.03"),
                         D("0.03"))
    for group, result in zip(groups[:2], results, strict=False):
        assert abs(float(result.rate) - daily_npf_mirr(group, 0.03, 0.03)) < 1e-9
    # No inflow: numpy_financial.mirr gives nan; here it says why.
    assert np.isnan(npf.mirr(np.array([-300.0, -10.0]), 0.03, 0.03))
    assert results[2].rate is None and "sign" in results[2].reason


def test_mirr_under_a_year_is_the_period_return_not_annualised():
    flows = [CashFlow(date(2026, 1, 1), D("-1000")), CashFlow(date(2026, 7, 1), D("1100"))]
    result = mirr(flows, D("0.03"), D("0.03"))
    assert result.annualised is False and result.span_days == 181
    assert abs(result.rate - D("0.1")) < D("1e-12")  # no inflow before the end: 1100/1000 - 1
    assert mirr([CashFlow(date(2026, 1, 1), D("-5"))], D("0.03"), D("0.03")).rate is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(-10**7, 10**7)), min_size=2,
                max_size=12),
       st.decimals(D("0"), D("0.2"), places=4), st.decimals(D("0"), D("0.2"), places=4))
def test_mirr_property_agrees_with_numpy_financial(points, finance, reinvest):
    start = date(2018, 1, 1)
    flows = [CashFlow(start + timedelta(days=d), D(a)) for d, a in points]
    flows.append(CashFlow(start + timedelta(days=2400), D(10**6)))  # the NAV, last
    flows.insert(0, CashFlow(start, D(-(10**6))))
    result = mirr(flows, finance, reinvest)
    netted: dict[date, Decimal] = {}
    for f in flows:
        netted[f.on] = netted.get(f.on, D(0)) + f.amount
    if not any(v < 0 for v in netted.values()) or not any(v > 0 for v in netted.values()):
        assert result.rate is None
        return
    oracle = daily_npf_mirr(flows, float(finance), float(reinvest))
    assert abs(float(result.rate) - oracle) < 1e-8 * max(1.0, abs(oracle))


# --------------------------------------------------------------------------- periodic IRR


def test_quarterly_irr_against_spreadsheet_values():
    # numpy-financial's documented example (Excel's IRR gives the same, 28.09%).
    assert abs(quarterly_irr([D(-100), D(39), D(59), D(55), D(20)]) - D("0.2809484211599611")) \
        < D("1e-12")
    # All-zero periods between: 120 / 100 over four quarters, 1.2^(1/4) - 1.
    rate = quarterly_irr([D(-100), D(0), D(0), D(0), D(120)])
    assert abs(rate - (D("1.2") ** D("0.25") - 1)) < D("1e-12")


def test_quarterly_irr_refuses_where_numpy_financial_is_fragile():
    # No sign change: there is no rate.
    assert quarterly_irr([D(-100), D(-20), D(0)]) is None
    assert quarterly_irr([D(0), D(0), D(0)]) is None
    assert quarterly_irr([D(-100)]) is None
    # Two rates (10% and 20%): numpy_financial.irr silently returns one of them.
    two = [D(-100), D(230), D(-132)]
    assert npf.irr([-100, 230, -132]) == pytest.approx(0.1) or \
        npf.irr([-100, 230, -132]) == pytest.approx(0.2)
    assert quarterly_irr(two) is None


def test_the_reinvestment_rate_is_a_policy_parameter():
    values = dict(load_default_file()["values"])
    clean, errors = clean_values(values)
    assert not errors and clean["mirr_reinvestment_rate"] is None  # default: the finance rate
    clean, errors = clean_values({**values, "mirr_reinvestment_rate": "0.05"})
    assert not errors and clean["mirr_reinvestment_rate"] == "0.05"
    _, errors = clean_values({**values, "mirr_reinvestment_rate": "-0.01"})
    assert "mirr_reinvestment_rate" in errors
