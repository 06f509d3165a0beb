"""Auditors' questions of the log: filters, pages, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from exchange.audit.models import AuditChildRef, AuditEvent
from exchange.csvcells import csv_cell
from exchange.errors import ExchangeError


class AuditCursorInvalid(ExchangeError):
    """The cursor is not one this service gave."""

    status, code, title = 400, "cursor-invalid", "Cursor not valid"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What an auditor narrows the log by (child references are pseudonyms already)."""

    scope_authority: str | None = None  # an authority's auditor sees only its events
    authority: str | None = None
    action: str | None = None
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None
    transfer_id: str | None = None
    acting_user: str | None = None
    child_refs: Sequence[str] = ()
    outcome: str | None = None


class EventOut(BaseModel):
    """One audit event as auditors see it (no case content; children as pseudonyms)."""

    seq: int
    occurred_at: dt.datetime
    action: str
    outcome: str
    actor_authority: str | None
    counterpart_authority: str | None
    client_id: str | None
    role: str | None
    acting_user: str | None
    transfer_id: str | None
    request_id: str | None
    source_address: str | None
    purpose: str | None
    child_refs: list[str]
    details: dict[str, object]
    hash: str


def event_out(event: AuditEvent) -> EventOut:
    """The API's view of an event."""
    return EventOut(
        seq=event.seq,
        occurred_at=event.occurred_at,
        action=event.action,
        outcome=event.outcome,
        actor_authority=event.actor_authority,
        counterpart_authority=event.counterpart_authority,
        client_id=event.client_id,
        role=event.role,
        acting_user=event.acting_user,
        transfer_id=event.transfer_id,
        request_id=event.request_id,
        source_address=event.source_address,
        purpose=event.purpose,
        child_refs=event.child_refs.split() if event.child_refs else [],
        details=json.loads(event.details or "{}"),
        hash=event.hash,
    )


def _query(where: EventFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    for authority in (where.scope_authority, where.authority):
        if authority:
            query = query.where(
                or_(
                    AuditEvent.actor_authority == authority,
                    AuditEvent.counterpart_authority == authority,
                )
            )
    if where.action:
        query = query.where(AuditEvent.action == where.action)
    if where.outcome:
        query = query.where(AuditEvent.outcome == where.outcome)
    if where.occurred_from:
        query = query.where(AuditEvent.occurred_at >= where.occurred_from)
    if where.occurred_to:
        query = query.where(AuditEvent.occurred_at < where.occurred_to)
    if where.transfer_id:
        query = query.where(AuditEvent.transfer_id == where.transfer_id)
    if where.acting_user:
        query = query.where(AuditEvent.acting_user == where.acting_user)
    if where.child_refs:
        query = query.where(
            AuditEvent.seq.in_(
                select(AuditChildRef.event_seq).where(AuditChildRef.ref.in_(list(where.child_refs)))
            )
        )
    return query


# A cursor is the seq of a page's last event, as it has always been; the next page starts after
# that event's (occurred_at, seq), looked up under the same filters.
_CURSOR = re.compile(r"[0-9]{1,18}")


def cursor_position(session: Session, where: EventFilter, cursor: str) -> tuple[dt.datetime, int]:
    """Where the page after ``cursor`` starts: that event's time and seq."""
    found = None
    if _CURSOR.fullmatch(cursor):
        seq = int(cursor)
        found = session.scalar(
            _query(where).with_only_columns(AuditEvent.occurred_at).where(AuditEvent.seq == seq)
        )
    if found is None:
        raise AuditCursorInvalid(
            "The cursor is not one this service gave for these filters.",
            fix="Use next_cursor as it was given, with the same filters as the page it came from.",
        )
    return found, seq


def page_query(
    where: EventFilter, *, limit: int, after: tuple[dt.datetime, int] | None = None
) -> Select[AuditEvent]:
    """The statement for one page: newest first by time, then seq; after ``after`` if given."""
    query = _query(where)
    if after is not None:
        # Keyset on (occurred_at, seq), written so that an index on occurred_at serves it.
        moment, seq = after
        query = query.where(
            AuditEvent.occurred_at <= moment,
            or_(AuditEvent.occurred_at < moment, AuditEvent.seq < seq),
        )
    return query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc()).limit(limit)


def page_events(
    session: Session, where: EventFilter, *, limit: int, cursor: str | None
) -> tuple[list[AuditEvent], str | None]:
    """One page of events, newest first (by time, then seq), and the cursor for the next."""
    after = cursor_position(session, where, cursor) if cursor else None
    rows = list(session.scalars(page_query(where, limit=limit + 1, after=after)))
    next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
    return rows[:limit], next_cursor


def all_events(session: Session, where: EventFilter, *, batch: int = 5000) -> Iterator[AuditEvent]:
    """Every matching event, oldest first, streamed (for exports)."""
    query = _query(where).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    yield from session.scalars(query)


EXPORT_COLUMNS = list(EventOut.model_fields)


def export_csv(events: Iterable[AuditEvent]) -> Iterator[str]:
    """Events as CSV text, a chunk per event."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    for event in events:
        buffer.seek(0)
        buffer.truncate()
        data = event_out(event).model_dump()
        writer.writerow([csv_cell(data[c]) for c in EXPORT_COLUMNS])
        yield buffer.getvalue()


def export_jsonl(events: Iterable[AuditEvent]) -> Iterator[str]:
    """Events as JSON Lines."""
    for event in events:
        yield event_out(event).model_dump_json() + "\n"
