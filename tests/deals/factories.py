"""Test data for the pipeline, made through the real operations (so every rule applies).

The operations take validated data: amounts as Decimal, days as date (what the schemas give).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fundapp.deals import operations as ops
from fundapp.deals import roadshows
from fundapp.deals.uscc import check_character
from fundapp.extensions import db
from fundapp.fund.models import Fund
from fundapp.fund.operations import create_fund


def uscc(n: int) -> str:
    """A valid unified social credit code (GB 32100-2015 check character computed)."""
    first = f"91310115{n:09d}"
    return first + check_character(first)


def make_fund(committed: str = "100000000.00") -> Fund:
    return create_fund(db.session, name="测试基金", name_en="Test fund",
                       committed_amount=Decimal(committed), established_on=date(2025, 1, 1),
                       actor="test")


def make_company(n: int = 1, name: str | None = None, sector: str = "ai", **extra):
    return ops.create_company(db.session, actor="test", legal_name=name or f"测试科技{n}有限公司",
                              uscc=uscc(n), sector=sector, **extra)


def make_roadshow(held_on: date = date(2026, 3, 1), panel: int = 3, **extra):
    roadshow = roadshows.create_roadshow(db.session, actor="test", name=extra.pop("name", "春季路演"),
                                   held_on=held_on, venue="张江", organiser="联盟", **extra)
    for i in range(panel):
        roadshows.add_panel_member(db.session, roadshow, actor="test", name=f"专家{i + 1}",
                             affiliation="大学")
    return roadshow


def make_deal(company, roadshow=None, requested: str = "1000000.00", budget: str = "4000000.00",
              **extra):
    if roadshow is not None:
        roadshows.add_slot(db.session, roadshow, company, actor="test")
    return ops.create_deal(db.session, actor="test", company_id=company.id,
                           project_name=extra.pop("project_name", "脑机接口项目"),
                           requested_grant_amount=Decimal(requested),
                           approved_budget_amount=Decimal(budget),
                           roadshow_id=roadshow.id if roadshow else None, **extra)
