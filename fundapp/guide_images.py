"""Screenshots of the user guide (docs/guide/*.md show them from docs/images/guide/).

`make docs` runs `python -m fundapp.guide_images docs/images/guide`: the demo fund in a scratch
SQLite database (as fundapp.documents makes it), served on a free localhost port, photographed by
Debian's Chromium through Playwright (a test dependency: `make docs` installs them), one picture
per shot in Chinese and in English, each reduced to a 128-colour PNG so that it stays small enough
to commit (tests/browser/test_guide.py checks at most 150 KB each).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
MAX_BYTES = 150 * 1024
VIEWPORT = {"width": 1280, "height": 760}


@dataclass(frozen=True)
class Shot:
    name: str  # the file is <name>.<zh|en>.png
    email: str  # the demo user who takes it
    path: str  # the page; "{first:<kind>}" is replaced by the link to the first such item
    focus: str = "main"  # the part of the page pictured (a CSS selector)


SHOTS = (
    Shot("manager-dashboard", "manager@demo.fundapp.cn", "/"),
    Shot("manager-board", "manager@demo.fundapp.cn", "/deals/board", ".board, main"),
    Shot("manager-grant", "manager@demo.fundapp.cn", "{first:/grants/}"),
    Shot("ic-meeting", "ic@demo.fundapp.cn", "{first:/ic/meetings/}",
         'section[data-testid^="item-"]'),  # an agenda item: the votes (not the PDF frame)
    Shot("auditor-ledger", "auditor@demo.fundapp.cn", "/compliance/ledger"),
    Shot("admin-users", "admin@demo.fundapp.cn", "/admin/users"),
    Shot("help-menu", "manager@demo.fundapp.cn", "/help/", "header"),
)


def _compress(png: bytes) -> bytes:
    """A screenshot as a palette PNG (128 colours): UI text stays sharp, the file small."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def _resolve(page, base: str, path: str) -> str:
    """"{first:/grants/}" -> the first link on the list page whose address starts so."""
    if not path.startswith("{first:"):
        return path
    prefix = path[len("{first:"):-1]
    page.goto(base + prefix.rstrip("/"))
    href = page.evaluate(
        """(p) => { const a = [...document.querySelectorAll('main a[href]')]
                      .map(e => e.getAttribute('href'))
                      .find(h => h.startsWith(p) && /\\d+$/.test(h)); return a || null; }""",
        prefix)
    return href or prefix


def take(base: str, out_dir: Path, password: str, shots: Iterable[Shot] = SHOTS,
         browser=None) -> list[Path]:
    """Photograph every shot in both languages on the app at `base`; the files written.
    `browser` is a Playwright browser to use (the tests'); without one, Chromium is launched."""
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            own = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
            try:
                return take(base, out_dir, password, shots, browser=own)
            finally:
                own.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in shots:
        for language in ("zh", "en"):
            context = browser.new_context(
                locale="zh-CN" if language == "zh" else "en-US", viewport=VIEWPORT)
            try:
                page = context.new_page()
                page.goto(f"{base}/login")
                page.fill("input[name=email]", shot.email)
                page.fill("input[name=password]", password)
                with page.expect_navigation():
                    page.press("input[name=password]", "Enter")
                # the reader's language, whatever their profile says
                page.goto(f"{base}/")
                switch = page.get_by_test_id("switch-language")
                if page.locator("html").get_attribute("lang") != (
                        "zh-CN" if language == "zh" else "en"):
                    with page.expect_navigation():
                        switch.click()
                page.goto(base + _resolve(page, base, shot.path))
                target = page.locator(shot.focus).first
                png = (page.screenshot(full_page=False) if shot.focus == "main"
                       else target.screenshot())
                data = _compress(png)
                if len(data) > MAX_BYTES:  # too much at once: its top part only
                    box = target.bounding_box() or {"x": 0, "y": 0, "width": 1280}
                    data = _compress(page.screenshot(full_page=True, clip={
                        "x": box["x"], "y": box["y"], "width": box["width"],
                        "height": 520}))
                path = out_dir / f"{shot.name}.{language}.png"
                path.write_bytes(data)
                written.append(path)
            finally:
                context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    from werkzeug.serving import make_server

    from fundapp.demo import DEMO_PASSWORD
    from fundapp.documents import demo_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="take only this shot (repeatable), e.g. help-menu")
    args = parser.parse_args(argv)
    shots = [s for s in SHOTS if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory() as tmp, \
            demo_app(f"sqlite:///{Path(tmp) / 'guide.sqlite3'}") as app:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            written = take(f"http://127.0.0.1:{server.server_port}", args.out_dir,
                           DEMO_PASSWORD, shots)
        finally:
            server.shutdown()
            thread.join(timeout=5)
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
