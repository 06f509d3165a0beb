"""Ofsted Annex A workbook (.xlsx, lists 1-11) to canonical records, one record per child.

Reading streams: openpyxl in read-only mode parses each sheet row by row (only the workbook's
shared-strings table is held whole, as openpyxl must). Annex A spreads one child over up to ten
sheets, each sorted by its own dates, so a merge join is not possible; instead every row is
written, keyed by Child Unique ID, into a scratch SQLite file in a private TemporaryDirectory
(deleted when reading ends; never the service database). A second pass reads the rows back
child by child, in order of first appearance, so memory holds one child's rows at a time
however many children the workbook has.

Sheets are recognised by name ("List 1" ... "List 11", any case or spacing) or, failing that, by
a column only that list has. Cells holding formulas (openpyxl returns "=H2+5" when it is not
asked for cached results, which a workbook written by a script does not have) or spreadsheet
errors ("#N/A") are never read as data: they are kept unmapped with a warning. List 11 describes
adopters, not children: its rows cannot belong to any child's record, so they are counted in one
``adopters-not-transferred`` warning. Problems about the workbook as a whole (missing sheets,
unknown columns, adopters) ride with the first record.

Folding: each list 3 referral opens an episode; each list 6 row is an episode too (the referral
of the same date, or a new one). Assessments (4), Section 47 enquiries (5), child protection
plans (7) and care (8) join the episode whose referral most recently precedes them, or one
without a referral. Contacts (1), early help (2), care leavers (9) and adoption (10) become
chronology entries; allocated teams and workers become professionals. Gender, ethnicity and
birth date come from the first list that gives them; a list that disagrees is reported and its
value kept. Columns the record has no place for are kept unmapped, with their location.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.adapters.base import Adapter, InputUnreadable, ReadResult, Source, fatal, problem
from exchange.adapters.values import Values, Where, parse_bool
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import (
    CATEGORY_OF_ABUSE_ALIASES,
    ETHNICITY_MEANINGS,
    LEGAL_STATUS_MEANINGS,
    PRIMARY_NEED_MEANINGS,
    CategoryOfAbuse,
    Ethnicity,
    IdentifierSystem,
    LegalStatus,
    PrimaryNeed,
    ReasonForClosure,
    ReferralSource,
)
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode
from exchange.canonical.model import SourceLocation

# --- the lists and their columns --------------------------------------------------------------

CHILD_ID = "Child Unique ID"
ADOPTER_ID = "Individual adopter identifier"
AGE = "Age of Child (Years)"
TEAM = "Allocated Team"
WORKER = "Allocated Worker"

COMMON: dict[str, str | None] = {
    CHILD_ID: "child/identifiers (la_child_id)",
    "Gender": "child/sex",
    "Ethnicity": "child/ethnicity",
    "Date of Birth": "child/birth_date",
    AGE: "derived from child/birth_date",
}
DISABILITY = {"Does the Child have a Disability": "child/disabilities"}
ALLOCATED = {TEAM: "professionals/organisation", WORKER: "professionals/name"}
UASC_8 = "Unaccompanied Asylum Seeking Child (UASC) within the Last 12 Months (Y/N)"
UASC_9 = "Unaccompanied Asylum Seeking Child (UASC), or formerly UASC if 18 or over (Y/N)"
EPO = "Subject to Emergency Protection Order or Protected Under Police Powers in Last Six Months (Y/N)"
MISSING = (
    "Number of Episodes the Child has been 'Missing' from their Placement in the last 12 months"
)
ABSENT = "Number of Episodes the Child has been 'Absent' from their Placement in the last 12 months"
RI_OFFERED = "Was the child offered a Return Interview after their last missing episode (Y/N)?"
RI_ACCEPTED = "Did the child accept a Return Interview after their last missing episode (Y/N)?"
ICPC_RESULT = "Did the Initial Child Protection Conference Result in a Child Protection Plan"


@dataclass(frozen=True, slots=True)
class AnnexList:
    """One Annex A list: its number, what it holds, and where each column goes (None: kept)."""

    number: int
    title: str
    marker: str
    columns: Mapping[str, str | None]


def _list(number: int, title: str, marker: str, *parts: Mapping[str, str | None]) -> AnnexList:
    columns: dict[str, str | None] = {}
    for part in parts:
        columns.update(part)
    return AnnexList(number, title, marker, columns)


LISTS: dict[int, AnnexList] = {
    al.number: al
    for al in (
        _list(
            1,
            "contacts",
            "Date of Contact",
            COMMON,
            {"Date of Contact": "chronology/date", "Contact Source": "chronology/source"},
        ),
        _list(
            2,
            "early help",
            "Organisation completing assessment",
            COMMON,
            {
                "Assessment start date": "chronology/date",
                "Assessment completion date": "chronology/date",
                "Organisation completing assessment": "chronology/source",
            },
        ),
        _list(
            3,
            "referrals",
            "Referral NFA?",
            COMMON,
            {
                "Date of referral": "episodes/referral_date",
                "Referral Source": "episodes/referral_source",
                "Referral NFA?": "episodes/referral_no_further_action",
                "Number of Referrals in Last 12 Months": None,
            },
            ALLOCATED,
        ),
        _list(
            4,
            "assessments",
            "Continuous Assessment Start Date",
            COMMON,
            DISABILITY,
            {
                "Continuous Assessment Start Date": "episodes/assessments/start_date",
                "Child Seen During Continuous Assessment": None,
                "Continuous Assessment Date of Authorisation": (
                    "episodes/assessments/authorisation_date"
                ),
                "Was the child assessed as requiring LA children's social care support?": None,
            },
            ALLOCATED,
        ),
        _list(
            5,
            "Section 47 enquiries and initial conferences",
            "Strategy discussion initiating Section 47 Enquiry Start Date",
            COMMON,
            DISABILITY,
            {
                "Strategy discussion initiating Section 47 Enquiry Start Date": (
                    "episodes/section47_enquiries/start_date"
                ),
                "Was an Initial Child Protection Conference deemed unnecessary?": (
                    "episodes/section47_enquiries/initial_conference_not_required"
                ),
                "Date of Initial Child Protection Conference": "episodes/conferences/date",
                ICPC_RESULT: "episodes/conferences/led_to_cp_plan",
                "Number of Section 47 Enquiries in the last 12 months": None,
                "Number of ICPCs in the last 12 months": None,
            },
            ALLOCATED,
        ),
        _list(
            6,
            "children in need",
            "CIN Start Date",
            COMMON,
            DISABILITY,
            {
                "CIN Start Date": "episodes/referral_date",
                "Primary Need Code": "episodes/primary_need",
                "Date Child Was Last Seen": "chronology/date",
                "CIN Closure Date": "episodes/closure_date",
                "Reason for Closure": "episodes/closure_reason",
                "Case Status": "episodes/cin_plans (a child in need plan; others kept)",
            },
            ALLOCATED,
        ),
        _list(
            7,
            "child protection",
            "Child Protection Plan Start Date",
            COMMON,
            DISABILITY,
            {
                "Child Protection Plan Start Date": "episodes/cp_plans/start_date",
                "Initial Category of Abuse": "episodes/cp_plans/initial_category",
                "Latest Category of Abuse": "episodes/cp_plans/latest_category",
                "Date of the Last Statutory Visit": "episodes/cp_plans/visits/date",
                "Was the Child Seen Alone?": "episodes/cp_plans/visits/seen_alone",
                "Date of latest review conference": "episodes/cp_plans/review_dates",
                "Child Protection Plan End Date": "episodes/cp_plans/end_date",
                EPO: "alerts (court_order, when yes)",
                "Number of Previous Child Protection Plans": (
                    "episodes/cp_plans/number_of_previous_plans"
                ),
            },
            ALLOCATED,
        ),
        _list(
            8,
            "children in care",
            "Date Started to be Looked After",
            COMMON,
            {UASC_8: "child/immigration_status/uasc"},
            DISABILITY,
            {
                "Date Started to be Looked After": "chronology/date",
                "Child's Category of Need": "episodes/looked_after_episodes/category_of_need",
                "Is this a second or subsequent period of being a Looked After Child within "
                "the last 12 months (Y/N)": None,
                "Start date of current legal status": "chronology/date",
                "Child's Legal Status": "episodes/looked_after_episodes/legal_status",
                "Date of Latest Statutory Review": "chronology/date",
                "Date of Last Social Work Visit": "chronology/date",
                "What is the permanence plan for this child?": None,
                "Date of Last IRO Visit / Contact to the Child": "chronology/date",
                "Date of Last Health Assessment": "chronology/date",
                "Date of Last Dental Check": "chronology/date",
                "Number of Placements in the Last 12 months": None,
                "Date Ceased to be Looked After": "episodes/looked_after_episodes/end_date",
                "Reason Ceased to be Looked After": (
                    "episodes/looked_after_episodes/reason_episode_ceased"
                ),
                "Start Date of Most Recent Placement": (
                    "episodes/looked_after_episodes/placement/start_date"
                ),
                "Placement Type": "episodes/looked_after_episodes/placement/placement_type",
                "Placement Provider": "episodes/looked_after_episodes/placement/provider",
                "Placement postcode": "episodes/looked_after_episodes/placement/postcode",
                "URN of Placement": "episodes/looked_after_episodes/placement/urn",
                "Placement Location": None,
                "LA of Placement": None,
                MISSING: "alerts (missing, when more than 0)",
                ABSENT: "alerts (missing, when more than 0)",
                RI_OFFERED: "alerts/details (of the missing alert)",
                RI_ACCEPTED: "alerts/details (of the missing alert)",
            },
            ALLOCATED,
        ),
        _list(
            9,
            "care leavers",
            "Eligibility Category",
            COMMON,
            {UASC_9: "child/immigration_status/uasc"},
            DISABILITY,
            ALLOCATED,
            {
                "Allocated Personal Advisor": "professionals/name (personal advisor)",
                "Eligibility Category": None,
                "Latest Pathway Plan Review Date": "chronology/date",
                "LA in Touch": None,
                "Latest Date of Contact": "chronology/date",
                "Type of Accommodation": None,
                "Suitability of Accommodation": None,
                "Activity Status": None,
            },
        ),
        _list(
            10,
            "adoption",
            "Date of Decision that Child Should be Placed for Adoption",
            COMMON,
            {"Family identifier": None},
            DISABILITY,
            {
                "Date the Child Entered Care": "chronology/date",
                "Date of Decision that Child Should be Placed for Adoption": "chronology/date",
                "Date of Placement Order": "chronology/date",
                "Date of Matching Child and Prospective Adopters": "chronology/date",
                "Date Placed for Adoption": "chronology/date",
                "Date of Adoption Order": "chronology/date",
                "Date of Decision that Child Should No Longer be Placed for Adoption": (
                    "chronology/date"
                ),
                "Reason Why Child No Longer Placed for Adoption": "chronology/details",
                "Date the child was placed for fostering in FFA or concurrent planning "
                "placement": "chronology/date",
            },
        ),
        _list(
            11,
            "adopters",
            ADOPTER_ID,
            {ADOPTER_ID: None},
        ),
    )
}

MAPPED_COLUMNS: dict[int, dict[str, str]] = {
    n: {column: target for column, target in al.columns.items() if target is not None}
    for n, al in LISTS.items()
}
"""For each list, the columns mapped into the record and where they go; the rest are kept."""

# Header variants met in real returns that an exact (punctuation-blind) match misses.
_HEADER_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bchild\b.*\b(id|identifier)\b|\b(id|identifier)\b.*\bchild\b"), CHILD_ID),
    (re.compile(r"^age\b"), AGE),
    (re.compile(r"date.*birth"), "Date of Birth"),
    (re.compile(r"date of.*referral"), "Date of referral"),
    (re.compile(r"referral.*source"), "Referral Source"),
    (re.compile(r"^unaccompanied asylum.*within"), UASC_8),
    (re.compile(r"^unaccompanied asylum.*formerly"), UASC_9),
    (re.compile(r"subject to emergency protection order"), EPO),
    (re.compile(r"missing.*from their placement"), MISSING),
    (re.compile(r"absent.*from their placement"), ABSENT),
)

_SHEET_NAME = re.compile(r"^\s*list\s*[-_.]?\s*0?(\d{1,2})(?!\d)", re.IGNORECASE)
_PREFIX = re.compile(r"^[a-zA-Z]{1,2}\)\s*")
_LEADING_CODE = re.compile(r"^([A-Za-z]{0,3}\d{1,2}[A-Za-z]?)(?=$|[\s:\-\])])")
_ETHNIC_CODE = re.compile(r"^([A-Za-z]{4})(?=$|[\s:\-\])])")
_NUMBER_DASH = re.compile(r"^\d\s*-\s*")
_SPACES = re.compile(r"\s+")
EXCEL_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!"}
)
HEADER_SEARCH_ROWS = 20
MAX_TEXT = 2000  # the canonical record's limit on a short text field
MAX_PREVIOUS_PLANS = 99
# Excel day numbers from 1900 to 2099; anything else in a date column is not a date.
_SERIAL_DATES = (1, 73050)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _key(header: str) -> str:
    """A header compared blind to case, spacing, quotes and punctuation."""
    return "".join(ch for ch in header.lower() if ch.isalnum())


_COLUMN_KEYS: dict[int, dict[str, str]] = {
    n: {_key(name): name for name in al.columns} for n, al in LISTS.items()
}
_MARKERS: dict[str, int] = {_key(al.marker): n for n, al in LISTS.items()}


def _clean(text: str) -> str:
    """Non-breaking and repeated spaces made single spaces; curly quotes made straight."""
    text = text.replace("\u2018", "'").replace("\u2019", "'")
    return _SPACES.sub(" ", text).strip()


def _strip_prefix(text: str) -> str:
    """'a) Male' -> 'Male': Annex A's dropdowns put a letter before every choice."""
    return _PREFIX.sub("", _clean(text))


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        return not text or text.upper() == "NULL"
    return False


