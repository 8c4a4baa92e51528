"""Helpers shared by every page: formatting, the language switch, navigation by role."""

from __future__ import annotations

import re
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


# What a form field is called on the page, for the error summary at the top of a form: a field
# not listed here is shown by its message alone (a page never shows a raw field name).
FIELD_LABELS = {
    "discount_rate_pct": _l("Discount rate"), "discount_rate": _l("Discount rate"),
    "cash_flows": _l("Forecast cash flows"), "terminal_value": _l("Terminal value"),
    "net_debt": _l("Net debt"), "units_outstanding": _l("Company units outstanding"),
    "amount": _l("Amount"), "units": _l("Units"), "price_amount": _l("Price"),
    "transfer_on": _l("Transfer date"), "buyer": _l("Buyer"), "kind": _l("Kind"),
    "measured_on": _l("Measurement date"), "method": _l("Method"),
    "value_per_unit": _l("Value per unit"), "note": _l("Note"), "base_on": _l("Base date"),
    "value_amount": _l("Value"), "filing_no": _l("Filing number"), "filed_on": _l("Filed on"),
    "appraiser": _l("Appraiser"), "appraisal_id": _l("Appraisal id (R9)"),
    "reserve_price_amount": _l("Reserve price (R9.b)"),
    "disclosure_start_on": _l("Disclosure from"), "disclosure_end_on": _l("Disclosure to"),
    "down_payment_amount": _l("Down payment (R9.d)"), "balance_due_on": _l("Balance due"),
    "name": _l("Name"), "file": _l("File"), "on": _l("Date"), "paid_on": _l("Payment date"),
    "tranche": _l("Tranche"), "refunded_on": _l("Refund date"),
    "reviewed_on": _l("Review date"), "accepted_on": _l("Acceptance date"),
    "reference": _l("Reference"), "reason": _l("Reason"), "closed_on": _l("Closing date"),
    "breach_on": _l("Breach date"), "repaid_on": _l("Repayment date"),
    "ic_resolution_ref": _l("IC resolution reference"), "holding_id": _l("Holding"),
    "company_id": _l("Company"), "grant_id": _l("Grant agreement"),
    "revenue_amount": _l("Revenue"), "rd_spend_amount": _l("R&D spend"),
    "headcount": _l("Headcount"), "pct_applications": _l("PCT"),
    "value_added_amount": _l("Value added"), "answered_on": _l("Answered"),
}


_ROW_FIELD = re.compile(r"^row (\d+): (.+)$")


def field_label(field: str) -> str | None:
    """The field's label; "row 3: level" (a row of an uploaded file) names the row and the
    file's own column header, which is what the user typed."""
    row = _ROW_FIELD.match(field)
    if row:
        return str(_l("Row %(n)s, column %(column)s", n=row.group(1), column=row.group(2)))
    label = FIELD_LABELS.get(field)
    return str(label) if label is not None else None


def sector_text(code: str | None) -> str:
    """A sector code (`life_health`) as the reader's label; an unknown code as it is."""
    from fundapp.deals.sectors import sector_label

    if code == "unclassified":  # performance.summary's group of companies without a sector
        return str(_l("Unclassified"))
    return sector_label(code, str(get_locale())) if code else ""


def reader_name(chinese: str | None, english: str | None) -> str:
    """A company's or the fund's name for the reader: the English one for an English reader
    when there is one, else the Chinese (legal) one."""
    try:
        language = str(get_locale() or "en")
    except RuntimeError:  # no application context: the CLI speaks English
        language = "en"
    if language == "en" and english:
        return english
    return chinese or english or ""


def beijing_time(moment) -> str:
    """A stored UTC moment as Beijing time (Asia/Shanghai), to the second."""
    from datetime import UTC

    from fundapp.dates import SHANGHAI

    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def register_template_helpers(app: Flask, can) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["sector"] = sector_text
    app.jinja_env.filters["beijing"] = beijing_time

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
