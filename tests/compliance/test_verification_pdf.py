from tests.conftest import login, make_user
from tests.reports.test_render import pdf_text


def test_auditor_downloads_a_verification_pdf_of_the_live_chain(client, tmp_path):
    make_user("audit@example.cn", roles=["auditor"])
    login(client, "audit@example.cn")
    response = client.get("/compliance/ledger/verification.pdf?lang=en")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    assert "The hash chain is intact" in text
    assert "audit@example.cn" in text


def test_fund_manager_cannot_read_the_ledger(client):
    make_user("fm@example.cn", roles=["fund_manager"])
    login(client, "fm@example.cn")
    assert client.get("/compliance/ledger/verification.pdf").status_code == 403
    assert client.get("/compliance/ledger").status_code == 403
