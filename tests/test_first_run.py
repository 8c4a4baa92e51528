"""Day one without the demo: from an empty database, the first admin and the fund are created on
the command line or on the set-up page; the API reads and corrects the fund."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fundapp.compliance.ledger import verify_chain
from fundapp.compliance.models import LedgerEntry
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from fundapp.fund.models import Fund, PolicyVersion
from tests.conftest import PASSWORD, api_token, csrf_from, login, make_user
from tests.isolation import isolated_client

pytestmark = pytest.mark.timeout(120)

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh"}
FUND = {"name": "浦江科创拨投结合基金", "name_en": "Pujiang Grant-plus-Investment Fund",
        "committed_amount": "300000000.00", "established_on": "2019-06-03",
        "platform_name": "浦江科创投资平台有限公司"}


def entries(action: str | None = None) -> list[dict]:
    db.session.rollback()  # see what the requests committed
    stmt = select(LedgerEntry).order_by(LedgerEntry.seq)
    if action:
        stmt = stmt.where(LedgerEntry.action == action)
    return [{"action": e.action, "actor": e.actor, "payload": json.loads(e.payload)}
            for e in db.session.scalars(stmt)]


def funds() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Fund))


def cli_fund_args(**changes: str) -> list[str]:
    values = {**FUND, **changes}
    return ["fund", "create", "--name", values["name"], "--name-en", values["name_en"],
            "--committed-capital", values["committed_amount"],
            "--inception-date", values["established_on"], "--platform", values["platform_name"]]


# --- the command line, from an empty database ---------------------------------------------------

def test_first_admin_and_fund_from_the_command_line_then_the_api_reads_it(app, client):
    cli = app.test_cli_runner()
    assert entries() == [] and funds() == 0

    made = cli.invoke(args=["users", "create", "--email", "admin@fund.cn", "--role", "admin",
                            "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    result = cli.invoke(args=cli_fund_args())

    assert result.exit_code == 0, result.output
    assert "fund set up: 浦江科创拨投结合基金" in result.output
    assert "300000000.00" in result.output and "default-1" in result.output
    fund = db.session.scalar(select(Fund))
    assert (fund.committed_amount, fund.established_on) == (Decimal("300000000.00"),
                                                           date(2019, 6, 3))
    # The default policy is in force from the inception date (earlier than the file's 2020).
    [policy] = db.session.scalars(select(PolicyVersion)).all()
    assert policy.effective_on == date(2019, 6, 3)
    assert [e["action"] for e in entries()] == ["user.created", "fund.created", "policy.loaded"]
    created = entries("fund.created")[0]
    assert created["actor"] == "cli"
    assert created["payload"]["committed_amount"] == "300000000.00"
    assert created["payload"]["platform_name"] == "浦江科创投资平台有限公司"

    token = api_token(client, "admin@fund.cn")
    body = client.get("/api/v1/fund", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body == {"id": fund.id, **FUND, "policy_version": "default-1"}
    shown = cli.invoke(args=["fund", "show"])
    assert json.loads(shown.output)["committed_amount"] == "300000000.00"


def test_init_is_the_same_as_fund_create(app):
    result = app.test_cli_runner().invoke(args=["init", *cli_fund_args()[2:]])

    assert result.exit_code == 0, result.output
    assert funds() == 1
    assert [e["action"] for e in entries()] == ["fund.created", "policy.loaded"]


@pytest.mark.parametrize("changes, message", [
    ({"committed_amount": "-5.00"}, "committed_amount: Must be more than 0."),
    ({"committed_amount": "0"}, "committed_amount: Must be more than 0."),
    ({"committed_amount": "1.005"}, "At most 2 decimal places"),
    # A month ahead: the cases are made when the tests are collected, which may be the day
    # before they run (Shanghai's midnight is 16:00 UTC).
    ({"established_on": (shanghai_today() + timedelta(days=30)).isoformat()},
     "established_on: The date"),
    ({"established_on": "2024-02-30"}, "established_on: Not a valid date."),
    ({"name": " "}, "name: Missing data for required field."),
])
def test_fund_create_refuses_bad_values_and_writes_nothing(app, changes, message):
    result = app.test_cli_runner().invoke(args=cli_fund_args(**changes))

    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert funds() == 0 and entries() == []
    assert db.session.scalar(select(func.count()).select_from(PolicyVersion)) == 0


def test_a_second_fund_is_refused_and_nothing_is_written(app):
    cli = app.test_cli_runner()
    assert cli.invoke(args=cli_fund_args()).exit_code == 0
    before = entries()

    again = cli.invoke(args=cli_fund_args(name="另一个基金"))

    assert again.exit_code == 1
    assert "The fund is already set up (浦江科创拨投结合基金)" in again.output
    assert funds() == 1 and entries() == before
    assert cli.invoke(args=["demo", "load", "--if-empty"]).output.strip().endswith(
        "nothing loaded")


# --- the first-run page ---------------------------------------------------------------------------

def setup_page(client, headers) -> str:
    """The dashboard, where sign-in lands, is the set-up form until the fund exists."""
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'action="/admin/fund/setup"' in html
    page = client.get("/admin/fund/setup", headers=headers)
    assert page.status_code == 200 and 'data-testid="fund-setup"' in page.get_data(as_text=True)
    return html


def post_setup(client, headers, **changes: str):
    token = csrf_from(client.get("/admin/fund/setup", headers=headers).get_data(as_text=True))
    data = {**FUND, **changes, "csrf_token": token}
    return client.post("/admin/fund/setup", data=data, headers=headers)


@pytest.mark.parametrize("headers, texts", [
    (EN, ["Set up the fund", "Fund name (Chinese)", "Fund name (English)",
          "Committed capital (CNY)", "Inception date", "Holding platform entity"]),
])
def test_an_admin_who_signs_in_is_sent_to_the_set_up_form(client, headers, texts):
    make_user("admin@fund.cn", roles=("admin",))
    assert login(client, "admin@fund.cn", **headers).status_code == 302

    html = setup_page(client, headers)

    for text in texts:
        assert text in html
    for name in FUND:
        assert f'name="{name}"' in html


def test_the_set_up_form_in_chinese(client):
    make_user("admin@fund.cn", roles=("admin",), locale="zh")
    login(client, "admin@fund.cn", **ZH)

    html = setup_page(client, ZH)

    assert "设立基金" in html and "基金名称（中文）" in html and "认缴规模（元）" in html
    refused = post_setup(client, ZH, committed_amount="-1.00")
    assert refused.status_code == 422
    assert 'id="committed_amount-error" role="alert">必须大于 0。' in refused.get_data(as_text=True)


def test_the_set_up_form_shows_each_problem_by_its_field_and_keeps_what_was_typed(client):
    make_user("admin@fund.cn", roles=("admin",))
    login(client, "admin@fund.cn", **EN)
    future = (shanghai_today() + timedelta(days=3)).isoformat()

    refused = post_setup(client, EN, committed_amount="-100.00", established_on=future,
                         platform_name="")

    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="committed_amount-error" role="alert">Must be more than 0.' in html
    assert f'id="established_on-error" role="alert">The date {future} is in the future.' in html
    assert 'id="platform_name-error" role="alert">Missing data for required field.' in html
    assert 'value="浦江科创拨投结合基金"' in html and 'value="-100.00"' in html
    assert funds() == 0 and entries("fund.created") == []

    done = post_setup(client, EN)

    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert funds() == 1
    assert [e["actor"] for e in entries("fund.created")] == ["admin@fund.cn"]
    assert entries("policy.loaded")[0]["payload"]["effective_on"] == "2019-06-03"
    dashboard = client.get("/", headers=EN)
    assert dashboard.status_code == 200
    assert "Pujiang Grant-plus-Investment Fund" in dashboard.get_data(as_text=True)
    # The form is gone once the fund exists; posting it again creates nothing.
    assert client.get("/admin/fund/setup", headers=EN).status_code == 302
    token = csrf_from(dashboard.get_data(as_text=True))
    again = client.post("/admin/fund/setup", data={**FUND, "csrf_token": token}, headers=EN)
    assert again.status_code == 302 and funds() == 1


def test_ten_admins_setting_the_fund_up_at_once_create_exactly_one(app):
    workers = []
    for n in range(10):
        make_user(f"admin{n}@fund.cn", roles=("admin",))
        worker = isolated_client(app)
        login(worker, f"admin{n}@fund.cn", **EN)
        workers.append((worker, csrf_from(worker.get("/", headers=EN).get_data(as_text=True))))
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def set_up(n: int) -> None:
        worker, token = workers[n]
        barrier.wait()
        response = worker.post("/admin/fund/setup", headers=EN, data={
            **FUND, "name": f"基金{n}", "csrf_token": token})
        statuses.append(response.status_code)
        if response.status_code == 422:  # lost the race inside the unit of work
            assert "The fund is already set up" in response.get_data(as_text=True)

    threads = [threading.Thread(target=set_up, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == 10 and set(statuses) <= {302, 422}, statuses
    assert funds() == 1
    assert len(entries("fund.created")) == 1 and len(entries("policy.loaded")) == 1
    assert db.session.scalar(select(func.count()).select_from(PolicyVersion)) == 1
    assert verify_chain(db.session).ok


def test_fund_show_before_set_up_says_what_to_run(app):
    result = app.test_cli_runner().invoke(args=["fund", "show"])

    assert result.exit_code == 1
    assert "the fund is not set up yet: run `fundapp fund create`" in result.output


@pytest.mark.parametrize("headers, texts", [
    (EN, ["The fund is not set up yet", "An administrator sets the fund up first",
          "boss@fund.cn"]),
    (ZH, ["基金尚未设立", "boss@fund.cn"]),
])
def test_other_roles_are_told_the_fund_is_not_set_up_and_who_sets_it_up(client, headers, texts):
    make_user("boss@fund.cn", roles=("admin",), name="Boss")
    make_user("manager@fund.cn", roles=("fund_manager",))
    login(client, "manager@fund.cn", **headers)

    for path in ("/", "/admin/fund/not-set-up"):
        page = client.get(path, headers=headers)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for text in texts:
            assert text in html, (path, text)
    assert client.get("/admin/fund/setup", headers=headers).status_code == 403


def test_without_any_admin_the_page_says_how_the_first_one_is_made(client):
    make_user("manager@fund.cn", roles=("fund_manager",))
    login(client, "manager@fund.cn", **EN)

    html = client.get("/", headers=EN).get_data(as_text=True)

    assert "fundapp users create --role admin" in html


# --- the API ------------------------------------------------------------------------------------

def set_up_fund() -> None:
    from fundapp.fund.operations import create_fund

    create_fund(db.session, name=FUND["name"], name_en=FUND["name_en"],
                committed_amount=Decimal(FUND["committed_amount"]),
                established_on=date(2019, 6, 3), platform_name=FUND["platform_name"],
                actor="test")
    db.session.commit()


def tokens(client) -> dict[str, dict[str, str]]:
    found = {}
    for role in ("admin", "fund_manager", "ic_member", "auditor"):
        make_user(f"{role}@fund.cn", roles=(role,))
        found[role] = {"Authorization": f"Bearer {api_token(client, f'{role}@fund.cn')}",
                       **EN}
    return found


def test_every_role_reads_the_fund_and_before_set_up_the_answer_says_who_sets_it_up(client):
    headers = tokens(client)
    missing = client.get("/api/v1/fund", headers=headers["fund_manager"])
    assert missing.status_code == 404
    assert "An administrator sets it up" in missing.get_json()["error"]["message"]

    set_up_fund()

    for role, auth in headers.items():
        response = client.get("/api/v1/fund", headers=auth)
        assert response.status_code == 200, role
        assert response.get_json()["committed_amount"] == "300000000.00"


def test_an_admin_corrects_the_fund_with_a_reason_and_the_ledger_keeps_before_and_after(client):
    headers = tokens(client)
    set_up_fund()

    no_reason = client.patch("/api/v1/fund", json={"committed_amount": "350000000.00"},
                             headers=headers["admin"])
    assert no_reason.status_code == 422
    assert no_reason.get_json()["error"]["details"] == {
        "reason": ["Give a reason for changing the committed capital."]}
    negative = client.patch("/api/v1/fund", json={"committed_amount": "-1.00", "reason": "x"},
                            headers=headers["admin"])
    assert negative.status_code == 422
    assert negative.get_json()["error"]["details"] == {"committed_amount": ["Must be more "
                                                                            "than 0."]}
    blank = client.patch("/api/v1/fund", json={"name": "  "}, headers=headers["admin"])
    assert blank.status_code == 422 and "name" in blank.get_json()["error"]["details"]
    as_float = client.patch("/api/v1/fund", json={"committed_amount": 350000000.0,
                                                  "reason": "x"}, headers=headers["admin"])
    assert as_float.status_code == 422
    forbidden = client.patch("/api/v1/fund", json={"name_en": "X"},
                             headers=headers["fund_manager"])
    assert forbidden.status_code == 403
    assert entries("fund.updated") == []

    done = client.patch("/api/v1/fund", json={"committed_amount": "350000000.00",
                                              "name_en": "Pujiang Fund",
                                              "reason": "second closing (LPA amendment 2)"},
                        headers=headers["admin"])

    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["committed_amount"], body["name_en"], body["name"]) == (
        "350000000.00", "Pujiang Fund", FUND["name"])
    [entry] = entries("fund.updated")
    assert entry["actor"] == "admin@fund.cn"
    assert entry["payload"] == {
        "changed": {"committed_amount": {"before": "300000000.00", "after": "350000000.00"},
                    "name_en": {"before": FUND["name_en"], "after": "Pujiang Fund"}},
        "reason": "second closing (LPA amendment 2)"}
    read = client.get("/api/v1/fund", headers=headers["auditor"]).get_json()
    assert read["committed_amount"] == "350000000.00"
    # Names alone need no reason; an unchanged amount is no change.
    same = client.patch("/api/v1/fund", json={"committed_amount": "350000000.00",
                                              "platform_name": "新平台有限公司"},
                        headers=headers["admin"])
    assert same.status_code == 200
    assert entries("fund.updated")[-1]["payload"]["changed"] == {
        "platform_name": {"before": FUND["platform_name"], "after": "新平台有限公司"}}
