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
    """A name for the reader (a company's, the fund's, a deal's project, a meeting's title or
    place, a roadshow's, a person's): the English one for an English reader when there is one,
    else the Chinese (legal) one. Templates call it as reader_name(x.name, x.name_en)."""
    try:
        language = str(get_locale() or "en")
    except RuntimeError:  # no application context: the CLI speaks English
        language = "en"
    if language == "en" and english:
        return english
    return chinese or english or ""


class ReaderName(str):
    """A name with its Chinese and English forms, for a placeholder of a lazy message: it
    becomes reader_name(chinese, english) in the language the message is rendered in (a check's
    or a notification's English and Chinese texts each get their own). As a plain str (sorting,
    JSON) it is the Chinese (legal) name."""

    def __new__(cls, chinese: str | None, english: str | None = None) -> ReaderName:
        name = super().__new__(cls, chinese or english or "")
        name.english = english or ""
        return name

    def __str__(self) -> str:
        return reader_name(str.__str__(self), self.english)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def beijing_time(moment) -> str:
    """A stored UTC moment as Beijing time (Asia/Shanghai), to the second."""
    from datetime import UTC

    from fundapp.dates import SHANGHAI

    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):  # the ledger's recorded_at: ISO text ending in Z
        from datetime import datetime

        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def register_template_helpers(app: Flask, can) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["sector"] = sector_text
    app.jinja_env.filters["beijing"] = beijing_time
    app.jinja_env.globals["reader_name"] = reader_name
    app.jinja_env.filters["ledger_sentence"] = ledger_sentence
    app.jinja_env.globals["ledger_groups"] = LEDGER_GROUPS
    app.jinja_env.filters["policy_label"] = policy_label
    app.jinja_env.filters["clause"] = clause_text
    app.jinja_env.filters["job_label"] = job_label
    app.jinja_env.filters["job_outcome"] = job_outcome
    app.jinja_env.globals["cron_text"] = cron_text
    app.jinja_env.filters["sheet_formula"] = sheet_formula
    app.jinja_env.filters["sheet_key"] = sheet_key
    app.jinja_env.filters["sheet_value"] = sheet_value
    app.jinja_env.globals["reader_language"] = reader_language
    app.jinja_env.filters["role_label"] = role_label
    app.jinja_env.filters["user_text"] = user_text
    app.jinja_env.globals["policy_value"] = policy_value

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


