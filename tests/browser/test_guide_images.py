"""Issue 14: the user guide's screenshots are taken by the browser (fundapp.guide_images, which
`make docs` runs) and come out small enough to commit, in both languages."""

from __future__ import annotations

import shutil

import pytest

from fundapp.app import create_app
from fundapp.extensions import db
from fundapp.guide_images import MAX_BYTES, SHOTS, take
from tests.browser.conftest import serving
from tests.conftest import make_config

pytestmark = pytest.mark.browser


def test_screenshots_are_taken_in_both_languages_and_stay_small(browser, sqlite_template, tmp_path):
    from fundapp.demo import DEMO_PASSWORD, load_demo

    path = tmp_path / "guide.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app(make_config(f"sqlite:///{path}"))
    with app.app_context():
        load_demo(db.session)
        db.session.commit()
        db.session.remove()
    with serving(app) as url:
        wanted = [s for s in SHOTS if s.name in ("manager-board", "help-menu")]
        written = take(url, tmp_path / "out", DEMO_PASSWORD, wanted, browser=browser)
    assert sorted(p.name for p in written) == [
        "help-menu.en.png", "help-menu.zh.png", "manager-board.en.png", "manager-board.zh.png"]
    for picture in written:
        data = picture.read_bytes()
        assert data.startswith(b"\x89PNG") and 1024 < len(data) <= MAX_BYTES, picture.name
