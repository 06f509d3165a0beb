"""Signed checkpoints: a statement of the log's length and head hash an outside party can keep.

Later, ``verify_checkpoint`` proves the log still extends it: the event the checkpoint names is
still there with the same hash, and the chain up to it still verifies, so nothing before it was
rewritten.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from exchange.audit.models import AuditEvent
from exchange.audit.verify import VerifyResult, verify_chain
from exchange.db.types import utcnow
from exchange.keys import get_signing_key

STATEMENT_FIELDS = ("format", "event_count", "head_seq", "head_hash", "created_at", "public_key")
FORMAT = "exchange-audit-checkpoint/1"


class CheckpointError(ValueError):
    """The checkpoint is not valid, or the log does not extend it."""


def _statement(body: dict[str, Any]) -> bytes:
    return json.dumps(
        {k: body[k] for k in STATEMENT_FIELDS}, sort_keys=True, separators=(",", ":")
    ).encode()


def public_key_text() -> str:
    """This service's checkpoint-signing public key (base64 of the raw 32 bytes)."""
    raw = get_signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def make_checkpoint(session: Session, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Verify the log, then sign a statement of its count and head."""
    result = verify_chain(session)
    if not result.ok:
        raise CheckpointError(f"the log is broken at event {result.broken_seq}: {result.reason}")
    body: dict[str, Any] = {
        "format": FORMAT,
        "event_count": result.events,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "created_at": (now or utcnow()).isoformat(),
        "public_key": public_key_text(),
    }
    body["signature"] = base64.b64encode(get_signing_key().sign(_statement(body))).decode()
    return body


def verify_checkpoint(session: Session, checkpoint: dict[str, Any]) -> VerifyResult:
    """Check the checkpoint's signature (by this service's key) and that the log extends it."""
    try:
        if checkpoint.get("format") != FORMAT:
            raise CheckpointError("not an exchange audit checkpoint")
        signature = base64.b64decode(checkpoint["signature"])
        statement = _statement(checkpoint)
        head_seq = int(checkpoint["head_seq"])
        head_hash = str(checkpoint["head_hash"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint is malformed: {exc}") from exc
    if checkpoint["public_key"] != public_key_text():
        raise CheckpointError("the checkpoint was signed by another key than this service's")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"])).verify(
            signature, statement
        )
    except (InvalidSignature, ValueError) as exc:
        raise CheckpointError("the checkpoint's signature does not verify: it was altered") from exc
    event = session.get(AuditEvent, head_seq) if head_seq else None
    if head_seq and (event is None or event.hash != head_hash):
        return VerifyResult(
            False,
            0,
            head_seq,
            head_hash,
            head_seq,
            "the event the checkpoint names was changed or removed",
        )
    prefix = verify_chain(session, up_to_seq=head_seq)
    if not prefix.ok:
        return prefix
    return verify_chain(session)