def _display(value: Any) -> str:
    """A cell value as text, for keeping it unmapped."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _child_key(value: Any) -> str | None:
    """Child Unique ID as text: Excel hands numeric ids over as int or float."""
    if isinstance(value, bool) or _is_empty(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = _clean(value)
        if text.startswith("=") or text.upper() in EXCEL_ERRORS:
            return None
        return text
    return None


def _header_name(number: int, header: str) -> str | None:
    """The Annex A column a sheet header stands for in this list, or None."""
    keys = _COLUMN_KEYS.get(number)
    if keys is None:
        return CHILD_ID if _HEADER_PATTERNS[0][0].search(header.lower()) else None
    name = keys.get(_key(header))
    if name is not None:
        return name
    lowered = _clean(header).lower()
    for pattern, target in _HEADER_PATTERNS:
        if target in LISTS[number].columns and pattern.search(lowered):
            return target
    return None


# --- the scratch store --------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, dt.time | dt.timedelta):
        return {"s": str(value)}
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if "dt" in obj:
        return dt.datetime.fromisoformat(obj["dt"])
    if "d" in obj:
        return dt.date.fromisoformat(obj["d"])
    if "s" in obj:
        return obj["s"]
    return obj


class _Store:
    """Rows grouped by child in a private SQLite file: bounded memory for any number of children."""

    BATCH = 2000

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(str(Path(directory) / "annex_a.sqlite3"))
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            CREATE TABLE row (child TEXT NOT NULL, list INTEGER NOT NULL,
                              sheet INTEGER NOT NULL, number INTEGER NOT NULL, cells TEXT NOT NULL);
            CREATE TABLE skipped (sheet INTEGER NOT NULL, number INTEGER NOT NULL,
                                  code TEXT NOT NULL, message TEXT NOT NULL);
            """
        )
        self.pending: list[tuple[str, int, int, int, str]] = []

    def add(self, child: str, number: int, sheet: int, row: int, cells: list[list[Any]]) -> None:
        """Keep one row of one child until the second pass."""
        text = json.dumps(cells, default=_encode, separators=(",", ":"), ensure_ascii=False)
        self.pending.append((child, number, sheet, row, text))
        if len(self.pending) >= self.BATCH:
            self.flush()

    def skip(self, sheet: int, row: int, code: str, message: str) -> None:
        """Remember a row that belongs to no child."""
        self.db.execute("INSERT INTO skipped VALUES (?, ?, ?, ?)", (sheet, row, code, message))

    def flush(self) -> None:
        """Write the rows held in memory."""
        if self.pending:
            self.db.executemany("INSERT INTO row VALUES (?, ?, ?, ?, ?)", self.pending)
            self.pending.clear()

    def children(self) -> int:
        """How many children the rows belong to."""
        self.flush()
        found = self.db.execute("SELECT COUNT(DISTINCT child) FROM row").fetchone()
        return int(found[0])

    def skipped(self) -> Iterator[tuple[int, int, str, str]]:
        """The rows that belong to no child, in workbook order."""
        yield from self.db.execute("SELECT * FROM skipped ORDER BY rowid")

    def by_child(self) -> Iterator[tuple[str, list[tuple[int, int, int, dict[int, Any]]]]]:
        """Each child's rows, children in order of first appearance, one child at a time."""
        self.flush()
        self.db.execute("CREATE INDEX row_child ON row (child)")
        cursor = self.db.execute(
            """
            SELECT r.child, r.list, r.sheet, r.number, r.cells
            FROM row r JOIN (SELECT child, MIN(rowid) AS first FROM row GROUP BY child) f
              ON f.child = r.child
            ORDER BY f.first, r.rowid
            """
        )
        current: str | None = None
        rows: list[tuple[int, int, int, dict[int, Any]]] = []
        for child, number, sheet, row, text in cursor:
            if child != current:
                if current is not None:
                    yield current, rows
                current, rows = child, []
            cells = {int(i): v for i, v in json.loads(text, object_hook=_decode)}
            rows.append((number, sheet, row, cells))
        if current is not None:
            yield current, rows

    def close(self) -> None:
        """Close the file (the directory removes it)."""
        self.db.close()


