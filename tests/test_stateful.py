"""Random sequences of operations keep money and equity whole (issue 11).

A hypothesis state machine drives the portfolio's operations (not HTTP): sign grant agreements,
review milestones and accept the R&D, disburse tranches (valid and invalid amounts), refund,
record financing rounds (qualifying or not), convert, draft and finalise valuation marks, invest
again, sell (buy-back, trade sale, IPO sale, liquidation; partial, full and over-selling) and
close grants (R8.a job, R8.b tolerance, R8.c breach). Every step is one unit of work
(`unit_of_work.transaction()`, as a CLI command or a job runs). After every step the invariants
of tests/stateful_support.py hold. Around every step: a refused step (AppError) leaves every row
of every table as it was; an accepted step that changes a row adds a ledger entry; input the
rules must refuse (amounts <= 0, more than the award, the tranche or the units held, a day after
today in Shanghai or before the thing existed, a second conversion, a closed grant or holding,
...) is refused; the database's own CHECK constraints never have to refuse what an operation let
through.

Each example starts from a fresh database cloned from the run's template. SQLite runs the full
budget; PostgreSQL a smaller one (each example clones a database there). Run with -s to see the
number of steps and what each operation did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fundapp.dates import shanghai_today
from fundapp.errors import AppError
from fundapp.extensions import db
from fundapp.portfolio.common import get_company
from fundapp.portfolio.conversion.operations import convert_grant
from fundapp.portfolio.exits.models import ExitKind
from fundapp.portfolio.exits.operations import record_exit
from fundapp.portfolio.grants.models import (
    OPEN_STATUSES,
    Grant,
    GrantDisbursement,
    GrantRefund,
    GrantStatus,
    Tranche,
    TrancheStatus,
)
from fundapp.portfolio.grants.operations import (
    accept_rd,
    close_expired_grants,
    close_with_tolerance,
    create_grant,
    declare_breach,
    disburse,
    get_grant,
    record_milestone_review,
    record_refund,
)
from fundapp.portfolio.holdings.models import (
    Holding,
    HoldingStatus,
    MarkMethod,
    MarkStatus,
    ValuationMark,
)
from fundapp.portfolio.holdings.operations import (
    finalise_mark,
    get_holding,
    get_mark,
    record_follow_on,
    record_mark,
)
from fundapp.portfolio.rounds.operations import record_round
from fundapp.unit_of_work import transaction
from tests.stateful_support import (
    LEDGER_TABLES,
    FreshDatabase,
    changed_tables,
    check_invariants,
    seed,
    signed_deal,
    snapshot,
)

D = Decimal
FEN = D("0.01")
ZERO = D("0.00")
TOMORROW = "tomorrow"
AWARD_CAP = D("5000000.00")  # R2.a grant_cap_abs of the default policy
MAX_GRANTS = 4

# Days after the last accepted day of the grant or holding; "tomorrow" is after today.
WHEN = st.integers(-3, 33).map(lambda n: TOMORROW if n > 30 else n)
PICK = st.integers(0, 7)  # which grant, round or holding (modulo how many there are)
AMONG = st.sampled_from(["fit", "fit", "fit", "any"])  # among those the rule fits, or any
MAX_ROUNDS = 4

# The machine found that a refund on a converted grant changed what had converted (R4.a);
# record_refund now refuses it (test_a_refund_cannot_change_a_recorded_conversion below), so the
# machine tries refunds on converted grants too.
REFUNDS_AFTER_CONVERSION_CHECKED = True

# (examples, steps per example). SQLite: about a minute on a busy 2-core machine. PostgreSQL
# clones a database per example (CREATE DATABASE ... TEMPLATE), so it runs fewer.
BUDGET = {"sqlite": (16, 30), "postgresql": (3, 20)}


def say(text: str) -> None:
    """A line of the falsifying example hypothesis prints (nothing outside a hypothesis run)."""
    if currently_in_test_context():
        note(text)


def money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_DOWN)


class PortfolioMachine(RuleBasedStateMachine):
    def __init__(self, fresh: FreshDatabase, stats: Counter) -> None:
        super().__init__()
        fresh.reset()
        self.stats = stats
        stats["examples", "run"] += 1
        self.today = shanghai_today()
        self.companies = seed()
        self.grants: list[int] = []
        self.rounds: list[int] = []
        self.holdings: list[int] = []
        self.grant_company: dict[int, int] = {}
        self.round_company: dict[int, int] = {}
        # The latest day something was accepted on a grant or a holding: the next dates follow it.
        self.grant_day: dict[int, date] = {}
        self.holding_day: dict[int, date] = {}
        self.last_snapshot: dict[str, str] | None = None  # the database after the last step
        self.view: dict[str, list[int]] = {}  # which grants and holdings each rule fits
        self.refresh_view()

    def teardown(self) -> None:
        db.session.remove()

    # ------------------------------------------------------------------ one unit of work

    def attempt(self, name: str, action: Callable[[], Any], *, must_refuse: str = "") -> Any:
        """Run one operation in its own unit of work; a refusal must change nothing at all.

        Returns the operation's result (True for None) when accepted, None when refused."""
        session = db.session
        before = self.last_snapshot or snapshot(session)
        self.last_snapshot = None
        try:
            with transaction():
                result = action()
        except AppError as exc:
            after = snapshot(session)
            changed = changed_tables(before, after)
            assert not changed, (f"{name} was refused ({exc.code}: {exc.message}) but changed "
                                 f"{changed}")
            self.last_snapshot = after
            self.stats[name, "refused"] += 1
            say(f"  {name} refused: {exc.code} {exc.message} {exc.details}")
            return None
        except IntegrityError as exc:
            raise AssertionError(f"{name}: the database refused what the operation let through: "
                                 f"{exc.orig}") from None
        after = snapshot(session)
        changed = changed_tables(before, after)
        assert not must_refuse, f"{name} was accepted although {must_refuse}"
        if set(changed) - LEDGER_TABLES:
            assert LEDGER_TABLES & set(changed), f"{name} changed {changed} without a ledger entry"
        self.last_snapshot = after
        self.stats[name, "accepted"] += 1
        say(f"  {name} accepted")
        return True if result is None else result

    def day(self, base: date, when: int | str) -> date:
        return self.today + timedelta(days=1) if when == TOMORROW else base + timedelta(days=when)

    def date_problem(self, day: date, earliest: date) -> str:
        if day > self.today:
            return f"it is dated {day}, after today {self.today}"
        if day < earliest:
            return f"it is dated {day}, before {earliest}"
        return ""

    def refresh_view(self) -> None:
        """Sort the grants and holdings by what can happen to them now (plain SELECTs), so that
        most steps pick one a rule fits and some pick any (to be refused)."""
        conn = db.session.connection()
        grants = conn.execute(select(Grant.id, Grant.status).order_by(Grant.id)).all()
        held: Counter = Counter()
        for grant_id, amount in conn.execute(select(GrantDisbursement.grant_id,
                                                    GrantDisbursement.amount)):
            held[grant_id] += amount
        for grant_id, amount in conn.execute(select(GrantRefund.grant_id, GrantRefund.amount)):
            held[grant_id] -= amount
        holdings = conn.execute(select(Holding.id, Holding.status).order_by(Holding.id)).all()
        db.session.rollback()
        self.view = {
            "grant": [g for g, _ in grants],
            "open grant": [g for g, status in grants if status in OPEN_STATUSES],
            "grant holding money": [g for g, _ in grants if held[g] > 0],
            "refundable grant": [g for g, status in grants
                                 if REFUNDS_AFTER_CONVERSION_CHECKED
                                 or status != GrantStatus.CONVERTED],
            "accepted grant": [g for g, status in grants if status == GrantStatus.RD_ACCEPTED],
            "holding": [h for h, _ in holdings],
            "active holding": [h for h, status in holdings if status == HoldingStatus.ACTIVE]}

    def choose(self, fit: str, pick: int, among: str) -> int:
        """The pick-th grant or holding of those the rule fits, or (among="any") of all."""
        everything = self.view["holding" if fit.endswith("holding") else "grant"]
        pool = self.view[fit] if among == "fit" and self.view[fit] else everything
        return pool[pick % len(pool)]

    def grant_facts(self, grant_id: int) -> dict[str, Any]:
        """The grant as it stands, read in plain SELECTs (not through the operations)."""
        conn = db.session.connection()
        awarded, status, signed_on = conn.execute(select(
            Grant.awarded_amount, Grant.status, Grant.signed_on).where(Grant.id == grant_id)).one()
        paid: Counter = Counter()
        for tranche_id, amount in conn.execute(select(
                GrantDisbursement.tranche_id, GrantDisbursement.amount)
                .where(GrantDisbursement.grant_id == grant_id)):
            paid[tranche_id] += amount
        refunded = sum(conn.execute(select(GrantRefund.amount)
                                    .where(GrantRefund.grant_id == grant_id)).scalars(), ZERO)
        tranches, pending = {}, []
        for tranche_id, position, amount, tranche_status in conn.execute(select(
                Tranche.id, Tranche.position, Tranche.amount, Tranche.status)
                .where(Tranche.grant_id == grant_id).order_by(Tranche.position)):
            tranches[position] = (amount, paid.get(tranche_id, ZERO))
            if tranche_status == TrancheStatus.PENDING:
                pending.append(position)
        db.session.rollback()  # read only: the unit of work starts clean
        return {"awarded": awarded, "status": status, "signed_on": signed_on,
                "disbursed": sum(paid.values(), ZERO), "refunded": refunded,
                "tranches": tranches, "pending": pending, "is_open": status in OPEN_STATUSES}

    def holding_facts(self, holding_id: int) -> dict[str, Any]:
        units, cost, status, acquired_on = db.session.connection().execute(select(
            Holding.units, Holding.cost_amount, Holding.status, Holding.acquired_on)
            .where(Holding.id == holding_id)).one()
        marks = db.session.connection().execute(select(ValuationMark.id, ValuationMark.status)
                                                .where(ValuationMark.holding_id == holding_id)
                                                .order_by(ValuationMark.id)).all()
        db.session.rollback()
        return {"units": units, "cost": cost, "status": status, "acquired_on": acquired_on,
                "marks": marks}

    # ------------------------------------------------------------------ grants

    @initialize(company=st.integers(0, 1), age=st.sampled_from([1300, 900, 600, 600]),
                award=st.sampled_from(["3000000.00", "5000000.00", "1000000.00"]),
                pay_first=st.booleans(), when=WHEN)
    def first_grant(self, company: int, age: int, award: str, pay_first: bool,
                    when: int | str) -> None:
        """Every example starts with a signed agreement, its first tranche maybe paid."""
        self.sign_grant(company, age, award)
        self.refresh_view()
        if self.grants and pay_first:
            self.disburse(0, "fit", "next", "rest", when)

    @initialize(company=st.integers(0, 1), award=st.sampled_from(["3000000.00", "5000000.00"]),
                variant=st.sampled_from(["qualifying", "stake_capped", "no_holders"]),
                tranches=st.integers(1, 2))
    def converted_grant(self, company: int, award: str, variant: str, tranches: int) -> None:
        """Every example also starts with a grant taken to conversion through the operations
        (paid, R&D accepted, a round recorded, converted), so that most examples have a holding
        to value and sell: random steps alone rarely get that far within the step budget."""
        self.sign_grant(company, 900, award)
        grant_id = self.grants[-1]
        for tranche in range(1, tranches + 1):
            day = self.grant_day[grant_id] + timedelta(days=60)
            if tranche > 1:
                self.attempt("review (milestone)", lambda t=tranche, d=day: (
                    record_milestone_review(db.session, get_grant(db.session, grant_id),
                                            tranche=t, is_passed=True, reviewer="专家组",
                                            reviewed_on=d, actor="manager")))
            self.attempt("disburse", lambda t=tranche, d=day: disburse(
                db.session, get_grant(db.session, grant_id), tranche=t, paid_on=d,
                actor="manager"))
            self.grant_day[grant_id] = day
        accepted_on = self.grant_day[grant_id] + timedelta(days=200)
        self.attempt("review (R&D acceptance)", lambda: accept_rd(
            db.session, get_grant(db.session, grant_id), accepted_on=accepted_on,
            reference="验收-01", actor="manager"))
        self.grant_day[grant_id] = accepted_on
        self.refresh_view()
        self.record_round(self.view["open grant"].index(grant_id), variant, 30)
        self.refresh_view()
        assert grant_id in self.view["accepted grant"], "a valid payment or acceptance was refused"
        self.convert(self.view["accepted grant"].index(grant_id), "fit", "its company's latest",
                     0, True)
        self.refresh_view()

    @precondition(lambda self: len(self.view["open grant"]) < 2 and len(self.grants) < MAX_GRANTS)
    @rule(company=st.integers(0, 1), age=st.sampled_from([1300, 900, 600, 600]),
          award=st.sampled_from(["3000000.00", "5000000.00", "1000000.00", "5000000.01",
                                 "0.00"]))
    def sign_grant(self, company: int, age: int, award: str) -> None:
        deal_id = signed_deal(self.companies[company])  # test data: a deal the pipeline signed
        self.last_snapshot = None
        signed_on = self.today - timedelta(days=age)
        amount = D(award)
        grant_id = self.attempt("sign_grant", lambda: create_grant(
            db.session, deal_id=deal_id, awarded_amount=amount, signed_on=signed_on,
            holder_entity="区科创投资平台", approved_budget_amount=D("10000000.00"),
            actor="manager").id,
            must_refuse="the award is not above 0" if amount <= 0 else
            "the award is above the R2.a cap" if amount > AWARD_CAP else "")
        if grant_id is not None:
            self.grants.append(grant_id)
            self.grant_day[grant_id] = signed_on
            self.grant_company[grant_id] = self.companies[company]

    @precondition(lambda self: self.view["open grant"])
    @rule(pick=PICK, among=AMONG, what=st.sampled_from(["next tranche", "next tranche", 2, 3,
                                                        "R&D acceptance", "R&D acceptance"]),
          passed=st.sampled_from([True, True, False]), when=WHEN)
    def review(self, pick: int, among: str, what: int | str, passed: bool,
               when: int | str) -> None:
        """A milestone review of a tranche (R2.b), or the acceptance of the R&D (R2.c)."""
        grant_id = self.choose("open grant", pick, among)
        facts = self.grant_facts(grant_id)
        on = self.day(self.grant_day[grant_id], when)
        if what == "R&D acceptance":
            done = self.attempt("review (R&D acceptance)", lambda: accept_rd(
                db.session, get_grant(db.session, grant_id), accepted_on=on,
                reference="验收-01", actor="manager"),
                must_refuse="the grant is not disbursing"
                if facts["status"] != GrantStatus.DISBURSING else
                self.date_problem(on, facts["signed_on"]))
        else:
            tranche = self.tranche(facts, what, first=2)
            done = self.attempt("review (milestone)", lambda: record_milestone_review(
                db.session, get_grant(db.session, grant_id), tranche=tranche, is_passed=passed,
                reviewer="专家组", reviewed_on=on, actor="manager"),
                must_refuse=f"the grant is {facts['status'].value}" if not facts["is_open"] else
                f"tranche {tranche} is not pending" if tranche not in facts["pending"] else
                self.date_problem(on, facts["signed_on"]))
        if done is not None:
            self.grant_day[grant_id] = on

    @staticmethod
    def tranche(facts: dict[str, Any], which: int | str, first: int) -> int:
        """A tranche by number, or "next...": the first pending one from `first` on."""
        if not isinstance(which, str):
            return which
        pending = [n for n in facts["pending"] if n >= first]
        return pending[0] if pending else first

    @precondition(lambda self: self.view["open grant"])
    @rule(pick=PICK, among=AMONG, which=st.sampled_from(["next", "next", "next", 1, 2, 3, 4]),
          how=st.sampled_from(["rest", "rest", "rest", "half", "over_tranche", "over_award",
                               "zero", "negative"]), when=WHEN)
    def disburse(self, pick: int, among: str, which: int | str, how: str,
                 when: int | str) -> None:
        grant_id = self.choose("open grant", pick, among)
        facts = self.grant_facts(grant_id)
        tranche = self.tranche(facts, which, first=1)
        paid_on = self.day(self.grant_day[grant_id], when)
        size, paid = facts["tranches"].get(tranche, (ZERO, ZERO))
        left = size - paid
        amount = {"rest": None, "half": money(left / 2), "over_tranche": left + FEN,
                  "over_award": facts["awarded"] - facts["disbursed"] + FEN,
                  "zero": ZERO, "negative": D("-1.00")}[how]
        effective = left if amount is None else amount
        must_refuse = (
            f"tranche {tranche} does not exist" if tranche not in facts["tranches"] else
            f"the amount {effective} is not above 0" if effective <= 0 else
            f"{effective} is more than the {left} left on tranche {tranche}" if effective > left
            else f"{effective} would take the grant past its award" if
            facts["disbursed"] + effective > facts["awarded"] else
            f"the grant is {facts['status'].value}" if not facts["is_open"] else
            self.date_problem(paid_on, facts["signed_on"]))
        done = self.attempt("disburse", lambda: disburse(
            db.session, get_grant(db.session, grant_id), tranche=tranche, paid_on=paid_on,
            amount=amount, actor="manager"), must_refuse=must_refuse)
        if done is not None:
            self.grant_day[grant_id] = paid_on

    @precondition(lambda self: self.view["grant holding money"])
    @rule(pick=PICK, among=AMONG, how=st.sampled_from(["half", "all", "over", "zero"]),
          when=WHEN)
    def refund(self, pick: int, among: str, how: str, when: int | str) -> None:
        refundable = self.view["refundable grant"]
        fit = [g for g in self.view["grant holding money"] if g in refundable]
        pool = fit if among == "fit" and fit else refundable
        if not pool:
            return
        grant_id = pool[pick % len(pool)]
        facts = self.grant_facts(grant_id)
        refunded_on = self.day(self.grant_day[grant_id], when)
        held = facts["disbursed"] - facts["refunded"]
        amount = {"half": money(held / 2), "all": held, "over": held + FEN, "zero": ZERO}[how]
        done = self.attempt("refund", lambda: record_refund(
            db.session, get_grant(db.session, grant_id), amount=amount, refunded_on=refunded_on,
            reason="未用余额", actor="manager"),
            must_refuse=f"the refund {amount} is not above 0" if amount <= 0 else
            f"the refund {amount} is more than the {held} held" if amount > held else
            self.date_problem(refunded_on, facts["signed_on"]))
        if done is not None:
            self.grant_day[grant_id] = refunded_on

    @precondition(lambda self: self.view["grant"])  # always possible: no example gets stuck
    @rule(pick=PICK, among=AMONG, how=st.sampled_from([
        "expired (R8.a job)", "tolerance (R8.b)", "tolerance without IC", "breach (R8.c)"]),
        when=WHEN)
    def close_grant(self, pick: int, among: str, how: str, when: int | str) -> None:
        grant_id = self.choose("open grant", pick, among)
        facts = self.grant_facts(grant_id)
        on = self.day(self.grant_day[grant_id], when)
        name = f"close_grant ({how})"
        if how.startswith("expired"):
            self.attempt(name, lambda: close_expired_grants(db.session, self.today,
                                                            actor="scheduler"))
        elif how.startswith("tolerance"):
            with_ic = "without" not in how
            self.attempt(name, lambda: close_with_tolerance(
                db.session, get_grant(db.session, grant_id), closed_on=on,
                ic_resolution_ref="IC-2026-09" if with_ic else "", actor="manager"),
                must_refuse="no IC resolution is given" if not with_ic else
                f"the grant is {facts['status'].value}" if not facts["is_open"] else
                self.date_problem(on, facts["signed_on"]))
        else:
            self.attempt(name, lambda: declare_breach(
                db.session, get_grant(db.session, grant_id), breach_on=on, reason="挪用资金",
                repaid_on=on, actor="manager"),
                must_refuse=f"the grant is {facts['status'].value}" if not facts["is_open"] else
                self.date_problem(on, facts["signed_on"]))

    # ------------------------------------------------------------------ rounds and conversion

    @precondition(lambda self: self.view["open grant"] and len(self.rounds) < MAX_ROUNDS)
    @rule(pick=PICK,
          variant=st.sampled_from(["qualifying", "qualifying", "qualifying", "stake_capped",
                                   "below_par", "no_holders", "debt", "small",
                                   "not_independent"]),
          when=WHEN)
    def record_round(self, pick: int, variant: str, when: int | str) -> None:
        """A round of a grant's company, closing after the latest event of its grants."""
        company_id = self.grant_company[self.choose("open grant", pick, "fit")]
        days = [self.grant_day[g] for g in self.grants if self.grant_company[g] == company_id]
        closed_on = self.day(max(days), when)
        # A small company (1m units at 1.00, 5m new money) caps a large grant's stake (R6.d);
        # 5m pre-money for 10m units prices below the par value (R6.b).
        small = variant == "stake_capped"
        units = D("1000000.00") if small else D("10000000.00")
        data = {"name": f"Round {len(self.rounds) + 1}",
                "kind": "debt" if variant == "debt" else "priced_equity",
                "closed_on": closed_on,
                "pre_money_valuation_amount": units if small else D("5000000.00")
                if variant == "below_par" else D("100000000.00"),
                "units_before": units,
                "investors": [{"name": "Lead Capital",
                               "cash_amount": D("1000000.00") if variant == "small"
                               else D("5000000.00") if small else D("20000000.00"),
                               "is_independent": variant != "not_independent"}],
                "lead": "Lead Capital",
                "holders_before": [] if variant == "no_holders" else [
                    {"holder": "Founder Zhang", "units": units * D("0.6")},
                    {"holder": "Founder Li", "units": units * D("0.4")}]}
        round_id = self.attempt(f"record_round ({variant})", lambda: record_round(
            db.session, get_company(db.session, company_id), data, actor="manager").id,
            must_refuse=self.date_problem(closed_on, date.min))
        if round_id is not None:
            self.rounds.append(round_id)
            self.round_company[round_id] = company_id

    @precondition(lambda self: self.view["accepted grant"] and self.rounds)
    @rule(pick=PICK, among=AMONG, which=st.sampled_from([
        "its company's latest", "its company's latest", "any"]), pick_round=PICK,
        with_ic=st.booleans())
    def convert(self, pick: int, among: str, which: str, pick_round: int, with_ic: bool) -> None:
        grant_id = self.choose("accepted grant", pick, among)
        own = [r for r in self.rounds if self.round_company[r] == self.grant_company[grant_id]]
        round_id = (own[-1] if own and which != "any"
                    else self.rounds[pick_round % len(self.rounds)])
        facts = self.grant_facts(grant_id)
        conversion_id = self.attempt("convert", lambda: convert_grant(
            db.session, grant_id, round_id=round_id,
            ic_resolution_ref="IC-2026-07" if with_ic else "", actor="manager").id,
            must_refuse="the grant is already converted"
            if facts["status"] == GrantStatus.CONVERTED else
            f"the grant is {facts['status'].value}" if not facts["is_open"] else
            "the round is of another company"
            if self.round_company[round_id] != self.grant_company[grant_id] else "")
        if conversion_id is not None:
            holding_id, acquired_on = db.session.execute(select(
                Holding.id, Holding.acquired_on).where(Holding.grant_id == grant_id)).one()
            db.session.rollback()
            self.holdings.append(holding_id)
            self.holding_day[holding_id] = acquired_on

    # ------------------------------------------------------------------ holdings

    @precondition(lambda self: self.view["holding"])
    @rule(pick=PICK, among=AMONG, what=st.sampled_from(["draft mark", "draft mark", "finalise mark",
                                           "finalise own mark", "invest again"]),
          method=st.sampled_from(list(MarkMethod)),
          value=st.sampled_from(["12.500000", "12.500000", "0", "-1"]), when=WHEN)
    def value_or_invest(self, pick: int, among: str, what: str, method: MarkMethod, value: str,
                        when: int | str) -> None:
        """Draft a valuation mark, finalise one (four eyes), or invest again in the holding."""
        holding_id = self.choose("active holding", pick, among)
        facts = self.holding_facts(holding_id)
        on = self.day(self.holding_day[holding_id], when)
        if what == "draft mark":
            per_unit = D(value)
            self.attempt("value (draft mark)", lambda: record_mark(
                db.session, get_holding(db.session, holding_id), measured_on=on, method=method,
                value_per_unit=per_unit, actor="analyst"),
                must_refuse=f"the value per unit {per_unit} is negative" if per_unit < 0 else
                "a write-off is not at 0" if method == MarkMethod.WRITE_OFF and per_unit != 0
                else self.date_problem(on, facts["acquired_on"]))
        elif what.startswith("finalise"):
            if not facts["marks"]:
                return
            mark_id, status = facts["marks"][-1]
            by_author = "own" in what
            self.attempt(f"value ({what})", lambda: finalise_mark(
                db.session, get_mark(db.session, mark_id),
                actor="analyst" if by_author else "approver"),
                must_refuse="the mark is already final" if status == MarkStatus.FINAL else
                "its author finalises it" if by_author else "")
        else:
            done = self.attempt("value (invest again)", lambda: record_follow_on(
                db.session, on=on, amount=D("1000000.00"), units=D("100000.00"),
                holding_id=holding_id, actor="manager"),
                must_refuse=f"the holding is {facts['status'].value}"
                if facts["status"] != HoldingStatus.ACTIVE else
                self.date_problem(on, facts["acquired_on"]))
            if done is not None:
                self.holding_day[holding_id] = on

    @precondition(lambda self: self.view["active holding"])
    @rule(pick=PICK, among=AMONG, kind=st.sampled_from([ExitKind.TRADE_SALE, ExitKind.TRADE_SALE,
                                           ExitKind.BUYBACK, ExitKind.BUYBACK,
                                           ExitKind.IPO_SALE, ExitKind.LIQUIDATION]),
          share=st.sampled_from(["quarter", "half", "all", "all", "over", "zero"]),
          price=st.sampled_from(["0", "0.9", "1", "1", "1.5", "40"]), confirm=st.booleans(),
          when=WHEN)
    def sell(self, pick: int, among: str, kind: ExitKind, share: str, price: str,
             confirm: bool, when: int | str) -> None:
        """Sell part or all of a holding (or more than it holds); price as a multiple of cost
        (40x cost is above 10x a final mark: it needs the confirmation)."""
        holding_id = self.choose("active holding", pick, among)
        facts = self.holding_facts(holding_id)
        transfer_on = self.day(self.holding_day[holding_id], when)
        held = facts["units"]
        units = {"quarter": money(held / 4), "half": money(held / 2), "all": held,
                 "over": held + FEN, "zero": ZERO}[share]
        cost = money(facts["cost"] * units / held) if held > 0 else ZERO
        amount = money(cost * D(price))
        must_refuse = (
            f"{units} units is not above 0" if units <= 0 else
            f"{units} units is more than the {held} held" if units > held else
            f"the holding is {facts['status'].value}"
            if facts["status"] != HoldingStatus.ACTIVE else
            "a liquidation must dispose of every unit"
            if kind == ExitKind.LIQUIDATION and units != held else
            f"a {kind.value} at 0.00" if amount == 0 and kind in (
                ExitKind.TRADE_SALE, ExitKind.IPO_SALE, ExitKind.BUYBACK) else
            self.date_problem(transfer_on, facts["acquired_on"]))
        done = self.attempt(f"sell ({kind.value})", lambda: record_exit(
            db.session, get_holding(db.session, holding_id), kind=kind, transfer_on=transfer_on,
            units=units, price_amount=amount, buyer="Buyer Co", actor="manager",
            confirm_unusual_price=confirm),
            must_refuse=must_refuse)
        if done is not None:
            self.holding_day[holding_id] = transfer_on

    # ------------------------------------------------------------------ after every step

    @invariant()
    def money_and_equity_hold(self) -> None:
        check_invariants(db.session, self.today)
        db.session.rollback()
        self.refresh_view()


