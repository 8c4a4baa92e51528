"""R4 and R5: the converting amount, the round price and the conversion price.

Every price in R5 is "some valuation / U_pre", so the valuation numerator is carried exactly and
divided only when a unit count or a shown figure is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from fundapp.portfolio.conversion.engine.exact import (
    _EXACT,
    PRICE_PLACES,
    ConversionError,
    _div_round,
    _fmt_money,
    _plain,
    unit_quantum,
)
from fundapp.portfolio.conversion.engine.inputs import Appraisal, FinancingRound, Grant
from fundapp.portfolio.conversion.engine.policy import DEFAULT_POLICY, ConversionPolicy
from fundapp.portfolio.conversion.engine.results import QualifyingResult, Step


def converting_amount(
    grant: Grant, financing_round: FinancingRound, policy: ConversionPolicy = DEFAULT_POLICY
) -> Decimal:
    """R4.a: what converts: disbursed by the closing date less refunds, or the whole award."""
    if policy.convert_base == "awarded":
        # Undisbursed tranches are paid at closing, so the whole award converts.
        return grant.awarded_amount
    closed_on = financing_round.closed_on
    with localcontext(_EXACT):
        paid = sum(
            (d.amount for d in grant.disbursements if d.paid_on <= closed_on), Decimal("0.00")
        )
        # A refund after the closing date cannot shrink what the company held at closing.
        refunded = sum(
            (r.amount for r in grant.refunds if r.refunded_on <= closed_on), Decimal("0.00")
        )
        if refunded > paid:
            raise ConversionError(
                "R4.a",
                f"refunds {_fmt_money(refunded)} exceed disbursements {_fmt_money(paid)}",
            )
        return paid - refunded


class _Pricing:
    """One conversion's calculation sheet up to its prices (R4.a, R5); ``units._Conversion``
    goes on with R6. A class only so the steps list is not threaded through calls."""

    def __init__(
        self,
        grant: Grant,
        financing_round: FinancingRound,
        policy: ConversionPolicy,
        qualifying: QualifyingResult,
        appraisal: Appraisal | None = None,
    ) -> None:
        self.grant = grant
        self.appraisal = appraisal  # R3.f: the round is the appraisal standing in for one
        self.round = financing_round
        self.policy = policy
        self.qualifying = qualifying
        self.steps: list[Step] = []
        self.quantum = unit_quantum(financing_round.legal_form)
        self.par = (
            Decimal("1.00")
            if financing_round.legal_form == "llc"
            else financing_round.par_value or policy.default_par_value
        )

    def _step(
        self,
        clause: str,
        label_en: str,
        label_zh: str,
        formula: str,
        inputs: Mapping[str, Decimal | str],
        result: Mapping[str, Decimal | str],
    ) -> None:
        def text(v: Decimal | str) -> str:
            return _plain(v) if isinstance(v, Decimal) else v

        self.steps.append(
            Step(
                clause,
                label_en,
                label_zh,
                formula,
                {k: text(v) for k, v in inputs.items()},
                {k: text(v) for k, v in result.items()},
            )
        )

    def _units(self, amount: Decimal, valuation: Decimal) -> Decimal:
        # amount / (valuation / U_pre), rounded down to whole units (R6.a).
        return _div_round(amount * self.round.units_before, valuation, self.quantum, ROUND_DOWN)

    def _price_display(self, valuation: Decimal) -> str:
        return _plain(_div_round(valuation, self.round.units_before, PRICE_PLACES, ROUND_HALF_UP))

    def _prices(self) -> tuple[Decimal, Decimal, bool]:
        """R4.a and R5: (round valuation, conversion valuation, whether R5.d capped it); each
        price is such a valuation / U_pre. A conversion price below par is refused (R6.b)."""
        r, policy = self.round, self.policy
        u_pre = r.units_before
        g = self.qualifying.converting_amount
        by_appraisal = self.appraisal is not None
        on = "met_on" if by_appraisal else "closed_on"
        self._step(
            "R4.a",
            "Converting amount",
            "转股金额",
            f"G = disbursed on or before {'the condition-met date' if by_appraisal else 'closing'}"
            " - refunds"
            if policy.convert_base == "disbursed"
            else "G = awarded amount",
            {
                "convert_base": policy.convert_base,
                on: r.closed_on.isoformat(),
                "awarded_amount": self.grant.awarded_amount,
                "disbursed_by_closing": sum(
                    (d.amount for d in self.grant.disbursements if d.paid_on <= r.closed_on),
                    Decimal("0.00"),
                ),
                "refunded_by_closing": sum(
                    (x.amount for x in self.grant.refunds if x.refunded_on <= r.closed_on),
                    Decimal("0.00"),
                ),
            },
            {"converting_amount": g},
        )

        # R5.a / R5.b: every price is (a valuation) / U_pre; we keep the valuation exact.
        if by_appraisal:
            # R3.f: the filed appraisal is the valuation; R5.b concerns a negotiated round only.
            round_valuation = r.pre_money_valuation
            self._step(
                "R5.a",
                "Price from the filed appraisal (same share, same price)",
                "评估价格（同股同价）",
                "P = appraised value / U_pre",
                {"appraised_value": r.pre_money_valuation, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )
        elif policy.pre_money_includes_conversion:
            round_valuation = r.pre_money_valuation - g
            if round_valuation <= 0:
                raise ConversionError(
                    "R5.b", "the pre-money valuation does not exceed the converting amount"
                )
            self._step(
                "R5.b",
                "Round price (pre-money includes the converting grant)",
                "本轮价格（投前估值已含转股金额）",
                "P = (V_pre - G) / U_pre",
                {"V_pre": r.pre_money_valuation, "G": g, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )
        else:
            round_valuation = r.pre_money_valuation
            if round_valuation == 0:
                raise ConversionError("R5.a", "the pre-money valuation is zero")
            self._step(
                "R5.a",
                "Round price (same share, same price)",
                "本轮价格（同股同价）",
                "P = V_pre / U_pre",
                {"V_pre": r.pre_money_valuation, "U_pre": u_pre},
                {"P": self._price_display(round_valuation)},
            )

        conversion_valuation = round_valuation * (1 - policy.discount)
        if policy.discount:
            self._step(
                "R5.c",
                "Conversion price after discount",
                "折扣后转股价格",
                "Pc = P x (1 - discount)",
                {"P": self._price_display(round_valuation), "discount": policy.discount},
                {"Pc": self._price_display(conversion_valuation)},
            )
        is_valuation_capped = False
        if policy.valuation_cap is not None:
            is_valuation_capped = policy.valuation_cap < conversion_valuation
            before = conversion_valuation
            conversion_valuation = min(conversion_valuation, policy.valuation_cap)
            self._step(
                "R5.d",
                "Valuation cap",
                "估值上限",
                "Pc = min(Pc, valuation_cap / U_pre)",
                {
                    "Pc": self._price_display(before),
                    "valuation_cap": policy.valuation_cap,
                    "U_pre": u_pre,
                },
                {"Pc": self._price_display(conversion_valuation)},
            )
        if not policy.discount and policy.valuation_cap is None:
            self._step(
                "R5.a",
                "Conversion price",
                "转股价格",
                "Pc = P",
                {},
                {"Pc": self._price_display(conversion_valuation)},
            )
        # Issuing below par is not allowed (the reserve of R6.b would be negative).
        if conversion_valuation < self.par * u_pre:
            raise ConversionError(
                "R6.b",
                f"conversion price {self._price_display(conversion_valuation)} is below the par "
                f"value {_fmt_money(self.par)}",
            )
        return round_valuation, conversion_valuation, is_valuation_capped
