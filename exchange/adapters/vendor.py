"""Helpers the vendor table adapters (Eclipse, Azeus, ...) share: configuration, reading, rows."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from exchange.adapters.base import ReadResult, Source, SourceFile, fatal, problem
from exchange.adapters.tables import Row, TableSet, TableSpec
from exchange.adapters.values import Values
from exchange.canonical import Problem, Severity
from exchange.canonical.identifiers import compact
from exchange.canonical.model import SourceLocation

WARNING = Severity.WARNING

TEXT_LIMIT = 2000
"""The longest text a record holds unless a field says otherwise."""
_NO_FIELD = "the canonical record has no place for it"
# Every adapter's Cells has said this (it was written with the Eclipse adapter); kept as it is.
_NOT_READ = "column not in the Eclipse view"


class ConfigModel(BaseModel):
    """A part of a vendor configuration: unknown keys refused, map keys read as text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_keys(cls, data: Any) -> Any:
        # YAML reads `1: M` with an integer key; a code map's keys are the source's text.
        if not isinstance(data, dict):
            return data
        return {
            k: {str(key): v for key, v in value.items()} if isinstance(value, dict) else value
            for k, value in data.items()
        }


class VendorConfig(ConfigModel):
    """What every vendor configuration has: date formats and column renames."""

    date_formats: list[str] = Field(
        default_factory=list, description="strptime formats tried before the built-in ones."
    )
    renames: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="table -> {the file's column: the table's column}"
    )

    @field_validator("date_formats")
    @classmethod
    def _formats_work(cls, formats: list[str]) -> list[str]:
        sample = dt.datetime(2001, 2, 3, 4, 5, 6)
        for fmt in formats:
            try:
                dt.datetime.strptime(sample.strftime(fmt), fmt)
            except ValueError as exc:
                raise ValueError(f"{fmt!r} is not a date format ({exc})") from exc
            if "%d" not in fmt and "%j" not in fmt:
                raise ValueError(f"{fmt!r} has no day (%d)")
        return formats


def code_map(defaults: Mapping[str, str], custom: Mapping[str, Any]) -> dict[str, str]:
    """A code map: the defaults, then the configuration's entries, keyed in upper case."""
    merged = {k.strip().upper(): v for k, v in defaults.items()}
    merged.update({k.strip().upper(): str(getattr(v, "value", v)) for k, v in custom.items()})
    return merged


def words(defaults: Sequence[str], custom: Sequence[str]) -> frozenset[str]:
    """The defaults and the configuration's words, in upper case, for lookup."""
    return frozenset(w.strip().upper() for w in (*defaults, *custom))


_Model = TypeVar("_Model", bound=BaseModel)


def load_config(config: Path | str | dict[str, Any] | None, model: type[_Model]) -> _Model:
    """A vendor configuration from a YAML file or a dict, or fatal ``config-invalid``."""
    if config is None:
        return model()
    where: SourceLocation | None = None
    data: Any = config
    if isinstance(config, str | Path):
        path = Path(config)
        where = SourceLocation(file=str(path))
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise fatal(
                "config-unreadable",
                f"The configuration {path} cannot be read: {exc}.",
                "Give the path of a readable UTF-8 YAML file.",
                where,
            ) from exc
        except yaml.YAMLError as exc:
            raise fatal(
                "config-invalid",
                f"The configuration {path} is not YAML: {exc}.",
                "Correct the YAML syntax (indentation, colons, quotes).",
                where,
            ) from exc
        data = {} if data is None else data
    if not isinstance(data, dict):
        raise fatal(
            "config-invalid",
            "The configuration must be a mapping of keys to values.",
            "Write the configuration as YAML keys (date_formats:, renames:, ...).",
            where,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        said = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'the configuration'}: {error['msg']}"
            for error in exc.errors()
        )
        raise fatal(
            "config-invalid",
            f"The configuration is not valid: {said}.",
            "Correct those keys; the adapter's page in docs/adapters lists every key and value.",
            where,
        ) from exc


# --- reading tables (helpers tables.py does not offer yet) ----------------------------------


def _table_files(source: Source, names: Sequence[str]) -> dict[str, SourceFile]:
    """The file of each table, found as TableSet finds it (stem, case-insensitively)."""
    wanted = {n.upper() for n in names}
    found: dict[str, SourceFile] = {}
    for file in source.files:
        stem = Path(file.name).stem.upper()
        if file.name.lower().endswith(".csv") and stem in wanted:
            found[stem] = file
    return found


def table_headers(
    source: Source, names: Sequence[str], renames: Mapping[str, Mapping[str, str]]
) -> dict[str, tuple[str, list[str]]]:
    """Each table's file name and its columns after renames (the first line only is read)."""
    upper = {t.upper(): {k.upper(): v for k, v in m.items()} for t, m in renames.items()}
    headers: dict[str, tuple[str, list[str]]] = {}
    for name, file in _table_files(source, names).items():
        with file.open() as raw:
            first = raw.readline(1 << 20)
        # Column names are ASCII in every export seen; a stray byte must not hide the header.
        text = first.decode("utf-8-sig", errors="replace")
        cells = next(csv.reader([text]), [])
        moved = upper.get(name, {})
        headers[name] = (file.name, [moved.get(c.strip().upper(), c.strip()) for c in cells])
    return headers


