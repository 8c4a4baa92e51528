"""The IC API and pages: who may prepare, vote and sign; the pack served as a PDF."""

from __future__ import annotations

from tests.conftest import api_token, csrf_from, login, run_tasks
from tests.ic.conftest import MEETING_DAY


def test_api_prepare_pack_vote_decide_and_sign(app, client, committee, fake_pdf):
    c = committee
    deal_a, deal_b = c["deals"]
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@x.cn')}"}
    chair = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}"}
    member = {"Authorization": f"Bearer {api_token(client, 'ic2@x.cn')}"}
    created = client.post("/api/v1/ic/meetings", headers=admin, json={
        "title": "投决会", "held_on": MEETING_DAY.isoformat(), "chair_id": c["chair"].id,
        "member_ids": [c["member"].id], "deal_ids": [deal_b.id]})
    assert created.status_code == 201, created.get_json()
    meeting_id = created.get_json()["id"]
    assert client.get(f"/api/v1/ic/meetings/{meeting_id}/pack", headers=admin).status_code == 404
    pack = client.post(f"/api/v1/ic/meetings/{meeting_id}/pack", headers=admin,
                       json={"language": "zh", "is_final": True})
    assert pack.status_code == 202, pack.get_json()  # queued for the worker (issue 16)
    run_tasks()
    task = client.get(pack.get_json()["links"]["self"], headers=admin).get_json()
    assert task["status"] == "done" and task["result"]["version"] == 1
    # Progress was counted per deal on the agenda, then the rendering.
    deals = len(client.get(f"/api/v1/ic/meetings/{meeting_id}", headers=admin).get_json()["agenda"])
    assert deals >= 1 and task["total"] == deals + 1 and task["done"] == task["total"]
    pdf = client.get(f"/api/v1/ic/meetings/{meeting_id}/pack", headers=member)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    # an admin does not vote; a bad choice is a 422 naming the field
    assert client.post(f"/api/v1/ic/meetings/{meeting_id}/votes", headers=admin,
                       json={"deal_id": deal_b.id, "choice": "approve"}).status_code == 403
    bad = client.post(f"/api/v1/ic/meetings/{meeting_id}/votes", headers=member,
                      json={"deal_id": deal_b.id, "choice": "maybe"})
    assert bad.status_code == 422 and "choice" in bad.get_json()["error"]["details"]
    for headers in (chair, member):
        vote = client.post(f"/api/v1/ic/meetings/{meeting_id}/votes", headers=headers,
                           json={"deal_id": deal_b.id, "choice": "approve"})
        assert vote.status_code == 201 and vote.get_json()["pack_version"] == 1
    votes = client.get(f"/api/v1/ic/meetings/{meeting_id}/votes", headers=admin).get_json()
    assert len(votes["items"]) == 2
    decided = client.post(f"/api/v1/ic/meetings/{meeting_id}/decisions", headers=chair,
                          json={"deal_id": deal_b.id})
    assert decided.status_code == 201, decided.get_json()
    assert decided.get_json()["outcome"] == "approved"
    assert decided.get_json()["stage"] == "public_notice"
    assert client.post(f"/api/v1/ic/meetings/{meeting_id}/minutes",
                       headers=member).status_code == 403  # not the chair
    signed = client.post(f"/api/v1/ic/meetings/{meeting_id}/minutes", headers=chair)
    assert signed.status_code == 201 and len(signed.get_json()["sha256"]) == 64
    assert client.get(f"/api/v1/ic/meetings/{meeting_id}/minutes",
                      headers=admin).mimetype == "application/pdf"


def test_pages_prepare_vote_and_read(app, client, committee, fake_pdf):
    c = committee
    deal_b = c["deals"][1]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the page's words below are English
    login(client, "admin@x.cn")
    page = client.get("/ic/meetings/new")
    assert "曦和机器人有限公司" in page.get_data(as_text=True)
    made = client.post("/ic/meetings/new", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "title": "第二次投决会",
        "held_on": "2026-03-20", "location": "张江", "quorum": "2/3", "decision_rule": "1/2",
        "chair_id": str(c["chair"].id), "member_ids": [str(c["member"].id)],
        "deal_ids": [str(deal_b.id)]})
    assert made.status_code == 302
    url = made.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    queued = client.post(url + "/pack", data={"csrf_token": csrf_from(html),
                                              "language": "both", "is_final": "1"})
    assert queued.headers["Location"].startswith("/tasks/")
    run_tasks()
    assert "pack.pdf?version=1" in client.get(queued.headers["Location"]).get_data(as_text=True)
    html = client.get(url).get_data(as_text=True)
    assert "pack.pdf?version=1" in html
    pdf = client.get(url + "/pack.pdf?version=1")
    assert pdf.mimetype == "application/pdf" and "frame-ancestors 'self'" in pdf.headers[
        "Content-Security-Policy"]
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    login(client, "ic2@x.cn")
    html = client.get(url).get_data(as_text=True)
    assert f'data-testid="vote-form-{deal_b.id}"' in html
    client.post(f"{url}/deals/{deal_b.id}/vote", data={"csrf_token": csrf_from(html),
                                                      "choice": "reject"})
    html = client.get(url).get_data(as_text=True)
    assert "reject" in html and "pack v1" in html


