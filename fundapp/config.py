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


class ConfigurationError(RuntimeError):
    """The app cannot start as configured; the message says what to set."""


def check_host_keys(database_url: str) -> None:
    """On PostgreSQL, refuse to start unless both keys are configuration shared by every host.

    Several app hosts share one PostgreSQL database: a secret key or a ledger signing key generated
    on one host would differ from the others' (sessions and CSRF tokens refused, exports signed by
    an unknown key). The embedded SQLite default is one host and may still generate its keys.
    """
    if not database_url.startswith("postgresql"):
        return
    from fundapp.compliance.signing import SigningKeyError, configured_keys, keys_in_environment

    missing = []
    if not os.environ.get("FUNDAPP_SECRET_KEY", "").strip():
        missing.append("FUNDAPP_SECRET_KEY")
    problem = ""
    if not keys_in_environment():
        missing.append("the ledger signing key (FUNDAPP_LEDGER_SIGNING_KEY or "
                       "FUNDAPP_LEDGER_SIGNING_KEY_PEM)")
    else:
        try:
            configured_keys()
        except SigningKeyError as exc:
            problem = f" The ledger signing key is unusable: {exc}."
    if not missing and not problem:
        return
    raise ConfigurationError(
        "fundapp refuses to start: on PostgreSQL every app host must use the same keys, so they "
        "are configuration and never generated per host."
        + (f" Missing: {', '.join(missing)}." if missing else "") + problem
        + " Set FUNDAPP_SECRET_KEY to one long random value shared by every host (e.g. the "
        "output of `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`), and give "
        "the Ed25519 ledger signing key either as the path of its PEM file in "
        "FUNDAPP_LEDGER_SIGNING_KEY or as the PEM text itself in FUNDAPP_LEDGER_SIGNING_KEY_PEM; "
        "create one with `fundapp keys generate --out /etc/fundapp/ledger_signing_key.pem` "
        "(written with mode 0600, its fingerprint printed for auditors). "
        "See docs/setup.md, section Keys.")


def _database_url() -> str:
    url = os.environ.get("FUNDAPP_DATABASE_URL")
    if url:
        # psycopg 3 is the driver we install; accept the bare scheme people paste.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{instance_dir() / 'fundapp.sqlite3'}"


class Config:
    """Production defaults; every value can be overridden from the environment.

    On PostgreSQL the keys must come from the environment (check_host_keys); tests (TESTING) may
    generate them per instance folder as the SQLite default does.
    """

    TESTING = False

    def __init__(self) -> None:
        self.SQLALCHEMY_DATABASE_URI = _database_url()
        if not self.TESTING:
            check_host_keys(self.SQLALCHEMY_DATABASE_URI)
        self.SECRET_KEY = _secret_key()
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


class TestConfig(Config):
    TESTING = True

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.WTF_CSRF_ENABLED = True
