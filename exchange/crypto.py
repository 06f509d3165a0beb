"""Envelope encryption at rest: a fresh AES-256-GCM data key per blob, wrapped by a named key.

The scheme, for each blob (a record, a document, a message):

1. A random 256-bit data key (DEK) encrypts the plaintext with AES-GCM and a random 96-bit nonce:
   ``ciphertext = nonce || AESGCM(dek).encrypt(nonce, plaintext, aad)``.
2. The active key-encryption key (KEK) from settings wraps the DEK the same way, with its own
   nonce: ``wrapped_key = nonce || AESGCM(kek).encrypt(nonce, dek, aad)``.
3. The row stores the KEK's id, the wrapped key and the ciphertext (`Sealed`).

Both encryptions bind a caller-supplied *context* (for example ``b"record:<blob id>"``) as
associated data, so a ciphertext or wrapped key copied into another row fails to decrypt. Each
associated data also carries a fixed label (and the wrapping carries the key id) so that the two
layers can never be confused with each other.

KEKs come from settings as ``"kid1:BASE64KEY,kid2:BASE64KEY"``; the first is the active key for
new blobs and the rest only open (and `Keyring.rewrap`) older ones. Rotation is cheap: put the new
key first, rewrap every blob (only the 60-byte wrapped key changes, never the ciphertext), then
drop the old key. Key material never appears in an error message or a ``repr``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
KEY_ID_RULE = "1-32 characters from A-Z a-z 0-9 _ . -"
DEV_KEY_ID = "dev"

# Labels that separate the two layers' associated data; a key id cannot contain "|".
_DATA_LABEL = b"exchange.data.v1|"
_WRAP_LABEL = b"exchange.dek.v1|"


class DecryptionError(Exception):
    """A sealed blob could not be opened: tampered, wrong context, or its key is not held."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted blob as stored: the wrapping key's id, the wrapped data key, the ciphertext."""

    key_id: str
    wrapped_key: bytes
    ciphertext: bytes


def _data_aad(context: bytes) -> bytes:
    return _DATA_LABEL + context


def _wrap_aad(key_id: str, context: bytes) -> bytes:
    return _WRAP_LABEL + key_id.encode("ascii") + b"|" + context


def _decode_key(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; raise ValueError without the input."""
    normalised = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        # `from None` so the traceback does not carry the offending text.
        raise ValueError("not valid base64") from None


class Keyring:
    """The key-encryption keys: the first seals new blobs, all of them open existing ones."""

    __slots__ = ("_active", "_keys")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Hold (key id, 32-byte key) pairs; the first pair is the active key."""
        if not keys:
            raise ValueError("the keyring needs at least one key")
        held: dict[str, AESGCM] = {}
        for position, (key_id, key) in enumerate(keys, start=1):
            if not KEY_ID.fullmatch(key_id):
                # The bad id is not echoed: it may be key material pasted in the wrong place.
                raise ValueError(f"key entry {position}: the key id must be {KEY_ID_RULE}")
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"key entry {position} ({key_id!r}): the key must be {KEY_BYTES} bytes, "
                    f"not {len(key)}"
                )
            if key_id in held:
                raise ValueError(
                    f"key entry {position}: the key id {key_id!r} is used more than once"
                )
            held[key_id] = AESGCM(key)
        self._keys = held
        self._active = keys[0][0]

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read ``"kid1:BASE64KEY,kid2:BASE64KEY"`` from settings; the first key is active."""
        if not text.strip():
            raise ValueError(
                "no encryption keys configured; generate one with "
                "`Keyring.generate_key_line(...)` and give it as 'kid:base64'"
            )
        pairs: list[tuple[str, bytes]] = []
        for position, entry in enumerate(text.split(","), start=1):
            entry = entry.strip()
            if not entry:
                raise ValueError(f"key entry {position} is empty (check for a stray comma)")
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not colon:
                raise ValueError(f"key entry {position} is not of the form 'kid:base64'")
            try:
                key = _decode_key(encoded)
            except ValueError:
                named = f" ({key_id!r})" if KEY_ID.fullmatch(key_id) else ""
                raise ValueError(
                    f"key entry {position}{named}: the key is not valid base64"
                ) from None
            pairs.append((key_id, key))
        return cls(pairs)

    @staticmethod
    def generate_key_line(key_id: str) -> str:
        """A new ``"kid:base64"`` entry holding 32 random bytes, for settings or a key file."""
        if not KEY_ID.fullmatch(key_id):
            raise ValueError(f"the key id must be {KEY_ID_RULE}")
        key = base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8))
        return f"{key_id}:{key.decode('ascii')}"

    @property
    def active_key_id(self) -> str:
        """The id of the key that seals new blobs."""
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id held, the active one first."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"

    def seal(self, plaintext: bytes, context: bytes) -> Sealed:
        """Encrypt under a fresh data key, wrapped by the active key; bind `context` to both."""
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, _data_aad(context))
        return Sealed(
            key_id=self._active,
            wrapped_key=self._wrap(data_key, context),
            ciphertext=ciphertext,
        )

    def open(self, sealed: Sealed, context: bytes) -> bytes:
        """Decrypt a sealed blob; raise DecryptionError if anything about it does not check out."""
        data_key = self._unwrap(sealed, context)
        if len(sealed.ciphertext) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"the ciphertext sealed under key {sealed.key_id!r} is truncated")
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(data_key).decrypt(nonce, body, _data_aad(context))
        except InvalidTag:
            raise DecryptionError(
                f"the ciphertext sealed under key {sealed.key_id!r} failed authentication: "
                "it was altered, or belongs to another context"
            ) from None

    def rewrap(self, sealed: Sealed, context: bytes) -> Sealed:
        """Re-wrap the data key under the active key; the ciphertext is left as it is."""
        if sealed.key_id == self._active:
            return sealed
        data_key = self._unwrap(sealed, context)
        return Sealed(
            key_id=self._active,
            wrapped_key=self._wrap(data_key, context),
            ciphertext=sealed.ciphertext,
        )

    def _wrap(self, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        kek = self._keys[self._active]
        return nonce + kek.encrypt(nonce, data_key, _wrap_aad(self._active, context))

    def _unwrap(self, sealed: Sealed, context: bytes) -> bytes:
        kek = self._keys.get(sealed.key_id)
        if kek is None:
            raise DecryptionError(
                f"the blob was sealed under key {sealed.key_id!r}, which this keyring does not "
                f"hold (it holds {', '.join(map(repr, self._keys))})"
            )
        if len(sealed.wrapped_key) != WRAPPED_KEY_BYTES:
            raise DecryptionError(
                f"the wrapped data key under key {sealed.key_id!r} is "
                f"{len(sealed.wrapped_key)} bytes, not {WRAPPED_KEY_BYTES}"
            )
        nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
        try:
            return kek.decrypt(nonce, body, _wrap_aad(sealed.key_id, context))
        except InvalidTag:
            raise DecryptionError(
                f"the data key wrapped under key {sealed.key_id!r} failed authentication: "
                "it was altered, or belongs to another context"
            ) from None


def dev_keyring(path: Path) -> Keyring:
    """The embedded default's keyring: read the key file, or create it (mode 0o600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        line = Keyring.generate_key_line(DEV_KEY_ID) + "\n"
        # Write a private temporary file, then link it into place: the file appears complete or
        # not at all, and if another process got there first its key wins and this one is dropped.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.chmod(temporary, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(line)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    try:
        return Keyring.parse(path.read_text(encoding="ascii"))
    except ValueError as exc:
        raise ValueError(f"the key file {path} is not usable: {exc}") from None
