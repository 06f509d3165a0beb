"""Sealing and opening case content; purging it when retention ends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.crypto import Keyring, Sealed
from exchange.db import bulk
from exchange.db.base import table_of
from exchange.db.types import new_id, utcnow
from exchange.keys import get_keyring
from exchange.vault.models import Blob


def _context_of(purpose: str, blob_id: str) -> bytes:
    # Binds the ciphertext to its row: a blob copied into another row does not open.
    return f"{purpose}:{blob_id}".encode()


def _context(blob: Blob) -> bytes:
    return _context_of(blob.purpose, blob.id)


def sealed_row(purpose: str, plaintext: bytes, keyring: Keyring | None = None) -> dict[str, Any]:
    """The row of a new blob holding ``plaintext`` sealed under its own data key, for
    :func:`insert_rows` (many blobs in one statement)."""
    ring = keyring or get_keyring()
    blob_id = new_id()
    sealed = ring.seal(plaintext, _context_of(purpose, blob_id))
    return {
        "id": blob_id,
        "purpose": purpose,
        "key_id": sealed.key_id,
        "wrapped_key": sealed.wrapped_key,
        "ciphertext": sealed.ciphertext,
        "size_bytes": len(plaintext),
        "created_at": utcnow(),
        "purged_at": None,
    }


_BLOBS = table_of(Blob)


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert blobs made by :func:`sealed_row` (see exchange.db.bulk)."""
    bulk.insert_rows(session, _BLOBS, rows)


def seal(
    session: Session,
    purpose: str,
    plaintext: bytes,
    keyring: Keyring | None = None,
    *,
    flush: bool = True,
) -> Blob:
    """Store ``plaintext`` sealed under its own data key; returns the blob (flushed unless the
    caller links it through an ORM relationship, which orders the inserts itself)."""
    blob = Blob(**sealed_row(purpose, plaintext, keyring))
    session.add(blob)
    if flush:
        # Rows that point at the blob by id alone must not be inserted before it.
        session.flush()
    return blob


class ContentPurged(LookupError):
    """The content was deleted when its retention period ended."""


def open_blob(session: Session, blob_id: str, keyring: Keyring | None = None) -> bytes:
    """The plaintext of a blob."""
    blob = session.get(Blob, blob_id)
    if blob is None or blob.ciphertext is None or blob.key_id is None or blob.wrapped_key is None:
        raise ContentPurged(blob_id)
    ring = keyring or get_keyring()
    return ring.open(Sealed(blob.key_id, blob.wrapped_key, blob.ciphertext), _context(blob))


def purge(blob: Blob) -> None:
    """Delete a blob's content, keeping the row (size, purpose, dates) as metadata."""
    blob.ciphertext = None
    blob.wrapped_key = None
    blob.key_id = None
    blob.purged_at = utcnow()


def rewrap_all(session: Session, keyring: Keyring | None = None, batch: int = 500) -> int:
    """Re-wrap every blob's data key under the active key; returns how many were re-wrapped."""
    ring = keyring or get_keyring()
    count = 0
    while True:
        blobs = session.scalars(
            select(Blob)
            .where(Blob.key_id.is_not(None), Blob.key_id != ring.active_key_id)
            .limit(batch)
        ).all()
        if not blobs:
            return count
        for blob in blobs:
            if blob.key_id is None or blob.wrapped_key is None or blob.ciphertext is None:
                continue  # purged meanwhile
            sealed = ring.rewrap(
                Sealed(blob.key_id, blob.wrapped_key, blob.ciphertext), _context(blob)
            )
            blob.key_id, blob.wrapped_key = sealed.key_id, sealed.wrapped_key
            count += 1
        session.flush()
