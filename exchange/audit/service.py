"""Writing audit events, in the same transaction as the action they record."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from exchange.audit.chain import event_hash
from exchange.audit.models import AuditChildRef, AuditEvent, AuditHead
from exchange.canonical import ChildRecord
from exchange.canonical.codes import IdentifierSystem
from exchange.canonical.identifiers import compact
from exchange.db.types import utcnow
from exchange.keys import get_pseudonym_key


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: the API client, its authority and role, and the member of staff."""

    client_id: str | None
    authority: str | None
    role: str | None
    acting_user: str | None = None
    request_id: str | None = None
    source_address: str | None = None


def _pseudonym(kind: str, value: str) -> str:
    mac = hmac.new(get_pseudonym_key(), f"{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()[:40]}"


def nhs_pseudonym(nhs_number: str) -> str:
    """The pseudonym of a child by NHS number."""
    return _pseudonym("nhs", compact(nhs_number))


def la_child_pseudonym(authority_gss: str, la_child_id: str) -> str:
    """The pseudonym of a child by an authority's own id for them."""
    return _pseudonym("la", f"{authority_gss.upper()}:{la_child_id.strip()}")


def record_pseudonyms(record: ChildRecord, authority_gss: str) -> list[str]:
    """Every pseudonym by which an auditor could look for the child of a record."""
    from exchange.authorities import load_registry

    refs: list[str] = []
    registry = load_registry()
    for ident in record.child.identifiers:
        if ident.system == IdentifierSystem.NHS_NUMBER:
            refs.append(nhs_pseudonym(ident.value))
        elif ident.system == IdentifierSystem.LA_CHILD_ID:
            issuer = registry.get(ident.issuer) if ident.issuer else None
            refs.append(
                la_child_pseudonym(issuer.gss_code if issuer else authority_gss, ident.value)
            )
    return sorted(set(refs))


def record_event(
    session: Session,
    *,
    action: str,
    actor: Actor | None,
    outcome: str = "success",
    transfer_id: str | None = None,
    counterpart_authority: str | None = None,
    purpose: str | None = None,
    child_refs: Iterable[str] = (),
    details: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (the head row is locked until the transaction ends)."""
    # Incrementing the head first takes its row lock (PostgreSQL) or the write lock (SQLite),
    # so the sequence number and previous hash read next cannot be taken by anyone else.
    seq, prev_hash = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    refs = sorted(set(child_refs))
    fields: dict[str, Any] = {
        "seq": seq,
        "occurred_at": occurred_at or utcnow(),
        "action": action,
        "outcome": outcome,
        "actor_authority": actor.authority if actor else None,
        "counterpart_authority": counterpart_authority,
        "client_id": actor.client_id if actor else None,
        "role": actor.role if actor else None,
        "acting_user": actor.acting_user if actor else None,
        "transfer_id": transfer_id,
        "request_id": actor.request_id if actor else None,
        "source_address": actor.source_address if actor else None,
        "purpose": purpose,
        "child_refs": " ".join(refs),
        "details": json.dumps(details or {}, sort_keys=True, separators=(",", ":")),
    }
    digest = event_hash(prev_hash, fields)
    event = AuditEvent(**fields, prev_hash=prev_hash, hash=digest)
    session.add(event)
    session.add_all(AuditChildRef(event_seq=seq, ref=ref) for ref in refs)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    return event
