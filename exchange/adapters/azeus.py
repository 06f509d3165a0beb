"""Azeus Care (Oracle) tables, one CSV per table, read into canonical records.

**Input.** A folder with one CSV per table, named after it (``SVC_USR.csv``, matched case-
insensitively), with a header row of the table's column names, dates as Oracle writes them
(``02-MAR-15``; ISO, ``dd/mm/yyyy`` and configured formats also read), empty or ``NULL`` for
nothing, UTF-8 or Windows-1252. Only ``SVC_USR`` is required (fatal ``table-missing``); the other
tables are optional, and other files are left alone. Tables are read through the shared
:class:`~exchange.adapters.tables.TableSet` (once, row by row, into a scratch SQLite file grouped
by service user), so records are built one child at a time and memory does not grow with the
export. The few ``DUP`` relationships (merged records) are also indexed in the scratch file both
ways.

**Who gets a record.** Every service user with a case: a referral, a child protection
registration or conference, a child in need plan, an allocated worker or a case note. Everyone
else appears only as a related person of the children whose ``SVC_USR_REL`` rows name them. A
relationship of a configured duplicate type (default ``DUP``: ``REL_SVC_USR_REF_NO`` is a
duplicate record merged into ``SVC_USR_REF_NO``) folds the duplicate into the survivor: its rows
are read into the survivor's record, its reference number becomes a ``legacy`` identifier, and
values that differ from the survivor's are kept unmapped. After the records come results without
a record (warnings) for what belongs to no case: rows naming a service user not in ``SVC_USR``
(``person-not-found``) or nobody (``person-id-missing``), relationships recorded for someone
without a case (``relationship-not-carried``), and people related to no case
(``person-not-carried``), each listing the row's values.

**Birth dates** are split into ``DOB_DAY``, ``DOB_MTH`` (a number or ``MAR``) and ``DOB_YR``.
All three give the birth date; without the day it is the first of the month with precision
``month``; with the year alone, 1 January with precision ``year``. ``DOB_APPROX_IND = Y`` makes a
whole date ``estimated`` (a month or year date is approximate already). ``DOB_EXPECTED_IND = Y``
makes it the expected birth date of an unborn child (it needs all three parts). Parts that do
not make a date (``date-invalid``) or miss the year or month (``date-incomplete``) are kept
unmapped. The death date is split the same way (``DT_OF_DEATH_DAY/MTH/YR``).

**Nothing lost.** Every non-empty cell read is either mapped (the tables below) or kept in
``unmapped`` with its file, row and column. Reference numbers are the join keys. Columns a table
does not define are kept unmapped with one ``columns-extra`` warning per file.

====================== =========================================================================
table: column          canonical
====================== =========================================================================
SVC_USR                SVC_USR_REF_NO la_child_id (issuer: the sending authority); FIRST_NM,
                       MIDDLE_NM, LAST_NM names (PREF_NM a preferred name); CURRENT_GENDER sex;
                       ETHNIC_ORIGIN ethnicity; DOB_DAY, DOB_MTH, DOB_YR, DOB_APPROX_IND,
                       DOB_EXPECTED_IND (see above); DT_OF_DEATH_DAY, DT_OF_DEATH_MTH,
                       DT_OF_DEATH_YR death_date;
                       NATNLTY nationality. For a related person: names, birth date, sex
SVC_USR_ID             ID_TYP (configured: NHS nhs_number, UPN upn, ...) and ID_NO ->
                       identifiers; a UPN with EFF_TO_DT is a former_upn; EFF_FROM_DT,
                       EFF_TO_DT otherwise kept
SVC_USR_REL            REL_SVC_USR_REF_NO a related person; REL_TYPE_CD (configured: what they
                       are to SVC_USR_REF_NO) relationship; PAR_RESP_IND parental_responsibility;
                       LVNG_WITH lives_with_child; REL_START_DT, REL_END_DT the person's notes
SVC_USR_ADDR           ADDR_ID id; ADDR_LINE_1, ADDR_LINE_2, ADDR_LINE_3 lines; TOWN;
                       POSTCODE; UPRN; START_DT, END_DT;
(defined here)         CONFIDENTIAL_IND confidential (also when ADDR_TYP_CD is CONF);
                       NOT_DISCLOSE_TO_REF_NO reference numbers (separated by ; , or spaces)
                       not_to_be_disclosed_to. A current confidential address of the child also
                       raises a do_not_disclose_address alert
REFERRAL               REF_ID id; REF_DT referral_date; REF_SRC referral_source; CHILD_CAT_NEED
                       primary_need; NFA_IND referral_no_further_action; CLOSE_DT closure_date;
                       CLOSE_RSN_CD closure_reason; TRANS_IN_IND Y a chronology entry (referral
                       transferred in; N says there is none) -> episodes
CP_REG                 CP_REG_ID id; REG_DT, DEREG_DT; INIT_CAT_CD, LATEST_CAT_CD categories;
(defined here)         OLA_IND other_local_authority; REF_ID its referral -> cp_plans;
                       DEREG_RSN kept
CP_CONF                CONF_ID id; CONF_DT date; CONF_TYP_CD type; OUTCOME_CP_IND led_to_cp_plan;
(defined here)         REF_ID its referral -> conferences
CIN_PLAN               CIN_PLAN_ID id; START_DT, END_DT; REF_ID its referral -> cin_plans
(defined here)
SVC_USR_WRKR           WRKR_ID id; WRKR_NM name; WRKR_ROLE role (and agency, configured);
(defined here)         TEAM_NM organisation; PHONE_NO, EMAIL_ADDR contact; ALLOC_START_DT,
                       ALLOC_END_DT; MAIN_WRKR_IND is_lead -> professionals; ALLOC_ID
                       kept
SVC_USR_ALERT          ALERT_ID id; ALERT_TYP_CD type; ALERT_DESC summary; START_DT, END_DT
(defined here)         -> alerts (a related person's alerts too)
CASE_NOTE              NOTE_DT date; NOTE_TYP_CD category; NOTE_SUBJ summary; NOTE_TXT details;
(defined here)         AUTHOR_NM recorded_by -> chronology; NOTE_ID kept
====================== =========================================================================

Plans, conferences and child in need plans join the episode their ``REF_ID`` names; without
one (or when it names no referral of the child: ``link-not-found``, the id kept unmapped) they
join the episode whose referral is the latest on or before their date.

**Configuration** (``config=``: a YAML file or a dict, validated; maps are matched case-
insensitively and add to or override the defaults; lists add to them): ``date_formats``,
``renames`` (table -> {file's column: table's column}), ``genders``, ``ethnicity``,
``id_types``, ``relationships``, ``duplicate_relationships``, ``referral_sources``,
``primary_needs``, ``closure_reasons``, ``categories``, ``conference_types``, ``note_types``,
``alert_types``, ``professional_agencies``. The defaults are listed in docs/adapters/azeus.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.eclipse import (
    DEFAULT_AGENCIES,
    DEFAULT_CLOSURES,
    DEFAULT_CONFERENCE_TYPES,
    DEFAULT_NEEDS,
    DEFAULT_SOURCES,
)
from exchange.adapters.tables import Row, TableSet, TableSpec
from exchange.adapters.values import Values
from exchange.adapters.vendor import (
    Cells,
    VendorConfig,
    add_identifier,
    alone,
    code_map,
    listing,
    load_config,
    read_export,
    words,
)
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import (
    CATEGORY_OF_ABUSE_ALIASES,
    ETHNICITY_MEANINGS,
    SEX_ALIASES,
    AgencyType,
    AlertType,
    CategoryOfAbuse,
    ChronologyCategory,
    ConferenceType,
    Ethnicity,
    IdentifierSystem,
    PrimaryNeed,
    ReasonForClosure,
    ReferralSource,
    Relationship,
    Sex,
)
from exchange.canonical.model import SourceLocation

WARNING = Severity.WARNING

PERSON = "SVC_USR"
IDENTIFIER = "SVC_USR_ID"
RELATIONSHIP = "SVC_USR_REL"
ADDRESS = "SVC_USR_ADDR"
REFERRAL = "REFERRAL"
REGISTRATION = "CP_REG"
CONFERENCE = "CP_CONF"
CIN_PLAN = "CIN_PLAN"
WORKER = "SVC_USR_WRKR"
ALERT = "SVC_USR_ALERT"
NOTE = "CASE_NOTE"
REF = "SVC_USR_REF_NO"


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


COLUMNS: dict[str, tuple[str, ...]] = {
    PERSON: _columns(
        "SVC_USR_REF_NO FIRST_NM MIDDLE_NM LAST_NM PREF_NM CURRENT_GENDER ETHNIC_ORIGIN "
        "DOB_DAY DOB_MTH DOB_YR DOB_APPROX_IND DOB_EXPECTED_IND DT_OF_DEATH_DAY "
        "DT_OF_DEATH_MTH DT_OF_DEATH_YR NATNLTY"
    ),
    IDENTIFIER: _columns("SVC_USR_REF_NO ID_TYP ID_NO EFF_FROM_DT EFF_TO_DT"),
    RELATIONSHIP: _columns(
        "SVC_USR_REF_NO REL_SVC_USR_REF_NO REL_TYPE_CD PAR_RESP_IND LVNG_WITH REL_START_DT "
        "REL_END_DT"
    ),
    ADDRESS: _columns(
        "ADDR_ID SVC_USR_REF_NO ADDR_TYP_CD ADDR_LINE_1 ADDR_LINE_2 ADDR_LINE_3 TOWN POSTCODE "
        "UPRN START_DT END_DT CONFIDENTIAL_IND NOT_DISCLOSE_TO_REF_NO"
    ),
    REFERRAL: _columns(
        "REF_ID SVC_USR_REF_NO REF_DT REF_SRC CHILD_CAT_NEED TRANS_IN_IND NFA_IND CLOSE_DT "
        "CLOSE_RSN_CD"
    ),
    REGISTRATION: _columns(
        "CP_REG_ID SVC_USR_REF_NO REF_ID REG_DT DEREG_DT INIT_CAT_CD LATEST_CAT_CD OLA_IND "
        "DEREG_RSN"
    ),
    CONFERENCE: _columns("CONF_ID SVC_USR_REF_NO REF_ID CONF_DT CONF_TYP_CD OUTCOME_CP_IND"),
    CIN_PLAN: _columns("CIN_PLAN_ID SVC_USR_REF_NO REF_ID START_DT END_DT"),
    WORKER: _columns(
        "ALLOC_ID SVC_USR_REF_NO WRKR_ID WRKR_NM WRKR_ROLE TEAM_NM PHONE_NO EMAIL_ADDR "
        "ALLOC_START_DT ALLOC_END_DT MAIN_WRKR_IND"
    ),
    ALERT: _columns("ALERT_ID SVC_USR_REF_NO ALERT_TYP_CD ALERT_DESC START_DT END_DT"),
    NOTE: _columns("NOTE_ID SVC_USR_REF_NO NOTE_DT NOTE_TYP_CD NOTE_SUBJ NOTE_TXT AUTHOR_NM"),
}
"""The columns of each table the adapter knows (anything else is an extra column)."""

SPECS: tuple[TableSpec, ...] = (
    TableSpec(PERSON, REF, required=True),
    TableSpec(IDENTIFIER, REF, frozenset({"ID_TYP", "ID_NO"})),
    TableSpec(RELATIONSHIP, REF, frozenset({"REL_SVC_USR_REF_NO", "REL_TYPE_CD"})),
    TableSpec(ADDRESS, REF),
    TableSpec(REFERRAL, REF, frozenset({"REF_DT"})),
    TableSpec(REGISTRATION, REF, frozenset({"REG_DT"})),
    TableSpec(CONFERENCE, REF, frozenset({"CONF_DT"})),
    TableSpec(CIN_PLAN, REF, frozenset({"START_DT"})),
    TableSpec(WORKER, REF),
    TableSpec(ALERT, REF, frozenset({"ALERT_TYP_CD"})),
    TableSpec(NOTE, REF, frozenset({"NOTE_DT"})),
)
_CASE_TABLES = (REFERRAL, REGISTRATION, CONFERENCE, CIN_PLAN, WORKER, NOTE)
_PERSON_TABLES = (PERSON, IDENTIFIER, ADDRESS, ALERT)

SEXES = frozenset(s.value for s in Sex)
ETHNICITIES = frozenset(e.value for e in Ethnicity)
SOURCES = frozenset(r.value for r in ReferralSource)
NEEDS = frozenset(n.value for n in PrimaryNeed)
CLOSURES = frozenset(r.value for r in ReasonForClosure)
CATEGORIES = frozenset(c.value for c in CategoryOfAbuse)
RELATIONSHIPS = frozenset(r.value for r in Relationship)
IDENTIFIER_SYSTEMS = frozenset(s.value for s in IdentifierSystem)
CONFERENCE_TYPES = frozenset(c.value for c in ConferenceType)
CHRONOLOGY_CATEGORIES = frozenset(c.value for c in ChronologyCategory)
ALERT_TYPES = frozenset(a.value for a in AlertType)

_TEXT = 2000
_LONG_TEXT = 200_000
_LOCAL_ID = 100
_POSTCODE = 16
_RELATED = "the canonical record has no place for it on a related person"
_UPRN = re.compile(r"^\d{1,12}$")
_SPLIT = re.compile(r"[\s,;|]+")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}

# --- configuration --------------------------------------------------------------------------


class AzeusConfig(VendorConfig):
    """An authority's Azeus configuration; everything is optional and adds to the defaults."""

    genders: dict[str, Sex] = Field(default_factory=dict)
    ethnicity: dict[str, Ethnicity] = Field(default_factory=dict)
    id_types: dict[str, IdentifierSystem] = Field(default_factory=dict)
    relationships: dict[str, Relationship] = Field(default_factory=dict)
    duplicate_relationships: list[str] = Field(default_factory=list)
    referral_sources: dict[str, ReferralSource] = Field(default_factory=dict)
    primary_needs: dict[str, PrimaryNeed] = Field(default_factory=dict)
    closure_reasons: dict[str, ReasonForClosure] = Field(default_factory=dict)
    categories: dict[str, CategoryOfAbuse] = Field(default_factory=dict)
    conference_types: dict[str, ConferenceType] = Field(default_factory=dict)
    note_types: dict[str, ChronologyCategory] = Field(default_factory=dict)
    alert_types: dict[str, AlertType] = Field(default_factory=dict)
    professional_agencies: dict[str, AgencyType] = Field(default_factory=dict)


