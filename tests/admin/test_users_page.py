from fundapp.auth.operations import create_user
from fundapp.extensions import db
from tests.conftest import PASSWORD, login, make_user


def test_user_list_pages_sorts_and_searches(client):
    make_user("admin@example.cn", roles=["admin"])
    for n in range(30):
        create_user(db.session, email=f"user{n:02d}@example.cn", password=PASSWORD,
                    roles=["fund_manager"], actor="test")
    db.session.commit()
    login(client, "admin@example.cn")
    first = client.get("/admin/users?sort=email", headers={"Accept-Language": "en"})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "Page 1 of 2" in html and "31 in total" in html
    assert 'rel="next"' in html and "page=2" in html
    second = client.get("/admin/users?sort=email&page=2").get_data(as_text=True)
    assert "user29@example.cn" in second and "user00@example.cn" not in second
    descending = client.get("/admin/users?sort=-email").get_data(as_text=True)
    assert descending.index("user29@example.cn") < descending.index("user28@example.cn")
    found = client.get("/admin/users?q=user07").get_data(as_text=True)
    assert "user07@example.cn" in found and "user08@example.cn" not in found
