"""Configuration read from the environment (FUNDAPP_*)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_dir() -> Path:
    path = Path(os.environ.get("FUNDAPP_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key() -> str:
    """The key from FUNDAPP_SECRET_KEY, else one generated once into instance/ (never a constant)."""
    if key := os.environ.get("FUNDAPP_SECRET_KEY"):
        return key
    path = instance_dir() / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting together (web + scheduler) must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _database_url() -> str:
    url = os.environ.get("FUNDAPP_DATABASE_URL")
    if url:
        # psycopg 3 is the driver we install; accept the bare scheme people paste.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{instance_dir() / 'fundapp.sqlite3'}"


class Config:
    """Production defaults; every value can be overridden from the environment."""

    def __init__(self) -> None:
        self.SECRET_KEY = _secret_key()
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.MAX_CONTENT_LENGTH = int(os.environ.get("FUNDAPP_MAX_UPLOAD_BYTES", 16 * 1024 * 1024))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = os.environ.get("FUNDAPP_COOKIE_SECURE") == "1"
        self.PERMANENT_SESSION_LIFETIME = int(os.environ.get("FUNDAPP_SESSION_SECONDS", 8 * 3600))
        self.WTF_CSRF_TIME_LIMIT = None  # the session's own lifetime bounds the token
        self.BABEL_DEFAULT_LOCALE = "zh"
        self.BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
        self.LANGUAGES = ("zh", "en")
        self.API_TOKEN_HOURS = int(os.environ.get("FUNDAPP_API_TOKEN_HOURS", 12))
        self.LOGIN_MAX_FAILURES = 10  # per account in the window
        self.LOGIN_MAX_FAILURES_PER_ADDRESS = int(
            os.environ.get("FUNDAPP_LOGIN_MAX_FAILURES_PER_ADDRESS", 100))
        self.LOGIN_WINDOW_SECONDS = 15 * 60
        self.PROXY_FIX = os.environ.get("FUNDAPP_PROXY_FIX") == "1"
        self.FUND_NAME = os.environ.get("FUNDAPP_FUND_NAME", "")
        self.TESTING = False


class TestConfig(Config):
    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.TESTING = True
        self.WTF_CSRF_ENABLED = True
