"""Tests of fundapp.portfolio.performance.returns: the rule book's vectors, pyxirr as an oracle, and
properties.

Every rate a test accepts is also checked the way metrics.md asks reports to check it: XNPV at that
rate must be ~0 relative to the discounted flows.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal, localcontext

import numpy_financial as npf
import pytest
import pyxirr
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fundapp.portfolio.performance.returns import (
    CashFlow,
    IrrResult,
    direct_alpha,
    dpi,
    fund_metrics,
    ks_pme,
    moic,
    net_by_day,
    periodic_irr,
    pic,
    rvpi,
    since_inception_irr,
    solve_xirr,
    tvpi,
    xirr,
    xnpv,
)

D = Decimal
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def flows_of(*pairs: tuple[str, str | int]) -> list[CashFlow]:
    return [CashFlow(date.fromisoformat(on), D(amount)) for on, amount in pairs]


EXCEL_EXAMPLE = flows_of(
    ("2008-01-01", -10000),
    ("2008-03-01", 2750),
    ("2008-10-30", 4250),
    ("2009-02-15", 3250),
    ("2009-04-01", 2750),
)
SECOND_VECTOR = flows_of(
    ("2020-01-01", -10000),
    ("2020-03-01", 5750),
    ("2020-10-30", 4250),
    ("2021-02-15", 3250),
)


def relative_xnpv(rate: Decimal, flows: list[CashFlow], days_per_period: int = 365) -> Decimal:
    """|XNPV| / Σ|discounted flows|: the check metrics.md asks for, computed independently."""
    netted = net_by_day(flows)
    with localcontext() as context:
        context.prec = 34
        discounted = [
            flow.amount / (1 + rate) ** (D((flow.on - netted[0].on).days) / days_per_period)
            for flow in netted
        ]
        magnitude = sum(abs(term) for term in discounted)
        # Flows that net to nothing are solved by every rate; no rate means anything for them.
        return abs(sum(discounted)) / magnitude if magnitude else D(1)


def assert_verified(result: IrrResult, flows: list[CashFlow]) -> Decimal:
    assert result.rate is not None, result.reason
    assert result.reason is None
    period = 365 if result.annualised else result.span_days
    assert relative_xnpv(result.rate, flows, period) < D("1e-9")
    return result.rate


# --------------------------------------------------------------------------------------------
# The rule book's vectors


def test_excel_documented_example_gives_excels_xirr() -> None:
    result = solve_xirr(EXCEL_EXAMPLE)

    rate = assert_verified(result, EXCEL_EXAMPLE)
    assert rate.quantize(D("1e-8")) == D("0.37336253")
    assert result.annualised
    assert abs(xnpv(rate, EXCEL_EXAMPLE)) < D("1e-6")


def test_second_vector_to_ten_places() -> None:
    rate = assert_verified(solve_xirr(SECOND_VECTOR), SECOND_VECTOR)

    assert rate.quantize(D("1e-10")) == D("0.6342972615")
    assert xirr(SECOND_VECTOR) == rate


def test_steps_say_how_the_rate_was_obtained() -> None:
    steps = " | ".join(solve_xirr(EXCEL_EXAMPLE).steps)

    assert "456 day(s)" in steps
    assert "actual/365 fixed" in steps
    assert "|XNPV|" in steps


def test_multiples_vector_dpi_and_tvpi() -> None:
    flows = flows_of(
        ("2020-01-01", -10), ("2020-06-01", -20), ("2021-01-01", 15), ("2022-01-01", 30)
    )

    metrics = fund_metrics(flows, nav=D(15), committed=D(40))

    assert metrics.paid_in_amount == D(30)
    assert metrics.distributed_amount == D(45)
    assert metrics.dpi == D("1.5")
    assert metrics.tvpi == D("2.0")
    assert metrics.rvpi == D("0.5")
    assert metrics.pic == D("0.75")
    assert fund_metrics(flows, nav=D(0), committed=D(40)).tvpi == D("1.5")


def test_ks_pme_vector() -> None:
    flows = flows_of(("2020-01-01", -25), ("2020-07-01", 15), ("2021-01-01", 0))
    index = {date(2020, 1, 1): D(100), date(2020, 7, 1): D(115), date(2021, 1, 1): D(130)}

    pme = ks_pme(flows, D(20), index)

    assert pme is not None
    assert pme.quantize(D("0.01")) == D("1.14")
    assert abs(pme - (D(15) * 130 / 115 + 20) / (D(25) * 130 / 100)) < D("1e-20")


# --------------------------------------------------------------------------------------------
# No IRR rather than a wrong one


@pytest.mark.parametrize(
    "flows",
    [
        flows_of(("2020-01-01", -100), ("2021-01-01", -50)),
        flows_of(("2020-01-01", 100), ("2021-01-01", 50)),
        flows_of(("2020-01-01", -100), ("2021-01-01", 0)),  # a write-off: NAV zero at the end
    ],
)
def test_flows_that_do_not_change_sign_have_no_irr(flows: list[CashFlow]) -> None:
    result = solve_xirr(flows)

    assert result.rate is None
    assert result.reason is not None and "do not change sign" in result.reason
    assert xirr(flows) is None


@pytest.mark.parametrize(
    "flows",
    [
        [],
        flows_of(("2020-01-01", -100)),
        flows_of(("2020-01-01", -100), ("2020-01-01", 120)),  # two flows, one date
    ],
)
def test_fewer_than_two_dates_have_no_irr(flows: list[CashFlow]) -> None:
    result = since_inception_irr(flows)

    assert result.rate is None
    assert result.reason is not None and "two dates" in result.reason


def test_several_irrs_are_reported_as_no_irr_with_the_candidates() -> None:
    # -100, +230, -132 a year apart: both 10 % and 20 % make XNPV zero.
    flows = flows_of(("2021-01-01", -100), ("2022-01-01", 230), ("2023-01-01", -132))

    result = solve_xirr(flows)

    assert result.rate is None
    assert result.reason is not None and "several rates" in result.reason
    assert [round(candidate, 9) for candidate in result.candidates] == [D("0.1"), D("0.2")]
    for candidate in result.candidates:
        assert relative_xnpv(candidate, flows) < D("1e-9")


def test_a_loss_too_fast_to_annualise_is_no_annual_irr_but_a_period_return() -> None:
    # Losing 99 % in one day: the annual rate is -1 + 1e-730, which no report can show.
    flows = flows_of(("2020-01-01", -100), ("2020-01-02", 1))

    annual = solve_xirr(flows)
    period = since_inception_irr(flows)

    assert annual.rate is None
    assert annual.reason is not None and "-99.0000%" in annual.reason
    assert abs(assert_verified(period, flows) - D("-0.99")) < D("1e-15")


# --------------------------------------------------------------------------------------------
# Periods under one year (GIPS)


def test_period_under_a_year_is_reported_but_not_annualised() -> None:
    flows = flows_of(("2024-01-01", -100), ("2024-04-01", 105))  # 91 days

    reported = since_inception_irr(flows)
    annual = solve_xirr(flows)

    assert not reported.annualised
    assert reported.span_days == 91
    assert abs(assert_verified(reported, flows) - D("0.05")) < D("1e-15")
    assert "not annualised" in reported.steps[-1]
    # The annual XIRR is still available, and is the period return compounded to a year.
    assert annual.annualised
    expected = D("1.05") ** (D(365) / 91) - 1
    assert abs(assert_verified(annual, flows) - expected) < D("1e-14")


def test_a_full_year_is_annualised() -> None:
    flows = flows_of(("2021-01-01", -100), ("2022-01-01", 110))  # 365 days

    reported = since_inception_irr(flows)

    assert reported.annualised
    assert abs(assert_verified(reported, flows) - D("0.1")) < D("1e-15")


def test_fund_metrics_irr_adds_nav_on_the_as_of_date() -> None:
    flows = flows_of(("2021-01-01", -100), ("2021-07-01", 20))

    metrics = fund_metrics(flows, nav=D(95), committed=D(200), as_of=date(2022, 7, 1))

    assert metrics.as_of == date(2022, 7, 1)
    with_nav = [*flows, CashFlow(date(2022, 7, 1), D(95))]
    assert metrics.irr.annualised
    assert metrics.irr.rate == xirr(with_nav)
    assert_verified(metrics.irr, with_nav)


def test_fund_metrics_refuses_a_flow_after_the_as_of_date() -> None:
    flows = flows_of(("2021-01-01", -100), ("2022-01-01", 20))

    with pytest.raises(ValueError, match="2022-01-01"):
        fund_metrics(flows, nav=D(95), committed=D(200), as_of=date(2021, 6, 30))


# --------------------------------------------------------------------------------------------
# XNPV and multiples


def test_xnpv_at_zero_is_the_plain_sum_and_discounts_a_year_by_the_rate() -> None:
    flows = flows_of(("2021-01-01", -100), ("2022-01-01", 110), ("2022-01-01", 11))

    assert xnpv(D(0), flows) == D(21)
    assert abs(xnpv(D("0.1"), flows) - D(10)) < D("1e-25")


def test_xnpv_refuses_a_rate_of_minus_100_percent() -> None:
    with pytest.raises(ValueError, match="above -1"):
        xnpv(D(-1), EXCEL_EXAMPLE)


def test_multiples_are_none_before_anything_is_paid_in() -> None:
    assert dpi(D(0), D(0)) is None
    assert rvpi(D(10), D(0)) is None
    assert tvpi(D(0), D(10), D(0)) is None
    assert pic(D(0), D(0)) is None
    assert moic(D(5), D(5), D(0)) is None
    metrics = fund_metrics([], nav=D(0), committed=D(0), as_of=date(2026, 9, 30))
    assert (metrics.dpi, metrics.tvpi, metrics.pic, metrics.irr.rate) == (None, None, None, None)


def test_multiples_refuse_a_signed_flow_passed_as_an_amount() -> None:
    with pytest.raises(ValueError, match="paid_in"):
        dpi(D(15), D(-30))
    with pytest.raises(ValueError, match="nav"):
        tvpi(D(15), D(-1), D(30))


def test_moic_of_a_holding() -> None:
    assert moic(realised=D(30), unrealised=D(45), invested=D(50)) == D("1.5")


# --------------------------------------------------------------------------------------------
# Public-market equivalents


INDEX_DATES = [date(2020, 1, 1), date(2020, 7, 1), date(2021, 1, 1), date(2022, 1, 1)]


def test_direct_alpha_of_a_fund_that_tracks_the_index_is_zero() -> None:
    index = dict(zip(INDEX_DATES, [D(100), D(120), D(90), D(150)], strict=True))
    # Money put in on day one grows with the index; half is paid out in July, the rest is NAV.
    flows = [CashFlow(INDEX_DATES[0], D(-1000)), CashFlow(INDEX_DATES[1], D(600))]
    nav = D(600) * 150 / 120

    alpha = direct_alpha(flows, nav, index, as_of=INDEX_DATES[3])

    assert alpha.rate is not None
    assert abs(alpha.rate) < D("1e-12")
    assert ks_pme(flows, nav, index, as_of=INDEX_DATES[3]) == D(1)


def test_against_a_flat_index_pme_is_tvpi_and_direct_alpha_is_the_irr() -> None:
    index = dict.fromkeys(INDEX_DATES, D(100))
    flows = [CashFlow(INDEX_DATES[0], D(-1000)), CashFlow(INDEX_DATES[2], D(300))]

    metrics = fund_metrics(flows, D(900), D(1000), as_of=INDEX_DATES[3])
    alpha = direct_alpha(flows, D(900), index, as_of=INDEX_DATES[3])

    assert ks_pme(flows, D(900), index, as_of=INDEX_DATES[3]) == metrics.tvpi == D("1.2")
    assert alpha.rate == metrics.irr.rate
    assert_verified(alpha, [*flows, CashFlow(INDEX_DATES[3], D(900))])


def test_outperforming_the_index_gives_positive_alpha_and_pme_above_one() -> None:
    index = dict(zip(INDEX_DATES, [D(100), D(105), D(110), D(115)], strict=True))
    flows = [CashFlow(INDEX_DATES[0], D(-1000)), CashFlow(INDEX_DATES[2], D(500))]

    alpha = direct_alpha(flows, D(900), index)  # as_of: latest flow, 2021-01-01
    pme = ks_pme(flows, D(900), index)

    assert alpha.rate is not None and alpha.rate > 0
    assert pme is not None and pme > 1


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ({date(2020, 1, 1): D(100)}, "no level for 2021-01-01"),
        ({date(2021, 1, 1): D(100)}, "no level for 2020-01-01"),
        ({date(2020, 1, 1): D(0), date(2021, 1, 1): D(100)}, "2020-01-01 must be positive"),
        ({date(2020, 1, 1): D(100), date(2021, 1, 1): D(-3)}, "2021-01-01 must be positive"),
    ],
)
def test_index_without_a_positive_level_on_a_flow_date_is_refused(
    index: dict[date, Decimal], message: str
) -> None:
    flows = flows_of(("2020-01-01", -100), ("2021-01-01", 50))

    with pytest.raises(ValueError, match=message):
        ks_pme(flows, D(60), index)
    with pytest.raises(ValueError, match=message):
        direct_alpha(flows, D(60), index)


# --------------------------------------------------------------------------------------------
# Equally spaced periods


def test_quarterly_series_gives_the_rate_per_quarter() -> None:
    rate = periodic_irr([D(-100), D(0), D(0), D(0), D(110)])

    assert rate is not None
    assert abs((1 + rate) ** 4 - D("1.1")) < D("1e-15")
    assert periodic_irr([D(-100), D(-10)]) is None


@PROPERTY_SETTINGS
@given(
    outflows=st.lists(st.integers(1, 10**7), min_size=1, max_size=4),
    inflows=st.lists(st.integers(0, 10**7), min_size=1, max_size=8),
)
def test_quarterly_irr_matches_numpy_financial(outflows: list[int], inflows: list[int]) -> None:
    amounts = [D(-amount) for amount in outflows] + [D(amount) for amount in inflows]
    expected = npf.irr([float(amount) for amount in amounts])

    rate = periodic_irr(amounts)

    if sum(inflows) == 0 or expected <= -0.999999:
        # No change of sign, or a total loss, which the module reports as no rate.
        assert rate is None
    else:
        # One change of sign: a single root, which numpy-financial finds too.
        assert rate is not None
        assert math.isclose(float(rate), expected, rel_tol=1e-8, abs_tol=1e-9)


# --------------------------------------------------------------------------------------------
# Properties against pyxirr

AMOUNTS = st.decimals(min_value=D("0.01"), max_value=D("1e9"), places=2)


@st.composite
def one_sign_change(draw: st.DrawFn) -> list[CashFlow]:
    """Outflows, then inflows (or the reverse), on random dates: exactly one change of sign."""
    count = draw(st.integers(2, 12))
    start = draw(st.dates(date(1990, 1, 1), date(2040, 1, 1)))
    offsets = sorted(draw(st.lists(st.integers(0, 30 * 365), min_size=count, max_size=count)))
    offsets[-1] = max(offsets[-1], offsets[0] + 1)
    magnitudes = draw(st.lists(AMOUNTS, min_size=count, max_size=count))
    first_inflow = draw(st.integers(1, count - 1))
    sign = draw(st.sampled_from([1, -1]))  # -1: money in first, e.g. a loan seen from the borrower
    flows = [
        CashFlow(
            start + timedelta(days=offset),
            sign * (-magnitude if position < first_inflow else magnitude),
        )
        for position, (offset, magnitude) in enumerate(zip(offsets, magnitudes, strict=True))
    ]
    return draw(st.permutations(flows))


def pyxirr_rate(flows: list[CashFlow]) -> float | None:
    # pyxirr stops when |XNPV| is below an absolute tolerance, so flows of a few cents get a
    # rough rate; scaling the flows to a largest amount of 1 does not move the root.
    scale = max(abs(flow.amount) for flow in flows)
    try:
        rate = pyxirr.xirr(
            [flow.on for flow in flows], [float(flow.amount / scale) for flow in flows], silent=True
        )
    except pyxirr.InvalidPaymentsError:
        return None
    return rate if rate is not None and math.isfinite(rate) else None


@PROPERTY_SETTINGS
@given(flows=one_sign_change())
def test_xirr_matches_pyxirr_whenever_pyxirr_finds_a_root(flows: list[CashFlow]) -> None:
    result = solve_xirr(flows)
    oracle = pyxirr_rate(flows)

    if result.rate is not None:
        assert_verified(result, flows)
    if oracle is None or oracle <= -0.999999:
        return
    oracle_residual = relative_xnpv(D(oracle), flows)
    # pyxirr has found a root when its rate passes an XNPV check: then we must find one too.
    if oracle_residual < D("1e-7"):
        assert result.rate is not None, result.reason
        if oracle_residual < D("1e-12"):
            event("compared with pyxirr to 1e-9")
            assert math.isclose(float(result.rate), oracle, rel_tol=1e-9, abs_tol=1e-9)
        else:
            # pyxirr stops on an absolute |XNPV| tolerance, which leaves flows whose discounted
            # values are small (high rates, far-off inflows) a few digits short: there our rate
            # must be at least as good a root as pyxirr's.
            event("pyxirr's root is rough")
            assert relative_xnpv(result.rate, flows) <= oracle_residual


SIGNED_AMOUNTS = st.builds(
    lambda magnitude, sign: sign * magnitude, AMOUNTS, st.sampled_from([1, -1])
)


@PROPERTY_SETTINGS
@given(
    flows=st.lists(
        st.builds(CashFlow, st.dates(date(2000, 1, 1), date(2030, 1, 1)), SIGNED_AMOUNTS),
        min_size=2,
        max_size=10,
    )
)
def test_any_flows_get_a_verified_rate_or_a_reason(flows: list[CashFlow]) -> None:
    # Several changes of sign: there may be no rate, one, or several. Whatever the answer, every
    # rate shown solves XNPV = 0, and a root pyxirr finds is never missed.
    result = solve_xirr(flows)
    oracle = pyxirr_rate(flows)
    oracle_is_root = (
        oracle is not None
        and -0.999999 < oracle <= 1e6
        and relative_xnpv(D(oracle), flows) < D("1e-12")
    )

    if result.rate is not None:
        assert_verified(result, flows)
        if oracle_is_root:
            assert oracle is not None
            assert math.isclose(float(result.rate), oracle, rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert result.reason is not None
        shown = [candidate for candidate in result.candidates if candidate > D("-0.999999")]
        for candidate in shown:
            assert relative_xnpv(candidate, flows) < D("1e-9")
        if oracle_is_root:
            event("several rates, pyxirr found one of them")
            assert oracle is not None
            assert any(math.isclose(float(c), oracle, rel_tol=1e-9, abs_tol=1e-9) for c in shown)


@PROPERTY_SETTINGS
@given(
    flows=st.lists(
        st.builds(CashFlow, st.dates(date(2000, 1, 1), date(2030, 1, 1)), AMOUNTS),
        min_size=1,
        max_size=10,
    ),
    sign=st.sampled_from([1, -1]),
)
def test_flows_of_one_sign_never_get_an_irr(flows: list[CashFlow], sign: int) -> None:
    same_sign = [CashFlow(flow.on, sign * flow.amount) for flow in flows]

    assert solve_xirr(same_sign).rate is None
    assert since_inception_irr(same_sign).rate is None
    assert pyxirr_rate(same_sign) is None


@PROPERTY_SETTINGS
@given(flows=one_sign_change(), data=st.data())
def test_netting_same_day_flows_changes_nothing(flows: list[CashFlow], data: st.DataObject) -> None:
    # The same money booked differently: each flow split in two, plus a refund and a
    # re-disbursement of the same amount on one day; netted per day they are the original flows.
    rebooked: list[CashFlow] = []
    for flow in flows:
        part = data.draw(st.decimals(min_value=D(0), max_value=D(10**9), places=2))
        rebooked += [CashFlow(flow.on, part), CashFlow(flow.on, flow.amount - part)]
    wash = data.draw(AMOUNTS)
    on = data.draw(st.sampled_from([flow.on for flow in flows]))
    rebooked += [CashFlow(on, wash), CashFlow(on, -wash)]
    rebooked = data.draw(st.permutations(rebooked))

    assert net_by_day(rebooked) == net_by_day(flows)
    assert solve_xirr(rebooked).rate == solve_xirr(net_by_day(flows)).rate
    assert since_inception_irr(rebooked).rate == since_inception_irr(flows).rate


@PROPERTY_SETTINGS
@given(flows=one_sign_change(), power=st.integers(-6, 12))
def test_the_unit_of_account_does_not_change_the_rate(flows: list[CashFlow], power: int) -> None:
    # Reporting in yuan or in 10,000-yuan units must give the same IRR.
    scaled = [CashFlow(flow.on, flow.amount.scaleb(power)) for flow in flows]

    ours, theirs = solve_xirr(flows).rate, solve_xirr(scaled).rate

    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert abs(ours - theirs) <= D("1e-12") * max(1, abs(ours))
