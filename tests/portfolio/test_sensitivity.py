"""Conversion sensitivity (pre-money x discount x closing date) and the policy what-if: the pure
grid against direct engine runs and hand-computed figures, the preview page and the API."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest
from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from fundapp.fund.operations import create_policy_version
from fundapp.portfolio.conversion.engine import (
    ConversionPolicy,
    NotQualifyingError,
    SensitivityError,
    compute_conversion,
    sensitivity_grid,
)
from fundapp.portfolio.conversion.models import Conversion
from fundapp.portfolio.rounds.models import FinancingRound
from tests.conftest import login, make_user
from tests.isolation import isolated_client
from tests.portfolio.helpers import make_deal, manager_headers, signed_and_paid
from tests.portfolio.test_conversion import GRANT, ROUND
from tests.portfolio.test_conversion_api import record_round

D = Decimal
# Signed 2025-06-01: the 36-month window ends 2028-06-01, the 90-day grace on 2028-08-30.
AFTER_GRACE = date(2028, 10, 1)


def cell(grid, pre, discount, day=None):
    table = next(t for t in grid.tables if day is None or t.closed_on == day)
    row = grid.pre_money_values.index(D(pre))
    column = grid.discounts.index(D(discount))
    return table.rows[row][column]


# --------------------------------------------------------------------------- the pure grid


def test_default_axes_and_cells_match_direct_engine_runs():
    policy = ConversionPolicy(discount=D("0.15"))
    grid = sensitivity_grid(GRANT, ROUND, policy, None, fund_holder="fund")

    assert grid.pre_money_values == tuple(D(v) for v in (
        "50000000.00", "75000000.00", "100000000.00", "125000000.00", "150000000.00",
        "200000000.00"))
    # 0, 10, 20, 30 % and the policy's own 15 %.
    assert grid.discounts == (D("0"), D("0.10"), D("0.15"), D("0.20"), D("0.30"))
    assert grid.closing_dates == (ROUND.closed_on,)
    for pre in ("50000000.00", "125000000.00", "200000000.00"):
        for discount in ("0", "0.15", "0.30"):
            direct = compute_conversion(
                GRANT, replace(ROUND, pre_money_valuation=D(pre)),
                replace(policy, discount=D(discount)))
            got = cell(grid, pre, discount)
            assert got.fund_units == direct.fund_units
            assert got.fund_stake_display == direct.fund_stake_display
            assert got.conversion_price_display == direct.conversion_price_display
            assert got.refused_clause is None
    base = [c for t in grid.tables for row in t.rows for c in row if c.is_base]
    assert len(base) == 1 and (base[0].pre_money_valuation, base[0].discount) == (
        D("100000000.00"), D("0.15"))


def test_hand_computed_units_follow_the_rule_book_rounding():
    grid = sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None,
                            pre_money_values=[D("50000000.00"), D("100000000.00")],
                            discounts=[D("0.10"), D("0.20")])
    # Worked example C: P = 100m / 10m = 10.00; Pc = 10 x (1 - 20%) = 8.00; 5m / 8 = 625,000.
    c = cell(grid, "100000000.00", "0.20")
    assert c.conversion_price_display == "8.000000"
    assert c.fund_units == D("625000.00")
    assert c.fund_stake == D("4.95")  # 625,000 / 12,625,000 = 4.9505 %
    # P = 5.00, Pc = 4.50: 5,000,000 / 4.5 = 1,111,111.111... rounded DOWN to the fen (R6.a).
    c = cell(grid, "50000000.00", "0.10")
    expected = (D("5000000.00") / D("4.5")).quantize(D("0.01"), rounding=ROUND_DOWN)
    assert c.fund_units == expected == D("1111111.11")
    post = D("10000000.00") + D("4000000.00") + expected  # lead buys 20m / 5.00 = 4m units
    assert c.fund_stake == (expected * 100 / post).quantize(D("0.01"))  # 7.35 %


def test_a_discount_column_lowers_the_conversion_price_as_r5c_says():
    grid = sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None,
                            pre_money_values=[D("100000000.00")],
                            discounts=[D("0"), D("0.10"), D("0.30")])
    prices = [c.conversion_price_display for c in grid.tables[0].rows[0]]
    assert prices == ["10.000000", "9.000000", "7.000000"]  # Pc = P x (1 - discount)
    units = [c.fund_units for c in grid.tables[0].rows[0]]
    assert units == sorted(units) and units[0] < units[-1]


def test_a_closing_date_after_the_window_and_grace_refuses_the_cell_by_r3b():
    grid = sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None,
                            pre_money_values=[D("100000000.00")], discounts=[D("0")],
                            closing_dates=[ROUND.closed_on, AFTER_GRACE])
    inside, outside = (t.rows[0][0] for t in grid.tables)
    assert inside.refused_clause is None and inside.fund_units == D("500000.00")
    assert outside.refused_clause == "R3.b" and outside.fund_units is None
    assert "after the window ended on 2028-06-01" in outside.reason_en
    assert "晚于窗口期截止日" in outside.reason_zh
    with pytest.raises(NotQualifyingError) as direct:
        compute_conversion(GRANT, replace(ROUND, closed_on=AFTER_GRACE), ConversionPolicy())
    assert direct.value.result.failed_clauses[0].clause == "R3.b"
    # Inside the grace period the definitive agreement signed in the window keeps it alive.
    agreed = replace(ROUND, definitive_agreement_signed_on=date(2028, 5, 1))
    grace = sensitivity_grid(GRANT, agreed, ConversionPolicy(), None, discounts=[D("0")],
                             pre_money_values=[D("100000000.00")],
                             closing_dates=[date(2028, 8, 30), date(2028, 8, 31)])
    assert [t.rows[0][0].refused_clause for t in grace.tables] == [None, "R3.b"]


def test_a_below_par_price_names_r6b_and_the_grid_size_is_capped():
    grid = sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None,
                            pre_money_values=[D("5000000.00")], discounts=[D("0.20")])
    assert grid.tables[0].rows[0][0].refused_clause == "R6.b"  # Pc 0.40 < par 1.00
    many = [D(10_000_000 * n) for n in range(1, 14)]
    with pytest.raises(SensitivityError) as too_many:
        sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None, pre_money_values=many)
    assert too_many.value.field == "pre_money" and "at most 12" in str(too_many.value)
    with pytest.raises(SensitivityError) as bad:
        sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None, discounts=[D("1")])
    assert bad.value.field == "discount"
    days = [date(2026, 11, d) for d in range(1, 8)]
    with pytest.raises(SensitivityError, match="closing_on"):
        sensitivity_grid(GRANT, ROUND, ConversionPolicy(), None, closing_dates=days)


# --------------------------------------------------------------------------- page and API


def ledger_count() -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry))


def setup(client):
    headers = manager_headers(client)
    deal = make_deal()
    grant_id = signed_and_paid(client, headers, deal.id)
    rnd = record_round(client, headers, deal.company_id)
    return headers, grant_id, rnd["id"]


def browser(app, email, locale):
    make_user(email, roles=("fund_manager",), locale=locale)
    client = isolated_client(app)
    assert login(client, email).status_code == 302
    return client


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_the_api_returns_the_grid_and_names_bad_axes(client):
    headers, grant_id, round_id = setup(client)
    before = ledger_count()
    url = f"/api/v1/grants/{grant_id}/sensitivity"
    response = client.get(url, headers=headers, query_string={
        "round_id": round_id, "pre_money": "50000000, 100%", "discount": ["0", "20%"],
        "closing_on": "2026-11-01,2028-10-01"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["pre_money_values"] == ["50000000.00", "100000000.00"]
    assert body["discounts"] == ["0", "0.2"]
    first, late = body["tables"]
    cells = {(r["pre_money_valuation"], c["discount"]): c for r in first["rows"]
             for c in r["cells"]}
    base = cells[("100000000.00", "0")]
    assert base["is_base"] and base["fund_units"] == "500000.00" and base["fund_stake"] == "4.00"
    assert cells[("100000000.00", "0.2")]["fund_units"] == "625000.00"
    assert cells[("100000000.00", "0.2")]["conversion_price_display"] == "8.000000"
    assert late["closed_on"] == "2028-10-01"
    assert {c["refused_clause"] for r in late["rows"] for c in r["cells"]} == {"R3.b"}
    # A hypothetical round with the page's fields.
    hypothetical = client.get(url, headers=headers, query_string={
        "kind": "priced_equity", "closed_on": "2026-11-01",
        "pre_money_valuation_amount": "100000000.00", "units_before": "10000000.00",
        "investor_1_name": "Lead", "investor_1_cash": "20000000.00",
        "investor_1_independent": "yes", "lead": "1", "discount": "20%"})
    assert hypothetical.status_code == 200, hypothetical.get_json()
    assert len(hypothetical.get_json()["tables"][0]["rows"]) == 6  # the default valuations
    for query, field in (({"pre_money": "lots"}, "pre_money"), ({"discount": "150%"}, "discount"),
                         ({"closing_on": "2026-13-01"}, "closing_on"),
                         ({"pre_money": ",".join(str(10**7 * n) for n in range(1, 14))},
                          "pre_money")):
        bad = client.get(url, headers=headers, query_string={"round_id": round_id, **query})
        assert bad.status_code == 422, (query, bad.get_json())
        assert field in bad.get_json()["error"]["details"], bad.get_json()
    assert ledger_count() == before
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/v1/grants/{grant_id}/sensitivity" in spec["paths"]


def test_the_page_shows_the_grid_in_both_languages_and_keeps_bad_input(app, client):
    _headers, grant_id, round_id = setup(client)
    page = f"/grants/{grant_id}/preview"
    query = {"mode": "recorded", "round_id": round_id, "closing_on": "2026-11-01, 2028-10-01"}
    en = browser(app, "en@example.cn", "en")
    shown = en.get(page, query_string=query)
    assert shown.status_code == 200
    html = text(shown)
    assert 'data-testid="sensitivity-grid"' in html
    assert "Sensitivity" in html
    base = re.search(r'data-testid="sensitivity-base">([^<]+)<br><small>([^<]+)</small>', html)
    assert base and base.groups() == ("500,000.00", "4.00%")
    assert "625,000.00" in html and "50,000,000.00" in html and "20%" in html
    # The late closing date: every cell names R3.b and says why, never a bare code.
    assert html.count('data-clause="R3.b"') == 24
    assert "Outside the conversion window and grace period" in html
    assert "after the window ended on 2028-06-01" in html
    assert "None" not in re.sub(r"<[^>]+>", " ", html)
    zh = browser(app, "zh@example.cn", "zh")
    html_zh = text(zh.get(page, query_string=query))
    assert 'data-testid="sensitivity-grid"' in html_zh
    assert "晚于窗口期截止日" in html_zh  # the engine's Chinese reason of the refused cells
    assert "500,000.00" in html_zh

    bad = en.get(page, query_string={**query, "discount": "10%, lots"})
    assert bad.status_code == 422
    html = text(bad)
    assert "“lots” is not a discount" in html
    assert 'value="10%, lots"' in html  # what was typed stays in the field
    assert 'data-testid="preview-result"' in html  # the sheet itself still shows
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 0


def test_policy_what_if_shows_both_results_on_the_page_and_in_the_api(app, client):
    headers, grant_id, round_id = setup(client)
    version = create_policy_version(db.session, effective_on=date(2026, 1, 1),
                                    values={"discount": "0.20"}, approved_by="IC",
                                    ic_resolution_ref="IC-2026-7", version="v-discount-20",
                                    actor="test")
    db.session.commit()
    browser_client = browser(app, "en@example.cn", "en")
    before = ledger_count()
    url = f"/api/v1/grants/{grant_id}/conversion-preview"
    response = client.post(url, headers=headers,
                           json={"round_id": round_id, "policy_version_id": version.id})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sheet"]["fund_units"] == "500000.00"  # the pinned policy: no discount
    what_if = body["what_if"]
    assert what_if["policy_version"] == "v-discount-20"
    assert what_if["sheet"]["fund_units"] == "625000.00"  # worked example C
    assert what_if["sheet"]["conversion_price_display"] == "8.000000"
    drafted = client.post(url, headers=headers, json={
        "round_id": round_id, "what_if_valuation_cap": "60000000.00"}).get_json()["what_if"]
    assert drafted["sheet"]["fund_units"] == "833333.33"  # worked example D
    assert drafted["changes"] == {"valuation_cap": "60000000.00"}
    assert drafted["name"] == "default-1，调整：估值上限 (R5.d) = 60000000.00"  # the reader's
    english = client.post(url, headers={**headers, "Accept-Language": "en"}, json={
        "round_id": round_id, "what_if_valuation_cap": "60000000.00"}).get_json()["what_if"]
    assert english["name"] == "default-1 with changes: valuation cap (R5.d) = 60000000.00"
    window = client.post(url, headers=headers, json={
        "round_id": round_id, "what_if_conversion_window_months": "12"}).get_json()["what_if"]
    assert window["sheet"] is None and window["refused_clause"] == "R3.b"
    bad = client.post(url, headers=headers, json={"round_id": round_id,
                                                 "what_if_max_stake": "1.5"})
    assert bad.status_code == 422 and "what_if_max_stake" in bad.get_json()["error"]["details"]

    page = f"/grants/{grant_id}/preview"
    shown = browser_client.get(page, query_string={"mode": "recorded", "round_id": round_id,
                                                   "policy_version_id": version.id})
    assert shown.status_code == 200
    html = text(shown)
    table = html[html.index('data-testid="policy-comparison"'):]
    assert "v-discount-20" in table
    assert re.search(r'<tr class="differs"><th scope="row">Fund units</th>'
                     r'<td class="num">500,000.00</td><td class="num what-if">625,000.00', table)
    assert re.search(r'<tr><th scope="row">Refused by</th>', table)  # same on both sides
    typed = browser_client.get(page, query_string={"mode": "recorded", "round_id": round_id,
                                                   "what_if_discount": "abc"})
    assert typed.status_code == 422
    assert 'value="abc"' in text(typed) and "Not a valid number." in text(typed)
    assert ledger_count() == before
    assert db.session.scalar(select(func.count()).select_from(FinancingRound)) == 1


# --------------------------------------------------------------------------- the IC pack


def test_the_ic_pack_carries_a_sensitivity_grid_of_the_base_scenario(app, tmp_path):
    import json

    from fundapp.ic import operations as ic_ops
    from fundapp.ic.queries import _hypothesis, _round
    from tests.ic.conftest import AT, MEETING_DAY
    from tests.reports.helpers import pdf_text
    from tests.reports.test_ic_pack import _committee

    with app.test_request_context():
        c = _committee(app)
        meeting = ic_ops.create_meeting(db.session, actor="a", title="投决会",
                                        held_on=MEETING_DAY, chair_id=c["chair"].id,
                                        member_ids=[c["member"].id],
                                        deal_ids=[c["deals"][0].id])
        pack_row = ic_ops.generate_pack(db.session, meeting, actor="a", language="both", now=AT)
        db.session.commit()
        data = json.loads(pack_row.data_json)
        grid = data["deals"][0]["sensitivity"]
        assert grid["discounts"][0] == "0%" and "30%" in grid["discounts"]
        assert len(grid["rows"]) == 6
        base = [cell for row in grid["rows"] for cell in row["cells"] if cell["is_base"]]
        assert len(base) == 1
        # The base cell is the base scenario's figures, as the scenarios table states them.
        scenario = next(s for s in data["deals"][0]["scenarios"] if s["key"] == "base")
        assert base[0]["stake"] == f"{Decimal(scenario['stake'].rstrip('%')):.2f}%"
        # Every refused cell names its clause, and a cell refused matches a direct engine run.
        deal = c["deals"][0]
        policy, grant, units, pre, new_money, closed_on, form = _hypothesis(
            deal, ic_ops_values(meeting), MEETING_DAY, [])
        for row in grid["rows"]:
            for cell in row["cells"]:
                assert bool(cell["clause"]) != bool(cell["units"])
        low = grid["rows"][0]["cells"][0]
        direct = compute_conversion(grant, _round(units, (pre * D("0.5")).quantize(D("0.01")),
                                                  new_money, closed_on, form),
                                    replace(policy, discount=D("0")),
                                    fund_holder="本基金 The fund")
        assert low["units"] == f"{direct.fund_units:,}"
        text = pdf_text(pack_row.pdf, tmp_path)
        assert "Conversion sensitivity" in text and "转股敏感性分析" in text
        assert ic_ops.render_pack(pack_row) == pack_row.pdf


def ic_ops_values(meeting):
    from fundapp.ic.queries import _policy_values

    return _policy_values(db.session, meeting.held_on)
