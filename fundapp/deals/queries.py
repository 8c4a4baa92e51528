"""Reading the pipeline: the board, the list, a deal's page, rankings. Plain rows out.

The board and the list answer in a fixed number of queries whatever the data size
(tests/deals/test_query_count.py counts them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from fundapp.auth.models import Role, User, UserRole
from fundapp.deals.models import (
    PIPELINE,
    Company,
    Deal,
    DealStage,
    DealStageChange,
    ExpertReview,
    PanelMember,
    Roadshow,
    RoadshowCriterion,
    RoadshowSlot,
    Score,
    ScoreSheet,
)
from fundapp.deals.scoring import RankingRow, rank_companies
from fundapp.deals.sectors import SECTORS
from fundapp.fields import MAX_ID
from fundapp.ui import reader_name


class ManagerChoice(NamedTuple):
    id: int
    name: str


BOARD_STAGES = PIPELINE + (DealStage.ON_HOLD,)
BOARD_CARDS_PER_COLUMN = 25


@dataclass(frozen=True)
class DealFilters:
    sector: str = ""
    roadshow_id: int | None = None
    manager_id: int | None = None
    q: str = ""
    stage: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> DealFilters:
        def number(key: str) -> int | None:
            try:
                n = int(args.get(key, ""))
            except ValueError:
                return None
            return n if 0 < n <= MAX_ID else None  # beyond an INTEGER nothing matches

        sector = args.get("sector", "").strip()
        stage = args.get("stage", "").strip()
        return cls(sector=sector if sector in SECTORS else "",
                   roadshow_id=number("roadshow"), manager_id=number("manager"),
                   q=args.get("q", "").strip()[:100],
                   stage=stage if stage in {s.value for s in DealStage} else "")

    def as_args(self) -> dict[str, Any]:
        args = {"sector": self.sector, "roadshow": self.roadshow_id, "manager": self.manager_id,
                "q": self.q, "stage": self.stage}
        return {k: v for k, v in args.items() if v}


def _filtered(stmt: Select, filters: DealFilters) -> Select:
    if filters.sector:
        stmt = stmt.where(or_(Company.sector == filters.sector,
                              Company.sector.like(filters.sector + ".%")))
    if filters.roadshow_id:
        stmt = stmt.where(Deal.roadshow_id == filters.roadshow_id)
    if filters.manager_id:
        stmt = stmt.where(Deal.manager_id == filters.manager_id)
    if filters.stage:
        stmt = stmt.where(Deal.stage == DealStage(filters.stage))
    if filters.q:
        escaped = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        stmt = stmt.where(or_(func.lower(Company.legal_name).like(like, escape="\\"),
                              func.lower(Company.name_en).like(like, escape="\\"),
                              func.lower(Deal.project_name).like(like, escape="\\"),
                              Company.uscc.like(filters.q.upper() + "%")))
    return stmt


Manager = aliased(User)

DEAL_COLUMNS = (
    Deal.id, Deal.project_name, Deal.project_name_en, Deal.requested_grant_amount,
    Deal.approved_budget_amount, Deal.stage, Deal.stage_entered_at, Deal.roadshow_id, Deal.manager_id,
    Company.id.label("company_id"), Company.legal_name.label("company_name"),
    Company.uscc, Company.sector,
    func.coalesce(func.nullif(Manager.name, ""), Manager.email).label("manager_name"),
    Roadshow.name.label("roadshow_name"), Roadshow.name_en.label("roadshow_name_en"),
    Company.name_en.label("company_name_en"), Manager.name_en.label("manager_name_en"),
)


def deal_rows(filters: DealFilters) -> Select:
    """The columns a list, a board card and an export need, with the filters applied."""
    stmt = (select(*DEAL_COLUMNS).select_from(Deal).join(Company, Deal.company_id == Company.id)
            .outerjoin(Manager, Deal.manager_id == Manager.id)
            .outerjoin(Roadshow, Deal.roadshow_id == Roadshow.id))
    return _filtered(stmt, filters)


def deal_count(filters: DealFilters) -> Select:
    """How many deals deal_rows gives: the company joined only when a filter reads it (every
    deal has one), the manager and roadshow never (outer joins add no rows)."""
    stmt = select(func.count()).select_from(Deal)
    if filters.sector or filters.q:
        stmt = stmt.join(Company, Deal.company_id == Company.id)
    return _filtered(stmt, filters)


SORTS = {
    "company": Company.legal_name, "project": Deal.project_name,
    "requested": Deal.requested_grant_amount, "stage": Deal.stage,
    "entered": Deal.stage_entered_at, "created": Deal.created_at, "id": Deal.id,
}


def deal_list(filters: DealFilters, sort: str) -> Select:
    column = SORTS.get(sort.lstrip("-"), Deal.id)
    order = column.desc() if sort.startswith("-") else column
    return deal_rows(filters).order_by(order, Deal.id.desc())


def board_statements(filters: DealFilters, per_column: int = BOARD_CARDS_PER_COLUMN):
    """The board's two SELECTs: count and sum per stage over every matching deal; the cards.

    The cards in one statement: per column a limited select (the open deals longest in their
    stage; the latest signed agreements, newest first), stuck together by UNION ALL, so each
    column reads its stage through the stage index instead of ranking every deal (issue 14).
    """
    totals_stmt = (select(Deal.stage, func.count(), func.coalesce(
        func.sum(Deal.requested_grant_amount), 0)).select_from(Deal).group_by(Deal.stage))
    if filters.sector or filters.q:
        totals_stmt = totals_stmt.join(Company, Deal.company_id == Company.id)
    branches = []
    for stage in BOARD_STAGES:
        if stage is DealStage.AGREEMENT_SIGNED:
            order = (Deal.stage_entered_at.desc(), Deal.id.desc())
        else:
            order = (Deal.stage_entered_at, Deal.id)
        branch = (deal_rows(filters).where(Deal.stage == stage).order_by(*order)
                  .limit(per_column).subquery())
        branches.append(select(branch))
    return _filtered(totals_stmt, filters), union_all(*branches)


def board(session: Session, filters: DealFilters,
          per_column: int = BOARD_CARDS_PER_COLUMN) -> dict[str, Any]:
    """Columns of the board: count and sum per stage over every matching deal; the cards of the
    open deals longest in their stage, and of the latest signed agreements (two queries)."""
    totals_stmt, cards_stmt = board_statements(filters, per_column)
    totals = {stage: (count, total) for stage, count, total in session.execute(totals_stmt)}
    cards: dict[DealStage, list] = {stage: [] for stage in BOARD_STAGES}
    for row in session.execute(cards_stmt).mappings():
        cards[DealStage(row["stage"])].append(row)
    for stage, rows in cards.items():  # a union's rows come in no promised order
        rows.sort(key=lambda r: (r["stage_entered_at"], r["id"]),
                  reverse=stage is DealStage.AGREEMENT_SIGNED)
    columns = []
    for stage in BOARD_STAGES:
        count, total = totals.get(stage, (0, Decimal("0.00")))
        columns.append({"stage": stage, "count": count, "total": total, "cards": cards[stage],
                        "more": count - len(cards[stage])})
    closed = [{"stage": stage, "count": totals.get(stage, (0, 0))[0],
               "total": totals.get(stage, (0, Decimal("0.00")))[1]}
              for stage in (DealStage.DECLINED, DealStage.WITHDRAWN)]
    return {"columns": columns, "closed": closed}


def filter_choices(session: Session) -> dict[str, Any]:
    """Roadshows and fund managers for the filter menus (two queries)."""
    roadshows = session.execute(select(Roadshow.id, Roadshow.name, Roadshow.held_on,
                                       Roadshow.name_en)
                                .order_by(Roadshow.held_on.desc()).limit(200)).all()
    managers = session.execute(
        select(User.id, func.coalesce(func.nullif(User.name, ""), User.email).label("name"),
               User.name_en)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.FUND_MANAGER, User.is_active.is_(True))
        .order_by(User.name, User.email)).all()
    # (id, name) pairs for the menus, each name in the reader's language
    managers = [ManagerChoice(m.id, reader_name(m.name, m.name_en)) for m in managers]
    return {"roadshows": roadshows, "managers": managers}


def deal_history(session: Session, deal_id: int) -> list:
    return session.execute(select(DealStageChange.from_stage, DealStageChange.to_stage,
                                  DealStageChange.actor, DealStageChange.reason,
                                  DealStageChange.changed_at)
                           .where(DealStageChange.deal_id == deal_id)
                           .order_by(DealStageChange.id)).all()


def time_in_stages(history: list, now: datetime | None = None) -> list[dict[str, Any]]:
    """How long the deal spent at each stage it entered, in days (the last one still running)."""
    now = now or datetime.now(UTC)
    spans = []
    for index, change in enumerate(history):
        until = history[index + 1].changed_at if index + 1 < len(history) else now
        spans.append({"stage": change.to_stage, "entered_at": change.changed_at,
                      "days": max(0, (until - change.changed_at).days),
                      "is_current": index + 1 == len(history)})
    return spans


def deal_reviews(session: Session, deal_id: int) -> list:
    return session.execute(select(PanelMember.name, PanelMember.affiliation,
                                  PanelMember.name_en, PanelMember.affiliation_en,
                                  ExpertReview.is_approved, ExpertReview.comment,
                                  ExpertReview.created_at)
                           .join(PanelMember, ExpertReview.panel_member_id == PanelMember.id)
                           .where(ExpertReview.deal_id == deal_id)
                           .order_by(PanelMember.id)).all()


def roadshow_rankings(session: Session, roadshow: Roadshow) -> list[RankingRow]:
    weights = {c.code: c.weight_pct for c in roadshow.criteria}
    companies = session.execute(select(Company.id, Company.legal_name)
                                .join(RoadshowSlot, RoadshowSlot.company_id == Company.id)
                                .where(RoadshowSlot.roadshow_id == roadshow.id)).all()
    sheets: dict[int, tuple[int, bool, dict[str, Decimal]]] = {}
    rows = session.execute(
        select(ScoreSheet.id, ScoreSheet.company_id, ScoreSheet.has_conflict,
               RoadshowCriterion.code, Score.value)
        .outerjoin(Score, Score.sheet_id == ScoreSheet.id)
        .outerjoin(RoadshowCriterion, Score.criterion_id == RoadshowCriterion.id)
        .where(ScoreSheet.roadshow_id == roadshow.id))
    for sheet_id, company_id, has_conflict, code, value in rows:
        entry = sheets.setdefault(sheet_id, (company_id, has_conflict, {}))
        if code is not None:
            entry[2][code] = value
    return rank_companies(companies, sheets.values(), weights)


def company_scores(session: Session, company_id: int) -> list[dict[str, Any]]:
    """The company's result at each roadshow it pitched at."""
    results = []
    roadshows = session.scalars(select(Roadshow).join(
        RoadshowSlot, and_(RoadshowSlot.roadshow_id == Roadshow.id,
                           RoadshowSlot.company_id == company_id))
        .order_by(Roadshow.held_on)).all()
    for roadshow in roadshows:
        ranking = roadshow_rankings(session, roadshow)
        row = next((r for r in ranking if r.company_id == company_id), None)
        if row is not None:
            results.append({"roadshow_id": roadshow.id, "roadshow": roadshow.name,
                            "roadshow_en": roadshow.name_en,
                            "held_on": roadshow.held_on, "row": row,
                            "of": sum(1 for r in ranking if r.rank)})
    return results