DEFAULT_GENDERS = {**SEX_ALIASES, "I": "U", "N": "U", "NK": "U"}
DEFAULT_ETHNICITY = {meaning.upper(): code.value for code, meaning in ETHNICITY_MEANINGS.items()}
DEFAULT_ID_TYPES = {
    "NHS": "nhs_number",
    "NHS_NO": "nhs_number",
    "UPN": "upn",
    "FUPN": "former_upn",
    "FORMER_UPN": "former_upn",
    "LEGACY": "legacy",
    "OLD_REF": "legacy",
}
DEFAULT_RELATIONSHIPS = {
    **{r.value.upper(): r.value for r in Relationship},
    "MOTH": "mother",
    "FATH": "father",
    "STPP": "step_parent",
    "ADPP": "adoptive_parent",
    "PPTN": "parent_partner",
    "SIB": "sibling",
    "HSIB": "half_sibling",
    "STSB": "step_sibling",
    "GPAR": "grandparent",
    "AUNC": "aunt_uncle",
    "OREL": "other_relative",
    "FCAR": "foster_carer",
    "SGO": "special_guardian",
    "KIN": "kinship_carer",
    "FRND": "family_friend",
    "HHM": "household_member",
}
"""REL_TYPE_CD: what REL_SVC_USR_REF_NO is to SVC_USR_REF_NO."""
DEFAULT_DUPLICATES = ("DUP",)
DEFAULT_AZEUS_SOURCES = {
    **DEFAULT_SOURCES,
    "FAM": "1A",
    "ACQ": "1B",
    "SELF": "1C",
    "IND": "1D",
    "SCH": "2A",
    "EDU": "2B",
    "GP": "3A",
    "HV": "3B",
    "SN": "3C",
    "PHC": "3D",
    "AE": "3E",
    "HLTH": "3F",
    "HSG": "4",
    "LASC": "5A",
    "LAINT": "5B",
    "LAEXT": "5C",
    "EH": "5D",
    "POL": "6",
    "LEGAL": "7",
    "OTH": "8",
    "ANON": "9",
    "UNK": "10",
}
DEFAULT_CATEGORIES = {**CATEGORY_OF_ABUSE_ALIASES, "N": "NEG", "P": "PHY", "S": "SAB", "E": "EMO"}
DEFAULT_AZEUS_CONFERENCE_TYPES = {
    **DEFAULT_CONFERENCE_TYPES,
    "TCPC": "transfer_in",
    "TICPC": "transfer_in",
}
DEFAULT_NOTE_TYPES = {
    **{c.value.upper(): c.value for c in ChronologyCategory},
    "VIS": "visit",
    "HVIS": "visit",
    "STRAT": "strategy_discussion",
    "S47": "section_47",
    "CONF": "conference",
    "POL": "police",
    "HLTH": "health",
    "EDU": "education",
    "CRT": "court",
    "MISS": "missing",
    "INC": "incident",
    "PLMT": "placement",
}
DEFAULT_ALERT_TYPES = {
    **{a.value.upper(): a.value for a in AlertType},
    "RISK_STAFF": "risk_to_staff",
    "RISK_CHILD": "risk_to_child",
    "RISK_FROM": "risk_from_person",
    "DND_ADDR": "do_not_disclose_address",
    "MISSING": "missing",
    "CSE": "exploitation",
    "MED": "medical",
    "COMM": "communication_need",
    "COURT": "court_order",
}