# --- sheets -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sheet:
    """A recognised sheet: which list it is and what each column stands for."""

    index: int
    title: str
    number: int
    headers: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    columns: dict[str, int] = field(default_factory=dict)
    id_column: int = -1


@dataclass(slots=True)
class _Row:
    """One row of one sheet; cells are taken out as they are mapped, what is left is kept."""

    sheet: _Sheet
    number: int
    cells: dict[int, Any]

    def take(self, name: str) -> tuple[Any, int] | None:
        """A column's value and position, removed from what is left to keep."""
        index = self.sheet.columns.get(name)
        if index is None or index not in self.cells:
            return None
        return self.cells.pop(index), index

    def peek(self, name: str) -> Any:
        """A column's value, left in the row."""
        index = self.sheet.columns.get(name)
        return None if index is None else self.cells.get(index)


# --- building one child's record ----------------------------------------------------------------

SEXES: dict[str, str] = {
    "M": "M",
    "MALE": "M",
    "1": "M",
    "1 - MALE": "M",
    "F": "F",
    "FEMALE": "F",
    "2": "F",
    "2 - FEMALE": "F",
    "U": "U",
    "0": "U",
    "9": "U",
    "UNKNOWN": "U",
    "UNBORN": "U",
    "NOT KNOWN": "U",
    "NOT RECORDED": "U",
    "NOT STATED": "U",
    "NOT STATED/RECORDED": "U",
    "NOT STATED/RECORDED (OR UNBORN)": "U",
    "UNBORN/UNKNOWN": "U",
}
# Not a sex the census records: sex U, and the words kept as the child's gender.
GENDERS_NEITHER = frozenset({"NEITHER", "INDETERMINATE", "NON-BINARY", "NON BINARY"})
ETHNICITIES = frozenset(e.value for e in Ethnicity)
ETHNICITY_NAMES = {meaning.upper(): code.value for code, meaning in ETHNICITY_MEANINGS.items()}
SOURCES = frozenset(r.value for r in ReferralSource)
# The Annex A groupings that name exactly one census source.
SOURCE_NAMES = {
    "SCHOOLS": "2A",
    "EDUCATION SERVICES": "2B",
    "HOUSING": "4",
    "POLICE": "6",
    "OTHER LEGAL AGENCY": "7",
    "OTHER": "8",
    "ANONYMOUS": "9",
    "UNKNOWN": "10",
}
NEEDS = frozenset(n.value for n in PrimaryNeed)
NEED_NAMES = {meaning.upper(): code.value for code, meaning in PRIMARY_NEED_MEANINGS.items()}
CLOSURES = frozenset(r.value for r in ReasonForClosure)
CLOSURE_NAMES = {
    "ADOPTED": "RC1",
    "DIED": "RC2",
    "RESIDENCE ORDER": "RC3",
    "CHILD ARRANGEMENTS ORDER": "RC3",
    "SPECIAL GUARDIANSHIP ORDER": "RC4",
    "TRANSFER TO ANOTHER LA": "RC5",
    "TRANSFER TO ADULT SOCIAL SERVICES": "RC6",
    "'OTHER' INCL. CHILD NO LONGER IN NEED": "RC7",
    "CHILD NOT IN NEED AFTER ASSESSMENT": "RC8",
}
CATEGORIES = frozenset(c.value for c in CategoryOfAbuse)
LEGAL_STATUSES = frozenset(s.value for s in LegalStatus)
LEGAL_STATUS_NAMES = {
    meaning.upper(): code.value for code, meaning in LEGAL_STATUS_MEANINGS.items()
}
UNKNOWN_ANSWERS = frozenset({"unknown", "not known"})
CIN_PLAN_STATUSES = frozenset({"CIN", "CIN PLAN"})

