"""The checks of the book are kept per book version and day (issue 14: the checks page at full
scale); the system's checks (jobs, users, the chains) run on every request. A reader sees a
change to the book at once; a sign-in does not make the portfolio be read again."""

from __future__ import annotations

import dataclasses

import pytest

from fundapp.compliance.checks import CHECKS, run_checks
from fundapp.extensions import db
from tests.compliance.test_checks_page import auditor, old_holdings, rows
from tests.conftest import login, make_user

__all__ = ["auditor"]  # the fixture, used by name

pytestmark = pytest.mark.timeout(120)


def _counted(monkeypatch, check_id: str, calls: dict[str, int]) -> None:
    check = CHECKS[check_id]

    def func(ctx):
        calls[check_id] += 1
        return check.func(ctx)

    monkeypatch.setitem(CHECKS, check_id, dataclasses.replace(check, func=func))


def test_the_book_checks_run_once_per_book_version(auditor, monkeypatch):
    old_holdings(1)
    calls = {"portfolio.holding_limit": 0, "users.without_roles": 0}
    for check_id in calls:
        _counted(monkeypatch, check_id, calls)

    _html, first = rows(auditor)
    _html, again = rows(auditor, language="zh")  # both languages from the one run
    assert first == again and ("warning", "portfolio.holding_limit") in first
    # The system's checks ran for each page (and for the badge's inbox); the book's once.
    assert calls["portfolio.holding_limit"] == 1 and calls["users.without_roles"] >= 2

    make_user("second@example.cn", roles=("auditor",))
    login(auditor.application.test_client(), "second@example.cn")  # ledgered; no figure moves
    rows(auditor)
    assert calls["portfolio.holding_limit"] == 1

    old_holdings(1, start=1)  # a ledgered change to the book: seen by the next reader
    _html, after = rows(auditor)
    assert after.count(("warning", "portfolio.holding_limit")) == 2
    assert calls["portfolio.holding_limit"] == 2

    run_checks(db.session)  # a job or a script always reads the database
    assert calls["portfolio.holding_limit"] == 3


def test_every_book_check_is_marked_and_the_system_checks_are_not():
    book = {check.id for check in CHECKS.values() if check.by_book}
    assert {"portfolio.holding_limit", "portfolio.stale_marks", "limits.single_company",
            "deals.grant_cap", "deals.public_notice"} <= book
    assert not book & {"ledger.chain", "scheduler.jobs", "users.without_roles",
                       "security_events.chain"}
