"""Verifying the chain: every event recomputed, the first broken one named.

Detects an edited event (its hash no longer matches), a deleted or inserted event (the
sequence has a gap or a duplicate, or an event's prev_hash is not its predecessor's hash), a
reordering (hashes no longer link), and a cut-off tail (the head records a later event).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.chain import CHAINED_FIELDS, GENESIS_HASH, event_hash
from exchange.audit.models import AuditChildRef, AuditEvent, AuditHead


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


def _refs_by_event(
    session: Session, up_to_seq: int | None, batch: int
) -> Generator[tuple[int, str], None, None]:
    query = select(AuditChildRef.event_seq, AuditChildRef.ref).order_by(
        AuditChildRef.event_seq, AuditChildRef.ref
    )
    if up_to_seq is not None:
        query = query.where(AuditChildRef.event_seq <= up_to_seq)
    result = session.execute(query.execution_options(yield_per=batch))
    try:
        for seq, ref in result:
            yield int(seq), str(ref)
    finally:
        result.close()


def verify_chain(
    session: Session, *, up_to_seq: int | None = None, batch: int = 20_000
) -> VerifyResult:
    """Recompute every event's hash in order; stop at the first that does not hold.

    The index of children by pseudonym (audit_child_refs) is derived from the events and is
    checked against them too: a row removed or added there would hide or forge a look-up.
    """
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)

    def broken(count: int, seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, count, head_seq, head_hash, seq, reason)

    expected_seq = 1
    previous = GENESIS_HASH
    count = 0
    query = select(*_COLUMNS).order_by(AuditEvent.seq)
    if up_to_seq is not None:
        query = query.where(AuditEvent.seq <= up_to_seq)
    refs = _refs_by_event(session, up_to_seq, batch)
    pending_ref = next(refs, None)
    rows = session.execute(query.execution_options(yield_per=batch))
    try:
        for row in rows:
            fields: dict[str, Any] = dict(
                zip(CHAINED_FIELDS, row[: len(CHAINED_FIELDS)], strict=True)
            )
            stored_prev, stored_hash = row[-2], row[-1]
            seq = fields["seq"]
            if seq != expected_seq:
                if seq > expected_seq:
                    return broken(
                        count, expected_seq, f"event {expected_seq} is missing (found {seq} next)"
                    )
                return broken(count, seq, f"event {seq} appears twice")
            if up_to_seq is None and seq > head_seq:
                return broken(
                    count,
                    seq,
                    f"event {seq} is beyond the head ({head_seq}): it was added outside the service",
                )
            if stored_prev != previous:
                return broken(count, seq, "does not follow the event before it (prev_hash differs)")
            if event_hash(previous, fields) != stored_hash:
                return broken(count, seq, "its content was changed (hash does not match)")
            indexed = []
            while pending_ref is not None and pending_ref[0] <= seq:
                if pending_ref[0] < seq:
                    return broken(
                        count,
                        pending_ref[0],
                        f"the child index has a row for event {pending_ref[0]} that the event does not name",
                    )
                indexed.append(pending_ref[1])
                pending_ref = next(refs, None)
            named = fields["child_refs"].split() if fields["child_refs"] else []
            if sorted(named) != indexed:
                return broken(
                    count, seq, "the child index does not match the children the event names"
                )
            previous = stored_hash
            expected_seq += 1
            count += 1
    finally:
        rows.close()
        refs.close()
    if up_to_seq is None:
        if count < head_seq:
            return broken(
                count,
                count + 1,
                f"the log ends at event {count} but the head records event {head_seq}: events were removed",
            )
        if previous != head_hash:
            return broken(
                count, count, f"event {count} does not match the head's hash: it was rewritten"
            )
    if pending_ref is not None:
        return broken(
            count,
            pending_ref[0],
            f"the child index names event {pending_ref[0]}, which is not in the log",
        )
    return VerifyResult(True, count, head_seq, head_hash)