# ---------------------------------------------------------------------------- the ledger (issue 14)
# Each action of the compliance ledger as a sentence: %(actor)s is who did it, %(subject)s the
# thing it was done to (its name, or its number when it has none). An action not listed reads as
# the generic sentence with its code (tests/test_language_crawl.py fails on it, so a new action
# gets its sentence).
LEDGER_SENTENCES = {
    "auth.login": _l("%(actor)s signed in"),
    "auth.logout": _l("%(actor)s signed out"),
    "auth.token_issued": _l("%(actor)s was issued API token %(subject)s"),
    "auth.token_revoked": _l("%(actor)s revoked API token %(subject)s"),
    "user.created": _l("%(actor)s created user %(subject)s"),
    "user.enabled": _l("%(actor)s enabled or disabled user %(subject)s"),
    "user.roles_changed": _l("%(actor)s changed the roles of user %(subject)s"),
    "user.password_changed": _l("%(actor)s changed the password of user %(subject)s"),
    "fund.created": _l("%(actor)s set up the fund"),
    "fund.updated": _l("%(actor)s changed the fund's details"),
    "company.created": _l("%(actor)s added company %(subject)s"),
    "company.updated": _l("%(actor)s changed company %(subject)s"),
    "company.corrected": _l("%(actor)s corrected company %(subject)s"),
    "deal.created": _l("%(actor)s opened deal %(subject)s"),
    "deal.updated": _l("%(actor)s changed deal %(subject)s"),
    "deal.corrected": _l("%(actor)s corrected deal %(subject)s"),
    "deal.stage_changed": _l("%(actor)s moved deal %(subject)s from %(from)s to %(to)s"),
    "deal.memo_updated": _l("%(actor)s updated the IC memo of deal %(subject)s"),
    "deal.ic_decision_recorded": _l("%(actor)s recorded the IC decision on deal %(subject)s"),
    "deal.expert_review_recorded": _l("%(actor)s recorded an expert review of deal %(subject)s"),
    "roadshow.created": _l("%(actor)s created roadshow %(subject)s"),
    "roadshow.updated": _l("%(actor)s changed roadshow %(subject)s"),
    "roadshow.corrected": _l("%(actor)s corrected roadshow %(subject)s"),
    "roadshow.slot_added": _l("%(actor)s added a slot to roadshow %(subject)s"),
    "roadshow.signup_imported": _l("%(actor)s imported a sign-up sheet into roadshow %(subject)s"),
    "roadshow.scores_recorded": _l("%(actor)s recorded panel scores at roadshow %(subject)s"),
    "roadshow.panel_member_added": _l("%(actor)s added a panel member to roadshow %(subject)s"),
    "roadshow.criteria_set": _l("%(actor)s set the scoring criteria of roadshow %(subject)s"),
    "policy.loaded": _l("%(actor)s loaded policy %(subject)s"),
    "policy.version_created": _l("%(actor)s created policy version %(subject)s"),
    "grant.signed": _l("%(actor)s recorded the signed grant agreement %(subject)s"),
    "grant.policy_overridden": _l("%(actor)s overrode the policy for grant %(subject)s"),
    "grant.tranche_released": _l("%(actor)s released a tranche of grant %(subject)s"),
    "grant.milestone_reviewed": _l("%(actor)s recorded a milestone review of grant %(subject)s"),
    "grant.rd_accepted": _l("%(actor)s recorded the R&D acceptance of grant %(subject)s"),
    "grant.registration_recorded": _l("%(actor)s recorded the registration of grant "
                                      "%(subject)s"),
    "grant.refund_recorded": _l("%(actor)s recorded a refund of grant %(subject)s"),
    "grant.converted": _l("%(actor)s converted grant %(subject)s into equity"),
    "grant.closed_as_grant": _l("%(actor)s closed grant %(subject)s as a grant"),
    "grant.closed_with_tolerance": _l("%(actor)s closed grant %(subject)s with tolerance"),
    "grant.remainder_closed": _l("%(actor)s closed the remainder of grant %(subject)s"),
    "grant.breach_declared": _l("%(actor)s declared a breach of grant %(subject)s"),
    "grant.alternative_condition_met": _l("%(actor)s recorded that grant %(subject)s met its "
                                          "alternative condition"),
    "grant.disbursement_reversed": _l("%(actor)s reversed a disbursement of grant %(subject)s"),
    "grant.corrected": _l("%(actor)s corrected grant %(subject)s"),
    "tranche_schedule.corrected": _l("%(actor)s corrected the tranche schedule of grant "
                                     "%(subject)s"),
    "conversion.reversed": _l("%(actor)s reversed conversion %(subject)s"),
    "round.recorded": _l("%(actor)s recorded financing round %(subject)s"),
    "round.evidence_added": _l("%(actor)s added evidence to financing round %(subject)s"),
    "round.corrected": _l("%(actor)s corrected financing round %(subject)s"),
    "mark.drafted": _l("%(actor)s drafted valuation mark %(subject)s"),
    "mark.finalised": _l("%(actor)s approved valuation mark %(subject)s"),
    "mark.corrected": _l("%(actor)s corrected valuation mark %(subject)s"),
    "appraisal.filed": _l("%(actor)s recorded the filed appraisal %(subject)s"),
    "exit.buyback": _l("%(actor)s recorded buy-back exit %(subject)s"),
    "exit.exchange": _l("%(actor)s recorded exchange sale %(subject)s"),
    "exit.trade_sale": _l("%(actor)s recorded trade sale %(subject)s"),
    "exit.ipo_sale": _l("%(actor)s recorded sale after listing %(subject)s"),
    "exit.liquidation": _l("%(actor)s recorded liquidation %(subject)s"),
    "exit.instalment_paid": _l("%(actor)s recorded an instalment paid on exit %(subject)s"),
    "cash_flow.follow_on": _l("%(actor)s recorded follow-on investment %(subject)s"),
    "cash_flow.buyback_proceeds": _l("%(actor)s recorded buy-back proceeds %(subject)s"),
    "cash_flow.exit_proceeds": _l("%(actor)s recorded exit proceeds %(subject)s"),
    "cash_flow.dividend": _l("%(actor)s recorded dividend %(subject)s"),
    "cash_flow.recovery": _l("%(actor)s recorded recovery %(subject)s"),
    "cash_flow.fee": _l("%(actor)s recorded fee %(subject)s"),
    "kpi.requests_created": _l("%(actor)s requested the quarterly KPI reports for %(subject)s"),
    "kpi.answered": _l("%(actor)s recorded KPI report %(subject)s"),
    "index_series.imported": _l("%(actor)s imported index series %(subject)s"),
    "lpr.rate_set": _l("%(actor)s set the LPR of %(subject)s"),
    "calendar.day_set": _l("%(actor)s set calendar day %(subject)s"),
    "calendar.day_removed": _l("%(actor)s removed calendar day %(subject)s"),
    "ic.meeting_created": _l("%(actor)s called IC meeting %(subject)s"),
    "ic.agenda_notes_set": _l("%(actor)s set the agenda notes of IC meeting %(subject)s"),
    "ic.pack_generated": _l("%(actor)s generated the pack of IC meeting %(subject)s"),
    "ic.conflict_declared": _l("%(actor)s declared a conflict of interest at IC meeting "
                               "%(subject)s"),
    "ic.attendance_recorded": _l("%(actor)s recorded attendance at IC meeting %(subject)s"),
    "ic.vote_cast": _l("%(actor)s voted at IC meeting %(subject)s"),
    "ic.decision_recorded": _l("%(actor)s recorded a decision of IC meeting %(subject)s"),
    "ic.minutes_details_set": _l("%(actor)s wrote the minutes of IC meeting %(subject)s"),
    "ic.minutes_signed": _l("%(actor)s signed the minutes of IC meeting %(subject)s"),
    "ic.minutes_reopened": _l("%(actor)s reopened the minutes of IC meeting %(subject)s"),
    "report.quarterly_generated": _l("%(actor)s generated quarterly report %(subject)s"),
    "ledger.exported": _l("%(actor)s made signed ledger export %(subject)s"),
    "ledger.signing_key_added": _l("%(actor)s added ledger signing key %(subject)s"),
    "history.imported": _l("%(actor)s imported history workbook %(subject)s"),
    "history.conversion_accepted": _l("%(actor)s accepted an imported conversion %(subject)s"),
}

