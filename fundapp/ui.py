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
    ("compliance.ledger", _l("Ledger")),
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
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


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