ROLE_SOCIAL_WORKER = "allocated social worker"
ROLE_PERSONAL_ADVISOR = "personal advisor"
# The order lists are folded in: episodes first (referrals, then children in need), so that
# assessments, enquiries, plans and care can be placed in the episode their date falls in.
FOLD_ORDER = (3, 6, 4, 5, 7, 8, 1, 2, 9, 10, 0)


class _ChildBuilder:
    """Folds every row of one child, from every list, into the record's plain data."""

    def __init__(self, file: str, key: str, issuer: str | None) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.values = Values(self.problems)
        ident: dict[str, Any] = {"system": IdentifierSystem.LA_CHILD_ID.value, "value": key}
        if issuer:
            ident["issuer"] = issuer
        self.child: dict[str, Any] = {"identifiers": [ident]}
        self.first: dict[str, tuple[Any, SourceLocation]] = {}
        self.episodes: list[dict[str, Any]] = []
        self.cin_episodes: set[int] = set()
        self.chronology: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.professionals: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
        self.ages: list[tuple[str, Any, Where]] = []
        self.disability: list[tuple[bool, str, Any, Where]] = []
        self.uasc: list[tuple[bool, str, Any, Where]] = []

    # -- locations and reading cells ------------------------------------------------------------

    def where(self, row: _Row, index: int) -> Where:
        def make() -> SourceLocation:
            return SourceLocation(
                file=self.file,
                sheet=row.sheet.title,
                row=row.number,
                column=row.sheet.headers[index],
            )

        return make

    def screen(self, row: _Row, index: int, value: Any) -> bool:
        """False (reported and kept) when a cell holds a formula or an error, not a value."""
        if not isinstance(value, str):
            return True
        text = value.strip()
        header = row.sheet.headers[index]
        if text.startswith("="):
            where = self.where(row, index)
            self.values.report(
                "cell-formula",
                f"{header} holds the formula {text!r}, not a value.",
                "Replace formulas with their values (copy, then paste values) before sending.",
                where,
                Severity.WARNING,
            )
            self.values.keep(header, text, where, "formula, not a value")
            return False
        if text.upper() in EXCEL_ERRORS:
            where = self.where(row, index)
            self.values.report(
                "cell-error",
                f"{header} holds the spreadsheet error {text!r}, not a value.",
                "Fix the lookup or formula that produced the error, then export again.",
                where,
                Severity.WARNING,
            )
            self.values.keep(header, text, where, "spreadsheet error, not a value")
            return False
        return True

    def take(self, row: _Row, name: str) -> tuple[Any, int] | None:
        """A column's value, taken out of the row; None when empty, a formula or an error."""
        found = row.take(name)
        if found is None:
            return None
        value, index = found
        return found if self.screen(row, index, value) else None

    def keep(self, row: _Row, index: int, value: Any, reason: str) -> None:
        """Carry a value the record has no place for."""
        self.values.keep(row.sheet.headers[index], _display(value), self.where(row, index), reason)

    def text(self, row: _Row, name: str) -> str | None:
        found = self.take(row, name)
        if found is None:
            return None
        text = _clean(_display(found[0]))
        if len(text) <= MAX_TEXT:
            return text
        header, where = row.sheet.headers[found[1]], self.where(row, found[1])
        self.values.report(
            "text-too-long",
            f"{header} is {len(text)} characters long; the record holds at most {MAX_TEXT}.",
            "Shorten the text in the source system; the full text is kept unmapped.",
            where,
            Severity.WARNING,
        )
        self.values.keep(header, text, where, f"longer than {MAX_TEXT} characters")
        return None

    def date(self, row: _Row, name: str) -> dt.date | None:
        found = self.take(row, name)
        if found is None:
            return None
        value, index = found
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        header, where = row.sheet.headers[index], self.where(row, index)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if _SERIAL_DATES[0] <= value <= _SERIAL_DATES[1]:
                self.values.report(
                    "date-from-number",
                    f"{header} {_display(value)} is a number read as an Excel day number.",
                    "Format the column as dates in the workbook.",
                    where,
                    Severity.WARNING,
                )
                return _EXCEL_EPOCH + dt.timedelta(days=int(value))
            value = _display(value)
        return self.values.date(_display(value), header, where)

    def integer(self, row: _Row, name: str) -> tuple[int, int] | None:
        found = self.take(row, name)
        if found is None:
            return None
        value, index = found
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value, index
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value), index
        number = self.values.integer(
            _display(value), row.sheet.headers[index], self.where(row, index)
        )
        return None if number is None else (number, index)

    def yes_no(self, row: _Row, name: str) -> tuple[bool, int, Any] | None:
        """A yes/no answer with its position and the cell as written (to keep it if need be)."""
        found = self.take(row, name)
        if found is None:
            return None
        value, index = found
        if isinstance(value, bool):
            return value, index, value
        text = _NUMBER_DASH.sub("", _strip_prefix(_display(value)))
        answer = parse_bool(text)
        if answer is not None:
            return answer, index, value
        if text.lower() in UNKNOWN_ANSWERS:
            self.keep(row, index, value, "recorded as unknown")
            return None
        header, where = row.sheet.headers[index], self.where(row, index)
        self.values.report(
            "boolean-invalid",
            f"{header} {_display(value)!r} is not yes or no.",
            "Answer a) Yes or b) No.",
            where,
        )
        self.values.keep(header, _display(value), where, "not a yes/no value")
        return None

    def code(
        self,
        row: _Row,
        name: str,
        allowed: frozenset[str],
        names: Mapping[str, str] | None = None,
        *,
        pattern: re.Pattern[str] = _LEADING_CODE,
        dfe_rule: str | None = None,
    ) -> str | None:
        """A code from a list: 'q) 6: Police' -> '6', 'N1 - Abuse or Neglect' -> 'N1'."""
        found = self.take(row, name)
        if found is None:
            return None
        value, index = found
        text = _strip_prefix(_display(value))
        match = pattern.match(text)
        if match and match.group(1).upper() in allowed:
            return match.group(1).upper()
        whole = text.upper()
        if names and whole in names:
            return names[whole]
        if whole in allowed:
            return whole
        header, where = row.sheet.headers[index], self.where(row, index)
        self.values.report(
            "code-unknown",
            f"{header} {_display(value)!r} is not a known code.",
            f"Use one of: {', '.join(sorted(allowed, key=_natural))}, optionally followed by "
            "its description.",
            where,
            Severity.WARNING,
            dfe_rule,
        )
        self.values.keep(header, _display(value), where, "not a known code")
        return None

    # -- the child, seen from every list --------------------------------------------------------

    def settle(
        self, name: str, value: Any, row: _Row, column: str, raw: Any, *, report: bool = True
    ) -> bool:
        """Set a child field once; a later list saying otherwise is reported and kept."""
        if value is None:
            return False
        index = row.sheet.columns[column]
        where = self.where(row, index)
        if name not in self.first:
            self.first[name] = (value, _where(where))
            self.child[name] = value
            return True
        earlier, at = self.first[name]
        if earlier == value:
            return True
        if not report:
            return False
        header = row.sheet.headers[index]
        shown = earlier.isoformat() if isinstance(earlier, dt.date) else earlier
        self.values.report(
            "value-conflict",
            f"{header} {_display(raw)!r} differs from {shown!r} in {at.sheet} row {at.row}.",
            "Correct the child's details in the source system so every list agrees.",
            where,
            Severity.WARNING,
        )
        self.values.keep(header, _display(raw), where, f"differs from {at.sheet} row {at.row}")
        return False

    def common(self, row: _Row) -> None:
        self.sex(row)
        raw = row.peek("Ethnicity")
        code = self.code(row, "Ethnicity", ETHNICITIES, ETHNICITY_NAMES, pattern=_ETHNIC_CODE)
        self.settle("ethnicity", code, row, "Ethnicity", raw)
        raw = row.peek("Date of Birth")
        self.settle("birth_date", self.date(row, "Date of Birth"), row, "Date of Birth", raw)
        if (found := self.take(row, AGE)) is not None:
            self.ages.append((row.sheet.headers[found[1]], found[0], self.where(row, found[1])))
        for column, answers in (
            ("Does the Child have a Disability", self.disability),
            (UASC_8, self.uasc),
            (UASC_9, self.uasc),
        ):
            if (answer := self.yes_no(row, column)) is not None:
                flag, index, raw = answer
                answers.append((flag, row.sheet.headers[index], raw, self.where(row, index)))

    def sex(self, row: _Row) -> None:
        """Gender: 'a) Male' -> M; 'd) Neither' -> U, with the words kept as the gender."""
        raw = row.peek("Gender")
        if (found := self.take(row, "Gender")) is None:
            return
        text = _strip_prefix(_display(found[0]))
        key = re.sub(r"\s*/\s*", "/", text).upper()
        if key in SEXES:
            self.settle("sex", SEXES[key], row, "Gender", raw)
        elif key in GENDERS_NEITHER:
            if self.settle("sex", "U", row, "Gender", raw):
                self.settle("gender", text, row, "Gender", raw, report=False)
        else:
            header, where = row.sheet.headers[found[1]], self.where(row, found[1])
            self.values.report(
                "code-unknown",
                f"{header} {_display(raw)!r} is not a known gender.",
                "Use a) Male, b) Female, c) Not stated/recorded or d) Neither.",
                where,
                Severity.WARNING,
            )
            self.values.keep(header, _display(raw), where, "not a known code")

    def allocated(self, row: _Row, team_column: str, worker_column: str, role: str) -> None:
        team = self.text(row, team_column) if team_column else None
        name = self.text(row, worker_column)
        if team is None and name is None:
            return
        key = (role, name, team)
        if key not in self.professionals:
            person: dict[str, Any] = {"role": role, "agency": "social_care"}
            if name:
                person["name"] = name
            if team:
                person["organisation"] = team
            self.professionals[key] = person

    def event(
        self,
        row: _Row,
        column: str,
        category: str,
        summary: str,
        source: str | None = None,
        details: str | None = None,
    ) -> dt.date | None:
        """A chronology entry for a dated column; returns the date."""
        date = self.date(row, column)
        if date is not None:
            entry: dict[str, Any] = {"date": date, "category": category, "summary": summary}
            if source:
                entry["source"] = source
            if details:
                entry["details"] = details
            self.chronology.append(entry)
        return date

    # -- episodes -------------------------------------------------------------------------------

    def new_episode(self, referral_date: dt.date | None) -> dict[str, Any]:
        episode: dict[str, Any] = {
            "referral_date": referral_date,
            "assessments": [],
            "cin_plans": [],
            "section47_enquiries": [],
            "conferences": [],
            "cp_plans": [],
            "looked_after_episodes": [],
        }
        self.episodes.append(episode)
        return episode

    def episode_for(self, when: dt.date | None) -> dict[str, Any]:
        """The episode whose referral most recently precedes a date, else one with no referral."""
        best: dict[str, Any] | None = None
        if when is not None:
            for episode in self.episodes:
                ref = episode["referral_date"]
                if (
                    ref is not None
                    and ref <= when
                    and (best is None or ref > best["referral_date"])
                ):
                    best = episode
        if best is not None:
            return best
        for episode in self.episodes:
            if episode["referral_date"] is None:
                return episode
        return self.new_episode(None)

    # -- the lists ------------------------------------------------------------------------------

    def contact(self, row: _Row) -> None:
        source = self.text(row, "Contact Source")
        source = _strip_prefix(source) if source else None
        date = self.event(row, "Date of Contact", "referral", "Contact received", source=source)
        if date is None and source:
            self.keep_text(row, "Contact Source", source, "a contact source without a date")

    def keep_text(self, row: _Row, column: str, text: str, reason: str) -> None:
        index = row.sheet.columns[column]
        self.values.keep(row.sheet.headers[index], text, self.where(row, index), reason)

    def early_help(self, row: _Row) -> None:
        org = self.text(row, "Organisation completing assessment")
        started = self.event(
            row, "Assessment start date", "assessment", "Early help assessment started", org
        )
        ended = self.event(
            row, "Assessment completion date", "assessment", "Early help assessment completed", org
        )
        if started is None and ended is None and org:
            self.keep_text(row, "Organisation completing assessment", org, "no assessment dates")

    def referral(self, row: _Row) -> None:
        episode = self.new_episode(self.date(row, "Date of referral"))
        episode["referral_source"] = self.code(row, "Referral Source", SOURCES, SOURCE_NAMES)
        if (nfa := self.yes_no(row, "Referral NFA?")) is not None:
            episode["referral_no_further_action"] = nfa[0]
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def assessment(self, row: _Row) -> None:
        start = self.date(row, "Continuous Assessment Start Date")
        authorised = self.date(row, "Continuous Assessment Date of Authorisation")
        if start or authorised:
            self.episode_for(start or authorised)["assessments"].append(
                {"start_date": start, "authorisation_date": authorised}
            )
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def section47(self, row: _Row) -> None:
        start = self.date(row, "Strategy discussion initiating Section 47 Enquiry Start Date")
        not_needed = self.yes_no(
            row, "Was an Initial Child Protection Conference deemed unnecessary?"
        )
        icpc = self.date(row, "Date of Initial Child Protection Conference")
        result = self.yes_no(row, ICPC_RESULT)
        episode = self.episode_for(start or icpc)
        enquiry: dict[str, Any] = {"start_date": start, "initial_conference_date": icpc}
        if not_needed is not None:
            enquiry["initial_conference_not_required"] = not_needed[0]
        episode["section47_enquiries"].append(enquiry)
        if icpc is not None or result is not None:
            conference: dict[str, Any] = {"type": "initial", "date": icpc}
            if result is not None:
                conference["led_to_cp_plan"] = result[0]
            episode["conferences"].append(conference)
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def cin(self, row: _Row) -> None:
        start = self.date(row, "CIN Start Date")
        # Each list 6 row is one episode: it takes the referral of the same date unless another
        # list 6 row already has, so a second row never overwrites the first one's need.
        episode = next(
            (
                e
                for e in self.episodes
                if e["referral_date"] == start and id(e) not in self.cin_episodes
            ),
            None,
        )
        if episode is None:
            episode = self.new_episode(start)
        self.cin_episodes.add(id(episode))
        if need := self.code(row, "Primary Need Code", NEEDS, NEED_NAMES, dfe_rule="8650"):
            episode["primary_need"] = need
        if closed := self.date(row, "CIN Closure Date"):
            episode["closure_date"] = closed
        reason = self.code(row, "Reason for Closure", CLOSURES, CLOSURE_NAMES, dfe_rule="8640")
        if reason:
            episode["closure_reason"] = reason
        self.event(row, "Date Child Was Last Seen", "visit", "Child last seen (child in need)")
        if (found := self.take(row, "Case Status")) is not None:
            value, index = found
            status = _strip_prefix(_display(value)).upper()
            if "CHILD IN NEED" in status or status in CIN_PLAN_STATUSES:
                episode["cin_plans"].append({})
            else:
                self.keep(row, index, value, "case status; the other lists hold the detail")
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def cp_plan(self, row: _Row) -> None:
        start = self.date(row, "Child Protection Plan Start Date")
        plan: dict[str, Any] = {
            "start_date": start,
            "end_date": self.date(row, "Child Protection Plan End Date"),
            "initial_category": self.code(
                row,
                "Initial Category of Abuse",
                CATEGORIES,
                CATEGORY_OF_ABUSE_ALIASES,
                pattern=_NO_CODE,
                dfe_rule="8905",
            ),
            "latest_category": self.code(
                row,
                "Latest Category of Abuse",
                CATEGORIES,
                CATEGORY_OF_ABUSE_ALIASES,
                pattern=_NO_CODE,
                dfe_rule="8910",
            ),
            "review_dates": [],
            "visits": [],
        }
        if previous := self.integer(row, "Number of Previous Child Protection Plans"):
            if previous[0] <= MAX_PREVIOUS_PLANS:
                plan["number_of_previous_plans"] = previous[0]
            else:
                index = previous[1]
                self.values.report(
                    "number-invalid",
                    f"{row.sheet.headers[index]} {previous[0]} is not a plausible count.",
                    f"Give the number of previous plans (0-{MAX_PREVIOUS_PLANS}).",
                    self.where(row, index),
                )
                self.keep(row, index, previous[0], "not a plausible count")
        if review := self.date(row, "Date of latest review conference"):
            plan["review_dates"].append(review)
        visited = self.date(row, "Date of the Last Statutory Visit")
        alone = self.yes_no(row, "Was the Child Seen Alone?")
        if visited is not None:
            visit: dict[str, Any] = {"date": visited}
            if alone is not None:
                visit["seen_alone"] = alone[0]
            plan["visits"].append(visit)
        elif alone is not None:
            self.keep(row, alone[1], alone[2], "seen alone, but no visit date")
        self.episode_for(start)["cp_plans"].append(plan)
        if (epo := self.yes_no(row, EPO)) is not None and epo[0]:
            self.alerts.append(
                {
                    "type": "court_order",
                    "severity": "high",
                    "summary": "Subject to an emergency protection order or police protection "
                    "in the last six months.",
                    "details": f"{EPO}: yes (Annex A list 7).",
                }
            )
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def looked_after(self, row: _Row) -> None:
        started = self.event(
            row, "Date Started to be Looked After", "placement", "Started to be looked after"
        )
        legal = self.code(row, "Child's Legal Status", LEGAL_STATUSES, LEGAL_STATUS_NAMES)
        legal_from = self.event(
            row,
            "Start date of current legal status",
            "court",
            f"Legal status {legal} ({LEGAL_STATUS_MEANINGS[LegalStatus(legal)]}) began"
            if legal
            else "Current legal status began",
        )
        placement: dict[str, Any] = {
            "start_date": self.date(row, "Start Date of Most Recent Placement"),
            "placement_type": self.label(row, "Placement Type"),
            "provider": self.label(row, "Placement Provider"),
            "urn": self.text(row, "URN of Placement"),
        }
        if (postcode := self.text(row, "Placement postcode")) is not None:
            if normalise_postcode(postcode) or normalise_partial_postcode(postcode):
                placement["postcode"] = postcode
            else:
                self.not_postcode(row, postcode)
        starts = [d for d in (legal_from, placement["start_date"]) if d is not None]
        episode: dict[str, Any] = {
            "start_date": max(starts) if starts else started,
            "end_date": self.date(row, "Date Ceased to be Looked After"),
            "legal_status": legal,
            "category_of_need": self.code(row, "Child's Category of Need", NEEDS, NEED_NAMES),
            "reason_episode_ceased": self.label(row, "Reason Ceased to be Looked After"),
        }
        if any(v is not None for v in placement.values()):
            episode["placement"] = placement
        self.episode_for(started or episode["start_date"])["looked_after_episodes"].append(episode)
        for column, category, summary in (
            ("Date of Latest Statutory Review", "conference", "Looked-after review"),
            ("Date of Last Social Work Visit", "visit", "Social work visit (looked after)"),
            ("Date of Last IRO Visit / Contact to the Child", "visit", "IRO visit or contact"),
            ("Date of Last Health Assessment", "health", "Health assessment"),
            ("Date of Last Dental Check", "health", "Dental check"),
        ):
            self.event(row, column, category, summary)
        self.missing(row)
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)

    def label(self, row: _Row, column: str) -> str | None:
        """A free-text code column: its code ('U6', 'PR4', 'E47') when it has one."""
        text = self.text(row, column)
        if text is None:
            return None
        text = _strip_prefix(text)
        match = _LEADING_CODE.match(text)
        return match.group(1).upper() if match else text

    def not_postcode(self, row: _Row, text: str) -> None:
        index = row.sheet.columns["Placement postcode"]
        where = self.where(row, index)
        self.values.report(
            "postcode-invalid",
            f"Placement postcode {text!r} is not a UK postcode.",
            "Correct the postcode, or leave it empty.",
            where,
            Severity.WARNING,
        )
        self.values.keep(row.sheet.headers[index], text, where, "not a postcode")

    def missing(self, row: _Row) -> None:
        offered = self.yes_no(row, RI_OFFERED)
        accepted = self.yes_no(row, RI_ACCEPTED)
        interviews = [
            f"{label}: {'yes' if answer[0] else 'no'}"
            for label, answer in (
                ("Return interview offered", offered),
                ("Return interview accepted", accepted),
            )
            if answer is not None
        ]
        placed = False
        for column, kind, severity in ((MISSING, "Missing", "high"), (ABSENT, "Absent", "medium")):
            count = self.integer(row, column)
            if count is None or count[0] == 0:
                continue
            alert: dict[str, Any] = {
                "type": "missing",
                "severity": severity,
                "summary": f"{kind} from placement {count[0]} time"
                f"{'' if count[0] == 1 else 's'} in the last 12 months.",
            }
            if kind == "Missing" and interviews:
                alert["details"] = "After the last missing episode: " + "; ".join(interviews) + "."
                placed = True
            self.alerts.append(alert)
        if not placed:
            for answer in (offered, accepted):
                if answer is not None:
                    self.keep(row, answer[1], answer[2], "no missing episodes")

    def care_leaver(self, row: _Row) -> None:
        self.allocated(row, TEAM, WORKER, ROLE_SOCIAL_WORKER)
        self.allocated(row, "", "Allocated Personal Advisor", ROLE_PERSONAL_ADVISOR)
        self.event(row, "Latest Pathway Plan Review Date", "plan", "Pathway plan reviewed")
        self.event(row, "Latest Date of Contact", "visit", "Latest contact with the care leaver")

    def adoption(self, row: _Row) -> None:
        for column, category, summary in (
            ("Date the Child Entered Care", "placement", "Entered care"),
            (
                "Date of Decision that Child Should be Placed for Adoption",
                "plan",
                "Decision that the child should be placed for adoption",
            ),
            ("Date of Placement Order", "court", "Placement order"),
            (
                "Date of Matching Child and Prospective Adopters",
                "plan",
                "Matched with prospective adopters",
            ),
            ("Date Placed for Adoption", "placement", "Placed for adoption"),
            ("Date of Adoption Order", "court", "Adoption order"),
            (
                "Date the child was placed for fostering in FFA or concurrent planning placement",
                "placement",
                "Placed in a fostering for adoption or concurrent planning placement",
            ),
        ):
            self.event(row, column, category, summary)
        reason = self.text(row, "Reason Why Child No Longer Placed for Adoption")
        stopped = self.event(
            row,
            "Date of Decision that Child Should No Longer be Placed for Adoption",
            "plan",
            "Decision that the child should no longer be placed for adoption",
            details=f"Reason: {reason}" if reason else None,
        )
        if stopped is None and reason:
            self.keep_text(
                row, "Reason Why Child No Longer Placed for Adoption", reason, "no decision date"
            )

    # -- the record -----------------------------------------------------------------------------

    def fold(self, row: _Row) -> None:
        """Map one row; whatever is left in it is kept unmapped."""
        number = row.sheet.number
        if number:
            self.common(row)
        handler: Callable[[_Row], None] | None = {
            1: self.contact,
            2: self.early_help,
            3: self.referral,
            4: self.assessment,
            5: self.section47,
            6: self.cin,
            7: self.cp_plan,
            8: self.looked_after,
            9: self.care_leaver,
            10: self.adoption,
        }.get(number)
        if handler is not None:
            handler(row)
        for index, value in sorted(row.cells.items()):
            if not self.screen(row, index, value):
                continue
            if not number:
                reason = "sheet is not an Annex A list"
            elif row.sheet.names[index] is None:
                reason = f"column not in Annex A list {number}"
            else:
                reason = "no place in the canonical record"
            self.keep(row, index, value, reason)
        row.cells.clear()

    def finish_child(self) -> dict[str, Any]:
        """The record's plain data, once every row is folded."""
        for header, value, at in self.ages:
            if self.child.get("birth_date") is None:
                self.values.keep(header, _display(value), at, "age given without a date of birth")
        answers = {a[0] for a in self.disability}
        if answers == {False}:
            self.child["disabilities"] = ["NONE"]
        else:
            for answer, header, raw, at in self.disability:
                self.values.keep(
                    header,
                    _display(raw),
                    at,
                    "has a disability; Annex A does not say which"
                    if answer
                    else "differs from another list that says the child has a disability",
                )
        if self.uasc:
            self.child["immigration_status"] = {"uasc": any(a[0] for a in self.uasc)}
        for episode in self.episodes:
            if episode.get("referral_source") is None:
                episode.pop("referral_source", None)
        self.episodes.sort(key=lambda e: (e["referral_date"] is None, e["referral_date"] or 0))
        self.chronology.sort(key=lambda e: e["date"])
        return {
            "child": self.child,
            "episodes": self.episodes,
            "chronology": self.chronology,
            "alerts": self.alerts,
            "professionals": list(self.professionals.values()),
            "unmapped": self.values.unmapped,
        }


