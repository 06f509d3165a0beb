"""A folder of CSV tables, as an authority's database tool dumps them, read for vendor adapters.

Each file is one table or view, named after it (``DIM_PERSON.csv``, ``dm_persons.csv``; the name
is matched case-insensitively), with a header row of the vendor's column names. Files are read
once, row by row, into a private scratch SQLite database keyed by each table's person column,
so an adapter can then build one child at a time and look up related people, with memory that
does not grow with the export.

Cells are trimmed; empty cells and ``NULL`` are absent. Files are decoded as UTF-8 (a BOM is
skipped); at the first byte that is not UTF-8 the file's rows are discarded and it is read again
as Windows-1252, before anything has been yielded.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.adapters.base import Source, SourceFile, fatal
from exchange.adapters.values import Where
from exchange.canonical import Problem, Severity
from exchange.canonical.model import SourceLocation

NULLS = frozenset({"", "NULL", "null"})


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table an adapter reads: its name, the column naming the person, what it must have."""

    name: str
    person_column: str | None = None
    required_columns: frozenset[str] = frozenset()
    required: bool = False


@dataclass(slots=True)
class Row:
    """One row of a table: its cells by column name (case-insensitive), and where it was."""

    table: str
    file: str
    number: int
    cells: dict[str, str]
    _upper: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._upper = {k.upper(): k for k in self.cells}

    def column(self, name: str) -> str | None:
        """The file's own spelling of a column, or None when the row has no value in it."""
        return self._upper.get(name.upper())

    def get(self, name: str) -> str | None:
        """The cell's value (None when empty or NULL)."""
        actual = self._upper.get(name.upper())
        return self.cells[actual] if actual is not None else None

    def at(self, name: str) -> SourceLocation:
        """Where a cell is: file, row (the header is row 1) and column."""
        return SourceLocation(file=self.file, row=self.number, column=self.column(name) or name)

    def where(self, name: str) -> Where:
        """The cell's location, made only if a problem needs it."""
        return lambda: self.at(name)

    def unread(self, read: set[str]) -> Iterator[tuple[str, str]]:
        """Cells in columns the adapter does not read (upper-case names in ``read``)."""
        for column, value in self.cells.items():
            if column.upper() not in read:
                yield column, value