def _undecodable(source: Source, names: Sequence[str]) -> str | None:
    """The name of the first file that is neither UTF-8 nor Windows-1252 (read in chunks)."""
    for file in _table_files(source, names).values():
        decoder = codecs.getincrementaldecoder("cp1252")()
        with file.open() as raw:
            try:
                while chunk := raw.read(1 << 16):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return file.name
    return None


@contextmanager
def open_tables(
    source: Source,
    specs: Sequence[TableSpec],
    renames: Mapping[str, Mapping[str, str]],
) -> Iterator[TableSet]:
    """The export's tables loaded into a scratch store, removed afterwards, whatever happens."""
    names = [s.name for s in specs]
    tables = TableSet(source, specs, renames=renames)
    try:
        tables.__enter__()
    except UnicodeDecodeError as exc:
        tables.__exit__(None, None, None)
        name = _undecodable(source, names) or source.name
        raise fatal(
            "file-undecodable",
            f"{name} is neither UTF-8 nor Windows-1252 text ({exc.reason}).",
            "Export the file again as UTF-8 CSV.",
            SourceLocation(file=name),
        ) from exc
    except OSError as exc:
        tables.__exit__(None, None, None)
        raise fatal(
            "file-unreadable",
            f"A file of {source.name} cannot be read: {exc}.",
            "Check the files exist and can be read.",
            SourceLocation(file=source.name),
        ) from exc
    except BaseException:
        tables.__exit__(None, None, None)
        raise
    try:
        yield tables
    finally:
        tables.__exit__(None, None, None)


def extra_columns(
    headers: Mapping[str, tuple[str, list[str]]], known: Mapping[str, Sequence[str]]
) -> list[Problem]:
    """One warning per file naming the columns its view does not define (kept unmapped)."""
    found: list[Problem] = []
    for table, (file, columns) in headers.items():
        defined = {c.upper() for c in known.get(table, ())}
        extra = [c for c in columns if c and c.upper() not in defined]
        if extra:
            found.append(
                problem(
                    "columns-extra",
                    f"{file} has columns the adapter does not read: {', '.join(extra)}; "
                    "their values are kept unmapped.",
                    "Nothing to do, unless a column is misnamed: then rename it in the "
                    "configuration (renames).",
                    SourceLocation(file=file, row=1),
                    severity=WARNING,
                )
            )
    return found


def listing(row: Row) -> str:
    """A row's values for a message, so a row that belongs nowhere is still on record."""
    return ", ".join(f"{column}={value!r}" for column, value in row.cells.items())


