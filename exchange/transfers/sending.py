"""Sending transfers, one or a batch, in a small fixed number of statements.

Each item is checked first (its body, the receiver, its records) with nothing written. The
valid ones are then written together: their sealed records and responses, their Idempotency-Key
claims (``INSERT ... ON CONFLICT DO NOTHING``: an item whose key is already held is not sent
again but replays the stored response), the transfers with their children and first
transitions, and last the audit events, appended to the chain in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from exchange.authorities.auth import Principal
from exchange.db.types import utcnow
from exchange.errors import ExchangeError
from exchange.transfers import idempotency, service
from exchange.transfers.errors import IdempotencyInProgress, RequestBodyInvalid
from exchange.transfers.models import IdempotencyRecord
from exchange.transfers.schemas import TransferCreate, TransferOut
from exchange.transfers.views import transfer_out
from exchange.vault import service as vault
from exchange.vault.models import Blob


def parse(model: type[Any], document: dict[str, Any]) -> Any:
    """``document`` as ``model``, or a 422 problem listing each field that does not fit."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"pointer": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise RequestBodyInvalid(
            "The body does not match what this endpoint takes.",
            fix="Correct the fields listed in errors (see the API docs).",
            errors=errors,
        ) from exc


@dataclass(frozen=True, slots=True)
class SendItem:
    """One transfer to send: its Idempotency-Key, the request's fingerprint and its body."""

    key: str
    fingerprint: str
    document: dict[str, Any]


@dataclass(slots=True)
class SendResult:
    """What became of an item: created, replayed, or refused with a problem."""

    key: str
    status: int
    body: dict[str, Any] | None = None  # a replayed response
    content: bytes | None = None  # a new transfer's response, as JSON
    transfer: TransferOut | None = None
    transfer_id: str | None = None
    replayed: bool = False
    error: ExchangeError | None = None


@dataclass(slots=True)
class _Ready:
    index: int
    new: service.NewTransfer
    out: TransferOut
    content: bytes
    response: dict[str, Any]


def _prepare(session: Session, principal: Principal, document: dict[str, Any]) -> Any:
    body: TransferCreate = parse(TransferCreate, document)
    receiver = service.resolve_receiver(session, principal, body.to_authority)
    if body.records is not None:
        prepared = service.prepare_records(session, body.records)
    else:
        assert body.export is not None
        prepared = service.prepare_export(
            session, body.export.adapter, {f.name: f.content_base64 for f in body.export.files}
        )
    return service.build_transfer(
        principal,
        reason=body.reason,
        legal_basis=body.legal_basis,
        urgency=body.urgency,
        prepared=prepared,
        receiver_gss=receiver.gss_code,
    )


def _replayed(session: Session, item: SendItem, row: IdempotencyRecord) -> SendResult:
    try:
        replay = idempotency.replay(session, row, item.fingerprint)
    except ExchangeError as exc:
        return SendResult(item.key, exc.status, error=exc)
    return SendResult(
        item.key,
        replay.status_code,
        body=replay.body,
        transfer_id=row.transfer_id,
        replayed=True,
    )


def send(session: Session, principal: Principal, items: Sequence[SendItem]) -> list[SendResult]:
    """Send each item once per Idempotency-Key; one item's problem does not stop the others.

    The audit events are the last writes; the caller commits.
    """
    results: list[SendResult | None] = [None] * len(items)
    ready: list[_Ready] = []
    refused: dict[int, ExchangeError] = {}
    now = utcnow()
    for index, item in enumerate(items):
        try:
            new = _prepare(session, principal, item.document)
        except ExchangeError as exc:
            refused[index] = exc
            continue
        out = transfer_out(session, new.transfer, now=now, with_problems=True)
        content = out.model_dump_json().encode("utf-8")
        response = vault.sealed_row("idempotent-response", content)
        ready.append(_Ready(index, new, out, content, response))

    # A request that cannot be sent now may repeat one that was: the first response replays.
    if refused:
        held = idempotency.held(
            session, client_id=principal.client_id, keys=[items[i].key for i in refused]
        )
        for index, problem in refused.items():
            row = held.get(items[index].key)
            results[index] = (
                _replayed(session, items[index], row)
                if row is not None
                else SendResult(items[index].key, problem.status, error=problem)
            )

    # Every blob at once, before the claims that name the responses; an item not sent leaves
    # none behind (see _claim).
    vault.insert_rows(session, [b for r in ready for b in (r.response, *r.new.blobs)])
    created = _claim(session, principal, items, ready, results)
    service.write_transfers(session, [r.new for r in created], blobs_written=True)
    for r in created:
        results[r.index] = SendResult(
            items[r.index].key,
            201,
            content=r.content,
            transfer=r.out,
            transfer_id=r.new.transfer.id,
        )
    service.audit_sent_many(session, principal, [r.new.transfer for r in created])
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _claim(
    session: Session,
    principal: Principal,
    items: Sequence[SendItem],
    ready: list[_Ready],
    results: list[SendResult | None],
) -> list[_Ready]:
    """Claim the keys of the ready items; those whose key is held replay instead."""
    created: list[_Ready] = []
    waiting = ready
    for _attempt in range(2):  # a second round for keys whose old claim had expired
        stored = idempotency.claim(
            session,
            client_id=principal.client_id,
            claims=[
                idempotency.Claim(
                    key=items[r.index].key,
                    fingerprint=items[r.index].fingerprint,
                    status_code=201,
                    response_blob_id=r.response["id"],
                    transfer_id=r.new.transfer.id,
                )
                for r in waiting
            ],
        )
        created.extend(r for r in waiting if r.response["id"] in stored)
        waiting = [r for r in waiting if r.response["id"] not in stored]
        if not waiting:
            break
        held = idempotency.held(
            session, client_id=principal.client_id, keys=[items[r.index].key for r in waiting]
        )
        again = []
        for r in waiting:
            row = held.get(items[r.index].key)
            if row is None:
                again.append(r)  # held by an expired claim, now forgotten
            else:
                results[r.index] = _replayed(session, items[r.index], row)
        waiting = again
    for r in waiting:  # an expired key claimed anew by another request meanwhile
        results[r.index] = SendResult(
            items[r.index].key,
            409,
            error=IdempotencyInProgress(
                "Another request with this Idempotency-Key is being processed.",
                fix="Retry in a moment; the first response will be replayed.",
            ),
        )
    kept = {r.response["id"] for r in created}
    orphans = [
        b["id"] for r in ready if r.response["id"] not in kept for b in (r.response, *r.new.blobs)
    ]
    if orphans:
        session.execute(delete(Blob).where(Blob.id.in_(orphans)))
    return created
