from tests.conftest import login, make_user


def test_sign_in_shows_dashboard(client):
    make_user("m@example.cn")
    response = login(client, "m@example.cn")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "m@example.cn" in page


def test_gunicorn_answers_without_a_server_banner(tmp_path, sqlite_template):
    """The production server (gunicorn, with the repository's gunicorn.conf.py) names no product."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    database = tmp_path / "db.sqlite3"
    shutil.copyfile(sqlite_template, database)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "FUNDAPP_DATABASE_URL": f"sqlite:///{database}",
           "FUNDAPP_SECRET_KEY": "test-secret"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "wsgi:app"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                response = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(server.stderr.read().decode()[-2000:] if server.poll() else
                                 "gunicorn did not answer")
        assert response.status == 200
        assert response.headers.get("Server") is None
        assert response.headers.get("Cache-Control") == "no-store"
    finally:
        server.terminate()
        server.wait(timeout=10)
