"""The downloadable template: a README sheet, one sheet per kind of fact with bilingual headers
("公司名称 / Company name"), and an example sheet showing one filled row of each."""

from __future__ import annotations

import io
from datetime import date
from functools import cache

from fundapp.history_import.sheets import SHEETS

README = [
    ("历史数据导入模板 / History import template", ""),
    ("", ""),
    ("每张表一类事实；第一行为表头（中文 / English），从第二行起每行一条。",
     "One sheet per kind of fact; row 1 holds the headers (Chinese / English), one fact a row "
     "from row 2."),
    ("编号（公司编号、项目编号、协议编号……）只在本工作簿内使用，用于表间引用。",
     "References (company ref, deal ref, grant ref...) are keys of this workbook only: sheets "
     "refer to each other by them."),
    ("日期写作 YYYY-MM-DD；金额以元为单位，最多两位小数；是/否写 yes/no。",
     "Dates as YYYY-MM-DD; amounts in CNY with at most 2 decimals; yes/no for flags."),
    ("导入先试运行：按表汇总，并按 表 / 行 / 列 列出每个问题；确认后一次全部导入，或全部不导入。",
     "The import is a dry run first: a summary per sheet and every problem as sheet / row / "
     "column; the commit then imports all or nothing."),
    ("同一文件（SHA-256 相同）再次导入不会新建任何数据。",
     "Importing the same file (same SHA-256) again creates nothing."),
    ("每笔历史转股由转股引擎重新计算；与记录数字不同的，须填写原因和投决文号方可按记录数字接受。",
     "Every historical conversion is recomputed by the engine; recorded figures that differ are "
     "accepted only with a reason and an IC reference."),
    ("", ""),
    ("表 / Sheet", "说明 / Columns"),
]

EXAMPLES = {
    "companies": ["C1", "上海示例科技有限公司", "Example Tech", "", "ai", "浦东新区", "llc",
                  "10000000.00", date(2020, 3, 1)],
    "roadshows": ["R1", "2023年春季路演", date(2023, 4, 18), "张江科学会堂", "张江科技投资联盟"],
    "deals": ["D1", "C1", "视觉芯片研发", "3000000.00", "8000000.00", "R1", date(2023, 3, 20)],
    "scores": ["R1", "C1", "周教授", "复旦大学", 8, 7.5, 8, 9, 7, "no", "yes", "同意"],
    "stages": ["D1", "roadshow", date(2023, 3, 27), "", ""],
    "grants": ["G1", "D1", "3000000.00", date(2023, 7, 1), "区科创投资平台有限公司", "BT-2023-001",
               ""],
    "tranches": ["G1", 1, "1200000.00", "签约后 On signing"],
    "reviews": ["G1", 2, date(2024, 1, 10), "yes", "专家组", "里程碑报告"],
    "disbursements": ["G1", 1, date(2023, 7, 10), "1200000.00"],
    "refunds": ["G1", date(2024, 3, 1), "100000.00", "结余退回"],
    "grant_events": ["G1", "rd_accepted", date(2025, 6, 1), "验收〔2025〕01", "", ""],
    "rounds": ["A1", "C1", "A 轮", "priced_equity", date(2025, 9, 1), date(2025, 8, 20),
               "100000000.00", "10000000.00", "浦江创投"],
    "investors": ["A1", "浦江创投", "20000000.00", "yes"],
    "holders": ["A1", "创始人 Founder", "10000000.00"],
    "conversions": ["G1", "A1", "3000000.00", "300000.00", "2.4194", "", ""],
    "holdings": ["H1", "C1", date(2022, 3, 15), "3000000.00", "300000.00",
                 "区科创投资平台有限公司", "直投 1"],
    "marks": ["G1", date(2025, 12, 31), "recent_round", "10.000000", "manager@fund.cn",
              "manager2@fund.cn"],
    "exits": ["G1", "buyback", date(2026, 3, 1), "150000.00", "1500000.00", "创始人 Founder"],
    "cash_flows": ["dividend", date(2025, 6, 30), "150000.00", "H1", "", "2024 年度分红"],
    "kpis": ["C1", "2025Q4", "1200000.00", "360000.00", 25, 2, "4000000.00", date(2026, 1, 20)],
}


@cache
def build_template(*, with_example: bool = True) -> bytes:
    """The workbook's bytes, built once per process (its headers are bilingual, the same for
    every reader): openpyxl takes about a second to write it, the download page asks often
    (issue 14)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    readme = book.active
    readme.title = "说明 README"
    for line in README:
        readme.append(list(line))
    for sheet in SHEETS:
        readme.append([sheet.title, "; ".join(
            f"{c.header}{' *' if c.required else ''}"
            + (f" ({'/'.join(c.choices)})" if c.choices else "") for c in sheet.columns)])
    readme["A1"].font = Font(bold=True, size=14)
    readme.column_dimensions["A"].width = 60
    readme.column_dimensions["B"].width = 100
    bold = Font(bold=True)
    for sheet in SHEETS:
        ws = book.create_sheet(sheet.title)
        ws.append([c.header for c in sheet.columns])
        for cell in ws[1]:
            cell.font = bold
        for index, column in enumerate(sheet.columns, start=1):
            ws.cell(row=1, column=index).comment = None
            ws.column_dimensions[ws.cell(row=1, column=index).column_letter].width = max(
                14, len(column.header) + 4)
        ws.freeze_panes = "A2"
    if with_example:
        example = book.create_sheet("示例 Example")
        for sheet in SHEETS:
            example.append([sheet.title])
            example.cell(row=example.max_row, column=1).font = bold
            example.append([c.header for c in sheet.columns])
            example.append(EXAMPLES.get(sheet.key, []))
            example.append([])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
