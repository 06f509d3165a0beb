"""Transfers: sending, reading, the lifecycle, messages and documents.

Services take the session first and raise domain errors; the request boundary commits. Every
action writes its audit event in the same transaction, last, so the chain's head is locked only
briefly.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from exchange.adapters import InputUnreadable, Source, UnknownAdapter, get_adapter
from exchange.audit.service import Event, record_event, record_events, record_pseudonyms
from exchange.authorities import repository as authorities
from exchange.authorities.auth import Principal
from exchange.authorities.models import AuthorityRow
from exchange.canonical import ChildRecord, Problem, Severity, validate_document
from exchange.config import get_settings
from exchange.db import bulk
from exchange.db.base import table_of
from exchange.db.types import new_id, utcnow
from exchange.transfers import clock
from exchange.transfers.errors import (
    AuthorityNotAccepted,
    ContentPurged,
    ExportUnreadable,
    LimitExceeded,
    RecordsInvalid,
    TransferNotFound,
    TransitionNotAllowed,
)
from exchange.transfers.lifecycle import OPEN, TERMINAL, allowed
from exchange.transfers.models import (
    AnyTransfer,
    ChildDraft,
    Transfer,
    TransferChild,
    TransferDraft,
    TransferTransition,
)
from exchange.transfers.schemas import (
    AcceptChild,
    DeclineChild,
    TransferStatus,
    Urgency,
    Withdraw,
)
from exchange.vault import service as vault


@dataclass(slots=True)
class PreparedRecords:
    """Records ready to send, with the warnings found in them."""

    records: list[ChildRecord]
    warnings: list[Problem]


def clock_start() -> clock.ClockStart:
    """When the 15 working days start under this deployment's procedures."""
    return clock.ClockStart(get_settings().conference_clock_start)


def prepare_records(session: Session, documents: Sequence[dict[str, Any]]) -> PreparedRecords:
    """Validate canonical records; any error refuses them all with every problem listed."""
    context = authorities.rule_context(session)
    records: list[ChildRecord] = []
    problems: list[Problem] = []
    for i, document in enumerate(documents):
        if not isinstance(document, dict):
            problems.append(
                Problem(
                    code="type-wrong",
                    severity=Severity.ERROR,
                    message="A record must be a JSON object.",
                    fix="Send each record as an object.",
                    pointer=f"/records/{i}",
                )
            )
            continue
        report = validate_document(document, context)
        problems.extend(
            p.model_copy(update={"pointer": f"/records/{i}{p.pointer or ''}"})
            for p in report.problems
        )
        if report.record is not None:
            records.append(report.record)
    _refuse_errors(problems)
    return PreparedRecords(records, [p for p in problems if p.severity == Severity.WARNING])


def _refuse_errors(problems: list[Problem]) -> None:
    errors = [p for p in problems if p.severity != Severity.WARNING]
    if errors:
        raise RecordsInvalid(
            f"{len(errors)} problem(s) must be fixed before the case can be sent.",
            fix="Correct each problem listed; warnings alone do not stop a transfer.",
            problems=[p.model_dump(mode="json", exclude_none=True) for p in problems],
        )


def prepare_export(session: Session, adapter_name: str, files: dict[str, str]) -> PreparedRecords:
    """Convert a raw export with its adapter; refuse it if it cannot be read or has errors."""
    try:
        adapter = get_adapter(adapter_name)(authorities.rule_context(session))
    except UnknownAdapter as exc:
        raise ExportUnreadable(
            str(exc), fix="Use a name from GET /v1/adapters or `exchange adapters list`."
        ) from exc
    decoded: dict[str, bytes] = {}
    for name, content in files.items():
        try:
            decoded[name] = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ExportUnreadable(
                f"File {name!r} is not valid base64.", fix="Send each file's bytes base64-encoded."
            ) from exc
    if len(decoded) == 1:
        [(name, data)] = decoded.items()
        source = Source.from_bytes(data, name)
    else:
        source = Source.from_files(decoded)
    records: list[ChildRecord] = []
    problems: list[Problem] = []
    try:
        for result in adapter.read(source):
            problems.extend(result.problems)
            if result.record is not None:
                records.append(result.record)
            if len(records) > get_settings().max_children_per_transfer:
                break
    except InputUnreadable as exc:
        raise ExportUnreadable(
            exc.problem.message,
            fix=exc.problem.fix,
            problems=[exc.problem.model_dump(mode="json", exclude_none=True)],
        ) from exc
    _refuse_errors(problems)
    if not records:
        raise ExportUnreadable("The export holds no child records.", fix="Check the export.")
    return PreparedRecords(records, [p for p in problems if p.severity == Severity.WARNING])


