"""What the transfer API takes and gives."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from exchange.canonical import Problem

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Urgency(StrEnum):
    """How quickly the receiving authority should act."""

    ROUTINE = "routine"
    URGENT = "urgent"
    IMMEDIATE = "immediate"


class TransferStatus(StrEnum):
    """Where a transfer stands."""

    SENT = "sent"
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    PARTIALLY_ACCEPTED = "partially_accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


class ExportFile(BaseModel):
    """One file of a raw export, base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_base64: str


class RawExport(BaseModel):
    """An authority's own export, converted to canonical records by the named adapter."""

    model_config = ConfigDict(extra="forbid")

    adapter: Annotated[str, StringConstraints(min_length=1, max_length=60)] = Field(
        examples=["cin-census"]
    )
    files: list[ExportFile] = Field(min_length=1, max_length=100)


class TransferCreate(BaseModel):
    """A case to send: canonical records, or a raw export to convert."""

    model_config = ConfigDict(extra="forbid")

    to_authority: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = Field(
        description="DfE 3-digit or GSS code of the receiving authority.", examples=["873"]
    )
    reason: LongText = Field(description="Why the case is transferred (e.g. the family moved).")
    legal_basis: ShortText = Field(
        description="The legal basis for sharing, e.g. Children Act 1989 s47; Working Together."
    )
    urgency: Urgency = Urgency.ROUTINE
    records: list[dict[str, Any]] | None = Field(
        default=None,
        description="Canonical child records (one child, or a sibling group).",
        min_length=1,
    )
    export: RawExport | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TransferCreate:
        if (self.records is None) == (self.export is None):
            raise ValueError("give either records or export, not both and not neither")
        return self


class AuthorityBrief(BaseModel):
    """An authority, briefly."""

    gss_code: str
    dfe_code: str | None
    name: str


class ChildOut(BaseModel):
    """One child of a transfer and the receiver's decision (no case content)."""

    position: int
    status: str
    receiver_child_id: str | None = None
    transfer_in_conference_date: dt.date | None = None
    decline_reason: str | None = None
    decided_at: dt.datetime | None = None


class Overdue(BaseModel):
    """What is late now."""

    acknowledgement: bool
    transfer_in_conference: bool


class TransitionOut(BaseModel):
    """A change of state and who made it."""

    at: dt.datetime
    from_status: str | None
    to_status: str
    authority: str
    acting_user: str | None
    note: str | None


class TransferOut(BaseModel):
    """A transfer's state and dates (case content is read through /record)."""

    id: str
    status: TransferStatus
    from_authority: AuthorityBrief
    to_authority: AuthorityBrief
    reason: str
    legal_basis: str
    urgency: Urgency
    created_at: dt.datetime
    created_by_user: str | None
    received_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    decided_at: dt.datetime | None
    closed_at: dt.datetime | None
    acknowledgement_due: dt.datetime
    transfer_in_conference_due: dt.date
    conference_clock_started: bool = Field(
        description="False: the clock has not started yet; the due date is the latest it can be "
        "if the receiving authority acknowledges on time."
    )
    working_days_left: int = Field(description="Until the conference is due; negative: overdue.")
    overdue: Overdue
    clock_start: str
    supersedes: str | None
    superseded_by: str | None
    withdrawn_reason: str | None
    content_purged: bool
    children: list[ChildOut]
    problems: list[Problem] = Field(
        default_factory=list, description="Warnings found in the records when they were sent."
    )


class TransferPage(BaseModel):
    """A page of transfers, newest first."""

    items: list[TransferOut]
    next_cursor: str | None


class AcceptChild(BaseModel):
    """The receiving authority takes the child on."""

    model_config = ConfigDict(extra="forbid")

    receiver_child_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    transfer_in_conference_date: dt.date


class DeclineChild(BaseModel):
    """The receiving authority declines the child, with its reason."""

    model_config = ConfigDict(extra="forbid")

    reason: LongText


class Withdraw(BaseModel):
    """The sending authority withdraws the transfer."""

    model_config = ConfigDict(extra="forbid")

    reason: LongText


class RecordUpdate(BaseModel):
    """Updated records replacing the transfer's (the old transfer is superseded)."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] = Field(min_length=1)
    note: LongText | None = None


class MessageKind(StrEnum):
    """What a message is."""

    MESSAGE = "message"
    QUESTION = "question"
    ANSWER = "answer"


class MessageIn(BaseModel):
    """A message to the other authority."""

    model_config = ConfigDict(extra="forbid")

    kind: MessageKind = MessageKind.MESSAGE
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    in_reply_to: str | None = None


class MessageOut(BaseModel):
    """A message between the authorities."""

    id: str
    kind: MessageKind
    body: str | None = Field(description="None once the content has been purged.")
    in_reply_to: str | None
    author_authority: str
    acting_user: str | None
    created_at: dt.datetime


class DocumentOut(BaseModel):
    """A document of a transfer (its content is downloaded separately)."""

    id: str
    title: str | None
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_by_authority: str
    acting_user: str | None
    created_at: dt.datetime
    content_available: bool


class RecordsOut(BaseModel):
    """The transfer's canonical records."""

    transfer_id: str
    records: list[dict[str, Any]]


class BatchItem(BaseModel):
    """One transfer of a batch, with its own idempotency key."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    transfer: dict[str, Any] = Field(description="A TransferCreate body.")


class BatchCreate(BaseModel):
    """Several transfers sent in one request (transfer jobs); each succeeds or fails alone."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchItem] = Field(min_length=1)


class BatchResult(BaseModel):
    """What happened to one item: the transfer, or the problem that stopped it."""

    idempotency_key: str
    status: int
    replayed: bool = False
    transfer: TransferOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(BaseModel):
    """Per-item results, in the order of the items."""

    results: list[BatchResult]
