"""Users, sign-in, sessions and API tokens. Every change is written to the compliance ledger;
failed sign-ins are security events (fundapp.compliance.security_events)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fundapp.auth.models import ApiToken, Role, User, UserRole, UserSession
from fundapp.compliance.ledger import record
from fundapp.compliance.security_events import (
    LOGIN_FAILED,
    LOGIN_THROTTLED,
    count_recent,
    record_security_event,
)
from fundapp.errors import AppError, NotFound, ValidationFailed
from fundapp.unit_of_work import lock_key

MIN_PASSWORD_LENGTH = 10


def _hasher() -> PasswordHasher:
    # Argon2id always; tests may lower the cost so a suite of hundreds of sign-ins stays fast.
    if current_app and current_app.config.get("ARGON2_FAST"):
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def parse_roles(names: Iterable[str]) -> set[Role]:
    roles: set[Role] = set()
    for name in names:
        try:
            roles.add(Role(name.strip()))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise ValidationFailed(_l("Unknown role."),
                                   details={"roles": [f"{name!r}: {allowed}"]}) from None
    if not roles:
        raise ValidationFailed(_l("Choose at least one role."), details={"roles": ["required"]})
    return roles


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(_l("The password is too short."),
                               details={"password": [str(_l("At least 10 characters."))]})


def create_user(session: Session, *, email: str, password: str, roles: Iterable[str | Role],
                name: str = "", locale: str | None = None, actor: str,
                name_en: str = "") -> User:
    """Create a user with the given roles."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 320:
        raise ValidationFailed(_l("Enter a valid e-mail address."),
                               details={"email": [str(_l("Enter a valid e-mail address."))]})
    role_set = parse_roles(str(r) for r in roles)
    check_new_password(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AppError(_l("A user with this e-mail address already exists."), status=409,
                       code="duplicate", details={"email": [email]})
    name_en = " ".join((name_en or "").split())[:200]
    user = User(email=email, name=name, name_en=name_en,
                password_hash=hash_password(password), locale=locale,
                role_rows=[UserRole(role=r) for r in sorted(role_set)])
    session.add(user)
    session.flush()
    record(session, actor=actor, action="user.created", subject_type="user", subject_id=user.id,
           payload={"email": email, "roles": sorted(r.value for r in role_set), "name": name,
                    "name_en": name_en})
    return user


def set_name_en(session: Session, user: User, name_en: str, *, actor: str) -> None:
    """The user's name in English documents and pages ("" = their name as it is)."""
    name_en = " ".join((name_en or "").split())[:200]
    if user.name_en == name_en:
        return
    before, user.name_en = user.name_en, name_en
    record(session, actor=actor, action="user.name_en_set", subject_type="user",
           subject_id=user.id, payload={"email": user.email, "before": before, "after": name_en})


def set_roles(session: Session, user: User, roles: Iterable[str | Role], *, actor: str) -> None:
    """Replace a user's roles."""
    new = parse_roles(str(r) for r in roles)
    old = set(user.roles)
    if new == old:
        return
    user.role_rows = [row for row in user.role_rows if row.role in new] + [
        UserRole(role=r) for r in sorted(new - old)]
    # A role taken away takes effect now: the user signs in again with what is left.
    ended = revoke_access(session, user) if old - new else (0, 0)
    record(session, actor=actor, action="user.roles_changed", subject_type="user",
           subject_id=user.id, payload={"email": user.email,
                                        "before": sorted(r.value for r in old),
                                        "after": sorted(r.value for r in new),
                                        "sessions_ended": ended[0], "tokens_revoked": ended[1]})


def revoke_access(session: Session, user: User, *,
                  keep_session_key: str | None = None) -> tuple[int, int]:
    """End the user's web sessions (all but `keep_session_key`'s) and API tokens."""
    now = datetime.now(UTC)
    sessions = update(UserSession).where(UserSession.user_id == user.id,
                                         UserSession.revoked_at.is_(None))
    if keep_session_key:
        sessions = sessions.where(UserSession.key_hash != _digest(keep_session_key))
    ended = session.execute(sessions.values(revoked_at=now)).rowcount or 0
    revoked = session.execute(update(ApiToken).where(ApiToken.user_id == user.id,
                                                     ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now)).rowcount or 0
    return ended, revoked


def set_active(session: Session, user: User, active: bool, *, actor: str) -> None:
    """Enable or disable a user; disabling ends every session and token they hold."""
    if user.is_active == active:
        return
    user.is_active = active
    if not active:
        revoke_access(session, user)
    record(session, actor=actor, action="user.enabled" if active else "user.disabled",
           subject_type="user", subject_id=user.id, payload={"email": user.email})


def set_locale(session: Session, user: User, locale: str) -> None:
    """Remember the user's language (a preference, not a change that the ledger needs)."""
    if locale not in current_app.config["LANGUAGES"]:
        raise ValidationFailed(_l("Unknown language."), details={"locale": [locale]})
    user.locale = locale


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Change one's own password after proving the current one."""
    if not check_password(user, current):
        raise ValidationFailed(_l("The current password is wrong."),
                               details={"current_password": [str(_l("Wrong password."))]})
    check_new_password(new)
    user.password_hash = hash_password(new)
    ended = revoke_access(session, user, keep_session_key=user.login_session_key)
    record(session, actor=user.email, action="user.password_changed", subject_type="user",
           subject_id=user.id, payload={"sessions_ended": ended[0], "tokens_revoked": ended[1]})


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_l("No such user."))
    return user


