"""A committee with three members (one a fund manager) and two deals at "IC decision"."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fundapp.deals import operations as deal_ops
from fundapp.deals.models import DealStage
from fundapp.extensions import db
from tests.conftest import make_user
from tests.deals.factories import make_company, make_deal, make_fund, make_roadshow

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MEETING_DAY = date(2026, 3, 20)
AT = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _request_context(request):
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def client(app):
    from tests.isolation import isolated_client

    return isolated_client(app)


def walk_to_ic(deal, roadshow):
    for target in (DealStage.ROADSHOW, DealStage.EXPERT_REVIEW, DealStage.DUE_DILIGENCE,
                   DealStage.IC_DECISION):
        if target is DealStage.DUE_DILIGENCE:
            for member in roadshow.panel:
                deal_ops.record_expert_review(db.session, deal, panel_member_id=member.id,
                                              is_approved=True, comment="同意", actor="test")
        deal_ops.advance_deal(db.session, deal, target, actor="test", now=MONDAY)


@pytest.fixture
def committee(app):
    make_fund()
    chair = make_user("chair@x.cn", roles=("ic_member",), name="陈主任")
    member = make_user("ic2@x.cn", roles=("ic_member",), name="赵委员")
    manager = make_user("mgr@x.cn", roles=("fund_manager", "ic_member"), name="李经理")
    admin = make_user("admin@x.cn", roles=("admin",))
    roadshow = make_roadshow()
    deal_a = make_deal(make_company(1, name="深蓝脑机科技有限公司"), roadshow,
                       manager_id=manager.id, project_name="脑机接口芯片")
    deal_b = make_deal(make_company(2, name="曦和机器人有限公司"), roadshow,
                       project_name="人形机器人关节")
    for deal in (deal_a, deal_b):
        walk_to_ic(deal, roadshow)
    db.session.commit()
    return {"chair": chair, "member": member, "manager": manager, "admin": admin,
            "deals": (deal_a, deal_b), "roadshow": roadshow}


@pytest.fixture
def fake_pdf(monkeypatch):
    """Meeting logic tests do not need real PDFs (tests/reports render real ones)."""
    from fundapp.ic import operations

    monkeypatch.setattr(operations, "_render", lambda name, data, language: (
        b"%PDF-fake " + name.encode() + repr(sorted(data)).encode()))