def test_api_text_longer_than_its_column_is_a_422_naming_the_field(app, client, committee,
                                                                   fake_pdf):
    c = committee
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@x.cn')}"}
    body = {"title": "投决会", "held_on": MEETING_DAY.isoformat(), "chair_id": c["chair"].id,
            "member_ids": [c["member"].id], "deal_ids": [c["deals"][1].id]}
    for field, value in (("title", "题" * 201), ("location", "地" * 201), ("quorum", "2/3" * 4),
                         ("chair_id", 0)):
        refused = client.post("/api/v1/ic/meetings", headers=admin, json={**body, field: value})
        assert refused.status_code == 422, refused.get_json()
        assert list(refused.get_json()["error"]["details"]) == [field]
    meeting_id = client.post("/api/v1/ic/meetings", headers=admin, json=body).get_json()["id"]
    client.post(f"/api/v1/ic/meetings/{meeting_id}/pack", headers=admin, json={})
    run_tasks()
    member = {"Authorization": f"Bearer {api_token(client, 'ic2@x.cn')}"}
    refused = client.post(f"/api/v1/ic/meetings/{meeting_id}/votes", headers=member, json={
        "deal_id": c["deals"][1].id, "choice": "approve_with_conditions",
        "conditions": "条" * 5001})
    assert refused.status_code == 422
    assert list(refused.get_json()["error"]["details"]) == ["conditions"]


def test_pages_show_a_refused_form_next_to_it_and_keep_what_was_typed(app, client, committee,
                                                                      fake_pdf):
    from fundapp.extensions import db
    from fundapp.ic import operations as ops

    c = committee
    deal_b = c["deals"][1]
    meeting = ops.create_meeting(db.session, actor="admin@x.cn", title="投决会",
                                 held_on=MEETING_DAY, chair_id=c["chair"].id,
                                 member_ids=[c["member"].id], deal_ids=[deal_b.id])
    db.session.commit()
    url = f"/ic/meetings/{meeting.id}"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "admin@x.cn")
    csrf = csrf_from(client.get(url).get_data(as_text=True))
    refused = client.post(f"{url}/deals/{deal_b.id}/notes", data={
        "csrf_token": csrf, "dd_summary": "尽调" * 10001, "risks": "技术风险"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Due-diligence summary: Longer than maximum length 20000." in page
    assert "技术风险</textarea>" in page  # what was typed stays in the form
    db.session.rollback()
    assert db.session.get(type(meeting), meeting.id).items[0].risks == ""
    made = client.post("/ic/meetings/new", data={
        "csrf_token": csrf, "title": "题" * 201, "held_on": "2026-03-20",
        "chair_id": str(c["chair"].id), "member_ids": [str(c["member"].id)],
        "deal_ids": [str(deal_b.id)]})
    assert made.status_code == 422
    page = made.get_data(as_text=True)
    assert 'id="title-error"' in page and "Longer than maximum length 200." in page
    assert f'value="{deal_b.id}" checked' in page
    quarter = client.post("/reports/quarterly", data={"csrf_token": csrf, "quarter": "2026Q5"})
    assert quarter.status_code == 422
    assert "Enter a quarter such as 2026Q3." in quarter.get_data(as_text=True)


def test_the_list_of_meetings_shows_each_change_and_only_ones_own_meetings(app, client,
                                                                            committee, fake_pdf):
    """The list's pages are kept per version of the ledger: a new meeting or pack shows in
    the next; an IC member sees only their meetings, whoever listed them before."""
    c = committee
    admin = {"Authorization": f"Bearer {api_token(client, 'admin@x.cn')}"}
    chair = {"Authorization": f"Bearer {api_token(client, 'chair@x.cn')}"}
    outsider = {"Authorization": f"Bearer {api_token(client, 'ic2@x.cn')}"}

    def listed(headers) -> list:
        return client.get("/api/v1/ic/meetings", headers=headers).get_json()["items"]

    assert listed(admin) == [] and listed(chair) == []
    created = client.post("/api/v1/ic/meetings", headers=admin, json={
        "title": "投决会", "held_on": MEETING_DAY.isoformat(), "chair_id": c["chair"].id,
        "member_ids": [c["manager"].id], "deal_ids": [c["deals"][1].id]})
    assert created.status_code == 201, created.get_json()
    meeting_id = created.get_json()["id"]
    assert [m["id"] for m in listed(admin)] == [meeting_id]
    assert [m["id"] for m in listed(chair)] == [meeting_id]
    assert listed(outsider) == []  # not a member: the readers' page is not theirs
    assert listed(admin)[0]["packs"] == []
    pack = client.post(f"/api/v1/ic/meetings/{meeting_id}/pack", headers=admin,
                       json={"language": "zh", "is_final": True})
    assert pack.status_code == 202, pack.get_json()
    run_tasks()
    assert [p["version"] for p in listed(admin)[0]["packs"]] == [1]
