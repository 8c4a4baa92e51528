"""Issue 14: every chart the demo fund produces has axes that cover its data, a title and a unit,
in Chinese and in English; the PDFs use the same SVG builder as the pages.

The charts carry their value axis on the <svg> (data-axis-min / data-axis-max, data-unit) and each
plotted mark its value (data-value); the test also checks that each mark is drawn inside the
canvas, so the data attributes cannot say one thing while the drawing shows another.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from sqlalchemy import select

from fundapp.charts import bar_chart_svg, hbar_chart_svg, line_chart_svg
from fundapp.extensions import db
from fundapp.portfolio.performance.charts import performance_charts
from tests.conftest import login, make_user
from tests.test_get_never_writes import first_ids, get_urls

SVG = re.compile(r"<svg\b[^>]*\brole=\"img\".*?</svg>", re.S)
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
NS = "{http://www.w3.org/2000/svg}"
HEADERS = {"zh": {"Accept-Language": "zh-CN"}, "en": {"Accept-Language": "en"}}
# Pages that draw charts with the demo fund (every other page is walked too).
CHART_PAGES = {"portfolio.performance", "portfolio.kpis", "portfolio.index_series",
               "deals.roadshow"}


def check_svg(svg: str, language: str, where: str) -> list[str]:
    """What is wrong with one chart: values outside the axis, marks off the canvas, no title or
    unit in the language."""
    problems = []
    root = ET.fromstring(svg if "xmlns=" in svg.split(">", 1)[0]
                         else svg.replace("<svg", f'<svg xmlns="{NS[1:-1]}"', 1))
    title = (root.findtext(f"{NS}title") or "").strip()
    unit = root.get("data-unit", "").strip()
    if not title:
        problems.append(f"{where}: no title")
    if not unit:
        problems.append(f"{where} {title!r}: no unit")
    for text, what in ((title, "title"), (unit, "unit")):
        if text and language == "zh" and not CJK.search(text):
            problems.append(f"{where}: the {what} {text!r} is not in Chinese")
        if text and language == "en" and (CJK.search(text) and not LATIN.search(text)):
            problems.append(f"{where}: the {what} {text!r} is not in English")
    marks = [el for el in root.iter() if el.get("data-value") is not None]
    if not marks:
        return problems  # a chart saying "no data"
    low, high = float(root.get("data-axis-min", "nan")), float(root.get("data-axis-max", "nan"))
    if not low <= high:
        return [*problems, f"{where} {title!r}: no value axis"]
    width, height = float(root.get("width")), float(root.get("height"))
    for mark in marks:
        value = float(mark.get("data-value"))
        if not low <= value <= high:
            problems.append(f"{where} {title!r}: {value} outside the axis {low}..{high}")
        if mark.tag == f"{NS}circle":
            x, y = float(mark.get("cx")), float(mark.get("cy"))
            if not (0 <= x <= width and 0 <= y <= height):
                problems.append(f"{where} {title!r}: point {value} drawn off the canvas")
        if mark.tag == f"{NS}rect":
            x, y = float(mark.get("x")), float(mark.get("y"))
            w, h = float(mark.get("width")), float(mark.get("height"))
            if x < 0 or y < 0 or x + w > width + 0.01 or y + h > height + 0.01:
                problems.append(f"{where} {title!r}: bar {value} drawn off the canvas")
    return problems


@pytest.fixture
def demo(app):
    from fundapp.deals.models import Roadshow
    from fundapp.demo import load_demo

    load_demo(db.session)
    db.session.commit()
    make_user("charts-zh@example.cn", roles=("fund_manager", "admin"), locale="zh")
    make_user("charts-en@example.cn", roles=("fund_manager", "admin"), locale="en")
    urls = [(e, u) for e, u in get_urls(app, first_ids()) if not u.startswith("/api/")]
    for roadshow_id in db.session.scalars(select(Roadshow.id)):
        urls.append(("deals.roadshow", f"/deals/roadshows/{roadshow_id}"))
    db.session.rollback()
    return urls


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_chart_of_the_demo_fund_covers_its_data(app, demo, language):
    client = app.test_client()
    assert login(client, f"charts-{language}@example.cn",
                 **HEADERS[language]).status_code == 302
    problems, seen, drawn = [], set(), 0
    for endpoint, url in sorted(set(demo)):
        response = client.get(url, headers={**HEADERS[language], "Accept": "text/html"})
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        for svg in SVG.findall(response.get_data(as_text=True)):
            seen.add(endpoint)
            drawn += 1
            problems += check_svg(svg, language, url)
    assert CHART_PAGES <= seen, f"no chart on {sorted(CHART_PAGES - seen)}"
    assert drawn >= 8
    assert problems == [], "\n".join(problems)


def test_the_pdf_charts_come_from_the_same_builder(app):
    from fundapp.demo import load_demo
    from fundapp.ic.quarterly import _charts
    from fundapp.portfolio.performance.summary import performance_summary

    load_demo(db.session)
    db.session.commit()
    summary = performance_summary(db.session, date.today())
    charts = _charts(summary)
    assert set(charts) >= {"zh", "en", "both"}
    problems = []
    for language, svgs in charts.items():
        assert set(svgs) == {"nav", "j_curve", "tvpi_by_vintage"}
        # the page's builder, with the PDF's canvas, draws exactly the same SVG
        assert svgs == {k: v for k, v in performance_charts(
            summary, language=language, width=480, height=250).items()}
        for name, svg in svgs.items():
            problems += check_svg(svg, "zh" if language == "zh" else "en", f"pdf {name}")
            if language == "both":
                title = svg.split("<title>", 1)[1].split("</title>", 1)[0]
                assert CJK.search(title) and LATIN.search(title), title
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("values", [
    [1.785, 0.2, 3.01], [-250_000.0, 12.5, 980_000.0], [0.0, 0.0], [1e9, 3.3e9], [-0.004, -0.02],
])
def test_the_builders_axes_cover_any_values(values):
    days = [date(2024, 1, 1 + n) for n in range(len(values))]
    svgs = [line_chart_svg(list(zip(days, values, strict=True)), title="t", y_label="u"),
            bar_chart_svg([(str(n), v) for n, v in enumerate(values)], title="t",
                          y_label="u", reference=1),
            hbar_chart_svg([(str(n), abs(v) % 10, False) for n, v in enumerate(values)],
                           title="t", x_label="u", axis_max=10)]
    problems = [p for svg in svgs for p in check_svg(svg, "en", "builder")]
    assert problems == [], "\n".join(problems)
