"""Issue 14: the user guide (docs/guide/<role>.<zh|en>.md) for every role in both languages, its
screenshots present and small enough to commit, and the help page showing the reader's guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fundapp.help.views import GUIDE_DIR, GUIDES, IMAGE_DIR
from tests.conftest import login, make_user

IMAGE = re.compile(r"!\[[^\]]+\]\(\.\./images/guide/([a-z0-9-]+\.(?:zh|en)\.png)\)")
HEADERS = {"zh": {"Accept-Language": "zh-CN"}, "en": {"Accept-Language": "en"}}
MAX_IMAGE_BYTES = 150 * 1024


@pytest.mark.parametrize("name", [name for name, _title in GUIDES.values()])
def test_every_role_has_a_guide_in_both_languages_with_its_pictures(name):
    headings = {}
    for language in ("zh", "en"):
        path = GUIDE_DIR / f"{name}.{language}.md"
        text = path.read_text(encoding="utf-8")
        headings[language] = re.findall(r"^#+ ", text, re.M)
        assert len(headings[language]) >= 4, f"{path.name}: too short to be a guide"
        if language == "zh":
            assert re.search(r"[\u4e00-\u9fff]{10}", text), f"{path.name} is not in Chinese"
        pictures = IMAGE.findall(text)
        assert pictures, f"{path.name} shows no screenshot"
        for picture in pictures:
            assert picture.endswith(f".{language}.png"), f"{path.name}: {picture} wrong language"
            image = IMAGE_DIR / picture
            assert image.is_file(), f"{path.name}: {picture} missing (make docs takes it)"
            assert image.stat().st_size <= MAX_IMAGE_BYTES, f"{picture} is too large"
    # the two languages tell the same story: the same sections in the same order
    assert headings["zh"] == headings["en"]


def test_every_committed_screenshot_is_used_and_small():
    used = {p for path in Path(GUIDE_DIR).glob("*.md")
            for p in IMAGE.findall(path.read_text(encoding="utf-8"))}
    for image in IMAGE_DIR.glob("*.png"):
        assert image.stat().st_size <= MAX_IMAGE_BYTES, image.name
        if not image.name.startswith("help-"):
            assert image.name in used, f"{image.name} is in no guide"


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("role", list(GUIDES))
def test_help_shows_the_readers_guide(client, role, language):
    make_user(f"help-{role}@example.cn", roles=(role,), locale=language)
    login(client, f"help-{role}@example.cn", **HEADERS[language])
    page = client.get("/help/", headers=HEADERS[language])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    name = GUIDES[role][0]
    assert f'data-guide="{name}"' in html
    first = (GUIDE_DIR / f"{name}.{language}.md").read_text(encoding="utf-8").splitlines()[0]
    assert first.lstrip("# ").strip() in html
    for src in re.findall(r'<img[^>]+src="([^"]+)"', html):
        assert src.startswith("/help/images/")
        image = client.get(src, headers=HEADERS[language])
        assert image.status_code == 200 and image.mimetype == "image/png"
    assert 'data-testid="help-link"' in html


def test_a_reader_with_several_roles_picks_a_guide_and_nothing_else_is_served(client):
    make_user("both@example.cn", roles=("fund_manager", "ic_member"), locale="en")
    login(client, "both@example.cn", **HEADERS["en"])
    html = client.get("/help/?role=ic_member", headers=HEADERS["en"]).get_data(as_text=True)
    assert 'data-guide="ic"' in html and "/help/?role=fund_manager" in html
    # a guide for a role the reader does not hold is not shown: their first one is
    html = client.get("/help/?role=admin", headers=HEADERS["en"]).get_data(as_text=True)
    assert 'data-guide="manager"' in html
    for bad in ("../secret.png", "x.txt", "nothere.png", "%2e%2e%2fsetup.cfg"):
        assert client.get(f"/help/images/{bad}").status_code == 404
