"""Shared helpers for the compliance tests: entries with awkward content, exports, tampering."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from fundapp.compliance.ledger import record
from fundapp.extensions import db

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_ledger_export.py"

# Values a spreadsheet would run as formulas, and text that tests CSV quoting.
AWKWARD = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-3", "@SUM(A1)", "\tTab",
           "\rCR", "'quoted", "plain, with comma", 'say "hi"', "two\nlines", "示例科技有限公司"]


def add_entries(count: int, *, at: datetime | None = None, action: str = "test.entry",
                subject_type: str = "test") -> None:
    for i in range(count):
        awkward = AWKWARD[i % len(AWKWARD)]
        record(db.session, actor=awkward if i % 3 == 0 else "clerk@example.cn", action=action,
               subject_type=subject_type, subject_id=awkward if i % 2 else str(i),
               payload={"i": i, "note": awkward}, at=at)
    db.session.commit()


def load_tool():
    spec = importlib.util.spec_from_file_location("verify_ledger_export_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def unpack(bundle: Path, target: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(target)
    return target


def today_shanghai():
    from fundapp.compliance.checks import shanghai_today

    return shanghai_today(datetime.now(UTC))
