"""The dashboard's inbox per role (issue 14): what waits for the signed-in user, counted in the
navigation's badge, in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.ic.models import IcAgendaItem, IcDecision, IcMeeting, IcMember, Outcome
from fundapp.portfolio.holdings.models import Holding, MarkMethod, MarkStatus, ValuationMark
from tests.conftest import login, make_user
from tests.deals.factories import make_company, make_deal, make_fund

ITEM = re.compile(r'<li class="inbox-item[^"]*" data-kind="([a-z_]+)">\s*<a href="([^"]+)">([^<]+)</a>')
BADGE = re.compile(r'data-testid="inbox-badge"[^>]*aria-label="([^"]+)"[^>]*>(\d+)</span>')


def dashboard(client, email: str) -> str:
    response = login(client, email)
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def items(page: str) -> list[tuple[str, str, str]]:
    return ITEM.findall(page)


def draft_mark(author: str) -> Holding:
    company = make_company(7, name="深蓝脑机科技有限公司", name_en="DeepBlue BCI Co., Ltd.")
    holding = Holding(company_id=company.id, holder_entity="平台公司", units=Decimal("100000.00"),
                      cost_amount=Decimal("1000000.00"), acquired_on=date_ago(400))
    db.session.add(holding)
    db.session.flush()
    db.session.add(ValuationMark(holding_id=holding.id, measured_on=date_ago(30),
                                 method=MarkMethod.RECENT_ROUND, value_per_unit=Decimal("12.5"),
                                 status=MarkStatus.DRAFT, author=author))
    db.session.flush()
    return holding


def date_ago(days: int):
    return shanghai_today() - timedelta(days=days)


def test_the_second_manager_sees_the_mark_waiting_for_them_and_the_author_does_not(app, client):
    make_fund()
    make_user("author@x.cn", name="王经理", locale="en")
    make_user("second@x.cn", name="李经理", locale="en")
    holding = draft_mark("author@x.cn")
    db.session.commit()

    page = dashboard(client, "second@x.cn")
    marks = [i for i in items(page) if i[0] == "mark"]
    assert len(marks) == 1
    kind, url, text = marks[0]
    assert url == f"/portfolio/holdings/{holding.id}#marks"
    assert "王经理" in text and "DeepBlue BCI Co., Ltd." in text and "second person" in text
    assert date_ago(30).isoformat() in text
    label, count = BADGE.search(page).groups()
    assert int(count) == len(items(page)) >= 1
    assert count in label  # the badge says what it counts to a screen reader

    page = dashboard(app.test_client(), "author@x.cn")
    assert [i for i in items(page) if i[0] == "mark"] == []  # four-eyes: not their own


def committee_with_meetings():
    make_fund()
    chair = make_user("chair@x.cn", roles=("ic_member",), name="陈主任", locale="zh")
    member = make_user("member@x.cn", roles=("ic_member",), name="赵委员", locale="zh")
    today = shanghai_today()
    upcoming = IcMeeting(title="第三次投决会", held_on=today + timedelta(days=5),
                         location="张江大厦 5 楼", chair_id=chair.id, created_by="test")
    held = IcMeeting(title="第二次投决会", held_on=today - timedelta(days=3), location="",
                     chair_id=chair.id, created_by="test")
    db.session.add_all([upcoming, held])
    db.session.flush()
    db.session.add_all([IcMember(meeting_id=m.id, user_id=u.id) for m in (upcoming, held)
                        for u in (chair, member)])
    deal = make_deal(make_company(3, name="曦和机器人有限公司"), project_name="人形机器人关节")
    item = IcAgendaItem(meeting_id=held.id, deal_id=deal.id, position=1)
    db.session.add(item)
    db.session.flush()
    db.session.add(IcDecision(item_id=item.id, outcome=Outcome.APPROVED, decision_ref="IC-2-1",
                              decided_at=datetime.now(UTC) - timedelta(days=3),
                              decided_by="chair@x.cn"))
    db.session.commit()
    return upcoming, held


def test_the_chair_sees_the_upcoming_meeting_and_the_minutes_to_sign(app, client):
    upcoming, held = committee_with_meetings()

    page = dashboard(client, "chair@x.cn")
    found = items(page)
    by_kind = {kind: (url, text) for kind, url, text in found}
    assert by_kind["meeting"][0] == f"/ic/meetings/{upcoming.id}"
    assert "第三次投决会" in by_kind["meeting"][1]
    assert upcoming.held_on.isoformat() in page
    assert by_kind["minutes"][0] == f"/ic/meetings/{held.id}#minutes"
    assert "第二次投决会" in by_kind["minutes"][1]
    assert int(BADGE.search(page).group(2)) == len(found) == 2

    # Another member sees the meeting but has no minutes to sign: only the chair signs.
    other = app.test_client()
    page = dashboard(other, "member@x.cn")
    assert [kind for kind, _, _ in items(page)] == ["meeting"]


def test_the_chinese_inbox_has_no_english_sentence_and_no_raw_code(app, client):
    committee_with_meetings()
    draft_mark("someone@x.cn")
    make_user("both@x.cn", roles=("fund_manager", "ic_member"), locale="zh")
    db.session.commit()

    page = dashboard(client, "chair@x.cn")
    found = items(page)
    assert found
    start = page.index(">", page.index('data-testid="inbox"')) + 1
    text = re.sub(r"<[^>]+>", " ", page[start:page.index("</section>", start)])
    # Dates, clause ids and numbers are allowed; any word of English is not.
    assert re.findall(r"[A-Za-z]{3,}", text) == []
    assert not re.search(r"\b[a-z]+_[a-z_]+\b|\b[a-z]+\.[a-z_]+\b", text)  # no raw codes
    label = BADGE.search(page).group(1)
    assert not re.search(r"[A-Za-z]{3,}", label)
    # The recent activity reads as words too ("登录"), not as ledger codes ("auth.login").
    activity = page[page.index('data-testid="recent-activity"'):]
    assert "登录" in activity and "auth.login" not in re.sub(r'title="[^"]*"', "", activity)

    page = dashboard(app.test_client(), "both@x.cn")
    marks = [text for kind, _, text in items(page) if kind == "mark"]
    assert len(marks) == 1 and "深蓝脑机科技有限公司" in marks[0]  # the reader's company name


def test_nothing_waiting_says_so_and_shows_no_badge(app, client):
    make_fund()
    make_user("calm@x.cn", roles=("admin",), locale="en")
    page = dashboard(client, "calm@x.cn")
    assert items(page) == []
    assert 'data-testid="inbox-empty"' in page and "Nothing waiting for you." in page
    assert BADGE.search(page) is None


def test_the_inbox_reads_one_query_per_kind_whatever_the_number_of_items(app, client):
    from sqlalchemy import event

    make_fund()
    make_user("author@x.cn", locale="en")
    make_user("second@x.cn", roles=("fund_manager", "ic_member"), locale="en")
    holding = draft_mark("author@x.cn")
    db.session.commit()
    assert login(client, "second@x.cn").status_code == 302

    def statements() -> tuple[int, int]:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = client.get("/").get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen), len(items(page))

    few, shown_few = statements()
    for n in range(5):
        db.session.add(ValuationMark(holding_id=holding.id, measured_on=date_ago(40 + n),
                                     method=MarkMethod.RECENT_ROUND, value_per_unit=Decimal("1"),
                                     status=MarkStatus.DRAFT, author="author@x.cn"))
    db.session.commit()
    many, shown_many = statements()
    assert shown_many == shown_few + 5
    assert many == few
