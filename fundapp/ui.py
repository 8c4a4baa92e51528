"""Helpers shared by every page: formatting, the language switch, navigation by role."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, g, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

# (endpoint, label): shown to a user only when the access table lets them in.
NAVIGATION = [
    ("main.dashboard", _l("Dashboard")),
    ("deals.board", _l("Pipeline")),
    ("deals.roadshows", _l("Roadshows")),
    ("deals.companies", _l("Companies")),
    ("reference.calendar", _l("Reference data")),
    ("portfolio.grants", _l("Grants")),
    ("portfolio.policies", _l("Policies")),
    ("portfolio.performance", _l("Performance")),
    ("ic.meetings", _l("Investment committee")),
    ("ic.quarterly_reports", _l("Quarterly reports")),
    ("compliance.ledger", _l("Ledger")),
    ("compliance.checks", _l("Compliance")),
    ("admin.users", _l("Users")),
]


def format_money(value: Decimal | None, places: int = 2) -> str:
    """1234567.5 -> '1,234,567.50'. Decimal in, text out: never through a float."""
    if value is None:
        return "—"
    quantum = Decimal(1).scaleb(-places)
    return f"{Decimal(value).quantize(quantum):,}"


def safe_next(target: str | None) -> str | None:
    """Only same-site paths may be redirect targets after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    # Browsers drop tabs and newlines inside a URL, so "/\t/evil.example" would lead off-site as
    # "//evil.example"; and a newline cannot go into a Location header at all.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target


def register_template_helpers(app: Flask, can) -> None:
    app.jinja_env.filters["money"] = format_money

    @app.context_processor
    def _globals():
        return {
            "can": can,
            "current": g.get("user"),
            "locale": str(get_locale()),
            "language_names": LANGUAGE_NAMES,
            "navigation": [(ep, label) for ep, label in NAVIGATION if can(ep)],
            "request_path": request.path,
        }