@dataclass(frozen=True, slots=True)
class _Settings:
    """The defaults with an authority's configuration laid over them, keyed for lookup."""

    formats: tuple[str, ...]
    renames: dict[str, dict[str, str]]
    genders: dict[str, str]
    ethnicity: dict[str, str]
    id_types: dict[str, str]
    relationships: dict[str, str]
    duplicates: frozenset[str]
    referral_sources: dict[str, str]
    primary_needs: dict[str, str]
    closure_reasons: dict[str, str]
    categories: dict[str, str]
    conference_types: dict[str, str]
    note_types: dict[str, str]
    alert_types: dict[str, str]
    agencies: dict[str, str]


def settings_of(config: AzeusConfig) -> _Settings:
    """The configuration laid over the defaults."""
    return _Settings(
        formats=tuple(config.date_formats),
        renames=config.renames,
        genders=code_map(DEFAULT_GENDERS, config.genders),
        ethnicity=code_map(DEFAULT_ETHNICITY, config.ethnicity),
        id_types=code_map(DEFAULT_ID_TYPES, config.id_types),
        relationships=code_map(DEFAULT_RELATIONSHIPS, config.relationships),
        duplicates=words(DEFAULT_DUPLICATES, config.duplicate_relationships),
        referral_sources=code_map(DEFAULT_AZEUS_SOURCES, config.referral_sources),
        primary_needs=code_map(DEFAULT_NEEDS, config.primary_needs),
        closure_reasons=code_map(DEFAULT_CLOSURES, config.closure_reasons),
        categories=code_map(DEFAULT_CATEGORIES, config.categories),
        conference_types=code_map(DEFAULT_AZEUS_CONFERENCE_TYPES, config.conference_types),
        note_types=code_map(DEFAULT_NOTE_TYPES, config.note_types),
        alert_types=code_map(DEFAULT_ALERT_TYPES, config.alert_types),
        agencies=code_map(DEFAULT_AGENCIES, config.professional_agencies),
    )


