"""The hash chain: how an event is serialised and hashed, the same way when written and verified.

Each event's hash is SHA-256 over the previous event's hash and a canonical JSON serialisation of
the event (sorted keys, no spaces, UTC timestamps with microseconds). Changing, removing,
inserting or reordering any event changes every hash after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
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


# canonical_values builds the same text without a dict or a sort per event: the keys in sorted
# order around a slot for each value, each value encoded as json.dumps would encode it.
_SORTED = sorted(range(len(CHAINED_FIELDS)), key=CHAINED_FIELDS.__getitem__)
_TEMPLATE = "{" + ",".join(f'"{CHAINED_FIELDS[i]}":%s' for i in _SORTED) + "}"
_encode_text = json.JSONEncoder(ensure_ascii=False).encode


class _NotPlain(Exception):
    """A value of a type the fast path does not encode; canonical() does."""


def _json_value(value: Any) -> str:
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _encode_text(value)
    if kind is int:
        return int.__repr__(value)
    if kind is dt.datetime and value.tzinfo is not None:
        utc = value.astimezone(dt.UTC)
        # strftime leaves a year before 1000 unpadded; isoformat pads it: let _plain decide those.
        if utc.year >= 1000:
            return f'"{utc.isoformat(timespec="microseconds")[:-6]}Z"'
    raise _NotPlain


def canonical_values(values: Sequence[Any]) -> bytes:
    """canonical() of the chained fields given as values in CHAINED_FIELDS order (same bytes)."""
    try:
        return (_TEMPLATE % tuple([_json_value(values[i]) for i in _SORTED])).encode("utf-8")
    except _NotPlain:
        return canonical(dict(zip(CHAINED_FIELDS, values, strict=True)))


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The hash of an event that follows ``prev_hash``."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_values([fields.get(name) for name in CHAINED_FIELDS]))
    return digest.hexdigest()
