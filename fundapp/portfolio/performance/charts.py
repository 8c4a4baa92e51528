"""Self-contained SVG charts (no scripts, no external references, no fonts to fetch).

The same string goes inline into an HTML page and into a WeasyPrint PDF. Values may be Decimal,
int or float; they are only turned into float to place points on the canvas. Every text is
XML-escaped; the chart carries a <title> for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

Number = Decimal | int | float
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")
FONT = "font-family=\"sans-serif\" font-size=\"11\""


def _num(value: Number | None) -> float | None:
    return None if value is None else float(value)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 0.001:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float, unit: str = "") -> str:
    size = abs(value)
    if size >= 1e8:
        text = f"{value / 1e8:.1f}亿" if unit == "cny" else f"{value / 1e6:,.0f}m"
    elif size >= 1e6:
        text = f"{value / 1e6:,.1f}m"
    elif size >= 1e3:
        text = f"{value / 1e3:,.0f}k"
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text


def _frame(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">',
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']


def line_chart_svg(series: Sequence[tuple[date, Number]] | dict[str, Sequence[tuple[date, Number]]],
                   *, title: str = "", width: int = 640, height: int = 260,
                   y_label: str = "", zero_line: bool = True) -> str:
    """A line chart of one or more dated series: [(date, value)] or {name: [(date, value)]}."""
    named = series if isinstance(series, dict) else {"": series}
    named = {k: [(d, _num(v)) for d, v in pts if v is not None] for k, pts in named.items()}
    points = [p for pts in named.values() for p in pts]
    parts = _frame(width, height, title)
    left, right, top, bottom = 64, 16, 28 if title else 12, 36
    if title:
        parts.append(f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" {FONT} text-anchor="middle">'
                     f'{escape("no data")}</text></svg>')
        return "".join(parts)
    xs = [d.toordinal() for d, _ in points]
    ys = [v for _, v in points]
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    ticks = _nice_ticks(min(min(ys), 0.0), max(max(ys), 0.0))
    y0, y1 = ticks[0], ticks[-1]
    if y0 == y1:
        y1 = y0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * plot_w, 2)

    def py(y: float) -> float:
        return round(top + plot_h - (y - y0) / (y1 - y0) * plot_h, 2)

    for tick in ticks:
        parts.append(f'<line x1="{left}" y1="{py(tick)}" x2="{width - right}" y2="{py(tick)}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 4}" y="{py(tick) + 4}" {FONT} text-anchor="end">'
                     f'{escape(_label(tick))}</text>')
    if zero_line and y0 < 0 < y1:
        parts.append(f'<line x1="{left}" y1="{py(0)}" x2="{width - right}" y2="{py(0)}" '
                     'stroke="#57606a" stroke-width="1"/>')
    years = sorted({d.year for d, _ in points})
    step = max(1, len(years) // 8)
    for year in years[::step]:
        x = date(year, 1, 1).toordinal()
        if x0 <= x <= x1:
            parts.append(f'<text x="{px(x)}" y="{height - bottom + 16}" {FONT} '
                         f'text-anchor="middle">{year}</text>')
    if y_label:
        parts.append(f'<text x="4" y="{top - 6 if top > 16 else 10}" {FONT}>'
                     f'{escape(y_label)}</text>')
    for index, (name, pts) in enumerate(named.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{px(d.toordinal())},{py(v)}" for d, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{coords}"/>')
        for d, v in pts:
            parts.append(f'<circle cx="{px(d.toordinal())}" cy="{py(v)}" r="2.5" '
                         f'fill="{colour}"><title>{d.isoformat()}: {escape(_label(v))}'
                         '</title></circle>')
        if name:
            parts.append(f'<text x="{width - right - 4}" y="{top + 12 + 14 * index}" {FONT} '
                         f'text-anchor="end" fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart_svg(bars: Sequence[tuple[str | int, Number | None]], *, title: str = "",
                  width: int = 640, height: int = 260, reference: Number | None = None,
                  reference_label: str = "", value_format: str = "{:.2f}") -> str:
    """Vertical bars [(label, value)]; a None value is drawn as "n/a"; optional reference line."""
    parts = _frame(width, height, title)
    left, right, top, bottom = 56, 16, 28 if title else 12, 36
    if title:
        parts.append(f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    values = [_num(v) for _, v in bars]
    known = [v for v in values if v is not None]
    if not bars:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" {FONT} text-anchor="middle">'
                     'no data</text></svg>')
        return "".join(parts)
    ref = _num(reference)
    ticks = _nice_ticks(min([0.0, *known]), max([0.0, *known, *([ref] if ref else [])]))
    y0, y1 = ticks[0], ticks[-1]
    if y0 == y1:
        y1 = y0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def py(y: float) -> float:
        return round(top + plot_h - (y - y0) / (y1 - y0) * plot_h, 2)

    for tick in ticks:
        parts.append(f'<line x1="{left}" y1="{py(tick)}" x2="{width - right}" y2="{py(tick)}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 4}" y="{py(tick) + 4}" {FONT} text-anchor="end">'
                     f'{escape(_label(tick))}</text>')
    slot = plot_w / len(bars)
    bar_w = max(4.0, slot * 0.6)
    for index, ((label, _), value) in enumerate(zip(bars, values, strict=True)):
        cx = left + slot * index + slot / 2
        if value is None:
            parts.append(f'<text x="{cx:.2f}" y="{py(0) - 4}" {FONT} text-anchor="middle">'
                         'n/a</text>')
        else:
            top_y, base = (py(value), py(0)) if value >= 0 else (py(0), py(value))
            parts.append(f'<rect x="{cx - bar_w / 2:.2f}" y="{top_y}" width="{bar_w:.2f}" '
                         f'height="{max(0.5, base - top_y):.2f}" '
                         f'fill="{PALETTE[0]}"><title>{escape(str(label))}: '
                         f'{escape(value_format.format(value))}</title></rect>')
            parts.append(f'<text x="{cx:.2f}" y="{top_y - 3}" {FONT} text-anchor="middle">'
                         f'{escape(value_format.format(value))}</text>')
        parts.append(f'<text x="{cx:.2f}" y="{height - bottom + 16}" {FONT} '
                     f'text-anchor="middle">{escape(str(label))}</text>')
    if ref is not None:
        parts.append(f'<line x1="{left}" y1="{py(ref)}" x2="{width - right}" y2="{py(ref)}" '
                     'stroke="#d1242f" stroke-dasharray="4 3" stroke-width="1.5"/>')
        if reference_label:
            parts.append(f'<text x="{width - right}" y="{py(ref) - 4}" {FONT} '
                         f'text-anchor="end" fill="#d1242f">{escape(reference_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def performance_charts(summary: dict) -> dict[str, str]:
    """The three charts of a performance summary: NAV, J-curve, TVPI by vintage."""
    from flask_babel import gettext as _

    series = summary["series"]
    return {
        "nav": line_chart_svg(series["nav"], title=_("NAV over time (CNY)")),
        "j_curve": line_chart_svg(series["cumulative_net_cash_flow"],
                                  title=_("J-curve: cumulative net cash flow (CNY)")),
        "tvpi_by_vintage": bar_chart_svg([(str(v), t) for v, t in series["tvpi_by_vintage"]],
                                         title=_("TVPI by vintage"), reference=1,
                                         reference_label="1.0x"),
    }