def resolve_receiver(session: Session, principal: Principal, code: str) -> authorities.Authority:
    """The receiving authority: known, not abolished, not the sender."""
    today = dt.date.today()
    row = authorities.find_authority(session, code, today=today)
    if row is None:
        raise AuthorityNotAccepted(
            f"No authority has the code {code!r}.",
            fix="Give the receiving authority's DfE 3-digit or GSS code (GET /v1/authorities).",
        )
    if not row.is_current_on(today):
        successors = [authorities.find_authority(session, c) for c in row.successor_gss_codes]
        names = ", ".join(f"{s.name} ({s.dfe_code})" for s in successors if s) or "none recorded"
        raise AuthorityNotAccepted(
            f"{row.name} was abolished on {row.end_date}; its successors: {names}.",
            fix="Send to the successor authority that now covers the child's address.",
        )
    if row.gss_code == principal.authority:
        raise AuthorityNotAccepted(
            "A transfer cannot be sent to the authority sending it.",
            fix="Give the receiving authority's code.",
        )
    return row


def _transition(
    session: Session,
    transfer: Transfer,
    to: TransferStatus,
    principal: Principal,
    note: str | None = None,
) -> None:
    current = TransferStatus(transfer.status)
    if not allowed(current, to):
        raise TransitionNotAllowed(
            f"The transfer is {current.value}; it cannot become {to.value}.",
            fix="Read the transfer's current status; the allowed steps are in the API docs.",
            current_status=current.value,
        )
    assert principal.authority is not None
    session.add(
        TransferTransition(
            transfer_id=transfer.id,
            at=utcnow(),
            from_status=current.value,
            to_status=to.value,
            authority=principal.authority,
            client_id=principal.client_id,
            acting_user=principal.acting_user,
            note=note,
        )
    )
    transfer.status = to.value
    if to in TERMINAL:
        transfer.closed_at = utcnow()


def _refresh_clock(transfer: AnyTransfer) -> None:
    dates = clock.transfer_clock(
        sent_at=transfer.created_at,
        received_at=transfer.received_at,
        acknowledged_at=transfer.acknowledged_at,
        accepted_at=transfer.decided_at,
        start=clock_start(),
    )
    transfer.acknowledgement_due = dates.acknowledgement_due
    transfer.conference_due = dates.conference_due
    transfer.conference_clock_started = dates.conference_clock_started


@dataclass(slots=True)
class NewTransfer:
    """A transfer built in memory (its records sealed), to be written with others at once."""

    transfer: TransferDraft
    blobs: list[dict[str, Any]]
    transition: dict[str, Any]


