"""The fund's Ed25519 keys that sign ledger export manifests, and their rotation (issue 16).

Where the private keys come from (configuration, the same on every host):
- FUNDAPP_LEDGER_SIGNING_KEY_PEM: the PEM text itself (PKCS#8, unencrypted), one key or several
  concatenated, e.g. from a secret store;
- FUNDAPP_LEDGER_SIGNING_KEY: the path of a PEM file, or several paths separated by ':', that
  operations keep, e.g. on a mounted secret volume; never created by the app;
- otherwise (the embedded SQLite default, and tests) FUNDAPP_INSTANCE_DIR/ledger_signing_key.pem,
  generated on first use with mode 0600. On PostgreSQL the app refuses to start without one of the
  two variables (fundapp.config.check_host_keys).

Rotation: `fundapp keys add --pem FILE --valid-from DAY` registers a key's public half in the
`signing_keys` table (a ledger entry records it). The key that signs is the registered key with
the latest `valid_from` not after now (a day starts at 00:00 Asia/Shanghai); its private key
must be among the configured ones. Old exports name their key's fingerprint in the manifest and still verify
with that key's public half, published with its validity at GET /api/v1/ledger/public-keys.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from fundapp.config import instance_dir

KEY_ENV = "FUNDAPP_LEDGER_SIGNING_KEY"
PEM_ENV = "FUNDAPP_LEDGER_SIGNING_KEY_PEM"
KEY_FILE = "ledger_signing_key.pem"
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


class SigningKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    path: Path | None  # None when the key came from FUNDAPP_LEDGER_SIGNING_KEY_PEM

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


@dataclass(frozen=True)
class PublicKeyInfo:
    """A public key as published: current or not, with its validity (None: not registered)."""

    pem: str
    fingerprint: str
    valid_from: datetime | None
    valid_until: datetime | None
    current: bool


def shanghai_iso(moment: datetime | None) -> str | None:
    """A validity bound as published: ISO 8601 in Asia/Shanghai."""
    from fundapp.dates import SHANGHAI

    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the 32 raw public-key bytes, in hex (what the offline verifier prints)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_pem() -> bytes:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def write_new_key(path: Path) -> SigningKey:
    """Write a new key to `path` with mode 0600; refuses to overwrite an existing file."""
    pem = generate_pem()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} already exists; choose another file") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return SigningKey(_private_key(pem, str(path)), path)


def key_path() -> Path:
    """The first configured key file, or the instance's generated one."""
    configured = [p for p in os.environ.get(KEY_ENV, "").split(os.pathsep) if p.strip()]
    return Path(configured[0].strip()) if configured else instance_dir() / KEY_FILE


def keys_in_environment() -> bool:
    return bool(os.environ.get(KEY_ENV, "").strip() or os.environ.get(PEM_ENV, "").strip())


def _generate(path: Path) -> None:
    # O_EXCL: the web process and the scheduler starting together must end up with one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(generate_pem())


def _private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the ledger signing key in {where}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the ledger signing key in {where} is not an Ed25519 key")
    return key


def _keys_in(pem: bytes, where: str, path: Path | None) -> list[SigningKey]:
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise SigningKeyError(f"{where} holds no PEM private key")
    return [SigningKey(_private_key(block, where), path) for block in blocks]


def configured_keys() -> list[SigningKey]:
    """Every private key this host is configured with, the first one first."""
    keys: list[SigningKey] = []
    if text := os.environ.get(PEM_ENV, "").strip():
        keys += _keys_in(text.encode(), PEM_ENV, None)
    for name in os.environ.get(KEY_ENV, "").split(os.pathsep):
        if not name.strip():
            continue
        path = Path(name.strip())
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise SigningKeyError(f"{KEY_ENV} names {path}, which does not exist") from None
        except OSError as exc:
            raise SigningKeyError(f"cannot read the ledger signing key at {path}: {exc}") from None
        keys += _keys_in(content, str(path), path)
    if not keys and not keys_in_environment():
        path = instance_dir() / KEY_FILE
        if not path.exists():
            _generate(path)
        keys = _keys_in(path.read_bytes(), str(path), path)
    return keys


def _session(session: Session | None) -> Session | None:
    if session is not None:
        return session
    if has_app_context():
        from fundapp.extensions import db

        return db.session
    return None


def current_record(session: Session, now: datetime | None = None):
    """The registered key that signs now: the latest valid_from not after now (or None)."""
    from fundapp.compliance.models import LedgerSigningKey

    return session.scalars(
        select(LedgerSigningKey).where(LedgerSigningKey.valid_from <= (now or datetime.now(UTC)))
        .order_by(LedgerSigningKey.valid_from.desc(), LedgerSigningKey.id.desc()).limit(1)
    ).first()


def load_signing_key(session: Session | None = None) -> SigningKey:
    """The private key that signs an export made now.

    With a registered key valid today, that key (its private half must be configured here);
    without any, the first configured key.
    """
    keys = configured_keys()
    session = _session(session)
    record = current_record(session) if session is not None else None
    if record is None:
        return keys[0]
    for key in keys:
        if key.fingerprint == record.fingerprint:
            return key
    raise SigningKeyError(
        f"the ledger signing key valid since {record.valid_from.isoformat()} (fingerprint "
        f"{record.fingerprint}) is not configured on this host: add its PEM file to {KEY_ENV} "
        f"(paths separated by ':') or its PEM text to {PEM_ENV}")


