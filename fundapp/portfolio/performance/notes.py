"""The IRR and MIRR notes in the reader's language.

The solvers (irr.py, returns.py) are pure and word their reasons in English, which the ledger and
the logs keep. What a page, the API or a report shows is the same reason translated here: a
fixed reason by its text, a reason with figures by its pattern (the figures carried over).
Translations are looked up once per language and reason (a portfolio has thousands of rows and a
handful of distinct notes).
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

_FIXED = {
    "no IRR": _l("no IRR"),
    "no MIRR": _l("no MIRR"),
    "annual rate (XIRR)": _l("annual rate (XIRR)"),
    "annual rate (MIRR)": _l("annual rate (MIRR)"),
    "no holdings yet": _l("no holdings yet"),
    "no IRR: no cash flows yet": _l("no IRR: no cash flows yet"),
    "no IRR: needs cash flows on at least two dates":
        _l("no IRR: needs cash flows on at least two dates"),
    "no IRR: the cash flows do not change sign": _l("no IRR: the cash flows do not change sign"),
    "no IRR: the solver did not converge": _l("no IRR: the solver did not converge"),
    "no IRR: no rate in the searched range makes XNPV zero":
        _l("no IRR: no rate in the searched range makes XNPV zero"),
    "no IRR: several rates make XNPV zero": _l("no IRR: several rates make XNPV zero"),
    "no IRR: the solver's root fails the XNPV check":
        _l("no IRR: the solver's rate fails the XNPV check"),
    "no MIRR: no cash flows yet": _l("no MIRR: no cash flows yet"),
    "no MIRR: the flows do not change sign": _l("no MIRR: the cash flows do not change sign"),
    "no MIRR: every flow is on one day": _l("no MIRR: every cash flow is on one day"),
    "no MIRR: beyond what can be shown": _l("no MIRR: beyond what can be shown"),
    "no MIRR: no 1-year LPR published on or before the as-of date":
        _l("no MIRR: no 1-year LPR published on or before the as-of date"),
}

_PATTERNS = (
    (re.compile(r"over (?P<days>\d+) days, not annualised \(under one year\)"),
     _l("over %(days)s days, not annualised (under one year)")),
    (re.compile(r"no IRR: the annualised rate is below (?P<floor>\S+) and not meaningful; "
                r"the return over the whole period is (?P<period>\S+)"),
     _l("no IRR: the annualised rate is below %(floor)s and not meaningful; the return over "
        "the whole period is %(period)s")),
    (re.compile(r"no IRR: the return is below (?P<floor>\S+), a total loss"),
     _l("no IRR: the return is below %(floor)s, a total loss")),
    (re.compile(r"no IRR: the solver's rate fails the XNPV check \(residual (?P<residual>\S+)\)"),
     _l("no IRR: the solver's rate fails the XNPV check (residual %(residual)s)")),
)


@lru_cache(maxsize=512)
def _note_in(language: str, note: str) -> str:
    fixed = _FIXED.get(note)
    if fixed is not None:
        return str(fixed)
    for pattern, text in _PATTERNS:
        found = pattern.fullmatch(note)
        if found:
            return str(text) % found.groupdict()
    return note


def note_text(note: str) -> str:
    """`note` (an English reason) in the language of the request (English outside one)."""
    if not note:
        return note
    try:
        language = str(get_locale() or "en")
    except RuntimeError:  # no application context: the English reason as it is
        return note
    return _note_in(language, note)

