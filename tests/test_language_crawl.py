"""Issue 14: no raw codes, no mixed languages. Every GET page, as every role of the demo fund, in
Chinese and in English: the visible text (with title, placeholder, aria-label and alt attributes
and the options of every select) shows no raw code (snake_case values, dotted action codes, Python
reprs, ISO or UTC times, money without thousands separators), no English phrase on a Chinese page
and no Chinese on an English page.

What a template may mark, and nothing else:
- lang="zh" / lang="en": text genuinely in that language (a company's Chinese legal name next to
  its English one, the language switch);
- lang="" (HTML's "language unknown", the `user_text` filter): text a user typed into a field
  that has no version per language (a milestone, a filing number, an investor's name); the raw
  code checks still apply to it;
- data-raw, on RAW_RECORD_PAGES only: machine text shown on purpose.
A user's display name without an English one is the user's own text and is taken out first.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from fundapp.extensions import db
from tests.conftest import login
from tests.isolation import isolated_client

DEMO_PASSWORD = "demo-password"
ROLES = {
    "admin": "admin@demo.fundapp.cn",
    "fund_manager": "manager@demo.fundapp.cn",
    "ic_member": "ic@demo.fundapp.cn",
    "auditor": "auditor@demo.fundapp.cn",
}
LANGUAGES = ("zh", "en")

# Pages that are not HTML for a reader, or that end the session.
SKIPPED_ENDPOINTS = {"static", "auth.logout", "health.healthz"}
SKIPPED_PATHS = re.compile(r"^/api/|\.(pdf|csv|xlsx|pem|py)$|/download$|/file$|/export")

# Machine text shown on purpose, in an element marked data-raw, on these pages only: the ledger's
# stored record of each entry as it was hashed (an auditor checks the hash against it), folded
# under its sentence; the column names an uploaded KPI file must have.
RAW_RECORD_PAGES = ("/compliance/ledger", "/portfolio/kpis")

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}
ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


def language_of(lang: str) -> str:
    """'zh-CN' -> 'zh'; lang="" (HTML's "unknown language") -> 'und'."""
    return lang.split("-")[0].lower() or "und"


class VisibleText(HTMLParser):
    """Collects (text, lang) pieces: `lang` is the nearest enclosing element's language."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, bool]] = []
        self.raw_records = 0
        self.pieces: list[tuple[str, str]] = []
        self.hidden = 0

    def lang(self) -> str:
        for _tag, lang, _raw in reversed(self.stack):
            if lang is not None:
                return language_of(lang)
        return ""

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        lang = attributes.get("lang")
        if tag not in VOID:
            self.stack.append((tag, lang, "data-raw" in attributes))
            if tag in ("script", "style", "template") or "data-raw" in attributes:
                self.hidden += 1
                self.raw_records += "data-raw" in attributes
        if self.hidden:
            return
        where = language_of(lang) if lang is not None else self.lang()
        for name in ATTRIBUTES:
            if attributes.get(name):
                self.pieces.append((attributes[name], where))
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get(
                "value"):
            self.pieces.append((attributes["value"], where))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                for closed, _lang, raw in self.stack[index:]:
                    if closed in ("script", "style", "template") or raw:
                        self.hidden -= 1
                del self.stack[index:]
                return

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.pieces.append((data, self.lang()))


def visible_text(html: str) -> tuple[list[tuple[str, str]], int]:
    """The (text, lang) pieces a reader sees, and how many raw records the page holds."""
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.pieces, parser.raw_records


# ---------------------------------------------------------------------------- what is refused

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"\b(?:https?://|www\.)\S+")
FILE_NAME = re.compile(r"\b[\w.-]+\.(?:py|pem|pdf|csv|xlsx|json|txt|zip|sha256|sig)\b")
RAW_CODES = [
    ("snake_case code", re.compile(r"(?<![\w/-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/])")),
    ("UPPER_CASE code", re.compile(r"(?<![\w/-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![\w/])")),
    ("dotted code", re.compile(r"(?<![\w./-])[a-z][a-z_]+\.[a-z][a-z_]+(?:\.[a-z_]+)*(?![\w/])")),
    ("enum repr", re.compile(r"\b[A-Z][A-Za-z]+\.[A-Z][A-Z_]+\b")),
    # None/True/False as a value: alone, or next to the brackets, colons and commas of a repr
    # ("None yet." is English).
    ("Python repr", re.compile(r"\{'|\['|Decimal\(|datetime\.|<\w+\.\w+|"
                               r"[(\[{=:,]\s*(?:None|True|False)\b|"
                               r"\b(?:None|True|False)\s*[)\]},]|^\s*(?:None|True|False)\s*$")),
    ("ISO time", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|[+-]00:?00\b|\d{2}:\d{2}:\d{2}\.\d+")),
    ("UTC time", re.compile(r"\bUTC\b|\bGMT\b")),
    ("number without thousands separators", re.compile(r"(?<![\w.,:-])\d{5,}\.\d+(?![\w-])")),
]

# English tokens a Chinese page may show: acronyms and units of the trade, the product's name.
ALLOWED_WORDS = {
    "IRR", "TVPI", "DPI", "RVPI", "PME", "KS", "MIRR", "XIRR", "LPR", "IC", "KPI", "KPIs", "DCF",
    "XLSX", "PDF", "CSV", "API", "SHA", "HTTP", "HTTPS", "URL", "ID", "OK", "PCT", "R&D", "CNY",
    "RMB", "fundapp", "Python", "PEM", "JSON", "Excel", "Ed25519", "pct",
}
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]")
WORD = r"[A-Za-z][A-Za-z'&]*(?:-[A-Za-z]+)*"
ENGLISH_RUN = re.compile(rf"{WORD}(?:[ ,]+{WORD})+")


CLAUSE_ID = re.compile(r"\bR\d+(?:\.[a-z])?\b|\b[GD]-\d{4}-\d+\b|\b\d{4}Q[1-4]\b")


def english_phrases(text: str) -> list[str]:
    found = []
    for match in ENGLISH_RUN.finditer(CLAUSE_ID.sub(" ", text)):
        words = [w for w in re.findall(WORD, match.group(0)) if w not in ALLOWED_WORDS
                 and not re.fullmatch(r"[A-Z]{1,3}\d*|[A-Z]", w)]
        # Two or more words that are English in a row (acronyms and clause ids do not count).
        # A brand in Title Case inside Chinese text ("NeuroBridge Tech 研发项目") is a name.
        if len(words) >= 2 and not (CJK.search(text) and all(w[0].isupper() for w in words)):
            found.append(match.group(0))
    return found


def offences(html: str, language: str, own_text: list[str], url: str = "") -> list[str]:
    """What on this page breaks issue 14, as short quotes."""
    found = []
    pieces, raw_records = visible_text(html)
    if raw_records and not url.startswith(RAW_RECORD_PAGES):
        found.append(f"data-raw outside {RAW_RECORD_PAGES}: machine text on a page for people")
    for raw, lang in pieces:
        text = " ".join(raw.split())
        for own in own_text:  # the user's own single-language text
            text = text.replace(own, " ")
        text = FILE_NAME.sub(" ", URL.sub(" ", EMAIL.sub(" ", text)))
        for kind, pattern in RAW_CODES:
            for match in pattern.finditer(text):
                found.append(f"{kind}: {match.group(0)!r} in {text[:120]!r}")
        page_lang = lang or language
        if page_lang == "und":
            continue  # text a user wrote, in whichever language they wrote it
        if language == "en" and page_lang != "zh" and CJK.search(text):
            found.append(f"Chinese on an English page: {text[:120]!r}")
        if language == "zh" and page_lang != "en":
            for phrase in english_phrases(text):
                found.append(f"English on a Chinese page: {phrase!r} in {text[:120]!r}")
    return found


# ---------------------------------------------------------------------------- the crawl


SAMPLE = 5  # objects of each kind whose pages are read (the demo has 50 companies, 48 deals)

# Each path argument and the model whose ids it takes.
PATH_MODELS = {
    "user_id": "User", "company_id": "Company", "deal_id": "Deal", "roadshow_id": "Roadshow",
    "grant_id": "Grant", "round_id": "FinancingRound", "holding_id": "Holding",
    "document_id": "EvidenceDocument", "meeting_id": "IcMeeting", "report_id": "QuarterlyReport",
    "export_id": "LedgerExport", "task_id": "Task", "mark_id": "ValuationMark", "exit_id": "Exit",
    "appraisal_id": "Appraisal", "conversion_id": "Conversion", "kpi_report_id": "KpiReport",
    "import_id": "HistoryImport",
}


def demo_ids() -> dict[str, list[int]]:
    """Every id of every kind of object a page shows, by its path argument's name."""
    import fundapp.models  # noqa: F401  (every model registered)
    from fundapp.db import Base

    models = {m.class_.__name__: m.class_ for m in Base.registry.mappers}
    ids = {name: spread(list(db.session.scalars(select(models[model].id).order_by(
        models[model].id)))) for name, model in PATH_MODELS.items()}
    db.session.rollback()
    return ids


def spread(ids: list[int], most: int = SAMPLE) -> list[int]:
    """Up to `most` ids from first to last: objects in every stage, in a walk of minutes."""
    if len(ids) <= most:
        return ids
    return sorted({ids[round(i * (len(ids) - 1) / (most - 1))] for i in range(most)})


def page_urls(app, ids: dict[str, list[int]]) -> list[tuple[str, str]]:
    """(endpoint, url) of every HTML page, once per real object for pages of one object."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS or "GET" not in rule.methods:
            continue
        if rule.rule.startswith("/api/") or any(not name.endswith("_id")
                                                for name in rule.arguments):
            continue  # a one-time token (an import preview) or a file name: no page to crawl
        choices: list[dict[str, int]] = [{}]
        for name in sorted(rule.arguments):
            assert name in PATH_MODELS, f"{rule.rule}: which object's id is {name}?"
            choices = [{**c, name: value} for c in choices for value in ids.get(name, [])]
        for values in choices:
            url = adapter.build(rule.endpoint, values, method="GET")
            if not SKIPPED_PATHS.search(url):
                urls.append((rule.endpoint, url))
    urls.append(("search.search_page", "/search?q=%E7%A7%91"))  # 科
    urls.append(("search.search_page", "/search?q=tech"))
    return sorted(set(urls))


def own_text() -> list[str]:
    """Names kept in one language only: a user's display name when it has no English one."""
    from fundapp.auth.models import User

    names = [u.name for u in db.session.scalars(select(User))
             if u.name and not getattr(u, "name_en", None)]
    db.session.rollback()
    return sorted(names, key=len, reverse=True)


def crawl(app) -> list[str]:
    from fundapp.access import access_table
    from fundapp.auth.models import User

    table = access_table()
    urls = page_urls(app, demo_ids())
    names = own_text()
    found: dict[tuple[str, str, str], list[str]] = {}  # (page, language, what) -> roles
    for role, email in ROLES.items():
        for language in LANGUAGES:
            user = db.session.scalar(select(User).where(User.email == email))
            user.locale = language  # the profile's choice: it wins over the browser's
            db.session.commit()
            client = isolated_client(app)
            headers = {"Accept-Language": language, "Accept": "text/html"}
            assert login(client, email, DEMO_PASSWORD, **headers).status_code == 302
            for endpoint, url in urls:
                allowed = table.get(endpoint, {}).get("GET", frozenset())
                if not ({"anonymous", "@user", role} & set(allowed)):
                    continue
                response = client.get(url, headers=headers)
                if response.status_code != 200 or "html" not in response.content_type:
                    if response.status_code >= 500:
                        found.setdefault((url, language, f"HTTP {response.status_code}"),
                                         []).append(role)
                    continue
                for offence in offences(response.get_data(as_text=True), language, names, url):
                    roles = found.setdefault((url, language, offence), [])
                    if role not in roles:
                        roles.append(role)
    return [f"{url} | {', '.join(roles)} | {language} | {what}"
            for (url, language, what), roles in found.items()]


def test_every_page_speaks_one_language_without_raw_codes(app, database):
    if not database.startswith("sqlite"):
        pytest.skip("the words on a page do not depend on the database: one crawl is enough")
    from fundapp.demo import load_demo

    load_demo(db.session)
    db.session.commit()
    failures = crawl(app)
    assert not failures, f"{len(failures)} language problems (page | roles | language | what):\n" \
        + "\n".join(failures)


def test_the_checker_finds_what_issue_14_forbids():
    page = ('<html lang="en"><body><p>approved_with_conditions</p><p title="auth.login">x</p>'
            "<p>{'a': 1} None 2025-01-01T08:00:00+00:00 1234567.50</p><p>投资</p>"
            '<p lang="zh">投资</p><script>var a_b = "投资";</script></body></html>')
    found = offences(page, "en", [])
    assert any("approved_with_conditions" in f for f in found)
    assert any("auth.login" in f for f in found)
    assert any("Python repr" in f for f in found)
    assert any("ISO time" in f for f in found)
    assert any("thousands" in f for f in found)
    assert sum("Chinese on an English page" in f for f in found) == 1
    zh = '<html lang="zh-CN"><p>基金 Grant agreement</p><p>IRR 与 TVPI</p><p lang="en">English</p>'
    found = offences(zh, "zh", [])
    assert len(found) == 1 and "Grant agreement" in found[0]


def test_the_checker_takes_marked_text_as_marked():
    page = ('<html lang="en"><p>None yet.</p><p><span lang="">浦江创投 Pujiang VC</span></p>'
            '<p lang="">a_code</p><code data-raw>{"a_b": 1}</code><p>Award 5,000,000.00</p>')
    found = offences(page, "en", [], "/compliance/ledger")
    assert found == ["snake_case code: 'a_code' in 'a_code'"]
    found = offences(page, "en", [], "/grants/1")
    assert any("data-raw outside" in f for f in found)
    zh = '<html lang="zh-CN"><p>上海脑语的“BrainSpeak Medical 研发项目”</p><p>R3.e 领投方</p>'
    assert offences(zh, "zh", []) == []
