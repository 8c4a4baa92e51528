"""Self-contained SVG charts (no scripts, no external references, no fonts to fetch).

The same string goes inline into an HTML page and into a WeasyPrint PDF. Values may be Decimal,
int or float; they are only turned into float to place points on the canvas. Every text is
XML-escaped; the chart carries a <title> for screen readers.

Every chart states what a test (tests/test_chart_axes.py) checks: the <svg> carries its value
axis as data-axis-min / data-axis-max and its unit as data-unit, and every plotted mark (point,
bar, reference line) its value as data-value, so that every value can be seen to lie inside the
axis drawn for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

Number = Decimal | int | float
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")
FONT = 'font-family="Noto Sans CJK SC, Noto Sans SC, sans-serif" font-size="11"'


def _num(value: Number | None) -> float | None:
    return None if value is None else float(value)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round ticks from at or below `low` to at or above `high`: the axis covers every value
    (a TVPI of 1.785 gets an axis to 2.0, never one that stops at 1.5)."""
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step + 1e-9) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


WAN = 10_000.0


def _label(value: float, unit: str = "") -> str:
    """A tick label; unit "wan" gives ten thousands of yuan (万元) with separators."""
    if unit == "wan":
        wan = value / WAN
        return f"{wan:,.0f}" if abs(wan) >= 10 or wan == int(wan) else f"{wan:,.1f}"
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


def _frame(width: int, height: int, title: str, *, axis: tuple[float, float] | None = None,
           unit: str = "") -> list[str]:
    """The <svg> element (with its value axis and unit as data attributes), title, background."""
    data = f' data-unit="{escape(unit, {chr(34): "&quot;"})}"'
    if axis is not None:
        data += f' data-axis-min="{axis[0]:g}" data-axis-max="{axis[1]:g}"'
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="'
            f'{escape(title, {chr(34): "&quot;"})}"{data}>',
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']