# --- split dates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SplitDate:
    """A date given as day, month and year columns, and how exactly it is known."""

    date: dt.date
    precision: str


def split_date(cells: Cells, day: str, month: str, year: str, field: str) -> SplitDate | None:
    """The date the three columns make, or None (reported, the parts kept) when they make none."""
    parts = (cells.peek(day), cells.peek(month), cells.peek(year))
    if not any(parts):
        return None
    day_text, month_text, year_text = (p.strip() if p else None for p in parts)
    year_number = int(year_text) if year_text and year_text.isdigit() else None
    month_number: int | None = None
    if month_text:
        month_number = (
            int(month_text) if month_text.isdigit() else _MONTHS.get(month_text[:3].upper())
        )
    day_number = int(day_text) if day_text and day_text.isdigit() else None
    said = "/".join(p or "?" for p in (day_text, month_text, year_text))
    problem_code: str | None = None
    if year_text is None or (month_text is None and day_text is not None):
        problem_code = "date-incomplete"
    elif (
        year_number is None
        or len(year_text) != 4
        or (month_text is not None and month_number is None)
        or (day_text is not None and day_number is None)
    ):
        problem_code = "date-invalid"
    result: SplitDate | None = None
    if problem_code is None:
        assert year_number is not None
        try:
            if month_number is None:
                result = SplitDate(dt.date(year_number, 1, 1), "year")
            elif day_number is None:
                result = SplitDate(dt.date(year_number, month_number, 1), "month")
            else:
                result = SplitDate(dt.date(year_number, month_number, day_number), "day")
        except ValueError:
            problem_code = "date-invalid"
    if result is None:
        cells.v.report(
            problem_code or "date-invalid",
            f"{field} {said} (day/month/year) is not a date.",
            f"Give {year} as four digits, {month} as 1-12, and {day} as a day of that month "
            "(or leave the day, then the month, empty when they are not known).",
            cells.row.where(day if day_text else month if month_text else year),
        )
        for column in (day, month, year):
            cells.keep(column, "not part of a date")
        return None
    for column in (day, month, year):
        cells.take(column)
    return result


# --- scratch lookups ------------------------------------------------------------------------


class _Links:
    """Who was merged into whom, and who has been carried, in tables of the scratch store."""

    def __init__(self, tables: TableSet, duplicates: frozenset[str]) -> None:
        self.tables = tables
        db = tables.db
        db.execute("CREATE TABLE azeus_merged (survivor TEXT, duplicate TEXT)")
        db.execute("CREATE TABLE azeus_subject (person TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE azeus_mentioned (person TEXT PRIMARY KEY)")
        if RELATIONSHIP in tables.present:
            db.executemany(
                "INSERT INTO azeus_merged VALUES (?, ?)",
                (
                    (row.get(REF), row.get("REL_SVC_USR_REF_NO"))
                    for row in tables.rows(RELATIONSHIP)
                    if (row.get("REL_TYPE_CD") or "").strip().upper() in duplicates
                ),
            )
        db.execute("CREATE INDEX azeus_merged_survivor ON azeus_merged (survivor)")
        db.execute("CREATE INDEX azeus_merged_duplicate ON azeus_merged (duplicate)")

    def rows(self, table: str, person: str) -> list[Row]:
        """The person's rows of a table (none when the export has no such table)."""
        if table.upper() not in self.tables.present:
            return []
        return self.tables.rows_for(table, person)

    def exists(self, person: str) -> bool:
        """The person has a row in SVC_USR."""
        return bool(self.tables.rows_for(PERSON, person))

    def merged_into(self, person: str) -> list[str]:
        """Who the person was merged into (when they are in the export)."""
        query = "SELECT survivor FROM azeus_merged WHERE duplicate = ? AND survivor IS NOT NULL"
        return [
            s for (s,) in self.tables.db.execute(query, (person,)) if s != person and self.exists(s)
        ]

    def duplicates_of(self, person: str) -> list[str]:
        """The person and every duplicate merged into them (and into those)."""
        ids = [person]
        query = "SELECT duplicate FROM azeus_merged WHERE survivor = ? AND duplicate IS NOT NULL"
        for current in ids:
            for (duplicate,) in self.tables.db.execute(query, (current,)).fetchall():
                if duplicate not in ids and self.exists(duplicate):
                    ids.append(duplicate)
        return ids

    def mark(self, table: str, people: Sequence[str]) -> None:
        """Note people as a record's subject or as mentioned in one."""
        self.tables.db.executemany(
            f"INSERT OR IGNORE INTO azeus_{table} VALUES (?)",  # noqa: S608 (a fixed name)
            [(p,) for p in people],
        )

    def marked(self, table: str, person: str) -> bool:
        """Whether a person was noted as a subject or as mentioned."""
        query = f"SELECT 1 FROM azeus_{table} WHERE person = ?"  # noqa: S608 (a fixed name)
        return self.tables.db.execute(query, (person,)).fetchone() is not None


