"""The policy parameters of the rule book: names, kinds, checks, and the shipped default file.

Values travel as JSON with decimals as strings (never floats, R1). `clean_values` checks a whole
set of values and names every bad parameter, so an admin sees all the problems at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l

from fundapp.portfolio.conversion.engine.policy import ConversionPolicy

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "data" / "policies" / "default.json"

FEN = Decimal("0.01")

# name -> (kind, clause). Kinds: money (>= 0, fen), money_or_null (> 0 or null), fraction_lt1
# (0 <= x < 1), fraction_le1 (0 <= x <= 1), positive_fraction_lt1 (0 < x < 1), decimal (>= 0),
# decimal_or_null (>= 0 or null), months/days/years (integer >= 0), bool, convert_base, split
# (fractions summing to 1), quorum ("2/3"), carrying ("zero" | "cost").
PARAMETERS: dict[str, tuple[str, str]] = {
    "grant_cap_abs": ("money", "R2.a"),
    "grant_cap_pct_of_budget": ("fraction_le1", "R2.a"),
    "tranche_split": ("split", "R2.b"),
    "project_period_months": ("int", "R2.c"),
    "require_rd_acceptance": ("bool", "R3.c"),
    "conversion_window_months": ("int", "R3.b"),
    "grace_days": ("int", "R3.b"),
    "qf_min_abs": ("money", "R3.d"),
    "qf_min_multiple": ("decimal", "R3.d"),
    "min_lead_share": ("fraction_le1", "R3.e"),
    "convert_base": ("convert_base", "R4.a"),
    "pre_money_includes_conversion": ("bool", "R5.b"),
    "discount": ("fraction_lt1", "R5.c"),
    "valuation_cap": ("money_or_null", "R5.d"),
    "max_stake": ("positive_fraction_lt1", "R6.d"),
    "registration_days": ("int", "R6.g"),
    "default_par_value": ("positive_money", "R1"),
    "buyback_window_years": ("int", "R7.a"),
    "t1_years": ("int", "R7.b"),
    "return_cap": ("decimal_or_null", "R7.c"),
    "state_asset_holding": ("bool", "R7.d"),
    "penalty_rate_multiple": ("decimal", "R8.c"),
    "appraisal_validity_months": ("int", "R9.a"),
    "disclosure_working_days": ("int", "R9.b"),
    "max_single_company_pct": ("fraction_le1", "R10.a"),
    "min_early_stage_pct": ("fraction_le1", "R10.b"),
    "max_holding_years": ("int", "R10.d"),
    "expert_quorum": ("quorum", "R11"),
    "public_notice_working_days": ("int", "R11"),
    # metrics.md "How a grant counts": an open grant that has not converted is carried at zero
    # (the default) or at cost (disbursed less refunded) in NAV.
    "unconverted_grant_carrying": ("carrying", "metrics"),
    # metrics.md MIRR: the rate at which the fund's distributions are assumed reinvested, as a
    # decimal fraction per year; null: the finance rate (the 1-year LPR in force).
    "mirr_reinvestment_rate": ("decimal_or_null", "metrics"),
    # R9.d: the annual rate of an exit balance paid in instalments, as a decimal fraction per
    # year; null: the 1-year LPR in force on the transfer date.
    "instalment_rate": ("decimal_or_null", "R9.d"),
}

# Parameters added after versions were stored: a stored version without one has this value, so
# an old version stays valid and keeps meaning what it meant when it was approved.
ADDED_LATER: dict[str, Any] = {
    "unconverted_grant_carrying": "zero",
    "mirr_reinvestment_rate": None,
    "instalment_rate": None,
}
CARRYING_CHOICES = ("zero", "cost")


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(str(_l("Enter a decimal number as text, e.g. \"0.30\".")))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(str(_l("Not a valid number."))) from None
    if not number.is_finite():
        raise ValueError(str(_l("Not a valid number.")))
    return number


def _check(kind: str, value: Any) -> Any:
    """One value in its stored form, or ValueError with a message for the user."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(str(_l("Must be true or false.")))
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9999:
            raise ValueError(str(_l("Must be a whole number from 0 to 9999.")))
        return value
    if kind == "carrying":
        if value not in CARRYING_CHOICES:
            raise ValueError(str(_l("Must be one of: zero, cost.")))
        return value
    if kind == "convert_base":
        if value not in ("disbursed", "awarded"):
            raise ValueError(str(_l("Must be one of: disbursed, awarded.")))
        return value
    if kind == "quorum":
        try:
            quorum = Fraction(str(value))
        except (ValueError, ZeroDivisionError):
            raise ValueError(str(_l("Enter a fraction such as 2/3."))) from None
        if not 0 < quorum <= 1:
            raise ValueError(str(_l("Must be more than 0 and at most 1.")))
        return str(value)
    if kind == "split":
        if not isinstance(value, list) or not value:
            raise ValueError(str(_l("Enter a list of shares, e.g. [\"0.40\", \"0.30\", \"0.30\"].")))
        shares = [_as_decimal(v) for v in value]
        if any(s <= 0 for s in shares) or sum(shares) != 1:
            raise ValueError(str(_l("The shares must be positive and sum to 1.")))
        return [format(s, "f") for s in shares]
    if kind.endswith("_or_null") and value is None:
        return None
    number = _as_decimal(value)
    if abs(number) >= 10**13:
        raise ValueError(str(_l("This value is too large.")))
    if number < 0:
        raise ValueError(str(_l("Must not be negative.")))
    if kind in ("money", "money_or_null", "positive_money"):
        if number != number.quantize(FEN):
            raise ValueError(str(_l("At most 2 decimal places (fen).")))
        if kind != "money" and number == 0:
            raise ValueError(str(_l("Must be more than 0.")))
        return format(number.quantize(FEN), "f")
    if kind == "fraction_lt1" and number >= 1:
        raise ValueError(str(_l("Must be less than 1 (100%).")))
    if kind == "positive_fraction_lt1" and not 0 < number < 1:
        raise ValueError(str(_l("Must be more than 0 and less than 1 (100%).")))
    if kind == "fraction_le1" and number > 1:
        raise ValueError(str(_l("Must be at most 1 (100%).")))
    return format(number, "f")


def clean_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(values in stored form, errors by parameter). Unknown names are errors, missing ones too."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in values:
        if name not in PARAMETERS:
            errors[name] = [str(_l("Unknown policy parameter."))]
    for name, (kind, _clause) in PARAMETERS.items():
        if name not in values and name in ADDED_LATER:
            clean[name] = ADDED_LATER[name]
            continue
        if name not in values:
            errors[name] = [str(_l("Missing data for required field."))]
            continue
        try:
            clean[name] = _check(kind, values[name])
        except ValueError as exc:
            errors[name] = [str(exc)]
    if not errors:
        try:
            ConversionPolicy.from_mapping(clean)
        except (TypeError, ValueError) as exc:  # a rule the engine knows and this table does not
            errors["_schema"] = [str(exc)]
    return clean, errors


def load_default_file(path: Path = DEFAULT_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def values_json(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def conversion_policy(values: Mapping[str, Any]) -> ConversionPolicy:
    return ConversionPolicy.from_mapping(values)
