"""Mosaic (data warehouse ``DM_*`` tables, live ``MO_*`` views), one CSV per table, read into records.

**Input.** A folder holding one CSV per table or view, named after it (``dm_persons.csv``, matched
case-insensitively), with Mosaic's column names in a header row, as the authority's database tool
dumps them: dates in Oracle (``02-MAR-15``), SQL Server (``2015-03-02 00:00:00.000``), ISO or
``dd/mm/yyyy`` text (more formats through the configuration), empty cells or ``NULL`` for nulls,
UTF-8 (BOM or not) or Windows-1252. ``dm_persons`` is required (fatal ``table-missing``); every
other table is optional; CSV files of other tables are left alone. Reading is done by the shared
:mod:`exchange.adapters.tables` reader (each file once into a scratch SQLite file keyed by person);
records are built one child at a time, so memory does not grow with the number of children (it
holds one map entry per merged duplicate and one per worker named by an allocation).

**Who is a child.** Mosaic has no client flag: a person in ``dm_persons`` is a child to transfer
when they (or a duplicate merged into them) have a row in ``dm_cin_referrals``,
``DM_REGISTRATIONS`` or ``DM_PERIODS_OF_CARE``. Everyone else travels only as a related person of
a child whose ``DM_PERSONAL_RELATIONSHIPS`` rows name them (names, birth date, sex, identifiers,
addresses); one ``people-not-children`` warning counts what that leaves out. A ``DATE_OF_BIRTH``
after today is an expected date (an unborn child, as Data to Insight's extract reads it);
``DATE_OF_BIRTH_ESTIMATED`` = ``Y`` (an assumed column) marks an estimated birth date.

**Merged duplicates.** A ``DM_PERSONAL_RELATIONSHIPS`` row whose ``RELATIONSHIP_TYPE`` is
``DUPLICATE`` (or ``... : Duplicate``) says that ``OTHER_PERSON_ID`` is a duplicate record merged
into ``PERSON_ID``. The duplicate is never a record of its own: their rows in every table are
folded into the surviving person's record (their referrals, plans, addresses and relationships
read as the survivor's; their own ``dm_persons`` values kept unmapped where they differ), with one
``person-merged`` warning each. Chains of merges are followed to the last survivor; a cycle is
reported (``duplicate-cycle``) and not merged.

**Child protection plans.** A ``DM_REGISTRATIONS`` row with ``IS_CHILD_PROTECTION_PLAN`` = ``Y``
is a plan; ``IS_TEMPORARY_CHILD_PROTECTION`` = ``Y`` (a child on another authority's plan, staying
here) sets ``other_local_authority``. Its ``DM_REGISTRATION_CATEGORIES`` give the initial category
(those starting on the plan's first day) and the latest (those in force when it ended, or today);
several categories at once mean ``MUL``, and each of them is kept unmapped so which ones is not
lost. A plan belongs to the referral its ``REFERRAL_ID`` names, else to the referral open on its
first day.

**Looked after.** Each period of care (``DM_PERIODS_OF_CARE``) is cut into SSDA903-style episodes
wherever its legal status (``DM_LEGAL_STATUSES``) or placement (``DM_PLACEMENTS``) changes. The
first episode's reason is ``S``; later ones ``L`` (legal status only), ``P``/``T`` (placement,
with another or the same ``CARER_ID``) or ``B``/``U`` (both).

**Confidential addresses.** ``IS_CONFIDENTIAL`` = ``Y`` (an assumed column) or an ``ADDRESS_TYPE``
in ``confidential_address_types`` marks an address confidential; people named by a do-not-disclose
warning (``DM_WARNINGS``) are put in its ``not_to_be_disclosed_to``, and a child with a
confidential address and no such warning gets one.

**Assumed tables and columns** (the Mosaic warehouse varies by authority; document yours with
``renames``): ``DM_ADDRESSES`` with the address split into columns, ``DM_ALLOCATED_WORKERS``
(who is allocated to a person) and ``DM_WORKERS``, ``DM_WARNINGS`` (person warnings),
``DM_CASE_NOTES``, ``dm_cin_referrals.PRIMARY_NEED_CODE`` (from ``DM_SERVICE_USER_GROUPS``),
``DM_PERSONAL_RELATIONSHIPS.LIVES_WITH``, ``DM_PERIODS_OF_CARE.CATEGORY_OF_NEED`` and
``REASON_FOR_LEAVING``, ``DM_PLACEMENTS.CARER_ID``/``CARER_NAME``/``POSTCODE``/``OFSTED_URN``/
``REASON_FOR_CHANGE``, and ``MO_SUBJECT_REFERENCES`` keyed by ``SUBJECT_COMPOUND_ID``.

======================== =====================================================================
table                    columns -> canonical
======================== =====================================================================
dm_persons               PERSON_ID la_child_id; FIRST_NAMES, LAST_NAME names; GENDER sex;
                         FULL_ETHNICITY_CODE ethnicity; DATE_OF_BIRTH birth_date (or
                         expected_birth_date); DATE_OF_BIRTH_ESTIMATED precision; DATE_OF_DEATH
                         death_date; UPN_ID upn; NHS_ID nhs_number; NATIONALITY nationality
MO_SUBJECT_REFERENCES    REFERENCE_TYPE_CODE (NHS nhs_number, UPN upn, FORMER_UPN former_upn,
                         else other) with REFERENCE -> child.identifiers; SUBJECT_TYPE_CODE PER
DM_PERSONAL_RELATIONSHIPS OTHER_PERSON_ID id (their dm_persons row: names, birth date, sex,
                         UPN_ID, NHS_ID); RELATIONSHIP_TYPE relationship; PARENTAL_RESPONSIBILITY
                         parental_responsibility; LIVES_WITH lives_with_child -> related_people
DM_ADDRESSES             REF_ADDRESSES_PEOPLE_ID id; FLAT_NUMBER, BUILDING, STREET_NUMBER with
                         STREET, DISTRICT lines (or ADDRESS split at commas); TOWN town;
                         POST_CODE postcode; UPRN uprn; START_DATE, END_DATE; IS_CONFIDENTIAL,
                         ADDRESS_TYPE confidential -> child.addresses
dm_cin_referrals         REFERRAL_ID id; REFERRAL_DATE referral_date; SOURCE_OF_REFERRAL
                         referral_source; PRIMARY_NEED_CODE primary_need; NFA_DATE
                         referral_no_further_action (its day kept unless it is the closure
                         date); CLOSURE_DATE closure_date; CLOSURE_REASON closure_reason
DM_REGISTRATIONS         REGISTRATION_ID id; REGISTRATION_START_DATE, DEREGISTRATION_DATE;
                         IS_CHILD_PROTECTION_PLAN; IS_TEMPORARY_CHILD_PROTECTION
                         other_local_authority; REFERRAL_ID (its episode) -> cp_plans
DM_REGISTRATION_CATEGORIES REGISTRATION_ID; CIN_ABUSE_CATEGORY_CODE, CATEGORY_START_DATE,
                         CATEGORY_END_DATE -> initial_category, latest_category
DM_PERIODS_OF_CARE       PERIOD_OF_CARE_ID (episode ids), START_DATE, END_DATE, CATEGORY_OF_NEED
                         category_of_need, REASON_FOR_LEAVING reason_episode_ceased
DM_LEGAL_STATUSES        PERIOD_OF_CARE_ID, LEGAL_STATUS legal_status, START_DATE, END_DATE
DM_PLACEMENTS            PLACEMENT_ID placement.id; PERIOD_OF_CARE_ID; START_DATE, END_DATE;
                         PLACEMENT_TYPE placement_type; CARER_NAME provider; CARER_ID;
                         POSTCODE postcode; OFSTED_URN urn; REASON_FOR_CHANGE change_reason
DM_ALLOCATED_WORKERS     WORKER_ID id; ALLOCATION_TYPE role, agency, is_lead (ALLWORK,
                         ALLWORKCF); START_DATE, END_DATE; TEAM_NAME organisation
DM_WORKERS               WORKER_ID; FIRST_NAMES, LAST_NAME name; JOB_TITLE role when the
                         allocation type has none; ORGANISATION when there is no team
DM_WARNINGS              WARNING_ID id; WARNING_TYPE type; SUMMARY summary; NOTE details;
                         START_DATE, END_DATE; OTHER_PERSON_ID not_to_be_disclosed_to or
                         related_person_ids -> alerts
DM_CASE_NOTES            EVENT_DATE date; NOTE_TYPE category; TITLE summary; NOTE details;
                         CREATED_BY recorded_by -> chronology
======================== =====================================================================

Any other non-empty cell of a row that is carried is kept in ``unmapped`` with its file, row and
column; a column the adapter does not know gets one ``columns-extra`` warning per file.

**Configuration** (``config=`` a YAML file or a dict): as for the Liquidlogic adapter
(:class:`exchange.adapters.liquidlogic.VendorConfig`): ``source_authority``, ``codes`` per code list
(added to ``DEFAULT_CODES``: the DfE codes, their descriptions, Mosaic's ``M``/``F``/``U``/``I``
genders, relationship and warning words), ``confidential_address_types``, ``date_formats`` and
``renames``. A value no map knows is reported (``code-unknown``) and kept, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.liquidlogic import (
    ALERT_SUMMARIES,
    ALLOWED,
    COMMON_CODES,
    RowReader,
    columns_extra,
    load_config,
    open_tables,
)
from exchange.adapters.tables import NULLS, Row, TableSet, TableSpec
from exchange.adapters.vendor import StatusCache, alone, within
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.model import SourceLocation

WARNING = Severity.WARNING
SYSTEM = "Mosaic"
PERSON = "dm_persons"
RELATIONSHIPS = "DM_PERSONAL_RELATIONSHIPS"
CASE_TABLES = ("dm_cin_referrals", "DM_REGISTRATIONS", "DM_PERIODS_OF_CARE")

TABLES = (
    TableSpec(PERSON, "PERSON_ID", required=True),
    TableSpec("MO_SUBJECT_REFERENCES", "SUBJECT_COMPOUND_ID", frozenset({"REFERENCE_TYPE_CODE"})),
    TableSpec(RELATIONSHIPS, "PERSON_ID", frozenset({"OTHER_PERSON_ID", "RELATIONSHIP_TYPE"})),
    TableSpec("DM_ADDRESSES", "PERSON_ID"),
    TableSpec("dm_cin_referrals", "PERSON_ID", frozenset({"REFERRAL_ID"})),
    TableSpec(
        "DM_REGISTRATIONS",
        "PERSON_ID",
        frozenset({"REGISTRATION_ID", "IS_CHILD_PROTECTION_PLAN"}),
    ),
    TableSpec("DM_REGISTRATION_CATEGORIES", "PERSON_ID", frozenset({"REGISTRATION_ID"})),
    TableSpec("DM_PERIODS_OF_CARE", "PERSON_ID", frozenset({"PERIOD_OF_CARE_ID"})),
    TableSpec("DM_LEGAL_STATUSES", "PERSON_ID", frozenset({"LEGAL_STATUS"})),
    TableSpec("DM_PLACEMENTS", "PERSON_ID"),
    TableSpec("DM_ALLOCATED_WORKERS", "PERSON_ID", frozenset({"WORKER_ID"})),
    # Keyed by the worker, so an allocation finds its worker with one indexed lookup.
    TableSpec("DM_WORKERS", "WORKER_ID"),
    TableSpec("DM_WARNINGS", "PERSON_ID"),
    TableSpec("DM_CASE_NOTES", "PERSON_ID", frozenset({"EVENT_DATE"})),
)
PER_PERSON = tuple(s.name for s in TABLES if s.name not in (PERSON, "DM_WORKERS"))


def _address(field: str) -> str:
    return f"child.addresses[].{field}|related_people[].addresses[].{field}"


_LA = "episodes[].looked_after_episodes[]"
MAPPING: dict[str, dict[str, str]] = {
    # column -> where its value lands (``|`` between alternatives, ``~`` inside a text);
    # "(...)" marks a column that steers the reading and whose value the record's shape shows.
    PERSON: {
        "PERSON_ID": "child.identifiers[].value|related_people[].id",
        "FIRST_NAMES": "child.names[].given|related_people[].names[].given",
        "LAST_NAME": "child.names[].family|related_people[].names[].family",
        "GENDER": "child.sex|related_people[].sex",
        "FULL_ETHNICITY_CODE": "child.ethnicity",
        "DATE_OF_BIRTH": "child.birth_date|child.expected_birth_date|related_people[].birth_date",
        "DATE_OF_BIRTH_ESTIMATED": "child.birth_date_precision",
        "DATE_OF_DEATH": "child.death_date",
        "UPN_ID": "child.identifiers[].value|related_people[].identifiers[].value",
        "NHS_ID": "child.identifiers[].value|related_people[].identifiers[].value",
        "NATIONALITY": "child.nationality",
    },
    "MO_SUBJECT_REFERENCES": {
        "SUBJECT_COMPOUND_ID": "(the child)",
        "SUBJECT_TYPE_CODE": "(a person's reference)",
        "REFERENCE_TYPE_CODE": "child.identifiers[].system",
        "REFERENCE": "child.identifiers[].value",
    },
    RELATIONSHIPS: {
        "PERSON_ID": "(the child)",
        "OTHER_PERSON_ID": "related_people[].id",
        "RELATIONSHIP_TYPE": "related_people[].relationship",
        "PARENTAL_RESPONSIBILITY": "related_people[].parental_responsibility",
        "LIVES_WITH": "related_people[].lives_with_child",
    },
    "DM_ADDRESSES": {
        "PERSON_ID": "(the person)",
        "REF_ADDRESSES_PEOPLE_ID": _address("id"),
        "FLAT_NUMBER": _address("lines[]~"),
        "BUILDING": _address("lines[]~"),
        "STREET_NUMBER": _address("lines[]~"),
        "STREET": _address("lines[]~"),
        "DISTRICT": _address("lines[]~"),
        "ADDRESS": _address("lines[]~"),
        "TOWN": _address("town"),
        "POST_CODE": _address("postcode"),
        "UPRN": _address("uprn"),
        "START_DATE": _address("start_date"),
        "END_DATE": _address("end_date"),
        "IS_CONFIDENTIAL": _address("confidential"),
        "ADDRESS_TYPE": _address("confidential"),
    },
    "dm_cin_referrals": {
        "PERSON_ID": "(the child)",
        "REFERRAL_ID": "episodes[].id",
        "REFERRAL_DATE": "episodes[].referral_date",
        "SOURCE_OF_REFERRAL": "episodes[].referral_source",
        "PRIMARY_NEED_CODE": "episodes[].primary_need",
        "NFA_DATE": "episodes[].closure_date|episodes[].referral_no_further_action",
        "CLOSURE_DATE": "episodes[].closure_date",
        "CLOSURE_REASON": "episodes[].closure_reason",
    },
    "DM_REGISTRATIONS": {
        "PERSON_ID": "(the child)",
        "REGISTRATION_ID": "episodes[].cp_plans[].id",
        "REGISTRATION_START_DATE": "episodes[].cp_plans[].start_date",
        "DEREGISTRATION_DATE": "episodes[].cp_plans[].end_date",
        "IS_CHILD_PROTECTION_PLAN": "(a child protection plan)",
        "IS_TEMPORARY_CHILD_PROTECTION": "episodes[].cp_plans[].other_local_authority",
        "REFERRAL_ID": "episodes[].id",
    },
    "DM_REGISTRATION_CATEGORIES": {
        "PERSON_ID": "(the child)",
        "REGISTRATION_ID": "episodes[].cp_plans[].id",
        "CIN_ABUSE_CATEGORY_CODE": "episodes[].cp_plans[].initial_category"
        "|episodes[].cp_plans[].latest_category",
        "CATEGORY_START_DATE": "episodes[].cp_plans[].start_date",
        "CATEGORY_END_DATE": "episodes[].cp_plans[].end_date",
    },
    "DM_PERIODS_OF_CARE": {
        "PERSON_ID": "(the child)",
        "PERIOD_OF_CARE_ID": f"{_LA}.id~",
        "START_DATE": f"{_LA}.start_date",
        "END_DATE": f"{_LA}.end_date",
        "CATEGORY_OF_NEED": f"{_LA}.category_of_need",
        "REASON_FOR_LEAVING": f"{_LA}.reason_episode_ceased",
    },
    "DM_LEGAL_STATUSES": {
        "PERSON_ID": "(the child)",
        "PERIOD_OF_CARE_ID": f"{_LA}.id~",
        "LEGAL_STATUS": f"{_LA}.legal_status",
        "START_DATE": f"{_LA}.start_date",
        "END_DATE": f"{_LA}.end_date",
    },
    "DM_PLACEMENTS": {
        "PERSON_ID": "(the child)",
        "PLACEMENT_ID": f"{_LA}.placement.id",
        "PERIOD_OF_CARE_ID": f"{_LA}.id~",
        "START_DATE": f"{_LA}.start_date|{_LA}.placement.start_date",
        "END_DATE": f"{_LA}.placement.end_date",
        "PLACEMENT_TYPE": f"{_LA}.placement.placement_type",
        "CARER_NAME": f"{_LA}.placement.provider",
        "CARER_ID": "(same or another carer)",
        "POSTCODE": f"{_LA}.placement.postcode",
        "OFSTED_URN": f"{_LA}.placement.urn",
        "REASON_FOR_CHANGE": f"{_LA}.placement.change_reason",
    },
    "DM_ALLOCATED_WORKERS": {
        "PERSON_ID": "(the child)",
        "WORKER_ID": "professionals[].id",
        "ALLOCATION_TYPE": "professionals[].role|professionals[].agency",
        "START_DATE": "professionals[].start_date",
        "END_DATE": "professionals[].end_date",
        "TEAM_NAME": "professionals[].organisation",
    },
    "DM_WORKERS": {
        "WORKER_ID": "professionals[].id",
        "FIRST_NAMES": "professionals[].name~",
        "LAST_NAME": "professionals[].name~",
        "JOB_TITLE": "professionals[].role",
        "ORGANISATION": "professionals[].organisation",
    },
    "DM_WARNINGS": {
        "PERSON_ID": "(the child)",
        "WARNING_ID": "alerts[].id",
        "WARNING_TYPE": "alerts[].type",
        "SUMMARY": "alerts[].summary",
        "NOTE": "alerts[].details",
        "START_DATE": "alerts[].start_date",
        "END_DATE": "alerts[].end_date",
        "OTHER_PERSON_ID": "alerts[].not_to_be_disclosed_to[]|alerts[].related_person_ids[]",
    },
    "DM_CASE_NOTES": {
        "PERSON_ID": "(the child)",
        "EVENT_DATE": "chronology[].date",
        "NOTE_TYPE": "chronology[].category",
        "TITLE": "chronology[].summary",
        "NOTE": "chronology[].details",
        "CREATED_BY": "chronology[].recorded_by",
    },
}
KEPT: dict[str, frozenset[str]] = {
    # Known Mosaic columns the record has no place for: kept unmapped, no columns-extra warning.
    PERSON: frozenset({"TITLE", "FULL_NAME", "RESTRICTED", "COUNTRY_OF_BIRTH_CODE", "RELIGION"}),
    "MO_SUBJECT_REFERENCES": frozenset({"SUBJECT_REFERENCE_ID"}),
    RELATIONSHIPS: frozenset(
        {
            "PERSONAL_RELATIONSHIP_ID",
            "PERSONAL_REL_TYPE_ID",
            "START_DATE",
            "END_DATE",
            "FAMILY_CATEGORY",
            "IS_MOTHER",
            "IS_INFORMAL_CARER",
        }
    ),
    "DM_ADDRESSES": frozenset({"IS_DISPLAY_ADDRESS", "COUNTY"}),
    "dm_cin_referrals": frozenset(),
    "DM_REGISTRATIONS": frozenset({"REGISTRATION_STEP_ID", "DEREGISTRATION_REASON"}),
    "DM_REGISTRATION_CATEGORIES": frozenset(
        {"REGISTRATION_CATEGORY_ID", "CATEGORY_ID", "IS_CHILD_PROTECTION_PLAN"}
    ),
    "DM_PERIODS_OF_CARE": frozenset(),
    "DM_LEGAL_STATUSES": frozenset({"LEGAL_STATUS_ID"}),
    "DM_PLACEMENTS": frozenset({"SPLIT_NUMBER"}),
    "DM_ALLOCATED_WORKERS": frozenset({"ALLOCATION_ID"}),
    "DM_WORKERS": frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER"}),
    "DM_WARNINGS": frozenset(),
    "DM_CASE_NOTES": frozenset({"CASE_NOTE_ID"}),
}
READ = {table: frozenset(columns) for table, columns in MAPPING.items()}
LEAD_ALLOCATIONS = frozenset({"ALLWORK", "ALLWORKCF"})
"""Allocation types that make the worker the child's lead (allocated) worker."""
IDENTIFIER_TYPES = {"NHS": "nhs_number", "UPN": "upn", "FORMER_UPN": "former_upn"}

