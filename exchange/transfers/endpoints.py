"""The transfer API: send, list, inbox, read, acknowledge, decide, withdraw, update, correspond."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from exchange.adapters import UnknownAdapter, get_adapter
from exchange.api.requests import (
    check_json_media_type,
    parse_json_object,
    read_body,
    read_json_object,
)
from exchange.authorities import repository as authority_repository
from exchange.authorities.auth import AuthorityPrincipal, Principal
from exchange.canonical import ChildRecord
from exchange.config import get_settings
from exchange.db import SessionDep, committing, run_committing
from exchange.db.types import utcnow
from exchange.errors import ExchangeError, UnsupportedMediaType, problem_fields
from exchange.transfers import correspondence, idempotency, repository, sending, service
from exchange.transfers.errors import FormatNotAvailable, LimitExceeded, RequestBodyInvalid
from exchange.transfers.repository import TransferFilter
from exchange.transfers.schemas import (
    AcceptChild,
    BatchCreate,
    BatchOut,
    BatchResult,
    DeclineChild,
    DocumentOut,
    MessageIn,
    MessageOut,
    RecordsOut,
    RecordUpdate,
    TransferOut,
    TransferPage,
    TransferStatus,
    Withdraw,
)
from exchange.transfers.views import transfer_out

router = APIRouter(prefix="/v1", tags=["transfers"])

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid token."},
    403: {"description": "Not an authority client."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such transfer for your authority (existence is not disclosed)."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the transfer's current state (named in the problem)."}
}
TransferId = Annotated[str, Path(max_length=36, description="The transfer's id.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Unique per request; a retry with the same key and body replays the first response.",
    ),
]


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _model(model: BaseModel, status: int = 200) -> Response:
    """A model as the response, serialised once (the route's response_model documents it)."""
    return Response(model.model_dump_json(), status, media_type="application/json")


async def _idempotent(
    request: Request,
    principal: Principal,
    key_header: str | None,
    work: Any,
) -> JSONResponse:
    """Run ``work(session, document, row)`` once per Idempotency-Key; replay repeats."""
    key = idempotency.check_key(key_header)
    check_json_media_type(request)
    raw = await read_body(request)
    document = parse_json_object(raw)
    fingerprint = idempotency.request_hash(request.method, request.url.path, raw)
    session = request.state.session

    def run() -> JSONResponse:
        claimed = idempotency.begin(
            session, client_id=principal.client_id, key=key, fingerprint=fingerprint
        )
        if isinstance(claimed, idempotency.Replay):
            return _json(claimed.body, claimed.status_code, {"Idempotent-Replayed": "true"})
        status, body, transfer_id = work(session, document)
        idempotency.complete(
            session, claimed, status_code=status, body=body, transfer_id=transfer_id
        )
        headers = {"Location": f"/v1/transfers/{transfer_id}"} if transfer_id else None
        return _json(body, status, headers)

    return await run_committing(session, run)


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/TransferCreate"}}
            },
        }
    },
    responses={
        **AUTH,
        400: {"description": "Not JSON, or Idempotency-Key missing or malformed."},
        409: {"description": "The first request with this Idempotency-Key is still in progress."},
        413: {"description": "Body too large."},
        415: {"description": "Not application/json."},
        422: {
            "description": "Records not valid (every problem listed with its pointer), receiving "
            "authority unknown, abolished or the sender, export unreadable, key reused with "
            "another body, or a limit exceeded."
        },
    },
)
async def send_transfer(
    request: Request,
    session: SessionDep,
    principal: AuthorityPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Send a child's case (or a sibling group's) to another authority.

    Give canonical `records`, or a raw `export` with the adapter that reads it. Repeating the
    request with the same Idempotency-Key replays the first response (`Idempotent-Replayed: true`)
    and never creates a second transfer.
    """
    key = idempotency.check_key(idempotency_key)
    check_json_media_type(request)
    raw = await read_body(request)
    item = sending.SendItem(
        key,
        idempotency.request_hash(request.method, request.url.path, raw),
        parse_json_object(raw),
    )

    def run() -> Response:
        [result] = sending.send(session, principal, [item])
        if result.error is not None:
            raise result.error
        headers = {"Location": f"/v1/transfers/{result.transfer_id}"}
        if result.replayed:
            assert result.body is not None
            headers["Idempotent-Replayed"] = "true"
            return _json(result.body, result.status, headers)
        return Response(
            result.content, result.status, headers=headers, media_type="application/json"
        )

    return await run_committing(session, run)


def _page(
    session: SessionDep,
    principal: Principal,
    *,
    box: str,
    status: list[TransferStatus] | None,
    child_nhs_number: str | None,
    child_la_id: str | None,
    child_la_authority: str | None,
    created_from: dt.date | None,
    created_to: dt.date | None,
    overdue: bool | None,
    limit: int,
    cursor: str | None,
) -> TransferPage:
    assert principal.authority is not None
    la_authority = None
    if child_la_authority:
        row = authority_repository.get_authority(session, child_la_authority)
        la_authority = row.gss_code if row else child_la_authority
    refs = service.identifier_refs(principal, child_nhs_number, child_la_id, la_authority)
    now = utcnow()
    rows = repository.list_transfers(
        session,
        TransferFilter(
            authority=principal.authority,
            box=box,
            statuses=[s.value for s in status or []],
            child_refs=refs,
            created_from=created_from,
            created_to=created_to,
            overdue=overdue,
        ),
        limit=limit,
        cursor=cursor,
        now=now,
    )
    names: dict[str, Any] = {}
    items = [transfer_out(session, t, now=now, cache=names) for t in rows[:limit]]
    next_cursor = repository.encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return TransferPage(items=items, next_cursor=next_cursor)


LIST_PARAMS_DOC = "Newest first; follow next_cursor for the next page."


@router.get(
    "/transfers",
    response_model=TransferPage,
    responses={**AUTH, 400: {"description": "Bad cursor."}},
)
@committing
def list_transfers(
    session: SessionDep,
    principal: AuthorityPrincipal,
    box: Annotated[
        Literal["sent", "received", "all"], Query(description="Sent, received or both.")
    ] = "all",
    status: Annotated[list[TransferStatus] | None, Query(description="Only these states.")] = None,
    child_nhs_number: Annotated[
        str | None, Query(max_length=20, description="A child by NHS number.")
    ] = None,
    child_la_id: Annotated[
        str | None, Query(max_length=100, description="A child by LA child id.")
    ] = None,
    child_la_authority: Annotated[
        str | None,
        Query(
            max_length=20,
            description="DfE or GSS code of the authority whose id child_la_id is (default: yours).",
        ),
    ] = None,
    created_from: dt.date | None = None,
    created_to: dt.date | None = None,
    overdue: Annotated[
        bool | None, Query(description="Only overdue (true) or not overdue (false).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Transfers your authority sent or received. Newest first; follow next_cursor for more."""
    return _model(
        _page(
            session,
            principal,
            box=box,
            status=status,
            child_nhs_number=child_nhs_number,
            child_la_id=child_la_id,
            child_la_authority=child_la_authority,
            created_from=created_from,
            created_to=created_to,
            overdue=overdue,
            limit=limit,
            cursor=cursor,
        )
    )


