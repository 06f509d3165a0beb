"""The authority registry over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query

from exchange.authorities import repository
from exchange.authorities.models import AuthorityRow
from exchange.authorities.schemas import AuthorityList, AuthorityOut, AuthorityRef
from exchange.db import SessionDep, committing
from exchange.errors import NotFound

router = APIRouter(prefix="/v1/authorities", tags=["authorities"])


def _out(row: AuthorityRow, successors: list[AuthorityRow], today: dt.date) -> AuthorityOut:
    return AuthorityOut(
        gss_code=row.gss_code,
        dfe_code=row.dfe_code,
        name=row.name,
        short_name=row.short_name,
        kind=row.kind,
        region=row.region,
        start_date=row.start_date,
        end_date=row.end_date,
        current=row.is_current_on(today),
        successors=[
            AuthorityRef(gss_code=s.gss_code, dfe_code=s.dfe_code, name=s.name) for s in successors
        ],
    )


@router.get("", response_model=AuthorityList)
@committing
def list_authorities(
    session: SessionDep,
    current: Annotated[bool | None, Query(description="Only authorities that exist today.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the name.")] = None,
) -> AuthorityList:
    """English children's services authorities, current and abolished."""
    today = dt.date.today()
    rows = repository.list_authorities(session, current_on=today if current else None, search=q)
    by_gss = {row.gss_code: row for row in repository.list_authorities(session)}
    items = [
        _out(row, [by_gss[c] for c in row.successor_gss_codes.split() if c in by_gss], today)
        for row in rows
    ]
    return AuthorityList(items=items, count=len(items))


@router.get("/{code}", response_model=AuthorityOut)
@committing
def get_authority(
    session: SessionDep,
    code: Annotated[str, Path(max_length=20, description="DfE 3-digit code or GSS code.")],
) -> AuthorityOut:
    """One authority, by its DfE 3-digit code (e.g. 202) or its GSS code (e.g. E09000007)."""
    today = dt.date.today()
    row = repository.get_authority(session, code, today=today)
    if row is None:
        raise NotFound(
            f"No authority has the code {code!r}.",
            fix="Give a DfE 3-digit code (e.g. 202) or a GSS code (e.g. E09000007).",
        )
    return _out(row, repository.get_many(session, row.successor_gss_codes.split()), today)
