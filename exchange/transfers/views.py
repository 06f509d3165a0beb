"""How a transfer is shown to the two authorities."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from exchange.authorities import repository as authorities
from exchange.canonical import Problem
from exchange.transfers import clock
from exchange.transfers.lifecycle import OPEN
from exchange.transfers.models import AnyTransfer
from exchange.transfers.schemas import (
    AuthorityBrief,
    ChildOut,
    Overdue,
    TransferOut,
    TransferStatus,
    Urgency,
)
from exchange.transfers.service import clock_start


def _brief(session: Session, gss: str, cache: dict[str, AuthorityBrief]) -> AuthorityBrief:
    if gss not in cache:
        row = authorities.find_authority(session, gss)
        cache[gss] = AuthorityBrief(
            gss_code=gss, dfe_code=row.dfe_code if row else None, name=row.name if row else gss
        )
    return cache[gss]


def transfer_out(
    session: Session,
    transfer: AnyTransfer,
    *,
    now: dt.datetime,
    with_problems: bool = False,
    cache: dict[str, AuthorityBrief] | None = None,
) -> TransferOut:
    """The API's view of a transfer: state, dates, what is overdue, the children's decisions."""
    names = cache if cache is not None else {}
    status = TransferStatus(transfer.status)
    today = clock.london_date(now)
    is_open = status in OPEN
    problems: list[Problem] = []
    if with_problems and transfer.children:
        problems = [
            Problem.model_validate(p) for p in json.loads(transfer.children[0].problems_json)
        ]
    return TransferOut(
        id=transfer.id,
        status=status,
        from_authority=_brief(session, transfer.from_authority, names),
        to_authority=_brief(session, transfer.to_authority, names),
        reason=transfer.reason,
        legal_basis=transfer.legal_basis,
        urgency=Urgency(transfer.urgency),
        created_at=transfer.created_at,
        created_by_user=transfer.created_by_user,
        received_at=transfer.received_at,
        acknowledged_at=transfer.acknowledged_at,
        decided_at=transfer.decided_at,
        closed_at=transfer.closed_at,
        acknowledgement_due=transfer.acknowledgement_due,
        transfer_in_conference_due=transfer.conference_due,
        conference_clock_started=transfer.conference_clock_started,
        working_days_left=clock.days_left(transfer.conference_due, today),
        overdue=Overdue(
            acknowledgement=status in (TransferStatus.SENT, TransferStatus.RECEIVED)
            and now > transfer.acknowledgement_due,
            transfer_in_conference=is_open and today > transfer.conference_due,
        ),
        clock_start=clock_start().value,
        supersedes=transfer.supersedes_id,
        superseded_by=transfer.superseded_by_id,
        withdrawn_reason=transfer.withdrawn_reason,
        content_purged=transfer.content_purged_at is not None,
        children=[
            ChildOut(
                position=c.position,
                status=c.status,
                receiver_child_id=c.receiver_child_id,
                transfer_in_conference_date=c.transfer_in_conference_date,
                decline_reason=c.decline_reason,
                decided_at=c.decided_at,
            )
            for c in transfer.children
        ],
        problems=problems,
    )
