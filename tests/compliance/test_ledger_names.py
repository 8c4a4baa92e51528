"""The ledger page names people and things as people read them: the actor's name in the reader's
language (the e-mail only as its title), the subject's name linked to its page, system actors by
what they are; names are looked up once per page, not once per entry."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import event, select

from fundapp import pagination
from fundapp.compliance.ledger import record
from fundapp.compliance.models import LedgerEntry
from fundapp.demo import DEMO_PASSWORD, load_demo
from fundapp.extensions import db
from tests.conftest import login, make_user

AUDITOR = "auditor@demo.fundapp.cn"
MANAGER = "manager@demo.fundapp.cn"


@pytest.fixture
def demo_client(app, client):
    load_demo(db.session)
    db.session.commit()
    assert login(client, AUDITOR, DEMO_PASSWORD).status_code == 302
    return client


def moved_deal():
    """A deal the demo's manager moved through the pipeline, with its project's names."""
    from fundapp.deals.models import Deal

    entry = db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.action == "deal.stage_changed", LedgerEntry.actor == MANAGER)
        .order_by(LedgerEntry.seq.desc()).limit(1))
    return db.session.get(Deal, int(entry.subject_id))


def rows(html: str) -> list[str]:
    return re.findall(r"<tr>.*?</tr>", html, re.S)


def test_the_page_names_people_and_things_in_the_readers_language(demo_client):
    """One demo fund for every check of this test: loading it is most of the time."""
    deal = moved_deal()
    for language, manager, project in (("zh", "王磊", deal.project_name),
                                       ("en", "Wang Lei", deal.project_name_en)):
        html = demo_client.get("/compliance/ledger", headers={"Accept-Language": language},
                               query_string={"action": "deal.stage_changed"}).get_data(
            as_text=True)
        project = str(escape(project))  # "R&D" is "R&amp;D" in HTML
        row = next(r for r in rows(html) if project in r)
        assert f'<span title="{MANAGER}">{manager}</span>' in row
        assert f'<a href="/deals/{deal.id}">{project}</a>' in row  # the sentence links the deal
        assert f">{MANAGER}<" not in html and not re.search(rf"(?<!&)#{deal.id}\b", row)

    record(db.session, actor="scheduler", action="kpi.requests_created", subject_type="quarter",
           subject_id="2025Q4", payload={})
    db.session.commit()
    html = demo_client.get("/compliance/ledger", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert "System (scheduler) requested the quarterly KPI reports for #2025Q4" in html

    for typed in ("王磊", "wang lei", "manager@demo"):  # the actor filter takes a name
        html = demo_client.get("/compliance/ledger", query_string={"actor": typed},
                               headers={"Accept-Language": "en"}).get_data(as_text=True)
        found = rows(html)[1:]  # the header row first
        assert found and all(f'title="{MANAGER}"' in r.split("</td>")[3] for r in found), typed


def test_statements_do_not_grow_with_the_entries_on_a_page(demo_client, monkeypatch):
    def statements(per_page: int) -> int:
        defaults = list(pagination.paginate.__defaults__)  # (page, per_page, ...)
        defaults[1] = per_page  # the page size a page takes by default
        monkeypatch.setattr(pagination.paginate, "__defaults__", tuple(defaults))
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        demo_client.get("/compliance/ledger")  # warm: caches filled once per process
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert demo_client.get("/compliance/ledger").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    one, fifty = statements(1), statements(50)
    # The first 50 entries name more kinds of subject than the first one: at most one more
    # statement per kind, never one more per entry.
    kinds = len({e.subject_type for e in db.session.scalars(
        select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(50))})
    assert fifty - one <= kinds < 50


def test_a_filter_problem_shows_next_to_its_field_without_its_name(client):
    make_user("auditor@example.cn", roles=("auditor",))
    login(client, "auditor@example.cn")
    page = client.get("/compliance/ledger", query_string={"from": "2026-02-01",
                                                          "to": "2026-01-01"},
                      headers={"Accept-Language": "en"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert re.search(r'<input type="date" name="to" value="2026-01-01" id="ledger-to" '
                     r'aria-invalid="true" aria-describedby="ledger-to-error">'
                     r'<p class="error" id="ledger-to-error" role="alert">'
                     r"The end date is before the start date.</p>", html)
    assert "to: " not in html


def test_the_total_counts_every_entry_without_counting_them_one_by_one(demo_client):
    """Unfiltered, the ledger's total is its head's number (COUNT(*) of a million entries was
    most of the page's time); filtered, the matching entries are counted."""
    from sqlalchemy import func

    from tests.conftest import api_token

    headers = {"Authorization": f"Bearer {api_token(demo_client, AUDITOR, DEMO_PASSWORD)}"}
    sent: list[str] = []

    def seen(conn, cursor, statement, *args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        body = demo_client.get("/api/v1/ledger", headers=headers).get_json()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert body["total"] == db.session.scalar(select(func.count()).select_from(LedgerEntry))
    assert not [s for s in sent if "count(" in s.lower() and "ledger_entries" in s]

    filtered = demo_client.get("/api/v1/ledger", headers=headers,
                               query_string={"action": "deal.stage_changed"}).get_json()
    assert filtered["total"] == db.session.scalar(
        select(func.count()).select_from(LedgerEntry)
        .where(LedgerEntry.action == "deal.stage_changed")) > 0
    page = demo_client.get("/compliance/ledger", query_string={"page": 10**6})
    assert page.status_code == 200  # the last page, numbered from the head's total
