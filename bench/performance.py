"""Performance endpoint against the bare work: one SELECT of the flows plus pyxirr per holding.

A generated fund of 2,000 direct holdings and 80,000 dated cash flows (follow-ons, dividends,
exit proceeds), each holding with one final mark, is bulk-inserted into a scratch SQLite
database migrated by Alembic. GET /api/v1/performance (routing, access check, queries, every
holding's XIRR checked by XNPV, the vintage, sector and fund figures, the JSON) is timed against
the bare work in the same run: one SELECT of the flows and pyxirr over each holding (NAV as a
terminal flow). Goal (issue 5): ≤ 1.5×. numpy_financial.irr is reported on the fund's quarterly
net flows, where its equal-period assumption holds.

The endpoint returns the figures; the list of every one of the 80,000 flows comes only with
`include=cash_flows` (or for a `period_start`), timed separately for information.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench import upgrade_quietly

GOAL = 1.5
AS_OF = date(2026, 9, 30)


def _generate(session, holdings: int, flows: int) -> None:
    from sqlalchemy import insert

    from fundapp.deals.models import Company
    from fundapp.fund.operations import create_fund
    from fundapp.portfolio.holdings.models import CashFlow, Holding, ValuationMark

    now = datetime.now(UTC)
    create_fund(session, name="Bench fund", committed_amount=Decimal(10**12),
                established_on=date(2015, 1, 1), actor="bench")
    sectors = ["ai", "bci", "robotics.humanoid", "life_health", "semiconductors"]
    session.execute(insert(Company), [
        {"id": i, "legal_name": f"基准{i}科技有限公司", "name_en": f"Bench {i}",
         "normalised_name": f"基准{i}", "uscc": None, "district": "", "legal_form": "llc",
         "par_value_amount": 1, "sector": sectors[i % 5], "website": "", "description": "",
         "created_at": now} for i in range(1, holdings + 1)])
    per = flows // holdings
    holding_rows, flow_rows, mark_rows = [], [], []
    for h in range(1, holdings + 1):
        start = date(2016, 1, 1) + timedelta(days=(h * 37) % 2500)
        holding_rows.append({"id": h, "company_id": h, "grant_id": None, "conversion_id": None,
                             "holder_entity": "bench", "units": 1000 * per,
                             "cost_amount": 100000 * per, "initial_units": 0,
                             "initial_cost_amount": 0, "acquired_on": start,
                             "is_state_asset": True, "origin": "direct", "status": "active",
                             "closed_on": None, "created_at": now})
        for k in range(per):
            on = start + timedelta(days=k * 30)
            if on > AS_OF:
                on = AS_OF - timedelta(days=per - k)
            kind = "follow_on" if k % 3 != 2 else ("dividend" if k % 2 else "exit_proceeds")
            invest = kind == "follow_on"
            flow_rows.append({"kind": kind, "on": on, "amount": 100000 if invest else
                              40000 + (h * k) % 50000, "company_id": h, "holding_id": h,
                              "grant_id": None, "exit_id": None,
                              "units_delta": 1000 if invest else 0,
                              "cost_delta_amount": 100000 if invest else 0, "reference": "",
                              "note": "", "recorded_by": "bench", "created_at": now})
        mark_rows.append({"holding_id": h, "measured_on": AS_OF - timedelta(days=h % 90),
                          "method": "multiples", "inputs_json": "{}",
                          "value_per_unit": 80 + (h % 80), "status": "final", "note": "",
                          "author": "a", "approver": "b", "finalised_on": AS_OF,
                          "created_at": now})
    session.execute(insert(Holding), holding_rows)
    for i in range(0, len(flow_rows), 10000):
        session.execute(insert(CashFlow), flow_rows[i:i + 10000])
    session.execute(insert(ValuationMark), mark_rows)
    session.commit()


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run() -> dict:
    import numpy_financial as npf
    import pyxirr
    from sqlalchemy import select

    from fundapp.app import create_app
    from fundapp.auth.operations import create_user
    from fundapp.config import TestConfig
    from fundapp.extensions import db
    from fundapp.portfolio.holdings.models import OUTFLOW_KINDS, CashFlow, FlowKind, ValuationMark

    scale = float(os.environ.get("BENCH_SCALE", 1))
    holdings, flows = int(2000 * scale), int(80_000 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        config = TestConfig(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        config.ARGON2_FAST = True
        app = create_app(config)
        with app.app_context():
            upgrade_quietly()
            started = time.perf_counter()
            _generate(db.session, holdings, flows)
            generated = time.perf_counter() - started
            create_user(db.session, email="bench@fundapp.cn", password="bench-password",
                        roles=["fund_manager"], actor="bench")
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={
            "email": "bench@fundapp.cn", "password": "bench-password"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {}

        def endpoint():
            response = client.get(f"/api/v1/performance?as_of={AS_OF}", headers=headers)
            assert response.status_code == 200, response.get_json()
            body["json"] = response.get_json()

        served = _timed(endpoint)

        def with_flows():
            response = client.get(f"/api/v1/performance?as_of={AS_OF}&include=cash_flows",
                                  headers=headers)
            assert response.status_code == 200, response.get_json()
            body["flows"] = len(response.get_json()["cash_flows"])

        served_with_flows = _timed(with_flows, repeat=1)
        with app.app_context():
            stmt = select(CashFlow.holding_id, CashFlow.on, CashFlow.kind, CashFlow.amount,
                          CashFlow.units_delta).where(CashFlow.on <= AS_OF)

            def bare():
                by_holding = defaultdict(lambda: ([], [], [0.0]))
                for holding_id, on, kind, amount, units in db.session.execute(stmt):
                    dates, amounts, held = by_holding[holding_id]
                    dates.append(on)
                    amounts.append(-float(amount) if kind in OUTFLOW_KINDS else float(amount))
                    held[0] += float(units)
                for dates, amounts, held in by_holding.values():
                    pyxirr.xirr([*dates, AS_OF], [*amounts, held[0] * 100.0])
                return by_holding

            bare_time = _timed(bare)
            marks = dict(db.session.execute(select(ValuationMark.holding_id,
                                                   ValuationMark.value_per_unit)).all())
            # numpy_financial.irr on the fund's quarterly net flows (equally spaced periods).
            quarterly: defaultdict[tuple[int, int], float] = defaultdict(float)
            for _, on, kind, amount, _ in db.session.execute(stmt):
                sign = -1 if kind in (FlowKind.FOLLOW_ON, FlowKind.FEE) else 1
                quarterly[(on.year, (on.month - 1) // 3)] += sign * float(amount)
            keys = sorted(quarterly)
            series = [quarterly[k] for k in keys]
            series[-1] += float(D_total(body["json"]))
            started = time.perf_counter()
            npf_rate = npf.irr(series)
            npf_time = time.perf_counter() - started
            db.engine.dispose()
    ratio = served / bare_time
    fund = body["json"]["fund"]
    return {
        "holdings / flows": f"{holdings:,} / {flows:,} ({len(marks):,} marks)",
        "generate (s)": f"{generated:.2f}",
        "bare SELECT + pyxirr per holding (ms)": f"{bare_time * 1000:.1f}",
        "GET /api/v1/performance (ms)": f"{served * 1000:.1f}",
        "ratio (goal ≤ 1.5)": f"{ratio:.2f}",
        "… with include=cash_flows (ms)": f"{served_with_flows * 1000:.1f}"
                                          f" ({body['flows']:,} flows listed)",
        "fund IRR (XIRR)": fund["irr"],
        "fund TVPI": fund["tvpi"],
        "numpy_financial.irr, quarterly (per qtr)": f"{npf_rate:.6f} ({npf_time * 1000:.1f} ms)",
        "goal_met": ratio <= GOAL,
    }


def D_total(body: dict) -> str:  # the NAV as the last quarter's terminal value
    return body["fund"]["nav_amount"]
