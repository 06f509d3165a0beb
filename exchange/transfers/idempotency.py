"""Idempotency-Key handling (IETF httpapi draft): a repeat replays, a reuse is refused.

The key's row is inserted in the same transaction as the transfer it creates. A concurrent
request with the same key waits on the unique index until the first commits, then finds the
stored response and replays it: never a second transfer. Sending transfers claims keys with
:func:`claim` (the response already sealed, one statement for a whole batch); the other
idempotent requests use :func:`begin` then :func:`complete`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange.config import get_settings
from exchange.db import bulk
from exchange.db.base import table_of
from exchange.db.types import utcnow
from exchange.transfers.errors import (
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from exchange.transfers.models import IdempotencyRecord
from exchange.vault.service import open_blob, seal

_KEY = re.compile(r'^(?:"[\x21\x23-\x7e]{1,253}"|[\x21\x23-\x7e]{1,255})$')


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored first response to a repeated request."""

    status_code: int
    body: dict[str, Any]


def check_key(raw: str | None) -> str:
    """The key from the header (a string, optionally quoted as the draft's sf-string)."""
    if raw is None or not raw.strip():
        raise IdempotencyKeyMissing(
            "This request needs an Idempotency-Key header.",
            fix="Send a unique key (e.g. a UUID) per transfer; reuse it only to retry.",
        )
    key = raw.strip()
    if not _KEY.match(key):
        raise IdempotencyKeyInvalid(
            "The Idempotency-Key must be 1-255 visible ASCII characters.",
            fix="Use a UUID or similar.",
        )
    return key[1:-1] if key.startswith('"') else key


def request_hash(method: str, path: str, body: bytes) -> str:
    """A fingerprint of the request the key was used with."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def replay(session: Session, row: IdempotencyRecord, fingerprint: str) -> Replay:
    """The stored response for a repeat of the request that claimed ``row`` (a different request
    with the same key is refused)."""
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request.",
            fix="Use a new key for a new request; reuse a key only to retry the same request.",
        )
    if row.status_code is None or row.response_blob_id is None:
        raise IdempotencyInProgress(
            "The first request with this key is still being processed.",
            fix="Retry in a moment; the first response will be replayed.",
        )
    return Replay(row.status_code, json.loads(open_blob(session, row.response_blob_id)))


def begin(
    session: Session, *, client_id: str, key: str, fingerprint: str
) -> Replay | IdempotencyRecord:
    """Claim the key for this request, or the replay of the request that claimed it first."""
    now = utcnow()
    existing = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    )
    if existing is not None:
        if existing.expires_at > now:
            return replay(session, existing, fingerprint)
        session.delete(existing)
        session.flush()
    row = IdempotencyRecord(
        client_id=client_id,
        key=key,
        request_hash=fingerprint,
        expires_at=now + dt.timedelta(hours=get_settings().idempotency_key_hours),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another request with this key committed while we waited on the unique index.
        winner = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
            )
        )
        if winner is None:
            raise
        return replay(session, winner, fingerprint)
    return row


@dataclass(frozen=True, slots=True)
class Claim:
    """A key to claim together with the response it will replay (already sealed in a blob)."""

    key: str
    fingerprint: str
    status_code: int
    response_blob_id: str
    transfer_id: str | None


def claim(session: Session, *, client_id: str, claims: Sequence[Claim]) -> set[str]:
    """Store each key with its response unless the key is already held; returns the response
    blob ids of the claims that were stored.

    One INSERT ... ON CONFLICT DO NOTHING: on PostgreSQL a key that a concurrent transaction has
    just claimed makes this wait until that one ends, so a race never makes a second transfer.
    """
    if not claims:
        return set()
    now = utcnow()
    expires = now + dt.timedelta(hours=get_settings().idempotency_key_hours)
    driver = bulk.driver_connection(session)
    if driver is not None:
        with driver.cursor() as cursor:
            cursor.execute(
                _PG_CLAIM,
                (
                    client_id,
                    now,
                    expires,
                    [c.key for c in claims],
                    [c.fingerprint for c in claims],
                    [c.status_code for c in claims],
                    [c.response_blob_id for c in claims],
                    [c.transfer_id for c in claims],
                ),
            )
            return {str(blob_id) for (blob_id,) in cursor.fetchall()}
    rows = [
        {
            "client_id": client_id,
            "key": c.key,
            "request_hash": c.fingerprint,
            "status_code": c.status_code,
            "response_blob_id": c.response_blob_id,
            "transfer_id": c.transfer_id,
            "created_at": now,
            "expires_at": expires,
        }
        for c in claims
    ]
    statement = _CLAIM[session.get_bind().dialect.name]
    return {str(blob_id) for blob_id in session.scalars(statement, rows)}


def _claim_statement(insert: Any) -> Any:
    table = table_of(IdempotencyRecord)
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.client_id, table.c.key])
        .returning(table.c.response_blob_id, sort_by_parameter_order=True)
    )


_CLAIM = {
    "postgresql": _claim_statement(postgresql.insert),
    "sqlite": _claim_statement(sqlite.insert),
}
# On PostgreSQL (psycopg) the claims go as arrays: the statement's text is the same however many
# there are, so it is parsed and prepared once, not rendered with a parameter per value.
_PG_CLAIM = (
    "INSERT INTO idempotency_keys (client_id, key, request_hash, status_code, response_blob_id, "
    "transfer_id, created_at, expires_at) "
    "SELECT %s, k, h, s, b, t, %s, %s "
    "FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[]) AS c(k, h, s, b, t) "
    "ON CONFLICT (client_id, key) DO NOTHING RETURNING response_blob_id"
)


def held(session: Session, *, client_id: str, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
    """The keys already held and still in their replay window; expired ones are forgotten."""
    if not keys:
        return {}
    rows = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key.in_(set(keys))
        )
    ).all()
    now = utcnow()
    expired = [row.id for row in rows if row.expires_at <= now]
    if expired:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(expired)))
    return {row.key: row for row in rows if row.expires_at > now}


def complete(
    session: Session,
    row: IdempotencyRecord,
    *,
    status_code: int,
    body: dict[str, Any],
    transfer_id: str | None,
) -> None:
    """Store the response so a repeat replays it (sealed: it may quote record values)."""
    blob = seal(session, "idempotent-response", json.dumps(body).encode("utf-8"), flush=False)
    row.status_code = status_code
    row.response_blob = blob
    row.transfer_id = transfer_id


def purge_expired(session: Session) -> int:
    """Forget keys past their replay window; returns how many."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
