"""Queries over transfers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from exchange.db.base import table_of
from exchange.errors import ExchangeError
from exchange.transfers.lifecycle import OPEN
from exchange.transfers.models import (
    AnyTransfer,
    ChildDraft,
    Transfer,
    TransferChild,
    TransferDraft,
)


class CursorInvalid(ExchangeError):
    """The pagination cursor is not one this service gave."""

    status, code, title = 400, "cursor-invalid", "Cursor not valid"


@dataclass(frozen=True, slots=True)
class TransferFilter:
    """What a caller may narrow a list of transfers by."""

    authority: str
    box: str = "all"  # sent | received | all
    statuses: Sequence[str] = ()
    child_refs: Sequence[str] = ()
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    overdue: bool | None = None


def encode_cursor(transfer: AnyTransfer) -> str:
    """An opaque cursor pointing after ``transfer`` in newest-first order."""
    raw = json.dumps([transfer.created_at.isoformat(), transfer.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """The position a cursor points after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, transfer_id = json.loads(raw)
        stamp = dt.datetime.fromisoformat(created)
        if stamp.tzinfo is None:
            raise ValueError("a cursor's time carries its offset")
        return stamp, str(transfer_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise CursorInvalid(
            "The cursor is not valid.", fix="Use next_cursor from the previous page as it is."
        ) from exc


_TRANSFERS = table_of(Transfer)
_CHILDREN = table_of(TransferChild)


def list_transfers(
    session: Session, where: TransferFilter, *, limit: int, cursor: str | None, now: dt.datetime
) -> list[TransferDraft]:
    """Transfers of one authority, newest first, one page (plus one to tell if there is more).

    Read as plain rows, not loaded objects: a page is only shown, and this is the inbox that
    every authority's system polls.
    """
    query = select(_TRANSFERS)
    if where.box == "sent":
        query = query.where(Transfer.from_authority == where.authority)
    elif where.box == "received":
        query = query.where(Transfer.to_authority == where.authority)
    else:
        query = query.where(
            or_(
                Transfer.from_authority == where.authority, Transfer.to_authority == where.authority
            )
        )
    if where.statuses:
        query = query.where(Transfer.status.in_(list(where.statuses)))
    if where.child_refs:
        children = select(TransferChild.transfer_id).where(
            or_(
                TransferChild.nhs_ref.in_(list(where.child_refs)),
                TransferChild.la_child_ref.in_(list(where.child_refs)),
            )
        )
        query = query.where(Transfer.id.in_(children))
    if where.created_from is not None:
        start = dt.datetime.combine(where.created_from, dt.time(), dt.UTC)
        query = query.where(Transfer.created_at >= start)
    if where.created_to is not None:
        end = dt.datetime.combine(where.created_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        query = query.where(Transfer.created_at < end)
    if where.overdue is not None:
        open_states = [s.value for s in OPEN]
        late = or_(
            and_(Transfer.status.in_(["sent", "received"]), Transfer.acknowledgement_due < now),
            and_(Transfer.status.in_(open_states), Transfer.conference_due < now.date()),
        )
        query = query.where(late if where.overdue else ~late)
    if cursor:
        created, transfer_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Transfer.created_at < created,
                and_(Transfer.created_at == created, Transfer.id < transfer_id),
            )
        )
    query = query.order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(limit + 1)
    transfers = [TransferDraft(**row._mapping) for row in session.execute(query)]
    if transfers:
        by_id = {t.id: t for t in transfers}
        children = select(_CHILDREN).where(_CHILDREN.c.transfer_id.in_(list(by_id)))
        for row in session.execute(children.order_by(_CHILDREN.c.position)):
            child = ChildDraft(**row._mapping)
            by_id[child.transfer_id].children.append(child)
    return transfers
