"""The history import (issue 12): template, dry run, all or nothing, idempotency, conversion
differences, and a three-year workbook checked against figures computed in the test."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.extensions import db
from tests.conftest import PASSWORD, api_token, csrf_from, login, make_user, run_tasks
from tests.data.history_workbook import AS_OF, Builder, build, xirr

pytestmark = pytest.mark.timeout(900)

FUND = ["fund", "create", "--name", "浦江科创拨投结合基金", "--name-en", "Pujiang Fund",
        "--committed-capital", "300000000.00", "--inception-date", "2022-06-01",
        "--platform", "浦江科创投资平台有限公司"]
REASON, IC_REF = "旧台账按四舍五入计算股数", "投决〔2026〕H01号"
ACCEPT = ["--accept-differences", "--reason", REASON, "--ic-reference", IC_REF]
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}


def setup_fund(app) -> None:
    """From an empty database: the first admin, the fund, the LPR published in the period."""
    from fundapp.reference.operations import add_lpr_rate

    cli = app.test_cli_runner()
    made = cli.invoke(args=["users", "create", "--email", "admin@fund.cn", "--role", "admin",
                            "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    result = cli.invoke(args=FUND)
    assert result.exit_code == 0, result.output
    for published_on, pct in ((date(2022, 8, 22), "3.65"), (date(2023, 6, 20), "3.55"),
                              (date(2024, 7, 22), "3.35"), (date(2024, 10, 21), "3.10"),
                              (date(2025, 5, 20), "3.00")):
        add_lpr_rate(db.session, published_on=published_on, rate_pct=pct, actor="test")
    db.session.commit()


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def ledger(action: str) -> list[dict]:
    db.session.rollback()
    return [json.loads(e.payload) for e in db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.seq))]


def import_file(app, tmp_path, content: bytes, *args: str, locale: str = "en"):
    path = tmp_path / "history.xlsx"
    path.write_bytes(content)
    return app.test_cli_runner().invoke(args=["import", str(path), "--no-bar", "--locale", locale,
                                              "--actor", "admin@fund.cn", *args])


def edit(content: bytes, sheet_key: str, row: int, column_key: str, value) -> bytes:
    """The workbook with one cell changed (row as Excel numbers it)."""
    from fundapp.history_import.sheets import BY_KEY

    book = load_workbook(io.BytesIO(content))
    sheet = BY_KEY[sheet_key]
    ws = book[sheet.title]
    index = [c.key for c in sheet.columns].index(column_key) + 1
    ws.cell(row=row, column=index, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def companies() -> int:
    from fundapp.deals.models import Company

    return count(Company)


# --- the template ------------------------------------------------------------------------------

def test_template_downloads_with_bilingual_headers_a_readme_and_an_example(app, client):
    make_user("manager@fund.cn", roles=("fund_manager",))
    login(client, "manager@fund.cn")
    page = client.get("/history-import", headers=EN)
    assert page.status_code == 200 and b"template-download" in page.data
    response = client.get("/history-import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    names = book.sheetnames
    assert names[0] == "说明 README" and names[-1] == "示例 Example"
    assert "公司 Companies" in names and "转股 Conversions" in names
    headers = next(book["公司 Companies"].iter_rows(values_only=True))
    assert headers[:2] == ("公司编号 / Company ref", "公司名称 / Company name")
    example = [r for r in book["示例 Example"].iter_rows(values_only=True) if any(r)]
    assert ("公司 Companies",) == tuple(v for v in example[0] if v is not None)
    assert example[2][1] == "上海示例科技有限公司"
    # The template as downloaded reads back with no problem and no row.
    from fundapp.history_import.parser import read_workbook

    parsed = read_workbook(response.data)
    assert parsed.problems == [] and parsed.row_count == 0
    token = api_token(client, "manager@fund.cn")
    api = client.get("/api/v1/history-imports/template",
                     headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.data[:2] == b"PK"


# --- the dry run -------------------------------------------------------------------------------

def test_dry_run_reports_problems_by_sheet_row_column_in_zh_and_en_and_writes_nothing(
        app, client, tmp_path):
    setup_fund(app)
    content, _expected = build(only={1}, direct=False)
    content = edit(content, "companies", 2, "founded_on", "2020-13-45")
    content = edit(content, "deals", 2, "requested_grant_amount", "lots")
    content = edit(content, "disbursements", 3, "grant", "G99")
    token = api_token(client, "admin@fund.cn")
    auth = {"Authorization": f"Bearer {token}"}
    before = count(LedgerEntry)
    answers = {}
    for lang, headers in (("en", EN), ("zh", ZH)):
        response = client.post("/api/v1/history-imports", headers={**auth, **headers},
                               data={"file": (io.BytesIO(content), "history.xlsx")},
                               content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
        answers[lang] = response.get_json()["report"]
    en, zh = answers["en"]["problems"], answers["zh"]["problems"]
    assert {"sheet": "Companies", "row": 2, "column": "Founded on",
            "message": "Not a date (YYYY-MM-DD): 2020-13-45."} in en
    assert {"sheet": "Deals", "row": 2, "column": "Requested grant (CNY)",
            "message": "Not a number: lots."} in en
    assert {"sheet": "Disbursements", "row": 3, "column": "Grant ref",
            "message": "No row of this workbook has the reference G99."} in en
    assert [(p["sheet"], p["row"], p["column"]) for p in zh][:2] == [
        ("公司", 2, "成立日期"), ("项目", 2, "申请拨款（元）")]
    assert len(zh) == len(en)
    summary = {s["key"]: s for s in answers["en"]["sheets"]}
    assert summary["companies"]["rows"] == 1 and summary["companies"]["applied"] == 0
    # Nothing was written: no company, no ledger entry, only the upload kept for the commit.
    assert companies() == 0 and count(LedgerEntry) == before


def test_commit_is_all_or_nothing(app, tmp_path):
    setup_fund(app)
    content, _expected = build(only={1, 7}, direct=False)
    # One bad row: the last tranche of G07 paid before its milestone review passed (R2.b).
    bad = edit(content, "reviews", 5, "is_passed", "no")
    before = count(LedgerEntry)
    result = import_file(app, tmp_path, bad)
    assert result.exit_code != 0
    assert "nothing was imported" in result.output
    assert "! Disbursements / " in result.output
    assert companies() == 0 and count(LedgerEntry) == before
    assert ledger("history.imported") == []
    dry = import_file(app, tmp_path, content, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and companies() == 0


def test_same_file_twice_creates_nothing_and_the_ledger_has_its_sha256(app, tmp_path):
    from fundapp.portfolio.grants.models import Grant

    setup_fund(app)
    content, expected = build(only={1, 3, 13}, direct=True)
    first = import_file(app, tmp_path, content)
    assert first.exit_code == 0, first.output
    made = (companies(), count(Grant), count(LedgerEntry))
    assert made[:2] == (expected.companies, 3)
    [entry] = ledger("history.imported")
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry["rows"] == expected.rows and entry["counts"]["companies"] == 5
    second = import_file(app, tmp_path, content)
    assert second.exit_code == 0, second.output
    assert "already imported" in second.output
    assert (companies(), count(Grant), count(LedgerEntry)) == made


def test_conversion_difference_needs_a_reason_and_an_ic_reference_and_is_ledgered(
        app, tmp_path):
    from fundapp.portfolio.conversion.models import Conversion
    from fundapp.portfolio.holdings.models import Holding

    setup_fund(app)
    content, expected = build(only={12}, direct=False)
    dry = import_file(app, tmp_path, content, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "≠ conversion G12" in dry.output and "fund_units: recorded 500000.01, engine " \
        "500000.00" in dry.output
    refused = import_file(app, tmp_path, content)
    assert refused.exit_code != 0 and "reason" in refused.output
    assert companies() == 0
    half = import_file(app, tmp_path, content, "--accept-differences", "--reason", REASON)
    assert half.exit_code != 0 and companies() == 0
    accepted = import_file(app, tmp_path, content, *ACCEPT)
    assert accepted.exit_code == 0, accepted.output
    db.session.rollback()
    conversion = db.session.scalar(select(Conversion))
    assert conversion.fund_units == Decimal("500000.01")
    assert db.session.scalar(select(Holding.units)) == Decimal("500000.01")
    [entry] = ledger("history.conversion_accepted")
    assert entry["computed"] == {"fund_units": "500000.00"}
    assert entry["recorded"] == {"fund_units": "500000.01"}
    assert (entry["reason"], entry["ic_reference"]) == (REASON, IC_REF)
    [imported] = ledger("history.imported")
    assert imported["reason"] == REASON and imported["accepted_differences"][0]["grant"] == "G12"
    assert expected.conversions["G12"]["fund_units"] == Decimal("500000.00")


def test_a_refused_first_score_row_takes_its_panel_member_with_it(app):
    """A judge's first score row at a roadshow adds the judge to the panel, then is refused: the
    member goes with the rolled-back row, and the judge's next row there adds it again (not the
    id of a member that no longer exists)."""
    from fundapp.deals.models import Company, PanelMember, Roadshow, ScoreSheet
    from fundapp.history_import.operations import run_import
    from fundapp.history_import.parser import read_workbook
    from fundapp.history_import.planner import Planner
    from fundapp.unit_of_work import lock_key

    b = Builder()
    b.add("roadshows", ref="R1", name="2023年春季路演", held_on=date(2023, 4, 18))
    for ref in ("C01", "C02"):
        b.add("companies", ref=ref, legal_name=f"上海评分样本{ref}科技有限公司", sector="ai")
    scores = {"technology": Decimal(8), "team": Decimal(8), "market": Decimal("7.5"),
              "park_fit": Decimal(7), "policy_value": Decimal(7)}
    judge = {"roadshow": "R1", "judge": "周教授", "affiliation": "复旦大学"}
    # Row 2 has no technology score: record_score_sheet refuses it after add_panel_member.
    b.add("scores", company="C01", **judge, **{**scores, "technology": None})
    b.add("scores", company="C02", **judge, **scores)  # row 3: the same judge, valid
    content = b.workbook()

    with app.test_request_context():
        report = run_import(db.session, content, filename="history.xlsx", actor="test",
                            dry_run=True, locale="en")
    db.session.rollback()
    assert report["problems"] == [{"sheet": "Roadshow scores", "row": 2, "column": "",
                                   "message": "Score Technology."}]
    applied = {s["key"]: s["applied"] for s in report["sheets"]}
    assert (applied["roadshows"], applied["companies"], applied["scores"]) == (1, 2, 1)

    # The applied row's sheet is the judge's, on a panel member that exists: the only one.
    with app.test_request_context():
        lock_key(db.session, "history_import")
        replay = Planner(db.session, read_workbook(content), actor="test").run()
        assert [(p.sheet, p.row) for p in replay.problems] == [("scores", 2)]
        [member] = db.session.scalars(select(PanelMember)).all()
        [sheet] = db.session.scalars(select(ScoreSheet)).all()
        assert sheet.panel_member_id == member.id and member.name == "周教授"
        show = db.session.scalar(select(Roadshow))
        assert member.roadshow_id == sheet.roadshow_id == show.id
        assert db.session.get(Company, sheet.company_id).legal_name == "上海评分样本C02科技有限公司"
        assert len(sheet.scores) == 5
    db.session.rollback()


def test_a_score_outside_zero_to_ten_is_refused_naming_its_row(app):
    """The form refuses a score of 11; so does the import (the operation checks the range, the
    database's CHECK refuses what would slip by)."""
    from fundapp.deals.models import Score
    from fundapp.history_import.operations import run_import

    b = Builder()
    b.add("roadshows", ref="R1", name="2023年春季路演", held_on=date(2023, 4, 18))
    b.add("companies", ref="C01", legal_name="上海评分样本C01科技有限公司", sector="ai")
    scores = {"technology": Decimal(11), "team": Decimal(8), "market": Decimal("7.5"),
              "park_fit": Decimal(7), "policy_value": Decimal("-1")}
    b.add("scores", company="C01", roadshow="R1", judge="周教授", affiliation="复旦大学",
          **scores)
    with app.test_request_context():
        report = run_import(db.session, b.workbook(), filename="history.xlsx", actor="test",
                            dry_run=True, locale="en")
    db.session.rollback()
    assert report["problems"] == [{"sheet": "Roadshow scores", "row": 2, "column": "",
                                   "message": "A score is a number from 0 to 10."}] * 2
    assert db.session.scalar(select(func.count()).select_from(Score)) == 0


# --- the page and the worker -------------------------------------------------------------------

def test_page_uploads_runs_the_dry_run_in_the_worker_then_commits(app, client):
    from fundapp.portfolio.grants.models import Grant

    setup_fund(app)
    make_user("manager@fund.cn", roles=("fund_manager",))
    login(client, "manager@fund.cn", **EN)
    content, _expected = build(only={1}, direct=False)
    page = client.get("/history-import", headers=EN)
    response = client.post("/history-import", headers=EN, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "workbook": (io.BytesIO(content), "history.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 302 and "/tasks/" in response.location
    [task] = run_tasks()
    assert task.status == "done", task.error
    task_page = client.get(response.location, headers=EN).get_data(as_text=True)
    assert "history-import/" in task_page
    from fundapp.history_import.models import HistoryImport

    row = db.session.scalar(select(HistoryImport))
    report = client.get(f"/history-import/{row.id}", headers=EN).get_data(as_text=True)
    assert 'data-testid="summary"' in report and 'data-testid="commit"' in report
    assert companies() == 0
    commit = client.post(f"/history-import/{row.id}/commit", headers=EN,
                         data={"csrf_token": csrf_from(report)})
    assert commit.status_code == 302
    [task] = run_tasks()
    assert task.status == "done", task.error
    assert count(Grant) == 1
    done = client.get(f"/history-import/{row.id}", headers=EN).get_data(as_text=True)
    assert 'data-testid="imported"' in done
    auditor = make_user("auditor@fund.cn", roles=("auditor",))
    assert auditor is not None


# --- three years, end to end -------------------------------------------------------------------

def test_three_year_workbook_end_to_end(app, client, tmp_path):
    from fundapp.deals.models import Company, Deal
    from fundapp.portfolio.conversion.models import CapTable, CapTableRow, Conversion
    from fundapp.portfolio.grants.models import Grant
    from fundapp.portfolio.performance.summary import performance_summary

    setup_fund(app)
    content, expected = build()
    assert expected.companies >= 20
    dry = import_file(app, tmp_path, content, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "0 problem(s), 1 difference(s)" in dry.output
    assert companies() == 0
    result = import_file(app, tmp_path, content, *ACCEPT)
    assert result.exit_code == 0, result.output
    assert count(Company) == expected.companies
    assert count(Deal) == 22
    # The history happened when the workbook says, not today: every move is dated 2023-2024.
    from fundapp.deals.models import DealStageChange

    moves = db.session.scalars(select(DealStageChange.changed_at)).all()
    assert moves and max(moves).date() < date(2025, 1, 1)
    notices = db.session.scalars(select(Deal.public_notice_started_on).where(
        Deal.public_notice_started_on.is_not(None))).all()
    assert notices and max(notices) < date(2025, 1, 1)

    db.session.rollback()
    grants = {g.agreement_no.split("-")[-1]: g for g in db.session.scalars(select(Grant))}
    states = {f"G{k[-2:]}": g.status.value for k, g in grants.items()}
    assert states == expected.grant_states
    assert set(states.values()) == {"disbursing", "rd_accepted", "converted", "closed",
                                    "closed_tolerance", "in_breach"}

    # Every conversion and cap table as computed independently (G12: the recorded figures).
    for ref, figures in expected.conversions.items():
        grant = grants[f"0{ref[1:]}"]
        conversion = db.session.scalar(select(Conversion).where(Conversion.grant_id == grant.id))
        units = figures["fund_units"] + (Decimal("0.01") if ref == "G12" else 0)
        assert conversion.fund_units == units, ref
        assert conversion.converted_amount == figures["converted_amount"], ref
        if ref != "G12":
            assert conversion.stake_percent == figures["stake_percent"], ref
        assert conversion.is_stake_capped == figures["capped"], ref
        table = db.session.scalar(select(CapTable).where(CapTable.conversion_id ==
                                                         conversion.id))
        rows = db.session.scalars(select(CapTableRow).where(CapTableRow.cap_table_id == table.id)
                                  .order_by(CapTableRow.position)).all()
        got = {("FUND" if r.is_fund else r.holder): r.units for r in rows}
        want = dict(figures["cap_table"])
        if ref == "G12":
            want["FUND"] = units
        assert got == want, ref
    capped = expected.conversions["G02"]
    assert capped["capped"] and capped["stake_percent"] == Decimal("30.0000")
    assert grants["002"].closed_on is not None  # R6.d: the remainder closed as a grant

    # The fund's performance as of a day, against the test's own sums and XIRR.
    summary = performance_summary(db.session, AS_OF, today=date(2026, 11, 30))
    all_in = summary["views"]["all_in"]
    assert all_in["paid_in_amount"] == expected.paid_in
    assert all_in["distributed_amount"] == expected.distributed
    assert all_in["nav_amount"] == expected.nav
    tvpi = (expected.distributed + expected.nav) / expected.paid_in
    assert abs(all_in["tvpi"] - tvpi) < Decimal("0.0001")
    rate = xirr([*expected.flows, (AS_OF, expected.nav)])
    assert abs(all_in["irr"] - rate) < Decimal("0.0001"), (all_in["irr"], rate)

    # The ledger has the import with the file's SHA-256, and the accepted difference.
    [entry] = ledger("history.imported")
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert len(ledger("history.conversion_accepted")) == 1
    from fundapp.compliance.ledger import verify_chain

    assert verify_chain(db.session).ok


# --- the cost per row --------------------------------------------------------------------------

def test_statements_per_row_do_not_grow_with_the_workbook(app):
    """A second copy of the same companies costs the dry run no more statements than the first:
    no row looks up what earlier rows made by scanning them (bench/history_import.py)."""
    from sqlalchemy import event

    from fundapp.history_import.operations import run_import

    setup_fund(app)
    first = set(range(1, 7))
    sent = []

    def statements(only: set[int]) -> tuple[int, int]:
        content, expected = build(difference=False, only=only, direct=False, repeat=2)
        sent.clear()
        with app.test_request_context():
            report = run_import(db.session, content, filename="history.xlsx", actor="test",
                                dry_run=True, locale="en")
        db.session.rollback()
        assert report["problems"] == []
        return expected.rows, len(sent)

    def listener(*_args) -> None:
        sent.append(1)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        rows_one, one = statements(first)
        rows_two, two = statements(first | {n + 22 for n in first})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert rows_two > rows_one
    assert two - one <= one * 1.02, (rows_one, one, rows_two, two)