_NO_CODE = re.compile(r"(?!)")


def _natural(code: str) -> tuple[int, str]:
    digits = "".join(ch for ch in code if ch.isdigit())
    return (int(digits) if digits else 0, code)


def _where(where: Where) -> SourceLocation:
    return where if isinstance(where, SourceLocation) else where()


# --- the adapter --------------------------------------------------------------------------------


class AnnexAAdapter(Adapter):
    """Ofsted Annex A workbook (lists 1-11) -> canonical records, one per child."""

    name = "annex-a"
    title = "Ofsted Annex A workbook (.xlsx)"
    formats = ("xlsx",)
    versions = ("2023", "2024")

    def __init__(
        self, context: RuleContext | None = None, *, source_authority: str | None = None
    ) -> None:
        super().__init__(context)
        self.source_authority = source_authority.strip() if source_authority else None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child (and one per row that names no child); fatal if unreadable."""
        file = source.single(self.name)
        with tempfile.TemporaryDirectory(prefix="annex-a-") as scratch:
            store = _Store(scratch)
            try:
                sheets, notes = self._load(file.name, file, store)
                yield from self._emit(file.name, sheets, notes, store)
            finally:
                store.close()

    # -- first pass: every sheet into the store -------------------------------------------------

    def _load(self, name: str, file: Any, store: _Store) -> tuple[list[_Sheet], list[Problem]]:
        import openpyxl

        notes: list[Problem] = []
        sheets: list[_Sheet] = []
        adopters: list[tuple[str, int]] = []
        with file.open() as stream, warnings.catch_warnings():
            # openpyxl warns about workbook features it does not read (validation, styles).
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            try:
                workbook = openpyxl.load_workbook(
                    stream, read_only=True, data_only=False, keep_links=False
                )
            except Exception as exc:
                raise _unreadable(name, None, exc) from exc
            try:
                for index, worksheet in enumerate(workbook.worksheets):
                    try:
                        sheet = self._sheet(name, index, worksheet, store, notes, adopters)
                    except InputUnreadable:
                        raise
                    except Exception as exc:
                        raise _unreadable(name, worksheet.title, exc) from exc
                    if sheet is not None:
                        sheets.append(sheet)
            finally:
                workbook.close()
        found = {s.number for s in sheets if s.number}
        if not found:
            raise fatal(
                "no-annex-a-lists",
                "The workbook has none of the Annex A lists 1-11.",
                "Name the sheets 'List 1' to 'List 11', or keep each list's header row.",
                SourceLocation(file=name),
            )
        for number, al in LISTS.items():
            if number not in found:
                notes.append(
                    problem(
                        "sheet-missing",
                        f"The workbook has no 'List {number}' sheet ({al.title}).",
                        f"Add the 'List {number}' sheet if the authority holds {al.title}; "
                        "otherwise nothing needs doing.",
                        SourceLocation(file=name, sheet=f"List {number}"),
                        severity=Severity.WARNING,
                    )
                )
        for title, count in adopters:
            notes.append(
                problem(
                    "adopters-not-transferred",
                    f"{count} adopter row{'' if count == 1 else 's'} of list 11 (sheet "
                    f"{title!r}) not transferred: adopters are not children, and a child's "
                    "record has no place for them.",
                    "Send adopters' details through the adoption agency's own channel.",
                    SourceLocation(file=name, sheet=title),
                    severity=Severity.WARNING,
                )
            )
        return sheets, notes

    def _sheet(
        self,
        name: str,
        index: int,
        worksheet: Any,
        store: _Store,
        notes: list[Problem],
        adopters: list[tuple[str, int]],
    ) -> _Sheet | None:
        title = str(worksheet.title)
        match = _SHEET_NAME.match(_clean(title))
        number = int(match.group(1)) if match and 1 <= int(match.group(1)) <= 11 else None
        worksheet.reset_dimensions()  # a stale <dimension> would cut rows short
        rows = worksheet.iter_rows(values_only=True)
        header_row, headers, number, seen_content = self._find_header(rows, number)
        where = SourceLocation(file=name, sheet=title)
        if headers is None or number is None:
            if number is not None and seen_content:
                raise fatal(
                    "columns-missing",
                    f"Sheet {title!r} has no '{ADOPTER_ID if number == 11 else CHILD_ID}' "
                    f"column in its first {HEADER_SEARCH_ROWS} rows.",
                    "Keep the list's header row, with the child's id column, above its rows.",
                    where,
                )
            if number is None and seen_content:
                notes.append(
                    problem(
                        "sheet-not-recognised",
                        f"Sheet {title!r} is not one of the Annex A lists and has no child id "
                        "column; it was not read.",
                        "Name each list's sheet 'List 1' to 'List 11'; move other sheets out.",
                        where,
                        severity=Severity.WARNING,
                    )
                )
            return None if number is None else _Sheet(index, title, number)
        sheet = _Sheet(index, title, number)
        self._columns(sheet, headers, notes, where)
        if number == 0:
            notes.append(
                problem(
                    "sheet-not-recognised",
                    f"Sheet {title!r} is not one of the Annex A lists; its values are kept "
                    "unmapped on the records of the children it names.",
                    "Name each list's sheet 'List 1' to 'List 11'; move other sheets out.",
                    where,
                    severity=Severity.WARNING,
                )
            )
        if number == 11:
            adopters.append((title, sum(1 for row in rows if any(not _is_empty(v) for v in row))))
            return sheet
        for offset, values in enumerate(rows, header_row + 1):
            self._row(sheet, offset, values, store)
        return sheet

    @staticmethod
    def _find_header(
        rows: Iterator[tuple[Any, ...]], number: int | None
    ) -> tuple[int, list[str] | None, int | None, bool]:
        """The header row among the first rows; identifies the list when the name did not."""
        seen_content = False
        for row_number, values in enumerate(rows, 1):
            # Headers are reported as written, only their spacing tidied.
            cells = [_SPACES.sub(" ", str(v)).strip() if not _is_empty(v) else "" for v in values]
            if any(cells):
                seen_content = True
                keys = {_key(c) for c in cells if c}
                if number is None:
                    marked = sorted(_MARKERS[k] for k in keys if k in _MARKERS)
                    if marked:
                        return row_number, cells, marked[0], True
                    if any(_header_name(0, c) for c in cells if c):
                        return row_number, cells, 0, True
                elif number == 11:
                    if _key(ADOPTER_ID) in keys:
                        return row_number, cells, 11, True
                elif any(_header_name(number, c) == CHILD_ID for c in cells if c):
                    return row_number, cells, number, True
            if row_number >= HEADER_SEARCH_ROWS:
                break
        return 0, None, number, seen_content

    @staticmethod
    def _columns(sheet: _Sheet, headers: list[str], notes: list[Problem], where: Any) -> None:
        unknown: list[str] = []
        for index, header in enumerate(headers):
            shown = header or f"column {index + 1}"
            name = _header_name(sheet.number, header) if header else None
            if name is not None and name in sheet.columns:
                name = None  # a repeated column: its values are kept, not mapped twice
            sheet.headers.append(shown)
            sheet.names.append(name)
            if name is not None:
                sheet.columns[name] = index
            elif header and 1 <= sheet.number <= 10:
                unknown.append(shown)
        if CHILD_ID in sheet.columns:
            sheet.id_column = sheet.columns[CHILD_ID]
        if unknown and sheet.number:
            notes.append(
                problem(
                    "columns-unknown",
                    f"Sheet {sheet.title!r} has columns Annex A list {sheet.number} does not "
                    f"define: {', '.join(repr(u) for u in unknown)}. Their values are kept "
                    "unmapped.",
                    "Check the column names against the Annex A template; rename or remove "
                    "local columns.",
                    where,
                    severity=Severity.WARNING,
                )
            )

    @staticmethod
    def _row(sheet: _Sheet, number: int, values: tuple[Any, ...], store: _Store) -> None:
        cells: list[list[Any]] = []
        child: str | None = None
        raw_id: Any = None
        for index, value in enumerate(values):
            if _is_empty(value):
                continue
            if index == sheet.id_column:
                raw_id, child = value, _child_key(value)
                continue
            if index >= len(sheet.headers):
                sheet.headers.append(f"column {index + 1}")
                sheet.names.append(None)
            cells.append([index, value])
        if child is not None:
            store.add(child, sheet.number, sheet.index, number, cells)
        elif cells or raw_id is not None:
            if raw_id is None:
                store.skip(
                    sheet.index,
                    number,
                    "child-id-missing",
                    f"The row has no {CHILD_ID}, so it cannot be joined to a child.",
                )
            else:
                store.skip(
                    sheet.index,
                    number,
                    "child-id-invalid",
                    f"{CHILD_ID} {_display(raw_id)!r} is a formula or an error, not an id.",
                )

    # -- second pass: one record per child -------------------------------------------------------

    def _emit(
        self, name: str, sheets: list[_Sheet], notes: list[Problem], store: _Store
    ) -> Iterator[ReadResult]:
        by_index = {s.index: s for s in sheets}
        if store.children() == 0:
            raise fatal(
                "no-children",
                "No row of lists 1-10 names a child (Child Unique ID).",
                "Export the workbook with the children's rows, each with its Child Unique ID.",
                SourceLocation(file=name),
            )
        for sheet_index, row, code, message in store.skipped():
            title = by_index[sheet_index].title
            location = SourceLocation(file=name, sheet=title, row=row, column=CHILD_ID)
            yield ReadResult(
                None,
                [
                    problem(
                        code,
                        message,
                        "Give every row of lists 1-10 the child's id.",
                        location,
                    )
                ],
                None,
                location,
            )
        order = {n: i for i, n in enumerate(FOLD_ORDER)}
        for key, rows in store.by_child():
            _, sheet_index, row_number, _ = rows[0]
            location = SourceLocation(file=name, sheet=by_index[sheet_index].title, row=row_number)
            builder = _ChildBuilder(name, key, self.source_authority)
            for _, sheet_index, row_number, cells in sorted(
                rows, key=lambda r: order.get(r[0], len(order))
            ):
                builder.fold(_Row(by_index[sheet_index], row_number, cells))
            data = builder.finish_child()
            data["provenance"] = {"source_authority": self.source_authority or "unknown"}
            problems = builder.problems
            if notes:
                problems[:0], notes = notes, []
            if self.source_authority is None:
                problems.append(
                    problem(
                        "source-authority-missing",
                        "Annex A does not say which authority sent it, and none was given.",
                        "Give the sending authority's DfE or GSS code when converting "
                        "(source_authority).",
                        location,
                        severity=Severity.WARNING,
                    )
                )
            yield self.finish(data, key=key, location=location, problems=problems)


def _unreadable(name: str, sheet: str | None, exc: Exception) -> InputUnreadable:
    detail = str(exc).strip() or type(exc).__name__
    return fatal(
        "xlsx-unreadable",
        f"The file is not a readable .xlsx workbook ({detail}).",
        "Save the Annex A return from Excel as an .xlsx workbook and send it again.",
        SourceLocation(file=name, sheet=sheet),
    )
