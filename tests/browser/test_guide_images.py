"""Issue 14: the user guide's screenshots are taken by the browser (fundapp.guide_images, which
`make docs` runs) and come out small enough to commit, in both languages."""

from __future__ import annotations

import shutil
import threading

import pytest

from fundapp.app import create_app
from fundapp.extensions import db
from fundapp.guide_images import MAX_BYTES, SHOTS, take
from tests.conftest import make_config

pytestmark = pytest.mark.browser


def test_screenshots_are_taken_in_both_languages_and_stay_small(browser, sqlite_template, tmp_path):
    from werkzeug.serving import make_server

    from fundapp.demo import DEMO_PASSWORD, load_demo

    path = tmp_path / "guide.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app(make_config(f"sqlite:///{path}"))
    with app.app_context():
        load_demo(db.session)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wanted = [s for s in SHOTS if s.name in ("manager-board", "help-menu")]
        written = take(f"http://127.0.0.1:{server.server_port}", tmp_path / "out",
                       DEMO_PASSWORD, wanted, browser=browser)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()
    assert sorted(p.name for p in written) == [
        "help-menu.en.png", "help-menu.zh.png", "manager-board.en.png", "manager-board.zh.png"]
    for picture in written:
        data = picture.read_bytes()
        assert data.startswith(b"\x89PNG") and 1024 < len(data) <= MAX_BYTES, picture.name
