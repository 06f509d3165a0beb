"""SSDA903 children looked after return (a set of CSV files), read into canonical records.

**Recognising the files.** The return is one CSV per table; exports name them as they please,
so a file is recognised by its header row: each table has columns no other table has (DECOM
for episodes, MIS_START for missing, DUC for UASC ...) and the table with most of them present
wins. A file that matches no table (or two equally) is not guessed at: it is reported as an
error result of its own (``file-not-recognised``, no record) naming the file and its columns,
because rows that cannot be put in a table cannot be attached to a child reliably. A recognised
file without a column the spec says may never be blank is fatal (``columns-missing``).

**Joining on CHILD, streaming.** Each file is read once, row by row, and every row is written to
a private SQLite file in a temporary directory (stdlib ``sqlite3``; a scratch file, never the
service database), tagged with its table, file and row number. One sorted query then hands the
rows back grouped by child, in header order, and one record is built, yielded and forgotten per
child. Memory therefore stays flat however many children the return holds; only the scratch file
grows, and it is deleted when the reader finishes or is abandoned. A merge of sorted files would
need no scratch file, but 903 exports are not reliably sorted by CHILD.

**Encodings.** Each file is decoded lazily as UTF-8 (a BOM is skipped). If a byte turns out not
to be UTF-8 anywhere in the file, the rows already stored from that file are deleted and the
file is read again as Windows-1252. Nothing has been yielded at that point (records are only
built once every file is stored), so the restart is invisible and the common UTF-8 case costs
a single pass with no look-ahead buffer.

**Problems that belong to the whole return** (no sending authority given, extra columns, optional
columns absent) ride with the first child's result, once each. An unrecognised file, and a row
without a CHILD, each become a result without a record whose problem names the file (or lists
the row's values), so nothing is dropped silently.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from exchange.adapters.base import Adapter, ReadResult, Source, SourceFile, fatal, problem
from exchange.adapters.values import Values, Where, parse_date
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import (
    SEX_ALIASES,
    Ethnicity,
    IdentifierSystem,
    LegalStatus,
    PrimaryNeed,
    ReasonNewEpisode,
    Sex,
    UPNUnknownReason,
)
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode
from exchange.canonical.model import SourceLocation

FORMAT_VERSIONS = ("2017", "2019", "2022", "2024", "2025", "2026")


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the return: the columns that may never be blank and those that may."""

    name: str
    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the spec gives the table."""
        return self.required + self.optional


# In the order rows of one child are read: the header first, so later tables can compare
# their repeated DOB/SEX with it.
TABLES: tuple[Table, ...] = (
    Table("header", "Header", ("CHILD", "SEX", "DOB", "ETHNIC", "UPN"), ("MOTHER", "MC_DOB")),
    Table(
        "episodes",
        "Episodes",
        ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE"),
        ("PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"),
    ),
    Table("uasc", "UASC", ("CHILD", "DOB", "SEX"), ("DUC",)),
    Table("missing", "Missing", ("CHILD", "DOB", "MISSING", "MIS_START"), ("MIS_END",)),
    Table("reviews", "Reviews", ("CHILD", "DOB", "REVIEW", "REVIEW_CODE")),
    Table(
        "social_worker",
        "Social worker episodes",
        ("CHILD", "DOB", "SW_ID", "SW_DECOM"),
        ("SW_DEC", "SW_REASON"),
    ),
    Table(
        "oc2",
        "OC2 (outcomes)",
        ("CHILD", "DOB"),
        (
            "SDQ_SCORE",
            "SDQ_REASON",
            "CONVICTED",
            "HEALTH_CHECK",
            "IMMUNISATIONS",
            "TEETH_CHECK",
            "HEALTH_ASSESSMENT",
            "SUBSTANCE_MISUSE",
            "INTERVENTION_RECEIVED",
            "INTERVENTION_OFFERED",
        ),
    ),
    Table("oc3", "OC3 (care leavers)", ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM")),
    Table(
        "ad1",
        "AD1 (adoptions)",
        (
            "CHILD",
            "DOB",
            "DATE_INT",
            "DATE_MATCH",
            "FOSTER_CARE",
            "NB_ADOPTR",
            "SEX_ADOPTR",
            "LS_ADOPTR",
        ),
    ),
    Table(
        "placed_adoption",
        "Placed for adoption",
        ("CHILD", "DOB", "DATE_PLACED"),
        ("DATE_PLACED_CEASED", "REASON_PLACED_CEASED"),
    ),
    Table(
        "prev_perm", "Previous permanence", ("CHILD", "DOB", "PREV_PERM"), ("LA_PERM", "DATE_PERM")
    ),
)
TABLE_RANK = {t.name: i for i, t in enumerate(TABLES)}


def _distinctive(table: Table) -> frozenset[str]:
    others = {c for t in TABLES if t is not table for c in t.columns}
    return frozenset(c for c in table.columns if c not in others)


DISTINCTIVE: dict[str, frozenset[str]] = {t.name: _distinctive(t) for t in TABLES}

# Where each column goes in the canonical record. Columns not listed are kept in ``unmapped``
# (checked against their code list first). CHILD, and DOB/SEX repeated in later tables, count
# as mapped when they repeat what the record already holds.
MAPPED_COLUMNS: dict[str, dict[str, str]] = {
    "header": {
        "CHILD": "child.identifiers[system=la_child_id]",
        "SEX": "child.sex",
        "DOB": "child.birth_date",
        "ETHNIC": "child.ethnicity",
        "UPN": "child.identifiers[system=upn], or child.upn_unknown_reason for UN1-UN7",
        "MOTHER": "related_people[relationship=other_relative] (the child's own child) when 1",
        "MC_DOB": "related_people[relationship=other_relative].birth_date",
    },
    "episodes": {
        "CHILD": "the join key",
        "DECOM": "episodes[0].looked_after_episodes[].start_date",
        "DEC": "episodes[0].looked_after_episodes[].end_date",
        "RNE": "episodes[0].looked_after_episodes[].reason_new_episode",
        "LS": "episodes[0].looked_after_episodes[].legal_status",
        "CIN": "episodes[0].looked_after_episodes[].category_of_need",
        "PLACE": "episodes[0].looked_after_episodes[].placement.placement_type",
        "PLACE_PROVIDER": "episodes[0].looked_after_episodes[].placement.provider",
        "PL_POST": "episodes[0].looked_after_episodes[].placement.postcode",
        "URN": "episodes[0].looked_after_episodes[].placement.urn",
        "REASON_PLACE_CHANGE": "episodes[0].looked_after_episodes[].placement.change_reason",
        "REC": "episodes[0].looked_after_episodes[].reason_episode_ceased",
        "HOME_POST": "episodes[0].looked_after_episodes[].home_postcode",
    },
    "uasc": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "SEX": "child.sex",
        "DUC": "child.immigration_status.uasc_end_date (uasc is true for every UASC row)",
    },
    "missing": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "MISSING": "missing_episodes[].kind (M missing, A away), and the missing alert",
        "MIS_START": "missing_episodes[].start_date",
        "MIS_END": "missing_episodes[].end_date",
    },
    "reviews": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "REVIEW": "chronology[category=plan].date",
        "REVIEW_CODE": "chronology[category=plan].details",
    },
    "social_worker": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "SW_ID": "professionals[role=social worker].id",
        "SW_DECOM": "professionals[role=social worker].start_date",
        "SW_DEC": "professionals[role=social worker].end_date",
    },
    "oc2": {"CHILD": "the join key", "DOB": "child.birth_date"},
    "oc3": {"CHILD": "the join key", "DOB": "child.birth_date"},
    "ad1": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "DATE_INT": "chronology[category=plan].date",
        "DATE_MATCH": "chronology[category=placement].date",
    },
    "placed_adoption": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "DATE_PLACED": "chronology[category=plan].date",
        "DATE_PLACED_CEASED": "chronology[category=plan].date",
        "REASON_PLACED_CEASED": "chronology[category=plan].details (with DATE_PLACED_CEASED)",
    },
    "prev_perm": {
        "CHILD": "the join key",
        "DOB": "child.birth_date",
        "DATE_PERM": "chronology[category=court].date",
        "PREV_PERM": "chronology[category=court].summary (with DATE_PERM)",
        "LA_PERM": "chronology[category=court].details (with DATE_PERM)",
    },
}


def _codes(*codes: str) -> frozenset[str]:
    """A code list, written as codes or as space-separated runs of them."""
    return frozenset(c for run in codes for c in run.split())


SEXES = frozenset(s.value for s in Sex)
ETHNICITIES = frozenset(e.value for e in Ethnicity)
LEGAL_STATUSES = frozenset(s.value for s in LegalStatus)
REASONS_NEW_EPISODE = frozenset(r.value for r in ReasonNewEpisode)
NEEDS = frozenset(n.value for n in PrimaryNeed) - {"N0"}
UPN_UNKNOWN = frozenset(u.value for u in UPNUnknownReason)
# Code lists are the union over the spec years, so a 2019 return and a 2026 one both read.
PLACEMENT_TYPES = _codes(
    "A3 A4 A5 A6 H5 K1 K2 K3 P1 P2 P3 R1 R2 R3 R5 S1 T0 T1 T2 T3 T4",
    "U1 U2 U3 U4 U5 U6 Z1 Z11 Z12 Z13 Z14",
)
PROVIDERS = _codes("PR0", "PR1", "PR2", "PR3", "PR4", "PR5")
REASONS_CEASED = _codes(
    "X1 E11 E12 E2 E3 E4A E4B E13 E41 E43 E44 E45 E46 E47 E48",
    "E5 E6 E7 E9 E14 E15 E16 E17 E8",
)
PLACE_CHANGE_REASONS = _codes(
    "CARPL CLOSE ALLEG STAND APPRR CREQB CREQO CHILD LAREQ PLACE CUSTOD OTHER"
)
MISSING_KINDS = {"M": "missing", "A": "away"}
MISSING_CODES = frozenset(MISSING_KINDS)
REVIEW_CODES: dict[str, str] = {
    "PN0": "child aged under 4 at the time of the review",
    "PN1": "child physically attends and speaks for themself",
    "PN2": "child physically attends and an advocate speaks for them",
    "PN3": "child attends and conveys their view symbolically (non-verbally)",
    "PN4": "child physically attends but does not speak or convey their view",
    "PN5": "child does not attend but briefs an advocate to speak for them",
    "PN6": "child does not attend but conveys their feelings by a facilitative medium",
    "PN7": "child does not attend nor are their views conveyed to the review",
}
REVIEW_CODE_SET = frozenset(REVIEW_CODES)
SW_REASONS = _codes("MANAGE FCONTA LEFTRL ORGRST TSPROC ABSENC CHCHAN PCCHAN SWDIED OTHERS")
ZERO_ONE = _codes("0", "1")

# Columns with no place in the canonical record: checked, then kept in ``unmapped``.
Check = tuple[str, frozenset[str] | tuple[int, int] | None]
KEPT_COLUMNS: dict[str, Check] = {
    "SW_REASON": ("code", SW_REASONS),
    "SDQ_SCORE": ("integer", (0, 40)),
    "SDQ_REASON": ("code", _codes("SDQ1", "SDQ2", "SDQ3", "SDQ4", "SDQ5")),
    "CONVICTED": ("code", ZERO_ONE),
    "HEALTH_CHECK": ("code", ZERO_ONE),
    "IMMUNISATIONS": ("code", ZERO_ONE),
    "TEETH_CHECK": ("code", ZERO_ONE),
    "HEALTH_ASSESSMENT": ("code", ZERO_ONE),
    "SUBSTANCE_MISUSE": ("code", ZERO_ONE),
    "INTERVENTION_RECEIVED": ("code", ZERO_ONE),
    "INTERVENTION_OFFERED": ("code", ZERO_ONE),
    "IN_TOUCH": ("code", _codes("YES", "NO", "DIED", "REFU", "NREQ", "RHOM")),
    "ACTIV": ("code", _codes("F1 P1 F2 P2 F3 P3 F4 P4 F5 P5 G4 G5 G6 0")),
    "ACCOM": (
        "code",
        _codes(
            "0",
            *(f"{letter}{n}" for letter in "BCDEGHKRSTUVWXYZ" for n in (1, 2)),
        ),
    ),
    "FOSTER_CARE": ("code", ZERO_ONE),
    "NB_ADOPTR": ("integer", (1, 99)),
    "SEX_ADOPTR": ("code", _codes("M1", "F1", "MM", "FF", "MF")),
    "LS_ADOPTR": ("code", _codes("L0", "L11", "L12", "L2", "L3", "L4")),
}
PERMANENCE_ORDERS = _codes("P1", "P2", "P3", "P4", "Z1")
PLACED_CEASED_REASONS = _codes("RD1", "RD2", "RD3", "RD4")

_EMPTY = {"", "NULL"}
_BATCH = 2000
_SHOWN_COLUMNS = 30


# Dates and postcodes recur across a child's rows and across children: small bounded caches.
_parse_date = functools.lru_cache(maxsize=8192)(parse_date)
_normalise_postcode = functools.lru_cache(maxsize=8192)(normalise_postcode)


def _clean(cell: str) -> str:
    """A cell stripped, with the empty markers exports use ('' and NULL) made ''."""
    text = cell.strip()
    return "" if text.upper() in _EMPTY else text


@dataclass(slots=True)
class _File:
    """A file of the source as recognised: its table and where each column sits."""

    index: int
    name: str
    table: Table | None
    header: list[str]
    positions: dict[str, int] = field(default_factory=dict)
    extras: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Row:
    """One stored row of one file."""

    file: _File
    number: int
    cells: list[str]
    known: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        width = len(self.cells)
        self.known = {c: self.cells[at] for c, at in self.file.positions.items() if at < width}

    def get(self, column: str) -> str:
        """The cleaned value of a known column ('' when blank or absent)."""
        return self.known.get(column, "")

    def at(self, column: str) -> SourceLocation:
        """The location of one cell."""
        return SourceLocation(file=self.file.name, row=self.number, column=column)

    def where(self, column: str) -> Where:
        """The location of one cell, made only if a problem needs it."""
        return lambda: self.at(column)

    def filled(self) -> Iterator[tuple[str, str]]:
        """Every non-empty known column of the row."""
        for column, value in self.known.items():
            if value:
                yield column, value


class _Store:
    """The scratch SQLite file that groups every row by CHILD."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        # A private scratch file: durability is worthless, speed and bounded memory are not.
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -8000;
            CREATE TABLE rows (
                ord INTEGER PRIMARY KEY,
                child TEXT NOT NULL,
                tbl INTEGER NOT NULL,
                file INTEGER NOT NULL,
                rownum INTEGER NOT NULL,
                cells TEXT NOT NULL,
                upn TEXT
            );
            """
        )
        self.pending: list[tuple[str, int, int, int, str, str | None]] = []

    def add(
        self, child: str, tbl: int, file: int, rownum: int, cells: list[str], upn: str | None
    ) -> None:
        """Queue one row for the store."""
        self.pending.append((child, tbl, file, rownum, json.dumps(cells), upn))
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows."""
        if self.pending:
            self.db.executemany(
                "INSERT INTO rows (child, tbl, file, rownum, cells, upn) VALUES (?, ?, ?, ?, ?, ?)",
                self.pending,
            )
            self.pending.clear()

    def discard(self, file: int) -> None:
        """Forget every row of one file (it is being read again in another encoding)."""
        self.pending.clear()
        self.db.execute("DELETE FROM rows WHERE file = ?", (file,))

    def has_rows(self) -> bool:
        """Any row stored at all."""
        return self.db.execute("SELECT 1 FROM rows LIMIT 1").fetchone() is not None

    def prepare(self) -> None:
        """Order the children (header order, then the others as first seen) and find shared UPNs."""
        self.flush()
        self.db.executescript(
            """
            CREATE TABLE children (child TEXT PRIMARY KEY, sort_key INTEGER) WITHOUT ROWID;
            INSERT INTO children
                SELECT child,
                       COALESCE(MIN(CASE WHEN tbl = 0 THEN ord END),
                                MIN(ord) + (SELECT MAX(ord) FROM rows))
                FROM rows WHERE child <> '' GROUP BY child;
            CREATE TABLE shared_upns (upn TEXT PRIMARY KEY, children INTEGER) WITHOUT ROWID;
            INSERT INTO shared_upns
                SELECT upn, COUNT(DISTINCT child) FROM rows
                WHERE tbl = 0 AND upn IS NOT NULL AND child <> ''
                GROUP BY upn HAVING COUNT(DISTINCT child) > 1;
            """
        )

    def children(self) -> Iterator[tuple[str, list[tuple[int, int, int, list[str]]]]]:
        """Each child with its rows (table, file, row number, cells), tables in reading order."""
        cursor = self.db.execute(
            """
            SELECT r.child, r.tbl, r.file, r.rownum, r.cells
            FROM rows r JOIN children c ON c.child = r.child
            ORDER BY c.sort_key, r.tbl, r.ord
            """
        )
        for child, group in groupby(cursor, key=lambda r: str(r[0])):
            yield child, [(int(t), int(f), int(n), json.loads(c)) for _, t, f, n, c in group]

    def orphans(self) -> Iterator[tuple[int, int, list[str]]]:
        """Rows without a CHILD: (file, row number, cells)."""
        cursor = self.db.execute(
            "SELECT file, rownum, cells FROM rows WHERE child = '' ORDER BY ord"
        )
        for file, rownum, cells in cursor:
            yield int(file), int(rownum), json.loads(cells)

    def upn_shared_by(self, upn: str) -> int:
        """How many children the header gives this UPN, when more than one."""
        found = self.db.execute("SELECT children FROM shared_upns WHERE upn = ?", (upn,)).fetchone()
        return int(found[0]) if found else 0

    def close(self) -> None:
        """Close the scratch file."""
        self.db.close()


