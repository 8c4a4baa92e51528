"""Two app hosts and one worker on one PostgreSQL database, as the production recipe runs them
(issue 16): real gunicorn processes with different instance folders, a real `fundapp worker`.

Evidence uploaded through host A is downloaded through host B; an export requested on A is built
by the worker and downloaded from B, and verifies; both hosts publish the same public key; each
task runs once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fundapp.app import create_app
from fundapp.compliance.models import LedgerEntry, LedgerExport
from fundapp.compliance.verify_export import verify_export
from fundapp.dates import shanghai_today
from fundapp.extensions import db
from tests.conftest import _pg_connect, _worker, make_config, make_user, pg_admin_url
from tests.isolation import isolated_client
from tests.portfolio.helpers import grant_body, make_deal, manager_headers, worked_example_round

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "multi-host-password"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + bytes(range(256)) * 64


@pytest.fixture
def pg_database(pg_template) -> Iterator[str]:
    name = f"fundapp_t_{_worker()}_{uuid.uuid4().hex[:10]}"
    with _pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(method: str, url: str, *, token: str = "", body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, bytes, dict]:
    headers = {"Accept-Language": "en"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _token(base: str, email: str) -> str:
    status, body, _ = _call("POST", f"{base}/api/v1/auth/token",
                            body=json.dumps({"email": email, "password": PASSWORD}).encode())
    assert status == 201, body
    return json.loads(body)["token"]


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n").encode() + \
        content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _wait(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def _setup(url: str) -> tuple[int, int]:
    """A fund manager's company with a round, and an auditor; (company id, round id)."""
    app = create_app(make_config(url))
    with app.app_context():
        client = isolated_client(app)
        headers = manager_headers(client)
        deal = make_deal()
        assert client.post("/api/v1/grants", json=grant_body(deal.id),
                           headers=headers).status_code == 201
        made = client.post(f"/api/v1/companies/{deal.company_id}/rounds",
                           json=worked_example_round(), headers=headers)
        assert made.status_code == 201, made.get_json()
        make_user("host-manager@example.cn", roles=("fund_manager",), password=PASSWORD)
        make_user("host-auditor@example.cn", roles=("auditor",), password=PASSWORD)
        ids = deal.company_id, made.get_json()["id"]
        db.session.remove()
        db.engine.dispose()
    return ids


def test_two_hosts_and_a_worker_share_everything_through_the_database(pg_database, tmp_path):
    company_id, round_id = _setup(pg_database)
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    common = {**os.environ, "FUNDAPP_DATABASE_URL": pg_database,
              "FUNDAPP_SECRET_KEY": "multi-host-secret-key-0123456789abcdef",
              "FUNDAPP_LEDGER_SIGNING_KEY_PEM": key}
    common.pop("FUNDAPP_LEDGER_SIGNING_KEY", None)
    processes: list[subprocess.Popen] = []
    ports = {}
    try:
        for host in ("a", "b"):
            ports[host] = _free_port()
            env = {**common, "FUNDAPP_INSTANCE_DIR": str(tmp_path / f"host-{host}")}
            processes.append(subprocess.Popen(
                [str(BIN / "gunicorn"), "--workers", "2", "--threads", "2", "--bind",
                 f"127.0.0.1:{ports[host]}", "wsgi:app"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            _wait(ports[host], processes[-1])
        worker_env = {**common, "FUNDAPP_INSTANCE_DIR": str(tmp_path / "worker")}
        worker = subprocess.Popen([str(BIN / "fundapp"), "worker", "--poll-seconds", "0.3",
                                   "--no-bar"], cwd=ROOT, env=worker_env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(worker)
        a, b = (f"http://127.0.0.1:{ports[h]}" for h in ("a", "b"))

        # Both hosts publish the same public key.
        keys = [json.loads(_call("GET", f"{base}/api/v1/ledger/public-key")[1])
                for base in (a, b)]
        assert keys[0]["fingerprint"] == keys[1]["fingerprint"] and keys[0]["pem"] == keys[1]["pem"]

        # Evidence uploaded through A is downloaded through B.
        manager_a = _token(a, "host-manager@example.cn")
        body, kind = _multipart("term-sheet.pdf", PDF)
        status, answer, _ = _call(
            "POST", f"{a}/api/v1/companies/{company_id}/rounds/{round_id}/documents",
            token=manager_a, body=body, content_type=kind)
        assert status == 201, answer
        document_id = json.loads(answer)["id"]
        manager_b = _token(b, "host-manager@example.cn")
        status, listed, _ = _call("GET", f"{b}/api/v1/companies/{company_id}/rounds/{round_id}",
                                  token=manager_b)
        assert status == 200 and str(document_id) in listed.decode()
        auditor_b = _token(b, "host-auditor@example.cn")
        downloaded = _download_document(b, document_id)
        assert downloaded == PDF
        assert not (tmp_path / "host-a" / "evidence").exists()

        # An export requested on A is built by the worker and downloaded from B.
        auditor_a = _token(a, "host-auditor@example.cn")
        status, queued, _ = _call("POST", f"{a}/api/v1/ledger/exports", token=auditor_a,
                                  body=json.dumps({"from": "2020-01-01",
                                                   "to": shanghai_today().isoformat()}).encode())
        assert status == 202, queued
        task_url = json.loads(queued)["links"]["self"]
        deadline = time.monotonic() + 120
        while True:
            status, polled, _ = _call("GET", f"{b}{task_url}", token=auditor_b)
            task = json.loads(polled)
            if task["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert task["status"] == "done", task
        export_id = task["result"]["export_id"]
        status, export_body, _ = _call("GET", f"{b}/api/v1/ledger/exports/{export_id}",
                                       token=auditor_b)
        assert status == 200, export_body
        status, bundle, _ = _call("GET", f"{b}{json.loads(export_body)['download_url']}",
                                  token=auditor_b)
        assert status == 200 and bundle[:2] == b"PK"
        zipped = tmp_path / "export.zip"
        zipped.write_bytes(bundle)
        report = verify_export(zipped, keys[0]["pem"].encode())
        assert report.ok, report
        # The same bundle again, from A this time: rebuilt, byte for byte.
        assert _call("GET", f"{a}{json.loads(export_body)['download_url']}",
                     token=auditor_a)[1] == bundle
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    # Each task ran once: one attempt, one export row, one ledger entry for it.
    app = create_app(make_config(pg_database))
    with app.app_context():
        from fundapp.tasks.models import Task

        tasks = db.session.scalars(select(Task)).all()
        assert [(t.kind, t.status, t.attempts) for t in tasks] == [
            (tasks[0].kind, "done", 1)]
        assert db.session.scalar(select(func.count()).select_from(LedgerExport)) == 1
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.action == "ledger.exported")) == 1
        db.session.remove()
        db.engine.dispose()


def _download_document(base: str, document_id: int) -> bytes:
    """Sign in on the web (the document link is a page link) and download the document."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = browser.open(f"{base}/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": "host-auditor@example.cn", "password": PASSWORD,
                                   "csrf_token": token}).encode()
    browser.open(f"{base}/login", data=form, timeout=30)
    with browser.open(f"{base}/documents/{document_id}", timeout=30) as response:
        return BytesIO(response.read()).getvalue()