def build_transfer(
    principal: Principal,
    *,
    reason: str,
    legal_basis: str,
    urgency: Urgency,
    prepared: PreparedRecords,
    receiver_gss: str,
    supersedes: Transfer | None = None,
) -> NewTransfer:
    """A new transfer with its children, records sealed and clock set; nothing written yet."""
    assert principal.authority is not None
    limit = get_settings().max_children_per_transfer
    if len(prepared.records) > limit:
        raise LimitExceeded(
            f"A transfer carries at most {limit} children.",
            fix="Send the children in several transfers.",
        )
    now = utcnow()
    transfer = TransferDraft(
        id=new_id(),
        from_authority=principal.authority,
        to_authority=receiver_gss,
        status=TransferStatus.SENT.value,
        reason=reason,
        legal_basis=legal_basis,
        urgency=urgency.value,
        created_at=now,
        created_by_client=principal.client_id,
        created_by_user=principal.acting_user,
    )
    if supersedes is None:
        _refresh_clock(transfer)
    else:
        # An update replaces the content, not the statutory clock.
        transfer.supersedes_id = supersedes.id
        transfer.received_at = supersedes.received_at
        transfer.acknowledged_at = supersedes.acknowledged_at
        transfer.acknowledgement_due = supersedes.acknowledgement_due
        transfer.conference_due = supersedes.conference_due
        transfer.conference_clock_started = supersedes.conference_clock_started
        transfer.status = supersedes.status
    warnings = json.dumps([p.model_dump(mode="json", exclude_none=True) for p in prepared.warnings])
    blobs = []
    for position, record in enumerate(prepared.records, 1):
        blob = vault.sealed_row("record", record.model_dump_json(exclude_none=True).encode("utf-8"))
        blobs.append(blob)
        refs = record_pseudonyms(record, principal.authority)
        transfer.children.append(
            ChildDraft(
                id=new_id(),
                transfer_id=transfer.id,
                position=position,
                record_blob_id=blob["id"],
                nhs_ref=next((r for r in refs if r.startswith("nhs:")), None),
                la_child_ref=next((r for r in refs if r.startswith("la:")), None),
                problems_json=warnings,
            )
        )
    transition = {
        "transfer_id": transfer.id,
        "at": now,
        "from_status": None,
        "to_status": transfer.status,
        "authority": principal.authority,
        "client_id": principal.client_id,
        "acting_user": principal.acting_user,
        "note": f"update of {supersedes.id}" if supersedes is not None else None,
    }
    return NewTransfer(transfer, blobs, transition)


_TRANSFER_COLUMNS = tuple(c.key for c in Transfer.__table__.columns)
_CHILD_COLUMNS = tuple(c.key for c in TransferChild.__table__.columns)
_TRANSFERS = table_of(Transfer)
_CHILDREN = table_of(TransferChild)
_TRANSITIONS = table_of(TransferTransition)


def write_transfers(
    session: Session, new: Sequence[NewTransfer], *, blobs_written: bool = False
) -> None:
    """Insert built transfers (and their sealed records, unless ``blobs_written``): one
    round trip per table however many there are (see exchange.db.bulk).

    The transfers stay out of the session (they are not loaded objects); read them back with
    :func:`load` to change them.
    """
    if not new:
        return
    if not blobs_written:
        vault.insert_rows(session, [blob for n in new for blob in n.blobs])
    bulk.insert_together(
        session,
        [
            (_TRANSFERS, [{c: getattr(n.transfer, c) for c in _TRANSFER_COLUMNS} for n in new]),
            (
                _CHILDREN,
                [
                    {c: getattr(child, c) for c in _CHILD_COLUMNS}
                    for n in new
                    for child in n.transfer.children
                ],
            ),
            (_TRANSITIONS, [n.transition for n in new]),
        ],
    )


def create_transfer(
    session: Session,
    principal: Principal,
    *,
    reason: str,
    legal_basis: str,
    urgency: Urgency,
    prepared: PreparedRecords,
    receiver: authorities.Authority | AuthorityRow,
    supersedes: Transfer | None = None,
) -> TransferDraft:
    """Store a new transfer: records sealed, clock set, the first transition and audit event."""
    new = build_transfer(
        principal,
        reason=reason,
        legal_basis=legal_basis,
        urgency=urgency,
        prepared=prepared,
        receiver_gss=receiver.gss_code,
        supersedes=supersedes,
    )
    write_transfers(session, [new])
    audit_sent(session, principal, new.transfer)
    return new.transfer


def _sent_event(principal: Principal, transfer: AnyTransfer) -> Event:
    return Event(
        action="transfer.updated" if transfer.supersedes_id else "transfer.sent",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=transfer.to_authority,
        purpose=transfer.legal_basis,
        child_refs=tuple(child_refs(transfer)),
        details={"children": len(transfer.children), "urgency": transfer.urgency},
    )


def audit_sent(session: Session, principal: Principal, transfer: AnyTransfer) -> None:
    """The audit event of a transfer sent (or of an update sent). Appending to the chain locks
    its head until the commit, so it should be the transaction's last write."""
    event = _sent_event(principal, transfer)
    record_event(
        session,
        action=event.action,
        actor=event.actor,
        transfer_id=event.transfer_id,
        counterpart_authority=event.counterpart_authority,
        purpose=event.purpose,
        child_refs=event.child_refs,
        details=event.details,
    )


