"""deploy/ for real: the systemd units pass `systemd-analyze verify`, and Debian's nginx started
with deploy/nginx/fundapp.conf (a self-signed certificate) in front of gunicorn serves the app over
TLS: a sign-in, a PDF download, the redirect from plain HTTP, the size limit and the sign-in rate
limit."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "deploy-test-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


# --------------------------------------------------------------------------- systemd


def test_the_systemd_units_verify(tmp_path):
    """Each unit, with this checkout in place of /opt/fundapp, passes systemd-analyze verify."""
    env_file = tmp_path / "fundapp.env"
    env_file.write_text((DEPLOY / "systemd" / "fundapp.env.example").read_text())
    (tmp_path / "var").mkdir()
    units = sorted((DEPLOY / "systemd").glob("fundapp-*.*"))
    assert {u.name for u in units} >= {"fundapp-web.service", "fundapp-scheduler.service",
                                        "fundapp-worker.service", "fundapp-backup.service",
                                        "fundapp-backup.timer"}
    for unit in units:
        text = (unit.read_text().replace("/opt/fundapp", str(ROOT))
                .replace("/etc/fundapp/fundapp.env", str(env_file))
                .replace("/var/lib/fundapp", str(tmp_path / "var"))
                .replace("User=fundapp", "User=root").replace("Group=fundapp", "Group=root"))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             *[str(tmp_path / u.name) for u in units]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    for name in ("web", "scheduler", "worker"):
        text = (DEPLOY / "systemd" / f"fundapp-{name}.service").read_text()
        assert "EnvironmentFile=/etc/fundapp/fundapp.env" in text and "Restart=on-failure" in text


# --------------------------------------------------------------------------- nginx + gunicorn


def _prepare_database(url: str, instance: Path) -> int:
    """A migrated database with a fund, an auditor and one quarterly report; its id."""
    from flask_migrate import upgrade

    from fundapp.app import create_app
    from fundapp.auth.operations import create_user
    from fundapp.config import TestConfig
    from fundapp.extensions import db
    from fundapp.fund.operations import create_fund
    from fundapp.ic.quarterly import generate_quarterly_report

    app = create_app(TestConfig(url))
    with app.app_context():
        upgrade(revision="heads")
        create_fund(db.session, name="部署测试基金", name_en="Deploy test fund",
                    committed_amount=Decimal("500000000.00"), established_on=date(2024, 1, 1),
                    actor="test")
        create_user(db.session, email="auditor@deploy.test", password=PASSWORD,
                    roles=["auditor"], name="审计", actor="test")
        _pdf, report = generate_quarterly_report(db.session, "2026Q3", actor="test")
        db.session.commit()
        report_id = report.id
        db.session.remove()
        db.engine.dispose()
    return report_id


def _nginx_config(tmp: Path, http_port: int, https_port: int, app_port: int) -> Path:
    """The shipped site file with this machine's ports and paths, inside a minimal nginx.conf."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(tmp / "privkey.pem"), "-out", str(tmp / "fullchain.pem")],
                   check=True, capture_output=True, timeout=60)
    shutil.copy(DEPLOY / "nginx" / "fundapp_proxy.conf", tmp / "fundapp_proxy.conf")
    site = (DEPLOY / "nginx" / "fundapp.conf").read_text()
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
    site = (site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
            .replace("server 127.0.0.1:8000", f"server 127.0.0.1:{app_port}")
            .replace("/etc/fundapp/tls/", f"{tmp}/")
            .replace("/etc/nginx/fundapp_proxy.conf", str(tmp / "fundapp_proxy.conf"))
            .replace("fund.example.cn", "localhost"))
    (tmp / "site.conf").write_text(site)
    for part in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / part).mkdir()
    main = tmp / "nginx.conf"
    main.write_text(f"""
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
    return main


@pytest.fixture
def behind_nginx(tmp_path):
    """gunicorn on a scratch SQLite database, and nginx with the shipped site in front of it."""
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{tmp_path / 'fundapp.sqlite3'}"
    report_id = _prepare_database(url, instance)
    app_port, http_port, https_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "FUNDAPP_DATABASE_URL": url, "FUNDAPP_INSTANCE_DIR": str(instance),
           "FUNDAPP_PROXY_FIX": "1", "FUNDAPP_SECRET_KEY": "deploy-test-secret-key-0123456789"}
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", "1", "--threads", "4",
         "--bind", f"127.0.0.1:{app_port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    config = _nginx_config(tmp_path, http_port, https_port, app_port)
    check = subprocess.run([NGINX, "-t", "-c", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen([NGINX, "-c", str(config), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(app_port)
        _wait_for(https_port)
        yield {"https": https_port, "http": http_port, "report_id": report_id,
               "ca": tmp_path / "fullchain.pem"}
    finally:
        nginx.terminate()
        gunicorn.terminate()
        nginx.wait(timeout=20)
        gunicorn.wait(timeout=20)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_nginx_serves_the_app_over_tls_with_its_limits(behind_nginx):
    base = f"https://localhost:{behind_nginx['https']}"
    tls = ssl.create_default_context(cafile=str(behind_nginx["ca"]))  # the certificate is checked
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls),
                                          urllib.request.HTTPCookieProcessor(jar))

    # Plain HTTP is sent to HTTPS.
    plain = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        plain.open(f"http://localhost:{behind_nginx['http']}/login", timeout=10)
    assert redirect.value.code == 301
    assert redirect.value.headers["Location"].startswith("https://localhost")

    # Sign in through the form (the session cookie comes back Secure: the app sees HTTPS).
    page = browser.open(f"{base}/login", timeout=10)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())
    form = urllib.parse.urlencode({"email": "auditor@deploy.test", "password": PASSWORD,
                                   "csrf_token": token.group(1)}).encode()
    # (a browser sends the Referer that Flask-WTF requires on HTTPS)
    try:
        signed_in = browser.open(urllib.request.Request(f"{base}/login", data=form,
                                                        headers={"Referer": f"{base}/login"}),
                                 timeout=30)
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read().decode()[-2000:]) from None
    assert signed_in.status == 200 and "/login" not in signed_in.url
    assert any(c.secure for c in jar), "the session cookie must be Secure behind TLS"

    # A PDF through the proxy, whole.
    pdf = browser.open(f"{base}/reports/quarterly/{behind_nginx['report_id']}.pdf", timeout=30)
    body = pdf.read()
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF") and len(body) > 5000

    # nginx refuses a body over 16 MiB before the app sees it.
    big = urllib.request.Request(f"{base}/api/v1/auth/token", data=b"x" * (17 * 1024 * 1024),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as too_big:
        browser.open(big, timeout=30)
    assert too_big.value.code == 413

    # A burst of sign-in attempts from one address is cut off by the rate limit.
    codes = []
    for _ in range(12):
        attempt = urllib.request.Request(
            f"{base}/api/v1/auth/token", headers={"Content-Type": "application/json"},
            data=b'{"email": "auditor@deploy.test", "password": "wrong-password"}')
        try:
            codes.append(browser.open(attempt, timeout=10).status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert 429 in codes and codes.count(429) >= 4, codes