class TableSet:
    """The tables of one export, loaded into a scratch store; use as a context manager."""

    def __init__(
        self,
        source: Source,
        specs: Sequence[TableSpec],
        *,
        renames: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.source = source
        self.specs = {s.name.upper(): s for s in specs}
        self.renames = {
            t.upper(): {k.upper(): v for k, v in m.items()} for t, m in (renames or {}).items()
        }
        self.problems: list[Problem] = []
        self.present: set[str] = set()
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> TableSet:
        self._dir = tempfile.TemporaryDirectory(prefix="exchange-tables-")
        try:
            self._db = sqlite3.connect(Path(self._dir.name) / "rows.db")
            self._db.execute(
                "CREATE TABLE rows (tbl TEXT, person TEXT, file TEXT, n INTEGER, cells TEXT)"
            )
            self._load()
            self._db.execute("CREATE INDEX rows_by_person ON rows (tbl, person, n)")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
        if self._dir is not None:
            self._dir.cleanup()

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "use TableSet as a context manager"
        return self._db

    def _load(self) -> None:
        by_name = {
            Path(f.name).stem.upper(): f
            for f in self.source.files
            if f.name.lower().endswith(".csv")
        }
        for name, spec in self.specs.items():
            found = by_name.get(name)
            if found is None:
                if spec.required:
                    raise fatal(
                        "table-missing",
                        f"The export has no {spec.name}.csv; it is needed.",
                        f"Export the {spec.name} table or view to {spec.name}.csv in the folder.",
                        SourceLocation(file=self.source.name),
                    )
                continue
            self.present.add(name)
            try:
                self._load_file(spec, found, "utf-8-sig")
            except UnicodeDecodeError:
                self.db.execute("DELETE FROM rows WHERE tbl = ?", (name,))
                try:
                    self._load_file(spec, found, "cp1252")
                except UnicodeDecodeError as exc:
                    raise fatal(
                        "file-undecodable",
                        f"{found.name} is neither UTF-8 nor Windows-1252 (byte {exc.start}).",
                        "Export the table again as UTF-8 CSV.",
                        SourceLocation(file=found.name),
                    ) from exc
        self.db.commit()

    def _load_file(self, spec: TableSpec, file: SourceFile, encoding: str) -> None:
        name = spec.name.upper()
        renames = self.renames.get(name, {})
        with file.open() as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
            reader = csv.reader(text)
            try:
                header = next(reader)
            except StopIteration:
                raise fatal(
                    "file-empty",
                    f"{file.name} is empty; it has no header row.",
                    "Export the table again with its header row.",
                    SourceLocation(file=file.name),
                ) from None
            except csv.Error as exc:
                raise fatal(
                    "csv-malformed",
                    f"{file.name} is not CSV: {exc}.",
                    "Export it as CSV.",
                    SourceLocation(file=file.name, row=1),
                ) from exc
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]  # a BOM read as Windows-1252 text
            if header and header[0].startswith("ï»¿"):
                header[0] = header[0][3:]
            columns = [
                renames.get(c.strip().upper(), c.strip()) or f"column {i + 1}"
                for i, c in enumerate(header)
            ]
            upper = {c.upper() for c in columns}
            missing = sorted(c for c in spec.required_columns if c.upper() not in upper)
            if spec.person_column and spec.person_column.upper() not in upper:
                missing.append(spec.person_column)
            if missing:
                raise fatal(
                    "columns-missing",
                    f"{file.name} has no column {', '.join(sorted(set(missing)))}.",
                    "Export the table with every column, or map the columns in the adapter's configuration (column renames).",
                    SourceLocation(file=file.name, row=1),
                )
            person_index = next(
                (
                    i
                    for i, c in enumerate(columns)
                    if spec.person_column and c.upper() == spec.person_column.upper()
                ),
                None,
            )
            batch: list[tuple[str, str | None, str, int, str]] = []
            number = 1
            try:
                for number, cells in enumerate(reader, 2):
                    values = {
                        columns[i] if i < len(columns) else f"column {i + 1}": v.strip()
                        for i, v in enumerate(cells)
                        if v.strip() not in NULLS
                    }
                    if not values:
                        continue
                    if len(cells) > len(columns):
                        self.problems.append(
                            Problem(
                                code="row-too-long",
                                severity=Severity.WARNING,
                                message=f"Row {number} of {file.name} has {len(cells)} cells for {len(columns)} columns.",
                                fix="Check the row for an unquoted comma; the extra cells are kept unmapped.",
                                location=SourceLocation(file=file.name, row=number),
                            )
                        )
                    person = (
                        cells[person_index].strip()
                        if person_index is not None and person_index < len(cells)
                        else None
                    )
                    if person in NULLS:
                        person = None
                    batch.append((name, person, file.name, number, json.dumps(values)))
                    if len(batch) >= 2000:
                        self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)
                        batch.clear()
            except csv.Error as exc:
                raise fatal(
                    "csv-malformed",
                    f"{file.name} row {number + 1} is not CSV: {exc}.",
                    "Export it again as CSV.",
                    SourceLocation(file=file.name, row=number + 1),
                ) from exc
            if batch:
                self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", batch)

    def _row(self, record: tuple[Any, ...]) -> Row:
        tbl, file, number, cells = record
        return Row(self.specs[tbl].name, file, number, json.loads(cells))

    def people(self, table: str) -> Iterator[str]:
        """The person ids of a table, in the order they first appear."""
        query = "SELECT person FROM rows WHERE tbl = ? AND person IS NOT NULL GROUP BY person ORDER BY MIN(n)"
        for (person,) in self.db.execute(query, (table.upper(),)):
            yield person

    def rows_for(self, table: str, person: str) -> list[Row]:
        """Every row of ``table`` about ``person``, in file order."""
        query = "SELECT tbl, file, n, cells FROM rows WHERE tbl = ? AND person = ? ORDER BY n"
        return [self._row(r) for r in self.db.execute(query, (table.upper(), person))]

    def rows(self, table: str) -> Iterator[Row]:
        """Every row of a table, in file order."""
        query = "SELECT tbl, file, n, cells FROM rows WHERE tbl = ? ORDER BY n"
        for record in self.db.execute(query, (table.upper(),)):
            yield self._row(record)

    def rows_without_person(self, table: str) -> Iterator[Row]:
        """Rows of a per-person table whose person column is empty."""
        query = "SELECT tbl, file, n, cells FROM rows WHERE tbl = ? AND person IS NULL ORDER BY n"
        for record in self.db.execute(query, (table.upper(),)):
            yield self._row(record)


def decode_check(data: bytes) -> str:
    """The encoding a byte string reads in: utf-8 (BOM allowed) or, failing that, cp1252."""
    try:
        codecs.decode(data, "utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"
