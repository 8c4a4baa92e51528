"""The help menu: /help shows the user guide for the reader's role in their language.

The guide is Markdown in docs/guide/<role>.<zh|en>.md, its screenshots in docs/images/guide/. The
text is written by us (never by users), rendered with the `markdown` package; images are served
from /help/images/<name>.png only (a fixed folder, names checked).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, g, render_template, request, send_from_directory, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

bp = Blueprint("help", __name__, url_prefix="/help", template_folder="templates")

ROOT = Path(__file__).resolve().parents[2]
GUIDE_DIR = ROOT / "docs" / "guide"
IMAGE_DIR = ROOT / "docs" / "images" / "guide"

# One guide per role, in the order a person holding several roles sees them.
GUIDES = {
    "fund_manager": ("manager", _l("Fund manager's guide")),
    "ic_member": ("ic", _l("IC member's guide")),
    "auditor": ("auditor", _l("Auditor's guide")),
    "admin": ("admin", _l("Administrator's guide")),
}
_IMAGE = re.compile(r"\]\(\.\./images/guide/([a-z0-9-]+\.(?:zh|en)\.png)\)")


@lru_cache(maxsize=16)
def _render(name: str, language: str, mtime: float) -> str:
    import markdown

    text = (GUIDE_DIR / f"{name}.{language}.md").read_text(encoding="utf-8")
    text = _IMAGE.sub(lambda m: f"]({url_for('help.image', name=m.group(1))})", text)
    return markdown.markdown(text, extensions=["tables", "toc", "sane_lists"],
                             output_format="html")


def guide_html(name: str, language: str) -> str:
    path = GUIDE_DIR / f"{name}.{language}.md"
    return _render(name, language, path.stat().st_mtime)


def _reader_guides() -> list[tuple[str, str, str]]:
    held = {role.value for role in g.user.roles}
    return [(role, name, str(title)) for role, (name, title) in GUIDES.items() if role in held]


@bp.get("/")
def guide():
    language = "zh" if str(get_locale() or "zh").startswith("zh") else "en"
    mine = _reader_guides()
    wanted = request.args.get("role", "")
    chosen = next((row for row in mine if row[0] == wanted), mine[0] if mine else None)
    if chosen is None or not (GUIDE_DIR / f"{chosen[1]}.{language}.md").exists():
        return render_template("help/guide.html", guides=mine, chosen=None, body=""), 200
    return render_template("help/guide.html", guides=mine, chosen=chosen,
                           body=guide_html(chosen[1], language))


@bp.get("/images/<name>")
def image(name: str):
    if not re.fullmatch(r"[a-z0-9-]+\.(?:zh|en)\.png", name) or not (IMAGE_DIR / name).is_file():
        abort(404)
    return send_from_directory(IMAGE_DIR, name, mimetype="image/png", max_age=3600)
