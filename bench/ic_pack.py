"""A 20-deal IC pack: total generation time against WeasyPrint's own time on the same final HTML.

20 deals at "IC decision" (with roadshow scores and expert reviews) are made in a scratch SQLite
database migrated by Alembic. `generate_pack` (queries, conversion scenarios for three rounds per
deal, template, WeasyPrint, storing and ledgering) is timed against WeasyPrint alone rendering the
pack's final HTML in the same run. Goal (issue 6): <= 1.3x. Pages and bytes are reported.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from bench import upgrade_quietly

GOAL = 1.3
DEALS = 20


def _setup(session):
    from fundapp.auth.operations import create_user
    from fundapp.deals import operations as deal_ops
    from fundapp.deals import roadshows as roadshow_ops
    from fundapp.deals.models import DealStage
    from fundapp.fund.operations import create_fund

    create_fund(session, name="基准基金", committed_amount=Decimal(10**10),
                established_on=date(2025, 1, 1), actor="bench")
    users = [create_user(session, email=f"ic{i}@bench.cn", password="bench-password-1",
                         roles=["ic_member"], name=f"委员{i}", actor="bench") for i in range(5)]
    roadshow = roadshow_ops.create_roadshow(session, actor="bench", name="基准路演",
                                        held_on=date(2026, 3, 1), venue="张江", organiser="b")
    panel = [roadshow_ops.add_panel_member(session, roadshow, actor="bench", name=f"专家{i}",
                                       affiliation="大学") for i in range(3)]
    monday = datetime(2026, 3, 2, 2, tzinfo=UTC)
    deals = []
    for n in range(1, DEALS + 1):
        company = deal_ops.create_company(session, actor="bench",
                                          legal_name=f"基准{n}号科技有限公司", sector="ai",
                                          registered_capital_amount=Decimal("10000000.00"),
                                          founders=[{"name": f"创始人{n}", "title": "CEO",
                                                     "background": "博士"}])
        roadshow_ops.add_slot(session, roadshow, company, actor="bench")
        deal = deal_ops.create_deal(session, actor="bench", company_id=company.id,
                                    project_name=f"项目{n}", requested_grant_amount=Decimal("2000000.00"),
                                    approved_budget_amount=Decimal("8000000.00"), roadshow_id=roadshow.id,
                                    project_summary="研发新一代芯片。" * 20)
        for member in panel:
            roadshow_ops.record_score_sheet(session, roadshow, panel_member_id=member.id,
                                        company_id=company.id, actor="bench", scores={
                                            c.code: Decimal(5 + (n + member.id) % 5)
                                            for c in roadshow.criteria})
        for target in (DealStage.ROADSHOW, DealStage.EXPERT_REVIEW, DealStage.DUE_DILIGENCE,
                       DealStage.IC_DECISION):
            if target is DealStage.DUE_DILIGENCE:
                for member in panel:
                    deal_ops.record_expert_review(session, deal, panel_member_id=member.id,
                                                  is_approved=True, actor="bench")
            deal_ops.advance_deal(session, deal, target, actor="bench", now=monday)
        deals.append(deal)
    session.commit()
    return users, deals


def run() -> dict:
    os.environ.setdefault("FUNDAPP_SECRET_KEY", "bench")
    from weasyprint import CSS, HTML

    from fundapp.app import create_app
    from fundapp.config import TestConfig
    from fundapp.extensions import db
    from fundapp.ic import operations as ops
    from reports import render

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        with app.app_context(), app.test_request_context():
            upgrade_quietly()
            users, deals = _setup(db.session)
            meeting = ops.create_meeting(db.session, actor="bench", title="基准投决会",
                                         held_on=date(2026, 3, 20), chair_id=users[0].id,
                                         member_ids=[u.id for u in users],
                                         deal_ids=[d.id for d in deals])
            db.session.commit()
            ops.generate_pack(db.session, meeting, actor="bench")  # warm fonts and templates
            started = time.perf_counter()
            pack = ops.generate_pack(db.session, meeting, actor="bench")
            db.session.commit()
            total = time.perf_counter() - started
            import json

            html = render.render_html("ic_pack", json.loads(pack.data_json), pack.language)
            fetcher = render.AssetFetcher()
            started = time.perf_counter()
            document = HTML(string=html, base_url=render.ASSET_BASE, url_fetcher=fetcher).render(
                stylesheets=[CSS(url=render.ASSET_BASE + "theme.css", url_fetcher=fetcher)])
            pdf = document.write_pdf()
            weasy = time.perf_counter() - started
            pages = len(document.pages)
            pack_bytes = pack.size_bytes
            db.engine.dispose()
    ratio = total / weasy
    return {"deals": DEALS, "pages": pages, "bytes": pack_bytes,
            "weasyprint_bytes": len(pdf), "total_s": round(total, 2),
            "weasyprint_s": round(weasy, 2), "ratio": round(ratio, 2), "goal": f"<= {GOAL}x",
            "goal_met": ratio <= GOAL}
