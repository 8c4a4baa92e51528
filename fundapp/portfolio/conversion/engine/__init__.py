"""Grant-to-equity conversion maths (rule book R3-R8), pure and exact: the engine's facade.

No Flask, no database, no floats. Every public function runs inside its own ``decimal`` context
(``_EXACT``) that has 100 significant digits and *traps* ``Inexact``: an operation that
would have to round raises instead of silently rounding. A division that may not terminate
goes through ``_div_round`` instead, which uses Decimal integer division (``divmod``, always
exact) and then rounds the way the rule book says for that figure. Prices therefore stay exact rationals: every price in
R5 is "some valuation / U_pre", so we carry the valuation numerator and divide only when a
unit count or a display figure is needed.

Each result carries the clause-by-clause steps (clause id, English and Chinese label,
formula, inputs, result) so that a calculation sheet can show how every number was reached
(R12), and a ``to_dict()`` that is JSON-serialisable (Decimals as plain strings).

The modules, by rule group (callers import this package: ``from fundapp.portfolio.conversion
import engine as calc``):

* ``exact``: the exact decimal contexts, input checks, ``add_months`` and the JSON form;
* ``policy``: ``ConversionPolicy``, the parameters used here, with the rule book defaults;
* ``inputs``: the grant, the round, the investors, the cap table before and the appraisal (R3.f);
* ``results``: clause results, calculation-sheet steps and results;
* ``qualifying``: R3, the qualifying-financing check;
* ``pricing``: R4 and R5, the converting amount and the prices;
* ``units``: R6, units, stake cap, reserve and cap table, ``compute_conversion`` and
  ``compute_appraisal_conversion``;
* ``rates``: R7 and R8, the buy-back floor price and the penalty interest;
* ``sensitivity``: a grid of ``compute_conversion`` runs over pre-money x discount (x closing
  date).

Pure: the standard library only; no Flask, no database, nothing of fundapp outside this package.
"""

from fundapp.portfolio.conversion.engine.exact import FEN as FEN
from fundapp.portfolio.conversion.engine.exact import PERCENT_PLACES as PERCENT_PLACES
from fundapp.portfolio.conversion.engine.exact import PRICE_PLACES as PRICE_PLACES
from fundapp.portfolio.conversion.engine.exact import ConversionError, add_months, unit_quantum
from fundapp.portfolio.conversion.engine.exact import _jsonable as _jsonable
from fundapp.portfolio.conversion.engine.inputs import (
    Appraisal,
    CapTableEntry,
    Disbursement,
    FinancingRound,
    Grant,
    Investor,
    Refund,
)
from fundapp.portfolio.conversion.engine.inputs import LegalForm as LegalForm
from fundapp.portfolio.conversion.engine.inputs import RoundKind as RoundKind
from fundapp.portfolio.conversion.engine.policy import DEFAULT_POLICY, ConversionPolicy
from fundapp.portfolio.conversion.engine.policy import ConvertBase as ConvertBase
from fundapp.portfolio.conversion.engine.pricing import converting_amount
from fundapp.portfolio.conversion.engine.qualifying import check_qualifying
from fundapp.portfolio.conversion.engine.rates import (
    floor_price_buyback,
    penalty_interest,
    rate_in_force,
)
from fundapp.portfolio.conversion.engine.results import (
    BuybackFloorPrice,
    CapTableRow,
    ClauseResult,
    ConversionResult,
    InvestorAllocation,
    NotQualifyingError,
    PenaltyInterest,
    PenaltyLine,
    QualifyingResult,
    Step,
)
from fundapp.portfolio.conversion.engine.sensitivity import (
    MAX_CLOSING_DATES,
    MAX_DISCOUNTS,
    MAX_PRE_MONEY_VALUES,
    SensitivityCell,
    SensitivityError,
    SensitivityGrid,
    SensitivityTable,
    default_discounts,
    default_pre_money_values,
    sensitivity_grid,
)
from fundapp.portfolio.conversion.engine.units import (
    compute_appraisal_conversion,
    compute_conversion,
)

__all__ = [
    "DEFAULT_POLICY",
    "MAX_CLOSING_DATES",
    "MAX_DISCOUNTS",
    "MAX_PRE_MONEY_VALUES",
    "SensitivityCell",
    "SensitivityError",
    "SensitivityGrid",
    "SensitivityTable",
    "default_discounts",
    "default_pre_money_values",
    "sensitivity_grid",
    "BuybackFloorPrice",
    "CapTableEntry",
    "CapTableRow",
    "ClauseResult",
    "ConversionError",
    "ConversionPolicy",
    "ConversionResult",
    "Disbursement",
    "FinancingRound",
    "Grant",
    "Investor",
    "InvestorAllocation",
    "NotQualifyingError",
    "PenaltyInterest",
    "PenaltyLine",
    "QualifyingResult",
    "Refund",
    "Step",
    "Appraisal",
    "add_months",
    "check_qualifying",
    "compute_appraisal_conversion",
    "compute_conversion",
    "converting_amount",
    "floor_price_buyback",
    "penalty_interest",
    "rate_in_force",
    "unit_quantum",
]
