"""Verifying the chain: every event recomputed, the first broken one named.

Detects an edited event (its hash no longer matches), a deleted or inserted event (the
sequence has a gap or a duplicate, or an event's prev_hash is not its predecessor's hash), a
reordering (hashes no longer link), and a cut-off tail (the head records a later event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.chain import CHAINED_FIELDS, GENESIS_HASH, event_hash
from exchange.audit.models import AuditEvent, AuditHead


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The chain's state: intact, or where and how it is broken."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None


_COLUMNS = [getattr(AuditEvent, name) for name in CHAINED_FIELDS] + [
    AuditEvent.prev_hash,
    AuditEvent.hash,
]


def verify_chain(
    session: Session, *, up_to_seq: int | None = None, batch: int = 20_000
) -> VerifyResult:
    """Recompute every event's hash in order; stop at the first that does not hold."""
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    expected_seq = 1
    previous = GENESIS_HASH
    count = 0
    query = select(*_COLUMNS).order_by(AuditEvent.seq)
    if up_to_seq is not None:
        query = query.where(AuditEvent.seq <= up_to_seq)
    rows = session.execute(query.execution_options(yield_per=batch))
    for row in rows:
        fields: dict[str, Any] = dict(zip(CHAINED_FIELDS, row[: len(CHAINED_FIELDS)], strict=True))
        stored_prev, stored_hash = row[-2], row[-1]
        seq = fields["seq"]
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "repeated"
            return VerifyResult(
                False,
                count,
                head_seq,
                head_hash,
                expected_seq if what == "missing" else seq,
                f"event {expected_seq} is {what} (found {seq} next)",
            )
        if stored_prev != previous:
            return VerifyResult(
                False,
                count,
                head_seq,
                head_hash,
                seq,
                "does not follow the event before it (prev_hash differs)",
            )
        if event_hash(previous, fields) != stored_hash:
            return VerifyResult(
                False,
                count,
                head_seq,
                head_hash,
                seq,
                "its content was changed (hash does not match)",
            )
        previous = stored_hash
        expected_seq += 1
        count += 1
    if up_to_seq is None and (count != head_seq or previous != head_hash):
        return VerifyResult(
            False,
            count,
            head_seq,
            head_hash,
            count + 1,
            f"the log ends at event {count} but the head records event {head_seq}",
        )
    return VerifyResult(True, count, head_seq, head_hash)
