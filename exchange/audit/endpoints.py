"""The audit log and reports for auditors: who sent, received and looked at what."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from exchange.audit import queries, reports
from exchange.audit.queries import EventFilter, EventOut
from exchange.audit.service import record_event
from exchange.audit.verify import verify_chain
from exchange.authorities import repository as authorities
from exchange.authorities.auth import AuditorPrincipal, Principal, StreamingAuditorPrincipal
from exchange.db import SessionDep, StreamingSessionDep, committing
from exchange.db.types import utcnow
from exchange.errors import ExchangeError, NotFound
from exchange.transfers.service import identifier_refs

router = APIRouter(tags=["audit"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid token."},
    403: {"description": "Not an auditor client."},
}


class EventPage(BaseModel):
    """A page of audit events, newest first."""

    items: list[EventOut]
    next_cursor: str | None


class VerifyOut(BaseModel):
    """Whether the log is intact, and if not, the first broken event."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None
    reason: str | None


class AuditQueryInvalid(ExchangeError):
    """The question cannot be answered as asked."""

    status, code, title = 422, "audit-query-invalid", "Audit query not valid"


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    # A time without an offset is read as UTC, the log's own time.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _authority_code(session: SessionDep, code: str | None) -> str | None:
    if not code:
        return None
    row = authorities.get_authority(session, code)
    if row is None:
        raise NotFound(f"No authority has the code {code!r}.", fix="Give a DfE or GSS code.")
    return row.gss_code


def _filter(
    session: SessionDep,
    principal: Principal,
    *,
    authority: str | None,
    action: str | None,
    outcome: str | None,
    occurred_from: dt.datetime | None,
    occurred_to: dt.datetime | None,
    transfer_id: str | None,
    acting_user: str | None,
    child_nhs_number: str | None,
    child_la_id: str | None,
    child_la_authority: str | None,
) -> EventFilter:
    la_authority = _authority_code(session, child_la_authority) if child_la_authority else None
    if child_la_id and la_authority is None:
        la_authority = principal.authority
        if la_authority is None:
            raise AuditQueryInvalid(
                "An LA child id is the id of one authority's child: say which authority.",
                fix="Give child_la_authority (a DfE or GSS code) with child_la_id.",
            )
    refs = identifier_refs(principal, child_nhs_number, child_la_id, la_authority)
    occurred_from, occurred_to = _utc(occurred_from), _utc(occurred_to)
    return EventFilter(
        scope_authority=principal.authority,
        authority=_authority_code(session, authority),
        action=action,
        outcome=outcome,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        transfer_id=transfer_id,
        acting_user=acting_user,
        child_refs=refs,
    )


def _audit_query(session: SessionDep, principal: Principal, what: str, where: EventFilter) -> None:
    # An auditor's own questions are audited; a child looked for is named by pseudonym only.
    record_event(
        session,
        action=f"audit.{what}",
        actor=principal.actor,
        child_refs=where.child_refs,
        details={
            k: str(v)
            for k, v in {
                "authority": where.authority,
                "action": where.action,
                "transfer_id": where.transfer_id,
                "acting_user": where.acting_user,
                "from": where.occurred_from,
                "to": where.occurred_to,
            }.items()
            if v
        },
    )


@router.get("/v1/audit/events", response_model=EventPage, responses=RESPONSES)
@committing
def list_events(
    session: SessionDep,
    principal: AuditorPrincipal,
    authority: Annotated[
        str | None, Query(max_length=20, description="Events by or towards this authority.")
    ] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(max_length=20, description="success or denied.")] = None,
    occurred_from: dt.datetime | None = None,
    occurred_to: dt.datetime | None = None,
    transfer_id: Annotated[str | None, Query(max_length=36)] = None,
    acting_user: Annotated[str | None, Query(max_length=200)] = None,
    child_nhs_number: Annotated[
        str | None,
        Query(max_length=20, description="Pseudonymised by the service before the lookup."),
    ] = None,
    child_la_id: Annotated[str | None, Query(max_length=100)] = None,
    child_la_authority: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=30)] = None,
) -> EventPage:
    """Audit events, newest first (an authority's auditor sees only its own authority's)."""
    where = _filter(
        session,
        principal,
        authority=authority,
        action=action,
        outcome=outcome,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        transfer_id=transfer_id,
        acting_user=acting_user,
        child_nhs_number=child_nhs_number,
        child_la_id=child_la_id,
        child_la_authority=child_la_authority,
    )
    _audit_query(session, principal, "queried", where)
    rows, next_cursor = queries.page_events(session, where, limit=limit, cursor=cursor)
    return EventPage(items=[queries.event_out(e) for e in rows], next_cursor=next_cursor)


