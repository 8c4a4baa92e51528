"""Replays the workbook's facts in the order they happened, through the fund's own operations.

Every fact is one row (a grant's tranches, a round's investors and holders travel with it). They
are sorted by the day they happened, then by the sheet's place in the life of a deal, then by the
row, and each is applied inside a savepoint: a refused fact becomes a problem at its sheet / row /
column and the others still run, so the dry run shows every problem at once.
"""

from __future__ import annotations

import functools
import inspect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.errors import AppError, RuleRefused, ValidationFailed
from fundapp.history_import.parser import Problem, Row, Workbook
from fundapp.history_import.sheets import BY_KEY, CRITERIA
from fundapp.unit_of_work import release_savepoint

EARLIEST = date(1900, 1, 1)
PROGRESS_EVERY = 50
STAKE = Decimal("0.0001")


@dataclass
class Difference:
    """A historical conversion whose recorded figures differ from the engine's."""

    row: int
    grant: str
    field: str
    recorded: Decimal
    computed: Decimal
    conversion_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "grant": self.grant, "field": self.field,
                "recorded": str(self.recorded), "computed": str(self.computed)}


@dataclass
class Replay:
    problems: list[Problem] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Skip(Exception):
    """A row that depends on a row that could not be applied; its problem is already said."""


def at(day: date) -> datetime:
    """A fact of `day` as a moment: 02:00 UTC, 10:00 in Shanghai, the same day there."""
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def dated(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an operation with the day a fact happened, where it takes one (`on`, `decided_on`,
    `reviewed_on`, the rules in force on that day apply); an operation that takes none is called
    without."""
    accepted = _parameters(function)
    return function(*args, **{k: v for k, v in kwargs.items()
                              if k in accepted or k not in DAY_KEYWORDS})


DAY_KEYWORDS = {"on", "decided_on", "reviewed_on"}


@functools.cache
def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    """The names an operation accepts, read once per operation (not once per row)."""
    return frozenset(inspect.signature(function).parameters)


def fact_day(row: Row) -> date:
    v = row.values
    return {
        "companies": None, "roadshows": None,
        "deals": v.get("created_on"), "scores": None, "stages": v.get("on"),
        "grants": v.get("signed_on"), "reviews": v.get("reviewed_on"),
        "disbursements": v.get("paid_on"), "refunds": v.get("refunded_on"),
        "grant_events": v.get("on"), "rounds": v.get("closed_on"), "conversions": None,
        "holdings": v.get("invested_on"), "marks": v.get("measured_on"),
        "exits": v.get("transfer_on"), "cash_flows": v.get("on"),
        "kpis": v.get("answered_on"),
    }.get(row.sheet) or EARLIEST


class Planner:
    def __init__(self, session: Session, book: Workbook, *, actor: str,
                 progress: Callable[[int, int], None] | None = None,
                 accept: tuple[str, str] | None = None, sha256: str = ""):
        self.session, self.book, self.actor = session, book, actor
        self.accept, self.sha256 = accept, sha256
        self.progress = progress
        self.out = Replay()
        self.refs: dict[str, dict[str, int]] = defaultdict(dict)  # kind -> ref -> id
        self.ref_of: dict[str, dict[int, str]] = defaultdict(dict)  # kind -> id -> first ref
        # (roadshow id, company id) known to have a slot; those the row being applied found or
        # added are kept only when its savepoint is released.
        self.slots: set[tuple[int, int]] = set()
        self.row_slots: set[tuple[int, int]] = set()
        self.failed: set[tuple[str, str]] = set()  # (kind, ref) whose row was refused
        # (roadshow id, judge) -> panel member id; those the row being applied added are kept
        # only when its savepoint is released (a refused row's member is rolled back with it).
        self.panel: dict[tuple[int, str], int] = {}
        self.row_panel: dict[tuple[int, str], int] = {}
        rows = book.rows
        self.tranches = self._group(rows.get("tranches", []), "grant")
        self.investors = self._group(rows.get("investors", []), "round")
        self.holders = self._group(rows.get("holders", []), "round")
        self.scores = defaultdict(list)
        for row in rows.get("scores", []):
            self.scores[(row.values.get("roadshow"), row.values.get("company"))].append(row)
        self.round_days = {r.values.get("ref"): r.values.get("closed_on")
                           for r in rows.get("rounds", []) if not r.bad}
        self.roadshow_days = {r.values.get("ref"): r.values.get("held_on")
                              for r in rows.get("roadshows", []) if not r.bad}

    @staticmethod
    def _group(rows: list[Row], key: str) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            out[row.values.get(key, "")].append(row)
        return out

    # ------------------------------------------------------------------ driving

    def facts(self) -> list[Row]:
        grouped = {"tranches", "investors", "holders"}
        facts = [row for key, rows in self.book.rows.items() if key not in grouped
                 for row in rows]
        for row in facts:
            if row.sheet == "conversions":  # converted at the round's closing
                row.values.setdefault("_day", self.round_days.get(row.values.get("round")))
            if row.sheet == "scores":  # judged at the roadshow
                row.values.setdefault("_day", self.roadshow_days.get(row.values.get("roadshow")))
        return sorted(facts, key=lambda r: (r.values.get("_day") or fact_day(r),
                                            BY_KEY[r.sheet].order, r.sheet, r.number))

    def run(self) -> Replay:
        facts = self.facts()
        total = len(facts)
        for done, row in enumerate(facts, start=1):
            self.apply(row)
            if self.progress and (done % PROGRESS_EVERY == 0 or done == total):
                self.progress(done, total)
        return self.out

    def apply(self, row: Row) -> None:
        own = self._own_ref(row)
        bad = row.bad or any(r.bad for r in self._members(row))
        if bad:
            if own:
                self.failed.add(own)
            return
        handler = getattr(self, f"do_{row.sheet}")
        self.row_slots, self.row_panel = set(), {}
        savepoint = self.session.begin_nested()
        try:
            handler(row, row.values)
        except Skip:
            savepoint.rollback()
            if own:
                self.failed.add(own)
            return
        except AppError as exc:
            savepoint.rollback()
            self._problems_of(row, exc)
            if own:
                self.failed.add(own)
            return
        release_savepoint(savepoint)
        self.slots |= self.row_slots
        self.panel.update(self.row_panel)
        self.out.created[row.sheet] += 1

    def _members(self, row: Row) -> list[Row]:
        if row.sheet == "grants":
            return self.tranches.get(row.values.get("ref"), [])
        if row.sheet == "rounds":
            ref = row.values.get("ref")
            return self.investors.get(ref, []) + self.holders.get(ref, [])
        return []

    @staticmethod
    def _own_ref(row: Row) -> tuple[str, str] | None:
        kinds = {"companies": "company", "roadshows": "roadshow", "deals": "deal",
                 "grants": "grant", "rounds": "round", "holdings": "holding",
                 "conversions": "holding"}
        kind = kinds.get(row.sheet)
        if kind is None:
            return None
        return kind, row.values.get("grant" if row.sheet == "conversions" else "ref", "")

    def _problems_of(self, row: Row, exc: AppError) -> None:
        columns = {c.key for c in BY_KEY[row.sheet].columns}
        aliases = {"deal_id": "deal", "company_id": "company", "holding_id": "holding",
                   "grant_id": "grant", "round_id": "round", "on": "on", "changed_at": "on",
                   "accepted_on": "on", "breach_on": "on", "closed_on": "on",
                   "ic_resolution_ref": "ic_resolution_ref", "tranches": "amount",
                   "override_ic_ref": "r10_ic_ref", "value_amount": "appraisal_value_amount",
                   "base_on": "appraisal_base_on", "filing_no": "appraisal_filing_no",
                   "filed_on": "appraisal_filed_on", "reference": "reference"}
        if isinstance(exc, ValidationFailed) and exc.details:
            for name, messages in exc.details.items():
                column = name if name in columns else aliases.get(name, "")
                column = column if column in columns else ""
                for message in _flat(messages):
                    self._problem(row, column, message)
            return
        message = str(exc.message)
        rule = exc.details.get("rule") if isinstance(exc, RuleRefused) else None
        if rule and not message.startswith(f"{rule}"):
            message = f"{rule}: {message}"
        field_name = exc.details.get("field") if isinstance(exc.details, dict) else None
        column = field_name if field_name in columns else aliases.get(str(field_name), "")
        self._problem(row, column if column in columns else "", message)

    def _problem(self, row: Row, column: str, message: Any) -> None:
        self.out.problems.append(Problem(row.sheet, row.number, column, str(message)))

    def ref(self, row: Row, kind: str, column: str) -> int:
        """The id made for a reference of this workbook, or a problem and Skip."""
        value = row.values.get(column, "")
        if (kind, value) in self.failed:
            self._problem(row, column, _l("%(ref)s could not be imported (see its own row).",
                                          ref=value))
            raise Skip
        ident = self.refs[kind].get(value)
        if ident is None:
            self._problem(row, column, _l("No row of this workbook has the reference %(ref)s.",
                                          ref=value))
            raise Skip
        return ident

    def holding_id(self, row: Row, column: str = "holding") -> int:
        """A holding: a direct one by its ref, a converted one by its grant's ref."""
        return self.ref(row, "holding", column)

    # ------------------------------------------------------------------ the facts

    def do_companies(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals import operations as deals
        from fundapp.deals.models import LegalForm

        company = deals.create_company(
            self.session, actor=self.actor, legal_name=v["legal_name"], sector=v["sector"],
            name_en=v.get("name_en", ""), uscc=v.get("uscc") or None,
            district=v.get("district", ""), legal_form=LegalForm(v.get("legal_form", "llc")),
            registered_capital_amount=v.get("registered_capital_amount"),
            founded_on=v.get("founded_on"))
        self._remember(row, "company", v["ref"], company.id)

    def _remember(self, row: Row, kind: str, ref: str, ident: int) -> None:
        if ref in self.refs[kind]:
            self._problem(row, "ref", _l("The reference %(ref)s is used twice.", ref=ref))
            raise Skip
        self.refs[kind][ref] = ident
        self.ref_of[kind].setdefault(ident, ref)

    def do_roadshows(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals import roadshows

        show = roadshows.create_roadshow(self.session, actor=self.actor, name=v["name"],
                                         held_on=v["held_on"], venue=v.get("venue", ""),
                                         organiser=v.get("organiser", ""))
        self._remember(row, "roadshow", v["ref"], show.id)

    def _slot(self, roadshow_id: int, company_id: int) -> None:
        """The company pitches at the roadshow: a slot is added unless it has one already (slots
        are never removed, so one seen by an applied row is not looked up again)."""
        from fundapp.deals import roadshows
        from fundapp.deals.models import Company, Roadshow, RoadshowSlot

        key = (roadshow_id, company_id)
        if key in self.slots:
            return
        if self.session.scalar(select(RoadshowSlot.id).where(
                RoadshowSlot.roadshow_id == roadshow_id,
                RoadshowSlot.company_id == company_id)) is None:
            roadshows.add_slot(self.session, self.session.get(Roadshow, roadshow_id),
                               self.session.get(Company, company_id), actor=self.actor)
        self.row_slots.add(key)

    def do_deals(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals import operations as deals

        company_id = self.ref(row, "company", "company")
        roadshow_id = self.ref(row, "roadshow", "roadshow") if v.get("roadshow") else None
        if roadshow_id:
            self._slot(roadshow_id, company_id)
        deal = deals.create_deal(self.session, actor=self.actor, company_id=company_id,
                                 project_name=v["project_name"],
                                 requested_grant_amount=v["requested_grant_amount"],
                                 approved_budget_amount=v["approved_budget_amount"],
                                 roadshow_id=roadshow_id, now=at(v["created_on"]))
        self._remember(row, "deal", v["ref"], deal.id)

    def do_scores(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals import roadshows
        from fundapp.deals.models import Roadshow

        roadshow_id = self.ref(row, "roadshow", "roadshow")
        company_id = self.ref(row, "company", "company")
        self._slot(roadshow_id, company_id)
        show = self.session.get(Roadshow, roadshow_id)
        member_id = self.panel.get((roadshow_id, v["judge"]))
        if member_id is None:
            member = roadshows.add_panel_member(self.session, show, actor=self.actor,
                                                name=v["judge"],
                                                affiliation=v.get("affiliation", ""))
            member_id = self.row_panel[(roadshow_id, v["judge"])] = member.id
        conflict = bool(v.get("has_conflict"))
        scores = None if conflict else {c: v[c] for c in CRITERIA if c in v}
        roadshows.record_score_sheet(self.session, show, panel_member_id=member_id,
                                     company_id=company_id, scores=scores, has_conflict=conflict,
                                     comment=v.get("comment", ""), actor=self.actor,
                                     now=at(show.held_on))

    def do_stages(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals import operations as deals
        from fundapp.deals.models import Deal, DealStage

        deal = self.session.get(Deal, self.ref(row, "deal", "deal"))
        stage = DealStage(v["stage"])
        moment = at(v["on"])
        if stage is DealStage.DUE_DILIGENCE and deal.roadshow_id:
            self._expert_reviews(deal, moment)
        if stage is DealStage.PUBLIC_NOTICE and v.get("ic_reference") \
                and not deal.ic_decision_ref:
            dated(deals.record_ic_decision, self.session, deal, v["ic_reference"],
                  actor=self.actor, decided_on=v["on"])
        dated(deals.advance_deal, self.session, deal, stage, actor=self.actor,
              reason=v.get("reason", ""), now=moment, on=v["on"])

    def _expert_reviews(self, deal: Any, moment: datetime) -> None:
        """The judges who approved at the roadshow (scores sheet) review before due diligence."""
        from fundapp.deals import operations as deals

        roadshow_ref = self.ref_of["roadshow"].get(deal.roadshow_id)
        company_ref = self.ref_of["company"].get(deal.company_id)
        for score in self.scores.get((roadshow_ref, company_ref), []):
            s = score.values
            member_id = self.panel.get((deal.roadshow_id, s.get("judge")))
            if score.bad or member_id is None or s.get("has_conflict") or "approves" not in s:
                continue
            dated(deals.record_expert_review, self.session, deal, panel_member_id=member_id,
                  is_approved=bool(s["approves"]), comment=s.get("comment", ""),
                  actor=self.actor, now=moment, reviewed_on=moment.date())

    def do_grants(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.grants import operations as grants

        deal_id = self.ref(row, "deal", "deal")
        tranches = sorted(self.tranches.get(v["ref"], []), key=lambda r: r.values["position"])
        grant = grants.create_grant(
            self.session, deal_id=deal_id, awarded_amount=v["awarded_amount"],
            signed_on=v["signed_on"], holder_entity=v["holder_entity"],
            tranches=[{"amount": t.values["amount"],
                       "milestone": t.values.get("milestone", "")} for t in tranches] or None,
            agreement_no=v.get("agreement_no", ""), r10_ic_ref=v.get("r10_ic_ref", ""),
            actor=self.actor)
        self._remember(row, "grant", v["ref"], grant.id)

    def _grant(self, row: Row) -> Any:
        from fundapp.portfolio.grants.models import Grant

        return self.session.get(Grant, self.ref(row, "grant", "grant"))

    def do_reviews(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.grants import operations as grants

        grants.record_milestone_review(self.session, self._grant(row), tranche=v["tranche"],
                                       is_passed=v["is_passed"], reviewer=v["reviewer"],
                                       reviewed_on=v["reviewed_on"],
                                       evidence=v.get("evidence", ""), actor=self.actor)

    def do_disbursements(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.grants import operations as grants

        grants.disburse(self.session, self._grant(row), tranche=v["tranche"],
                        paid_on=v["paid_on"], amount=v.get("amount"), actor=self.actor)

    def do_refunds(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.grants import operations as grants

        grants.record_refund(self.session, self._grant(row), amount=v["amount"],
                             refunded_on=v["refunded_on"], reason=v.get("reason", ""),
                             actor=self.actor)

    def do_grant_events(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.grants import operations as grants

        grant = self._grant(row)
        event, on = v["event"], v["on"]
        if event == "rd_accepted":
            grants.accept_rd(self.session, grant, accepted_on=on,
                             reference=v.get("reference", ""), actor=self.actor)
        elif event == "breach":
            grants.declare_breach(self.session, grant, breach_on=on,
                                  reason=v.get("reason", ""),
                                  repaid_on=v.get("repaid_on") or on, actor=self.actor)
        elif event == "closed_tolerance":
            grants.close_with_tolerance(self.session, grant, closed_on=on,
                                        ic_resolution_ref=v.get("reference", ""),
                                        note=v.get("reason", ""), actor=self.actor)
        else:
            from fundapp.portfolio.grants.models import GrantStatus

            # One sweep closes every grant due that day; a later row of the same sweep finds
            # its grant closed already.
            grants.close_expired_grants(self.session, on, actor=self.actor)
            self.session.refresh(grant)
            if grant.status != GrantStatus.CLOSED:
                self._problem(row, "on", _l("The grant does not close by itself on this day "
                                            "(R8.a: accepted R&D and its grace period over)."))
                raise Skip

    def do_rounds(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.deals.models import Company
        from fundapp.portfolio.rounds import operations as rounds

        company = self.session.get(Company, self.ref(row, "company", "company"))
        ref = v["ref"]
        data = {"name": v["name"], "kind": v["kind"], "closed_on": v["closed_on"],
                "definitive_agreement_signed_on": v.get("definitive_agreement_signed_on"),
                "pre_money_valuation_amount": v["pre_money_valuation_amount"],
                "units_before": v["units_before"], "lead": v.get("lead") or None,
                "investors": [{"name": i.values["name"], "cash_amount": i.values["cash_amount"],
                               "is_independent": i.values["is_independent"]}
                              for i in self.investors.get(ref, [])],
                "holders_before": [{"holder": h.values["holder"], "units": h.values["units"]}
                                   for h in self.holders.get(ref, [])]}
        made = rounds.record_round(self.session, company, data, actor=self.actor)
        self._remember(row, "round", ref, made.id)

    def do_conversions(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.conversion import operations as conversion
        from fundapp.portfolio.holdings.models import Holding

        grant = self._grant(row)
        round_id = self.ref(row, "round", "round")
        made = conversion.convert_grant(self.session, grant.id, round_id=round_id,
                                        ic_resolution_ref=v.get("ic_resolution_ref", ""),
                                        actor=self.actor)
        stake = Decimal(v["stake_percent"]).quantize(STAKE, rounding=ROUND_HALF_UP)
        differences = [Difference(row.number, v["grant"], name, recorded, computed, made.id)
                       for name, recorded, computed in (
                           ("converted_amount", v["converted_amount"], made.converted_amount),
                           ("fund_units", v["fund_units"], made.fund_units),
                           ("stake_percent", stake, made.stake_percent))
                       if recorded != computed]
        self.out.differences += differences
        if differences and self.accept:
            from fundapp.history_import.operations import accept_recorded

            accept_recorded(self.session, differences, reason=self.accept[0],
                            ic_reference=self.accept[1], sha256=self.sha256, actor=self.actor)
        if v.get("registered_on"):
            conversion.record_registration(self.session, grant, registered_on=v["registered_on"],
                                           actor=self.actor)
        holding = self.session.scalar(select(Holding.id).where(
            Holding.conversion_id == made.id))
        self.refs["holding"][v["grant"]] = holding

    def do_holdings(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.holdings import operations as holdings

        ref = v["ref"]
        existing = self.refs["holding"].get(ref)
        company_id = None if existing else self.ref(row, "company", "company")
        flow = holdings.record_follow_on(self.session, on=v["invested_on"], amount=v["amount"],
                                         units=v["units"], holding_id=existing,
                                         company_id=company_id,
                                         holder_entity=v.get("holder_entity", ""),
                                         reference=v.get("reference", ""), actor=self.actor)
        self.refs["holding"][ref] = flow.holding_id

    def _holding(self, row: Row) -> Any:
        from fundapp.portfolio.holdings.models import Holding

        return self.session.get(Holding, self.holding_id(row))

    def do_marks(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.holdings import operations as holdings
        from fundapp.portfolio.holdings.models import MarkMethod

        mark = holdings.record_mark(self.session, self._holding(row),
                                    measured_on=v["measured_on"],
                                    method=MarkMethod(v["method"]),
                                    value_per_unit=v["value_per_unit"],
                                    inputs={"source": "history import"}, actor=v["author"])
        if v.get("approver"):
            holdings.finalise_mark(self.session, mark, actor=v["approver"])

    def do_exits(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.exits.models import ExitKind
        from fundapp.portfolio.exits.operations import record_exit
        from fundapp.portfolio.holdings import operations as holdings

        holding = self._holding(row)
        terms: dict[str, Any] = {k: v[k] for k in (
            "disclosure_start_on", "disclosure_end_on", "reserve_price_amount",
            "down_payment_amount", "balance_due_on") if v.get(k) is not None}
        if v.get("appraisal_value_amount") is not None:
            appraisal = holdings.record_appraisal(
                self.session, holding, base_on=v.get("appraisal_base_on") or v["transfer_on"],
                units=v["units"], value_amount=v["appraisal_value_amount"],
                filing_no=v.get("appraisal_filing_no", ""),
                filed_on=v.get("appraisal_filed_on") or v["transfer_on"],
                appraiser=v.get("appraiser", ""), actor=self.actor)
            terms["appraisal_id"] = appraisal.id
        record_exit(self.session, holding, kind=ExitKind(v["kind"]),
                    transfer_on=v["transfer_on"], units=v["units"],
                    price_amount=v["price_amount"], buyer=v.get("buyer", ""), actor=self.actor,
                    confirm_unusual_price=True, **terms)

    def do_cash_flows(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.holdings import operations as holdings
        from fundapp.portfolio.holdings.models import FlowKind

        holdings.record_income(self.session, kind=FlowKind(v["kind"]), on=v["on"],
                               amount=v["amount"],
                               holding_id=self.holding_id(row) if v.get("holding") else None,
                               grant_id=self.ref(row, "grant", "grant") if v.get("grant")
                               else None, reference=v.get("reference", ""), actor=self.actor)

    def do_kpis(self, row: Row, v: dict[str, Any]) -> None:
        from fundapp.portfolio.kpis import operations as kpis
        from fundapp.portfolio.kpis.models import KpiReport

        company_id = self.ref(row, "company", "company")
        start, end = kpis.quarter_bounds(v["quarter"])

        def report() -> Any:
            return self.session.scalar(select(KpiReport).where(
                KpiReport.company_id == company_id, KpiReport.quarter == v["quarter"]))

        found = report()
        if found is None:
            kpis.request_quarterly_kpis(self.session, v["quarter"], start, end,
                                        requested_on=min(end + timedelta(days=1),
                                                         v["answered_on"]),
                                        actor=self.actor)
            found = report()
        if found is None:
            self._problem(row, "company", _l("The company is not in the portfolio in %(quarter)s.",
                                             quarter=v["quarter"]))
            raise Skip
        kpis.record_kpi_answer(self.session, found, {
            name: v[name] for name in ("revenue_amount", "rd_spend_amount", "headcount",
                                       "pct_applications", "value_added_amount")},
            answered_on=v["answered_on"], actor=self.actor, source="import")


def _flat(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flat(v)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _flat(v)]
    return [str(value)]
