"""Queries over the authority registry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.authorities.models import AuthorityRow
from exchange.authorities.registry import AuthorityRegistry
from exchange.canonical.rules import RuleContext


def list_authorities(
    session: Session, *, current_on: dt.date | None = None, search: str | None = None
) -> Sequence[AuthorityRow]:
    """Authorities by name; only those existing on ``current_on`` when it is given."""
    query = select(AuthorityRow).order_by(AuthorityRow.name, AuthorityRow.gss_code)
    if current_on is not None:
        query = query.where(
            or_(AuthorityRow.end_date.is_(None), AuthorityRow.end_date > current_on)
        )
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(AuthorityRow.name.ilike(like) | AuthorityRow.short_name.ilike(like))
    return session.scalars(query).all()


def get_authority(
    session: Session, code: str, *, today: dt.date | None = None
) -> AuthorityRow | None:
    """The authority with this GSS or DfE code; a DfE code shared with a predecessor gives the
    current holder."""
    key = code.strip().upper()
    row = session.get(AuthorityRow, key)
    if row is not None:
        return row
    candidates = session.scalars(select(AuthorityRow).where(AuthorityRow.dfe_code == key)).all()
    if not candidates:
        return None
    day = today or dt.date.today()
    current = [r for r in candidates if r.is_current_on(day)]
    if current:
        return current[0]
    return max(candidates, key=lambda r: r.end_date or dt.date.max)


def get_many(session: Session, gss_codes: Sequence[str]) -> list[AuthorityRow]:
    """The authorities with these GSS codes, in the order given (unknown codes skipped)."""
    if not gss_codes:
        return []
    rows = {
        r.gss_code: r
        for r in session.scalars(select(AuthorityRow).where(AuthorityRow.gss_code.in_(gss_codes)))
    }
    return [rows[c] for c in gss_codes if c in rows]


_KNOWN: tuple[float, tuple[frozenset[str], frozenset[str]]] | None = None
REGISTER_CACHE_SECONDS = 60.0


def known_codes(session: Session) -> tuple[frozenset[str], frozenset[str]]:
    """All GSS codes and all DfE codes in the registry (read at most once a minute: the
    register changes only when the database is upgraded)."""
    global _KNOWN
    now = time.monotonic()
    if _KNOWN is not None and now - _KNOWN[0] < REGISTER_CACHE_SECONDS:
        return _KNOWN[1]
    rows = session.execute(select(AuthorityRow.gss_code, AuthorityRow.dfe_code)).all()
    codes = frozenset(r[0] for r in rows), frozenset(r[1] for r in rows if r[1])
    _KNOWN = (now, codes)
    return codes


def sync_registry(session: Session, registry: AuthorityRegistry) -> int:
    """Insert or update every authority of the shipped registry; returns how many changed."""
    existing = {r.gss_code: r for r in session.scalars(select(AuthorityRow))}
    changed = 0
    for authority in registry:
        values = dataclasses.asdict(authority)
        values["successor_gss_codes"] = " ".join(authority.successor_gss_codes)
        row = existing.get(authority.gss_code)
        if row is None:
            session.add(AuthorityRow(**values))
            changed += 1
            continue
        if any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changed += 1
    session.flush()
    return changed


def rule_context(session: Session) -> RuleContext:
    """The canonical rules' view of the register as the database holds it."""
    gss, dfe = known_codes(session)
    return RuleContext(
        is_known_authority=lambda code: code.strip().upper() in gss or code.strip() in dfe,
        known_dfe_codes=dfe,
    )
