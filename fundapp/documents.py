"""The demo fund's documents, rendered for review and for the document checks.

`make docs` (python -m fundapp.documents docs/images) loads the demo fund into a scratch SQLite
database in a temporary folder, renders every document (IC pack, IC minutes, quarterly report,
ledger verification report) in zh, en and both, and writes PNG images of their pages
(pdftoppm -r 60). tests/reports/test_documents.py uses the same data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOCUMENTS = ("ic_pack", "ic_minutes", "quarterly", "ledger_verification")
LANGUAGES = ("zh", "en", "both")


@contextlib.contextmanager
def demo_app(database_url: str, *, upgrade: bool = True) -> Iterator[Any]:
    """An app on `database_url` holding the demo fund, inside an app and request context."""
    import io

    from flask_migrate import upgrade as alembic_upgrade

    from fundapp.app import create_app
    from fundapp.config import TestConfig
    from fundapp.demo import load_demo
    from fundapp.extensions import db
    from fundapp.unit_of_work import transaction

    config = TestConfig(database_url)
    config.ARGON2_FAST = True
    app = create_app(config)
    with app.app_context(), app.test_request_context():
        if upgrade:
            with contextlib.redirect_stderr(io.StringIO()):
                alembic_upgrade(revision="heads")
        with transaction():
            load_demo(db.session)
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """What a stored version holds: JSON text read back (no Decimal, datetime or ORM object)."""
    return json.loads(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str))


def _minutes_data(meeting: Any) -> dict[str, Any]:
    """The data the minutes' PDF is rendered from, taken where production renders it."""
    from fundapp.ic import operations as ops

    seen: dict[str, Any] = {}

    def capture(name: str, data: dict[str, Any], language: str) -> bytes:
        seen["data"] = data
        return b""

    signed = next((m for m in reversed(meeting.minutes) if m.is_signed), None)
    original = ops._render
    ops._render = capture
    try:
        if signed is not None:
            ops.render_minutes(meeting, version=signed.version, signed_by=signed.signed_by,
                               signed_at=signed.signed_at)
        else:
            ops.render_minutes(meeting, version=ops.next_minutes_version(meeting))
    finally:
        ops._render = original
    return seen["data"]


def demo_documents(session: Any) -> dict[str, dict[str, Any]]:
    """The plain data of each document of the demo fund (load_demo has run on `session`)."""
    from sqlalchemy import select

    from fundapp.compliance.queries import verification_report
    from fundapp.ic.models import IcMeeting, QuarterlyReport
    from fundapp.ic.quarterly import quarterly_data

    meetings = list(session.scalars(select(IcMeeting).order_by(IcMeeting.id)).unique())
    with_pack = [m for m in meetings if m.packs]
    draft = next((m for m in reversed(with_pack) if not m.packs[-1].is_final), None)
    pack = (draft or with_pack[-1]).packs[-1]
    minuted = next(m for m in meetings if m.minutes)
    report = session.scalars(select(QuarterlyReport).order_by(QuarterlyReport.id.desc())).first()
    return {
        "ic_pack": json.loads(pack.data_json),
        "ic_minutes": _plain(_minutes_data(minuted)),
        "quarterly": _plain(quarterly_data(session, report.quarter, version=report.version,
                                           generated_at=report.generated_at)),
        "ledger_verification": _plain(verification_report(session, "auditor@demo.fundapp.cn")),
    }


def write_images(documents: dict[str, dict[str, Any]], out: Path, *, resolution: int = 60,
                 first_page_only: bool = False) -> list[Path]:
    """Render each document in each language and write its pages as PNG files into `out`."""
    from reports.render import render_pdf

    if not shutil.which("pdftoppm"):
        raise SystemExit("pdftoppm missing: install poppler-utils (make sysdeps-test)")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in documents.items():
            for language in LANGUAGES:
                pdf = Path(tmp) / f"{name}-{language}.pdf"
                pdf.write_bytes(render_pdf(name, data, language))
                command = ["pdftoppm", "-r", str(resolution), "-png"]
                if first_page_only:
                    command += ["-f", "1", "-l", "1"]
                subprocess.run(command + [str(pdf), str(out / f"{name}-{language}")], check=True)
    return sorted(out.glob("*.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="docs/images", type=Path)
    parser.add_argument("--resolution", type=int, default=60)
    parser.add_argument("--first-page-only", action="store_true")
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("FUNDAPP_SECRET_KEY", "docs-images")
    from fundapp.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        with demo_app(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"):
            documents = demo_documents(db.session)
    pages = write_images(documents, args.out, resolution=args.resolution,
                         first_page_only=args.first_page_only)
    print(f"{len(pages)} page images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
