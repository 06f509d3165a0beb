"""Liquidlogic LCS (SQL Server star schema ``HDM.Child_Social``), one CSV per table, read into records.

**Input.** A folder holding one CSV per table or view, named after it (``DIM_PERSON.csv``, matched
case-insensitively), with the LCS column names in a header row, as SQL Server Management Studio or
``bcp`` dump them: dates as ``2015-03-02 00:00:00.000`` (ISO, ``dd/mm/yyyy`` and Oracle forms are
read too; more formats through the configuration), empty cells or ``NULL`` for nulls, UTF-8 (BOM
or not) or Windows-1252. ``DIM_PERSON`` is required (fatal ``table-missing``); every other table is
optional; CSV files of other tables are left alone. Reading is done by the shared
:mod:`exchange.adapters.tables` reader: each file once, row by row, into a scratch SQLite file keyed
by the person column; records are then built one child at a time and forgotten, so memory does not
grow with the number of children (it holds one map entry per merged duplicate person, one per
worker named by an involvement, and a cache of who each person is, bounded at 65,536 people).

**Who is a child.** Every ``DIM_PERSON`` row with ``IS_CLIENT`` = ``Y`` and no ``DUPLICATED_DTTM``
gives one record, in file order. Other people are the children's relatives: they travel as
``related_people`` of a child whose ``FACT_PERSON_RELATION`` rows name them (names, birth date,
sex, identifiers and their ``DIM_PERSON_ADDRESS`` rows). One ``people-not-children`` warning says
how many people and rows that leaves out of the records. ``DOB_ESTIMATED`` = ``Y`` means the
``BIRTH_DTTM`` is an expected date (an unborn child): ``expected_birth_date``, with an
``expected-birth-date-passed`` warning when that day has gone by.

**Merged duplicates.** LCS keeps a merged person's row with ``DUPLICATED_DTTM`` set. Such a person
is never a record. ``DUPLICATE_OF_PERSON_ID`` (an assumed column: the surviving ``DIM_PERSON_ID``;
rename the authority's own column to it in the configuration) names who they were merged into;
every value of every row about them is kept in the survivor's ``unmapped`` (reason
``merged duplicate person <id>``) with one ``person-merged`` warning. When the survivor is not a
child of the export, a result without a record (``merged-survivor-not-found``) lists the values.

**Confidential addresses.** An address is confidential when ``CONFIDENTIAL`` or
``IS_RESTRICTED_FLAG`` is ``Y`` (as the Data to Insight extract for LCS reads them), or when its
``ADDSS_TYPE_CODE`` is in ``confidential_address_types`` (default ``CONF``, ``CON``,
``CONFIDENTIAL``, ``RESTRICTED``, ``REFUGE``). People named by a do-not-disclose alert
(``FACT_WARNINGS``) go in each confidential address's ``not_to_be_disclosed_to``; a child with a
confidential address and no such alert gets one.

**Assumed views.** ``FACT_WARNINGS`` (alerts) and ``FACT_CASENOTES``' title and author columns,
the relationship flags ``PARENTAL_RESP_FLAG`` / ``LIVES_WITH_FLAG``, ``FACT_CP_CONFERENCE``'s
``ACTUAL_DTTM`` (the meeting date, from ``FACT_MEETINGS``) and ``FACT_CARE_EPISODES``'
``LEGAL_STATUS_CODE`` / ``PLACEMENT_TYPE_CODE`` (from ``FACT_LEGAL_STATUS`` and
``FACT_CLA_PLACEMENT``) are not in every LCS build: they are what an authority's dump is expected to
add, and ``renames`` maps other spellings onto them.

Columns read (``MAPPING`` below is the same table, used by the tests); any other non-empty cell of a
row that is carried is kept in ``unmapped`` with its file, row and column, and a column the adapter
does not know gets one ``columns-extra`` warning per file:

======================= ======================================================================
table                   columns -> canonical
======================= ======================================================================
DIM_PERSON              DIM_PERSON_ID la_child_id (issuer: the sending authority); LEGACY_ID
                        legacy; UPN upn; NHS_NUMBER nhs_number; FORENAME, SURNAME names;
                        GENDER_MAIN_CODE sex; ETHNICITY_MAIN_CODE ethnicity; BIRTH_DTTM
                        birth_date (expected_birth_date when DOB_ESTIMATED is Y); DEATH_DTTM
                        death_date; NATNL_CODE nationality; IS_CLIENT, DUPLICATED_DTTM,
                        DUPLICATE_OF_PERSON_ID select the children (see above)
DIM_PERSON_ADDRESS      DIM_PERSON_ADDRESS_ID id; ROOM_NO, FLOOR_NO, FLAT_NO, BUILDING, and
                        HOUSE_NO with STREET, lines; TOWN town; POSTCODE postcode; UPRN uprn;
                        START_DTTM, END_DTTM; CONFIDENTIAL, IS_RESTRICTED_FLAG, ADDSS_TYPE_CODE
                        confidential -> child.addresses (a relative's: their addresses)
FACT_PERSON_RELATION    DIM_RELATED_PERSON_ID id (their DIM_PERSON row: names, birth date, sex,
                        UPN, NHS_NUMBER, LEGACY_ID); DIM_LOOKUP_RELTN_TYPE_CODE relationship;
                        PARENTAL_RESP_FLAG parental_responsibility; LIVES_WITH_FLAG
                        lives_with_child; DIM_RELATED_PERSON_DOB birth_date -> related_people
FACT_REFERRALS          FACT_REFERRAL_ID id; REFRL_START_DTTM referral_date;
                        DIM_LOOKUP_CONT_SORC_ID referral_source;
                        DIM_LOOKUP_CATEGORY_OF_NEED_CODE primary_need; OUTCOME_NFA_FLAG
                        referral_no_further_action; REFRL_END_DTTM closure_date;
                        DIM_LOOKUP_REFRL_ENDRSN_ID_CODE closure_reason -> episodes
FACT_CP_CONFERENCE      FACT_CP_CONFERENCE_ID id; TRANSFER_IN_FLAG type (transfer_in, else
                        initial); ACTUAL_DTTM date; DUE_DTTM target_date; OUTCOME_CP_FLAG
                        led_to_cp_plan; FACT_REFERRAL_ID (its episode) -> episodes.conferences
FACT_CP_PLAN            FACT_CP_PLAN_ID id; START_DTTM, END_DTTM; INIT_CATEGORY_DESC
                        initial_category; CP_CATEGORY_DESC latest_category; IS_OLA
                        other_local_authority; FACT_REFERRAL_ID (its episode),
                        FACT_INITIAL_CP_CONFERENCE_ID (checked) -> episodes.cp_plans
FACT_CARE_EPISODES      FACT_CARE_EPISODES_ID id; CARE_START_DATE, CARE_END_DATE;
                        CARE_REASON_DESC reason_new_episode; CIN_903_CODE category_of_need;
                        CARE_REASON_END_DESC reason_episode_ceased; LEGAL_STATUS_CODE
                        legal_status; FACT_CLA_PLACEMENT_ID, PLACEMENT_TYPE_CODE placement;
                        FACT_REFERRAL_ID (its episode) -> episodes.looked_after_episodes
FACT_INVOLVEMENTS       DIM_WORKER_ID id (and DIM_WORKER: FORENAME, SURNAME name; JOB_TITLE role
                        when the type has none; DEPARTMENT_NAME organisation when the
                        involvement has none); DIM_LOOKUP_INVOLVEMENT_TYPE_CODE role and
                        agency; IS_ALLOCATED_CW_FLAG is_lead; START_DTTM, END_DTTM;
                        FACT_WORKER_HISTORY_DEPARTMENT_DESC organisation -> professionals
FACT_WARNINGS           FACT_WARNING_ID id; DIM_LOOKUP_WARNING_TYPE_CODE type; WARNING_DESC
                        summary; WARNING_DETAILS details; START_DTTM, END_DTTM;
                        DIM_RELATED_PERSON_ID not_to_be_disclosed_to (do-not-disclose alerts)
                        or related_person_ids -> alerts
FACT_CASENOTES          EVENT_DTTM date; DIM_LOOKUP_CASNT_TYPE_ID_CODE category; CASENOTE_TITLE
                        summary; CASENOTE_DESC details; CREATED_BY_NAME recorded_by
                        -> chronology
======================= ======================================================================

**Configuration** (``config=`` a YAML file or a dict; validated, with clear errors):
``source_authority`` (DfE or GSS code, when not given to the adapter); ``codes``: per code list
(``gender``, ``ethnicity``, ``referral_source``, ``primary_need``, ``closure_reason``,
``category``, ``relationship``, ``professional_role`` (free text), ``agency``, ``alert_type``,
``chronology_category``, ``reason_new_episode``, ``legal_status``) a map of the authority's value
to the canonical code, added to the defaults (``DEFAULT_CODES``: the DfE codes themselves, their
descriptions, LCS's ``M``/``F``/``U``/``I`` genders and common lookup codes);
``confidential_address_types``; ``date_formats`` (``strptime`` formats tried after the built-in
ones); ``renames`` (table -> {the export's column: the LCS column name}). A value no map knows is
reported (``code-unknown``, with file, row and column) and kept in ``unmapped``, never guessed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Collection, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.tables import NULLS, Row, TableSet, TableSpec
from exchange.adapters.values import Values, Where, parse_bool, parse_date
from exchange.adapters.vendor import StatusCache, alone, listing, within
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import (
    CATEGORY_OF_ABUSE_ALIASES,
    ETHNICITY_MEANINGS,
    PRIMARY_NEED_MEANINGS,
    SEX_ALIASES,
    AgencyType,
    AlertType,
    CategoryOfAbuse,
    ChronologyCategory,
    Ethnicity,
    LegalStatus,
    PrimaryNeed,
    ReasonForClosure,
    ReasonNewEpisode,
    ReferralSource,
    Relationship,
    Sex,
)
from exchange.canonical.model import SourceLocation

WARNING = Severity.WARNING
SYSTEM = "Liquidlogic LCS"
PERSON = "DIM_PERSON"

TABLES = (
    TableSpec(PERSON, "DIM_PERSON_ID", frozenset({"IS_CLIENT"}), required=True),
    TableSpec("DIM_PERSON_ADDRESS", "DIM_PERSON_ID"),
    TableSpec("FACT_PERSON_RELATION", "DIM_PERSON_ID", frozenset({"DIM_RELATED_PERSON_ID"})),
    TableSpec("FACT_REFERRALS", "DIM_PERSON_ID", frozenset({"FACT_REFERRAL_ID"})),
    TableSpec("FACT_CP_CONFERENCE", "DIM_PERSON_ID", frozenset({"FACT_CP_CONFERENCE_ID"})),
    TableSpec("FACT_CP_PLAN", "DIM_PERSON_ID", frozenset({"FACT_CP_PLAN_ID"})),
    TableSpec("FACT_CARE_EPISODES", "DIM_PERSON_ID", frozenset({"FACT_CARE_EPISODES_ID"})),
    TableSpec("FACT_INVOLVEMENTS", "DIM_PERSON_ID", frozenset({"DIM_WORKER_ID"})),
    # Keyed by the worker, so an involvement finds its worker with one indexed lookup.
    TableSpec("DIM_WORKER", "DIM_WORKER_ID"),
    TableSpec("FACT_WARNINGS", "DIM_PERSON_ID"),
    TableSpec("FACT_CASENOTES", "DIM_PERSON_ID", frozenset({"EVENT_DTTM"})),
)
PER_PERSON = tuple(s.name for s in TABLES if s.name not in (PERSON, "DIM_WORKER"))


def _address(field: str) -> str:
    return f"child.addresses[].{field}|related_people[].addresses[].{field}"


MAPPING: dict[str, dict[str, str]] = {
    # column -> where its value lands (``|`` between alternatives); "(...)" marks a column that
    # steers the reading and whose value is therefore expressed by the record's shape.
    PERSON: {
        "DIM_PERSON_ID": "child.identifiers[].value|related_people[].id",
        "LEGACY_ID": "child.identifiers[].value|related_people[].identifiers[].value",
        "UPN": "child.identifiers[].value|related_people[].identifiers[].value",
        "NHS_NUMBER": "child.identifiers[].value|related_people[].identifiers[].value",
        "FORENAME": "child.names[].given|related_people[].names[].given",
        "SURNAME": "child.names[].family|related_people[].names[].family",
        "GENDER_MAIN_CODE": "child.sex|related_people[].sex",
        "ETHNICITY_MAIN_CODE": "child.ethnicity",
        "BIRTH_DTTM": "child.birth_date|child.expected_birth_date|related_people[].birth_date",
        "DOB_ESTIMATED": "(birth_date or expected_birth_date)",
        "DEATH_DTTM": "child.death_date",
        "NATNL_CODE": "child.nationality",
        "IS_CLIENT": "(selects the children)",
        "DUPLICATED_DTTM": "(marks a merged duplicate)",
        "DUPLICATE_OF_PERSON_ID": "(names the surviving person)",
    },
    "DIM_PERSON_ADDRESS": {
        "DIM_PERSON_ID": "(the person)",
        "DIM_PERSON_ADDRESS_ID": _address("id"),
        "ROOM_NO": _address("lines[]~"),
        "FLOOR_NO": _address("lines[]~"),
        "FLAT_NO": _address("lines[]~"),
        "BUILDING": _address("lines[]~"),
        "HOUSE_NO": _address("lines[]~"),
        "STREET": _address("lines[]~"),
        "TOWN": _address("town"),
        "POSTCODE": _address("postcode"),
        "UPRN": _address("uprn"),
        "START_DTTM": _address("start_date"),
        "END_DTTM": _address("end_date"),
        "CONFIDENTIAL": _address("confidential"),
        "IS_RESTRICTED_FLAG": _address("confidential"),
        "ADDSS_TYPE_CODE": _address("confidential"),
    },
    "FACT_PERSON_RELATION": {
        "DIM_PERSON_ID": "(the child)",
        "DIM_RELATED_PERSON_ID": "related_people[].id",
        "DIM_LOOKUP_RELTN_TYPE_CODE": "related_people[].relationship",
        "PARENTAL_RESP_FLAG": "related_people[].parental_responsibility",
        "LIVES_WITH_FLAG": "related_people[].lives_with_child",
        "DIM_RELATED_PERSON_DOB": "related_people[].birth_date",
    },
    "FACT_REFERRALS": {
        "DIM_PERSON_ID": "(the child)",
        "FACT_REFERRAL_ID": "episodes[].id",
        "REFRL_START_DTTM": "episodes[].referral_date",
        "DIM_LOOKUP_CONT_SORC_ID": "episodes[].referral_source",
        "DIM_LOOKUP_CATEGORY_OF_NEED_CODE": "episodes[].primary_need",
        "OUTCOME_NFA_FLAG": "episodes[].referral_no_further_action",
        "REFRL_END_DTTM": "episodes[].closure_date",
        "DIM_LOOKUP_REFRL_ENDRSN_ID_CODE": "episodes[].closure_reason",
    },
    "FACT_CP_CONFERENCE": {
        "DIM_PERSON_ID": "(the child)",
        "FACT_CP_CONFERENCE_ID": "episodes[].conferences[].id",
        "FACT_REFERRAL_ID": "episodes[].id",
        "TRANSFER_IN_FLAG": "episodes[].conferences[].type",
        "ACTUAL_DTTM": "episodes[].conferences[].date",
        "DUE_DTTM": "episodes[].conferences[].target_date",
        "OUTCOME_CP_FLAG": "episodes[].conferences[].led_to_cp_plan",
    },
    "FACT_CP_PLAN": {
        "DIM_PERSON_ID": "(the child)",
        "FACT_CP_PLAN_ID": "episodes[].cp_plans[].id",
        "FACT_REFERRAL_ID": "episodes[].id",
        "FACT_INITIAL_CP_CONFERENCE_ID": "episodes[].conferences[].id",
        "START_DTTM": "episodes[].cp_plans[].start_date",
        "END_DTTM": "episodes[].cp_plans[].end_date",
        "INIT_CATEGORY_DESC": "episodes[].cp_plans[].initial_category",
        "CP_CATEGORY_DESC": "episodes[].cp_plans[].latest_category",
        "IS_OLA": "episodes[].cp_plans[].other_local_authority",
    },
    "FACT_CARE_EPISODES": {
        "DIM_PERSON_ID": "(the child)",
        "FACT_CARE_EPISODES_ID": "episodes[].looked_after_episodes[].id",
        "FACT_REFERRAL_ID": "episodes[].id",
        "CARE_START_DATE": "episodes[].looked_after_episodes[].start_date",
        "CARE_END_DATE": "episodes[].looked_after_episodes[].end_date",
        "CARE_REASON_DESC": "episodes[].looked_after_episodes[].reason_new_episode",
        "CIN_903_CODE": "episodes[].looked_after_episodes[].category_of_need",
        "CARE_REASON_END_DESC": "episodes[].looked_after_episodes[].reason_episode_ceased",
        "LEGAL_STATUS_CODE": "episodes[].looked_after_episodes[].legal_status",
        "FACT_CLA_PLACEMENT_ID": "episodes[].looked_after_episodes[].placement.id",
        "PLACEMENT_TYPE_CODE": "episodes[].looked_after_episodes[].placement.placement_type",
    },
    "FACT_INVOLVEMENTS": {
        "DIM_PERSON_ID": "(the child)",
        "DIM_WORKER_ID": "professionals[].id",
        "DIM_LOOKUP_INVOLVEMENT_TYPE_CODE": "professionals[].role|professionals[].agency",
        "IS_ALLOCATED_CW_FLAG": "professionals[].is_lead",
        "START_DTTM": "professionals[].start_date",
        "END_DTTM": "professionals[].end_date",
        "FACT_WORKER_HISTORY_DEPARTMENT_DESC": "professionals[].organisation",
    },
    "DIM_WORKER": {
        "DIM_WORKER_ID": "professionals[].id",
        "FORENAME": "professionals[].name~",
        "SURNAME": "professionals[].name~",
        "JOB_TITLE": "professionals[].role",
        "DEPARTMENT_NAME": "professionals[].organisation",
    },
    "FACT_WARNINGS": {
        "DIM_PERSON_ID": "(the child)",
        "FACT_WARNING_ID": "alerts[].id",
        "DIM_LOOKUP_WARNING_TYPE_CODE": "alerts[].type",
        "WARNING_DESC": "alerts[].summary",
        "WARNING_DETAILS": "alerts[].details",
        "START_DTTM": "alerts[].start_date",
        "END_DTTM": "alerts[].end_date",
        "DIM_RELATED_PERSON_ID": "alerts[].not_to_be_disclosed_to[]|alerts[].related_person_ids[]",
    },
    "FACT_CASENOTES": {
        "DIM_PERSON_ID": "(the child)",
        "EVENT_DTTM": "chronology[].date",
        "DIM_LOOKUP_CASNT_TYPE_ID_CODE": "chronology[].category",
        "CASENOTE_TITLE": "chronology[].summary",
        "CASENOTE_DESC": "chronology[].details",
        "CREATED_BY_NAME": "chronology[].recorded_by",
    },
}
KEPT: dict[str, frozenset[str]] = {
    # Known LCS columns the record has no place for: kept unmapped without a columns-extra warning.
    PERSON: frozenset(),
    "DIM_PERSON_ADDRESS": frozenset({"EASTING", "NORTHING"}),
    "FACT_PERSON_RELATION": frozenset({"FACT_PERSON_RELATION_ID", "START_DTTM", "END_DTTM"}),
    "FACT_REFERRALS": frozenset(
        {
            "OUTCOME_SINGLE_ASSESSMENT_FLAG",
            "OUTCOME_STRATEGY_DISCUSSION_FLAG",
            "OUTCOME_CP_TRANSFER_IN_FLAG",
            "OUTCOME_CP_CONFERENCE_FLAG",
            "OUTCOME_COMMENTS",
            "DIM_WORKER_ID_DESC",
            "DIM_DEPARTMENT_ID",
        }
    ),
    "FACT_CP_CONFERENCE": frozenset({"FACT_S47_ID", "FACT_MEETING_ID", "OUTCOME_NFA_FLAG"}),
    "FACT_CP_PLAN": frozenset(),
    "FACT_CARE_EPISODES": frozenset({"FACT_CLA_ID"}),
    "FACT_INVOLVEMENTS": frozenset({"FACT_INVOLVEMENTS_ID", "DIM_DEPARTMENT_ID"}),
    "DIM_WORKER": frozenset({"STAFF_ID", "WORKER_ID_CODE", "FULL_TIME_EQUIVALENCY"}),
    "FACT_WARNINGS": frozenset(),
    "FACT_CASENOTES": frozenset({"FACT_CASENOTE_ID"}),
}
READ = {table: frozenset(columns) for table, columns in MAPPING.items()}

# --- vendor-neutral parts, also used by the Mosaic adapter ---------------------------------
# (Code lists, configuration and row reading are the same for every vendor's table dump; they
# live here, with the first vendor adapter, until a shared vendor module exists.)


def _named(codes: type[StrEnum]) -> dict[str, str]:
    # The exchange's own snake_case names, accepted in any case as their own code.
    return {c.value.upper(): c.value for c in codes}


ALLOWED: dict[str, frozenset[str]] = {
    "gender": frozenset(Sex),
    "ethnicity": frozenset(Ethnicity),
    "referral_source": frozenset(ReferralSource),
    "primary_need": frozenset(PrimaryNeed),
    "closure_reason": frozenset(ReasonForClosure),
    "category": frozenset(CategoryOfAbuse),
    "relationship": frozenset(Relationship),
    "agency": frozenset(AgencyType),
    "alert_type": frozenset(AlertType),
    "chronology_category": frozenset(ChronologyCategory),
    "reason_new_episode": frozenset(ReasonNewEpisode),
    "legal_status": frozenset(LegalStatus),
}
FREE_TEXT = frozenset({"professional_role"})
"""Code lists whose canonical side is free text (a professional's role)."""
_NAMED_LISTS = frozenset({"relationship", "agency", "alert_type", "chronology_category"})

COMMON_CODES: dict[str, dict[str, str]] = {
    "gender": {"I": "U", **SEX_ALIASES},
    "ethnicity": {meaning.upper(): code.value for code, meaning in ETHNICITY_MEANINGS.items()},
    "referral_source": {
        "FAMILY": "1A",
        "ACQUAINTANCE": "1B",
        "SELF": "1C",
        "SCHOOL": "2A",
        "SCHOOLS": "2A",
        "EDUCATION": "2B",
        "GP": "3A",
        "HEALTH VISITOR": "3B",
        "SCHOOL NURSE": "3C",
        "A&E": "3E",
        "HEALTH": "3F",
        "HOUSING": "4",
        "SOCIAL CARE": "5A",
        "EARLY HELP": "5D",
        "POLICE": "6",
        "LEGAL AGENCY": "7",
        "OTHER": "8",
        "ANONYMOUS": "9",
        "UNKNOWN": "10",
    },
    "primary_need": {m.upper(): c.value for c, m in PRIMARY_NEED_MEANINGS.items()},
    "closure_reason": {},
    "category": {
        **CATEGORY_OF_ABUSE_ALIASES,
        "MULTIPLE/NOT RECOMMENDED": "MUL",
        "MULTIPLE CATEGORIES": "MUL",
    },
    "relationship": _named(Relationship),
    "professional_role": {},
    "agency": _named(AgencyType),
    "alert_type": _named(AlertType),
    "chronology_category": _named(ChronologyCategory),
    "reason_new_episode": {
        "STARTED TO BE LOOKED AFTER": "S",
        "CHANGE OF LEGAL STATUS ONLY": "L",
        "CHANGE OF PLACEMENT AND CARER": "P",
        "CHANGE OF PLACEMENT, SAME CARER": "T",
    },
    "legal_status": {},
}
"""Defaults every vendor shares: the DfE codes themselves (accepted as they are), their
descriptions, and the exchange's own names."""

DEFAULT_CONFIDENTIAL_TYPES = ("CONF", "CON", "CONFIDENTIAL", "RESTRICTED", "REFUGE")
ALERT_SUMMARIES = {
    "do_not_disclose_address": "Do not disclose the child's address.",
    "risk_to_child": "Risk to the child.",
    "risk_to_staff": "Risk to staff.",
    "risk_from_person": "Risk from a person.",
    "missing": "The child goes missing.",
    "exploitation": "Risk of exploitation.",
    "medical": "Medical alert.",
    "communication_need": "Communication need.",
    "court_order": "A court order is in force.",
    "other": "Alert.",
}


class ConfigInvalid(ValueError):
    """The adapter's configuration cannot be used; the message says what and where."""


def _canonical_code(names: str, value: str) -> str:
    text = value.strip()
    if names in FREE_TEXT:
        return text
    if names in _NAMED_LISTS:
        return text.lower().replace(" ", "_").replace("-", "_")
    return text.upper()


class VendorConfig(BaseModel):
    """An authority's configuration of a vendor adapter: code maps, date formats, renames."""

    model_config = ConfigDict(extra="forbid")

    source_authority: str | None = None
    codes: dict[str, dict[str, str]] = Field(default_factory=dict)
    confidential_address_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONFIDENTIAL_TYPES)
    )
    date_formats: list[str] = Field(default_factory=list)
    renames: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("codes")
    @classmethod
    def _known_codes(cls, codes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        wrong: list[str] = []
        for names, mapping in codes.items():
            if names not in ALLOWED and names not in FREE_TEXT:
                known = ", ".join(sorted([*ALLOWED, *FREE_TEXT]))
                wrong.append(f"{names!r} is not a code list (known: {known})")
                continue
            for source, target in mapping.items():
                code = _canonical_code(names, str(target))
                if names in ALLOWED and code not in ALLOWED[names]:
                    allowed = ", ".join(sorted(ALLOWED[names]))
                    wrong.append(f"{names}: {source!r} -> {target!r} is not one of {allowed}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return {
            names: {str(k).strip().upper(): _canonical_code(names, str(v)) for k, v in m.items()}
            for names, m in codes.items()
        }

    @field_validator("date_formats")
    @classmethod
    def _usable_formats(cls, formats: list[str]) -> list[str]:
        sample = dt.date(2001, 2, 3)
        for fmt in formats:
            try:
                back = dt.datetime.strptime(sample.strftime(fmt), fmt).date()
            except ValueError as exc:
                raise ValueError(f"{fmt!r} is not a strptime date format: {exc}") from exc
            if back != sample:
                raise ValueError(f"{fmt!r} does not give the day, month and year")
        return formats

    def code_maps(self, *defaults: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
        """Each code list's map: the defaults given, in order, then this configuration's."""
        maps: dict[str, dict[str, str]] = {n: {} for n in (*ALLOWED, *FREE_TEXT)}
        for layer in (*defaults, self.codes):
            for names, mapping in layer.items():
                maps[names].update(mapping)
        return maps


def load_config(
    config: Path | Mapping[str, Any] | None, *, adapter: str, tables: Collection[str]
) -> VendorConfig:
    """The configuration from a YAML file or a dict (defaults when None), checked."""
    where = "the configuration"
    if config is None:
        return VendorConfig()
    if isinstance(config, Path):
        where = str(config)
        try:
            loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigInvalid(f"{where} cannot be read as YAML: {exc}") from exc
        config = loaded if loaded is not None else {}
    if not isinstance(config, Mapping):
        raise ConfigInvalid(f"{where} must be a mapping of settings, not {type(config).__name__}.")
    try:
        checked = VendorConfig.model_validate(dict(config))
    except ValidationError as exc:
        said = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ConfigInvalid(f"{where} is not a valid {adapter} configuration: {said}") from exc
    known = {t.upper() for t in tables}
    unknown = sorted(t for t in checked.renames if t.upper() not in known)
    if unknown:
        raise ConfigInvalid(
            f"{where} is not a valid {adapter} configuration: renames: no table "
            f"{', '.join(unknown)} (the adapter reads {', '.join(sorted(tables))})"
        )
    return checked


def columns_extra(
    source: Source,
    tables: TableSet,
    known: Mapping[str, frozenset[str]],
    renames: Mapping[str, Mapping[str, str]],
) -> Iterator[Problem]:
    """One warning per file naming the columns the adapter does not know."""
    upper = {t.upper(): {k.upper(): v for k, v in m.items()} for t, m in renames.items()}
    for table, columns in known.items():
        if table.upper() not in tables.present:
            continue
        file = next(
            f
            for f in source.files
            if Path(f.name).stem.upper() == table.upper() and f.name.lower().endswith(".csv")
        )
        header: list[str] = []
        with file.open() as raw, contextlib.suppress(csv.Error):
            # The header only: column names are ASCII, so a stray byte is harmless here.
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
            header = next(csv.reader(text), [])
        named = [upper.get(table.upper(), {}).get(c.strip().upper(), c.strip()) for c in header]
        extra = [c for c in named if c and c.upper() not in columns]
        if extra:
            yield problem(
                "columns-extra",
                f"{file.name} has columns the adapter does not read: {', '.join(extra)}; "
                "their values are kept unmapped.",
                "Leave them out of the export, or map them onto the vendor's column names "
                "(renames in the configuration).",
                SourceLocation(file=file.name, row=1, column=extra[0]),
                severity=WARNING,
            )


@contextlib.contextmanager
def open_tables(
    source: Source, specs: tuple[TableSpec, ...], config: VendorConfig
) -> Iterator[TableSet]:
    """The export's tables, loaded into the scratch store; bytes no encoding reads are fatal."""
    tables = TableSet(source, specs, renames=config.renames)
    try:
        tables.__enter__()
    except UnicodeDecodeError as exc:
        tables.__exit__(None, None, None)
        raise fatal(
            "file-undecodable",
            f"A file of {source.name} is neither UTF-8 nor Windows-1252 text ({exc.reason}).",
            "Export the tables again as UTF-8 CSV.",
            SourceLocation(file=source.name),
        ) from exc
    except OSError as exc:
        tables.__exit__(None, None, None)
        raise fatal(
            "file-unreadable",
            f"{source.name} cannot be read: {exc}.",
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


class RowReader:
    """Reads the rows of one record through :class:`Values`; whatever it cannot place is kept."""

    def __init__(
        self,
        tables: TableSet,
        person: str,
        problems: list[Problem],
        *,
        codes: Mapping[str, Mapping[str, str]],
        date_formats: Collection[str],
        read: Mapping[str, frozenset[str]],
    ) -> None:
        self.tables = tables
        self.person = person
        self.v = Values(problems)
        self.codes = codes
        self.date_formats = date_formats
        self.read = {t.upper(): columns for t, columns in read.items()}

    @staticmethod
    def at(row: Row, column: str) -> Where:
        """Where a cell is, made only if needed (a header without a name still says where)."""
        return lambda: SourceLocation(
            file=row.file, row=row.number, column=row.column(column) or column or "(no name)"
        )

    def rows(self, table: str, person: str | None = None) -> list[Row]:
        """The rows of a table about the person (this record's, unless another is named)."""
        if table.upper() not in self.tables.present:
            return []
        return self.tables.rows_for(table, person or self.person)

    def date(self, row: Row, column: str) -> dt.date | None:
        """A date in any form exports use, or in one of the configured formats."""
        raw = row.get(column)
        if raw is None:
            return None
        if parse_date(raw) is None:
            for fmt in self.date_formats:
                with contextlib.suppress(ValueError):
                    return dt.datetime.strptime(raw, fmt).date()
        return self.v.date(raw, column, self.at(row, column))

    def flag(self, row: Row, column: str) -> bool | None:
        """A Y/N flag."""
        return self.v.boolean(row.get(column), column, self.at(row, column))

    def code(
        self, row: Row, column: str, names: str, severity: Severity = Severity.ERROR
    ) -> str | None:
        """A code through the configured map of the named code list."""
        return self.v.code(
            row.get(column),
            column,
            self.at(row, column),
            ALLOWED[names],
            self.codes[names],
            severity=severity,
        )

    def rest(self, row: Row, reason: str | None = None, read: frozenset[str] | None = None) -> None:
        """Keep every cell of the row the adapter did not read (and did not keep already)."""
        done = set(self.read.get(row.table.upper(), frozenset()) if read is None else read)
        for entry in self.v.unmapped:  # a value that could not be read is kept where it was read
            where = entry["location"]
            if where.get("file") == row.file and where.get("row") == row.number:
                done.add(str(where.get("column", "")).upper())
        for column, value in row.unread(done):
            self.kept(row, column, value, reason)

    def keep(self, row: Row, column: str, reason: str) -> None:
        """Keep one cell the adapter read but could not place."""
        if (value := row.get(column)) is not None:
            self.kept(row, column, value, reason)

    def kept(self, row: Row, column: str, value: str, reason: str | None) -> None:
        # What Values.keep writes, without building a location model per cell: records carry
        # thousands of kept cells, and their file, row and column are already known good.
        named = row.column(column) or column or "(no name)"
        where = {"file": row.file, "row": row.number, "column": named}
        entry: dict[str, Any] = {"field": named, "value": value, "location": where}
        if reason:
            entry["reason"] = reason
        self.v.unmapped.append(entry)

    def warn(self, code: str, message: str, fix: str, row: Row, column: str) -> None:
        """A warning about one cell."""
        self.v.report(code, message, fix, self.at(row, column), WARNING)

    def uprn(self, row: Row, column: str) -> str | None:
        """A UPRN (1-12 digits), or None with the value kept."""
        value = row.get(column)
        if value is None or (value.isdigit() and len(value) <= 12):
            return value
        self.warn("uprn-invalid", f"UPRN {value!r} is not 1-12 digits.",
                  "Correct the UPRN or leave it out.", row, column)  # fmt: skip
        self.kept(row, column, value, "not a UPRN")
        return None

    def confidential(self, row: Row, flags: tuple[str, ...], marked: bool) -> bool:
        """Any marker makes an address confidential; a flag that says N beside one is kept."""
        said = {column: self.flag(row, column) for column in flags}
        confidential = marked or any(said.values())
        for column, value in said.items():
            if confidential and value is False:
                self.keep(row, column, "overruled by another confidential marker")
        return confidential

    def protect_addresses(
        self, addresses: list[dict[str, Any]], alerts: list[dict[str, Any]]
    ) -> None:
        """Withhold confidential addresses from whoever a do-not-disclose alert names."""
        withheld: list[str] = []
        for alert in alerts:
            for other in alert.get("not_to_be_disclosed_to", []):
                if other not in withheld:
                    withheld.append(other)
        confidential = [a for a in addresses if a.get("confidential")]
        for address in confidential:
            address["not_to_be_disclosed_to"] = list(withheld)
        if confidential and not any(a["type"] == "do_not_disclose_address" for a in alerts):
            alerts.append(
                {
                    "type": "do_not_disclose_address",
                    "summary": "The child has a confidential address: do not disclose it.",
                }
            )


# --- Liquidlogic LCS code defaults ----------------------------------------------------------

DEFAULT_CODES: dict[str, dict[str, str]] = {
    "relationship": {
        "MOT": "mother",
        "FAT": "father",
        "STP": "step_parent",
        "ADP": "adoptive_parent",
        "PTR": "parent_partner",
        "SIB": "sibling",
        "BRO": "sibling",
        "SIS": "sibling",
        "HSB": "half_sibling",
        "SSB": "step_sibling",
        "GPA": "grandparent",
        "GMO": "grandparent",
        "GFA": "grandparent",
        "AUN": "aunt_uncle",
        "UNC": "aunt_uncle",
        "REL": "other_relative",
        "FOS": "foster_carer",
        "SGO": "special_guardian",
        "KIN": "kinship_carer",
        "FRD": "family_friend",
        "HHM": "household_member",
        "OTH": "other",
    },
    "professional_role": {
        "CW": "Allocated social worker",
        "16PLUS": "Personal adviser",
        "IRO": "Independent reviewing officer",
        "KAGP": "GP",
        "KAHV": "Health visitor",
        "KASCH": "School",
        "KAPOL": "Police",
    },
    "agency": {
        "CW": "social_care",
        "16PLUS": "social_care",
        "IRO": "social_care",
        "KAGP": "health",
        "KAHV": "health",
        "KASCH": "education",
        "KAPOL": "police",
    },
    "alert_type": {
        "DND": "do_not_disclose_address",
        "CONFADDR": "do_not_disclose_address",
        "RISKCH": "risk_to_child",
        "RISKST": "risk_to_staff",
        "VIOL": "risk_to_staff",
        "RISKPER": "risk_from_person",
        "MISS": "missing",
        "CSE": "exploitation",
        "CCE": "exploitation",
        "MED": "medical",
        "COMM": "communication_need",
        "COURT": "court_order",
        "OTH": "other",
    },
    "chronology_category": {
        "STVC": "visit",
        "STVL": "visit",
        "STRAT": "strategy_discussion",
        "ASMT": "assessment",
        "REF": "referral",
        "S47": "section_47",
        "ICPC": "conference",
        "RCPC": "conference",
        "IRO": "conference",
        "POL": "police",
        "HEA": "health",
        "EDU": "education",
        "CRT": "court",
        "PLAC": "placement",
        "CON": "other",
        "OTH": "other",
    },
}
"""LCS lookup codes, on top of :data:`COMMON_CODES`; the configuration adds the authority's own."""


# --- the adapter ----------------------------------------------------------------------------


class LiquidlogicAdapter(Adapter):
    """Liquidlogic LCS tables (HDM.Child_Social) -> canonical records."""

    name = "liquidlogic-lcs"
    title = "Liquidlogic LCS (HDM.Child_Social), one CSV per table or view"
    formats = ("csv",)
    versions = ("HDM.Child_Social",)

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
        """One result per child in DIM_PERSON (and one per row that belongs to nobody)."""
        with open_tables(source, TABLES, self.config) as tables:
            yield from _Export(self, source, tables).results()


class _Export:
    """One export being read: whole-export checks, then one record per child."""

    def __init__(self, adapter: LiquidlogicAdapter, source: Source, tables: TableSet) -> None:
        self.adapter = adapter
        self.source = source
        self.tables = tables
        self.merged_into: dict[str, str | None] = {}
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
        for result in self.children():
            if first:
                result.problems[:0] = notices
                first = False
            yield result
        yield from self.orphans()

    # -- whole-export checks ---------------------------------------------------------------

    def notices(self) -> list[Problem]:
        found: list[Problem] = []
        if self.adapter.source_authority is None:
            found.append(
                problem(
                    "source-authority-missing",
                    "An LCS export does not say which authority sent it; records say 'unknown'.",
                    "Give the sending authority's DfE or GSS code (source_authority).",
                    severity=WARNING,
                )
            )
        known = {t: READ[t] | KEPT[t] for t in READ}
        found.extend(columns_extra(self.source, self.tables, known, self.adapter.config.renames))
        found.extend(self.tables.problems)
        found.extend(self.find_merges())
        if not any(self.is_child(p) for p in self.tables.people(PERSON)):
            raise fatal(
                "no-children",
                "DIM_PERSON holds no child: no row has IS_CLIENT 'Y' without DUPLICATED_DTTM.",
                "Export DIM_PERSON with the children (IS_CLIENT = 'Y') to transfer.",
                SourceLocation(file=self.file_of(PERSON), row=1),
            )
        found.extend(self.others())
        found.extend(self.idle_workers())
        return found

    def file_of(self, table: str) -> str:
        return self.files.get(table.upper(), f"{table}.csv")

    def find_merges(self) -> list[Problem]:
        """Note each merged duplicate and its survivor (one entry each); report unclear flags."""
        found: list[Problem] = []
        for row in self.tables.rows(PERSON):
            person = row.get("DIM_PERSON_ID")
            if person is not None:
                # Read once here, so the checks that follow need not look each person up again
                # (a merged duplicate's status waits for the merges: "" until asked).
                is_client = parse_bool(row.get("IS_CLIENT") or "") is True
                kind = "" if row.get("DUPLICATED_DTTM") else "child" if is_client else "other"
                self.statuses.remember(person, kind)
            if row.get("DUPLICATED_DTTM") and person is not None:
                survivor = row.get("DUPLICATE_OF_PERSON_ID")
                if survivor is not None and survivor != person and self.is_child(survivor):
                    self.merged_into[person] = survivor
                    self.absorbs.setdefault(survivor, []).append(person)
                continue
            client = row.get("IS_CLIENT")
            if client is not None and parse_bool(client) is None:
                found.append(
                    problem(
                        "boolean-invalid",
                        f"IS_CLIENT {client!r} is not Y/N; the person is read as not a child.",
                        "Write Y for the children to transfer, N for everyone else.",
                        row.at("IS_CLIENT"),
                    )
                )
        return found

    def is_child(self, person: str) -> bool:
        """A person whose first DIM_PERSON row is a client and not a merged duplicate."""
        rows = self.tables.rows_for(PERSON, person)
        return (
            bool(rows)
            and not rows[0].get("DUPLICATED_DTTM")
            and parse_bool(rows[0].get("IS_CLIENT") or "") is True
        )

    def status(self, person: str) -> str:
        """child, merged (into a child), merged-alone, other (a relative) or missing."""
        return self.statuses.get(person)

    def _status(self, person: str) -> str:
        rows = self.tables.rows_for(PERSON, person)
        if not rows:
            return "missing"
        if rows[0].get("DUPLICATED_DTTM"):
            return "merged" if person in self.merged_into else "merged-alone"
        return "child" if parse_bool(rows[0].get("IS_CLIENT") or "") is True else "other"

    def others(self) -> Iterator[Problem]:
        people = sum(1 for p in self.tables.people(PERSON) if self.status(p) == "other")
        rows: dict[str, int] = {}
        for table in PER_PERSON:
            if table not in self.tables.present:
                continue
            file = self.file_of(table)
            for person in self.tables.people(table):
                kind = self.status(person)
                if kind == "missing":
                    self.missing.append((table, person))  # reported after the records
                elif kind == "other" and table != "DIM_PERSON_ADDRESS":
                    rows[file] = rows.get(file, 0) + len(self.tables.rows_for(table, person))
        if people or rows:
            said = "; ".join(f"{file}: {n}" for file, n in rows.items())
            yield problem(
                "people-not-children",
                f"{people} people in DIM_PERSON are not children (IS_CLIENT is not 'Y'): they "
                "travel only as related people of a child who names them (names, birth date, "
                "sex, identifiers, addresses); their other values are left out."
                + (f" Rows about them in other tables are not carried ({said})." if said else ""),
                "Nothing to do, unless one of them is a child to transfer: set IS_CLIENT to 'Y'.",
                SourceLocation(file=self.file_of(PERSON)),
                severity=WARNING,
            )

    def idle_workers(self) -> Iterator[Problem]:
        if "DIM_WORKER" not in self.tables.present:
            return
        for row in self.tables.rows("FACT_INVOLVEMENTS"):
            if (worker := row.get("DIM_WORKER_ID")) is not None:
                self.involved_workers.add(worker)
        idle = sum(1 for w in self.tables.people("DIM_WORKER") if w not in self.involved_workers)
        idle += sum(1 for _ in self.tables.rows_without_person("DIM_WORKER"))
        if idle:
            yield problem(
                "workers-not-involved",
                f"{idle} DIM_WORKER rows are named by no FACT_INVOLVEMENTS row; staff records "
                "that concern no child are not carried.",
                "Nothing to do, unless an involvement is missing from FACT_INVOLVEMENTS.",
                SourceLocation(file=self.file_of("DIM_WORKER")),
                severity=WARNING,
            )

    # -- records ---------------------------------------------------------------------------

    def children(self) -> Iterator[ReadResult]:
        for person in self.tables.people(PERSON):
            rows = self.tables.rows_for(PERSON, person)
            kind = self.status(person)
            if kind == "child":
                yield self.child(person, rows)
            elif kind == "merged-alone":
                yield self.lone_duplicate(person, rows[0])

    def child(self, person: str, rows: list[Row]) -> ReadResult:
        problems: list[Problem] = []
        location = SourceLocation(file=rows[0].file, row=rows[0].number)
        builder = _Child(self.adapter, self.tables, person, problems)
        data = builder.build(rows, self.absorbs.get(person, []))
        return self.adapter.finish(data, key=person, location=location, problems=problems)

    def lone_duplicate(self, person: str, row: Row) -> ReadResult:
        survivor = row.get("DUPLICATE_OF_PERSON_ID")
        said = "; ".join(
            f"{r.file} row {r.number}: {listing(r)}"
            for table in (PERSON, *PER_PERSON)
            if table in self.tables.present
            for r in self.tables.rows_for(table, person)
        )
        whom = (
            f"into {survivor!r}, who is not a child of this export"
            if survivor
            else "but DUPLICATE_OF_PERSON_ID does not name the surviving person"
        )
        return ReadResult(
            None,
            [
                problem(
                    "merged-survivor-not-found",
                    f"Person {person!r} was merged {whom}, so their values belong to no "
                    f"record: {said}.",
                    "Export the surviving person as a child (IS_CLIENT = 'Y'), or name them in "
                    "DUPLICATE_OF_PERSON_ID.",
                    row.at("DUPLICATED_DTTM"),
                )
            ],
            person,
            SourceLocation(file=row.file, row=row.number),
        )

    def orphans(self) -> Iterator[ReadResult]:
        for table, person in self.missing:
            for row in self.tables.rows_for(table, person):
                if person.upper() in NULLS:  # the shared reader keeps a NULL person id as text
                    yield alone(
                        row, "person-id-missing", "names no person", "Give it a DIM_PERSON_ID."
                    )
                    continue
                yield alone(
                    row,
                    "person-not-found",
                    f"names person {person!r}, who is not in DIM_PERSON",
                    "Export the person in DIM_PERSON, or leave their rows out.",
                )
        for table in PER_PERSON:
            if table not in self.tables.present:
                continue
            for row in self.tables.rows_without_person(table):
                yield alone(row, "person-id-missing", "names no person", "Give it a DIM_PERSON_ID.")


# --- one child ------------------------------------------------------------------------------


class _Child(RowReader):
    """Builds one child's record from the rows about them, keeping what it cannot place."""

    def __init__(
        self,
        adapter: LiquidlogicAdapter,
        tables: TableSet,
        person: str,
        problems: list[Problem],
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
        self.child: dict[str, Any] = {"identifiers": [], "names": [], "addresses": []}
        self.related: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.professionals: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []
        self.chronology: list[dict[str, Any]] = []
        self.conference_ids: set[str] = set()

    # -- the record ------------------------------------------------------------------------

    def build(self, rows: list[Row], duplicates: list[str]) -> dict[str, Any]:
        self.identity(rows[0])
        for again in rows[1:]:
            self.repeated_person(again, rows[0])
        for row in self.rows("DIM_PERSON_ADDRESS"):
            self.child["addresses"].append(self.address(row))
        for row in self.rows("FACT_PERSON_RELATION"):
            self.relation(row)
        for row in self.rows("FACT_WARNINGS"):
            self.alert(row)
        for row in self.rows("FACT_REFERRALS"):
            self.referral(row)
        for row in self.rows("FACT_CP_CONFERENCE"):
            self.conference(row)
        for row in self.rows("FACT_CP_PLAN"):
            self.plan(row)
        for row in self.rows("FACT_CARE_EPISODES"):
            self.care_episode(row)
        for row in self.rows("FACT_INVOLVEMENTS"):
            self.involvement(row)
        for row in self.rows("FACT_CASENOTES"):
            self.casenote(row)
        for duplicate in duplicates:
            self.merged(duplicate)
        self.protect_addresses(self.child["addresses"], self.alerts)
        return self.data()

    def data(self) -> dict[str, Any]:
        child = {k: v for k, v in self.child.items() if v not in (None, [])}
        self.chronology.sort(key=lambda e: e["date"])
        return {
            "provenance": {
                "source_authority": self.authority or "unknown",
                "source_system": SYSTEM,
            },
            "child": child,
            "alerts": self.alerts,
            "related_people": list(self.related.values()),
            "professionals": self.professionals,
            "episodes": [
                {k: v for k, v in e.items() if v not in (None, [])} for e in self.episodes
            ],
            "chronology": self.chronology,
            "unmapped": self.v.unmapped,
        }

    def identity(self, row: Row) -> None:
        child = self.child
        child["identifiers"].append(
            {"system": "la_child_id", "value": self.person, "issuer": self.authority}
        )
        for column, system in (
            ("LEGACY_ID", "legacy"),
            ("UPN", "upn"),
            ("NHS_NUMBER", "nhs_number"),
        ):
            if (value := row.get(column)) is not None:
                issuer = self.authority if system == "legacy" else None
                child["identifiers"].append({"system": system, "value": value, "issuer": issuer})
        if row.get("FORENAME") or row.get("SURNAME"):
            child["names"].append({"given": row.get("FORENAME"), "family": row.get("SURNAME")})
        child["sex"] = self.code(row, "GENDER_MAIN_CODE", "gender")
        child["ethnicity"] = self.code(row, "ETHNICITY_MAIN_CODE", "ethnicity")
        born = self.date(row, "BIRTH_DTTM")
        if self.flag(row, "DOB_ESTIMATED"):
            child["expected_birth_date"] = born
            if born is not None and born < self.adapter.context.today:
                self.warn(
                    "expected-birth-date-passed",
                    f"The child's expected birth date {born} has passed (DOB_ESTIMATED is Y).",
                    "Record the birth: set BIRTH_DTTM to the birth date and DOB_ESTIMATED to N.",
                    row,
                    "BIRTH_DTTM",
                )
        else:
            child["birth_date"] = born
        child["death_date"] = self.date(row, "DEATH_DTTM")
        child["nationality"] = row.get("NATNL_CODE")
        self.rest(row)

    def repeated_person(self, row: Row, first: Row) -> None:
        self.warn(
            "person-duplicate",
            f"DIM_PERSON_ID {self.person!r} is on rows {first.number} and {row.number}; the "
            "first is read and the second's differing values are kept unmapped.",
            "Export each person once.",
            row,
            "DIM_PERSON_ID",
        )
        for column, value in row.cells.items():
            # A mapped value said again adds nothing; anything else is kept where it is.
            if column.upper() not in READ[PERSON] or first.get(column) != value:
                self.kept(row, column, value, "a second row for the same person")

    def merged(self, duplicate: str) -> None:
        reason = f"merged duplicate person {duplicate}"
        for table in (PERSON, *PER_PERSON):
            for row in self.rows(table, duplicate):
                if table == PERSON:
                    self.warn(
                        "person-merged",
                        f"Person {duplicate!r} was merged into this child (DUPLICATED_DTTM "
                        f"{row.get('DUPLICATED_DTTM')}); their rows are kept unmapped.",
                        "Check nothing of the merged record is missing from the child's own.",
                        row,
                        "DUPLICATED_DTTM",
                    )
                self.rest(row, reason, frozenset())

    # -- addresses, family, alerts ---------------------------------------------------------

    def address(self, row: Row) -> dict[str, Any]:
        lines = [row.get(c) for c in ("ROOM_NO", "FLOOR_NO", "FLAT_NO", "BUILDING")]
        street = " ".join(p for p in (row.get("HOUSE_NO"), row.get("STREET")) if p)
        lines.append(street or None)
        kind = row.get("ADDSS_TYPE_CODE")
        marked = kind is not None and kind.upper() in self.adapter.confidential_types
        if kind is not None and not marked:
            self.keep(row, "ADDSS_TYPE_CODE", "address type")
        confidential = self.confidential(row, ("CONFIDENTIAL", "IS_RESTRICTED_FLAG"), marked)
        self.rest(row)
        address = {
            "id": row.get("DIM_PERSON_ADDRESS_ID"),
            "lines": [line for line in lines if line],
            "town": row.get("TOWN"),
            "postcode": row.get("POSTCODE"),
            "uprn": self.uprn(row, "UPRN"),
            "start_date": self.date(row, "START_DTTM"),
            "end_date": self.date(row, "END_DTTM"),
            "confidential": confidential,
        }
        return {k: v for k, v in address.items() if v not in (None, [])}

    def relation(self, row: Row) -> None:
        other = row.get("DIM_RELATED_PERSON_ID")
        if other is None or other == self.person:
            self.rest(row, "names no other person", frozenset({"DIM_PERSON_ID"}))
            return
        if other in self.related:
            self.rest(row, "the same related person again", frozenset({"DIM_PERSON_ID"}))
            return
        relationship = self.code(row, "DIM_LOOKUP_RELTN_TYPE_CODE", "relationship", WARNING)
        person: dict[str, Any] = {
            "id": other,
            # A relative must travel even when their relationship is not known: say "other".
            "relationship": relationship or "other",
            "parental_responsibility": self.flag(row, "PARENTAL_RESP_FLAG"),
            "lives_with_child": self.flag(row, "LIVES_WITH_FLAG"),
        }
        self.related[other] = person
        found = self.rows(PERSON, other)
        if found:
            self.relative(person, found[0])
        else:
            self.warn(
                "related-person-not-found",
                f"Related person {other!r} is not in DIM_PERSON; only the relationship travels.",
                "Export the related person's DIM_PERSON row.",
                row,
                "DIM_RELATED_PERSON_ID",
            )
        born = self.date(row, "DIM_RELATED_PERSON_DOB")
        if born is not None and person.get("birth_date") is None:
            person["birth_date"] = born
        elif born is not None and person["birth_date"] != born:
            self.keep(row, "DIM_RELATED_PERSON_DOB", "differs from the person's BIRTH_DTTM")
        for address in self.rows("DIM_PERSON_ADDRESS", other):
            person.setdefault("addresses", []).append(self.address(address))
        self.rest(row)
        for key in ("parental_responsibility", "lives_with_child"):
            if person[key] is None:
                del person[key]

    def relative(self, person: dict[str, Any], row: Row) -> None:
        """What a relative's own DIM_PERSON row says about them."""
        if row.get("FORENAME") or row.get("SURNAME"):
            person["names"] = [{"given": row.get("FORENAME"), "family": row.get("SURNAME")}]
        if (sex := self.code(row, "GENDER_MAIN_CODE", "gender", WARNING)) is not None:
            person["sex"] = sex
        born = self.date(row, "BIRTH_DTTM")
        if born is not None and parse_bool(row.get("DOB_ESTIMATED") or "") is not True:
            person["birth_date"] = born
        elif born is not None:
            self.keep(row, "BIRTH_DTTM", "a relative's expected birth date")
        for column, system in (
            ("UPN", "upn"),
            ("NHS_NUMBER", "nhs_number"),
            ("LEGACY_ID", "legacy"),
        ):
            if (value := row.get(column)) is not None:
                issuer = self.authority if system == "legacy" else None
                ident = {"system": system, "value": value, "issuer": issuer}
                person.setdefault("identifiers", []).append(
                    {k: v for k, v in ident.items() if v is not None}
                )

    def person_id(self, row: Row, column: str) -> str | None:
        """A person an alert names, added as a related person when no relationship names them."""
        other = row.get(column)
        if other is None or other in self.related:
            return other
        found = self.rows(PERSON, other)
        if not found:
            self.warn(
                "alert-person-not-found",
                f"The alert names person {other!r}, who is not in DIM_PERSON; it is kept "
                "unmapped so the restriction is not lost.",
                "Export the person's DIM_PERSON row and their relationship to the child.",
                row,
                column,
            )
            self.keep(row, column, "the person an alert concerns, not in DIM_PERSON")
            return None
        self.warn(
            "alert-person-not-related",
            f"The alert names person {other!r}, who has no relationship to the child; they are "
            "added as a related person ('other') so the alert can name them.",
            "Record the person's relationship to the child in FACT_PERSON_RELATION.",
            row,
            column,
        )
        person: dict[str, Any] = {"id": other, "relationship": "other"}
        self.relative(person, found[0])
        self.related[other] = person
        return other

    def alert(self, row: Row) -> None:
        kind = self.code(row, "DIM_LOOKUP_WARNING_TYPE_CODE", "alert_type", WARNING)
        # An alert is never dropped for an unknown type: it travels as "other", the code kept.
        kind = kind or "other"
        alert: dict[str, Any] = {
            "id": row.get("FACT_WARNING_ID"),
            "type": kind,
            "summary": row.get("WARNING_DESC") or ALERT_SUMMARIES[kind],
            "details": row.get("WARNING_DETAILS"),
            "start_date": self.date(row, "START_DTTM"),
            "end_date": self.date(row, "END_DTTM"),
        }
        other = self.person_id(row, "DIM_RELATED_PERSON_ID")
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
        self.episodes.append(
            {
                "id": row.get("FACT_REFERRAL_ID"),
                "referral_date": self.date(row, "REFRL_START_DTTM"),
                "referral_source": self.code(row, "DIM_LOOKUP_CONT_SORC_ID", "referral_source"),
                "primary_need": self.code(row, "DIM_LOOKUP_CATEGORY_OF_NEED_CODE", "primary_need"),
                "referral_no_further_action": self.flag(row, "OUTCOME_NFA_FLAG"),
                "closure_date": self.date(row, "REFRL_END_DTTM"),
                "closure_reason": self.code(
                    row, "DIM_LOOKUP_REFRL_ENDRSN_ID_CODE", "closure_reason"
                ),
                "conferences": [],
                "cp_plans": [],
                "looked_after_episodes": [],
            }
        )
        self.rest(row)

    def episode_for(self, row: Row, when: dt.date | None) -> dict[str, Any]:
        """The episode a row belongs to: by FACT_REFERRAL_ID, else the referral open that day."""
        referral = row.get("FACT_REFERRAL_ID")
        if referral is not None:
            for episode in self.episodes:
                if episode["id"] == referral:
                    return episode
            self.warn(
                "link-not-found",
                f"FACT_REFERRAL_ID {referral!r} names no referral of this child; the row is "
                "placed by its date.",
                "Export the referral in FACT_REFERRALS, or correct the id.",
                row,
                "FACT_REFERRAL_ID",
            )
            self.keep(row, "FACT_REFERRAL_ID", "names no referral of this child")
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
            "conferences": [],
            "cp_plans": [],
            "looked_after_episodes": [],
        }
        self.episodes.append(new)
        return new

    def conference(self, row: Row) -> None:
        when = self.date(row, "ACTUAL_DTTM")
        due = self.date(row, "DUE_DTTM")
        transfer = self.flag(row, "TRANSFER_IN_FLAG")
        ident = row.get("FACT_CP_CONFERENCE_ID")
        conference = {
            "id": ident,
            "type": "transfer_in" if transfer else "initial",
            "date": when,
            "target_date": due,
            "led_to_cp_plan": self.flag(row, "OUTCOME_CP_FLAG"),
        }
        self.episode_for(row, when or due)["conferences"].append(
            {k: v for k, v in conference.items() if v is not None}
        )
        if ident is not None:
            self.conference_ids.add(ident)
        self.rest(row)

    def plan(self, row: Row) -> None:
        start = self.date(row, "START_DTTM")
        plan = {
            "id": row.get("FACT_CP_PLAN_ID"),
            "start_date": start,
            "end_date": self.date(row, "END_DTTM"),
            "initial_category": self.code(row, "INIT_CATEGORY_DESC", "category"),
            "latest_category": self.code(row, "CP_CATEGORY_DESC", "category"),
            "other_local_authority": self.flag(row, "IS_OLA"),
        }
        conference = row.get("FACT_INITIAL_CP_CONFERENCE_ID")
        if conference is not None and conference not in self.conference_ids:
            self.warn(
                "link-not-found",
                f"FACT_INITIAL_CP_CONFERENCE_ID {conference!r} names no conference of this child.",
                "Export the conference in FACT_CP_CONFERENCE, or correct the id.",
                row,
                "FACT_INITIAL_CP_CONFERENCE_ID",
            )
            self.keep(row, "FACT_INITIAL_CP_CONFERENCE_ID", "names no conference of this child")
        self.episode_for(row, start)["cp_plans"].append(
            {k: v for k, v in plan.items() if v is not None}
        )
        self.rest(row)

    def care_episode(self, row: Row) -> None:
        start = self.date(row, "CARE_START_DATE")
        placement = {
            "id": row.get("FACT_CLA_PLACEMENT_ID"),
            "placement_type": row.get("PLACEMENT_TYPE_CODE"),
        }
        episode = {
            "id": row.get("FACT_CARE_EPISODES_ID"),
            "start_date": start,
            "end_date": self.date(row, "CARE_END_DATE"),
            "reason_new_episode": self.code(row, "CARE_REASON_DESC", "reason_new_episode"),
            "category_of_need": self.code(row, "CIN_903_CODE", "primary_need"),
            "legal_status": self.code(row, "LEGAL_STATUS_CODE", "legal_status"),
            "reason_episode_ceased": row.get("CARE_REASON_END_DESC"),
            "placement": {k: v for k, v in placement.items() if v is not None} or None,
        }
        self.episode_for(row, start)["looked_after_episodes"].append(
            {k: v for k, v in episode.items() if v is not None}
        )
        self.rest(row)

    def involvement(self, row: Row) -> None:
        worker = row.get("DIM_WORKER_ID")
        kind = row.get("DIM_LOOKUP_INVOLVEMENT_TYPE_CODE")
        key = (kind or "").upper()
        role = self.adapter.codes["professional_role"].get(key)
        agency: str | None = None
        if key in self.adapter.codes["agency"] or role is None:
            # A type known as a role only says nothing about the agency; any other is reported.
            agency = self.code(row, "DIM_LOOKUP_INVOLVEMENT_TYPE_CODE", "agency", WARNING)
        professional: dict[str, Any] = {
            "id": worker if worker not in (None, "-1") else None,
            "role": role,
            "agency": agency,
            "organisation": row.get("FACT_WORKER_HISTORY_DEPARTMENT_DESC"),
            "start_date": self.date(row, "START_DTTM"),
            "end_date": self.date(row, "END_DTTM"),
            "is_lead": bool(self.flag(row, "IS_ALLOCATED_CW_FLAG")),
        }
        found = self.rows("DIM_WORKER", worker) if professional["id"] else []
        if found:
            self.worker(professional, found[0])
        elif professional["id"] is not None and "DIM_WORKER" in self.tables.present:
            self.warn(
                "worker-not-found",
                f"DIM_WORKER_ID {worker!r} is not in DIM_WORKER; the worker's name is unknown.",
                "Export the worker's DIM_WORKER row.",
                row,
                "DIM_WORKER_ID",
            )
        if professional["role"] is None:
            # The record needs a role: the source's own type code says what it is.
            professional["role"] = kind or "Professional"
        self.rest(row)
        self.professionals.append({k: v for k, v in professional.items() if v is not None})

    def worker(self, professional: dict[str, Any], row: Row) -> None:
        name = " ".join(p for p in (row.get("FORENAME"), row.get("SURNAME")) if p)
        professional["name"] = name or None
        title, department = row.get("JOB_TITLE"), row.get("DEPARTMENT_NAME")
        if professional["role"] is None:
            professional["role"] = title
        elif title is not None:
            self.keep(row, "JOB_TITLE", "the worker's job title")
        if professional["organisation"] is None:
            professional["organisation"] = department
        elif department is not None and department != professional["organisation"]:
            self.keep(row, "DEPARTMENT_NAME", "the worker's department")
        self.rest(row)

    def casenote(self, row: Row) -> None:
        when = self.date(row, "EVENT_DTTM")
        text = row.get("CASENOTE_DESC")
        if when is None:
            self.warn(
                "case-note-date-missing",
                "A case note has no date, so it cannot join the chronology; it is kept unmapped.",
                "Give the case note its EVENT_DTTM.",
                row,
                "EVENT_DTTM",
            )
            # A date that could not be read is kept already, with its problem.
            self.rest(row, "a case note without a date", frozenset({"DIM_PERSON_ID", "EVENT_DTTM"}))
            return
        category = (
            self.code(row, "DIM_LOOKUP_CASNT_TYPE_ID_CODE", "chronology_category", WARNING)
            or "other"
        )
        title = row.get("CASENOTE_TITLE") or (text or "").split("\n")[0][:200].strip()
        entry = {
            "date": when,
            "category": category,
            "summary": title or category.replace("_", " ").capitalize(),
            "details": text,
            "recorded_by": row.get("CREATED_BY_NAME"),
        }
        self.rest(row)
        self.chronology.append({k: v for k, v in entry.items() if v is not None})
