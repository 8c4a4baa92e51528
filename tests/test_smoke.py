from tests.conftest import login, make_user


def test_sign_in_shows_dashboard(client):
    make_user("m@example.cn")
    response = login(client, "m@example.cn")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "m@example.cn" in page
