"""Issuing, listing, revoking and rotating API clients' tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit.service import Actor, record_event
from exchange.authorities import repository
from exchange.authorities.auth import Role, hash_token, new_token
from exchange.authorities.models import ApiClient
from exchange.config import get_settings
from exchange.db.types import new_id, utcnow
from exchange.errors import ExchangeError, NotFound


class ClientInvalid(ExchangeError):
    """The client cannot be created as asked."""

    status, code, title = 422, "client-invalid", "Client not valid"


class ClientCreate(BaseModel):
    """A new API client."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role
    authority: str | None = Field(
        default=None, max_length=20, description="DfE or GSS code; required for the authority role."
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ClientOut(BaseModel):
    """An API client (never its token)."""

    id: str
    name: str
    role: Role
    authority: str | None
    token_prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedToken(BaseModel):
    """A token, shown this once: only its hash is kept."""

    client: ClientOut
    token: str


def client_out(client: ApiClient) -> ClientOut:
    """The public view of a client."""
    return ClientOut(
        id=client.id,
        name=client.name,
        role=Role(client.role),
        authority=client.authority_gss,
        token_prefix=client.token_prefix,
        created_at=client.created_at,
        expires_at=client.expires_at,
        revoked_at=client.revoked_at,
    )


def create_client(session: Session, body: ClientCreate, *, actor: Actor | None) -> IssuedToken:
    """Create a client and its first token."""
    authority_gss = None
    if body.authority:
        row = repository.get_authority(session, body.authority)
        if row is None:
            raise ClientInvalid(
                f"No authority has the code {body.authority!r}.", fix="Use a DfE or GSS code."
            )
        if not row.is_current_on(dt.date.today()):
            raise ClientInvalid(
                f"{row.name} has been abolished.", fix="Issue the client to its successor."
            )
        authority_gss = row.gss_code
    if body.role == Role.AUTHORITY and authority_gss is None:
        raise ClientInvalid("An authority client needs an authority.", fix="Give --authority CODE.")
    client_id = new_id()
    token = new_token(client_id)
    now = utcnow()
    client = ApiClient(
        id=client_id,
        name=body.name,
        role=body.role.value,
        authority_gss=authority_gss,
        token_hash=hash_token(token),
        token_prefix=token[:13],
        created_at=now,
        expires_at=now + dt.timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    session.add(client)
    session.flush()
    record_event(
        session,
        action="client.created",
        actor=actor,
        details={"client_id": client_id, "role": body.role.value, "authority": authority_gss or ""},
    )
    return IssuedToken(client=client_out(client), token=token)


def list_clients(session: Session) -> Sequence[ApiClient]:
    """Every client, newest first."""
    return session.scalars(select(ApiClient).order_by(ApiClient.created_at.desc())).all()


def _get(session: Session, client_id: str) -> ApiClient:
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"No client {client_id!r}.", fix="List clients to find the id.")
    return client


def revoke_client(session: Session, client_id: str, *, actor: Actor | None) -> ClientOut:
    """Revoke a client: its tokens stop working at once."""
    client = _get(session, client_id)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
    record_event(session, action="client.revoked", actor=actor, details={"client_id": client.id})
    return client_out(client)


def rotate_client(session: Session, client_id: str, *, actor: Actor | None) -> IssuedToken:
    """A new token for a client; the old one keeps working for the grace period, then stops."""
    client = _get(session, client_id)
    if client.revoked_at is not None:
        raise ClientInvalid("The client is revoked.", fix="Create a new client instead.")
    token = new_token(client.id)
    client.previous_token_hash = client.token_hash
    client.previous_valid_until = utcnow() + dt.timedelta(
        minutes=get_settings().token_rotation_grace_minutes
    )
    client.token_hash = hash_token(token)
    client.token_prefix = token[:13]
    record_event(session, action="client.rotated", actor=actor, details={"client_id": client.id})
    return IssuedToken(client=client_out(client), token=token)