@router.get(
    "/v1/audit/events/export",
    responses={
        **RESPONSES,
        200: {
            "description": "Every matching event, oldest first, streamed.",
            "content": {"text/csv": {}, "application/jsonl": {}},
        },
    },
)
def export_events(
    session: StreamingSessionDep,
    principal: StreamingAuditorPrincipal,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
    authority: Annotated[str | None, Query(max_length=20)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    occurred_from: dt.datetime | None = None,
    occurred_to: dt.datetime | None = None,
    transfer_id: Annotated[str | None, Query(max_length=36)] = None,
    acting_user: Annotated[str | None, Query(max_length=200)] = None,
    child_nhs_number: Annotated[str | None, Query(max_length=20)] = None,
    child_la_id: Annotated[str | None, Query(max_length=100)] = None,
    child_la_authority: Annotated[str | None, Query(max_length=20)] = None,
) -> StreamingResponse:
    """Export matching events as CSV (formula cells neutralised) or JSON Lines."""
    where = _filter(
        session,
        principal,
        authority=authority,
        action=action,
        outcome=outcome,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        transfer_id=transfer_id,
        acting_user=acting_user,
        child_nhs_number=child_nhs_number,
        child_la_id=child_la_id,
        child_la_authority=child_la_authority,
    )
    _audit_query(session, principal, "exported", where)
    session.commit()  # the export is on record before a byte of it is sent
    events = queries.all_events(session, where)
    chunks: Iterator[str] = (
        queries.export_csv(events) if format == "csv" else queries.export_jsonl(events)
    )
    media = "text/csv" if format == "csv" else "application/jsonl"
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-events.{format}"'},
    )


@router.get("/v1/audit/verify", response_model=VerifyOut, responses=RESPONSES)
@committing
def verify(session: SessionDep, principal: AuditorPrincipal) -> VerifyOut:
    """Recompute the whole hash chain and name the first broken event, if any."""
    result = verify_chain(session)
    record_event(
        session, action="audit.verified", actor=principal.actor, details={"ok": str(result.ok)}
    )
    return VerifyOut(
        ok=result.ok,
        events=result.events,
        head_seq=result.head_seq,
        head_hash=result.head_hash,
        broken_seq=result.broken_seq,
        reason=result.reason,
    )


@router.get(
    "/v1/reports/{report}",
    responses={
        **RESPONSES,
        200: {"description": "JSON rows, or CSV.", "content": {"text/csv": {}}},
    },
)
@committing
def report(
    session: SessionDep,
    principal: AuditorPrincipal,
    report: Literal["timeliness", "activity", "volumes", "overdue"],
    authority: Annotated[str | None, Query(max_length=20)] = None,
    since: dt.date | None = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Timeliness per authority, activity per member of staff, volumes by month, overdue now."""
    scope = principal.authority or _authority_code(session, authority)
    if (
        principal.authority
        and authority
        and _authority_code(session, authority) != principal.authority
    ):
        scope = principal.authority  # an authority's auditor reports on its own authority only
    rows = build_report(session, report, authority=scope, since=since)
    record_event(
        session,
        action=f"report.{report}",
        actor=principal.actor,
        details={"authority": scope or "all"},
    )
    if format == "csv":
        return Response(reports.as_csv(rows), media_type="text/csv")
    return JSONResponse({"report": report, "rows": rows})


def build_report(
    session: SessionDep, name: str, *, authority: str | None, since: dt.date | None
) -> list[dict[str, Any]]:
    """One of the named reports as rows."""
    if name == "timeliness":
        return reports.timeliness(session, authority=authority, since=since)
    if name == "activity":
        return reports.activity(session, authority=authority, since=since)
    if name == "volumes":
        return reports.volumes(session, authority=authority, since=since)
    return reports.overdue(session, authority=authority, now=utcnow())
