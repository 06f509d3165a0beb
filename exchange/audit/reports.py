"""Reports for auditors and managers: timeliness, activity, volumes, what is overdue now.

Built from transfer metadata and the audit log; never from case content.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from exchange.audit.models import AuditEvent
from exchange.csvcells import csv_cell
from exchange.transfers.lifecycle import OPEN
from exchange.transfers.models import Transfer, TransferChild

REPORTS = ("timeliness", "activity", "volumes", "overdue")


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _scoped(query: Any, authority: str | None) -> Any:
    if authority:
        query = query.where(
            or_(Transfer.from_authority == authority, Transfer.to_authority == authority)
        )
    return query


def timeliness(
    session: Session, *, authority: str | None = None, since: dt.date | None = None
) -> list[dict[str, Any]]:
    """Per receiving authority: how fast transfers are acknowledged and accepted, and the share of
    transfer-in conferences held within 15 working days."""
    query = _scoped(select(Transfer), authority)
    if since:
        query = query.where(Transfer.created_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"transfers": 0, "ack": [], "accept": [], "conferences": 0, "on_time": 0}
    )
    for transfer in session.scalars(query.execution_options(yield_per=1000)):
        row = rows[transfer.to_authority]
        row["transfers"] += 1
        ack = _hours(transfer.created_at, transfer.acknowledged_at)
        if ack is not None:
            row["ack"].append(ack)
        if transfer.status in ("accepted", "partially_accepted"):
            decided = _hours(transfer.acknowledged_at, transfer.decided_at)
            if decided is not None:
                row["accept"].append(decided)
    children = session.execute(
        _scoped(
            select(
                Transfer.to_authority,
                TransferChild.transfer_in_conference_date,
                Transfer.conference_due,
            )
            .join(TransferChild, TransferChild.transfer_id == Transfer.id)
            .where(TransferChild.transfer_in_conference_date.is_not(None))
            .where(
                Transfer.created_at >= dt.datetime.combine(since, dt.time(), dt.UTC)
                if since
                else Transfer.created_at.is_not(None)
            ),
            authority,
        )
    )
    for to_authority, held, due in children:
        rows[to_authority]["conferences"] += 1
        rows[to_authority]["on_time"] += held <= due
    return [
        {
            "authority": key,
            "transfers": value["transfers"],
            "median_hours_sent_to_acknowledged": _median(value["ack"]),
            "median_hours_acknowledged_to_accepted": _median(value["accept"]),
            "transfer_in_conferences": value["conferences"],
            "conferences_within_15_working_days": value["on_time"],
            "share_within_15_working_days": round(value["on_time"] / value["conferences"], 3)
            if value["conferences"]
            else None,
        }
        for key, value in sorted(rows.items())
    ]


def activity(
    session: Session, *, authority: str | None = None, since: dt.date | None = None
) -> list[dict[str, Any]]:
    """Per authority and member of staff: how many of each action they did."""
    query = select(
        AuditEvent.actor_authority, AuditEvent.acting_user, AuditEvent.action, func.count()
    ).group_by(AuditEvent.actor_authority, AuditEvent.acting_user, AuditEvent.action)
    if authority:
        query = query.where(AuditEvent.actor_authority == authority)
    if since:
        query = query.where(AuditEvent.occurred_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    return [
        {"authority": a, "acting_user": u, "action": action, "count": n}
        for a, u, action, n in sorted(
            session.execute(query), key=lambda r: (r[0] or "", r[1] or "", r[2])
        )
    ]


def volumes(
    session: Session, *, authority: str | None = None, since: dt.date | None = None
) -> list[dict[str, Any]]:
    """Transfers sent per month, by sending and receiving authority."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    query = _scoped(
        select(Transfer.created_at, Transfer.from_authority, Transfer.to_authority), authority
    )
    if since:
        query = query.where(Transfer.created_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    for created, sender, receiver in session.execute(query.execution_options(yield_per=5000)):
        counts[(f"{created:%Y-%m}", sender, receiver)] += 1
    return [
        {"month": m, "from_authority": f, "to_authority": t, "transfers": n}
        for (m, f, t), n in sorted(counts.items())
    ]


def overdue(
    session: Session, *, authority: str | None = None, now: dt.datetime
) -> list[dict[str, Any]]:
    """Open transfers whose acknowledgement or transfer-in conference is overdue now."""
    open_states = [s.value for s in OPEN]
    query = _scoped(select(Transfer).where(Transfer.status.in_(open_states)), authority)
    out = []
    for transfer in session.scalars(query.order_by(Transfer.created_at)):
        ack_late = transfer.status in ("sent", "received") and now > transfer.acknowledgement_due
        conf_late = now.date() > transfer.conference_due
        if ack_late or conf_late:
            out.append(
                {
                    "transfer_id": transfer.id,
                    "from_authority": transfer.from_authority,
                    "to_authority": transfer.to_authority,
                    "status": transfer.status,
                    "acknowledgement_due": transfer.acknowledgement_due.isoformat(),
                    "transfer_in_conference_due": transfer.conference_due.isoformat(),
                    "acknowledgement_overdue": ack_late,
                    "conference_overdue": conf_late,
                }
            )
    return out


def as_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as CSV (cells that a spreadsheet would run are neutralised)."""

    buffer = io.StringIO()
    if not rows:
        return ""
    writer = csv.writer(buffer)
    writer.writerow(list(rows[0]))
    for row in rows:
        writer.writerow([csv_cell(v) for v in row.values()])
    return buffer.getvalue()