@router.get(
    "/inbox", response_model=TransferPage, responses={**AUTH, 400: {"description": "Bad cursor."}}
)
@committing
def inbox(
    session: SessionDep,
    principal: AuthorityPrincipal,
    overdue: Annotated[
        bool | None, Query(description="Only overdue (true) or not (false).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Open transfers sent to your authority (sent, received, acknowledged), newest first."""
    return _model(
        _page(
            session,
            principal,
            box="received",
            status=[TransferStatus.SENT, TransferStatus.RECEIVED, TransferStatus.ACKNOWLEDGED],
            child_nhs_number=None,
            child_la_id=None,
            child_la_authority=None,
            created_from=None,
            created_to=None,
            overdue=overdue,
            limit=limit,
            cursor=cursor,
        )
    )


@router.get("/transfers/{transfer_id}", response_model=TransferOut, responses={**AUTH, **NOT_FOUND})
@committing
def get_transfer(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId
) -> Response:
    """One transfer. The receiving authority's first read marks it received."""
    transfer = service.load(session, principal, transfer_id)
    return _model(transfer_out(session, transfer, now=utcnow(), with_problems=True))


@router.post(
    "/transfers/{transfer_id}/acknowledge",
    response_model=TransferOut,
    responses={**AUTH, **NOT_FOUND, **CONFLICT},
)
@committing
def acknowledge(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId
) -> Response:
    """The receiving authority acknowledges the transfer (the conference clock starts, by default)."""
    transfer = service.acknowledge(session, principal, transfer_id)
    return _model(transfer_out(session, transfer, now=utcnow()))


@router.post(
    "/transfers/{transfer_id}/children/{position}/accept",
    response_model=TransferOut,
    responses={**AUTH, **NOT_FOUND, **CONFLICT, 422: {"description": "Body not valid."}},
)
@committing
def accept_child(
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    position: Annotated[int, Path(ge=1, le=1000)],
    body: AcceptChild,
) -> Response:
    """Accept a child, with your own id for them and the transfer-in conference date."""
    transfer = service.decide_child(session, principal, transfer_id, position, body)
    return _model(transfer_out(session, transfer, now=utcnow()))


@router.post(
    "/transfers/{transfer_id}/children/{position}/decline",
    response_model=TransferOut,
    responses={**AUTH, **NOT_FOUND, **CONFLICT, 422: {"description": "Body not valid."}},
)
@committing
def decline_child(
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    position: Annotated[int, Path(ge=1, le=1000)],
    body: DeclineChild,
) -> Response:
    """Decline a child, with the reason."""
    transfer = service.decide_child(session, principal, transfer_id, position, body)
    return _model(transfer_out(session, transfer, now=utcnow()))


@router.post(
    "/transfers/{transfer_id}/withdraw",
    response_model=TransferOut,
    responses={**AUTH, **NOT_FOUND, **CONFLICT, 422: {"description": "Body not valid."}},
)
@committing
def withdraw(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId, body: Withdraw
) -> Response:
    """The sending authority withdraws a transfer that is not yet decided."""
    transfer = service.withdraw(session, principal, transfer_id, body)
    return _model(transfer_out(session, transfer, now=utcnow()))


@router.post(
    "/transfers/{transfer_id}/updates",
    status_code=201,
    response_model=TransferOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RecordUpdate"}}
            },
        }
    },
    responses={
        **AUTH,
        **NOT_FOUND,
        **CONFLICT,
        400: {"description": "Idempotency-Key missing."},
        422: {"description": "Records not valid."},
    },
)
async def update_records(
    request: Request,
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Send updated records: a new transfer supersedes this one, keeping its statutory dates."""
    request.state.session = session

    def work(db: Any, document: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        body: RecordUpdate = sending.parse(RecordUpdate, document)
        transfer = service.load(db, principal, transfer_id, mark_received=False)
        prepared = service.prepare_records(db, body.records)
        newer = service.supersede(db, principal, transfer, prepared, body.note)
        return (
            201,
            transfer_out(db, newer, now=utcnow(), with_problems=True).model_dump(mode="json"),
            newer.id,
        )

    return await _idempotent(request, principal, idempotency_key, work)


@router.get(
    "/transfers/{transfer_id}/record",
    responses={
        **AUTH,
        **NOT_FOUND,
        200: {
            "description": "The records: JSON (canonical), CIN census XML, or DfE API JSON Lines.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RecordsOut"}},
                "application/xml": {},
                "application/jsonl": {},
            },
        },
        410: {"description": "Content purged at the end of retention."},
        422: {"description": "The records cannot be written in that format."},
    },
)
@committing
def get_record(
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    format: Annotated[
        Literal["canonical", "cin-census", "dfe-csc-api"],
        Query(description="canonical JSON, or a format your system can load."),
    ] = "canonical",
) -> Response:
    """The case content, as canonical records or rendered through an adapter's way back."""
    transfer = service.load(session, principal, transfer_id)
    records = service.read_records(session, principal, transfer, format)
    if format == "canonical":
        out = RecordsOut(
            transfer_id=transfer.id,
            records=[r.model_dump(mode="json", exclude_none=True) for r in records],
        )
        return JSONResponse(out.model_dump(mode="json"))
    return _render(records, format)


def _render(records: list[ChildRecord], format_name: str) -> Response:
    try:
        adapter = get_adapter(format_name)()
    except UnknownAdapter as exc:
        raise FormatNotAvailable(str(exc), fix="Ask for format=canonical.") from exc
    buffer = io.BytesIO()
    problems = adapter.write(records, buffer)
    errors = [p for p in problems if p.severity != "warning"]
    if errors:
        raise FormatNotAvailable(
            f"{len(errors)} record(s) cannot be written as {format_name}.",
            fix="Ask for format=canonical, which holds everything.",
            problems=[p.model_dump(mode="json", exclude_none=True) for p in problems],
        )
    media = "application/xml" if format_name == "cin-census" else "application/jsonl"
    headers = {"X-Exchange-Warnings": str(len(problems))} if problems else None
    return Response(buffer.getvalue(), media_type=media, headers=headers)


@router.post(
    "/transfers/{transfer_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses={
        **AUTH,
        **NOT_FOUND,
        410: {"description": "Content purged."},
        422: {"description": "Too long."},
    },
)
@committing
def post_message(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId, body: MessageIn
) -> MessageOut:
    """Send a message, ask a question or answer one."""
    transfer = service.load(session, principal, transfer_id)
    return correspondence.add_message(session, principal, transfer, body)


