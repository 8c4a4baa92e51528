"""Policy values and the default tranche split, without a database."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fundapp.fund.policies import clean_values, load_default_file
from fundapp.portfolio.grants.operations import default_tranches


@given(fen=st.integers(min_value=1, max_value=10**12),
       parts=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=6))
def test_default_tranches_always_sum_to_the_award_exactly(fen, parts):
    award = Decimal(fen).scaleb(-2)
    total = sum(parts)
    # Shares that sum to exactly 1 (the last takes the rest, as a policy would state them).
    shares = [format(Decimal(p) / Decimal(total), "f")[:8] for p in parts[:-1]]
    last = Decimal(1) - sum((Decimal(s) for s in shares), Decimal(0))
    if last <= 0:
        return
    amounts = default_tranches(award, [*shares, format(last, "f")])
    assert sum(amounts) == award
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts)
    assert all(a >= 0 for a in amounts)


def test_forty_thirty_thirty_of_an_odd_award_keeps_every_fen():
    assert default_tranches(Decimal("1000000.01"), ["0.40", "0.30", "0.30"]) == [
        Decimal("400000.00"), Decimal("300000.00"), Decimal("300000.01")]


@given(st.sampled_from(["discount", "max_stake", "valuation_cap", "min_lead_share",
                        "grant_cap_abs", "grace_days", "return_cap"]),
       st.one_of(st.integers(-10**6, 10**6), st.text(max_size=12), st.none(), st.booleans(),
                 st.floats(allow_nan=True), st.lists(st.integers(), max_size=3)))
def test_any_value_is_either_accepted_or_refused_by_name(name, value):
    values = dict(load_default_file()["values"])
    values[name] = value
    clean, errors = clean_values(values)
    assert set(errors) <= {name}
    if not errors:
        assert name in clean
