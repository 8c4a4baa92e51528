"""The fund's Ed25519 key that signs ledger export manifests.

Where the key comes from, in order:
- FUNDAPP_LEDGER_SIGNING_KEY: the path of a PEM file (PKCS#8, unencrypted) that operations keep,
  e.g. on a mounted secret volume; it is never created by the app;
- otherwise FUNDAPP_INSTANCE_DIR/ledger_signing_key.pem, generated on first use with mode 0600.
The public key is published at GET /api/v1/ledger/public-key and by `fundapp ledger public-key`;
auditors compare its fingerprint with the one they received through another channel.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fundapp.config import instance_dir

KEY_ENV = "FUNDAPP_LEDGER_SIGNING_KEY"
KEY_FILE = "ledger_signing_key.pem"


class SigningKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    path: Path

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


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the 32 raw public-key bytes, in hex (what the offline verifier prints)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def key_path() -> Path:
    configured = os.environ.get(KEY_ENV, "").strip()
    return Path(configured) if configured else instance_dir() / KEY_FILE


def _generate(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    # O_EXCL: the web process and the scheduler starting together must end up with one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def load_signing_key() -> SigningKey:
    path = key_path()
    if not path.exists():
        if os.environ.get(KEY_ENV, "").strip():
            raise SigningKeyError(f"{KEY_ENV} names {path}, which does not exist")
        _generate(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise SigningKeyError(f"cannot read the ledger signing key at {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the ledger signing key at {path} is not an Ed25519 key")
    return SigningKey(key, path)