class Cells:
    """One source row as it is read: every cell read is marked; the rest is kept unmapped."""

    def __init__(
        self,
        row: Row,
        values: Values,
        known: Sequence[str],
        formats: Sequence[str],
        join: str | None = None,
    ) -> None:
        self.row = row
        self.v = values
        self.known = frozenset(c.upper() for c in known)
        self.formats = formats
        self.read: set[str] = set()
        if join:
            self.read.add(join.upper())  # the join key repeats the person: mapped

    def name(self, column: str) -> str:
        """The file's own spelling of a column."""
        return self.row.column(column) or column

    def peek(self, column: str) -> str | None:
        """A cell's value, not yet marked as read."""
        return self.row.get(column)

    def take(self, column: str) -> str | None:
        """A cell's value, marked as mapped."""
        self.read.add(column.upper())
        return self.row.get(column)

    def text(self, column: str, limit: int = TEXT_LIMIT, field: str | None = None) -> str | None:
        """Text for the record; text too long for it is reported and kept unmapped."""
        value = self.take(column)
        if value is not None and len(value) > limit:
            self.v.report(
                "value-too-long",
                f"{field or self.name(column)} is {len(value)} characters; the record holds "
                f"at most {limit}.",
                "Shorten the value in the source system; the full text is kept unmapped.",
                self.row.where(column),
                WARNING,
            )
            self.v.keep(field or self.name(column), value, self.row.at(column), "too long")
            return None
        return value

    def date(self, column: str, field: str | None = None) -> dt.date | None:
        """A date (configured formats first), or None; what is not a date is kept."""
        raw = self.take(column)
        if raw is None:
            return None
        for fmt in self.formats:
            try:
                return dt.datetime.strptime(raw, fmt).date()
            except ValueError:
                continue
        return self.v.date(raw, field or self.name(column), self.row.where(column))

    def code(
        self,
        column: str,
        aliases: Mapping[str, str],
        allowed: frozenset[str],
        *,
        field: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> str | None:
        """A code through the configured map, or None; a value it cannot map is kept."""
        return self.v.code(
            self.take(column),
            field or self.name(column),
            self.row.where(column),
            allowed,
            aliases,
            severity=severity,
        )

    def flag(self, column: str, field: str | None = None) -> bool | None:
        """A yes/no value, or None; anything else is kept."""
        return self.v.boolean(self.take(column), field or self.name(column), self.row.where(column))

    def keep(self, column: str, reason: str, field: str | None = None) -> None:
        """Keep a cell unmapped (if it has a value)."""
        value = self.take(column)
        if value is not None:
            self.v.keep(field or self.name(column), value, self.row.at(column), reason)

    def release(self, column: str, reason: str) -> None:
        """Keep unmapped a cell that was read but has no place after all."""
        value = self.row.get(column)
        if value is not None:
            self.read.add(column.upper())
            self.v.keep(self.name(column), value, self.row.at(column), reason)

    def same_as(self, column: str, first: Cells, reason: str) -> None:
        """A cell repeating another row's: mapped when equal, kept when it differs."""
        value = self.take(column)
        if value is not None and value != first.peek(column):
            self.v.keep(self.name(column), value, self.row.at(column), reason)

    def rest(self, reason: str | None = None) -> None:
        """Keep every cell not read yet."""
        for column, value in self.row.unread(self.read):
            why = reason or (_NO_FIELD if column.upper() in self.known else _NOT_READ)
            self.v.keep(column, value, self.row.at(column), why)
        self.read.update(c.upper() for c in self.row.cells)


def add_identifier(
    ids: list[dict[str, Any]], system: str, value: str, issuer: str | None = None
) -> bool:
    """Add an identifier unless the same one is there already; True when it was new."""
    clean = compact(value) if system in ("nhs_number", "upn", "former_upn") else value.strip()
    if any(i["system"] == system and compact(i["value"]) == compact(clean) for i in ids):
        return False
    ident: dict[str, Any] = {"system": system, "value": clean}
    if issuer and system in ("la_child_id", "legacy"):
        ident["issuer"] = issuer
    ids.append(ident)
    return True


def alone(
    row: Row, code: str, said: str, fix: str, severity: Severity = Severity.ERROR
) -> ReadResult:
    """A result without a record for a row that belongs to no child; its values listed."""
    location = SourceLocation(file=row.file, row=row.number)
    return ReadResult(
        None,
        [
            problem(
                code,
                f"Row {row.number} of {row.file} {said}; it belongs to no record: {listing(row)}.",
                fix,
                location,
                severity=severity,
            )
        ],
        None,
        location,
    )


class StatusCache:
    """What each person is (a child, a relative...), remembered for the most recent people only.

    Whole-export checks ask about every person of every table; remembering the answers for the
    last 65,536 people saves most lookups while memory stays bounded however large the export.
    """

    def __init__(self, find: Callable[[str], str], size: int = 1 << 16) -> None:
        self.find = find
        self.size = size
        self.known: OrderedDict[str, str] = OrderedDict()

    def remember(self, person: str, status: str) -> None:
        """Note a person's status found another way (the first answer stands)."""
        if person not in self.known:
            if len(self.known) >= self.size:
                self.known.popitem(last=False)
            self.known[person] = status

    def get(self, person: str) -> str:
        """The person's status, looked up once while remembered."""
        found = self.known.get(person)
        if not found:
            found = self.find(person)
            if person not in self.known and len(self.known) >= self.size:
                self.known.popitem(last=False)  # the oldest answer goes first
            self.known[person] = found
        return found


def within(when: dt.date, start: Any, end: Any) -> bool:
    """The day falls in the period (an open end runs on)."""
    return (start is None or start <= when) and (end is None or when <= end)


def read_export(
    source: Source,
    specs: Sequence[TableSpec],
    columns: Mapping[str, Sequence[str]],
    renames: Mapping[str, Mapping[str, str]],
    names: tuple[str, str, str],
    authority: str | None,
    results: Callable[[TableSet], Iterator[ReadResult]],
) -> Iterator[ReadResult]:
    """An export's results, the file notices (names: tables, person table, who) on the first."""
    what, person, who = names
    if not source.files:
        raise fatal(
            "source-empty",
            f"{source.name} holds no files.",
            f"Give the folder of the {what} as CSV files ({person}.csv, ...).",
        )
    with open_tables(source, specs, renames) as tables:
        headers = table_headers(source, [s.name for s in specs], renames)
        notices = extra_columns(headers, columns) + tables.problems
        if authority is None:
            notices.insert(
                0,
                problem(
                    "source-authority-missing",
                    f"{who} export does not say which authority sent it; records say 'unknown'.",
                    "Give the sending authority's DfE or GSS code when converting.",
                    severity=WARNING,
                ),
            )
        first = True
        for result in results(tables):
            if first:
                result.problems[:0] = notices
                first = False
            yield result