def recognise(columns: Sequence[str]) -> Table | None:
    """The table whose distinctive columns the header has most of; None if none or a tie."""
    present = set(columns)
    scores = sorted(
        ((len(DISTINCTIVE[t.name] & present), t) for t in TABLES),
        key=lambda pair: -pair[0],
    )
    (best, table), (second, _) = scores[0], scores[1]
    if best == 0 or best == second:
        return None
    return table


class SSDA903Adapter(Adapter):
    """SSDA903 children looked after return (CSV set) -> canonical records."""

    name = "ssda903"
    title = "SSDA903 children looked after return (CSV files)"
    formats = ("csv",)
    versions = FORMAT_VERSIONS

    def __init__(
        self, context: RuleContext | None = None, *, source_authority: str | None = None
    ) -> None:
        super().__init__(context)
        self.source_authority = source_authority.strip() if source_authority else None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child of the return (plus one per unreadable file or CHILD-less row)."""
        if not source.files:
            raise fatal(
                "source-empty",
                f"{source.name} holds no files.",
                "Give the folder of the return's CSV files (header, episodes, ...).",
            )
        with tempfile.TemporaryDirectory(prefix="ssda903-") as scratch:
            store = _Store(Path(scratch) / "rows.sqlite")
            try:
                yield from self._read(source, store)
            finally:
                store.close()

    def _read(self, source: Source, store: _Store) -> Iterator[ReadResult]:
        files: list[_File] = []
        notices: list[Problem] = []
        for index, file in enumerate(source.files):
            files.append(self._load(index, file, store, notices))
        known = [f for f in files if f.table is not None]
        if not known:
            raise fatal(
                "no-ssda903-files",
                "No file has the columns of an SSDA903 table: "
                + "; ".join(f"{f.name} ({_show(f.header)})" for f in files)
                + ".",
                "Give the return's CSV files with their header rows "
                "(e.g. CHILD,SEX,DOB,ETHNIC,UPN,... for the header).",
            )
        store.prepare()
        if not store.has_rows():
            raise fatal(
                "no-children",
                "The SSDA903 files hold no data rows.",
                "Export the return again; every file has a header row only.",
                SourceLocation(file=known[0].name, row=1),
            )
        if self.source_authority is None:
            notices.insert(
                0,
                problem(
                    "source-authority-missing",
                    "An SSDA903 return does not say which authority sent it; "
                    "records say 'unknown'.",
                    "Give the sending authority's DfE or GSS code when converting the return.",
                    severity=Severity.WARNING,
                ),
            )
        has_header = any(f.table is not None and f.table.name == "header" for f in files)
        unread = [self._unrecognised(f) for f in files if f.table is None]
        built = self._built(files, store, has_header)
        # The return-wide notices ride with the first child's result (the first record when
        # there is one); the unrecognised files are reported just before it.
        for result in built:
            if notices:
                result.problems[:0] = notices
                notices = []
            yield from unread
            unread = []
            yield result

    @staticmethod
    def _unrecognised(f: _File) -> ReadResult:
        location = SourceLocation(file=f.name, row=1)
        return ReadResult(
            None,
            [
                problem(
                    "file-not-recognised",
                    f"{f.name} has columns that match no SSDA903 table ({_show(f.header)}); "
                    "its rows cannot be attached to children and were not read.",
                    "Check the file is part of the return and its header row names the "
                    "spec's columns (e.g. CHILD,DECOM,RNE,... for episodes).",
                    location,
                )
            ],
            None,
            location,
        )

    def _built(self, files: list[_File], store: _Store, has_header: bool) -> Iterator[ReadResult]:
        for child, rows in store.children():
            yield self._child(
                child, [_Row(files[fi], n, cells) for _, fi, n, cells in rows], store, has_header
            )
        for fi, number, cells in store.orphans():
            yield self._orphan(_Row(files[fi], number, cells))

    # -- loading ------------------------------------------------------------------------------

    def _load(self, index: int, file: SourceFile, store: _Store, notices: list[Problem]) -> _File:
        try:
            return self._load_as(index, file, store, notices, "utf-8-sig")
        except UnicodeDecodeError:
            store.discard(index)
        try:
            return self._load_as(index, file, store, notices, "cp1252")
        except UnicodeDecodeError as exc:
            store.discard(index)
            raise fatal(
                "file-undecodable",
                f"{file.name} is neither UTF-8 nor Windows-1252 text ({exc.reason}).",
                "Export the file again as UTF-8 CSV, and leave files that are not CSV out.",
                SourceLocation(file=file.name),
            ) from exc

    def _load_as(
        self, index: int, file: SourceFile, store: _Store, notices: list[Problem], encoding: str
    ) -> _File:
        with file.open() as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding=encoding, newline=""))
            try:
                header_row = next(reader, None)
            except csv.Error as exc:
                raise fatal(
                    "csv-malformed",
                    f"{file.name} cannot be read as CSV at row 1: {exc}.",
                    "Export the file again as CSV, and leave files that are not CSV out.",
                    SourceLocation(file=file.name, row=1),
                ) from exc
            if header_row is None or not any(c.strip() for c in header_row):
                raise fatal(
                    "file-empty",
                    f"{file.name} is empty: it has no header row.",
                    "Export the file again with its header row, or leave it out of the return.",
                    SourceLocation(file=file.name, row=1),
                )
            header = [
                c.strip().lstrip("\ufeff").upper() or f"(COLUMN {i + 1})"
                for i, c in enumerate(header_row)
            ]
            table = recognise(header)
            found = _File(index, file.name, table, header)
            if table is not None:
                self._columns(found, table, notices)
                self._rows(found, reader, store)
            return found

    @staticmethod
    def _columns(found: _File, table: Table, notices: list[Problem]) -> None:
        for at, column in enumerate(found.header):
            if column in table.columns and column not in found.positions:
                found.positions[column] = at
            else:
                found.extras.append((at, column))
        missing = [c for c in table.required if c not in found.positions]
        if missing:
            raise fatal(
                "columns-missing",
                f"{found.name} looks like the {table.title} table but has no "
                f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''}.",
                f"Export the {table.title} table with every column: {', '.join(table.columns)}.",
                SourceLocation(file=found.name, row=1, column=missing[0]),
            )
        absent = [c for c in table.optional if c not in found.positions]
        here = SourceLocation(file=found.name, row=1)
        if found.extras:
            names = ", ".join(name for _, name in found.extras)
            notices.append(
                problem(
                    "columns-extra",
                    f"{found.name} ({table.title}) has columns the spec does not define: {names}; "
                    "their values are kept unmapped.",
                    "Leave the extra columns out of the export, or check they were meant "
                    "for another table.",
                    here.model_copy(update={"column": found.extras[0][1]}),
                    severity=Severity.WARNING,
                )
            )
        if absent:
            notices.append(
                problem(
                    "columns-optional-missing",
                    f"{found.name} ({table.title}) has no {', '.join(absent)} column; "
                    "read as blank throughout.",
                    f"Export the {table.title} table with every column: {', '.join(table.columns)}.",
                    here,
                    severity=Severity.WARNING,
                )
            )

    @staticmethod
    def _rows(found: _File, reader: Iterator[list[str]], store: _Store) -> None:
        assert found.table is not None
        tbl = TABLE_RANK[found.table.name]
        child_at = found.positions["CHILD"]
        upn_at = found.positions.get("UPN")
        number = 1
        try:
            for cells in reader:
                number += 1
                clean = [_clean(c) for c in cells]
                if not any(clean):
                    continue
                child = clean[child_at] if child_at < len(clean) else ""
                upn = clean[upn_at] if upn_at is not None and upn_at < len(clean) else ""
                # UN1-UN7 say why there is no UPN; many children share them legitimately.
                if upn.upper() in UPN_UNKNOWN:
                    upn = ""
                store.add(child, tbl, found.index, number, clean, upn or None)
        except csv.Error as exc:
            raise fatal(
                "csv-malformed",
                f"{found.name} cannot be read as CSV at row {number + 1}: {exc}.",
                "Export the file again; it is cut short or was edited by hand.",
                SourceLocation(file=found.name, row=number + 1),
            ) from exc
        store.flush()

    # -- building records ---------------------------------------------------------------------

    def _child(
        self, child_id: str, rows: list[_Row], store: _Store, has_header: bool
    ) -> ReadResult:
        problems: list[Problem] = []
        builder = _ChildBuilder(child_id, self.source_authority, problems)
        for row in rows:
            builder.add(row)
        location = rows[0].at("CHILD")
        if builder.header_row is None:
            reason = "in the header file" if has_header else "in a header file (none was given)"
            problems.append(
                problem(
                    "child-not-in-header",
                    f"CHILD {child_id!r} has rows in {rows[0].file.name} but no row {reason}; "
                    "the record holds what the other files say.",
                    "Add the child to the header file, or check the CHILD id in the other files.",
                    location,
                    severity=Severity.WARNING,
                )
            )
        upn = builder.upn
        if upn and builder.header_row is not None:
            sharing = store.upn_shared_by(upn)
            if sharing:
                problems.append(
                    problem(
                        "upn-duplicate",
                        f"UPN {upn!r} is given for {sharing} children in the header.",
                        "Check which child the UPN belongs to; a UPN identifies one pupil.",
                        builder.header_row.at("UPN"),
                        dfe_rule="1520",
                    )
                )
        return self.finish(builder.data(), key=child_id, location=location, problems=problems)

    @staticmethod
    def _orphan(row: _Row) -> ReadResult:
        values = [f"{c}={v!r}" for c, v in row.filled()]
        values += [
            f"{name}={row.cells[at]!r}"
            for at, name in row.file.extras
            if at < len(row.cells) and row.cells[at]
        ]
        location = row.at("CHILD")
        return ReadResult(
            None,
            [
                problem(
                    "la-child-id-missing",
                    f"Row {row.number} of {row.file.name} has no CHILD, so it belongs to no child: "
                    f"{', '.join(values)}.",
                    "Give the CHILD id on every row of the return.",
                    location,
                    dfe_rule="8500",
                )
            ],
            None,
            location,
        )


class _ChildBuilder:
    """Gathers the rows of one child into the plain data of a canonical record."""

    def __init__(self, child_id: str, authority: str | None, problems: list[Problem]) -> None:
        self.child_id = child_id
        self.values = Values(problems)
        ident: dict[str, Any] = {"system": IdentifierSystem.LA_CHILD_ID.value, "value": child_id}
        if authority:
            ident["issuer"] = authority
        self.authority = authority
        self.child: dict[str, Any] = {"identifiers": [ident]}
        self.header_row: _Row | None = None
        self.upn: str | None = None
        self.looked_after: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.missing: list[dict[str, Any]] = []
        self.related: list[dict[str, Any]] = []
        self.professionals: list[dict[str, Any]] = []
        self.chronology: list[dict[str, Any]] = []
        self.undated_missing = 0
        self.handlers: dict[str, Callable[[_Row], None]] = {
            "header": self.header,
            "episodes": self.episode,
            "uasc": self.uasc,
            "missing": self.missing_episode,
            "reviews": self.review,
            "social_worker": self.social_worker,
            "oc2": self.kept_only,
            "oc3": self.kept_only,
            "ad1": self.adoption,
            "placed_adoption": self.placed_for_adoption,
            "prev_perm": self.previous_permanence,
        }

    def add(self, row: _Row) -> None:
        """Read one row into the record."""
        assert row.file.table is not None
        self.handlers[row.file.table.name](row)
        self.extras(row)

    def data(self) -> dict[str, Any]:
        """The record as plain data."""
        episodes = []
        if self.looked_after:
            ordered = [e for _, e in sorted(self.looked_after, key=lambda pair: pair[0])]
            episodes.append({"looked_after_episodes": ordered})
        return {
            "provenance": {"source_authority": self.authority or "unknown"},
            "child": self.child,
            "alerts": self.missing_alert(),
            "missing_episodes": self.missing,
            "related_people": self.related,
            "professionals": self.professionals,
            "episodes": episodes,
            "chronology": sorted(self.chronology, key=lambda e: e["date"]),
            "unmapped": self.values.unmapped,
        }

    # -- helpers --------------------------------------------------------------------------

    def keep(self, row: _Row, column: str, reason: str) -> None:
        """Keep one cell unmapped, if it holds anything."""
        value = row.get(column)
        if value:
            self.values.keep(column, value, row.at(column), reason)

    def extras(self, row: _Row) -> None:
        """Cells under columns the spec does not define, and cells past the header's end."""
        assert row.file.table is not None
        for at, name in row.file.extras:
            if at < len(row.cells) and row.cells[at]:
                self.values.keep(
                    name,
                    row.cells[at],
                    row.at(name),
                    f"column not in the SSDA903 {row.file.table.title} table",
                )
        if len(row.cells) > len(row.file.header):
            spilled = [
                (at, value)
                for at, value in enumerate(row.cells)
                if at >= len(row.file.header) and value
            ]
            for at, value in spilled:
                self.values.keep(
                    f"(COLUMN {at + 1})",
                    value,
                    row.at(f"(COLUMN {at + 1})"),
                    "cell beyond the header's columns",
                )
            if spilled:
                self.values.report(
                    "row-too-long",
                    f"Row {row.number} has {len(row.cells)} cells but the header names "
                    f"{len(row.file.header)}.",
                    "Check the row for an unquoted comma inside a value.",
                    row.at(f"(COLUMN {spilled[0][0] + 1})"),
                    Severity.WARNING,
                )

    def required(self, row: _Row) -> None:
        """Warn about cells the spec says may never be blank."""
        assert row.file.table is not None
        for column in row.file.table.required:
            if column in row.file.positions and not row.get(column):
                self.values.report(
                    "value-missing",
                    f"{column} is blank; the {row.file.table.title} table requires it.",
                    f"Fill in {column} in the source system.",
                    row.where(column),
                    Severity.WARNING,
                )

    def date(self, row: _Row, column: str) -> dt.date | None:
        """A dd/mm/yyyy date, or None (reported and kept when unreadable)."""
        raw = row.get(column)
        if not raw:
            return None
        # Only an unreadable date goes the long way, to be reported and kept.
        return _parse_date(raw) or self.values.date(raw, column, row.where(column))

    def code(
        self, row: _Row, column: str, allowed: frozenset[str], aliases: dict[str, str] | None = None
    ) -> str | None:
        """A code from its list, or None (reported and kept when unknown)."""
        raw = row.get(column)
        if not raw:
            return None
        key = raw.upper()
        if key in allowed:
            return key
        return self.values.code(raw, column, row.where(column), allowed, aliases)

    def postcode(self, row: _Row, column: str) -> str | None:
        """A full or partial postcode; anything else is reported and kept, never stored."""
        raw = row.get(column)
        if not raw:
            return None
        full = _normalise_postcode(raw)
        if full:
            return full
        partial = normalise_partial_postcode(raw)
        if partial:
            return partial  # stored; the canonical rule 'postcode-partial' reports it
        self.values.report(
            "postcode-invalid",
            f"{column} {raw!r} is not a UK postcode.",
            "Correct the postcode in the source system.",
            row.where(column),
            Severity.WARNING,
        )
        self.values.keep(column, raw, row.at(column), "not a UK postcode")
        return None

    def same_as_child(self, row: _Row, column: str, target: str) -> None:
        """DOB/SEX repeated in a later table: fills a gap, repeats the header, or conflicts."""
        raw = row.get(column)
        if not raw:
            return
        if target == "birth_date":
            value: Any = self.date(row, column)
        else:
            value = self.code(row, column, SEXES, SEX_ALIASES)
        if value is None:
            return  # reported and kept by the reader
        held = self.child.get(target)
        if held is None:
            self.child[target] = value
        elif held != value:
            self.values.report(
                "child-details-conflict",
                f"{column} {raw!r} differs from the child's {target.replace('_', ' ')} "
                f"({held}) given elsewhere in the return.",
                "Correct whichever row is wrong in the source system.",
                row.where(column),
                Severity.WARNING,
            )
            self.values.keep(column, raw, row.at(column), f"differs from the child's {target}")

    def kept(self, row: _Row, column: str) -> None:
        """A column with no place in the record: checked against its list, then kept."""
        raw = row.get(column)
        if not raw:
            return
        kind, allowed = KEPT_COLUMNS.get(column, ("text", None))
        where = row.where(column)
        if kind == "code" and isinstance(allowed, frozenset):
            if self.values.code(raw, column, where, allowed) is None:
                return
        elif kind == "integer" and isinstance(allowed, tuple):
            number = self.values.integer(raw, column, where)
            if number is None:
                return
            if not allowed[0] <= number <= allowed[1]:
                self.values.report(
                    "number-out-of-range",
                    f"{column} {raw!r} is outside {allowed[0]}-{allowed[1]}.",
                    "Correct the value in the source system.",
                    where,
                )
        assert row.file.table is not None
        self.values.keep(
            column,
            raw,
            row.at(column),
            f"no canonical field for SSDA903 {row.file.table.title} {column}",
        )

    # -- tables ---------------------------------------------------------------------------

    def header(self, row: _Row) -> None:
        """The child's identity, from the first header row; later rows are duplicates."""
        if self.header_row is not None:
            self.duplicate_header(row, self.header_row)
            return
        self.header_row = row
        self.required(row)
        child = self.child
        upn = row.get("UPN")
        if upn.upper() in UPN_UNKNOWN:
            child["upn_unknown_reason"] = upn.upper()
        elif upn:
            self.upn = upn
            child["identifiers"].append({"system": IdentifierSystem.UPN.value, "value": upn})
        child["birth_date"] = self.date(row, "DOB")
        child["sex"] = self.code(row, "SEX", SEXES, SEX_ALIASES)
        child["ethnicity"] = self.code(row, "ETHNIC", ETHNICITIES)
        self.motherhood(row)

    def motherhood(self, row: _Row) -> None:
        """MOTHER=1: the child is a mother; her own child joins the record as a relative."""
        mother = self.code(row, "MOTHER", ZERO_ONE)
        born = self.date(row, "MC_DOB") if row.get("MC_DOB") else None
        if mother == "1":
            person: dict[str, Any] = {
                "id": "own-child-1",
                "relationship": "other_relative",
                "notes": "The child's own child: the SSDA903 header records the child as a "
                "mother (MOTHER=1) with her child's date of birth (MC_DOB).",
            }
            if born:
                person["birth_date"] = born
            self.related.append(person)
            return
        if mother == "0":
            self.keep(row, "MOTHER", "the child is recorded as not a mother; no field holds that")
        if born:
            self.values.report(
                "mother-child-dob-without-mother",
                "MC_DOB is given but MOTHER is not 1.",
                "Set MOTHER to 1 if the child is a mother, or clear MC_DOB.",
                row.where("MC_DOB"),
                Severity.WARNING,
            )
            self.keep(row, "MC_DOB", "MC_DOB given but MOTHER is not 1")

    def duplicate_header(self, row: _Row, first: _Row) -> None:
        """A second header row for one CHILD: reported; values that differ are kept."""
        self.values.report(
            "la-child-id-duplicate",
            f"CHILD {self.child_id!r} has more than one header row: {first.file.name} row "
            f"{first.number} and {row.file.name} row {row.number}; the first is used.",
            "Give each child one header row; merge duplicated children in the source system.",
            row.where("CHILD"),
            dfe_rule="8510",
        )
        for column, value in row.filled():
            if column != "CHILD" and not _same_value(column, value, first.get(column)):
                self.values.keep(
                    column,
                    value,
                    row.at(column),
                    f"differs from the first header row ({first.file.name} row {first.number})",
                )

    def episode(self, row: _Row) -> None:
        """One looked-after episode: a legal status and a placement for a span of time."""
        self.required(row)
        start = self.date(row, "DECOM")
        episode: dict[str, Any] = {
            "start_date": start,
            "end_date": self.date(row, "DEC"),
            "reason_new_episode": self.code(row, "RNE", REASONS_NEW_EPISODE),
            "legal_status": self.code(row, "LS", LEGAL_STATUSES),
            "category_of_need": self.code(row, "CIN", NEEDS),
            "reason_episode_ceased": self.code(row, "REC", REASONS_CEASED),
            "home_postcode": self.postcode(row, "HOME_POST"),
        }
        placement = {
            "placement_type": self.code(row, "PLACE", PLACEMENT_TYPES),
            "provider": self.code(row, "PLACE_PROVIDER", PROVIDERS),
            "postcode": self.postcode(row, "PL_POST"),
            "urn": row.get("URN") or None,
            "change_reason": self.code(row, "REASON_PLACE_CHANGE", PLACE_CHANGE_REASONS),
        }
        placement = {k: v for k, v in placement.items() if v is not None}
        if placement:
            episode["placement"] = placement
        episode = {k: v for k, v in episode.items() if v is not None}
        # Episodes in date order (exports do not keep it), source order among equal dates.
        key = (start is None, start or dt.date.min, row.file.index, row.number)
        self.looked_after.append((key, episode))

    def uasc(self, row: _Row) -> None:
        """Unaccompanied asylum-seeking child status, and the date it ceased (DUC)."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        self.same_as_child(row, "SEX", "sex")
        ceased = self.date(row, "DUC")
        status = self.child.get("immigration_status")
        if status is None:
            self.child["immigration_status"] = {"uasc": True, "uasc_end_date": ceased}
        elif ceased is not None and status["uasc_end_date"] != ceased:
            if status["uasc_end_date"] is None:
                status["uasc_end_date"] = ceased
            else:
                self.keep(row, "DUC", "a second UASC row with another date UASC status ceased")

    def missing_episode(self, row: _Row) -> None:
        """A time missing from care or away from placement."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        kind = self.code(row, "MISSING", MISSING_CODES)
        start = self.date(row, "MIS_START")
        end = self.date(row, "MIS_END")
        if start is None:
            # An episode needs its start; the alert still counts it, and the row's values stay.
            self.undated_missing += 1
            why = "missing episode without a readable start date (MIS_START)"
            if kind is not None:
                self.keep(row, "MISSING", why)
            if end is not None:
                self.keep(row, "MIS_END", why)
            return
        # An unknown kind is reported and kept; the child still counts as missing (safety first).
        episode: dict[str, Any] = {"start_date": start, "kind": MISSING_KINDS[kind or "M"]}
        if end is not None:
            episode["end_date"] = end
        self.missing.append(episode)

    def missing_alert(self) -> list[dict[str, Any]]:
        """One alert summarising the missing episodes, so the risk shows first."""
        if not self.missing and not self.undated_missing:
            return []
        missing = sum(1 for m in self.missing if m["kind"] == "missing")
        away = len(self.missing) - missing
        still_open = sum(1 for m in self.missing if "end_date" not in m)
        parts = []
        if missing:
            parts.append(f"missing from care {missing} time{'s' if missing > 1 else ''}")
        if away:
            parts.append(
                f"away from placement without authorisation {away} time{'s' if away > 1 else ''}"
            )
        if self.undated_missing:
            parts.append(
                f"missing or away {self.undated_missing} "
                f"time{'s' if self.undated_missing > 1 else ''} "
                "on dates the return does not give"
            )
        summary = "Has been " + " and ".join(parts)
        if still_open:
            summary += f"; {still_open} episode{'s' if still_open > 1 else ''} with no end date"
        ordered = sorted(self.missing, key=lambda m: m["start_date"])
        details = "\n".join(
            f"{m['start_date']:%d/%m/%Y} to {m['end_date']:%d/%m/%Y}: {m['kind']}"
            if "end_date" in m
            else f"{m['start_date']:%d/%m/%Y}, no end date recorded: {m['kind']}"
            for m in ordered
        )
        alert: dict[str, Any] = {
            "id": "ssda903-missing",
            "type": "missing",
            # An episode with no end may mean the child is missing now: that outranks history.
            "severity": "high" if still_open else "medium",
            "summary": summary + " (SSDA903 missing table).",
            "details": details or None,
        }
        if ordered:
            alert["start_date"] = ordered[0]["start_date"]
        if ordered and not still_open and not self.undated_missing:
            alert["end_date"] = max(m["end_date"] for m in ordered)
        return [alert]

    def review(self, row: _Row) -> None:
        """A looked-after child review (of the care plan), into the chronology."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        date = self.date(row, "REVIEW")
        code = self.code(row, "REVIEW_CODE", REVIEW_CODE_SET)
        if date is None:
            if code is not None:
                self.keep(row, "REVIEW_CODE", "review without a readable date")
            return
        entry: dict[str, Any] = {
            "date": date,
            "category": "plan",
            "summary": "Looked-after child review",
            "source": "SSDA903 reviews",
        }
        if code is not None:
            entry["details"] = f"Participation (REVIEW_CODE {code}): {REVIEW_CODES[code]}."
        self.chronology.append(entry)

    def social_worker(self, row: _Row) -> None:
        """A period with one allocated social worker (2024 return onwards)."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        worker: dict[str, Any] = {
            "role": "social worker",
            "agency": "social_care",
            "start_date": self.date(row, "SW_DECOM"),
            "end_date": self.date(row, "SW_DEC"),
        }
        sw_id = row.get("SW_ID")
        if len(sw_id) > 100:
            self.keep(row, "SW_ID", "longer than the 100 characters an id may have")
        elif sw_id:
            worker["id"] = sw_id
        self.professionals.append({k: v for k, v in worker.items() if v is not None})
        self.kept(row, "SW_REASON")

    def kept_only(self, row: _Row) -> None:
        """A table the record has no place for (OC2, OC3): every value checked and kept."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        assert row.file.table is not None
        for column in row.file.table.columns:
            if column not in ("CHILD", "DOB"):
                self.kept(row, column)

    def event(
        self, row: _Row, column: str, category: str, summary: str, details: str | None = None
    ) -> bool:
        """A dated event into the chronology; False when the date cannot be read."""
        date = self.date(row, column)
        if date is None:
            return False
        entry: dict[str, Any] = {
            "date": date,
            "category": category,
            "summary": summary,
            "source": f"SSDA903 {row.file.table.title if row.file.table else ''} {column}".strip(),
        }
        if details:
            entry["details"] = details
        self.chronology.append(entry)
        return True

    def adoption(self, row: _Row) -> None:
        """AD1: the adoption decision and match go into the chronology; the rest is kept."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        self.event(row, "DATE_INT", "plan", "Decision that the child should be placed for adoption")
        self.event(row, "DATE_MATCH", "placement", "Matched with prospective adopters")
        for column in ("FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"):
            self.kept(row, column)

    def placed_for_adoption(self, row: _Row) -> None:
        """The decision that the child should be placed for adoption, and its ending."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        self.event(
            row, "DATE_PLACED", "plan", "Decision that the child should be placed for adoption"
        )
        reason = self.code(row, "REASON_PLACED_CEASED", PLACED_CEASED_REASONS)
        details = f"Reason (REASON_PLACED_CEASED): {reason}." if reason else None
        if (
            not self.event(
                row,
                "DATE_PLACED_CEASED",
                "plan",
                "Decision that the child should be placed for adoption ceased",
                details,
            )
            and reason
        ):
            self.keep(row, "REASON_PLACED_CEASED", "no readable DATE_PLACED_CEASED to attach it to")

    def previous_permanence(self, row: _Row) -> None:
        """A permanence order before the child became looked after, into the chronology."""
        self.required(row)
        self.same_as_child(row, "DOB", "birth_date")
        kind = self.code(row, "PREV_PERM", PERMANENCE_ORDERS)
        authority = row.get("LA_PERM")
        date = self.date(row, "DATE_PERM") if row.get("DATE_PERM") else None
        if date is None:
            if kind:
                self.keep(row, "PREV_PERM", "no readable DATE_PERM to date it")
            self.keep(row, "LA_PERM", "no readable DATE_PERM to date it")
            return
        self.chronology.append(
            {
                "date": date,
                "category": "court",
                "summary": f"Previous permanence order (PREV_PERM {kind or 'not given'})",
                "details": f"Made by local authority (LA_PERM): {authority}."
                if authority
                else None,
                "source": "SSDA903 previous permanence DATE_PERM",
            }
        )


def _same_value(column: str, a: str, b: str) -> bool:
    """Two cells of one column say the same (dates and sex codes compared by meaning)."""
    if column in ("DOB", "MC_DOB"):
        day = parse_date(a)
        return day is not None and day == parse_date(b)
    if column == "SEX":
        return SEX_ALIASES.get(a.upper(), a.upper()) == SEX_ALIASES.get(b.upper(), b.upper())
    return a.upper() == b.upper()


def _show(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:_SHOWN_COLUMNS])
    more = len(columns) - _SHOWN_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "") if columns else "no columns"
