"""Turn (report name, plain data, language) into PDF bytes with WeasyPrint.

Templates get plain dicts and lists only, never ORM objects. User text is escaped by Jinja's
autoescape. The URL fetcher serves only this package's own files under a private base URL; any
other URL (file://, http(s)://, data: pointing elsewhere, a path that climbs out) is refused, so
text a user typed cannot make the PDF read local files or call out to the network.
Chinese is set in Noto Sans CJK SC from the system's fontconfig (Debian's fonts-noto-cjk); WeasyPrint
embeds the subset of glyphs used.

The house typography (issue 15), the same for every document: theme.css (tables, page breaks, the
DRAFT watermark as a picture outside the text layer) plus a few page rules in the document's
language that render_html adds at the end of the template's <head> (the page footer
"第 X 页 / 共 Y 页" / "Page X of Y", the watermark's words). Templates format figures with the
filters registered here, never by hand: `money` (thousands separators, 2 places), `number`
(separators, 0 places), `wan` (元 → 万元, 2 places), `pct` (a rate → %, 2 places) and `beijing` (a
UTC moment → Beijing time, Asia/Shanghai); `wan_unit()` is the unit's label in the language.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

REPORTS_DIR = Path(__file__).resolve().parent
ASSET_BASE = "https://assets.fundapp.invalid/"
LANGUAGES = ("zh", "en", "both")


class RefusedURL(ValueError):
    pass


class AssetFetcher(URLFetcher):
    """Serves files below reports/ for URLs under ASSET_BASE and refuses everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("https",), allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not url.startswith(ASSET_BASE):
            self.refused.append(url)
            raise RefusedURL(f"refused: {url[:80]}")
        relative = url[len(ASSET_BASE):].split("?", 1)[0].split("#", 1)[0]
        path = (REPORTS_DIR / relative).resolve()
        if REPORTS_DIR not in path.parents or not path.is_file() or path.suffix == ".py":
            self.refused.append(url)
            raise RefusedURL(f"refused: {url[:80]}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": mime})

    __call__ = fetch


def label(language: str, zh: str, en: str) -> str:
    """A heading or label in the report's language; both side by side for bilingual packs."""
    if language == "zh":
        return zh
    if language == "en":
        return en
    return f"{zh} {en}"


def pick(language: str, zh: Any, en: Any) -> str:
    """A name (of a deal, meeting, place or person) in the document's language: the English one
    in English when it is filled in, else the Chinese one; bilingual documents show both. The
    documents' twin of fundapp.ui.reader_name (reports never import the app)."""
    zh, en = str(zh or "").strip(), str(en or "").strip()
    if language == "zh":
        return zh or en
    if language == "en":
        return en or zh
    return f"{zh} {en}" if zh and en and en != zh else (zh or en)


def name_of(language: str, row: Any, key: str = "name") -> str:
    """pick() for row[key] and its English twin row[key + "_en"]; data stored before the twin
    existed has no such key, and shows the Chinese name."""
    if not isinstance(row, dict):
        return pick(language, row, "")
    return pick(language, row.get(key), row.get(f"{key}_en"))


BEIJING = ZoneInfo("Asia/Shanghai")
EMPTY = "—"


def _decimal(value: Any) -> Decimal | None:
    """A figure as a Decimal, from a Decimal, an int, a float or a plain numeric string (commas
    allowed); None for anything else (None, "", "—", text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _fixed(number: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:,.{places}f}"


def _passthrough(value: Any) -> str:
    return EMPTY if value is None or value == "" else str(value)


def money(value: Any, places: int = 2) -> str:
    """1234567.5 → "1,234,567.50" (rounded half up); None → "—"; text is shown as it is."""
    number = _decimal(value)
    return _passthrough(value) if number is None else _fixed(number, places)


def number(value: Any, places: int = 0) -> str:
    """Counts and units with separators: 1234567 → "1,234,567"."""
    return money(value, places)


def wan(value: Any, places: int = 2) -> str:
    """元 → 万元: 30000000 → "3,000.00" (the unit is the column's or the label's: wan_unit())."""
    number = _decimal(value)
    return _passthrough(value) if number is None else _fixed(number / 10000, places)


def pct(value: Any, places: int = 2) -> str:
    """A rate → per cent: -0.6764945918 → "-67.65%"; a figure already in % is kept."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return value.strip()
    number = _decimal(value)
    return _passthrough(value) if number is None else _fixed(number * 100, places) + "%"


_ZONE_WORDS = {"zh": "北京时间", "en": "Beijing time", "both": "北京时间 Beijing time"}


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    for suffix in (" UTC", "UTC", "Z"):
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    if len(text) < 13:  # a day ("2026-03-20") is not a moment: no zone to convert
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def beijing_time(value: Any, language: str = "zh", seconds: bool = False, zone: bool = True) -> str:
    """A UTC moment (datetime, ISO text, "… UTC") as Beijing time: "2026-03-18 10:00 北京时间"."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    moment = _moment(value)
    if moment is None:
        return _passthrough(value)
    shown = moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {_ZONE_WORDS.get(language, _ZONE_WORDS['zh'])}" if zone else shown


@jinja2.pass_context
def _beijing_filter(context: Any, value: Any, seconds: bool = False, zone: bool = True) -> str:
    return beijing_time(value, context.get("language", "zh"), seconds=seconds, zone=zone)


_FOOTERS = {
    "zh": '"第 " counter(page) " 页 / 共 " counter(pages) " 页"',
    "en": '"Page " counter(page) " of " counter(pages)',
    "both": '"第 " counter(page) " 页 / 共 " counter(pages) " 页 · Page " counter(page) " of " '
            'counter(pages)',
}


def page_style(language: str) -> str:
    """The page rules in the document's language: the footer's page numbers and the watermark's
    words. Placed after the template's own styles, so every document numbers its pages alike."""
    return ("<style>/* fundapp house page style (reports/render.py) */\n"
            f"@page {{ @bottom-right {{ content: {_FOOTERS[language]}; }} }}\n"
            f".draft::before {{ background-image: url(watermark/draft-{language}.png); }}\n"
            "</style>\n")


def _with_page_style(html: str, language: str) -> str:
    style = page_style(language)
    lower = html.lower()
    at = lower.find("</head>")
    if at < 0:
        at = lower.find("<body")
    if at < 0:
        return style + html
    return html[:at] + style + html[at:]


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(REPORTS_DIR)),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
_env.filters.update(money=money, number=number, wan=wan, pct=pct, beijing=_beijing_filter)


def render_html(name: str, data: dict[str, Any], language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    template = _env.get_template(f"{name}/template.html")
    html = template.render(data=data, language=language,
                           L=lambda zh, en: label(language, zh, en),
                           N=lambda row, key="name": name_of(language, row, key),
                           P=lambda zh, en: pick(language, zh, en),
                           wan_unit=lambda: label(language, "万元", "CNY 10k"))
    return _with_page_style(html, language)


def render_pdf(name: str, data: dict[str, Any], language: str = "both") -> bytes:
    """The PDF bytes; the same data and language always give the same bytes."""
    html = render_html(name, data, language)
    fetcher = AssetFetcher()
    document = HTML(string=html, base_url=ASSET_BASE, url_fetcher=fetcher)
    theme = CSS(url=ASSET_BASE + "theme.css", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[theme])
