"""Sign-up sheet intake: XLSX and GBK CSV, row problems, all or nothing, idempotent re-import."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from fundapp.deals import operations as ops
from fundapp.deals.intake import SheetError, import_signup, parse_sheet, preview_signup
from fundapp.deals.models import Company, Deal, RoadshowSlot
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from tests.deals.factories import make_roadshow, uscc

DATA = Path(__file__).resolve().parent.parent / "data"
HEADER = "企业名称,统一社会信用代码,所属行业,项目名称,申请拨款金额（元）,项目总预算（元）"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name", ["roadshow_signup.xlsx", "roadshow_signup.csv"])
def test_example_sheets_import_and_reimport_creates_nothing(app, name):
    roadshow = make_roadshow()
    content = (DATA / name).read_bytes()
    preview = preview_signup(db.session, roadshow, name, content)
    assert preview.is_importable and len(preview.rows) == 6 and preview.new_companies == 6
    result = import_signup(db.session, roadshow, name, content, actor="m@x.cn")
    db.session.commit()
    assert (result.companies_created, result.deals_created) == (6, 6)
    neuro = db.session.scalar(select(Company).where(Company.uscc == "91310115MA1K00101U"))
    assert neuro.legal_name == "上海神经桥科技有限公司" and neuro.sector == "bci"
    deal = db.session.scalar(select(Deal).where(Deal.company_id == neuro.id))
    assert str(deal.requested_grant_amount) == "3000000.00" and deal.roadshow_id == roadshow.id
    assert [s.company.legal_name for s in roadshow.slots][:2] == [
        "上海神经桥科技有限公司", "上海灵巧智能机器人有限公司"]
    again = import_signup(db.session, roadshow, name, content, actor="m@x.cn")
    db.session.commit()
    assert (again.companies_created, again.deals_created) == (0, 0)
    assert count(Company) == 6 and count(Deal) == 6 and count(RoadshowSlot) == 6


def test_existing_company_matched_by_normalised_name(app):
    roadshow = make_roadshow()
    existing = ops.create_company(db.session, actor="t", legal_name="上海神经桥科技（有限公司）",
                                  sector="bci")
    content = (HEADER + "\n上海神经桥科技有限公司,,脑机接口,项目,100,1000\n").encode()
    preview = preview_signup(db.session, roadshow, "s.csv", content)
    assert preview.rows[0].company_id == existing.id and preview.new_companies == 0
    import_signup(db.session, roadshow, "s.csv", content, actor="t")
    assert count(Company) == 1 and count(Deal) == 1


def test_every_row_problem_is_named_and_nothing_is_written(app):
    roadshow = make_roadshow()
    good = uscc(1)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    content = "\n".join([
        HEADER,
        f"好公司有限公司,{good},人工智能,项目A,100000,400000",
        f"坏代码有限公司,{bad_check},人工智能,项目B,100000,400000",
        f"重复代码有限公司,{good},人工智能,项目C,100000,400000",
        f"未知行业有限公司,{uscc(2)},养猪,项目D,100000,400000",
        f"负数有限公司,{uscc(3)},ai,项目E,-5,400000",
        f"荒谬有限公司,{uscc(4)},ai,项目F,99999999999999,400000",
        f",{uscc(5)},ai,项目G,1,2",
    ]).encode("gbk")
    preview = preview_signup(db.session, roadshow, "s.csv", content)
    found = {(p.row, p.column) for p in preview.problems}
    assert (3, "Credit code") in found
    assert (4, "Credit code") in found  # duplicate of row 2
    assert (5, "Sector") in found
    assert (6, "Requested grant (CNY)") in found
    assert (7, "Requested grant (CNY)") in found
    assert (8, "Company name") in found
    assert not any(p.row == 2 for p in preview.problems)
    messages = {p.row: p.message for p in preview.problems}
    assert "check character" in messages[3] and "row 2" in messages[4]
    with pytest.raises(ValidationFailed) as failed:
        import_signup(db.session, roadshow, "s.csv", content, actor="t")
    assert len(failed.value.details["rows"]) == len(preview.problems)
    db.session.rollback()
    assert count(Company) == 0 and count(Deal) == 0


def test_row_problems_in_chinese(app):
    roadshow = make_roadshow()
    content = (HEADER + ",邮箱\n公司,,ai,项目,1,2,not-an-address\n").encode()
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        preview = preview_signup(db.session, roadshow, "s.csv", content)
    problem = preview.problems[0]
    assert (problem.row, problem.column, problem.message) == (2, "电子邮箱",
                                                              "请输入有效的电子邮箱地址。")


def test_gbk_csv_and_utf8_csv_read_alike():
    text = HEADER + "\n脑科技有限公司,,脑机接口,项目,100,1000\n"
    a, _ = parse_sheet("a.csv", text.encode("gbk"))
    b, _ = parse_sheet("b.csv", text.encode("utf-8-sig"))
    assert a[0].values == b[0].values and a[0].values["legal_name"] == "脑科技有限公司"


@pytest.mark.parametrize("content, name, expected", [
    (b"", "x.csv", "empty"),
    (b"PK\x03\x04not really a zip", "x.xlsx", "not a readable XLSX"),
    ("名字,别的\n一,二\n".encode("gbk"), "x.csv", "lacks the columns"),
    ("企业名称\n".encode("utf-16"), "x.csv", "UTF-16"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", ".xls"),
    (b"a" * (10 * 1024 * 1024), "big.csv", "at most 5 MB"),
])
def test_unreadable_files_are_refused_with_a_reason(content, name, expected):
    with pytest.raises(SheetError) as refused:
        parse_sheet(name, content)
    assert expected in str(refused.value.message)


def test_wrongly_encoded_latin1_sheet_reports_missing_headers():
    content = "Firma,Code\nMüller,1\n".encode("latin-1")
    with pytest.raises(SheetError) as refused:
        parse_sheet("x.csv", content)
    assert "lacks the columns" in str(refused.value.message)


def test_xlsx_numbers_and_dates_are_read_exactly():
    book = Workbook()
    sheet = book.active
    sheet.append(["企业名称", "所属行业", "项目名称", "申请拨款金额（元）", "项目总预算（元）", "成立日期"])
    sheet.append(["精确有限公司", "Fintech", "项目", 1234567.89, 2469135.78, "2023/1/5"])
    buffer = io.BytesIO()
    book.save(buffer)
    rows, problems = parse_sheet("s.xlsx", buffer.getvalue())
    assert not problems
    assert str(rows[0].values["requested_grant_amount"]) == "1234567.89"
    assert rows[0].values["founded_on"].isoformat() == "2023-01-05"
    assert rows[0].values["sector"] == "fintech"


def test_rows_are_held_to_the_column_lengths(app):
    roadshow = make_roadshow()
    content = (HEADER + ",联系人,联系电话\n"
               f"长名有限公司,,ai,{'项' * 201},1,2,{'王' * 101},{'1' * 41}\n").encode()
    preview = preview_signup(db.session, roadshow, "s.csv", content)
    found = {(p.column, p.message) for p in preview.problems}
    assert found == {("Project", "Longer than maximum length 200."),
                     ("Contact", "Longer than maximum length 100."),
                     ("Phone", "Longer than maximum length 40.")}
    assert preview.rows[0].values["project_name"] == "项" * 201  # shown as written