DEFAULT_CODES: dict[str, dict[str, str]] = {
    "relationship": {
        "MOTHER": "mother",
        "BIRTH MOTHER": "mother",
        "FATHER": "father",
        "BIRTH FATHER": "father",
        "STEP-MOTHER": "step_parent",
        "STEPMOTHER": "step_parent",
        "STEP-FATHER": "step_parent",
        "STEPFATHER": "step_parent",
        "ADOPTIVE MOTHER": "adoptive_parent",
        "ADOPTIVE FATHER": "adoptive_parent",
        "ADOPTIVE PARENT": "adoptive_parent",
        "PARENT'S PARTNER": "parent_partner",
        "MOTHER'S PARTNER": "parent_partner",
        "FATHER'S PARTNER": "parent_partner",
        "SIBLING": "sibling",
        "BROTHER": "sibling",
        "SISTER": "sibling",
        "HALF-SIBLING": "half_sibling",
        "HALF-BROTHER": "half_sibling",
        "HALF-SISTER": "half_sibling",
        "STEP-SIBLING": "step_sibling",
        "STEP-BROTHER": "step_sibling",
        "STEP-SISTER": "step_sibling",
        "GRANDMOTHER": "grandparent",
        "GRANDFATHER": "grandparent",
        "GRANDPARENT": "grandparent",
        "AUNT": "aunt_uncle",
        "UNCLE": "aunt_uncle",
        "COUSIN": "other_relative",
        "RELATIVE": "other_relative",
        "FOSTER CARER": "foster_carer",
        "SPECIAL GUARDIAN": "special_guardian",
        "KINSHIP CARER": "kinship_carer",
        "FAMILY FRIEND": "family_friend",
        "FRIEND": "family_friend",
        "LODGER": "household_member",
    },
    "professional_role": {
        "ALLWORK": "Allocated social worker",
        "ALLWORKCF": "Allocated social worker",
        "IRO": "Independent reviewing officer",
        "PA": "Personal adviser",
    },
    "agency": {
        "ALLWORK": "social_care",
        "ALLWORKCF": "social_care",
        "IRO": "social_care",
        "PA": "social_care",
    },
    "alert_type": {
        "DO NOT DISCLOSE ADDRESS": "do_not_disclose_address",
        "ADDRESS CONFIDENTIAL": "do_not_disclose_address",
        "DND": "do_not_disclose_address",
        "RISK TO CHILD": "risk_to_child",
        "RISK TO STAFF": "risk_to_staff",
        "RISK TO WORKERS": "risk_to_staff",
        "VIOLENT": "risk_to_staff",
        "RISK FROM PERSON": "risk_from_person",
        "MISSING": "missing",
        "CSE": "exploitation",
        "CCE": "exploitation",
        "MEDICAL": "medical",
        "INTERPRETER": "communication_need",
        "COURT ORDER": "court_order",
    },
    "chronology_category": {
        "HOME VISIT": "visit",
        "STATUTORY VISIT": "visit",
        "STRATEGY DISCUSSION": "strategy_discussion",
        "SECTION 47": "section_47",
        "CONFERENCE": "conference",
        "PHONE CALL": "other",
        "MEETING": "other",
    },
}
"""Mosaic's words, on top of the shared defaults; the configuration adds the authority's own."""