def published_keys(session: Session) -> list[PublicKeyInfo]:
    """Every public key with its validity, newest first; the current one is marked.

    Before any key is registered, the key this installation signs with, without dates.
    """
    from fundapp.compliance.models import LedgerSigningKey

    rows = session.scalars(select(LedgerSigningKey).order_by(
        LedgerSigningKey.valid_from.desc(), LedgerSigningKey.id.desc())).all()
    if not rows:
        key = configured_keys()[0]
        return [PublicKeyInfo(key.public_pem, key.fingerprint, None, None, True)]
    current = current_record(session)
    return [PublicKeyInfo(r.public_pem, r.fingerprint, r.valid_from, r.valid_until,
                          current is not None and r.id == current.id) for r in rows]


def current_public_key(session: Session) -> PublicKeyInfo:
    """The public key that signs exports made today (needs no private key on this host)."""
    for info in published_keys(session):
        if info.current:
            return info
    key = configured_keys()[0]  # only keys valid from a later day are registered so far
    return PublicKeyInfo(key.public_pem, key.fingerprint, None, None, True)


def read_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """The public half of a PEM file holding a private key or a public key."""
    try:
        if b"PRIVATE KEY" in pem:
            return _private_key(pem, where).public_key()
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the key in {where}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"the key in {where} is not an Ed25519 key")
    return key


def add_signing_key(session: Session, public: Ed25519PublicKey, *, valid_from: date | None,
                    actor: str, now: datetime | None = None):
    """Register a key that signs from `valid_from` on (ledgered); flushes, never commits.

    A later day starts at 00:00 Asia/Shanghai; today (or None) means from now on; a past day is
    refused, since an export already made keeps the key that signed it. The latest registered key
    is superseded at that moment (its `valid_until`). Before the first registration, the key this
    installation has signed with so far is registered first, valid from the ledger's first entry,
    so that the exports it signed keep a dated key.
    """
    from fundapp.compliance.ledger import record
    from fundapp.compliance.models import LedgerEntry, LedgerSigningKey
    from fundapp.dates import SHANGHAI, shanghai_today
    from fundapp.errors import AppError

    now = now or datetime.now(UTC)
    today = shanghai_today(now)
    if valid_from is not None and valid_from < today:
        raise AppError(f"the key cannot be valid from {valid_from.isoformat()}: that day is past "
                       f"(today is {today.isoformat()} in Asia/Shanghai)", code="past_day")
    start = now if valid_from is None or valid_from == today else datetime.combine(
        valid_from, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    print_ = fingerprint(public)
    rows = session.scalars(select(LedgerSigningKey).order_by(
        LedgerSigningKey.valid_from.desc(), LedgerSigningKey.id.desc())).all()
    if not rows:
        first = configured_keys()[0]
        recorded = session.scalar(select(LedgerEntry.recorded_at).order_by(
            LedgerEntry.seq).limit(1))
        if first.fingerprint != print_ and recorded is not None:
            since = min(datetime.fromisoformat(recorded), now - timedelta(microseconds=1))
            rows = [_register(session, record, first.public, since, actor)]
    if any(r.fingerprint == print_ for r in rows):
        raise AppError(f"the key {print_} is already registered", code="exists", status=409)
    if rows and rows[0].valid_from >= start:
        raise AppError(f"a key valid from {rows[0].valid_from.isoformat()} is already registered: "
                       "a new key must become valid later", code="not_later")
    if rows:
        rows[0].valid_until = start
    return _register(session, record, public, start, actor,
                     supersedes=rows[0].fingerprint if rows else None)


def _register(session: Session, record, public: Ed25519PublicKey, valid_from: datetime,
              actor: str, supersedes: str | None = None):
    from fundapp.compliance.models import LedgerSigningKey
    from fundapp.db import utcnow

    row = LedgerSigningKey(fingerprint=fingerprint(public), public_pem=public_pem(public),
                           valid_from=valid_from, added_at=utcnow(), added_by=actor)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="ledger.signing_key_added", subject_type="signing_key",
           subject_id=row.id, payload={"fingerprint": row.fingerprint, "algorithm": "Ed25519",
                                       "valid_from": valid_from.isoformat(),
                                       "supersedes": supersedes})
    return row


def public_pem_for_export(session: Session, path: Path) -> str:
    """The published public key an export names in its manifest (the key of its time), else the
    current one: what `fundapp ledger verify-export` pins when given no key."""
    import json

    from fundapp.compliance.verify_export import Bundle

    bundle = Bundle(path)
    try:
        named = json.loads(bundle.read("manifest.json")).get("public_key_fingerprint")
    except (FileNotFoundError, ValueError, AttributeError):
        named = None
    finally:
        bundle.close()
    for info in published_keys(session):
        if info.fingerprint == named:
            return info.pem
    return current_public_key(session).pem
