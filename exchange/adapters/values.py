"""Reading source values: dates, booleans and codes, with what could not be read kept.

Every adapter builds a record through a :class:`Values` collector, so that a value which cannot
be read is never dropped: it is reported (where, what, how to fix) and carried in the record's
``unmapped`` list with its source location.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeAlias

from exchange.canonical import Problem, Severity
from exchange.canonical.model import SourceLocation

Where: TypeAlias = SourceLocation | Callable[[], SourceLocation]
"""A location, or a function that makes it (called only when a problem needs it)."""


def resolve(where: Where) -> SourceLocation:
    """The location itself."""
    return where if isinstance(where, SourceLocation) else where()


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TRUE = {"true", "1", "y", "yes", "t"}
_FALSE = {"false", "0", "n", "no", "f"}
_ORACLE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{2}|\d{4})$")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}


def parse_date(text: str) -> dt.date | None:
    """A date in any form exports use (ISO, dd/mm/yyyy, SQL Server or Oracle text), or None."""
    text = text.strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    if _ISO_DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    if match := _DMY.match(text):
        day, month, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    if len(text) > 10 and _ISO_DATE.match(text[:10]) and text[10] in " T":
        try:
            return dt.date.fromisoformat(text[:10])  # a timestamp: the day is what matters
        except ValueError:
            return None
    if match := _ORACLE.match(text):
        day_text, mon, year_text = match.groups()
        month_number = _MONTHS.get(mon.upper())
        if month_number is None:
            return None
        # Oracle's RR rule for two-digit years: 00-49 are this century, 50-99 the last.
        short = int(year_text)
        full_year = short if len(year_text) == 4 else (2000 + short if short < 50 else 1900 + short)
        try:
            return dt.date(full_year, month_number, int(day_text))
        except ValueError:
            return None
    return None


def parse_bool(text: str) -> bool | None:
    """true/false, 1/0, Y/N, yes/no in any case, or None."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


class Values:
    """Reads the values of one record; whatever it cannot read is reported and kept unmapped."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.unmapped: list[dict[str, Any]] = []

    def keep(self, field: str, value: str, location: Where, reason: str | None = None) -> None:
        """Carry a source value the record has no place for."""
        entry: dict[str, Any] = {
            "field": field,
            "value": value,
            "location": resolve(location).model_dump(exclude_none=True),
        }
        if reason:
            entry["reason"] = reason
        self.unmapped.append(entry)

    def report(
        self,
        code: str,
        message: str,
        fix: str,
        location: Where,
        severity: Severity = Severity.ERROR,
        dfe_rule: str | None = None,
    ) -> None:
        """Record a problem found in the source."""
        self.problems.append(
            Problem(
                code=code,
                severity=severity,
                message=message,
                fix=fix,
                location=resolve(location),
                dfe_rule=dfe_rule,
            )
        )

    def date(self, raw: str | None, field: str, location: Where) -> dt.date | None:
        """A date, or None (reported and kept) when the text is not one."""
        if raw is None or not raw.strip():
            return None
        value = parse_date(raw)
        if value is None:
            self.report(
                "date-invalid",
                f"{field} {raw.strip()!r} is not a date.",
                "Write dates as YYYY-MM-DD (or dd/mm/yyyy where the format uses it).",
                location,
            )
            self.keep(field, raw.strip(), location, "not a date")
        return value

    def boolean(self, raw: str | None, field: str, location: Where) -> bool | None:
        """A yes/no value, or None (reported and kept) when the text is not one."""
        if raw is None or not raw.strip():
            return None
        value = parse_bool(raw)
        if value is None:
            self.report(
                "boolean-invalid",
                f"{field} {raw.strip()!r} is not true/false.",
                "Write true or false (or 1/0, Y/N).",
                location,
            )
            self.keep(field, raw.strip(), location, "not a true/false value")
        return value

    def code(
        self,
        raw: str | None,
        field: str,
        location: Where,
        allowed: Collection[str],
        aliases: Mapping[str, str] | None = None,
        *,
        severity: Severity = Severity.ERROR,
        dfe_rule: str | None = None,
    ) -> str | None:
        """A code from a code list (historic variants mapped), or None (reported and kept)."""
        if raw is None or not raw.strip():
            return None
        key = raw.strip().upper()
        if aliases:
            key = aliases.get(key, key)
        if key in allowed:
            return key
        self.report(
            "code-unknown",
            f"{field} {raw.strip()!r} is not a known code.",
            f"Use one of: {', '.join(sorted(allowed))}.",
            location,
            severity,
            dfe_rule,
        )
        self.keep(field, raw.strip(), location, "not a known code")
        return None

    def integer(self, raw: str | None, field: str, location: Where) -> int | None:
        """A whole number, or None (reported and kept)."""
        if raw is None or not raw.strip():
            return None
        text = raw.strip()
        if text.isdigit():
            return int(text)
        self.report(
            "number-invalid",
            f"{field} {text!r} is not a whole number.",
            "Write digits only.",
            location,
        )
        self.keep(field, text, location, "not a whole number")
        return None