# The ledger's filter by kind of action: an action code's first part.
LEDGER_GROUPS = [
    ("auth.", _l("Sign-in and API tokens")), ("user.", _l("Users")), ("fund.", _l("Fund")),
    ("company.", _l("Companies")), ("deal.", _l("Deals")), ("roadshow.", _l("Roadshows")),
    ("policy.", _l("Policies")), ("grant.", _l("Grants")), ("round.", _l("Financing rounds")),
    ("conversion.", _l("Conversions")), ("mark.", _l("Valuation marks")),
    ("appraisal.", _l("Appraisals")), ("exit.", _l("Exits")), ("cash_flow.", _l("Cash flows")),
    ("kpi.", _l("KPI reports")), ("ic.", _l("Investment committee")),
    ("report.", _l("Quarterly reports")), ("lpr.", _l("Reference data")),
    ("calendar.", _l("Working-day calendar")), ("ledger.", _l("Ledger exports")),
    ("history.", _l("History import")),
]


def ledger_sentence(entry, names=None) -> str:
    """A ledger entry's action as a sentence in the reader's language (HTML-safe). `names`
    (compliance.queries.ledger_names, looked up once for a page of entries) turns the actor and
    the subject into names; without it they read as recorded: the e-mail and "#id"."""
    import json

    from markupsafe import Markup, escape

    from fundapp.deals.operations import stage_label

    sentence = LEDGER_SENTENCES.get(entry.action)
    if names is not None:
        actor, subject = names.actor(entry.actor), names.subject(entry.subject_type,
                                                                 entry.subject_id)
    else:
        actor = entry.actor
        subject = f"#{entry.subject_id}" if entry.subject_id not in (None, "") else ""
    if sentence is None:
        return Markup(escape(str(_l("%(actor)s: %(action)s %(subject)s")))) % {
            "actor": actor, "action": entry.action, "subject": subject}
    values = {"actor": actor, "subject": subject, "from": "", "to": ""}
    if entry.action == "deal.stage_changed":
        try:
            payload = json.loads(entry.payload) if isinstance(entry.payload, str) else entry.payload
            values["from"] = stage_label(payload.get("from"))
            values["to"] = stage_label(payload.get("to"))
        except (ValueError, TypeError, AttributeError):
            pass
    return Markup(escape(str(sentence))) % values