def _is_duplicate(kind: str | None) -> bool:
    parts = [p.strip() for p in (kind or "").upper().split(":")]
    return "DUPLICATE" in parts


class MosaicAdapter(Adapter):
    """Mosaic warehouse tables (DM_*, MO_*) -> canonical records."""

    name = "mosaic"
    title = "Mosaic (DM_* / MO_* tables), one CSV per table or view"
    formats = ("csv",)
    versions = ("DM", "MO")

    def __init__(
        self,
        context: RuleContext | None = None,
        *,
        config: Path | Mapping[str, Any] | None = None,
        source_authority: str | None = None,
    ) -> None:
        super().__init__(context)
        self.config = load_config(config, adapter=self.name, tables=[s.name for s in TABLES])
        self.source_authority = (
            source_authority or self.config.source_authority or ""
        ).strip() or None
        self.codes = self.config.code_maps(COMMON_CODES, DEFAULT_CODES)
        self.confidential_types = frozenset(
            t.strip().upper() for t in self.config.confidential_address_types
        )

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child in dm_persons (and one per row that belongs to nobody)."""
        with open_tables(source, TABLES, self.config) as tables:
            yield from _Export(self, source, tables).results()


class _Export:
    """One export being read: merges and whole-export checks, then one record per child."""

    def __init__(self, adapter: MosaicAdapter, source: Source, tables: TableSet) -> None:
        self.adapter = adapter
        self.source = source
        self.tables = tables
        self.merged_into: dict[str, str] = {}
        self.absorbs: dict[str, list[str]] = {}
        self.involved_workers: set[str] = set()
        self.missing: list[tuple[str, str]] = []
        self.statuses = StatusCache(self._status)
        self.files = {
            Path(f.name).stem.upper(): f.name
            for f in source.files
            if f.name.lower().endswith(".csv")
        }

    def results(self) -> Iterator[ReadResult]:
        notices = self.notices()
        first = True
        for person in self.tables.people(PERSON):
            if self.status(person) != "child":
                continue
            result = self.child(person)
            if first:
                result.problems[:0] = notices
                first = False
            yield result
        yield from self.orphans()

    def file_of(self, table: str) -> str:
        return self.files.get(table.upper(), f"{table}.csv")

    # -- whole-export checks ---------------------------------------------------------------

    def notices(self) -> list[Problem]:
        found: list[Problem] = []
        if self.adapter.source_authority is None:
            found.append(
                problem(
                    "source-authority-missing",
                    "A Mosaic export does not say which authority sent it; records say 'unknown'.",
                    "Give the sending authority's DfE or GSS code (source_authority).",
                    severity=WARNING,
                )
            )
        known = {t: READ[t] | KEPT[t] for t in READ}
        found.extend(columns_extra(self.source, self.tables, known, self.adapter.config.renames))
        found.extend(self.tables.problems)
        found.extend(self.find_merges())
        if not any(self.status(p) == "child" for p in self.tables.people(PERSON)):
            raise fatal_no_children(self.file_of(PERSON))
        found.extend(self.others())
        found.extend(self.idle_workers())
        return found

    def find_merges(self) -> list[Problem]:
        """Each duplicate and the person it was merged into, chains followed to the end."""
        found: list[Problem] = []
        if RELATIONSHIPS.upper() not in self.tables.present:
            return found
        direct: dict[str, tuple[str, Row]] = {}
        for row in self.tables.rows(RELATIONSHIPS):
            survivor, duplicate = row.get("PERSON_ID"), row.get("OTHER_PERSON_ID")
            if not _is_duplicate(row.get("RELATIONSHIP_TYPE")) or not survivor or not duplicate:
                continue
            if duplicate in direct and direct[duplicate][0] != survivor:
                found.append(
                    problem(
                        "duplicate-conflict",
                        f"Person {duplicate!r} is marked a duplicate of both "
                        f"{direct[duplicate][0]!r} and {survivor!r}; the first is followed.",
                        "Keep one DUPLICATE relationship per merged record.",
                        row.at("OTHER_PERSON_ID"),
                        severity=WARNING,
                    )
                )
                continue
            direct[duplicate] = (survivor, row)
        circles: set[frozenset[str]] = set()
        for duplicate, (survivor, row) in direct.items():
            seen = {duplicate}
            while survivor in direct and survivor not in seen:
                seen.add(survivor)
                survivor = direct[survivor][0]
            if survivor in seen:
                if frozenset(seen) in circles:
                    continue
                circles.add(frozenset(seen))
                found.append(
                    problem(
                        "duplicate-cycle",
                        f"The DUPLICATE relationships of {', '.join(sorted(seen))} go round in "
                        "a circle, so none of them is merged.",
                        "Correct the DUPLICATE relationships: one record survives each merge.",
                        row.at("RELATIONSHIP_TYPE"),
                    )
                )
                continue
            if not self.tables.rows_for(PERSON, survivor):
                found.append(
                    problem(
                        "merged-survivor-not-found",
                        f"Person {duplicate!r} is a duplicate of {survivor!r}, who is not in "
                        "dm_persons; the duplicate is read as a person of their own.",
                        "Export the surviving person's dm_persons row.",
                        row.at("PERSON_ID"),
                        severity=WARNING,
                    )
                )
                continue
            self.merged_into[duplicate] = survivor
            self.absorbs.setdefault(survivor, []).append(duplicate)
        return found

    def has_case(self, person: str) -> bool:
        return any(
            self.tables.rows_for(table, person)
            for table in CASE_TABLES
            if table.upper() in self.tables.present
        )

    def status(self, person: str) -> str:
        """child, merged (into a survivor), other (a relative) or missing."""
        return self.statuses.get(person)

    def _status(self, person: str) -> str:
        if person in self.merged_into:
            return "merged"
        if not self.tables.rows_for(PERSON, person):
            return "missing"
        if any(self.has_case(p) for p in (person, *self.absorbs.get(person, []))):
            return "child"
        return "other"

    def others(self) -> Iterator[Problem]:
        people = sum(1 for p in self.tables.people(PERSON) if self.status(p) == "other")
        rows: dict[str, int] = {}
        for table in PER_PERSON:
            if table.upper() not in self.tables.present:
                continue
            file = self.file_of(table)
            for person in self.tables.people(table):
                kind = self.status(person)
                if kind == "missing":
                    self.missing.append((table, person))  # reported after the records
                elif kind == "other" and table != "DM_ADDRESSES":
                    rows[file] = rows.get(file, 0) + len(self.tables.rows_for(table, person))
        if people or rows:
            said = "; ".join(f"{file}: {n}" for file, n in rows.items())
            yield problem(
                "people-not-children",
                f"{people} people in dm_persons have no referral, registration or period of "
                "care: they travel only as related people of a child who names them (names, "
                "birth date, sex, identifiers, addresses); their other values are left out."
                + (f" Rows about them in other tables are not carried ({said})." if said else ""),
                "Nothing to do, unless one of them is a child to transfer: export their case.",
                SourceLocation(file=self.file_of(PERSON)),
                severity=WARNING,
            )

    def idle_workers(self) -> Iterator[Problem]:
        if "DM_WORKERS" not in self.tables.present:
            return
        for row in self.tables.rows("DM_ALLOCATED_WORKERS"):
            if (worker := row.get("WORKER_ID")) is not None:
                self.involved_workers.add(worker)
        idle = sum(1 for w in self.tables.people("DM_WORKERS") if w not in self.involved_workers)
        idle += sum(1 for _ in self.tables.rows_without_person("DM_WORKERS"))
        if idle:
            yield problem(
                "workers-not-involved",
                f"{idle} DM_WORKERS rows are named by no DM_ALLOCATED_WORKERS row; staff records "
                "that concern no child are not carried.",
                "Nothing to do, unless an allocation is missing from DM_ALLOCATED_WORKERS.",
                SourceLocation(file=self.file_of("DM_WORKERS")),
                severity=WARNING,
            )

    # -- records ---------------------------------------------------------------------------

    def child(self, person: str) -> ReadResult:
        problems: list[Problem] = []
        rows = self.tables.rows_for(PERSON, person)
        location = SourceLocation(file=rows[0].file, row=rows[0].number)
        duplicates = self.absorbs.get(person, [])
        data = _Child(self.adapter, self.tables, person, problems).build(rows, duplicates)
        return self.adapter.finish(data, key=person, location=location, problems=problems)

    def orphans(self) -> Iterator[ReadResult]:
        for table, person in self.missing:
            for row in self.tables.rows_for(table, person):
                if person.upper() in NULLS:  # the shared reader keeps a NULL id as text
                    yield alone(row, "person-id-missing", "names no person", "Give it a PERSON_ID.")
                    continue
                yield alone(
                    row,
                    "person-not-found",
                    f"names person {person!r}, who is not in dm_persons",
                    "Export the person in dm_persons, or leave their rows out.",
                )
        for table in (PERSON, *PER_PERSON):
            if table.upper() not in self.tables.present:
                continue
            for row in self.tables.rows_without_person(table):
                yield alone(row, "person-id-missing", "names no person", "Give it a PERSON_ID.")


def fatal_no_children(file: str) -> Exception:
    """The export holds no child to transfer."""
    return fatal(
        "no-children",
        "dm_persons holds no child: nobody has a referral, registration or period of care.",
        "Export dm_cin_referrals, DM_REGISTRATIONS or DM_PERIODS_OF_CARE with the children.",
        SourceLocation(file=file, row=1),
    )


# --- one child ------------------------------------------------------------------------------


class _Child(RowReader):
    """Builds one child's record (their merged duplicates' rows folded in)."""

    def __init__(
        self, adapter: MosaicAdapter, tables: TableSet, person: str, problems: list[Problem]
    ) -> None:
        super().__init__(
            tables,
            person,
            problems,
            codes=adapter.codes,
            date_formats=adapter.config.date_formats,
            read=READ,
        )
        self.adapter = adapter
        self.authority = adapter.source_authority
        self.duplicates: list[str] = []
        self.child: dict[str, Any] = {"identifiers": [], "names": [], "addresses": []}
        self.related: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.professionals: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []
        self.chronology: list[dict[str, Any]] = []

    def all_rows(self, table: str) -> list[Row]:
        """The child's rows and their merged duplicates' rows, in that order."""
        return [r for p in (self.person, *self.duplicates) for r in self.rows(table, p)]

    def build(self, rows: list[Row], duplicates: list[str]) -> dict[str, Any]:
        self.duplicates = duplicates
        self.identity(rows[0])
        for again in rows[1:]:
            self.other_person_row(again, rows[0], "a second row for the same person")
        for duplicate in duplicates:
            for row in self.rows(PERSON, duplicate):
                self.merged(duplicate, row, rows[0])
        for row in self.all_rows("MO_SUBJECT_REFERENCES"):
            self.reference(row)
        for row in self.all_rows("DM_ADDRESSES"):
            self.child["addresses"].append(self.address(row))
        for row in self.all_rows(RELATIONSHIPS):
            self.relation(row)
        for row in self.all_rows("DM_WARNINGS"):
            self.alert(row)
        for row in self.all_rows("dm_cin_referrals"):
            self.referral(row)
        self.plans()
        self.looked_after()
        for row in self.all_rows("DM_ALLOCATED_WORKERS"):
            self.allocation(row)
        for row in self.all_rows("DM_CASE_NOTES"):
            self.case_note(row)
        self.protect_addresses(self.child["addresses"], self.alerts)
        return self.data()

    def data(self) -> dict[str, Any]:
        self.chronology.sort(key=lambda e: e["date"])
        return {
            "provenance": {
                "source_authority": self.authority or "unknown",
                "source_system": SYSTEM,
            },
            "child": {k: v for k, v in self.child.items() if v not in (None, [])},
            "alerts": self.alerts,
            "related_people": list(self.related.values()),
            "professionals": self.professionals,
            "episodes": [
                {k: v for k, v in e.items() if v not in (None, [])} for e in self.episodes
            ],
            "chronology": self.chronology,
            "unmapped": self.v.unmapped,
        }

    # -- the person ------------------------------------------------------------------------

    def identify(self, system: str, value: str) -> bool:
        """Add an identifier unless the child has it already; False when it was there."""
        if any(i["system"] == system and i["value"] == value for i in self.child["identifiers"]):
            return False
        issuer = self.authority if system in ("la_child_id", "legacy") else None
        self.child["identifiers"].append({"system": system, "value": value, "issuer": issuer})
        return True

    def identity(self, row: Row) -> None:
        child = self.child
        self.identify("la_child_id", self.person)
        for column, system in (("UPN_ID", "upn"), ("NHS_ID", "nhs_number")):
            if (value := row.get(column)) is not None:
                self.identify(system, value)
        if row.get("FIRST_NAMES") or row.get("LAST_NAME"):
            child["names"].append({"given": row.get("FIRST_NAMES"), "family": row.get("LAST_NAME")})
        child["sex"] = self.code(row, "GENDER", "gender")
        child["ethnicity"] = self.code(row, "FULL_ETHNICITY_CODE", "ethnicity")
        born = self.date(row, "DATE_OF_BIRTH")
        if born is not None and born > self.adapter.context.today:
            child["expected_birth_date"] = born
        else:
            child["birth_date"] = born
        if self.flag(row, "DATE_OF_BIRTH_ESTIMATED") and child.get("birth_date"):
            child["birth_date_precision"] = "estimated"
        child["death_date"] = self.date(row, "DATE_OF_DEATH")
        child["nationality"] = row.get("NATIONALITY")
        self.rest(row)

    def other_person_row(self, row: Row, first: Row, reason: str) -> None:
        """Keep a second person row's values that differ from the child's own."""
        if reason.startswith("a second"):
            self.warn(
                "person-duplicate",
                f"PERSON_ID {self.person!r} is on rows {first.number} and {row.number}; the "
                "first is read and the second's differing values are kept unmapped.",
                "Export each person once.",
                row,
                "PERSON_ID",
            )
        for column, value in row.cells.items():
            # A mapped value said again adds nothing; anything else is kept where it is.
            if column.upper() == "PERSON_ID":
                continue
            if column.upper() not in READ[PERSON] or first.get(column) != value:
                self.kept(row, column, value, reason)

    def merged(self, duplicate: str, row: Row, first: Row) -> None:
        self.warn(
            "person-merged",
            f"Person {duplicate!r} is a duplicate merged into this child (a DUPLICATE "
            "relationship); their rows are read as the child's and their differing details "
            "kept unmapped.",
            "Check the merged record's details; nothing else to do.",
            row,
            "PERSON_ID",
        )
        self.kept(row, "PERSON_ID", duplicate, "merged duplicate person")
        self.other_person_row(row, first, f"merged duplicate person {duplicate}")

    def reference(self, row: Row) -> None:
        kind, value = row.get("REFERENCE_TYPE_CODE"), row.get("REFERENCE")
        subject = row.get("SUBJECT_TYPE_CODE")
        if (subject is not None and subject.upper() != "PER") or value is None:
            self.rest(row, "not a reference of the person", frozenset({"SUBJECT_COMPOUND_ID"}))
            return
        system = IDENTIFIER_TYPES.get((kind or "").upper(), "other")
        self.identify(system, value)
        if system == "other" and kind is not None:
            self.keep(row, "REFERENCE_TYPE_CODE", "the type of an 'other' identifier")
        self.rest(row)

    # -- addresses, family, alerts ---------------------------------------------------------

    def address(self, row: Row) -> dict[str, Any]:
        street = " ".join(p for p in (row.get("STREET_NUMBER"), row.get("STREET")) if p)
        lines = [row.get("FLAT_NUMBER"), row.get("BUILDING"), street or None, row.get("DISTRICT")]
        if not any(lines) and (text := row.get("ADDRESS")) is not None:
            lines = [part.strip() for part in text.replace("\n", ",").split(",")]
        elif row.get("ADDRESS") is not None:
            self.keep(row, "ADDRESS", "the address as one text, besides its parts")
        kind = row.get("ADDRESS_TYPE")
        marked = kind is not None and kind.upper() in self.adapter.confidential_types
        if kind is not None and not marked:
            self.keep(row, "ADDRESS_TYPE", "address type")
        confidential = self.confidential(row, ("IS_CONFIDENTIAL",), marked)
        self.rest(row)
        address = {
            "id": row.get("REF_ADDRESSES_PEOPLE_ID"),
            "lines": [line for line in lines if line],
            "town": row.get("TOWN"),
            "postcode": row.get("POST_CODE"),
            "uprn": self.uprn(row, "UPRN"),
            "start_date": self.date(row, "START_DATE"),
            "end_date": self.date(row, "END_DATE"),
            "confidential": confidential,
        }
        return {k: v for k, v in address.items() if v not in (None, [])}

    def relationship(self, row: Row) -> str | None:
        """The other person's relationship, from a code or a 'Child : Mother' description."""
        raw = row.get("RELATIONSHIP_TYPE")
        if raw is None:
            return None
        maps, allowed = self.codes["relationship"], ALLOWED["relationship"]
        whole = " ".join(raw.upper().split())
        for key in (whole, whole.rsplit(":", 1)[-1].strip()):
            found = maps.get(key, key.lower().replace(" ", "_").replace("-", "_"))
            if found in allowed:
                return found
        return self.code(row, "RELATIONSHIP_TYPE", "relationship", WARNING)

    def relation(self, row: Row) -> None:
        other = row.get("OTHER_PERSON_ID")
        if _is_duplicate(row.get("RELATIONSHIP_TYPE")):
            self.rest(row, "the merge of a duplicate person", frozenset({"PERSON_ID"}))
            return
        if other is None or other == self.person or other in self.duplicates:
            self.rest(row, "names no other person", frozenset({"PERSON_ID"}))
            return
        if other in self.related:
            self.rest(row, "the same related person again", frozenset({"PERSON_ID"}))
            return
        person: dict[str, Any] = {
            "id": other,
            # A relative travels even when the relationship is not known: say "other".
            "relationship": self.relationship(row) or "other",
            "parental_responsibility": self.flag(row, "PARENTAL_RESPONSIBILITY"),
            "lives_with_child": self.flag(row, "LIVES_WITH"),
        }
        self.related[other] = person
        found = self.rows(PERSON, other)
        if found:
            self.relative(person, found[0])
        else:
            self.warn(
                "related-person-not-found",
                f"Related person {other!r} is not in dm_persons; only the relationship travels.",
                "Export the related person's dm_persons row.",
                row,
                "OTHER_PERSON_ID",
            )
        for address in self.rows("DM_ADDRESSES", other):
            person.setdefault("addresses", []).append(self.address(address))
        self.rest(row)
        for key in ("parental_responsibility", "lives_with_child"):
            if person[key] is None:
                del person[key]

    def relative(self, person: dict[str, Any], row: Row) -> None:
        """What a relative's own dm_persons row says about them."""
        if row.get("FIRST_NAMES") or row.get("LAST_NAME"):
            person["names"] = [{"given": row.get("FIRST_NAMES"), "family": row.get("LAST_NAME")}]
        if (sex := self.code(row, "GENDER", "gender", WARNING)) is not None:
            person["sex"] = sex
        born = self.date(row, "DATE_OF_BIRTH")
        if born is not None and born <= self.adapter.context.today:
            person["birth_date"] = born
        elif born is not None:
            self.keep(row, "DATE_OF_BIRTH", "a relative's expected birth date")
        for column, system in (("UPN_ID", "upn"), ("NHS_ID", "nhs_number")):
            if (value := row.get(column)) is not None:
                person.setdefault("identifiers", []).append({"system": system, "value": value})

    def person_id(self, row: Row, column: str) -> str | None:
        """A person a warning names, added as a related person when no relationship names them."""
        other = row.get(column)
        if other is None or other in self.related:
            return other
        found = self.rows(PERSON, other)
        if not found:
            self.warn(
                "alert-person-not-found",
                f"The warning names person {other!r}, who is not in dm_persons; it is kept "
                "unmapped so the restriction is not lost.",
                "Export the person's dm_persons row and their relationship to the child.",
                row,
                column,
            )
            self.keep(row, column, "the person a warning concerns, not in dm_persons")
            return None
        self.warn(
            "alert-person-not-related",
            f"The warning names person {other!r}, who has no relationship to the child; they "
            "are added as a related person ('other') so the alert can name them.",
            "Record the person's relationship to the child in DM_PERSONAL_RELATIONSHIPS.",
            row,
            column,
        )
        person: dict[str, Any] = {"id": other, "relationship": "other"}
        self.relative(person, found[0])
        self.related[other] = person
        return other

    def alert(self, row: Row) -> None:
        # An alert is never dropped for an unknown type: it travels as "other", the code kept.
        kind = self.code(row, "WARNING_TYPE", "alert_type", WARNING) or "other"
        alert: dict[str, Any] = {
            "id": row.get("WARNING_ID"),
            "type": kind,
            "summary": row.get("SUMMARY") or ALERT_SUMMARIES[kind],
            "details": row.get("NOTE"),
            "start_date": self.date(row, "START_DATE"),
            "end_date": self.date(row, "END_DATE"),
        }
        other = self.person_id(row, "OTHER_PERSON_ID")
        if other is not None:
            key = (
                "not_to_be_disclosed_to"
                if kind == "do_not_disclose_address"
                else "related_person_ids"
            )
            alert[key] = [other]
        self.rest(row)
        self.alerts.append({k: v for k, v in alert.items() if v is not None})

    # -- social care history ---------------------------------------------------------------

    def referral(self, row: Row) -> None:
        nfa = self.date(row, "NFA_DATE")
        closed = self.date(row, "CLOSURE_DATE")
        if nfa is not None and nfa != closed:
            # The record holds the decision, not its day (unless the referral closed then).
            self.keep(row, "NFA_DATE", "the day of the no-further-action decision")
        self.episodes.append(
            {
                "id": row.get("REFERRAL_ID"),
                "referral_date": self.date(row, "REFERRAL_DATE"),
                "referral_source": self.code(row, "SOURCE_OF_REFERRAL", "referral_source"),
                "primary_need": self.code(row, "PRIMARY_NEED_CODE", "primary_need"),
                # Mosaic records the decision as a date: no date means the referral went on.
                "referral_no_further_action": row.get("NFA_DATE") is not None,
                "closure_date": closed,
                "closure_reason": self.code(row, "CLOSURE_REASON", "closure_reason"),
                "cp_plans": [],
                "looked_after_episodes": [],
            }
        )
        self.rest(row)

    def episode_for(self, row: Row, column: str | None, when: dt.date | None) -> dict[str, Any]:
        """The episode a row belongs to: by its referral id, else the referral open that day."""
        referral = row.get(column) if column else None
        if referral is not None:
            for episode in self.episodes:
                if episode["id"] == referral:
                    return episode
            self.warn(
                "link-not-found",
                f"{column} {referral!r} names no referral of this child; the row is placed by "
                "its date.",
                "Export the referral in dm_cin_referrals, or correct the id.",
                row,
                column or "",
            )
            self.keep(row, column or "", "names no referral of this child")
        if when is not None:
            open_then = [
                e
                for e in self.episodes
                if e["referral_date"] is not None
                and within(when, e["referral_date"], e["closure_date"])
            ]
            if open_then:
                return max(open_then, key=lambda e: e["referral_date"])
        new: dict[str, Any] = {
            "id": None,
            "referral_date": None,
            "closure_date": None,
            "cp_plans": [],
            "looked_after_episodes": [],
        }
        self.episodes.append(new)
        return new

    def plans(self) -> None:
        categories: dict[str, list[Row]] = {}
        for row in self.all_rows("DM_REGISTRATION_CATEGORIES"):
            categories.setdefault(row.get("REGISTRATION_ID") or "", []).append(row)
        for row in self.all_rows("DM_REGISTRATIONS"):
            ident = row.get("REGISTRATION_ID") or ""
            if self.flag(row, "IS_CHILD_PROTECTION_PLAN") is not True:
                reason = "not a child protection registration"
                self.rest(row, reason, frozenset({"PERSON_ID"}))
                for category in categories.pop(ident, []):
                    self.rest(category, reason, frozenset({"PERSON_ID"}))
                continue
            start = self.date(row, "REGISTRATION_START_DATE")
            end = self.date(row, "DEREGISTRATION_DATE")
            plan: dict[str, Any] = {
                "id": row.get("REGISTRATION_ID"),
                "start_date": start,
                "end_date": end,
                "other_local_authority": self.flag(row, "IS_TEMPORARY_CHILD_PROTECTION"),
            }
            self.categories(plan, categories.pop(ident, []))
            self.episode_for(row, "REFERRAL_ID", start)["cp_plans"].append(
                {k: v for k, v in plan.items() if v is not None}
            )
            self.rest(row)
        for rows in categories.values():
            for row in rows:
                self.warn(
                    "link-not-found",
                    f"REGISTRATION_ID {row.get('REGISTRATION_ID')!r} names no registration of "
                    "this child.",
                    "Export the registration in DM_REGISTRATIONS, or correct the id.",
                    row,
                    "REGISTRATION_ID",
                )
                self.rest(row, "a category of no registration of this child", frozenset())

    def categories(self, plan: dict[str, Any], rows: list[Row]) -> None:
        """Initial and latest category; several at once mean MUL (each one kept unmapped)."""
        start, end = plan["start_date"], plan["end_date"]
        dated = [
            (row, self.date(row, "CATEGORY_START_DATE"), self.date(row, "CATEGORY_END_DATE"))
            for row in rows
        ]
        codes = {id(row): self.code(row, "CIN_ABUSE_CATEGORY_CODE", "category") for row in rows}
        starts = [s for _, s, _ in dated if s is not None]
        first = start if start in starts else min(starts, default=None)
        at_start = [row for row, s, _ in dated if s is not None and s == first]
        as_of = end or self.adapter.context.today
        in_force = [row for row, s, e in dated if s is not None and within(as_of, s, e)]
        if not in_force and starts:
            last = max(starts)
            in_force = [row for row, s, _ in dated if s == last]
        used: dict[int, set[str]] = {id(row): {"PERSON_ID", "REGISTRATION_ID"} for row in rows}
        for field, chosen in (("initial_category", at_start), ("latest_category", in_force)):
            found = {codes[id(r)] for r in chosen if codes[id(r)] is not None}
            if len(found) == 1:
                plan[field] = found.pop()
                for r in chosen:
                    used[id(r)].add("CIN_ABUSE_CATEGORY_CODE")
            elif found:
                plan[field] = "MUL"
        for row, s, e in dated:
            if s is not None and s == start:
                used[id(row)].add("CATEGORY_START_DATE")
            if e is not None and e == end:
                used[id(row)].add("CATEGORY_END_DATE")
            if codes[id(row)] is None:
                used[id(row)].add("CIN_ABUSE_CATEGORY_CODE")  # reported and kept already
            self.rest(row, "a category of the plan", frozenset(used[id(row)]))

    def looked_after(self) -> None:
        statuses = self.all_rows("DM_LEGAL_STATUSES")
        placements = self.all_rows("DM_PLACEMENTS")
        placed: set[int] = set()
        for period in self.all_rows("DM_PERIODS_OF_CARE"):
            ident = period.get("PERIOD_OF_CARE_ID")
            mine_s = [r for r in statuses if r.get("PERIOD_OF_CARE_ID") == ident]
            mine_p = [r for r in placements if r.get("PERIOD_OF_CARE_ID") == ident]
            placed.update(id(r) for r in (*mine_s, *mine_p))
            self.period(period, mine_s, mine_p)
        for row in (*statuses, *placements):
            if id(row) not in placed:
                self.warn(
                    "link-not-found",
                    f"PERIOD_OF_CARE_ID {row.get('PERIOD_OF_CARE_ID')!r} names no period of "
                    "care of this child.",
                    "Export the period in DM_PERIODS_OF_CARE, or correct the id.",
                    row,
                    "PERIOD_OF_CARE_ID",
                )
                self.rest(row, "in no period of care of this child", frozenset({"PERSON_ID"}))

    def period(self, period: Row, statuses: list[Row], placements: list[Row]) -> None:
        """Cut a period of care into episodes at each change of legal status or placement."""
        start, end = self.date(period, "START_DATE"), self.date(period, "END_DATE")
        spans = {
            id(r): (self.date(r, "START_DATE"), self.date(r, "END_DATE"))
            for r in (*statuses, *placements)
        }
        cuts = {s for s, _ in spans.values() if s is not None and within(s, start, end)}
        if start is not None:
            cuts.add(start)
        days = sorted(cuts)
        need = self.code(period, "CATEGORY_OF_NEED", "primary_need")
        episodes: list[dict[str, Any]] = []
        used: dict[int, set[str]] = {
            id(r): {"PERSON_ID", "PERIOD_OF_CARE_ID"} for r in (*statuses, *placements)
        }
        if not days:
            self.warn(
                "period-start-missing",
                "A period of care has no start date, so it cannot be cut into episodes; its "
                "values are kept unmapped.",
                "Give the period of care its START_DATE.",
                period,
                "START_DATE",
            )
            for row in (period, *statuses, *placements):
                self.rest(row, "a period of care without a start", frozenset({"PERSON_ID"}))
            return
        before: tuple[Row | None, Row | None] = (None, None)
        for n, day in enumerate(days):
            status = self.in_force(statuses, spans, day)
            placement = self.in_force(placements, spans, day)
            until = days[n + 1] if n + 1 < len(days) else end
            episode: dict[str, Any] = {
                "id": f"{period.get('PERIOD_OF_CARE_ID')}-{n + 1}",
                "start_date": day,
                "end_date": until,
                "reason_new_episode": self.reason(before, (status, placement), n),
                "category_of_need": need,
            }
            if status is not None:
                episode["legal_status"] = self.code(status, "LEGAL_STATUS", "legal_status")
                used[id(status)].update({"LEGAL_STATUS", "START_DATE"})
                if spans[id(status)][1] == until:
                    used[id(status)].add("END_DATE")
            if placement is not None:
                episode["placement"] = self.placement(placement, spans[id(placement)])
                used[id(placement)].update(READ["DM_PLACEMENTS"])
            before = (status, placement)
            episodes.append({k: v for k, v in episode.items() if v is not None})
        if episodes and (reason := period.get("REASON_FOR_LEAVING")) is not None:
            episodes[-1]["reason_episode_ceased"] = reason
        for row in (*statuses, *placements):
            self.rest(row, None, frozenset(used[id(row)]))
        self.episode_for(period, None, start)["looked_after_episodes"].extend(episodes)
        self.rest(period)

    def in_force(
        self, rows: list[Row], spans: dict[int, tuple[dt.date | None, dt.date | None]], day: dt.date
    ) -> Row | None:
        """The row in force that day (the latest to start, when one ends as the next begins)."""
        live = [r for r in rows if spans[id(r)][0] is not None and within(day, *spans[id(r)])]
        return max(live, key=lambda r: spans[id(r)][0] or day, default=None)

    @staticmethod
    def reason(
        before: tuple[Row | None, Row | None], now: tuple[Row | None, Row | None], n: int
    ) -> str | None:
        """SSDA903's reason for a new episode, from what changed."""
        if n == 0:
            return "S"
        legal, moved = before[0] is not now[0], before[1] is not now[1]
        same_carer = (
            moved
            and before[1] is not None
            and now[1] is not None
            and before[1].get("CARER_ID") is not None
            and before[1].get("CARER_ID") == now[1].get("CARER_ID")
        )
        if legal and moved:
            return "U" if same_carer else "B"
        if moved:
            return "T" if same_carer else "P"
        return "L" if legal else None

    def placement(self, row: Row, span: tuple[dt.date | None, dt.date | None]) -> dict[str, Any]:
        placement = {
            "id": row.get("PLACEMENT_ID"),
            "start_date": span[0],
            "end_date": span[1],
            "placement_type": row.get("PLACEMENT_TYPE"),
            "provider": row.get("CARER_NAME"),
            "postcode": row.get("POSTCODE"),
            "urn": row.get("OFSTED_URN"),
            "change_reason": row.get("REASON_FOR_CHANGE"),
        }
        return {k: v for k, v in placement.items() if v is not None}

    def allocation(self, row: Row) -> None:
        worker, kind = row.get("WORKER_ID"), row.get("ALLOCATION_TYPE")
        key = (kind or "").upper()
        role = self.codes["professional_role"].get(key)
        agency: str | None = None
        if key in self.codes["agency"] or role is None:
            # A type known as a role only says nothing about the agency; any other is reported.
            agency = self.code(row, "ALLOCATION_TYPE", "agency", WARNING)
        professional: dict[str, Any] = {
            "id": worker,
            "role": role,
            "agency": agency,
            "organisation": row.get("TEAM_NAME"),
            "start_date": self.date(row, "START_DATE"),
            "end_date": self.date(row, "END_DATE"),
            "is_lead": key in LEAD_ALLOCATIONS,
        }
        found = self.rows("DM_WORKERS", worker) if worker else []
        if found:
            self.worker(professional, found[0])
        elif worker is not None and "DM_WORKERS" in self.tables.present:
            self.warn(
                "worker-not-found",
                f"WORKER_ID {worker!r} is not in DM_WORKERS; the worker's name is unknown.",
                "Export the worker's DM_WORKERS row.",
                row,
                "WORKER_ID",
            )
        # The record needs a role: the source's own allocation type says what it is.
        professional["role"] = professional["role"] or kind or "Professional"
        self.rest(row)
        self.professionals.append({k: v for k, v in professional.items() if v is not None})

    def worker(self, professional: dict[str, Any], row: Row) -> None:
        name = " ".join(p for p in (row.get("FIRST_NAMES"), row.get("LAST_NAME")) if p)
        professional["name"] = name or None
        title, organisation = row.get("JOB_TITLE"), row.get("ORGANISATION")
        if professional["role"] is None:
            professional["role"] = title
        elif title is not None:
            self.keep(row, "JOB_TITLE", "the worker's job title")
        if professional["organisation"] is None:
            professional["organisation"] = organisation
        elif organisation is not None and organisation != professional["organisation"]:
            self.keep(row, "ORGANISATION", "the worker's organisation")
        self.rest(row)

    def case_note(self, row: Row) -> None:
        when = self.date(row, "EVENT_DATE")
        if when is None:
            self.warn(
                "case-note-date-missing",
                "A case note has no date, so it cannot join the chronology; it is kept unmapped.",
                "Give the case note its EVENT_DATE.",
                row,
                "EVENT_DATE",
            )
            # A date that could not be read is kept already, with its problem.
            self.rest(row, "a case note without a date", frozenset({"PERSON_ID", "EVENT_DATE"}))
            return
        category = self.code(row, "NOTE_TYPE", "chronology_category", WARNING) or "other"
        text = row.get("NOTE")
        title = row.get("TITLE") or (text or "").split("\n")[0][:200].strip()
        entry = {
            "date": when,
            "category": category,
            "summary": title or category.replace("_", " ").capitalize(),
            "details": text,
            "recorded_by": row.get("CREATED_BY"),
        }
        self.rest(row)
        self.chronology.append({k: v for k, v in entry.items() if v is not None})
