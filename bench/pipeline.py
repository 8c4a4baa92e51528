"""Pipeline board and list against a bare SELECT of the same rows; sign-up sheet import speed.

50,000 deals (5,000 open) are bulk-inserted into a scratch SQLite database migrated by Alembic.
The board (every open deal counted and summed, the longest-waiting cards shown) and one list page
are timed as full requests (routing, access check, queries, template) against one bare SELECT of
the open deals' card columns. Goal (issue 3): ≤ 3x. Then a 2,000-row CSV sheet is previewed and
imported: rows per second.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench import best_of, upgrade_quietly

GOAL = 3.0


def _generate(session, deals: int, open_deals: int) -> None:
    from sqlalchemy import insert

    from fundapp.deals.models import Company, Deal, DealStage
    from fundapp.fund.operations import create_fund

    create_fund(session, name="Bench fund", committed_amount=Decimal(10**12),
                established_on=datetime(2025, 1, 1).date(), actor="bench")
    companies = deals // 5
    now = datetime.now(UTC)
    sectors = ["ai", "bci", "fintech.insurtech", "robotics.humanoid", "life_health"]
    session.execute(insert(Company), [
        {"id": i, "legal_name": f"基准测试{i}科技有限公司", "name_en": f"Bench {i}",
         "normalised_name": f"基准测试{i}科技", "uscc": None, "district": "浦东新区",
         "legal_form": "llc", "par_value_amount": 1, "sector": sectors[i % 5], "website": "",
         "description": "", "created_at": now} for i in range(1, companies + 1)])
    open_stages = [s for s in DealStage if s not in (
        DealStage.AGREEMENT_SIGNED, DealStage.DECLINED, DealStage.WITHDRAWN)]
    closed = [DealStage.AGREEMENT_SIGNED, DealStage.DECLINED, DealStage.WITHDRAWN]
    rows = []
    for i in range(1, deals + 1):
        stage = open_stages[i % len(open_stages)] if i <= open_deals else closed[i % 3]
        rows.append({"id": i, "company_id": (i % companies) + 1, "project_name": f"项目{i}",
                     "requested_grant_amount": 100000 + i % 4000000,
                     "approved_budget_amount": 10000000, "project_summary": "",
                     "milestone_plan": "", "manager_id": None, "stage": stage.value,
                     "stage_entered_at": now - timedelta(minutes=i), "ic_decision_ref": "",
                     "created_at": now})
        if len(rows) == 10000:
            session.execute(insert(Deal), rows)
            rows.clear()
    if rows:
        session.execute(insert(Deal), rows)
    session.commit()


REPEAT = 5  # runs of each timed request; the fastest counts (bench.best_of)


def _sheet(rows: int) -> bytes:
    from fundapp.deals.uscc import check_character

    lines = ["企业名称,统一社会信用代码,所属行业,项目名称,申请拨款金额（元）,项目总预算（元）,联系人"]
    for i in range(rows):
        first = f"91310115MA2B{i:05d}"
        lines.append(f"导入测试{i}有限公司,{first + check_character(first)},人工智能,项目{i},"
                     f"{100000 + i}.50,{1000000 + i}.00,联系人{i}")
    return "\n".join(lines).encode("gbk")


def run() -> dict:
    from sqlalchemy import select

    from fundapp.app import create_app
    from fundapp.auth.operations import create_user
    from fundapp.config import TestConfig
    from fundapp.deals import queries
    from fundapp.deals.intake import import_signup, preview_signup
    from fundapp.deals.models import Deal
    from fundapp.deals.operations import OPEN_STAGES
    from fundapp.deals.roadshows import create_roadshow
    from fundapp.extensions import db

    scale = float(os.environ.get("BENCH_SCALE", 1))
    deals, open_deals = int(50_000 * scale), int(5_000 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        config = TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        config.WTF_CSRF_ENABLED = False
        config.ARGON2_FAST = True
        app = create_app(config)
        with app.app_context():
            upgrade_quietly()
            started = time.perf_counter()
            _generate(db.session, deals, open_deals)
            generated = time.perf_counter() - started
            create_user(db.session, email="bench@fundapp.cn", password="bench-password",
                        roles=["fund_manager"], actor="bench")
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        client.post("/login", data={"email": "bench@fundapp.cn", "password": "bench-password"})

        def get(path):
            response = client.get(path, headers={"Accept-Language": "en"})
            assert response.status_code == 200, response.status_code

        board = best_of(lambda: get("/deals/board"), REPEAT)
        listing = best_of(lambda: get("/deals?page=3&sort=-requested"), REPEAT)
        with app.app_context():
            stmt = queries.deal_rows(queries.DealFilters()).where(
                Deal.stage.in_(list(OPEN_STAGES)))
            page_stmt = queries.deal_list(queries.DealFilters(), "-requested").limit(25).offset(50)
            bare_board = best_of(lambda: db.session.execute(stmt).all(), REPEAT)
            bare_list = best_of(lambda: db.session.execute(page_stmt).all(), REPEAT)
            count = len(db.session.execute(stmt).all())
            roadshow = create_roadshow(db.session, actor="bench", name="导入基准",
                                       held_on=datetime(2026, 5, 1).date())
            db.session.commit()
            content = _sheet(2000)
            started = time.perf_counter()
            preview = preview_signup(db.session, roadshow, "bench.csv", content)
            previewed = time.perf_counter() - started
            assert preview.is_importable, preview.problems[:3]
            started = time.perf_counter()
            result = import_signup(db.session, roadshow, "bench.csv", content, actor="bench")
            db.session.commit()
            imported = time.perf_counter() - started
            assert result.deals_created == 2000
            assert db.session.scalar(select(Deal.id).order_by(Deal.id.desc()).limit(1))
            db.engine.dispose()
    board_ratio = board / bare_board
    list_ratio = listing / max(bare_list, 1e-9)
    return {
        "deals (open)": f"{deals:,} ({count:,})",
        "generate (s)": f"{generated:.2f}",
        "bare SELECT of open deals (ms)": f"{bare_board * 1000:.1f}",
        "board request (ms)": f"{board * 1000:.1f}",
        "board ratio (goal ≤ 3)": f"{board_ratio:.2f}",
        "bare SELECT of a list page (ms)": f"{bare_list * 1000:.1f}",
        "list page request (ms)": f"{listing * 1000:.1f}",
        "list ratio (info)": f"{list_ratio:.2f}",
        "2,000-row sheet preview (rows/s)": f"{2000 / previewed:,.0f}",
        "2,000-row sheet import (rows/s)": f"{2000 / imported:,.0f}",
        "goal_met": board_ratio <= GOAL,
    }