def audit_sent_many(
    session: Session, principal: Principal, transfers: Sequence[AnyTransfer]
) -> None:
    """The audit events of transfers sent together, appended to the chain in one step."""
    if len(transfers) == 1:
        audit_sent(session, principal, transfers[0])
    else:
        record_events(session, [_sent_event(principal, t) for t in transfers])


def _is_party(transfer: Transfer, principal: Principal) -> bool:
    return principal.authority in (transfer.from_authority, transfer.to_authority)


def load(
    session: Session, principal: Principal, transfer_id: str, *, mark_received: bool = True
) -> Transfer:
    """A transfer the caller's authority sent or received (anything else: not found)."""
    transfer = session.get(Transfer, transfer_id) if len(transfer_id) <= 36 else None
    if transfer is None or not _is_party(transfer, principal):
        raise TransferNotFound(
            f"No transfer {transfer_id!r} for your authority.",
            fix="Check the id; only the sending and receiving authorities can see a transfer.",
        )
    if (
        mark_received
        and transfer.to_authority == principal.authority
        and transfer.status == TransferStatus.SENT
    ):
        transfer.received_at = utcnow()
        _transition(session, transfer, TransferStatus.RECEIVED, principal, "first read")
        _refresh_clock(transfer)
        record_event(
            session,
            action="transfer.received",
            actor=principal.actor,
            transfer_id=transfer.id,
            counterpart_authority=transfer.from_authority,
        )
    return transfer


def child_refs(transfer: AnyTransfer) -> list[str]:
    """The pseudonyms of the transfer's children (for audit events)."""
    return sorted({r for c in transfer.children for r in (c.nhs_ref, c.la_child_ref) if r})


def _require_receiver(transfer: Transfer, principal: Principal, action: str) -> None:
    if transfer.to_authority != principal.authority:
        raise TransitionNotAllowed(
            f"Only the receiving authority can {action} a transfer.",
            fix="This step belongs to the receiving authority.",
            current_status=transfer.status,
        )


def _require_sender(transfer: Transfer, principal: Principal, action: str) -> None:
    if transfer.from_authority != principal.authority:
        raise TransitionNotAllowed(
            f"Only the sending authority can {action} a transfer.",
            fix="This step belongs to the sending authority.",
            current_status=transfer.status,
        )


def acknowledge(session: Session, principal: Principal, transfer_id: str) -> Transfer:
    """The receiving authority acknowledges; the conference clock starts (by default)."""
    transfer = load(session, principal, transfer_id)
    _require_receiver(transfer, principal, "acknowledge")
    _transition(session, transfer, TransferStatus.ACKNOWLEDGED, principal)
    transfer.acknowledged_at = utcnow()
    _refresh_clock(transfer)
    record_event(
        session,
        action="transfer.acknowledged",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=transfer.from_authority,
        child_refs=child_refs(transfer),
    )
    return transfer


def _child(transfer: Transfer, position: int) -> TransferChild:
    for child in transfer.children:
        if child.position == position:
            return child
    raise TransferNotFound(
        f"The transfer has no child at position {position}.",
        fix=f"Positions run from 1 to {len(transfer.children)}.",
    )