# ---------------------------------------------------------------------------- policy parameters
# Each parameter of a policy version (fundapp/fund/policies.py PARAMETERS) as the reader reads it.
POLICY_LABELS = {
    "grant_cap_abs": _l("Largest grant per company"),
    "grant_cap_pct_of_budget": _l("Largest grant as a share of the approved budget"),
    "tranche_split": _l("Tranche split"),
    "project_period_months": _l("Project period (months)"),
    "require_rd_acceptance": _l("R&D acceptance required before conversion"),
    "conversion_window_months": _l("Conversion window (months)"),
    "grace_days": _l("Grace period (days)"),
    "qf_min_abs": _l("Smallest qualified financing"),
    "qf_min_multiple": _l("Qualified financing as a multiple of the grant"),
    "min_lead_share": _l("Smallest lead investor share of the new money"),
    "convert_base": _l("Conversion base"),
    "pre_money_includes_conversion": _l("Pre-money valuation includes the conversion"),
    "discount": _l("Conversion discount"),
    "valuation_cap": _l("Valuation cap"),
    "max_stake": _l("Largest stake of the fund"),
    "registration_days": _l("Days to register the conversion"),
    "default_par_value": _l("Default par value per unit"),
    "buyback_window_years": _l("Buy-back window (years)"),
    "t1_years": _l("Years before the buy-back premium applies"),
    "return_cap": _l("Return cap (multiple)"),
    "state_asset_holding": _l("State-owned asset rules apply"),
    "penalty_rate_multiple": _l("Penalty rate as a multiple of the LPR"),
    "appraisal_validity_months": _l("Appraisal validity (months)"),
    "disclosure_working_days": _l("Disclosure period (working days)"),
    "max_single_company_pct": _l("Largest share of the fund in one company"),
    "min_early_stage_pct": _l("Smallest share of the fund in early-stage companies"),
    "max_holding_years": _l("Longest holding period (years)"),
    "expert_quorum": _l("Expert review quorum"),
    "public_notice_working_days": _l("Public notice period (working days)"),
    "unconverted_grant_carrying": _l("Carrying value of an unconverted grant"),
    "mirr_reinvestment_rate": _l("MIRR reinvestment rate (empty: the LPR)"),
    "instalment_rate": _l("Rate on instalment balances (empty: the LPR)"),
}

# Values of a policy parameter that are codes.
POLICY_VALUE_LABELS = {
    "disbursed": _l("Amount disbursed"), "awarded": _l("Amount awarded"),
    "zero": _l("At zero"), "cost": _l("At cost (disbursed less refunded)"),
}
_MONEY_PARAMETERS = {"grant_cap_abs", "qf_min_abs", "valuation_cap", "default_par_value"}
_FRACTION_PARAMETERS = {"grant_cap_pct_of_budget", "min_lead_share", "discount", "max_stake",
                        "max_single_company_pct", "min_early_stage_pct",
                        "mirr_reinvestment_rate", "instalment_rate"}


def policy_label(name: str) -> str:
    label = POLICY_LABELS.get(name)
    return str(label) if label is not None else name


def _percent(value) -> str:
    number = Decimal(str(value)) * 100
    return f"{number.normalize():f}%"


def policy_value(name: str, value) -> str:
    """A policy value as the reader reads it: Yes/No, money with separators, rates in percent."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_l("Yes") if value else _l("No"))
    if isinstance(value, (list, tuple)):
        return " / ".join(_percent(v) for v in value)
    if name in _MONEY_PARAMETERS:
        return format_money(Decimal(str(value)))
    if name in _FRACTION_PARAMETERS:
        return _percent(value)
    if isinstance(value, str) and value in POLICY_VALUE_LABELS:
        return str(POLICY_VALUE_LABELS[value])
    return str(value)


def clause_text(clause: str | None) -> str:
    """A rule's clause id as shown (R3.d stays R3.d); 'metrics' is the metrics rule book."""
    if clause == "metrics":
        return str(_l("Metrics rules"))
    return clause or ""


