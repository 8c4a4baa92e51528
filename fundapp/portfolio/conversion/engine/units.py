"""R6: units to the investors and the fund, the stake cap, registered capital and reserve, the
largest-holder test and the post-round cap table; with ``compute_conversion`` (R3-R6 for a
round) and ``compute_appraisal_conversion`` (R3.f)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from fundapp.portfolio.conversion.engine.exact import (
    _EXACT,
    _HUNDRED,
    FEN,
    PERCENT_PLACES,
    ConversionError,
    _coerce,
    _day,
    _div_round,
    _fmt_units,
    _is_multiple,
    _non_negative_int,
    _percent_of,
    _plain,
    _quotient,
    _to_fen,
    _unit_name,
    add_months,
    unit_quantum,
)
from fundapp.portfolio.conversion.engine.inputs import (
    Appraisal,
    CapTableEntry,
    FinancingRound,
    Grant,
)
from fundapp.portfolio.conversion.engine.policy import DEFAULT_POLICY, ConversionPolicy
from fundapp.portfolio.conversion.engine.pricing import _Pricing, converting_amount
from fundapp.portfolio.conversion.engine.qualifying import check_qualifying
from fundapp.portfolio.conversion.engine.results import (
    CapTableRow,
    ClauseResult,
    ConversionResult,
    InvestorAllocation,
    NotQualifyingError,
    QualifyingResult,
)


def compute_conversion(
    grant: Grant,
    financing_round: FinancingRound,
    policy: ConversionPolicy = DEFAULT_POLICY,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None = None,
    *,
    fund_holder: str = "fund",
) -> ConversionResult:
    """R4-R6: converting amount, prices, units, stake cap, reserve and the post-round cap table.

    Raises NotQualifyingError when the round fails R3, ConversionError for other refusals.
    ``cap_table`` is the pre-round cap table; when given its units must add up to
    ``units_before``. ``fund_holder`` is the name of the fund's platform in the cap table.
    """
    with localcontext(_EXACT):
        qualifying = check_qualifying(grant, financing_round, policy)
        if not qualifying.qualifies:
            raise NotQualifyingError(qualifying)
        existing = _existing_holdings(financing_round, cap_table, fund_holder)
        return _Conversion(grant, financing_round, policy, qualifying).run(
            existing, cap_table is not None, fund_holder
        )


def compute_appraisal_conversion(
    grant: Grant,
    appraisal: Appraisal,
    policy: ConversionPolicy = DEFAULT_POLICY,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None = None,
    *,
    met_on: date,
    condition: str = "",
    validity_months: int = 12,
    fund_holder: str = "fund",
) -> ConversionResult:
    """R3.f: conversion after an agreed condition is met, priced by a filed appraisal.

    ``P = appraised value / units outstanding`` (R5.a), then R5.c/R5.d, R4 at ``met_on``, and
    R6.a-R6.e with no new investors; the R6.g deadline runs from ``met_on``. The appraisal
    may not be older than ``validity_months`` from its base date on ``met_on`` (as R9.a).
    """
    _day("met_on", met_on)
    _non_negative_int("validity_months", validity_months)
    if met_on < grant.signed_on:
        raise ConversionError(
            "R3.f", f"the condition was met on {met_on}, before the grant was signed on "
            f"{grant.signed_on}"
        )
    valid_until = add_months(appraisal.base_date, validity_months)
    if met_on > valid_until:
        raise ConversionError(
            "R9.a",
            f"the appraisal's base date {appraisal.base_date} is older than {validity_months} "
            f"months on {met_on} (valid until {valid_until})",
        )
    with localcontext(_EXACT):
        # The appraisal stands in for the round: its value is V_pre, its units U_pre, the
        # condition-met date the closing date, and nobody else invests.
        spec = FinancingRound(
            kind="priced_equity",
            closed_on=met_on,
            pre_money_valuation=appraisal.appraised_value,
            units_before=appraisal.units_outstanding,
            investors=(),
            legal_form=appraisal.legal_form,
            par_value=appraisal.par_value,
        )
        g = converting_amount(grant, spec, policy)
        window_end = add_months(grant.signed_on, policy.conversion_window_months)
        qualifying = QualifyingResult(
            clauses=(
                ClauseResult(
                    "R3.f",
                    True,
                    f"R3.f: agreed condition met on {met_on}; priced by the filed appraisal "
                    f"{appraisal.filing_number}",
                    f"R3.f：约定条件于 {met_on} 达成；按备案评估 {appraisal.filing_number} 定价",
                ),
            ),
            converting_amount=g,
            new_money_amount=Decimal("0.00"),
            threshold_amount=Decimal("0.00"),
            window_end_on=window_end,
            grace_end_on=window_end + timedelta(days=policy.grace_days),
        )
        existing = _existing_holdings(spec, cap_table, fund_holder)
        conversion = _Conversion(grant, spec, policy, qualifying, appraisal=appraisal)
        conversion._step(  # the sheet's first line
            "R3.f",
            "Alternative trigger: agreed condition met, price from a filed appraisal",
            "约定条件达成，按备案评估值定价",
            "condition met; appraisal base date + appraisal_validity_months >= met_on",
            {
                "condition": condition,
                "met_on": met_on.isoformat(),
                "appraised_value": appraisal.appraised_value,
                "base_date": appraisal.base_date.isoformat(),
                "filing_number": appraisal.filing_number,
                "filed_on": appraisal.filed_on.isoformat() if appraisal.filed_on else "",
                "appraisal_validity_months": str(validity_months),
            },
            {"basis": "appraisal", "appraisal_valid_until": valid_until.isoformat()},
        )
        return conversion.run(existing, cap_table is not None, fund_holder)


def _existing_holdings(
    financing_round: FinancingRound,
    cap_table: Sequence[CapTableEntry | tuple[str, Decimal]] | None,
    fund_holder: str,
) -> dict[str, Decimal]:
    quantum = unit_quantum(financing_round.legal_form)
    names = {i.name for i in financing_round.investors}
    names.update(_coerce(CapTableEntry, e).holder for e in cap_table or ())
    if fund_holder in names:
        # Merging would make the R6.c stake and the R6.e test describe different holdings.
        raise ConversionError(
            "R6.c",
            f"{fund_holder!r} already holds units or invests in the round; "
            "pass a distinct fund_holder name",
        )
    if cap_table is None:
        return {"existing holders": financing_round.units_before}
    holdings: dict[str, Decimal] = {}
    for entry in (_coerce(CapTableEntry, e) for e in cap_table):
        if not _is_multiple(entry.units, quantum):
            raise ConversionError(
                "R1",
                f"{entry.holder} holds {entry.units}, not {_unit_name(financing_round.legal_form)}",
            )
        holdings[entry.holder] = holdings.get(entry.holder, Decimal(0)) + entry.units
    total = sum(holdings.values(), Decimal(0))
    if total != financing_round.units_before:
        raise ConversionError(
            "R6.c",
            f"the cap table holds {_fmt_units(total, quantum)} units but the round states "
            f"{_fmt_units(financing_round.units_before, quantum)} units before the round",
        )
    return holdings


class _Conversion(_Pricing):
    """One R4-R6 calculation: the prices (``_Pricing``), then R6 on them."""

    def run(
        self, existing: dict[str, Decimal], has_cap_table: bool, fund_holder: str
    ) -> ConversionResult:
        r, policy = self.round, self.policy
        u_pre = r.units_before
        g = self.qualifying.converting_amount
        by_appraisal = self.appraisal is not None
        on = "met_on" if by_appraisal else "closed_on"
        round_valuation, conversion_valuation, is_valuation_capped = self._prices()

        # R6.a: new investors buy at P (also under R5.b).
        allocations: list[InvestorAllocation] = []
        for investor in r.investors:
            units = self._units(investor.cash_amount, round_valuation)
            capital = _to_fen(units * self.par)
            allocations.append(
                InvestorAllocation(
                    investor.name,
                    investor.cash_amount,
                    units,
                    capital,
                    investor.cash_amount - capital,
                )
            )
            self._step(
                "R6.a",
                f"Units to investor {investor.name}",
                f"投资人 {investor.name} 认购单位",
                "units = cash / P, rounded down",
                {"cash": investor.cash_amount, "P": self._price_display(round_valuation)},
                {"units": units},
            )
        investor_units = sum((a.units for a in allocations), Decimal(0))

        uncapped = self._units(g, conversion_valuation)
        self._step(
            "R6.a",
            "Units to the fund",
            "基金转股单位",
            "ΔU_G = G / Pc, rounded down",
            {"G": g, "Pc": self._price_display(conversion_valuation)},
            {"ΔU_G": uncapped},
        )

        fund_units, is_stake_capped = self._apply_stake_cap(uncapped, u_pre + investor_units)
        if is_stake_capped:
            # R6.d: only what buys the capped units converts; the rest stays grant.
            converted = _div_round(fund_units * conversion_valuation, u_pre, FEN, ROUND_HALF_UP)
        else:
            converted = g
        remaining = g - converted
        if is_stake_capped:
            self._step(
                "R6.d",
                "Converted amount after the stake cap",
                "持股上限后的转股金额",
                "converted = ΔU_G x Pc, rounded half-up to fen; remainder stays grant",
                {"ΔU_G": fund_units, "Pc": self._price_display(conversion_valuation)},
                {"converted_amount": converted, "remaining_grant_amount": remaining},
            )

        capital_increase = _to_fen(fund_units * self.par)
        reserve = converted - capital_increase
        self._step(
            "R6.b",
            "Registered capital increase and capital reserve",
            "新增注册资本与资本公积",
            "RC increase = ΔU_G x par; capital reserve = converted - RC increase",
            {"ΔU_G": fund_units, "par": self.par, "converted_amount": converted},
            {"registered_capital_increase": capital_increase, "capital_reserve": reserve},
        )

        post_units = u_pre + investor_units + fund_units
        stake_percent = _percent_of(fund_units, post_units, PERCENT_PLACES, ROUND_HALF_UP)
        stake_display = f"{_plain(stake_percent)}%"
        self._step(
            "R6.c",
            "Post-round units and the fund's stake",
            "投后总单位与基金持股比例",
            "post = U_pre + investors' units + ΔU_G; stake = ΔU_G / post",
            {"U_pre": u_pre, "investors_units": investor_units, "ΔU_G": fund_units},
            {"post_round_units": post_units, "fund_stake": stake_display},
        )

        holdings = dict(existing)
        for allocation in allocations:
            # An existing holder who invests again holds one combined position.
            holdings[allocation.name] = holdings.get(allocation.name, Decimal(0)) + allocation.units
        # Without a cap table the pre-round holders are one opaque block, not one holder.
        known = {h: u for h, u in holdings.items() if has_cap_table or h not in existing}
        largest = _becomes_largest_holder(fund_units, known, has_cap_table)
        self._step(
            "R6.e",
            "Would the fund become the largest holder?",
            "基金是否成为第一大股东",
            "ΔU_G >= every other holder's post-round units",
            {
                "ΔU_G": fund_units,
                "largest_known_other_holding": max(known.values(), default=Decimal(0)),
                "cap_table_supplied": str(has_cap_table).lower(),
            },
            {
                "becomes_largest_holder": "unknown" if largest is None else str(largest).lower(),
                "needs_ic_resolution": str(largest is not False).lower(),
            },
        )

        registration_due = r.closed_on + timedelta(days=policy.registration_days)
        self._step(
            "R6.g",
            "Registration deadline",
            "工商变更登记期限",
            f"{on} + registration_days",
            {
                on: r.closed_on.isoformat(),
                "registration_days": str(policy.registration_days),
            },
            {"registration_due_on": registration_due.isoformat()},
        )

        rows = _cap_table_rows(holdings, fund_holder, fund_units, post_units, stake_percent)
        return ConversionResult(
            grant=self.grant,
            financing_round=r,
            policy=policy,
            qualifying=self.qualifying,
            converting_amount=g,
            round_price=_quotient(round_valuation, u_pre),
            round_price_display=self._price_display(round_valuation),
            conversion_price=_quotient(conversion_valuation, u_pre),
            conversion_price_display=self._price_display(conversion_valuation),
            is_valuation_capped=is_valuation_capped,
            unit_quantum=self.quantum,
            par_value=self.par,
            investors=tuple(allocations),
            uncapped_fund_units=uncapped,
            fund_units=fund_units,
            is_stake_capped=is_stake_capped,
            converted_amount=converted,
            remaining_grant_amount=remaining,
            registered_capital_increase=capital_increase,
            capital_reserve=reserve,
            units_before=u_pre,
            post_round_units=post_units,
            fund_stake=_quotient(fund_units, post_units),
            fund_stake_display=stake_display,
            becomes_largest_holder=largest,
            needs_ic_resolution=largest is not False,
            registration_due_on=registration_due,
            cap_table=rows,
            steps=tuple(self.steps),
            basis="appraisal" if by_appraisal else "round",
            appraisal=self.appraisal,
        )

    def _apply_stake_cap(self, uncapped: Decimal, others: Decimal) -> tuple[Decimal, bool]:
        """R6.d: the largest ΔU_G <= uncapped with ΔU_G / (others + ΔU_G) <= max_stake."""
        m, q = self.policy.max_stake, self.quantum

        def within(units: Decimal) -> bool:
            return units <= m * (others + units)  # exact: no division

        # ΔU <= m (others + ΔU)  <=>  ΔU <= m x others / (1 - m); rounded down to a unit.
        bound = _div_round(m * others, 1 - m, q, ROUND_DOWN)
        if uncapped <= bound:
            return uncapped, False
        units = bound
        # The algebra above is exact; this re-check by one unit step guards against a slip in
        # it, because an over-cap stake would breach R6.d silently.
        if not within(units):
            units -= q
        elif within(units + q):
            units += q
        if not within(units) or within(units + q):
            raise ConversionError("R6.d", "could not solve the stake cap")  # pragma: no cover
        self._step(
            "R6.d",
            "Stake cap",
            "持股比例上限",
            "largest ΔU_G with ΔU_G / (U_pre + investors' units + ΔU_G) <= max_stake",
            {"ΔU_G_uncapped": uncapped, "max_stake": m, "U_pre_plus_investors": others},
            {"ΔU_G": units},
        )
        return units, True


def _becomes_largest_holder(
    fund_units: Decimal, others: Mapping[str, Decimal], has_cap_table: bool
) -> bool | None:
    """R6.e; ``others`` are the holdings we know individually."""
    # A tie counts as "largest": a joint-largest holder has the position R6.e guards against.
    if any(units > fund_units for units in others.values()):
        return False
    # Without the pre-round cap table some existing holder (who may also invest in the round)
    # might still hold more than the fund: we cannot tell, and the caller asks the IC.
    return True if has_cap_table else None


def _cap_table_rows(
    holdings: Mapping[str, Decimal],
    fund_holder: str,
    fund_units: Decimal,
    post_units: Decimal,
    fund_percent: Decimal,
) -> tuple[CapTableRow, ...]:
    """Rows with 4-decimal percentages that sum to exactly 100.0000.

    The fund's row shows its R6.c figure (half-up). The others share the rest by largest
    remainder: each is rounded down, and the missing 0.0001s go to the largest remainders
    (ties to the earlier row). Their count is never negative nor more than the rows with a
    remainder, because the fund's figure is within half a step of its exact share.
    """
    step = PERCENT_PLACES * post_units
    floors: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for holder, units in holdings.items():
        whole, remainder = divmod(units * _HUNDRED, step)
        floors.append((holder, units, whole * PERCENT_PLACES, remainder))
    missing = (_HUNDRED - fund_percent - sum((f[2] for f in floors), Decimal(0))) / PERCENT_PLACES
    by_remainder = sorted(range(len(floors)), key=lambda i: -floors[i][3])
    bumped = set(by_remainder[: int(missing)])
    rows = [
        CapTableRow(holder, units, percent + (PERCENT_PLACES if i in bumped else 0), False)
        for i, (holder, units, percent, _) in enumerate(floors)
    ]
    rows.append(CapTableRow(fund_holder, fund_units, fund_percent, True))
    return tuple(rows)
