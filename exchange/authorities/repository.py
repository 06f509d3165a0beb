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
    current holder (the code is resolved as :func:`find_authority` does)."""
    found = find_authority(session, code, today=today)
    return session.get(AuthorityRow, found.gss_code) if found is not None else None


def get_many(session: Session, gss_codes: Sequence[str]) -> list[AuthorityRow]:
    """The authorities with these GSS codes, in the order given (unknown codes skipped)."""
    if not gss_codes:
        return []
    rows = {
        r.gss_code: r
        for r in session.scalars(select(AuthorityRow).where(AuthorityRow.gss_code.in_(gss_codes)))
    }
    return [rows[c] for c in gss_codes if c in rows]


REGISTER_CACHE_SECONDS = 60.0


@dataclasses.dataclass(frozen=True, slots=True)
class Authority:
    """An authority as the register held it when last read (a plain value, safe to share)."""

    gss_code: str
    dfe_code: str | None
    name: str
    end_date: dt.date | None
    successor_gss_codes: tuple[str, ...]

    def is_current_on(self, day: dt.date) -> bool:
        """Whether the authority exists on the day."""
        return self.end_date is None or self.end_date > day


@dataclasses.dataclass(frozen=True, slots=True)
class _Register:
    by_gss: dict[str, Authority]
    by_dfe: dict[str, list[Authority]]
    gss_codes: frozenset[str]
    dfe_codes: frozenset[str]


_REGISTER: tuple[float, _Register] | None = None


def _register(session: Session) -> _Register:
    """The whole register, read at most once a minute per process (it changes only when the
    database is upgraded or `exchange authorities sync` runs)."""
    global _REGISTER
    now = time.monotonic()
    if _REGISTER is not None and now - _REGISTER[0] < REGISTER_CACHE_SECONDS:
        return _REGISTER[1]
    by_gss: dict[str, Authority] = {}
    by_dfe: dict[str, list[Authority]] = {}
    for row in session.execute(
        select(
            AuthorityRow.gss_code,
            AuthorityRow.dfe_code,
            AuthorityRow.name,
            AuthorityRow.end_date,
            AuthorityRow.successor_gss_codes,
        )
    ):
        authority = Authority(row[0], row[1], row[2], row[3], tuple(row[4].split()))
        by_gss[authority.gss_code] = authority
        if authority.dfe_code:
            by_dfe.setdefault(authority.dfe_code, []).append(authority)
    register = _Register(by_gss, by_dfe, frozenset(by_gss), frozenset(by_dfe))
    _REGISTER = (now, register)
    return register


def find_authority(
    session: Session, code: str, *, today: dt.date | None = None
) -> Authority | None:
    """The authority with this GSS or DfE code, from the cached register (no query on the hot
    paths); a DfE code shared with a predecessor gives the holder current on ``today``, or
    failing that the last to hold it."""
    register = _register(session)
    key = code.strip().upper()
    found = register.by_gss.get(key)
    if found is not None:
        return found
    candidates = register.by_dfe.get(key, [])
    if not candidates:
        return None
    day = today or dt.date.today()
    current = [a for a in candidates if a.is_current_on(day)]
    if current:
        return current[0]
    return max(candidates, key=lambda a: a.end_date or dt.date.max)


def known_codes(session: Session) -> tuple[frozenset[str], frozenset[str]]:
    """All GSS codes and all DfE codes in the registry (from the cached register)."""
    register = _register(session)
    return register.gss_codes, register.dfe_codes


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
    global _REGISTER
    _REGISTER = None
    return changed


def rule_context(session: Session) -> RuleContext:
    """The canonical rules' view of the register as the database holds it."""
    gss, dfe = known_codes(session)
    return RuleContext(
        is_known_authority=lambda code: code.strip().upper() in gss or code.strip() in dfe,
        known_dfe_codes=dfe,
    )
