"""The meeting's English title and place, and the recorder's English name (issue 15)."""

from __future__ import annotations

from tests.conftest import api_token
from tests.ic.conftest import MEETING_DAY


def test_api_round_trips_the_meetings_english_title_and_place(app, client, committee):
    c = committee
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@x.cn')}"}
    created = client.post("/api/v1/ic/meetings", headers=admin, json={
        "title": "投决会", "title_en": "IC meeting", "location": "张江科学会堂",
        "location_en": "Zhangjiang Science Hall", "held_on": MEETING_DAY.isoformat(),
        "chair_id": c["chair"].id, "member_ids": [c["member"].id],
        "deal_ids": [c["deals"][1].id]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["title_en"], body["location_en"]) == ("IC meeting", "Zhangjiang Science Hall")
    again = client.get(f"/api/v1/ic/meetings/{body['id']}", headers=admin).get_json()
    assert (again["title"], again["title_en"]) == ("投决会", "IC meeting")
