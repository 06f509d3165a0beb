"""The process's secrets: the encryption keyring and the pseudonym key, from settings or, for
the embedded default only, from files generated under the data folder."""

from __future__ import annotations

import base64
import functools
import os
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.config import get_settings
from exchange.crypto import Keyring, dev_keyring


@functools.cache
def get_keyring() -> Keyring:
    """The keyring that seals case content (EXCHANGE_ENCRYPTION_KEYS, first key active)."""
    settings = get_settings()
    if settings.encryption_keys:
        return Keyring.parse(settings.encryption_keys)
    return dev_keyring(settings.data_dir / "encryption-keys")


@functools.cache
def get_pseudonym_key() -> bytes:
    """The secret behind the audit log's child pseudonyms (EXCHANGE_PSEUDONYM_KEY)."""
    configured = get_settings().pseudonym_key
    return configured.encode("utf-8") if configured else _secret_file("pseudonym-key")


def _secret_file(name: str) -> bytes:
    path = get_settings().data_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return base64.b64decode(path.read_text().strip())


@functools.cache
def get_signing_key() -> Ed25519PrivateKey:
    """The key that signs audit checkpoints (EXCHANGE_AUDIT_SIGNING_KEY)."""
    configured = get_settings().audit_signing_key
    raw = base64.b64decode(configured) if configured else _secret_file("audit-signing-key")
    if len(raw) != 32:
        raise ValueError("EXCHANGE_AUDIT_SIGNING_KEY must be base64 of 32 bytes (an Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def reset() -> None:
    """Forget cached keys (after the settings change, e.g. in tests)."""
    get_keyring.cache_clear()
    get_pseudonym_key.cache_clear()
    get_signing_key.cache_clear()