@router.get(
    "/transfers/{transfer_id}/messages",
    response_model=list[MessageOut],
    responses={**AUTH, **NOT_FOUND},
)
@committing
def get_messages(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId
) -> list[MessageOut]:
    """The messages on a transfer, oldest first."""
    transfer = service.load(session, principal, transfer_id)
    return correspondence.list_messages(session, principal, transfer)


@router.post(
    "/transfers/{transfer_id}/documents",
    status_code=201,
    response_model=DocumentOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The document's bytes; Content-Type is its media type.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={
        **AUTH,
        **NOT_FOUND,
        413: {"description": "Larger than the document size limit."},
        422: {
            "description": "Size or SHA-256 do not match what was declared, or too many documents."
        },
    },
)
async def post_document(
    request: Request,
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    x_document_title: Annotated[
        str, Header(max_length=500, description="The title (URL-encoded UTF-8).")
    ],
    x_content_sha256: Annotated[str, Header(description="SHA-256 of the bytes, 64 hex digits.")],
    content_type: Annotated[str, Header()] = "application/octet-stream",
    content_length: Annotated[str | None, Header()] = None,
) -> DocumentOut:
    """Upload a document: its size and SHA-256 are checked; it is stored encrypted."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type.startswith("multipart/"):
        raise UnsupportedMediaType(
            "Send the document's bytes as the body, not a form.",
            fix="Set Content-Type to the document's own type (e.g. application/pdf).",
        )
    size, sha256 = correspondence.check_document_headers(
        media_type, x_content_sha256, content_length
    )
    content = await correspondence.receive_document(
        request.stream(), declared_size=size, declared_sha256=sha256
    )
    title = unquote(x_document_title).strip() or "Untitled"

    def store() -> DocumentOut:
        transfer = service.load(session, principal, transfer_id)
        return correspondence.add_document(
            session,
            principal,
            transfer,
            title=title,
            media_type=media_type,
            content=content,
            sha256=sha256,
        )

    return await run_committing(session, store)


@router.get(
    "/transfers/{transfer_id}/documents",
    response_model=list[DocumentOut],
    responses={**AUTH, **NOT_FOUND},
)
@committing
def get_documents(
    session: SessionDep, principal: AuthorityPrincipal, transfer_id: TransferId
) -> list[DocumentOut]:
    """The documents of a transfer."""
    transfer = service.load(session, principal, transfer_id)
    return correspondence.list_documents(session, principal, transfer)


@router.get(
    "/transfers/{transfer_id}/documents/{document_id}",
    responses={
        **AUTH,
        **NOT_FOUND,
        200: {"description": "The document's bytes.", "content": {"application/octet-stream": {}}},
        410: {"description": "Purged."},
    },
)
@committing
def download_document(
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    document_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """Download a document (the sending and receiving authorities only)."""
    transfer = service.load(session, principal, transfer_id)
    document, content = correspondence.read_document(session, principal, transfer, document_id)
    return Response(
        content,
        media_type=document.media_type,
        headers={"X-Content-SHA256": document.sha256, "Content-Disposition": "attachment"},
    )


@router.post(
    "/transfers/batch",
    response_model=BatchOut,
    responses={
        **AUTH,
        413: {"description": "Body too large."},
        422: {
            "description": "The batch itself is not valid (each item's problems are in its result)."
        },
    },
)
async def send_batch(
    request: Request, session: SessionDep, principal: AuthorityPrincipal
) -> Response:
    """Send many transfers at once (transfer jobs): each item has its own Idempotency-Key and
    its own result; one item's failure does not stop the others."""
    document = await read_json_object(request)
    body: BatchCreate = sending.parse(BatchCreate, document)
    limit = get_settings().max_batch_items
    if len(body.items) > limit:
        raise LimitExceeded(
            f"A batch holds at most {limit} transfers; this one has {len(body.items)}.",
            fix="Send smaller batches.",
        )

    items = []
    refused: dict[int, BatchResult] = {}
    for index, entry in enumerate(body.items):
        try:
            key = idempotency.check_key(entry.idempotency_key)
        except ExchangeError as exc:
            refused[index] = BatchResult(
                idempotency_key=entry.idempotency_key,
                status=exc.status,
                problem=problem_fields(exc),
            )
            continue
        raw = orjson.dumps(entry.transfer, option=orjson.OPT_SORT_KEYS)
        fingerprint = idempotency.request_hash("POST", "/v1/transfers", raw)
        items.append((index, sending.SendItem(key, fingerprint, entry.transfer)))

    def run() -> bytes:
        sent = iter(sending.send(session, principal, [item for _, item in items]))
        positions = {index for index, _ in items}
        results = [
            refused[index].model_dump(mode="json")
            if index not in positions
            else _batch_result(next(sent))
            for index in range(len(body.items))
        ]
        return orjson.dumps({"results": results})

    return Response(await run_committing(session, run), media_type="application/json")


