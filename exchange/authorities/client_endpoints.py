"""Managing API clients (the admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from exchange.authorities import clients
from exchange.authorities.auth import AdminPrincipal
from exchange.authorities.clients import ClientCreate, ClientOut, IssuedToken
from exchange.db import SessionDep, committing

router = APIRouter(prefix="/v1/clients", tags=["clients"])
ClientId = Annotated[str, Path(max_length=36)]
RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid token."},
    403: {"description": "Not an admin client."},
}


@router.post(
    "",
    status_code=201,
    response_model=IssuedToken,
    responses={**RESPONSES, 422: {"description": "Not valid."}},
)
@committing
def create_client(
    session: SessionDep, principal: AdminPrincipal, body: ClientCreate
) -> IssuedToken:
    """Create an API client; its token is in this response only."""
    return clients.create_client(session, body, actor=principal.actor)


@router.get("", response_model=list[ClientOut], responses=RESPONSES)
@committing
def list_clients(session: SessionDep, principal: AdminPrincipal) -> list[ClientOut]:
    """Every API client (never their tokens)."""
    return [clients.client_out(c) for c in clients.list_clients(session)]


@router.post(
    "/{client_id}/revoke",
    response_model=ClientOut,
    responses={**RESPONSES, 404: {"description": "No such client."}},
)
@committing
def revoke_client(session: SessionDep, principal: AdminPrincipal, client_id: ClientId) -> ClientOut:
    """Revoke a client's tokens at once."""
    return clients.revoke_client(session, client_id, actor=principal.actor)


@router.post(
    "/{client_id}/rotate",
    response_model=IssuedToken,
    responses={**RESPONSES, 404: {"description": "No such client."}},
)
@committing
def rotate_client(
    session: SessionDep, principal: AdminPrincipal, client_id: ClientId
) -> IssuedToken:
    """Issue a new token; the old one works for the configured grace period only."""
    return clients.rotate_client(session, client_id, actor=principal.actor)
