"""Retention: case content is purged a set time after a transfer closes; metadata stays.

The audit log is never touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.service import record_event
from exchange.db.types import utcnow
from exchange.transfers import idempotency
from exchange.transfers.models import Transfer, TransferDocument, TransferMessage
from exchange.vault.models import Blob
from exchange.vault.service import purge


@dataclass
class RetentionReport:
    """What a retention run purged."""

    transfers: int = 0
    records: int = 0
    documents: int = 0
    messages: int = 0
    idempotency_keys: int = 0


def run_retention(
    session: Session, *, days: int, now: dt.datetime | None = None, batch: int = 200
) -> RetentionReport:
    """Purge the content of transfers closed more than ``days`` ago."""
    moment = now or utcnow()
    cutoff = moment - dt.timedelta(days=days)
    report = RetentionReport()
    while True:
        transfers = session.scalars(
            select(Transfer)
            .where(Transfer.closed_at.is_not(None), Transfer.closed_at <= cutoff)
            .where(Transfer.content_purged_at.is_(None))
            .limit(batch)
        ).all()
        if not transfers:
            break
        for transfer in transfers:
            blob_ids: list[tuple[str, str | None]] = [
                ("records", c.record_blob_id) for c in transfer.children
            ]
            for doc in session.scalars(
                select(TransferDocument).where(TransferDocument.transfer_id == transfer.id)
            ):
                blob_ids += [("documents", doc.content_blob_id), ("", doc.title_blob_id)]
            for msg in session.scalars(
                select(TransferMessage).where(TransferMessage.transfer_id == transfer.id)
            ):
                blob_ids.append(("messages", msg.body_blob_id))
            for kind, blob_id in blob_ids:
                blob = session.get(Blob, blob_id) if blob_id else None
                if blob is not None and blob.ciphertext is not None:
                    purge(blob)
                    if kind:
                        setattr(report, kind, getattr(report, kind) + 1)
            transfer.content_purged_at = moment
            report.transfers += 1
            record_event(
                session,
                action="retention.purged",
                actor=None,
                transfer_id=transfer.id,
                details={"closed_at": transfer.closed_at.isoformat() if transfer.closed_at else ""},
            )
        session.flush()
    report.idempotency_keys = idempotency.purge_expired(session)
    return report