def _batch_result(result: sending.SendResult) -> dict[str, Any]:
    """One item's result as BatchResult writes it; a new transfer's response, already JSON (the
    one its Idempotency-Key replays), goes in as it is."""
    if result.content is not None:  # only a new transfer's result has it
        return {
            "idempotency_key": result.key,
            "status": result.status,
            "replayed": False,
            "transfer": orjson.Fragment(result.content),
            "problem": None,
        }
    return _batch_model(result).model_dump(mode="json")


def _batch_model(result: sending.SendResult) -> BatchResult:
    if result.error is not None:
        return BatchResult(
            idempotency_key=result.key, status=result.status, problem=problem_fields(result.error)
        )
    transfer = result.transfer or TransferOut.model_validate(result.body)
    return BatchResult(
        idempotency_key=result.key,
        status=result.status,
        replayed=result.replayed,
        transfer=transfer,
    )


@router.get(
    "/transfers/{transfer_id}/pack",
    responses={
        **AUTH,
        **NOT_FOUND,
        200: {
            "description": "The transfer pack: HTML (default, or Accept: text/html) or PDF.",
            "content": {"text/html": {}, "application/pdf": {}},
        },
        410: {"description": "Content purged at the end of retention."},
    },
)
@committing
def get_pack(
    request: Request,
    session: SessionDep,
    principal: AuthorityPrincipal,
    transfer_id: TransferId,
    format: Annotated[
        Literal["html", "pdf"] | None, Query(description="html or pdf (default: from Accept).")
    ] = None,
    for_person: Annotated[
        str | None,
        Query(
            max_length=100,
            description="A related person's id: a copy for them, leaving out every confidential "
            "address and everything withheld from them.",
        ),
    ] = None,
) -> Response:
    """The case as a receiving social worker reads it: who the child is, risks first, then the
    home, the legal status, the conference date and who to call; then the rest."""
    from exchange.pack.render import build_pack, render_html, render_pdf
    from exchange.pack.view import TransferFacts, name_of
    from exchange.transfers.clock import days_left, london_date
    from exchange.transfers.views import transfer_out

    wanted = format or ("pdf" if "application/pdf" in request.headers.get("accept", "") else "html")
    transfer = service.load(session, principal, transfer_id)
    records = service.read_records(
        session, principal, transfer, f"pack-{wanted}", for_person=for_person
    )
    now = utcnow()
    out = transfer_out(session, transfer, now=now)
    facts = TransferFacts(
        id=transfer.id,
        from_name=out.from_authority.name,
        to_name=out.to_authority.name,
        reason=transfer.reason,
        legal_basis=transfer.legal_basis,
        urgency=transfer.urgency,
        status=transfer.status,
        sent_on=f"{transfer.created_at:%d %B %Y}",
        conference_due=f"{transfer.conference_due.day} {transfer.conference_due:%B %Y}",
        working_days_left=days_left(transfer.conference_due, london_date(now)),
        conference_clock_started=transfer.conference_clock_started,
    )
    viewer_label = None
    if for_person is not None:
        person = next((p for r in records for p in r.related_people if p.id == for_person), None)
        if person is None:
            raise RequestBodyInvalid(
                f"No related person has the id {for_person!r}.",
                fix="Give the id of one of the records' related people.",
            )
        viewer_label = f"{name_of(person.names)} ({person.relationship.value.replace('_', ' ')})"
    pack = build_pack(
        records,
        facts,
        today=london_date(now),
        generated_at=now,
        viewer=for_person,
        viewer_label=viewer_label,
    )
    page = render_html(pack)
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    if wanted == "pdf":
        headers["Content-Disposition"] = f'inline; filename="transfer-pack-{transfer.id}.pdf"'
        return Response(render_pdf(page), media_type="application/pdf", headers=headers)
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