# --- one child --------------------------------------------------------------------------------


class _Child:
    """Reads the rows of one child (and of the duplicates merged into them) into plain data."""

    def __init__(
        self,
        settings: _Settings,
        links: _Links,
        person: str,
        ids: list[str],
        authority: str | None,
        problems: list[Problem],
        is_subject: Callable[[str], bool],
    ) -> None:
        self.s = settings
        self.links = links
        self.person = person
        self.ids = ids
        self.authority = authority
        self.is_subject = is_subject
        self.v = Values(problems)
        self.cells: list[Cells] = []
        self.child: dict[str, Any] = {"identifiers": [], "names": [], "addresses": []}
        self.alerts: list[dict[str, Any]] = []
        self.related: dict[str, dict[str, Any]] = {}
        self.introduced: dict[str, Cells] = {}
        self.professionals: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []
        self.items: list[tuple[str, str | None, dt.date | None, dict[str, Any], Cells]] = []
        self.chronology: list[dict[str, Any]] = []

    def cells_of(self, row: Row) -> Cells:
        cells = Cells(row, self.v, COLUMNS[row.table], self.s.formats, REF)
        self.cells.append(cells)
        return cells

    def rows(self, table: str) -> list[Cells]:
        return [self.cells_of(r) for p in self.ids for r in self.links.rows(table, p)]

    def data(self) -> dict[str, Any]:
        """The record as plain data."""
        self.service_user()
        self.relationships()
        for person in list(self.related):
            self.related_details(person)
        self.addresses()
        self.child_alerts()
        self.referrals()
        self.registrations()
        self.conferences()
        self.cin_plans()
        self.place_in_episodes()
        self.workers()
        self.notes()
        self.confidential_alerts()
        for cells in self.cells:
            cells.rest()
        self.chronology.sort(key=lambda e: e["date"])
        self.links.mark("mentioned", list(self.related))
        return {
            "provenance": {
                "source_authority": self.authority or "unknown",
                "source_system": "Azeus Care",
            },
            "child": self.child,
            "alerts": self.alerts,
            "related_people": list(self.related.values()),
            "professionals": self.professionals,
            "episodes": self.episodes,
            "chronology": self.chronology,
            "unmapped": self.v.unmapped,
        }

    # -- who the child is --------------------------------------------------------------------

    def names(self, cells: Cells) -> list[dict[str, Any]]:
        official = {
            "given": cells.text("FIRST_NM"),
            "middle": cells.text("MIDDLE_NM"),
            "family": cells.text("LAST_NM"),
        }
        names = [{k: v for k, v in official.items() if v}] if any(official.values()) else []
        preferred = cells.text("PREF_NM")
        if preferred:
            names.append({"given": preferred, "use": "preferred"})
        return names

    def service_user(self) -> None:
        rows = self.rows(PERSON)
        main = rows[0]
        child = self.child
        ref = main.take(REF) or self.person
        add_identifier(child["identifiers"], "la_child_id", ref, self.authority)
        child["names"] = self.names(main)
        child["sex"] = main.code("CURRENT_GENDER", self.s.genders, SEXES)
        child["ethnicity"] = main.code("ETHNIC_ORIGIN", self.s.ethnicity, ETHNICITIES)
        born = split_date(main, "DOB_DAY", "DOB_MTH", "DOB_YR", "Birth date")
        expected = main.flag("DOB_EXPECTED_IND")
        approximate = main.flag("DOB_APPROX_IND")
        if born is not None and expected:
            if born.precision == "day":
                child["expected_birth_date"] = born.date
            else:
                self.v.report(
                    "date-incomplete",
                    f"The expected birth date has no {'day' if born.precision == 'month' else 'day or month'}.",
                    "Give the expected birth date in full (DOB_DAY, DOB_MTH, DOB_YR).",
                    main.row.where("DOB_DAY"),
                )
                for column in ("DOB_DAY", "DOB_MTH", "DOB_YR"):
                    main.release(column, "part of an incomplete expected birth date")
        elif born is not None:
            child["birth_date"] = born.date
            precision = "estimated" if approximate and born.precision == "day" else born.precision
            child["birth_date_precision"] = precision
        else:
            for column in ("DOB_EXPECTED_IND", "DOB_APPROX_IND"):
                main.release(column, "no birth date to qualify")
        died = split_date(main, "DT_OF_DEATH_DAY", "DT_OF_DEATH_MTH", "DT_OF_DEATH_YR", "Death")
        if died is not None:
            if died.precision == "day":
                child["death_date"] = died.date
            else:
                for column in ("DT_OF_DEATH_DAY", "DT_OF_DEATH_MTH", "DT_OF_DEATH_YR"):
                    main.release(column, "part of a death date without its day")
        child["nationality"] = main.text("NATNLTY")
        for other in rows[1:]:
            merged = other.row.get(REF)
            if merged == ref:
                self.v.report(
                    "person-duplicated",
                    f"Service user {ref} has more than one row in {other.row.file}; the first is "
                    "used.",
                    "Export each service user once; differing values are kept unmapped.",
                    other.row.at(REF),
                    WARNING,
                )
                reason = "differs from the service user's first row"
            else:
                reason = f"differs in the duplicate record {merged}, merged into {ref}"
                if merged:
                    add_identifier(child["identifiers"], "legacy", merged, self.authority)
            for column in list(other.row.cells):
                if column.upper() != REF:
                    other.same_as(column, main, reason)
        for cells in self.rows(IDENTIFIER):
            self.identifier(cells, child["identifiers"])

    def identifier(self, cells: Cells, ids: list[dict[str, Any]]) -> None:
        if cells.peek("ID_NO") is None:
            return
        system = cells.code("ID_TYP", self.s.id_types, IDENTIFIER_SYSTEMS, severity=WARNING)
        if system is None:
            cells.keep("ID_NO", "an identifier of a type not configured")
            return
        if system == "upn" and cells.peek("EFF_TO_DT") is not None:
            system = "former_upn"  # a UPN no longer in force is the child's former UPN
            if cells.date("EFF_TO_DT") is not None:
                cells.release("EFF_TO_DT", "the date the UPN ended")
        value = cells.text("ID_NO")
        if value:
            add_identifier(ids, system, value, self.authority)

    # -- family ------------------------------------------------------------------------------

    def relationships(self) -> None:
        for cells in self.rows(RELATIONSHIP):
            other = cells.peek("REL_SVC_USR_REF_NO")
            kind = (cells.peek("REL_TYPE_CD") or "").strip().upper()
            if other is None:
                continue  # the row's values are kept unmapped at the end
            if kind in self.s.duplicates:
                if other in self.ids:
                    cells.take("REL_SVC_USR_REF_NO")  # the legacy identifier
                    cells.take("REL_TYPE_CD")
                continue
            if other in self.ids:
                continue  # relates the child to itself: kept unmapped
            code = cells.code("REL_TYPE_CD", self.s.relationships, RELATIONSHIPS, severity=WARNING)
            cells.take("REL_SVC_USR_REF_NO")
            person = self.related.get(other)
            if person is None:
                person = {"id": other, "relationship": code or "other"}
                self.related[other] = person
                self.introduced[other] = cells
            elif code is not None and code != person["relationship"]:
                cells.release("REL_TYPE_CD", "a second relationship to the same person")
            self.set_once(person, "parental_responsibility", cells, "PAR_RESP_IND")
            self.set_once(person, "lives_with_child", cells, "LVNG_WITH")
            said = []
            if (start := cells.date("REL_START_DT")) is not None:
                said.append(f"from {start.isoformat()}")
            if (end := cells.date("REL_END_DT")) is not None:
                said.append(f"until {end.isoformat()}")
            if said:
                note = f"Relationship recorded {' '.join(said)}."
                person["notes"] = f"{person['notes']} {note}" if person.get("notes") else note

    def set_once(self, person: dict[str, Any], key: str, cells: Cells, column: str) -> None:
        value = cells.flag(column)
        if value is None:
            return
        if person.get(key) is None:
            person[key] = value
        elif person[key] != value:
            cells.release(column, "differs from another row about the same person")

    def related_details(self, person: str) -> None:
        entry = self.related[person]
        rows = [self.cells_of(r) for r in self.links.rows(PERSON, person)]
        if not rows:
            if person in self.introduced:
                self.v.report(
                    "related-person-not-found",
                    f"Related person {person} is not in {PERSON}; only their id is carried.",
                    f"Export the service user in {PERSON}.",
                    self.introduced[person].row.at("REL_SVC_USR_REF_NO"),
                    WARNING,
                )
            return
        main = rows[0]
        names = self.names(main)
        if names:
            entry["names"] = names
        born = split_date(main, "DOB_DAY", "DOB_MTH", "DOB_YR", "Birth date")
        if born is not None:
            entry["birth_date"] = born.date
            if born.precision != "day":
                for column in ("DOB_DAY", "DOB_MTH", "DOB_YR"):
                    main.release(
                        column, f"a related person's birth date known to the {born.precision}"
                    )
        entry["sex"] = main.code("CURRENT_GENDER", self.s.genders, SEXES)
        identifiers: list[dict[str, Any]] = []
        for cells in (self.cells_of(r) for r in self.links.rows(IDENTIFIER, person)):
            self.identifier(cells, identifiers)
        if identifiers:
            entry["identifiers"] = identifiers
        for other in rows[1:]:
            for column in list(other.row.cells):
                if column.upper() != REF:
                    other.same_as(column, main, "differs from the service user's first row")
        for cells in rows:
            cells.rest(_RELATED)
        if not self.is_subject(person):
            alerts = [self.alert(self.cells_of(r)) for r in self.links.rows(ALERT, person)]
            if alerts:
                entry["alerts"] = alerts

    # -- addresses and alerts ----------------------------------------------------------------

    def addresses(self) -> None:
        for cells in self.rows(ADDRESS):
            self.child["addresses"].append(self.address(cells))
        done: set[str] = set()
        while pending := [p for p in self.related if p not in done]:
            for person in pending:
                done.add(person)
                found = [self.address(self.cells_of(r)) for r in self.links.rows(ADDRESS, person)]
                if found:
                    self.related[person]["addresses"] = found

    def address(self, cells: Cells) -> dict[str, Any]:
        address: dict[str, Any] = {"id": cells.text("ADDR_ID", _LOCAL_ID)}
        lines = [cells.text(f"ADDR_LINE_{n}") for n in (1, 2, 3)]
        address["lines"] = [line for line in lines if line]
        address["town"] = cells.text("TOWN")
        address["postcode"] = cells.text("POSTCODE", _POSTCODE)
        uprn = cells.peek("UPRN")
        if uprn is not None and not _UPRN.match(uprn):
            self.v.report(
                "uprn-invalid",
                f"UPRN {uprn!r} is not up to 12 digits.",
                "Correct the UPRN or leave it out; the value is kept unmapped.",
                cells.row.where("UPRN"),
                WARNING,
            )
            cells.keep("UPRN", "not a UPRN")
        else:
            address["uprn"] = cells.take("UPRN")
        address["start_date"] = cells.date("START_DT")
        address["end_date"] = cells.date("END_DT")
        confidential = cells.flag("CONFIDENTIAL_IND")
        kind = cells.peek("ADDR_TYP_CD")
        if kind is not None and kind.strip().upper() in ("CONF", "CONFIDENTIAL"):
            cells.take("ADDR_TYP_CD")
            if confidential is False:
                cells.release("CONFIDENTIAL_IND", "the address type says it is confidential")
            confidential = True
        address["confidential"] = bool(confidential)
        withheld: list[str] = []
        for person in _SPLIT.split(cells.take("NOT_DISCLOSE_TO_REF_NO") or ""):
            if not person:
                continue
            if person in self.related or self.add_withheld(person):
                withheld.append(person)
            else:
                self.v.report(
                    "withheld-person-not-found",
                    f"The address is withheld from service user {person}, who is not in {PERSON}.",
                    f"Export the service user in {PERSON} so the exclusion can name them.",
                    cells.row.where("NOT_DISCLOSE_TO_REF_NO"),
                )
                self.v.keep(
                    cells.name("NOT_DISCLOSE_TO_REF_NO"),
                    person,
                    cells.row.at("NOT_DISCLOSE_TO_REF_NO"),
                    "names nobody in the export",
                )
        address["not_to_be_disclosed_to"] = list(dict.fromkeys(withheld))
        return address

    def add_withheld(self, person: str) -> bool:
        if person in self.ids or not self.links.exists(person):
            return False
        self.related[person] = {
            "id": person,
            "relationship": "other",
            "notes": "Named only as someone an address must not be disclosed to.",
        }
        self.related_details(person)
        return True

    def confidential_alerts(self) -> None:
        for address in self.child["addresses"]:
            if address["confidential"] and address["end_date"] is None:
                self.alerts.append(
                    {
                        "type": "do_not_disclose_address",
                        "severity": "high",
                        "summary": "The child's current address is confidential: do not "
                        "disclose it.",
                        "start_date": address["start_date"],
                        "not_to_be_disclosed_to": address["not_to_be_disclosed_to"],
                    }
                )

    def child_alerts(self) -> None:
        self.alerts.extend(self.alert(cells) for cells in self.rows(ALERT))

    def alert(self, cells: Cells) -> dict[str, Any]:
        kind = cells.code("ALERT_TYP_CD", self.s.alert_types, ALERT_TYPES, severity=WARNING)
        summary = cells.text("ALERT_DESC")
        if summary is None:
            summary = cells.peek("ALERT_TYP_CD") or "Alert"
            cells.take("ALERT_TYP_CD")
        return {
            "id": cells.text("ALERT_ID", _LOCAL_ID),
            "type": kind or "other",
            "summary": summary,
            "start_date": cells.date("START_DT"),
            "end_date": cells.date("END_DT"),
        }

    # -- the case ----------------------------------------------------------------------------

    def referrals(self) -> None:
        for cells in self.rows(REFERRAL):
            day = cells.date("REF_DT")
            episode: dict[str, Any] = {
                "id": cells.text("REF_ID", _LOCAL_ID),
                "referral_date": day,
                "referral_source": cells.code("REF_SRC", self.s.referral_sources, SOURCES),
                "primary_need": cells.code("CHILD_CAT_NEED", self.s.primary_needs, NEEDS),
                "referral_no_further_action": cells.flag("NFA_IND"),
                "closure_date": cells.date("CLOSE_DT"),
                "closure_reason": cells.code("CLOSE_RSN_CD", self.s.closure_reasons, CLOSURES),
                "assessments": [],
                "cin_plans": [],
                "section47_enquiries": [],
                "conferences": [],
                "cp_plans": [],
                "looked_after_episodes": [],
            }
            transferred = cells.flag("TRANS_IN_IND")
            if transferred and day is not None:
                self.chronology.append(
                    {
                        "date": day,
                        "category": "referral",
                        "summary": "Referral transferred in from another local authority",
                    }
                )
            elif transferred:
                cells.release("TRANS_IN_IND", "a transfer in without a referral date")
            self.episodes.append(episode)

    def registrations(self) -> None:
        for cells in self.rows(REGISTRATION):
            start = cells.date("REG_DT")
            plan = {
                "id": cells.text("CP_REG_ID", _LOCAL_ID),
                "start_date": start,
                "end_date": cells.date("DEREG_DT"),
                "initial_category": cells.code("INIT_CAT_CD", self.s.categories, CATEGORIES),
                "latest_category": cells.code("LATEST_CAT_CD", self.s.categories, CATEGORIES),
                "other_local_authority": bool(cells.flag("OLA_IND")),
            }
            self.items.append(("cp_plans", cells.peek("REF_ID"), start, plan, cells))

    def conferences(self) -> None:
        for cells in self.rows(CONFERENCE):
            kind = cells.code(
                "CONF_TYP_CD", self.s.conference_types, CONFERENCE_TYPES, severity=WARNING
            )
            if kind is None:
                cells.rest("the conference type is not known")
                continue
            day = cells.date("CONF_DT")
            conference = {
                "id": cells.text("CONF_ID", _LOCAL_ID),
                "type": kind,
                "date": day,
                "led_to_cp_plan": cells.flag("OUTCOME_CP_IND"),
            }
            self.items.append(("conferences", cells.peek("REF_ID"), day, conference, cells))

    def cin_plans(self) -> None:
        for cells in self.rows(CIN_PLAN):
            start = cells.date("START_DT")
            plan = {
                "id": cells.text("CIN_PLAN_ID", _LOCAL_ID),
                "start_date": start,
                "end_date": cells.date("END_DT"),
            }
            self.items.append(("cin_plans", cells.peek("REF_ID"), start, plan, cells))

    def place_in_episodes(self) -> None:
        """Each plan and conference joins the referral it names, else the one before it."""
        self.episodes.sort(key=lambda e: e.get("referral_date") or dt.date.min)
        by_id = {e["id"]: e for e in self.episodes if e.get("id")}
        orphans: dict[str, Any] | None = None
        self.items.sort(key=lambda i: i[2] or dt.date.min)
        for key, link, day, item, cells in self.items:
            home = by_id.get(link) if link else None
            if home is not None:
                cells.take("REF_ID")
            else:
                if link:
                    self.v.report(
                        "link-not-found",
                        f"REF_ID {link} names no referral of this child; the item is placed by "
                        "its date.",
                        "Correct REF_ID, or export the referral it names.",
                        cells.row.where("REF_ID"),
                        WARNING,
                    )
                for episode in self.episodes:
                    referral = episode.get("referral_date")
                    if day is None or referral is None or referral <= day:
                        home = episode
            if home is None:
                if orphans is None:
                    orphans = {
                        k: []
                        for k in (
                            "assessments",
                            "cin_plans",
                            "section47_enquiries",
                            "conferences",
                            "cp_plans",
                            "looked_after_episodes",
                        )
                    }
                    self.v.report(
                        "episode-without-referral",
                        "Plans or conferences start before any referral; they are kept in an "
                        "episode without a referral.",
                        "Record the referral that opened the case.",
                        cells.row.where(REF),
                        WARNING,
                    )
                home = orphans
            home[key].append(item)
        if orphans is not None:
            self.episodes.insert(0, orphans)

    def workers(self) -> None:
        for cells in self.rows(WORKER):
            role = cells.text("WRKR_ROLE")
            if role is None:
                self.v.report(
                    "professional-role-missing",
                    "A worker's allocation does not say their role; it is recorded as 'Not "
                    "recorded'.",
                    "Record the worker's role (WRKR_ROLE) in Azeus.",
                    cells.row.where("WRKR_ROLE"),
                    WARNING,
                )
            worker: dict[str, Any] = {
                "id": cells.text("WRKR_ID", _LOCAL_ID),
                "name": cells.text("WRKR_NM"),
                "role": role or "Not recorded",
                "agency": self.s.agencies.get(role.strip().upper()) if role else None,
                "organisation": cells.text("TEAM_NM"),
                "start_date": cells.date("ALLOC_START_DT"),
                "end_date": cells.date("ALLOC_END_DT"),
                "is_lead": bool(cells.flag("MAIN_WRKR_IND")),
            }
            contact = {"phone": cells.text("PHONE_NO", 40), "email": cells.text("EMAIL_ADDR", 320)}
            if any(contact.values()):
                worker["contact"] = contact
            self.professionals.append(worker)

    def notes(self) -> None:
        for cells in self.rows(NOTE):
            day = cells.date("NOTE_DT")
            if day is None:
                continue  # no date, no place in the chronology: the row is kept unmapped
            category = cells.code(
                "NOTE_TYP_CD", self.s.note_types, CHRONOLOGY_CATEGORIES, severity=WARNING
            )
            summary = cells.text("NOTE_SUBJ")
            if summary is None:
                summary = "Case note"
            entry: dict[str, Any] = {
                "date": day,
                "category": category or "other",
                "summary": summary,
                "details": cells.text("NOTE_TXT", _LONG_TEXT),
                "recorded_by": cells.text("AUTHOR_NM"),
            }
            self.chronology.append(entry)


