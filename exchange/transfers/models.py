"""Tables of transfers: the transfer, each child in it, its history, messages and documents."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db.base import Base
from exchange.db.types import IdColumn, UTCDateTime, new_id, utcnow
from exchange.vault.models import Blob


class Transfer(Base):
    """A case sent by one authority to another: one child or a sibling group."""

    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_to_status_created", "to_authority", "status", "created_at"),
        Index("ix_transfers_from_created", "from_authority", "created_at"),
        Index("ix_transfers_to_created", "to_authority", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    from_authority: Mapped[str] = mapped_column(ForeignKey("authorities.gss_code"))
    to_authority: Mapped[str] = mapped_column(ForeignKey("authorities.gss_code"))
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(2000))
    legal_basis: Mapped[str] = mapped_column(String(500))
    urgency: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_client: Mapped[str] = mapped_column(String(36))
    created_by_user: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledgement_due: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    conference_due: Mapped[dt.date] = mapped_column(Date)
    conference_clock_started: Mapped[bool] = mapped_column(default=False)
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("transfers.id"))
    superseded_by_id: Mapped[str | None] = mapped_column(String(36))
    withdrawn_reason: Mapped[str | None] = mapped_column(String(2000))
    content_purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    children: Mapped[list[TransferChild]] = relationship(
        back_populates="transfer", order_by="TransferChild.position", lazy="selectin"
    )


class TransferChild(Base):
    """One child of a transfer, with the receiver's decision about them."""

    __tablename__ = "transfer_children"
    __table_args__ = (UniqueConstraint("transfer_id", "position"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfers.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    record_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"))
    # Pseudonyms (keyed HMAC), so a child can be found without storing identifiers in clear.
    nhs_ref: Mapped[str | None] = mapped_column(String(80), index=True)
    la_child_ref: Mapped[str | None] = mapped_column(String(80), index=True)
    receiver_child_id: Mapped[str | None] = mapped_column(String(100))
    transfer_in_conference_date: Mapped[dt.date | None] = mapped_column(Date)
    decline_reason: Mapped[str | None] = mapped_column(String(2000))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_user: Mapped[str | None] = mapped_column(String(200))
    problems_json: Mapped[str] = mapped_column(Text, default="[]")

    transfer: Mapped[Transfer] = relationship(back_populates="children")
    record_blob: Mapped[Blob | None] = relationship(lazy="raise")


class TransferTransition(Base):
    """A change of a transfer's state: when, from what to what, and who did it."""

    __tablename__ = "transfer_transitions"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfers.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    authority: Mapped[str] = mapped_column(String(9))
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(2000))


class TransferMessage(Base):
    """A message, question or answer between the two authorities, sealed at rest."""

    __tablename__ = "transfer_messages"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    in_reply_to: Mapped[str | None] = mapped_column(String(36))
    author_authority: Mapped[str] = mapped_column(String(9))
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    body_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"))


class TransferDocument(Base):
    """A document sent with a transfer: described in clear, its content sealed."""

    __tablename__ = "transfer_documents"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfers.id"), index=True)
    title_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"))
    media_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    sha256: Mapped[str] = mapped_column(String(64))
    content_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"))
    uploaded_by_authority: Mapped[str] = mapped_column(String(9))
    client_id: Mapped[str] = mapped_column(String(36))
    acting_user: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a request made with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    client_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"))
    response_blob: Mapped[Blob | None] = relationship(lazy="raise")
    transfer_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(slots=True)
class ChildDraft:
    """A child of a transfer as plain values (the columns of ``transfer_children``)."""

    id: str
    transfer_id: str
    position: int
    record_blob_id: str | None
    nhs_ref: str | None
    la_child_ref: str | None
    problems_json: str
    status: str = "pending"
    receiver_child_id: str | None = None
    transfer_in_conference_date: dt.date | None = None
    decline_reason: str | None = None
    decided_at: dt.datetime | None = None
    decided_by_user: str | None = None


@dataclass(slots=True)
class TransferDraft:
    """A transfer as plain values (the columns of ``transfers``): one being built to be written,
    or one read for a listing. Cheap by the hundred; the views read it like a :class:`Transfer`."""

    id: str
    from_authority: str
    to_authority: str
    status: str
    reason: str
    legal_basis: str
    urgency: str
    created_at: dt.datetime
    created_by_client: str
    created_by_user: str | None
    acknowledgement_due: dt.datetime = dt.datetime.min
    conference_due: dt.date = dt.date.min
    conference_clock_started: bool = False
    received_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    supersedes_id: str | None = None
    superseded_by_id: str | None = None
    withdrawn_reason: str | None = None
    content_purged_at: dt.datetime | None = None
    children: list[ChildDraft] = field(default_factory=list)


AnyTransfer = Transfer | TransferDraft
