"""Reference data: admins keep the calendar and the LPR (ledgered, CSV all or nothing)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from fundapp.compliance.models import LedgerEntry
from fundapp.errors import ValidationFailed
from fundapp.extensions import db
from fundapp.reference import operations as ops
from fundapp.reference.calendar import add_working_days
from fundapp.reference.models import CalendarDay, LprRate
from fundapp.reference.queries import calendar_overrides, lpr_rate_on
from tests.conftest import csrf_from, login, make_user

EN = {"Accept-Language": "en"}


def test_calendar_csv_import_is_all_or_nothing_and_moves_working_days(app):
    bad = "日期,上班,名称\n2026-10-01,0,国庆节\n2026-13-01,0,错误\n".encode("gbk")
    with pytest.raises(ValidationFailed) as failed:
        ops.import_calendar_csv(db.session, bad, actor="admin")
    assert "row 2" in failed.value.details
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == 0
    good = "日期,上班,名称\n2026-10-01,休息,国庆节\n2026-10-02,0,国庆节\n2026-10-10,上班,调休\n"
    assert ops.import_calendar_csv(db.session, good.encode("gbk"), actor="admin") == 3
    overrides = calendar_overrides(db.session, date(2026, 9, 30), date(2026, 10, 31))
    # From Wed 30 Sep: Thu 1 and Fri 2 are holidays, Sat 10 Oct is worked.
    assert add_working_days(date(2026, 9, 30), 1, overrides) == date(2026, 10, 5)
    assert add_working_days(date(2026, 10, 9), 1, overrides) == date(2026, 10, 10)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.action == "calendar.day_set")) == 3


def test_lpr_rates_in_percent_stored_exactly(app):
    ops.add_lpr_rate(db.session, published_on="2026-01-20", rate_pct="3.00", actor="admin")
    ops.add_lpr_rate(db.session, published_on="2026-02-20", rate_pct="2.95%", actor="admin")
    assert lpr_rate_on(db.session, date(2026, 2, 19)) == Decimal("0.030000")
    assert lpr_rate_on(db.session, date(2026, 3, 1)) == Decimal("0.029500")
    for bad in ("-1", "abc", "25", "3.123456"):
        with pytest.raises(ValidationFailed):
            ops.add_lpr_rate(db.session, published_on="2026-03-20", rate_pct=bad, actor="admin")


def test_admin_pages_and_read_only_for_others(client):
    make_user("admin@example.cn", roles=("admin",))
    make_user("m@example.cn", roles=("fund_manager",))
    login(client, "admin@example.cn", **EN)
    page = client.get("/reference/lpr", headers=EN).get_data(as_text=True)
    csrf = csrf_from(page)
    client.post("/reference/lpr", headers=EN, data={"csrf_token": csrf,
                                                    "published_on": "2026-01-20",
                                                    "rate_pct": "3.00"})
    response = client.post("/reference/calendar/import", headers=EN, data={
        "csrf_token": csrf, "file": (io.BytesIO("2026-05-01,0,劳动节\n".encode()), "c.csv")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "1 calendar days imported" in response.get_data(as_text=True)
    assert db.session.scalar(select(LprRate.rate)) == Decimal("0.030000")
    db.session.commit()
    client.post("/logout", headers=EN, data={"csrf_token": csrf})
    login(client, "m@example.cn", **EN)
    page = client.get("/reference/calendar?year=2026", headers=EN).get_data(as_text=True)
    assert "劳动节" in page and "Add a day" not in page
    response = client.post("/reference/lpr", headers=EN, data={
        "csrf_token": csrf_from(page), "published_on": "2026-02-20", "rate_pct": "2.9"})
    assert response.status_code == 403


def test_refused_forms_show_why_on_the_page_and_save_nothing(client):
    make_user("admin@example.cn", roles=("admin",))
    login(client, "admin@example.cn", **EN)
    csrf = csrf_from(client.get("/reference/calendar", headers=EN).get_data(as_text=True))
    response = client.post("/reference/calendar", headers=EN, data={
        "csrf_token": csrf, "on": "2026-10-01", "is_working_day": "0", "name": "国" * 101})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Name: Longer than maximum length 100." in page
    assert 'value="2026-10-01"' in page  # what was typed stays
    response = client.post("/reference/lpr", headers=EN, data={
        "csrf_token": csrf, "published_on": "2026-01-20", "rate_pct": "25"})
    assert response.status_code == 422
    assert "Enter a value between 0.0001 and 20." in response.get_data(as_text=True)
    response = client.post("/reference/lpr/import", headers=EN, data={
        "csrf_token": csrf, "file": (io.BytesIO("2026-01-20,3.0\n".encode("utf-16")), "l.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "The CSV file is in UTF-16; save it as UTF-8 or GBK." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == 0
    assert db.session.scalar(select(func.count()).select_from(LprRate)) == 0
    # The form's way of writing a rate, with a per cent sign, is accepted and saved exactly.
    response = client.post("/reference/lpr", headers=EN, data={
        "csrf_token": csrf, "published_on": "2026-01-20", "rate_pct": "3.10%"})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(LprRate.rate)) == Decimal("0.031000")


def test_calendar_csv_refuses_a_name_longer_than_its_column(app):
    rows = f"2026-10-01,0,{'节' * 101}\n2026-10-02,0,国庆节\n".encode()
    with pytest.raises(ValidationFailed) as failed:
        ops.import_calendar_csv(db.session, rows, actor="admin")
    assert list(failed.value.details) == ["row 1"]


@pytest.mark.parametrize("content, text", [
    ("日期,名称\n".encode(), "日期,名称\n"),
    ("\ufeff日期,名称\n".encode(), "日期,名称\n"),
    ("日期,名称\n".encode("gbk"), "日期,名称\n"),
    ("𠀀,x\n".encode("gb18030"), "𠀀,x\n"),
])
def test_decode_csv_reads_utf8_and_gbk(content, text):
    from fundapp.textfiles import decode_csv

    assert decode_csv(content) == text


@pytest.mark.parametrize("content", ["日期\n".encode("utf-16"), b"\x00\x01PK\x03\x04",
                                     b"\x81\x20"])
def test_decode_csv_refuses_what_is_not_utf8_or_gbk_text(content):
    from fundapp.textfiles import NotText, decode_csv

    with pytest.raises(NotText):
        decode_csv(content)