def test_random_operations_keep_money_and_equity_whole(app, database, request) -> None:
    kind = "sqlite" if database.startswith("sqlite") else "postgresql"
    template = request.getfixturevalue("sqlite_template" if kind == "sqlite" else "pg_template")
    fresh = FreshDatabase(database, template)
    examples, steps = BUDGET[kind]
    stats: Counter = Counter()
    run_state_machine_as_test(
        lambda: PortfolioMachine(fresh, stats),
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                          derandomize=True, database=None, print_blob=False,
                          # The explain phase traces every line executed: minutes, not seconds.
                          phases=[Phase.generate, Phase.shrink],
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much]))
    run = stats.pop(("examples", "run"))
    accepted = sum(n for (_, outcome), n in stats.items() if outcome == "accepted")
    refused = sum(n for (_, outcome), n in stats.items() if outcome == "refused")
    lines = [f"{kind}: {run} examples, {accepted + refused} steps run "
             f"({accepted} accepted, {refused} refused)"]
    lines += [f"  {name}: {stats[name, 'accepted']} accepted, {stats[name, 'refused']} refused"
              for name in sorted({name for name, _ in stats})]
    print("\n" + "\n".join(lines))
    # The invariants were checked on conversions, holdings and sales, not only on grants.
    reached = {name.split(" ")[0] for (name, outcome), n in stats.items()
               if outcome == "accepted" and n}
    # PostgreSQL runs only a few examples (each clones a database): there the sales and marks
    # are not always reached, so it asserts the conversions; SQLite's longer run asserts all.
    wanted = {"convert", "sell", "value"} if kind == "sqlite" else {"convert"}
    assert wanted <= reached, "\n".join(lines)


def test_a_refund_cannot_change_a_recorded_conversion(app, database, request) -> None:
    """The machine's minimal failing sequence, replayed: a grant paid 3,500,000.00 converts at a
    round closing on day C; then a refund of all 3,500,000.00 dated before C is accepted, and the
    conversion (3,500,000.00 converted) no longer matches payments less refunds by C (0.00)."""
    kind = "sqlite" if database.startswith("sqlite") else "postgresql"
    template = request.getfixturevalue("sqlite_template" if kind == "sqlite" else "pg_template")
    machine = PortfolioMachine(FreshDatabase(database, template), Counter())
    machine.converted_grant(company=0, award="5000000.00", variant="stake_capped", tranches=2)
    (grant_id,) = machine.grants
    assert machine.view["holding"], "the grant did not convert"
    refunded_on = machine.grant_day[grant_id] + timedelta(days=21)  # the round closed on day 30
    refused = machine.attempt("refund", lambda: record_refund(
        db.session, get_grant(db.session, grant_id), amount=D("3500000.00"),
        refunded_on=refunded_on, reason="未用余额", actor="manager"),
        must_refuse="the grant has converted (R4.a)")
    assert refused is None
    machine.money_and_equity_hold()
