"""A realistic three-year history workbook (issue 12) and the figures it must produce, computed
here independently of the app: plain Decimal arithmetic for the conversions (R5.a, R6.a-d) and a
bisection XIRR (actual/365) for the fund's return. Nothing of fundapp's calculation code is used;
only the workbook's layout (fundapp.history_import.sheets: headers) is shared.

24 companies: 22 through the pipeline (four roadshows, 2023-2024), 2 direct investments. Grants in
every state: disbursing, R&D accepted, converted (six, one of them stake-capped, R6.d), closed
(R8.a), closed with tolerance (R8.b), in breach (R8.c). A buy-back (R7) of a converted holding and
an exchange sale (R9) of a direct one; marks, dividends, a recovery, a refund, quarterly KPIs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from fundapp.history_import.sheets import BY_KEY, SHEETS

D = Decimal
FEN = D("0.01")
PLATFORM = "浦江科创投资平台有限公司"
AUTHOR, APPROVER = "manager@fund.cn", "manager2@fund.cn"
ROADSHOWS = [("R1", "2023年春季路演", date(2023, 4, 18)), ("R2", "2023年秋季路演", date(2023, 10, 20)),
             ("R3", "2024年春季路演", date(2024, 4, 19)), ("R4", "2024年秋季路演", date(2024, 10, 18))]
JUDGES = [("周教授", "复旦大学"), ("吴博士", "生物医药产业促进中心"), ("陈老师", "上海交通大学")]
SECTORS = ["ai", "bci", "life_health", "robotics.humanoid", "digital", "metaverse"]

# Each pipeline company's fate: (roadshow, end state). A grant state names where its grant ends.
FATES = [
    ("R1", "converted"), ("R1", "converted_capped"), ("R1", "closed"), ("R1", "declined"),
    ("R1", "tolerance"), ("R2", "converted_buyback"), ("R2", "converted"), ("R2", "breach"),
    ("R2", "withdrawn"), ("R2", "rd_accepted"), ("R3", "converted"), ("R3", "converted_diff"),
    ("R3", "disbursing"), ("R3", "on_hold"), ("R3", "rd_accepted"), ("R4", "disbursing"),
    ("R4", "converted_late"), ("R4", "disbursing"), ("R4", "ic_decision"), ("R4", "declined"),
    ("R4", "disbursing"), ("R1", "disbursing_refund"),
]
AS_OF = date(2026, 11, 15)


@dataclass
class Expected:
    conversions: dict[str, dict] = field(default_factory=dict)  # grant ref -> figures
    cap_tables: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    flows: list[tuple[date, Decimal]] = field(default_factory=list)  # all-in, fund's side
    holdings: dict[str, dict] = field(default_factory=dict)  # ref -> units, cost, mark
    receivables: Decimal = D("0.00")
    grant_states: dict[str, str] = field(default_factory=dict)
    companies: int = 0
    rows: int = 0

    @property
    def paid_in(self) -> Decimal:
        return -sum((a for _d, a in self.flows if a < 0), D(0))

    @property
    def distributed(self) -> Decimal:
        return sum((a for _d, a in self.flows if a > 0), D(0))

    @property
    def nav(self) -> Decimal:
        total = self.receivables
        for h in self.holdings.values():
            value = h["units"] * h["mark"] if h.get("mark") is not None else h["cost"]
            total += value.quantize(FEN, rounding=ROUND_HALF_UP)
        return total


def xirr(flows: list[tuple[date, Decimal]]) -> Decimal:
    """The rate r solving sum(a / (1 + r) ** (days / 365)) = 0, by bisection (netted by day)."""
    by_day: dict[date, Decimal] = {}
    for day, amount in flows:
        by_day[day] = by_day.get(day, D(0)) + amount
    first = min(by_day)
    points = [((day - first).days / 365.0, float(amount)) for day, amount in by_day.items()]

    def npv(rate: float) -> float:
        return sum(a / (1.0 + rate) ** t for t, a in points)

    low, high = -0.99, 10.0
    assert npv(low) * npv(high) < 0
    for _ in range(200):
        mid = (low + high) / 2
        if npv(low) * npv(mid) <= 0:
            high = mid
        else:
            low = mid
    return D(str((low + high) / 2))


def _convert(grant_amount: Decimal, pre_money: Decimal, units_before: Decimal,
             investors: list[tuple[str, Decimal]], holders: list[tuple[str, Decimal]],
             max_stake: Decimal = D("0.30")) -> dict:
    """R5.a same price; R6.a units rounded down to 0.01 (LLC); R6.c stake; R6.d cap."""
    price = pre_money / units_before
    fund = (grant_amount / price).quantize(FEN, rounding=ROUND_DOWN)
    new = [(name, (cash / price).quantize(FEN, rounding=ROUND_DOWN)) for name, cash in investors]
    others = units_before + sum((u for _n, u in new), D(0))
    converted = grant_amount
    capped = fund / (others + fund) > max_stake
    if capped:
        fund = (max_stake * others / (1 - max_stake)).quantize(FEN, rounding=ROUND_DOWN)
        while fund / (others + fund) > max_stake:
            fund -= FEN
        converted = (fund * price).quantize(FEN, rounding=ROUND_HALF_UP)
    post = others + fund
    stake = (fund / post * 100).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
    table = [*holders, *new, ("FUND", fund)]
    return {"fund_units": fund, "converted_amount": converted, "stake_percent": stake,
            "post_units": post, "capped": capped, "remaining": grant_amount - converted,
            "price": price, "cap_table": table}


def uscc(n: int) -> str:
    """A valid unified social credit code (GB 32100-2015 check character)."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    body = f"91310115MA1H{n:05d}"
    total = sum(chars.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + chars[(31 - total % 31) % 31]


class Builder:
    def __init__(self) -> None:
        self.rows: dict[str, list[list]] = {s.key: [] for s in SHEETS}
        self.expected = Expected()

    def add(self, sheet: str, **values) -> None:
        columns = BY_KEY[sheet].columns
        unknown = set(values) - {c.key for c in columns}
        assert not unknown, (sheet, unknown)
        self.rows[sheet].append([values.get(c.key) for c in columns])

    def flow(self, day: date, amount: Decimal) -> None:
        self.expected.flows.append((day, amount))

    def workbook(self) -> bytes:
        from openpyxl import Workbook

        book = Workbook()
        book.remove(book.active)
        for sheet in SHEETS:
            ws = book.create_sheet(sheet.title)
            ws.append([c.header for c in sheet.columns])
            for row in self.rows[sheet.key]:
                ws.append([str(v) if isinstance(v, Decimal) else
                           ("yes" if v is True else "no" if v is False else v) for v in row])
        self.expected.rows = sum(len(r) for r in self.rows.values())
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def build(difference: bool = True, only: set[int] | None = None,
          direct: bool = True, repeat: int = 1) -> tuple[bytes, Expected]:
    """The workbook and what it must produce. `difference`: one conversion (G12) recorded with
    figures that differ from the engine's (as a spreadsheet kept by hand might). `only`: just
    these pipeline companies (1-based numbers of FATES); `direct`: the two direct investments;
    `repeat`: the pipeline's 22 companies that many times (the benchmark's large workbook)."""
    b = Builder()
    exp = b.expected
    for ref, name, held_on in ROADSHOWS:
        b.add("roadshows", ref=ref, name=name, held_on=held_on, venue="张江科学会堂",
              organiser="张江科技投资联盟")
    held = {ref: day for ref, _n, day in ROADSHOWS}
    for n, (show, fate) in enumerate(FATES * repeat, start=1):
        if only is not None and n not in only:
            continue
        c, d, g = f"C{n:02d}", f"D{n:02d}", f"G{n:02d}"
        capped = fate == "converted_capped"
        b.add("companies", ref=c, legal_name=f"上海历史样本{n:02d}科技有限公司",
              name_en=f"History Sample {n:02d}", uscc=uscc(n), sector=SECTORS[n % len(SECTORS)],
              district="浦东新区", legal_form="llc",
              registered_capital_amount=D("1000000.00") if capped else D("10000000.00"),
              founded_on=date(2018 + n % 4, n % 12 + 1, 1))
        h = held[show]
        award = D("5000000.00") if n % 3 != 2 or capped else D("3000000.00")
        b.add("deals", ref=d, company=c, project_name=f"样本项目 {n:02d}",
              requested_grant_amount=award, approved_budget_amount=award * 2,
              roadshow=show, created_on=h - timedelta(days=30))
        for j, (judge, affiliation) in enumerate(JUDGES):
            b.add("scores", roadshow=show, company=c, judge=judge, affiliation=affiliation,
                  technology=D(7 + (n + j) % 3), team=D(8), market=D("7.5"),
                  park_fit=D(6 + j), policy_value=D(7), has_conflict=False,
                  approves=fate != "declined", comment="同意" if fate != "declined" else "不同意")
        stages = [("roadshow", h - timedelta(days=20)), ("expert_review", h + timedelta(days=3))]
        if fate == "declined":
            b.add("stages", deal=d, stage="roadshow", on=h - timedelta(days=20))
            b.add("stages", deal=d, stage="expert_review", on=h + timedelta(days=3))
            b.add("stages", deal=d, stage="declined", on=h + timedelta(days=12),
                  reason="专家评审未通过")
            continue
        if fate == "withdrawn":
            b.add("stages", deal=d, stage="roadshow", on=h - timedelta(days=20))
            b.add("stages", deal=d, stage="withdrawn", on=h + timedelta(days=5),
                  reason="企业主动撤回")
            continue
        stages += [("due_diligence", h + timedelta(days=10))]
        if fate == "on_hold":
            for stage, on in stages:
                b.add("stages", deal=d, stage=stage, on=on)
            b.add("stages", deal=d, stage="on_hold", on=h + timedelta(days=25),
                  reason="等待补充材料")
            continue
        stages += [("ic_decision", h + timedelta(days=20))]
        if fate == "ic_decision":
            for stage, on in stages:
                b.add("stages", deal=d, stage=stage, on=on)
            continue
        stages += [("public_notice", h + timedelta(days=30)),
                   ("agreement_signed", h + timedelta(days=60))]
        for stage, on in stages:
            b.add("stages", deal=d, stage=stage, on=on,
                  ic_reference=f"投决〔{on.year}〕{n:03d}号" if stage == "public_notice" else None)
        signed = h + timedelta(days=61)
        b.add("grants", ref=g, deal=d, awarded_amount=award, signed_on=signed,
              holder_entity=PLATFORM, agreement_no=f"BT-{signed.year}-{n:03d}")
        split = [(award * D("0.4")).quantize(FEN), (award * D("0.3")).quantize(FEN)]
        split.append(award - sum(split))
        for position, amount in enumerate(split, start=1):
            b.add("tranches", grant=g, position=position, amount=amount,
                  milestone="签约" if position == 1 else f"里程碑 {position}")
        paid_days = [signed + timedelta(days=9), signed + timedelta(days=200),
                     signed + timedelta(days=380)]
        last = {"disbursing": 1, "disbursing_refund": 2, "breach": 1}.get(fate, 3)
        if fate == "disbursing" and n in (13, 16):
            last = 2
        paid = D(0)
        for position in range(1, last + 1):
            day = paid_days[position - 1]
            if position > 1:
                b.add("reviews", grant=g, tranche=position, reviewed_on=day - timedelta(days=5),
                      is_passed=True, reviewer="专家组", evidence="里程碑报告")
            b.add("disbursements", grant=g, tranche=position, paid_on=day,
                  amount=split[position - 1])
            b.flow(day, -split[position - 1])
            paid += split[position - 1]
        state = {"converted_capped": "converted", "converted_buyback": "converted",
                 "converted_diff": "converted", "converted_late": "converted",
                 "tolerance": "closed_tolerance", "breach": "in_breach",
                 "disbursing_refund": "disbursing"}.get(fate, fate)
        exp.grant_states[g] = state
        if fate == "disbursing_refund":
            refund_day = paid_days[1] + timedelta(days=40)
            b.add("refunds", grant=g, refunded_on=refund_day, amount=D("100000.00"),
                  reason="结余退回")
            b.flow(refund_day, D("100000.00"))
            paid -= D("100000.00")
        if fate == "breach":
            breach_on = paid_days[0] + timedelta(days=300)
            b.add("grant_events", grant=g, event="breach", on=breach_on,
                  reason="窗口期内将注册地迁出本区", repaid_on=breach_on + timedelta(days=60))
            b.add("cash_flows", kind="recovery", on=breach_on + timedelta(days=60),
                  amount=paid, grant=g, reference="追回拨款 recovery")
            b.flow(breach_on + timedelta(days=60), paid)
            continue
        if fate in ("disbursing", "disbursing_refund"):
            continue
        accepted = paid_days[2] + timedelta(days=120)
        b.add("grant_events", grant=g, event="rd_accepted", on=accepted,
              reference=f"验收〔{accepted.year}〕{n:02d}")
        if fate == "tolerance":
            b.add("grant_events", grant=g, event="closed_tolerance",
                  on=accepted + timedelta(days=30), reference=f"投决〔{accepted.year}〕T{n:02d}",
                  reason="技术路线失败，结项免责")
            continue
        if fate == "closed":
            # R8.a: accepted, no qualifying round within the window and its grace.
            b.add("grant_events", grant=g, event="closed_expired", on=date(2026, 10, 15))
            continue
        if fate == "rd_accepted":
            continue
        closed_on = accepted + timedelta(days=60 if fate != "converted_late" else 30)
        a = f"A{n:02d}"
        if capped:
            pre, before = D("5000000.00"), D("1000000.00")
            investors = [("浦江创投 Pujiang VC", D("5000000.00"))]
        else:
            pre, before = D("100000000.00"), D("10000000.00")
            investors = [("浦江创投 Pujiang VC", D("15000000.00")),
                         ("张江天使 Zhangjiang Angels", D("5000000.00"))]
        holders = [("创始人甲 Founder A", before * D("0.6")), ("创始人乙 Founder B",
                                                            before * D("0.25")),
                   ("员工持股平台 ESOP", before * D("0.15"))]
        b.add("rounds", ref=a, company=c, name="A 轮 Series A", kind="priced_equity",
              closed_on=closed_on, definitive_agreement_signed_on=closed_on - timedelta(days=10),
              pre_money_valuation_amount=pre, units_before=before, lead=investors[0][0])
        for name, cash in investors:
            b.add("investors", round=a, name=name, cash_amount=cash, is_independent=True)
        for holder, units in holders:
            b.add("holders", round=a, holder=holder, units=units)
        result = _convert(paid, pre, before, investors, holders)
        exp.conversions[g] = result
        exp.cap_tables[g] = result["cap_table"]
        recorded = dict(result)
        if fate == "converted_diff" and difference:
            # The fund's old spreadsheet rounded the units half-up (and the stake with them).
            recorded["fund_units"] = result["fund_units"] + FEN
        b.add("conversions", grant=g, round=a, converted_amount=recorded["converted_amount"],
              fund_units=recorded["fund_units"], stake_percent=recorded["stake_percent"],
              registered_on=closed_on + timedelta(days=20))
        units = recorded["fund_units"]
        holding = {"units": units, "cost": result["converted_amount"], "mark": None}
        exp.holdings[g] = holding
        mark_day = closed_on + timedelta(days=45)
        if mark_day < AS_OF and n % 2 == 0:
            value = result["price"].quantize(D("0.000001")) * D("1.2")
            b.add("marks", holding=g, measured_on=mark_day, method="multiples",
                  value_per_unit=value.quantize(D("0.000001")), author=AUTHOR, approver=APPROVER)
            holding["mark"] = value.quantize(D("0.000001"))
        if fate == "converted_buyback":
            # R7: half of the units bought back before the 3rd anniversary, at the floor.
            half = (units / 2).quantize(FEN, rounding=ROUND_DOWN)
            price = (result["converted_amount"] * half / units).quantize(FEN, ROUND_HALF_UP)
            transfer = closed_on + timedelta(days=150)
            b.add("exits", holding=g, kind="buyback", transfer_on=transfer, units=half,
                  price_amount=price, buyer="创始人甲 Founder A")
            b.flow(transfer, price)
            cost_sold = (holding["cost"] * half / units).quantize(FEN, ROUND_HALF_UP)
            holding["units"] -= half
            holding["cost"] -= cost_sold
    exp.companies = len(FATES) * repeat if only is None else len(only)
    if not direct:
        return b.workbook(), exp

    # Two direct investments, one with a dividend and an exchange sale of half (R9).
    for k, (ref, name, invested, amount, units) in enumerate([
            ("H1", "上海直投样本甲有限公司", date(2023, 3, 15), D("3000000.00"), D("300000.00")),
            ("H2", "上海直投样本乙有限公司", date(2023, 9, 20), D("2500000.00"), D("500000.00"))]):
        c = f"X{k + 1}"
        b.add("companies", ref=c, legal_name=name, name_en=f"Direct Sample {k + 1}",
              uscc=uscc(90000 + k), sector="digital", district="浦东新区", legal_form="llc",
              registered_capital_amount=D("10000000.00"), founded_on=date(2017, 5, 1))
        b.add("holdings", ref=ref, company=c, invested_on=invested, amount=amount, units=units,
              holder_entity=PLATFORM, reference="直投 direct investment")
        b.flow(invested, -amount)
        exp.holdings[ref] = {"units": units, "cost": amount, "mark": None}
        for year, value in ((2023, "11.000000"), (2024, "12.500000"), (2025, "13.000000")):
            per_unit = D(value) if k == 0 else D(value) / 2
            b.add("marks", holding=ref, measured_on=date(year, 12, 31),
                  method="multiples", value_per_unit=per_unit.quantize(D("0.000001")),
                  author=AUTHOR if year % 2 else APPROVER,
                  approver=APPROVER if year % 2 else AUTHOR)
            exp.holdings[ref]["mark"] = per_unit.quantize(D("0.000001"))
    exp.companies += 2
    b.add("cash_flows", kind="dividend", on=date(2025, 6, 30), amount=D("150000.00"),
          holding="H1", reference="2024 年度分红")
    b.flow(date(2025, 6, 30), D("150000.00"))
    # R9: 150,000 units of H1 through the exchange: filed appraisal, 20 working days' disclosure,
    # reserve at least the appraisal, 30%+ down and the balance within a year.
    b.add("exits", holding="H1", kind="exchange", transfer_on=date(2026, 10, 20),
          units=D("150000.00"), price_amount=D("2100000.00"), buyer="张江科技产业集团",
          appraisal_value_amount=D("1950000.00"), appraisal_base_on=date(2026, 6, 30),
          appraisal_filing_no="沪国资评备〔2026〕118号", appraisal_filed_on=date(2026, 8, 10),
          appraiser="上海立信资产评估有限公司", disclosure_start_on=date(2026, 8, 31),
          disclosure_end_on=date(2026, 9, 30), reserve_price_amount=D("2000000.00"),
          down_payment_amount=D("700000.00"), balance_due_on=date(2027, 4, 20))
    b.flow(date(2026, 10, 20), D("700000.00"))
    exp.receivables += D("1400000.00")
    h1 = exp.holdings["H1"]
    h1["cost"] -= (h1["cost"] * D("150000.00") / h1["units"]).quantize(FEN, ROUND_HALF_UP)
    h1["units"] -= D("150000.00")

    # KPIs: the converted companies' quarters of 2025 and 2026.
    for g in sorted(exp.conversions):
        c = "C" + g[1:]
        for q, quarter in enumerate(("2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3")):
            year, number = int(quarter[:4]), int(quarter[-1])
            end = date(year, 3 * number, 28)
            b.add("kpis", company=c, quarter=quarter,
                  revenue_amount=D(1_000_000 + 100_000 * q), rd_spend_amount=D(300_000),
                  headcount=20 + q, pct_applications=q % 3,
                  value_added_amount=D(2_000_000), answered_on=end + timedelta(days=25))
    return b.workbook(), exp