# ---------------------------------------------------------------------------- scheduled jobs
JOB_LABELS = {
    "ledger.verify": _l("Ledger chain verification"),
    "deadlines.remind": _l("Deadline reminders"),
    "report.quarterly": _l("Quarterly report and ledger export"),
    "grants.close_expired": _l("Closing grants past their conversion window"),
    "exits.instalments": _l("Exit instalment reminders"),
    "kpi.request": _l("Quarterly KPI requests"),
    "notifications.digest": _l("Daily notification digest"),
    "scheduler.leases": _l("Scheduler lease check"),
}
JOB_OUTCOMES = {"running": _l("Running"), "succeeded": _l("Succeeded"), "ok": _l("Succeeded"),
                "failed": _l("Failed"), "skipped": _l("Skipped")}


def job_label(job_id: str):
    """A scheduled job's name for the reader (lazy: it is rendered in the reader's language)."""
    return JOB_LABELS.get(job_id, job_id)


def job_outcome(outcome: str | None) -> str:
    label = JOB_OUTCOMES.get(outcome or "")
    return str(label) if label is not None else (outcome or "")


def cron_text(cron: dict[str, str] | str) -> str:
    """A job's schedule (cron fields, Asia/Shanghai; or their text "hour=2, minute=30") as a
    sentence."""
    if isinstance(cron, str):
        cron = dict(part.split("=", 1) for part in cron.split(", ") if "=" in part)
    keys = set(cron)
    at = f"{int(cron.get('hour', 0)):02d}:{int(cron.get('minute', 0)):02d}" if (
        str(cron.get("hour", "0")).isdigit() and str(cron.get("minute", "0")).isdigit()) else None
    if at and keys <= {"hour", "minute"}:
        return str(_l("Every day at %(time)s", time=at))
    if at and keys <= {"hour", "minute", "day"} and str(cron.get("day")).isdigit():
        return str(_l("Every month on day %(day)s at %(time)s", day=cron["day"], time=at))
    if at and keys <= {"hour", "minute", "day", "month"} and cron.get("month") == "1,4,7,10" \
            and str(cron.get("day")) == "1":
        return str(_l("On the first day of each quarter at %(time)s", time=at))
    return ", ".join(f"{k}={v}" for k, v in cron.items())


