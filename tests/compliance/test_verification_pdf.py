from tests.conftest import login, make_user


def test_no_request_walks_the_chain_to_make_the_pdf(client):
    """The verification PDF walks the whole chain: the worker makes it (tests/test_tasks.py)."""
    make_user("audit@example.cn", roles=["auditor"])
    login(client, "audit@example.cn")
    assert client.get("/compliance/ledger/verification.pdf").status_code == 405


def test_fund_manager_cannot_read_the_ledger(client):
    make_user("fm@example.cn", roles=["fund_manager"])
    login(client, "fm@example.cn")
    assert client.post("/compliance/ledger/verification.pdf").status_code in (400, 403)
    assert client.get("/compliance/ledger").status_code == 403
