"""A user sets their own name in English on the profile page; English pages then show it."""

from __future__ import annotations

from fundapp.auth.models import User
from fundapp.extensions import db
from tests.conftest import csrf_from, login, make_user

EN = {"Accept-Language": "en"}


def test_a_user_sets_their_own_english_name(client):
    make_user("li@example.cn", roles=("fund_manager",), name="李娜", locale="en")
    assert login(client, "li@example.cn", **EN).status_code == 302
    page = client.get("/profile", headers=EN).get_data(as_text=True)
    response = client.post("/profile/name", headers=EN, data={
        "csrf_token": csrf_from(page), "name_en": "  Li   Na "}, follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your name in English has been saved." in page and "Li Na" in page
    assert "李娜" not in page  # the English page shows the English name
    user = db.session.scalar(db.select(User).where(User.email == "li@example.cn"))
    assert user.name_en == "Li Na"


def test_the_api_sets_the_callers_english_name_and_keeps_the_language(client):
    from tests.conftest import api_token

    make_user("zhao@example.cn", roles=("auditor",), name="赵辉", locale="zh")
    headers = {"Authorization": f"Bearer {api_token(client, 'zhao@example.cn')}"}
    response = client.patch("/api/v1/me", headers=headers, json={"name_en": "Zhao Hui"})
    assert response.status_code == 200, response.get_json()
    user = db.session.scalar(db.select(User).where(User.email == "zhao@example.cn"))
    assert (user.name_en, user.locale) == ("Zhao Hui", "zh")
    assert client.patch("/api/v1/me", headers=headers, json={"locale": "fr"}).status_code == 422
