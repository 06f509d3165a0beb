"""Tables of the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base
from exchange.db.types import UTCDateTime


class AuditEvent(Base):
    """One thing someone did, or tried to do; never a child's name, birth date or address."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_time", "actor_authority", "occurred_at"),
        Index("ix_audit_events_transfer", "transfer_id"),
        Index("ix_audit_events_action_time", "action", "occurred_at"),
        # An authority's events are those it did or that were done towards it (either column).
        Index("ix_audit_events_actor_seq", "actor_authority", "seq"),
        Index("ix_audit_events_counterpart_seq", "counterpart_authority", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20))
    actor_authority: Mapped[str | None] = mapped_column(String(9))
    counterpart_authority: Mapped[str | None] = mapped_column(String(9))
    client_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(20))
    acting_user: Mapped[str | None] = mapped_column(String(200), index=True)
    transfer_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[str | None] = mapped_column(String(128))
    source_address: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(500))
    child_refs: Mapped[str] = mapped_column(Text, default="", doc="Space-separated pseudonyms.")
    details: Mapped[str] = mapped_column(Text, default="{}", doc="JSON, never case content.")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The chain's head: the last sequence number and hash (one row, locked by each append)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChildRef(Base):
    """Index of which child (by pseudonym) an event concerns, for auditors' look-ups."""

    __tablename__ = "audit_child_refs"

    event_seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    ref: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)
