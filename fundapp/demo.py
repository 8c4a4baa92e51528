"""The demo fund: what `make run` shows a first-time visitor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.auth.models import Role
from fundapp.auth.operations import create_user
from fundapp.fund.models import Fund
from fundapp.fund.operations import create_fund

# Demo data only: printed by `make run`, documented in README; never used outside the demo.
DEMO_PASSWORD = "demo-password"

# (e-mail, name, English name, roles): Chinese pages and documents show the name, English ones
# the English name (issue 15: language purity).
DEMO_USERS = [
    ("admin@demo.fundapp.cn", "系统管理员", "System administrator", [Role.ADMIN]),
    ("manager@demo.fundapp.cn", "王磊", "Wang Lei", [Role.FUND_MANAGER]),
    ("manager2@demo.fundapp.cn", "李娜", "Li Na", [Role.FUND_MANAGER, Role.IC_MEMBER]),
    ("ic@demo.fundapp.cn", "陈明", "Chen Ming", [Role.IC_MEMBER]),
    ("ic2@demo.fundapp.cn", "赵辉", "Zhao Hui", [Role.IC_MEMBER]),
    ("auditor@demo.fundapp.cn", "审计局", "Audit Bureau", [Role.AUDITOR]),
]


def load_demo(session: Session, *, if_empty: bool = False) -> list[tuple[str, str]] | None:
    """Create the demo fund and its users; returns (email, roles) of the users made."""
    if session.scalar(select(Fund.id).limit(1)) is not None:
        if if_empty:
            return None
    else:
        create_fund(session, name="张江科创拨投结合基金（演示）",
                    name_en="Zhangjiang Sci-Tech Grant-plus-Investment Fund (demo)",
                    committed_amount=Decimal("500000000.00"), established_on=date(2025, 1, 1),
                    platform_name="区科创投资平台有限公司",
                    actor="demo")
    made = []
    from fundapp.auth.models import User

    for email, name, name_en, roles in DEMO_USERS:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            create_user(session, email=email, password=DEMO_PASSWORD, roles=roles, name=name,
                        name_en=name_en, actor="demo")
            made.append((email, ", ".join(r.value for r in roles)))
    from fundapp.deals.demo import load_pipeline_demo

    load_pipeline_demo(session)
    from fundapp.portfolio.demo import load_grants_demo  # after the pipeline demo, if any

    load_grants_demo(session)
    from fundapp.portfolio.demo import load_portfolio_demo  # marks, exits, index, KPIs

    load_portfolio_demo(session)
    from fundapp.ic.demo import load_ic_demo  # last: it reads what the other loaders made

    load_ic_demo(session)
    return made