def line_chart_svg(series: Sequence[tuple[date, Number]] | dict[str, Sequence[tuple[date, Number]]],
                   *, title: str = "", width: int = 640, height: int = 260,
                   y_label: str = "", x_label: str = "", zero_line: bool = True,
                   unit: str = "", no_data: str = "no data") -> str:
    """A line chart of one or more dated series: [(date, value)] or {name: [(date, value)]}.

    `y_label` / `x_label` are the axes' titles (with their unit); `unit` "wan" labels the ticks
    in 万元 (ten thousands of yuan)."""
    named = series if isinstance(series, dict) else {"": series}
    named = {k: [(d, _num(v)) for d, v in pts if v is not None] for k, pts in named.items()}
    points = [p for pts in named.values() for p in pts]
    axis = None
    if points:
        ticks = _nice_ticks(min(min(v for _, v in points), 0.0),
                            max(max(v for _, v in points), 0.0))
        axis = (ticks[0], ticks[-1] if ticks[-1] != ticks[0] else ticks[0] + 1)
    parts = _frame(width, height, title, axis=axis, unit=y_label)
    left, right, top, bottom = 64 + (14 if y_label else 0), 16, 28 if title else 12, \
        36 + (14 if x_label else 0)
    if title:
        parts.append(f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" {FONT} text-anchor="middle">'
                     f'{escape(no_data)}</text></svg>')
        return "".join(parts)
    xs = [d.toordinal() for d, _ in points]
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = axis
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * plot_w, 2)

    def py(y: float) -> float:
        return round(top + plot_h - (y - y0) / (y1 - y0) * plot_h, 2)

    for tick in ticks:
        parts.append(f'<line x1="{left}" y1="{py(tick)}" x2="{width - right}" y2="{py(tick)}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 4}" y="{py(tick) + 4}" {FONT} text-anchor="end">'
                     f'{escape(_label(tick, unit))}</text>')
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
    parts.extend(_axis_titles(width, height, left, top, bottom, x_label, y_label))
    for index, (name, pts) in enumerate(named.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{px(d.toordinal())},{py(v)}" for d, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{coords}"/>')
        for d, v in pts:
            parts.append(f'<circle cx="{px(d.toordinal())}" cy="{py(v)}" r="2.5" '
                         f'fill="{colour}" data-value="{v!r}"><title>{d.isoformat()}: {escape(_label(v, unit))}'
                         '</title></circle>')
        if name:
            parts.append(f'<text x="{width - right - 4}" y="{top + 12 + 14 * index}" {FONT} '
                         f'text-anchor="end" fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart_svg(bars: Sequence[tuple[str | int, Number | None]], *, title: str = "",
                  width: int = 640, height: int = 260, reference: Number | None = None,
                  reference_label: str = "", value_format: str = "{:.2f}",
                  y_label: str = "", x_label: str = "", no_data: str = "no data",
                  missing: str = "n/a", tick_format: str | None = None) -> str:
    """Vertical bars [(label, value)]; a None value is drawn as `missing` ("n/a"); optional
    reference line; the axis reaches above the highest bar so its value label fits.
    `tick_format` formats the axis's ticks (e.g. "{:.0%}"), by default short numbers."""
    values = [_num(v) for _, v in bars]
    known = [v for v in values if v is not None]
    ref = _num(reference)
    axis = None
    if bars:
        highest = max([0.0, *known, *([ref] if ref is not None else [])])
        lowest = min([0.0, *known, *([ref] if ref is not None else [])])
        ticks = _nice_ticks(lowest, highest * 1.08)  # room for the top bar's label
        axis = (ticks[0], ticks[-1] if ticks[-1] != ticks[0] else ticks[0] + 1)
    parts = _frame(width, height, title, axis=axis, unit=y_label)
    left, right, top, bottom = 56 + (14 if y_label else 0), 16, 28 if title else 12, \
        36 + (14 if x_label else 0)
    if title:
        parts.append(f'<text x="{left}" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    if not bars:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" {FONT} text-anchor="middle">'
                     f'{escape(no_data)}</text></svg>')
        return "".join(parts)
    y0, y1 = axis
    plot_w, plot_h = width - left - right, height - top - bottom

    def py(y: float) -> float:
        return round(top + plot_h - (y - y0) / (y1 - y0) * plot_h, 2)

    for tick in ticks:
        parts.append(f'<line x1="{left}" y1="{py(tick)}" x2="{width - right}" y2="{py(tick)}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 4}" y="{py(tick) + 4}" {FONT} text-anchor="end">'
                     f'{escape(tick_format.format(tick) if tick_format else _label(tick))}'
                     '</text>')
    slot = plot_w / len(bars)
    bar_w = max(4.0, slot * 0.6)
    def shown(raw: Number | None, value: float) -> str:
        """The bar's value as given (a Decimal 1.785 reads 1.79, half-up, not float's 1.78)."""
        if isinstance(raw, Decimal) and value_format == "{:.2f}":
            return f"{raw.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"
        return value_format.format(value)

    for index, ((label, raw), value) in enumerate(zip(bars, values, strict=True)):
        cx = left + slot * index + slot / 2
        if value is None:
            parts.append(f'<text x="{cx:.2f}" y="{py(0) - 4}" {FONT} text-anchor="middle">'
                         f'{escape(missing)}</text>')
        else:
            top_y, base = (py(value), py(0)) if value >= 0 else (py(0), py(value))
            parts.append(f'<rect x="{cx - bar_w / 2:.2f}" y="{top_y}" width="{bar_w:.2f}" '
                         f'height="{max(0.5, base - top_y):.2f}" '
                         f'fill="{PALETTE[0]}" data-value="{value!r}"><title>{escape(str(label))}: '
                         f'{escape(shown(raw, value))}</title></rect>')
            parts.append(f'<text x="{cx:.2f}" y="{top_y - 3}" {FONT} text-anchor="middle">'
                         f'{escape(shown(raw, value))}</text>')
        parts.append(f'<text x="{cx:.2f}" y="{height - bottom + 16}" {FONT} '
                     f'text-anchor="middle">{escape(str(label))}</text>')
    if ref is not None:
        parts.append(f'<line x1="{left}" y1="{py(ref)}" x2="{width - right}" y2="{py(ref)}" '
                     'stroke="#d1242f" stroke-dasharray="4 3" stroke-width="1.5" '
                     f'data-value="{ref!r}"/>')
        if reference_label:
            parts.append(f'<text x="{width - right}" y="{py(ref) - 4}" {FONT} '
                         f'text-anchor="end" fill="#d1242f" stroke="#ffffff" stroke-width="3" '
                         f'paint-order="stroke">{escape(reference_label)}</text>')
    parts.extend(_axis_titles(width, height, left, top, bottom, x_label, y_label))
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart_svg(rows: Sequence[tuple[str, Number | None, bool]], *, title: str,
                   x_label: str, axis_max: Number, width: int = 760, step: Number = 2,
                   label_width: int = 230, missing: str = "n/a") -> str:
    """Horizontal bars [(label, value, flagged)] on a value axis from 0 to `axis_max` (a score
    out of 10), ticks every `step`; `flagged` bars get the "disputed" class."""
    top, row_h = 26, 26
    axis_y = top + row_h * len(rows) + 4
    height = axis_y + 18 + (16 if x_label else 0)
    high = float(axis_max)
    parts = _frame(width, height, title, axis=(0.0, high), unit=x_label)
    parts[0] = parts[0].replace("<svg ", '<svg class="chart" ', 1)  # the page's bar colours
    parts.append(f'<text x="0" y="16" {FONT} font-weight="bold">{escape(title)}</text>')
    x0, x1 = label_width, width - 40

    def px(value: float) -> float:
        return round(x0 + value / high * (x1 - x0), 2)

    for index, (label, raw, flagged) in enumerate(rows):
        y = top + row_h * index
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(f'<text x="0" y="{y + 15}" {FONT}><title>{escape(label)}</title>'
                     f'{escape(short)}</text>')
        value = _num(raw)
        if value is None:
            parts.append(f'<text x="{x0 + 4}" y="{y + 15}" {FONT} fill="#57606a">'
                         f'{escape(missing)}</text>')
            continue
        css = "bar disputed" if flagged else "bar"
        parts.append(f'<rect class="{css}" x="{x0}" y="{y}" height="20" '
                     f'width="{max(0.5, px(value) - x0):.2f}" fill="{PALETTE[0]}" '
                     f'data-value="{value!r}"><title>{escape(label)}: {raw}</title></rect>')
        parts.append(f'<text x="{px(value) + 6}" y="{y + 15}" {FONT}>{raw}</text>')
    parts.append(f'<line x1="{x0}" y1="{axis_y}" x2="{x1}" y2="{axis_y}" stroke="#57606a" '
                 'stroke-width="0.6"/>')
    tick = 0.0
    while tick <= high + 1e-9:
        parts.append(f'<line x1="{px(tick)}" y1="{axis_y}" x2="{px(tick)}" y2="{axis_y + 3}" '
                     'stroke="#57606a" stroke-width="0.6"/>')
        parts.append(f'<text x="{px(tick)}" y="{axis_y + 14}" {FONT} text-anchor="middle" '
                     f'fill="#57606a">{tick:g}</text>')
        tick += float(step)
    if x_label:
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 4}" {FONT} '
                     f'text-anchor="middle" fill="#57606a">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _axis_titles(width: int, height: int, left: int, top: int, bottom: int, x_label: str,
                 y_label: str) -> list[str]:
    """The x axis's title centred under the plot, the y axis's rotated along its left edge."""
    out = []
    if x_label:
        out.append(f'<text x="{(left + width) / 2:.1f}" y="{height - 6}" {FONT} '
                   f'text-anchor="middle" fill="#57606a">{escape(x_label)}</text>')
    if y_label:
        middle = (top + height - bottom) / 2
        out.append(f'<text x="14" y="{middle:.1f}" {FONT} text-anchor="middle" '
                   f'fill="#57606a" transform="rotate(-90 14 {middle:.1f})">'
                   f'{escape(y_label)}</text>')
    return out
