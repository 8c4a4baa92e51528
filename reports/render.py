"""Turn (report name, plain data, language) into PDF bytes with WeasyPrint.

Templates get plain dicts and lists only, never ORM objects. User text is escaped by Jinja's
autoescape. The URL fetcher serves only this package's own files under a private base URL; any
other URL (file://, http(s)://, data: pointing elsewhere, a path that climbs out) is refused, so
text a user typed cannot make the PDF read local files or call out to the network.
Chinese is set in Noto Sans CJK SC from the system's fontconfig (Debian's fonts-noto-cjk); WeasyPrint
embeds the subset of glyphs used.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

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


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(REPORTS_DIR)),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


def render_html(name: str, data: dict[str, Any], language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    template = _env.get_template(f"{name}/template.html")
    return template.render(data=data, language=language,
                           L=lambda zh, en: label(language, zh, en))


def render_pdf(name: str, data: dict[str, Any], language: str = "both") -> bytes:
    """The PDF bytes; the same data and language always give the same bytes."""
    html = render_html(name, data, language)
    fetcher = AssetFetcher()
    document = HTML(string=html, base_url=ASSET_BASE, url_fetcher=fetcher)
    theme = CSS(url=ASSET_BASE + "theme.css", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[theme])
