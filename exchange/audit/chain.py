"""The hash chain: how an event is serialised and hashed, the same way when written and verified.

Each event's hash is SHA-256 over the previous event's hash and a canonical JSON serialisation of
the event (sorted keys, no spaces, UTC timestamps with microseconds). Changing, removing,
inserting or reordering any event changes every hash after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64

CHAINED_FIELDS = (
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_authority",
    "counterpart_authority",
    "client_id",
    "role",
    "acting_user",
    "transfer_id",
    "request_id",
    "source_address",
    "purpose",
    "child_refs",
    "details",
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(fields: dict[str, Any]) -> bytes:
    """The canonical serialisation of an event's chained fields."""
    return json.dumps(
        {name: _plain(fields.get(name)) for name in CHAINED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The hash of an event that follows ``prev_hash``."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(fields))
    return digest.hexdigest()
