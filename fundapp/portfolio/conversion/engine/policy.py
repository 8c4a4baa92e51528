"""The policy parameters the conversion engine uses, with the rule book defaults (R3-R8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

from fundapp.portfolio.conversion.engine.exact import (
    _decimal,
    _fraction,
    _jsonable,
    _money,
    _non_negative_int,
    _set,
)

ConvertBase = Literal["disbursed", "awarded"]


@dataclass(frozen=True)
class ConversionPolicy:
    """Policy parameters used by this module, with the rule book defaults.

    Rates and shares are decimal fractions (0.30 = 30 %). The versioned policy store pins one
    of these to each agreement; this module never reads a policy by itself.
    """

    convert_base: ConvertBase = "disbursed"  # R4.a
    pre_money_includes_conversion: bool = False  # R5.b
    discount: Decimal = Decimal("0")  # R5.c
    valuation_cap: Decimal | None = None  # R5.d, CNY
    max_stake: Decimal = Decimal("0.30")  # R6.d
    qf_min_abs: Decimal = Decimal("5000000.00")  # R3.d, CNY
    qf_min_multiple: Decimal = Decimal("1.0")  # R3.d, x converting amount
    min_lead_share: Decimal = Decimal("0.50")  # R3.e, of the new money
    conversion_window_months: int = 36  # R3.b
    grace_days: int = 90  # R3.b
    require_rd_acceptance: bool = True  # R3.c
    registration_days: int = 60  # R6.g, calendar days
    default_par_value: Decimal = Decimal("1.00")  # R1: JSC par unless the round says otherwise
    t1_years: int = 3  # R7.b
    return_cap: Decimal | None = None  # R7.c
    penalty_rate_multiple: Decimal = Decimal("1.5")  # R8.c

    def __post_init__(self) -> None:
        if self.convert_base not in ("disbursed", "awarded"):
            raise ValueError(
                f"convert_base must be 'disbursed' or 'awarded': {self.convert_base!r}"
            )
        one = Decimal(1)
        _set(
            self, "discount", _fraction("discount", self.discount, upper=one, upper_inclusive=False)
        )
        if self.valuation_cap is not None:
            cap = _money("valuation_cap", self.valuation_cap)
            if cap == 0:
                raise ValueError("valuation_cap must be positive (or None for no cap)")
            _set(self, "valuation_cap", cap)
        # max_stake = 0 or 1 would make the R6.d solve divide by zero or be meaningless.
        max_stake = _fraction("max_stake", self.max_stake, upper=one, upper_inclusive=False)
        if max_stake == 0:
            raise ValueError("max_stake must be greater than 0")
        _set(self, "max_stake", max_stake)
        _set(self, "qf_min_abs", _money("qf_min_abs", self.qf_min_abs))
        multiple = _decimal("qf_min_multiple", self.qf_min_multiple)
        if multiple < 0:
            raise ValueError("qf_min_multiple must not be negative")
        _set(self, "qf_min_multiple", multiple)
        _set(
            self,
            "min_lead_share",
            _fraction("min_lead_share", self.min_lead_share, upper=one, upper_inclusive=True),
        )
        for name in ("conversion_window_months", "grace_days", "registration_days", "t1_years"):
            _non_negative_int(name, getattr(self, name))
        par = _money("default_par_value", self.default_par_value)
        if par == 0:
            raise ValueError("default_par_value must be positive")
        _set(self, "default_par_value", par)
        if self.return_cap is not None:
            cap = _decimal("return_cap", self.return_cap)
            if cap < 0:
                raise ValueError("return_cap must not be negative")
            _set(self, "return_cap", cap)
        multiple = _decimal("penalty_rate_multiple", self.penalty_rate_multiple)
        if multiple < 0:
            raise ValueError("penalty_rate_multiple must not be negative")
        _set(self, "penalty_rate_multiple", multiple)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ConversionPolicy:
        """Build from a policy version's values (strings or Decimals); other keys are ignored.

        A policy file holds parameters for every module (grant caps, appraisal validity ...);
        this takes only the ones listed above.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)


DEFAULT_POLICY = ConversionPolicy()
