"""PDF rendering: real WeasyPrint PDFs, Chinese in an embedded font, nothing fetched from outside."""

from __future__ import annotations

import pytest

from reports.render import render_html, render_pdf
from tests.reports.helpers import pdf_fonts, pdf_text

DATA = {"fund_name": "张江科创拨投结合基金", "ok": True, "problem": "", "count": "1,234",
        "head_hash": "ab" * 32, "first_at": "2026-01-01T00:00:00.000000Z",
        "last_at": "2026-11-01T00:00:00.000000Z", "verified_at": "2026-11-26 10:00:00",
        "verified_by": "auditor@example.cn"}


def test_chinese_is_readable_back_from_an_embedded_cjk_font(tmp_path):
    pdf = render_pdf("ledger_verification", DATA, "both")
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert "张江科创拨投结合基金" in text
    assert "合规台账校验报告" in text and "Ledger verification report" in text
    assert "\ufffd" not in text  # no glyph fell back to a replacement box
    fonts = pdf_fonts(pdf, tmp_path)
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk, fonts
    assert all(" yes " in line for line in cjk), "CJK font not embedded: " + fonts


def test_same_data_gives_the_same_bytes():
    assert render_pdf("ledger_verification", DATA, "zh") == render_pdf("ledger_verification",
                                                                         DATA, "zh")


def test_english_only_report_has_no_chinese_headings(tmp_path):
    text = pdf_text(render_pdf("ledger_verification", DATA, "en"), tmp_path)
    assert "Ledger verification report" in text and "合规台账校验报告" not in text


@pytest.mark.parametrize("evil", [
    '<img src="file:///etc/passwd">',
    '<link rel="stylesheet" href="http://example.com/x.css">',
    '<img src="../../../../etc/passwd">',
    "<script>alert(1)</script>",
])
def test_user_text_is_escaped_and_fetches_nothing(evil, tmp_path):
    data = dict(DATA, fund_name=evil, verified_by=evil)
    html = render_html("ledger_verification", data, "en")
    assert evil not in html  # escaped, not markup
    text = pdf_text(render_pdf("ledger_verification", data, "en"), tmp_path)
    assert "root:x:0:0" not in text
    assert evil.replace("&", "&amp;")[:10] in text.replace("\n", "")  # shown as text


def test_fetcher_refuses_everything_but_bundled_assets():
    from reports.render import ASSET_BASE, AssetFetcher, RefusedURL

    fetcher = AssetFetcher()
    assert fetcher(ASSET_BASE + "theme.css").status == 200
    for url in ("file:///etc/passwd", "http://example.com/", ASSET_BASE + "../../etc/passwd",
                ASSET_BASE + "render.py", "https://assets.fundapp.invalid.evil.com/theme.css"):
        with pytest.raises(RefusedURL):
            fetcher(url)