def decide_child(
    session: Session,
    principal: Principal,
    transfer_id: str,
    position: int,
    decision: AcceptChild | DeclineChild,
) -> Transfer:
    """Accept or decline one child; when every child is decided the transfer closes."""
    transfer = load(session, principal, transfer_id)
    _require_receiver(transfer, principal, "accept or decline")
    if transfer.status != TransferStatus.ACKNOWLEDGED:
        raise TransitionNotAllowed(
            f"The transfer is {transfer.status}; children are accepted or declined once it is acknowledged.",
            fix="Acknowledge the transfer first."
            if transfer.status in OPEN
            else "The transfer is closed.",
            current_status=transfer.status,
        )
    child = _child(transfer, position)
    if child.status != "pending":
        raise TransitionNotAllowed(
            f"Child {position} was already {child.status}.",
            fix="Each child is decided once.",
            current_status=transfer.status,
        )
    now = utcnow()
    child.decided_at = now
    child.decided_by_user = principal.acting_user
    if isinstance(decision, AcceptChild):
        child.status = "accepted"
        child.receiver_child_id = decision.receiver_child_id
        child.transfer_in_conference_date = decision.transfer_in_conference_date
    else:
        child.status = "declined"
        child.decline_reason = decision.reason
    statuses = {c.status for c in transfer.children}
    if "pending" not in statuses:
        transfer.decided_at = now
        outcome = (
            TransferStatus.ACCEPTED
            if statuses == {"accepted"}
            else TransferStatus.DECLINED
            if statuses == {"declined"}
            else TransferStatus.PARTIALLY_ACCEPTED
        )
        _transition(session, transfer, outcome, principal)
        _refresh_clock(transfer)
    record_event(
        session,
        action=f"child.{child.status}",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=transfer.from_authority,
        child_refs=[r for r in (child.nhs_ref, child.la_child_ref) if r],
        details={"position": position},
    )
    return transfer


def withdraw(session: Session, principal: Principal, transfer_id: str, body: Withdraw) -> Transfer:
    """The sending authority withdraws a transfer not yet decided."""
    transfer = load(session, principal, transfer_id)
    _require_sender(transfer, principal, "withdraw")
    _transition(session, transfer, TransferStatus.WITHDRAWN, principal, body.reason)
    transfer.withdrawn_reason = body.reason
    record_event(
        session,
        action="transfer.withdrawn",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=transfer.to_authority,
        child_refs=child_refs(transfer),
    )
    return transfer


def supersede(
    session: Session,
    principal: Principal,
    transfer: Transfer,
    prepared: PreparedRecords,
    note: str | None,
) -> TransferDraft:
    """Replace an open transfer's records with updated ones: a new transfer supersedes it."""
    _require_sender(transfer, principal, "update")
    if not allowed(TransferStatus(transfer.status), TransferStatus.SUPERSEDED):
        raise TransitionNotAllowed(
            f"The transfer is {transfer.status}; only an open transfer can be updated.",
            fix="Send a new transfer instead.",
            current_status=transfer.status,
        )
    receiver = session.get(AuthorityRow, transfer.to_authority)
    assert receiver is not None
    newer = create_transfer(
        session,
        principal,
        reason=transfer.reason,
        legal_basis=transfer.legal_basis,
        urgency=Urgency(transfer.urgency),
        prepared=prepared,
        receiver=receiver,
        supersedes=transfer,
    )
    _transition(
        session, transfer, TransferStatus.SUPERSEDED, principal, note or f"superseded by {newer.id}"
    )
    transfer.superseded_by_id = newer.id
    return newer


def read_records(
    session: Session,
    principal: Principal,
    transfer: Transfer,
    fmt: str,
    *,
    for_person: str | None = None,
) -> list[ChildRecord]:
    """The transfer's records (a read of case content: audited)."""
    if transfer.content_purged_at is not None:
        raise ContentPurged(
            f"The case content was purged on {transfer.content_purged_at:%Y-%m-%d} at the end of retention.",
            fix="The receiving authority holds its own copy since acceptance.",
        )
    records = []
    for child in transfer.children:
        if child.record_blob_id is None:
            continue
        records.append(
            ChildRecord.model_validate_json(vault.open_blob(session, child.record_blob_id))
        )
    record_event(
        session,
        action="record.read",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=transfer.to_authority
        if principal.authority == transfer.from_authority
        else transfer.from_authority,
        child_refs=child_refs(transfer),
        details={"format": fmt, **({"for_person": for_person} if for_person else {})},
    )
    return records


def identifier_refs(
    principal: Principal, nhs_number: str | None, la_child_id: str | None, la_authority: str | None
) -> list[str]:
    """Pseudonyms to look a child up by, as the transfers table stores them."""
    from exchange.audit.service import la_child_pseudonym, nhs_pseudonym

    refs = []
    if nhs_number:
        refs.append(nhs_pseudonym(nhs_number))
    if la_child_id:
        authority = la_authority or principal.authority or ""
        refs.append(la_child_pseudonym(authority, la_child_id))
    return refs
