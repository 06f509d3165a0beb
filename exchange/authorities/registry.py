"""Registry of English local authorities with children's social care powers.

The registry is pure data: ``data/authorities.csv`` is generated from the mySociety register of
UK local authorities by ``scripts/build_authorities.py`` and shipped with the package. It holds
every county council, unitary authority, metropolitan district, London borough, the City of
London and the Isles of Scilly, current and abolished (lower-tier districts have no children's
services and are left out).

An authority is identified either by its DfE 3-digit code (``202`` Camden) or by its ONS GSS
code (``E09000007`` Camden). GSS codes are unique. DfE codes mostly are too, but DfE kept the
county council's code for the unitary that replaced it in three reorganisations:
Buckinghamshire (825, 2020), North Yorkshire (815, 2023) and Somerset (933, 2023). Both rows are
kept, each with its own GSS code; :meth:`AuthorityRegistry.get` resolves such a shared DfE code
to the current authority, and :meth:`AuthorityRegistry.by_dfe_code` returns all of them.

``end_date`` is the date of abolition, the day the successors took over: an authority is
current on a day strictly before its end date. ``start_date`` is copied from the register and is
reliable only for authorities created by a reorganisation since 2009; for older ones it is often
the date the register's record began (e.g. 2005), so :meth:`Authority.is_current_on` ignores it.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files

__all__ = ["Authority", "AuthorityRegistry", "load_registry"]


@dataclass(frozen=True, slots=True)
class Authority:
    """One English local authority with children's social care powers."""

    dfe_code: str | None
    gss_code: str
    name: str
    short_name: str
    kind: str
    start_date: datetime.date | None
    end_date: datetime.date | None
    successor_gss_codes: tuple[str, ...]
    region: str

    @property
    def is_current(self) -> bool:
        """Whether the authority exists today."""
        return self.is_current_on()

    def is_current_on(self, on: datetime.date | None = None) -> bool:
        """Whether the authority exists on the given day (default: today)."""
        day = on if on is not None else datetime.date.today()
        return self.end_date is None or self.end_date > day


def _normalise(code: str) -> str:
    return code.strip().upper()


class AuthorityRegistry:
    """Look-ups over a set of authorities by DfE or GSS code."""

    def __init__(self, authorities: Iterable[Authority]) -> None:
        self._by_gss: dict[str, Authority] = {}
        self._by_dfe: dict[str, list[Authority]] = {}
        for authority in authorities:
            gss = _normalise(authority.gss_code)
            if gss in self._by_gss:
                raise ValueError(f"duplicate GSS code {authority.gss_code!r}")
            self._by_gss[gss] = authority
            if authority.dfe_code:
                self._by_dfe.setdefault(_normalise(authority.dfe_code), []).append(authority)

    def get(self, code: str) -> Authority | None:
        """Return the authority with this DfE or GSS code, or None if unknown."""
        key = _normalise(code)
        authority = self._by_gss.get(key)
        if authority is not None:
            return authority
        candidates = self._by_dfe.get(key)
        if not candidates:
            return None
        current = [a for a in candidates if a.is_current]
        if current:
            return current[0]
        return max(candidates, key=lambda a: a.end_date or datetime.date.max)

    def by_dfe_code(self, code: str) -> list[Authority]:
        """Return every authority that has held this DfE code, oldest first."""
        candidates = self._by_dfe.get(_normalise(code), [])
        return sorted(candidates, key=lambda a: (a.end_date or datetime.date.max, a.gss_code))

    def all(self) -> list[Authority]:
        """Return every authority, sorted by name."""
        return sorted(self._by_gss.values(), key=lambda a: (a.name, a.gss_code))

    def is_known_dfe_code(self, code: str) -> bool:
        """Whether any authority, current or abolished, has held this DfE code."""
        return _normalise(code) in self._by_dfe

    def successors(self, authority: Authority) -> list[Authority]:
        """Return the authorities that replaced this one (empty if it is not abolished)."""
        found = (self._by_gss.get(_normalise(code)) for code in authority.successor_gss_codes)
        return [a for a in found if a is not None]

    def __len__(self) -> int:
        return len(self._by_gss)

    def __iter__(self) -> Iterator[Authority]:
        return iter(self.all())


def _parse_date(value: str) -> datetime.date | None:
    value = value.strip()
    return datetime.date.fromisoformat(value) if value else None


def parse_authorities(text: str) -> list[Authority]:
    """Parse the registry CSV format into authorities."""
    return [
        Authority(
            dfe_code=row["dfe_code"].strip() or None,
            gss_code=row["gss_code"].strip(),
            name=row["name"].strip(),
            short_name=row["short_name"].strip(),
            kind=row["kind"].strip(),
            start_date=_parse_date(row["start_date"]),
            end_date=_parse_date(row["end_date"]),
            successor_gss_codes=tuple(row["successor_gss_codes"].split()),
            region=row["region"].strip(),
        )
        for row in csv.DictReader(io.StringIO(text))
    ]


@functools.cache
def load_registry() -> AuthorityRegistry:
    """Load the registry shipped with the package (cached)."""
    resource = files("exchange.authorities") / "data" / "authorities.csv"
    return AuthorityRegistry(parse_authorities(resource.read_text(encoding="utf-8")))