# --- the adapter ------------------------------------------------------------------------------


class AzeusAdapter(Adapter):
    """Azeus Care tables dumped to CSV -> canonical records."""

    name = "azeus"
    title = "Azeus Care (Oracle) tables, one CSV per table"
    formats = ("csv",)

    def __init__(
        self,
        context: RuleContext | None = None,
        *,
        config: Path | str | dict[str, Any] | None = None,
        source_authority: str | None = None,
    ) -> None:
        super().__init__(context)
        self.config = load_config(config, AzeusConfig)
        self.settings = settings_of(self.config)
        self.source_authority = (source_authority or "").strip() or None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child with a case, then one per row or person that has none."""
        yield from read_export(
            source,
            SPECS,
            COLUMNS,
            self.settings.renames,
            ("Azeus tables", PERSON, "An Azeus"),
            self.source_authority,
            lambda tables: self._results(tables, _Links(tables, self.settings.duplicates)),
        )

    def _results(self, tables: TableSet, links: _Links) -> Iterator[ReadResult]:
        anyone = False
        for person in tables.people(PERSON):
            anyone = True
            if links.merged_into(person):
                continue
            ids = links.duplicates_of(person)
            if not self._has_case(links, ids):
                continue
            links.mark("subject", ids)
            yield self._record(links, person, ids)
        if not anyone:
            raise fatal(
                "no-people",
                f"{PERSON} holds no service users.",
                f"Export {PERSON} with its rows, not only its header.",
                SourceLocation(file=f"{PERSON}.csv", row=1),
            )
        yield from self._leftovers(tables, links)

    def _has_case(self, links: _Links, ids: list[str]) -> bool:
        return any(links.rows(table, p) for p in ids for table in _CASE_TABLES)

    def _record(self, links: _Links, person: str, ids: list[str]) -> ReadResult:
        problems: list[Problem] = []
        first = links.rows(PERSON, person)[0]
        location = SourceLocation(file=first.file, row=first.number)
        data = _Child(
            self.settings,
            links,
            person,
            ids,
            self.source_authority,
            problems,
            lambda other: self._has_case(links, links.duplicates_of(other)),
        ).data()
        return self.finish(data, key=person, location=location, problems=problems)

    def _leftovers(self, tables: TableSet, links: _Links) -> Iterator[ReadResult]:
        """Results without a record for every row that belongs to no case."""
        for spec in SPECS:
            if spec.name not in tables.present:
                continue
            for row in tables.rows_without_person(spec.name):
                yield alone(
                    row,
                    "person-id-missing",
                    f"names no service user ({REF} is empty)",
                    f"Give the row its {REF}.",
                )
            if spec.name == PERSON:
                continue
            for person in tables.people(spec.name):
                if not links.exists(person):
                    for row in tables.rows_for(spec.name, person):
                        yield alone(
                            row,
                            "person-not-found",
                            f"names service user {person!r}, who is not in {PERSON}",
                            f"Export the service user in {PERSON}, or leave their rows out.",
                        )
                elif spec.name == RELATIONSHIP and not links.marked("subject", person):
                    for row in tables.rows_for(spec.name, person):
                        yield alone(
                            row,
                            "relationship-not-carried",
                            f"records a relationship of {person}, who has no case",
                            "Nothing to do: relationships are read from the child's side.",
                            WARNING,
                        )
        for person in tables.people(PERSON):
            if links.marked("subject", person) or links.marked("mentioned", person):
                continue
            rows = [r for t in _PERSON_TABLES for r in links.rows(t, person)]
            yield ReadResult(
                None,
                [
                    problem(
                        "person-not-carried",
                        f"Service user {person} has no case and is related to no child with "
                        f"one; row {r.number} of {r.file} is not carried: {listing(r)}.",
                        "Nothing to do, unless the service user should have a case or a "
                        "relationship in the export.",
                        SourceLocation(file=r.file, row=r.number),
                        severity=WARNING,
                    )
                    for r in rows
                ],
                person,
                SourceLocation(file=rows[0].file, row=rows[0].number),
            )