@dataclass(frozen=True)
class SignIn:
    user: User | None
    throttled: bool = False


def _recent_failures(session: Session, **who: str) -> int:
    since = datetime.now(UTC) - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    return count_recent(session, LOGIN_FAILED, since=since, **who)


def authenticate(session: Session, email: str, password: str, address: str, *,
                 via: str) -> SignIn:
    """Check a password. Failures are counted; the caller keeps them either way.

    Failed and throttled sign-ins are security events (fundapp.compliance.security_events), in
    a chain of their own: an attacker decides how many there are, so they must never take the
    ledger's lock that every business write needs. A successful sign-in is ledgered.

    The lock-out counts per account (LOGIN_MAX_FAILURES in the window), so one account's
    attacker does not lock out the colleagues behind the same address; a separate, higher limit
    per address (LOGIN_MAX_FAILURES_PER_ADDRESS) slows one machine guessing many accounts. The
    account's sign-ins are serialised, so concurrent guesses cannot all be counted below the
    limit.
    """
    email = normalise_email(email)
    lock_key(session, f"sign-in:{email}")
    if (_recent_failures(session, subject=email) >= current_app.config["LOGIN_MAX_FAILURES"]
            or _recent_failures(session, address=address)
            >= current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]):
        record_security_event(session, kind=LOGIN_THROTTLED, subject=email, address=address,
                              details={"via": via})
        return SignIn(None, throttled=True)
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and user.is_active and check_password(user, password):
        record(session, actor=email, action="auth.login", subject_type="user", subject_id=user.id,
               payload={"address": address, "via": via})
        return SignIn(user)
    reason = "unknown_user" if user is None else ("disabled" if not user.is_active
                                                  else "wrong_password")
    details: dict[str, object] = {"via": via, "reason": reason}
    if user is not None:
        details["user_id"] = user.id
    record_security_event(session, kind=LOGIN_FAILED, subject=email, address=address,
                          details=details)
    return SignIn(None)


def start_session(session: Session, user: User) -> str:
    """Open a web session; returns the key the cookie will carry."""
    key = secrets.token_urlsafe(32)
    lifetime = timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    session.add(UserSession(key_hash=_digest(key), user_id=user.id,
                            expires_at=datetime.now(UTC) + lifetime))
    session.flush()
    user.login_session_key = key
    return key


def load_session_user(session: Session, key: str) -> User | None:
    row = session.scalar(select(UserSession).where(UserSession.key_hash == _digest(key)))
    if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
        return None
    if not row.user.is_active:
        return None
    row.user.login_session_key = key
    return row.user


def end_session(session: Session, user: User) -> None:
    """Log out: the session row is revoked so its cookie can never be replayed."""
    if user.login_session_key:
        session.execute(update(UserSession)
                        .where(UserSession.key_hash == _digest(user.login_session_key))
                        .values(revoked_at=datetime.now(UTC)))
    record(session, actor=user.email, action="auth.logout", subject_type="user",
           subject_id=user.id, payload={})


def issue_token(session: Session, user: User) -> tuple[str, ApiToken]:
    """A bearer token for the API; only its hash is stored."""
    secret = "fa_" + secrets.token_urlsafe(32)
    hours = current_app.config["API_TOKEN_HOURS"]
    token = ApiToken(token_hash=_digest(secret), user_id=user.id,
                     expires_at=datetime.now(UTC) + timedelta(hours=hours))
    session.add(token)
    session.flush()
    record(session, actor=user.email, action="auth.token_issued", subject_type="api_token",
           subject_id=token.id, payload={"expires_at": token.expires_at})
    return secret, token


def find_token(session: Session, secret: str) -> tuple[ApiToken | None, str | None]:
    """The live token for a secret, or the reason it is refused."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None:
        return None, "invalid"
    if token.revoked_at is not None:
        return None, "revoked"
    if token.expires_at <= datetime.now(UTC):
        return None, "expired"
    if not token.user.is_active:
        return None, "disabled"
    return token, None


def revoke_token(session: Session, token: ApiToken, *, actor: str) -> None:
    token.revoked_at = datetime.now(UTC)
    record(session, actor=actor, action="auth.token_revoked", subject_type="api_token",
           subject_id=token.id, payload={})