# ---------------------------------------------------------------------------- calculation sheets
# The conversion engine writes each step's formula and the names of its inputs and results in
# English (they are stored with the conversion); the sheet shows them in the reader's language.
# Symbols (G, P, Pc, U_pre, V_pre, ΔU_G, par) are the rule book's own and stay.
SHEET_FORMULAS = {
    "G = disbursed on or before closing - refunds":
        _l("G = disbursed on or before closing - refunds"),
    "G = disbursed on or before the condition-met date - refunds":
        _l("G = disbursed on or before the condition-met date - refunds"),
    "G = awarded amount": _l("G = awarded amount"),
    "P = appraised value / U_pre": _l("P = appraised value / U_pre"),
    "Pc = P x (1 - discount)": _l("Pc = P x (1 - discount)"),
    "Pc = min(Pc, valuation_cap / U_pre)": _l("Pc = min(Pc, valuation cap / U_pre)"),
    "RC increase = ΔU_G x par; capital reserve = converted - RC increase":
        _l("registered capital increase = ΔU_G x par; capital reserve = converted amount - "
           "registered capital increase"),
    "closed_on + registration_days": _l("closing date + days to register"),
    "post = U_pre + investors' units + ΔU_G; stake = ΔU_G / post":
        _l("post-round units = U_pre + investors' units + ΔU_G; stake = ΔU_G / post-round units"),
    "units = cash / P, rounded down": _l("units = cash / P, rounded down"),
    "ΔU_G = G / Pc, rounded down": _l("ΔU_G = G / Pc, rounded down"),
    "ΔU_G >= every other holder's post-round units":
        _l("ΔU_G >= every other holder's post-round units"),
    "converted = ΔU_G x Pc, rounded half-up to fen; remainder stays grant":
        _l("converted amount = ΔU_G x Pc, rounded half-up to the fen; the remainder stays a "
           "grant"),
    "largest ΔU_G with ΔU_G / (U_pre + investors' units + ΔU_G) <= max_stake":
        _l("largest ΔU_G with ΔU_G / (U_pre + investors' units + ΔU_G) <= largest stake"),
    "condition met; appraisal base date + appraisal_validity_months >= met_on":
        _l("condition met; appraisal base date + appraisal validity >= date the condition was "
           "met"),
    "principal x (1 + r x days / 365), rounded half-up to fen":
        _l("principal x (1 + r x days / 365), rounded half-up to the fen"),
    "transfer on or before the t1 anniversary: the principal":
        _l("transfer on or before the end of the T1 period: the principal"),
}
SHEET_KEYS = {
    "awarded_amount": _l("Amount awarded"), "capital_reserve": _l("Capital reserve"),
    "becomes_largest_holder": _l("Fund becomes the largest holder"),
    "cap_table_supplied": _l("Cap table supplied"), "cash": _l("Cash"),
    "closed_on": _l("Closing date"), "convert_base": _l("Conversion base"),
    "converted_amount": _l("Converted amount"), "converting_amount": _l("Converting amount"),
    "disbursed_by_closing": _l("Disbursed by closing"), "discount": _l("Conversion discount"),
    "fund_stake": _l("Fund's stake"), "investors_units": _l("Investors' units"),
    "largest_known_other_holding": _l("Largest other known holding"),
    "needs_ic_resolution": _l("IC resolution needed"),
    "post_round_units": _l("Post-round units"), "refunded_by_closing": _l("Refunded by closing"),
    "registered_capital_increase": _l("Registered capital increase"),
    "registration_days": _l("Days to register the conversion"),
    "registration_due_on": _l("Registration due"), "units": _l("Units"),
    "valuation_cap": _l("Valuation cap"), "remaining_grant_amount": _l("Remaining as grant"),
    "met_on": _l("Condition met on"), "condition": _l("Condition"),
    "appraised_value": _l("Appraised value"), "base_date": _l("Base date"),
    "filing_number": _l("Filing number"), "filed_on": _l("Filed on"),
    "appraisal_validity_months": _l("Appraisal validity (months)"), "basis": _l("Basis"),
    "appraisal_valid_until": _l("Appraisal valid until"), "max_stake": _l("Largest stake"),
    "ΔU_G_uncapped": _l("ΔU_G before the cap"),
    "U_pre_plus_investors": _l("U_pre plus investors' units"),
    "principal": _l("Principal"), "converted_on": _l("Converted on"),
    "transfer_on": _l("Transfer date"), "days_held": _l("Days held"),
    "floor_price": _l("Floor price"), "return_cap": _l("Return cap"),
    "cap_amount": _l("Cap amount"),
}
SHEET_VALUES = {
    "true": _l("Yes"), "false": _l("No"), "unknown": _l("Unknown"),
    "disbursed": _l("Amount disbursed"), "awarded": _l("Amount awarded"),
    "appraisal": _l("Filed appraisal"), "round": _l("Financing round"),
}
_PLAIN_NUMBER = re.compile(r"^-?\d{4,}(\.\d+)?$")


def sheet_formula(formula: str) -> str:
    label = SHEET_FORMULAS.get(formula)
    return str(label) if label is not None else formula


def sheet_key(key: str) -> str:
    label = SHEET_KEYS.get(key)
    return str(label) if label is not None else key


def sheet_value(value) -> str:
    """A stored input or result: numbers with thousands separators, flags and codes as words."""
    text = str(value)
    if text in SHEET_VALUES:
        return str(SHEET_VALUES[text])
    if _PLAIN_NUMBER.match(text):
        places = len(text.split(".", 1)[1]) if "." in text else 0
        return format_money(Decimal(text), places)
    return text


def role_label(role) -> str:
    """A role (or its code) as the reader's word for it."""
    from fundapp.auth.models import Role
    from fundapp.auth.schemas import ROLE_LABELS

    try:
        role = Role(getattr(role, "value", role))
    except ValueError:
        return str(role)
    return str(ROLE_LABELS.get(role, role.value))


def reader_language() -> str:
    """The page's language, for macros imported without the template's context."""
    try:
        return str(get_locale() or "zh")
    except RuntimeError:
        return "en"


def user_text(value) -> str:
    """Text a user typed into a field that has no version per language (a milestone, a filing
    number, an investor's name): shown as typed, marked lang="" (language unknown) so that
    neither a reader's tools nor tests/test_language_crawl.py take it for the page's language."""
    from markupsafe import Markup

    if value is None or value == "":
        return ""
    return Markup('<span lang="">%s</span>') % value
