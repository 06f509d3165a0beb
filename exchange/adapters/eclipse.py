"""Eclipse (OLM) views, one CSV per PostgreSQL view, read into canonical records.

**Input.** A folder with one CSV per view, named after it (``PERSONDEMOGRAPHICSVIEW.csv``, matched
case-insensitively), as an authority's database tool dumps them: a header row of the view's
column names, dates as PostgreSQL writes them (``2025-09-01``, ``2025-09-01 00:00:00``) or in
another common form (``01/09/2025``, ``01-SEP-25``), empty or ``NULL`` for nothing, UTF-8 or
Windows-1252. Only ``PERSONDEMOGRAPHICSVIEW`` is required (fatal ``table-missing``); the other
views are optional. Other files are left alone. Files are read through the shared
:class:`~exchange.adapters.tables.TableSet`: once, row by row, into a scratch SQLite file grouped
by person, so records are built one child at a time and memory does not grow with the export.
Relationships are stored once for two people (role A and role B), so the adapter also indexes
``RELATIONSHIPPERSONVIEW`` by its role A person in its own table of that scratch file.

**Who gets a record.** Every person of ``PERSONDEMOGRAPHICSVIEW`` with a case: a form answer, an
episode or period of care, an involved worker, or a classification configured as a child
protection plan, child in need plan or looked-after period. Everyone else appears only as a
related person of the children they are related to. A person recorded as a duplicate of another
(a relationship configured as a duplicate, default ``Duplicate``: role A is the duplicate, role B
the person it was merged into) gets no record: their rows are read into the surviving person's
record, their id becomes a ``legacy`` identifier, and values that differ from the survivor's are
kept unmapped. After the records come results without a record (warnings) for what belongs to no
case: rows naming a person not in ``PERSONDEMOGRAPHICSVIEW`` (``person-not-found``) or nobody
(``person-id-missing``), relationships between two people without a case
(``relationship-not-carried``), and people related to no case (``person-not-carried``); each
message lists the row's values, so nothing is dropped silently.

**Nothing lost.** Every non-empty cell read is either mapped (the tables below) or kept in
``unmapped`` with its file, row and column; answers to form questions are kept under the
question's ``CONTROLNAME``. A form's instance columns (``INSTANCEID``, ``DESIGNGUID``,
``DESIGNSUBNAME``, ``INSTANCESTATE``, ``DATECOMPLETED``, ``SUBMITTERPERSONID``) repeat on every
answer row: they are read from the instance's first row, and a later row's value counts as mapped
when it repeats the first (kept unmapped when it differs). Person id columns are the join keys.
Columns a view does not define are kept unmapped with one ``columns-extra`` warning per file.

**Quirks.** ``SEX`` is the sex (``Male``/``Female``); ``GENDER`` is the gender identity (``Man``,
``Woman``): a gender that agrees with the sex is the same fact and counts as mapped, one that
differs goes to ``child.gender``, and it gives the sex when ``SEX`` is empty. ``DUEDATE`` is the
expected date of an unborn child; once the child is born (``DATEOFBIRTH`` set) it is kept
unmapped. Form designs have a GUID per authority: the configuration names each form's GUID, its
kind and what each question (``CONTROLNAME``) means; forms not configured, questions not
configured and forms not complete (``INSTANCESTATE`` other than ``COMPLETE``) are kept unmapped.
Classifications are configured by path (``Child Protection/Neglect``): consecutive or overlapping
child protection classifications are one plan, its initial category the first, its latest the
last; several categories at once are ``MUL``. ``STATUS = DELETED`` rows are kept unmapped.
Referrals (forms of kind referral) make the episodes; assessments, enquiries, conferences, plans
and looked-after episodes join the episode whose referral is the latest on or before their
date (an episode without a referral holds those before any referral, with a warning).

========================== ===================================================================
view: column               canonical
========================== ===================================================================
PERSONDEMOGRAPHICSVIEW     PERSONID la_child_id (issuer: the sending authority); CAREFIRSTID
                           legacy; FORENAME, SURNAME names; SEX sex; GENDER (see above);
                           ETHNICITYCODE ethnicity; DATEOFBIRTH birth_date;
                           DATEOFBIRTHESTIMATED (Y/N, optional) birth_date_precision estimated;
                           DUEDATE expected_birth_date; DIEDDATE death_date; NHSNUMBER
                           nhs_number. For a related person: names, birth_date, sex, NHS number
REFERENCENUMBERPERSONVIEW  REFERENCETYPECODE (configured: UPN upn, NHS nhs_number, ...) and
                           REFERENCENUMBER -> identifiers; a UPN with an ENDDATE is a
                           former_upn; STARTDATE/ENDDATE otherwise kept
ADDRESSPERSONVIEW          ADDRESSID id; ROOMDESCRIPTION, FLOORDESCRIPTION,
(defined here)             BUILDINGNAMEORNUMBER + STREETNAME lines; TOWNORCITY town; POSTCODE;
                           UPRN; STARTDATE, ENDDATE; CONFIDENTIAL (Y/N) confidential (also when
                           TYPE says confidential/restricted/withheld); DONOTDISCLOSETO person
                           ids (separated by ; , or spaces) not_to_be_disclosed_to. A current
                           confidential address of the child also raises a
                           do_not_disclose_address alert
RELATIONSHIPPERSONVIEW     one row per relationship: ROLEAPERSONID is RELATIONSHIP of
                           ROLEBPERSONID (``Mother``: A is B's mother). The child as B: A is a
                           related person, RELATIONSHIP (configured) relationship,
                           PARENTALRESPONSIBILITY (A has it for the child)
                           parental_responsibility; the child as A: B is a related person,
                           RELATIONSHIP read with the reversed map; SAMEHOUSEHOLD
                           lives_with_child; STARTDATE, CLOSEDATE the person's notes;
                           PERSONRELATIONSHIPRECORDID kept
CLASSIFICATIONPERSONVIEW   CLASSIFICATIONASSIGNMENTID id, CLASSIFICATIONPATH (configured: cp_plan
                           with category, cin_plan, looked_after, disability, alert), STARTDATE,
                           ENDDATE -> cp_plans, cin_plans, chronology (looked after),
                           disabilities, alerts (a related person's alerts too); STATUS
                           (DELETED rows are kept unmapped); ENDREASON kept
FORMANSWERPERSONVIEW       ANSWERFORSUBJECTID; INSTANCEID the object's id; DESIGNGUID the form;
                           CONTROLNAME the question; ANSWERVALUE / DATEANSWERVALUE the answer;
                           DESIGNSUBNAME a conference's type; DATECOMPLETED as configured ->
                           episodes (referral), assessments, section47_enquiries, conferences
CLAEPISODEOFCAREVIEW       EPISODEOFCAREID id, EOCSTARTDATE, EOCENDDATE, EOCSTARTREASONCODE
                           reason_new_episode, EOCENDREASONCODE reason_episode_ceased,
                           LEGALSTATUS, CATEGORYOFNEED category_of_need, PLACEMENTTYPECODE,
                           PLACEMENTPROVIDERCODE, PLACEMENTPOSTCODE, PLACEMENTURN placement,
                           PERIODOFCAREID (its period) -> looked_after_episodes
CLAPERIODOFCAREVIEW        PERIODOFCAREID, ADMISSIONDATE, DISCHARGEDATE -> chronology
                           ('Started to be looked after', 'Ceased to be looked after')
RELATIONSHIPPROFESSIONALVIEW PROFESSIONALRELATIONSHIPPERSONID id, PROFESSIONALNAME name,
(worker involvements,      RELATIONSHIP role (and agency, configured), ORGANISATIONNAME
defined here)              organisation, PHONENUMBER, EMAILADDRESS contact, STARTDATE,
                           CLOSEDATE; ALLOCATEDWORKERCODE AW is_lead -> professionals
========================== ===================================================================

**Configuration** (``config=``: a YAML file or a dict, validated; every map is matched case-
insensitively and adds to or overrides the defaults; lists add to the defaults): ``date_formats``
(strptime formats tried before the built-in ones), ``renames`` (view -> {file's column: view's
column}), ``sex``, ``gender``, ``ethnicity``, ``reference_types``, ``relationships``,
``relationships_reversed``, ``duplicate_relationships``, ``classifications`` (path -> kind and
category/disability/alert), ``forms`` (GUID -> kind, questions, date_completed),
``complete_states``, ``deleted_states``, ``referral_sources``, ``primary_needs``,
``closure_reasons``, ``conference_types``, ``legal_statuses``, ``professional_agencies``,
``lead_worker_codes``. The defaults are listed in docs/adapters/eclipse.md; the default form GUIDs
and question names are those of the Data to Insight Eclipse extract, which an authority replaces
with its own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.tables import Row, TableSet, TableSpec
from exchange.adapters.values import Values, parse_date
from exchange.adapters.vendor import (
    Cells,
    ConfigModel,
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
    ETHNICITY_MEANINGS,
    LEGAL_STATUS_MEANINGS,
    PRIMARY_NEED_MEANINGS,
    SEX_ALIASES,
    AgencyType,
    AlertType,
    CategoryOfAbuse,
    ConferenceType,
    Disability,
    Ethnicity,
    IdentifierSystem,
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

PERSON = "PERSONDEMOGRAPHICSVIEW"
REFERENCE = "REFERENCENUMBERPERSONVIEW"
ADDRESS = "ADDRESSPERSONVIEW"
RELATIONSHIP = "RELATIONSHIPPERSONVIEW"
CLASSIFICATION = "CLASSIFICATIONPERSONVIEW"
FORM = "FORMANSWERPERSONVIEW"
EPISODE_OF_CARE = "CLAEPISODEOFCAREVIEW"
PERIOD_OF_CARE = "CLAPERIODOFCAREVIEW"
WORKER = "RELATIONSHIPPROFESSIONALVIEW"


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


COLUMNS: dict[str, tuple[str, ...]] = {
    PERSON: _columns(
        "PERSONID CAREFIRSTID FORENAME SURNAME SEX GENDER ETHNICITYCODE DATEOFBIRTH "
        "DATEOFBIRTHESTIMATED DUEDATE DIEDDATE NHSNUMBER"
    ),
    REFERENCE: _columns("PERSONID REFERENCETYPECODE REFERENCENUMBER STARTDATE ENDDATE"),
    ADDRESS: _columns(
        "ADDRESSID PERSONID TYPE STARTDATE ENDDATE ROOMDESCRIPTION FLOORDESCRIPTION "
        "BUILDINGNAMEORNUMBER STREETNAME TOWNORCITY POSTCODE UPRN CONFIDENTIAL DONOTDISCLOSETO"
    ),
    RELATIONSHIP: _columns(
        "PERSONRELATIONSHIPRECORDID ROLEAPERSONID ROLEBPERSONID RELATIONSHIP "
        "PARENTALRESPONSIBILITY SAMEHOUSEHOLD STARTDATE CLOSEDATE"
    ),
    CLASSIFICATION: _columns(
        "CLASSIFICATIONASSIGNMENTID PERSONID CLASSIFICATIONPATH STARTDATE ENDDATE ENDREASON STATUS"
    ),
    FORM: _columns(
        "ANSWERFORSUBJECTID INSTANCEID DESIGNGUID DESIGNSUBNAME INSTANCESTATE DATECOMPLETED "
        "SUBMITTERPERSONID CONTROLNAME ANSWERVALUE DATEANSWERVALUE"
    ),
    EPISODE_OF_CARE: _columns(
        "EPISODEOFCAREID PERSONID PERIODOFCAREID EOCSTARTDATE EOCSTARTREASONCODE EOCENDDATE "
        "EOCENDREASONCODE LEGALSTATUS CATEGORYOFNEED PLACEMENTTYPECODE PLACEMENTPROVIDERCODE "
        "PLACEMENTPOSTCODE PLACEMENTURN"
    ),
    PERIOD_OF_CARE: _columns("PERIODOFCAREID PERSONID ADMISSIONDATE DISCHARGEDATE"),
    WORKER: _columns(
        "PERSONID PROFESSIONALRELATIONSHIPPERSONID PROFESSIONALNAME RELATIONSHIP "
        "ALLOCATEDWORKERCODE ORGANISATIONNAME PHONENUMBER EMAILADDRESS STARTDATE CLOSEDATE"
    ),
}
"""The columns of each view the adapter knows (anything else is an extra column)."""

SPECS: tuple[TableSpec, ...] = (
    TableSpec(PERSON, "PERSONID", required=True),
    TableSpec(REFERENCE, "PERSONID", frozenset({"REFERENCETYPECODE", "REFERENCENUMBER"})),
    TableSpec(ADDRESS, "PERSONID"),
    TableSpec(RELATIONSHIP, "ROLEBPERSONID", frozenset({"ROLEAPERSONID", "RELATIONSHIP"})),
    TableSpec(CLASSIFICATION, "PERSONID", frozenset({"CLASSIFICATIONPATH"})),
    TableSpec(FORM, "ANSWERFORSUBJECTID", frozenset({"INSTANCEID", "DESIGNGUID", "CONTROLNAME"})),
    TableSpec(EPISODE_OF_CARE, "PERSONID", frozenset({"EOCSTARTDATE"})),
    TableSpec(PERIOD_OF_CARE, "PERSONID", frozenset({"ADMISSIONDATE"})),
    TableSpec(WORKER, "PERSONID"),
)
_PERSON_COLUMN = {s.name: s.person_column or "" for s in SPECS}
_CASE_VIEWS = (FORM, EPISODE_OF_CARE, PERIOD_OF_CARE, WORKER)
_CASE_KINDS = frozenset({"cp_plan", "cin_plan", "looked_after"})
_INSTANCE_COLUMNS = (
    "INSTANCEID",
    "DESIGNGUID",
    "DESIGNSUBNAME",
    "INSTANCESTATE",
    "DATECOMPLETED",
    "SUBMITTERPERSONID",
)

SEXES = frozenset(s.value for s in Sex)
ETHNICITIES = frozenset(e.value for e in Ethnicity)
SOURCES = frozenset(r.value for r in ReferralSource)
NEEDS = frozenset(n.value for n in PrimaryNeed)
CLOSURES = frozenset(r.value for r in ReasonForClosure)
LEGAL_STATUSES = frozenset(s.value for s in LegalStatus)
NEW_EPISODE_REASONS = frozenset(r.value for r in ReasonNewEpisode)
RELATIONSHIPS = frozenset(r.value for r in Relationship)
IDENTIFIER_SYSTEMS = frozenset(s.value for s in IdentifierSystem)
CONFERENCE_TYPES = frozenset(c.value for c in ConferenceType)

_TEXT = 2000
_LOCAL_ID = 100
_POSTCODE = 16
_NO_FIELD = "the canonical record has no place for it"
_NOT_READ = "column not in the Eclipse view"
_RELATED = "the canonical record has no place for it on a related person"
_UPRN = re.compile(r"^\d{1,12}$")
_SPLIT = re.compile(r"[\s,;|]+")
_HOUSE_NUMBER = re.compile(r"^\d+[A-Za-z]?$")
_CONFIDENTIAL_TYPE = re.compile(r"CONFIDENTIAL|RESTRICTED|WITHHELD|DO NOT DISCLOSE", re.IGNORECASE)
_ONE_DAY = dt.timedelta(days=1)

# --- configuration --------------------------------------------------------------------------

FormKind = Literal["referral", "assessment", "section47", "conference"]
FORM_MEANINGS: dict[str, frozenset[str]] = {
    "referral": frozenset(
        {
            "referral_date",
            "referral_source",
            "primary_need",
            "referral_nfa",
            "closure_date",
            "closure_reason",
        }
    ),
    "assessment": frozenset({"start_date", "authorisation_date", "factors"}),
    "section47": frozenset(
        {
            "start_date",
            "end_date",
            "initial_conference_target_date",
            "initial_conference_date",
            "initial_conference_not_required",
        }
    ),
    "conference": frozenset({"date", "target_date", "conference_type", "led_to_cp_plan"}),
}
"""What a question of each kind of form may mean."""

_DATE_MEANINGS = frozenset(
    {
        "referral_date",
        "closure_date",
        "start_date",
        "end_date",
        "authorisation_date",
        "initial_conference_target_date",
        "initial_conference_date",
        "date",
        "target_date",
    }
)
_FLAG_MEANINGS = frozenset({"referral_nfa", "initial_conference_not_required", "led_to_cp_plan"})
_FIELD_OF_MEANING = {
    "referral_nfa": "referral_no_further_action",
    "conference_type": "type",
}


class FormConfig(ConfigModel):
    """One form design: its kind and what each question (CONTROLNAME) means."""

    name: str | None = None
    kind: FormKind
    questions: dict[str, str] = Field(default_factory=dict)
    date_completed: str | None = Field(
        default=None, description="What the instance's DATECOMPLETED means, if anything."
    )

    @model_validator(mode="after")
    def _meanings_fit_the_kind(self) -> FormConfig:
        allowed = FORM_MEANINGS[self.kind]
        said = [*self.questions.values(), *([self.date_completed] if self.date_completed else [])]
        wrong = sorted({m for m in said if m not in allowed})
        if wrong:
            raise ValueError(
                f"a {self.kind} form has no meaning {', '.join(wrong)}; "
                f"use {', '.join(sorted(allowed))}"
            )
        return self


class ClassificationConfig(ConfigModel):
    """What a classification path means."""

    kind: Literal["cp_plan", "cin_plan", "looked_after", "disability", "alert"]
    category: CategoryOfAbuse | None = None
    disability: Disability | None = None
    alert: AlertType | None = None

    @model_validator(mode="after")
    def _detail_given(self) -> ClassificationConfig:
        needed = {"cp_plan": "category", "disability": "disability", "alert": "alert"}
        key = needed.get(self.kind)
        if key is not None and getattr(self, key) is None:
            raise ValueError(f"a {self.kind} classification needs its {key}")
        return self


class EclipseConfig(VendorConfig):
    """An authority's Eclipse configuration; everything is optional and adds to the defaults."""

    sex: dict[str, Sex] = Field(default_factory=dict)
    gender: dict[str, Sex] = Field(default_factory=dict)
    ethnicity: dict[str, Ethnicity] = Field(default_factory=dict)
    reference_types: dict[str, IdentifierSystem] = Field(default_factory=dict)
    relationships: dict[str, Relationship] = Field(default_factory=dict)
    relationships_reversed: dict[str, Relationship] = Field(default_factory=dict)
    duplicate_relationships: list[str] = Field(default_factory=list)
    classifications: dict[str, ClassificationConfig] = Field(default_factory=dict)
    forms: dict[str, FormConfig] = Field(default_factory=dict)
    complete_states: list[str] = Field(default_factory=list)
    deleted_states: list[str] = Field(default_factory=list)
    referral_sources: dict[str, ReferralSource] = Field(default_factory=dict)
    primary_needs: dict[str, PrimaryNeed] = Field(default_factory=dict)
    closure_reasons: dict[str, ReasonForClosure] = Field(default_factory=dict)
    conference_types: dict[str, ConferenceType] = Field(default_factory=dict)
    legal_statuses: dict[str, LegalStatus] = Field(default_factory=dict)
    professional_agencies: dict[str, AgencyType] = Field(default_factory=dict)
    lead_worker_codes: list[str] = Field(default_factory=list)


DEFAULT_SEX = {**SEX_ALIASES, "NOT KNOWN": "U", "NOT SPECIFIED": "U"}
DEFAULT_GENDER = {
    "MAN": "M",
    "MALE": "M",
    "BOY": "M",
    "WOMAN": "F",
    "FEMALE": "F",
    "GIRL": "F",
}
"""GENDER values that say no more than the sex they name."""

DEFAULT_ETHNICITY = {
    **{meaning.upper(): code.value for code, meaning in ETHNICITY_MEANINGS.items()},
    "WHITE_BRITISH": "WBRI",
    "WHITE_ENGLISH": "WBRI",
    "WHITE_SCOTTISH": "WBRI",
    "WHITE_WELSH": "WBRI",
    "WHITE_NORTHERNIRISH": "WBRI",
    "WHITE_IRISH": "WIRI",
    "IRISHTRAVELLER": "WIRT",
    "GYPSY": "WROM",
    "ROMA": "WROM",
    "OTHER_WHITE_ORIGIN": "WOTH",
    "WHITE_POLISH": "WOTH",
    "WHITE_AND_BLACK_CARIBBEAN": "MWBC",
    "WHITE_AND_BLACK_AFRICAN": "MWBA",
    "WHITE_AND_ASIAN": "MWAS",
    "OTHER_MIXED": "MOTH",
    "INDIAN": "AIND",
    "PAKISTANI": "APKN",
    "BANGLADESHI": "ABAN",
    "OTHER_ASIAN": "AOTH",
    "CARIBBEAN": "BCRB",
    "BLACK_CARIBBEAN": "BCRB",
    "AFRICAN": "BAFR",
    "BLACK_AFRICAN": "BAFR",
    "OTHER_BLACK": "BOTH",
    "CHINESE": "CHNE",
    "OTHER_ETHNIC": "OOTH",
    "REFUSED": "REFU",
    "NOT_KNOWN": "NOBT",
}
"""Eclipse ETHNICITYCODE values (as the Data to Insight extract maps them) and DfE wording."""

DEFAULT_REFERENCE_TYPES = {
    "UPN": "upn",
    "FORMERUPN": "former_upn",
    "FORMER_UPN": "former_upn",
    "NHS": "nhs_number",
    "NHSNUMBER": "nhs_number",
    "CAREFIRST": "legacy",
    "CAREFIRSTID": "legacy",
    "LEGACY": "legacy",
}

DEFAULT_RELATIONSHIPS = {
    "MOTHER": "mother",
    "BIRTH MOTHER": "mother",
    "FATHER": "father",
    "BIRTH FATHER": "father",
    "STEP-MOTHER": "step_parent",
    "STEPMOTHER": "step_parent",
    "STEP-FATHER": "step_parent",
    "STEPFATHER": "step_parent",
    "STEP-PARENT": "step_parent",
    "ADOPTIVE MOTHER": "adoptive_parent",
    "ADOPTIVE FATHER": "adoptive_parent",
    "ADOPTIVE PARENT": "adoptive_parent",
    "MOTHER'S PARTNER": "parent_partner",
    "FATHER'S PARTNER": "parent_partner",
    "PARTNER OF PARENT": "parent_partner",
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
    "FOSTER CARER": "foster_carer",
    "SPECIAL GUARDIAN": "special_guardian",
    "KINSHIP CARER": "kinship_carer",
    "FAMILY FRIEND": "family_friend",
    "HOUSEHOLD MEMBER": "household_member",
}
"""RELATIONSHIP: what role A is to the child when the child is role B."""

DEFAULT_RELATIONSHIPS_REVERSED = {
    "SIBLING": "sibling",
    "BROTHER": "sibling",
    "SISTER": "sibling",
    "HALF-SIBLING": "half_sibling",
    "HALF-BROTHER": "half_sibling",
    "HALF-SISTER": "half_sibling",
    "STEP-SIBLING": "step_sibling",
    "STEP-BROTHER": "step_sibling",
    "STEP-SISTER": "step_sibling",
    "GRANDMOTHER": "other_relative",
    "GRANDFATHER": "other_relative",
    "GRANDPARENT": "other_relative",
    "AUNT": "other_relative",
    "UNCLE": "other_relative",
    "COUSIN": "other_relative",
    "FAMILY FRIEND": "family_friend",
    "HOUSEHOLD MEMBER": "household_member",
}
"""RELATIONSHIP read from the other side: what role B is to the child when the child is role A
(a grandparent's grandchild is an other relative; the child's own child has no code and is kept
unmapped with the relationship ``other``)."""

DEFAULT_DUPLICATES = ("DUPLICATE", "DUPLICATE RECORD")

DEFAULT_CLASSIFICATIONS: dict[str, dict[str, str]] = {
    "Child Protection/Neglect": {"kind": "cp_plan", "category": "NEG"},
    "Child Protection/Physical Abuse": {"kind": "cp_plan", "category": "PHY"},
    "Child Protection/Sexual Abuse": {"kind": "cp_plan", "category": "SAB"},
    "Child Protection/Emotional Abuse": {"kind": "cp_plan", "category": "EMO"},
    "Child Protection/Multiple": {"kind": "cp_plan", "category": "MUL"},
    "Child in Need/Child in Need Plan": {"kind": "cin_plan"},
    "Child in Need/CIN Plan": {"kind": "cin_plan"},
    "Looked After/Looked After Child": {"kind": "looked_after"},
    "Disability/Autism": {"kind": "disability", "disability": "AUT"},
    "Disability/Learning": {"kind": "disability", "disability": "LD"},
    "Disability/Hearing": {"kind": "disability", "disability": "HEAR"},
    "Disability/Vision": {"kind": "disability", "disability": "VIS"},
    "Disability/Mobility": {"kind": "disability", "disability": "MOB"},
    "Warnings/Risk to Staff": {"kind": "alert", "alert": "risk_to_staff"},
    "Warnings/Risk to Children": {"kind": "alert", "alert": "risk_from_person"},
    "Warnings/Do Not Disclose Address": {"kind": "alert", "alert": "do_not_disclose_address"},
}

DEFAULT_FORMS: dict[str, dict[str, Any]] = {
    "e6d9de9a-b56c-49d0-ab87-0f913ca8fc5f": {
        "name": "Child: Referral",
        "kind": "referral",
        "questions": {
            "CINCensus_DateOfReferral": "referral_date",
            "CINCensus_ReferralSource": "referral_source",
            "CINCensus_primaryNeedCategory": "primary_need",
            "CINCensus_referralNFA": "referral_nfa",
            "CINCensus_dateOfClosure": "closure_date",
            "CINCensus_reasonForClosure": "closure_reason",
        },
    },
    "94b3f530-a918-4f33-85c2-0ae355c9c2fd": {
        "name": "Child: Assessment",
        "kind": "assessment",
        "questions": {
            "CINCensus_startDateOfForm": "start_date",
            "CINCensus_factorsIdentified": "factors",
        },
        "date_completed": "authorisation_date",
    },
    "fdca0a95-8578-43ca-97ff-ad3a8adf57de": {
        "name": "Child: Strategy discussion and Section 47 enquiry",
        "kind": "section47",
        "questions": {
            "CINCensus_dateOfStratMeeting": "start_date",
            "CINCensus_initialConferenceTargetDate": "initial_conference_target_date",
            "CINCensus_icpcNotRequired": "initial_conference_not_required",
        },
        "date_completed": "end_date",
    },
    "21e01e2e-fd65-439d-a8aa-a179106a3d45": {
        "name": "Child: Record of meeting(s) and plan",
        "kind": "conference",
        "questions": {
            "903Return_dateOfMeetingConference": "date",
            "CINCensus_conferenceOutcomeCPPlan": "led_to_cp_plan",
        },
    },
}

DEFAULT_SOURCES = {
    "FAMILY MEMBER": "1A",
    "ACQUAINTANCE": "1B",
    "SELF": "1C",
    "OTHER INDIVIDUAL": "1D",
    "SCHOOLS": "2A",
    "SCHOOL": "2A",
    "EDUCATION SERVICES": "2B",
    "GP": "3A",
    "HEALTH VISITOR": "3B",
    "SCHOOL NURSE": "3C",
    "OTHER PRIMARY HEALTH SERVICES": "3D",
    "A&E": "3E",
    "OTHER HEALTH SERVICES": "3F",
    "HOUSING": "4",
    "LA SERVICES - SOCIAL CARE": "5A",
    "LA SERVICES - OTHER INTERNAL": "5B",
    "LA SERVICES - EXTERNAL": "5C",
    "LA SERVICES - EARLY HELP": "5D",
    "POLICE": "6",
    "OTHER LEGAL AGENCY": "7",
    "OTHER": "8",
    "ANONYMOUS": "9",
    "UNKNOWN": "10",
}
DEFAULT_NEEDS = {
    **{meaning.upper(): code.value for code, meaning in PRIMARY_NEED_MEANINGS.items()},
    "PARENTAL ILLNESS/DISABILITY": "N3",
    "CASES OTHER THAN CHILD IN NEED": "N9",
}
DEFAULT_CLOSURES = {
    "ADOPTED": "RC1",
    "DIED": "RC2",
    "CHILD ARRANGEMENTS ORDER": "RC3",
    "SPECIAL GUARDIANSHIP ORDER": "RC4",
    "TRANSFERRED TO ANOTHER LOCAL AUTHORITY": "RC5",
    "TRANSFERRED TO ADULT SOCIAL CARE": "RC6",
    "SERVICES CEASED FOR ANY OTHER REASON": "RC7",
    "CLOSED AFTER ASSESSMENT, NO FURTHER ACTION": "RC8",
    "CLOSED AFTER ASSESSMENT, REFERRED TO EARLY HELP": "RC9",
}
DEFAULT_CONFERENCE_TYPES = {
    "INITIAL": "initial",
    "ICPC": "initial",
    "CHILD PROTECTION - INITIAL CONFERENCE": "initial",
    "REVIEW": "review",
    "RCPC": "review",
    "CHILD PROTECTION - REVIEW CONFERENCE": "review",
    "TRANSFER IN": "transfer_in",
    "TRANSFER-IN": "transfer_in",
    "CHILD PROTECTION - TRANSFER IN CONFERENCE": "transfer_in",
}
DEFAULT_LEGAL_STATUSES = {
    meaning.upper(): code.value for code, meaning in LEGAL_STATUS_MEANINGS.items()
}
DEFAULT_AGENCIES = {
    "SOCIAL WORKER": "social_care",
    "ALLOCATED SOCIAL WORKER": "social_care",
    "TEAM MANAGER": "social_care",
    "CHILD PROTECTION CHAIR": "social_care",
    "INDEPENDENT REVIEWING OFFICER": "social_care",
    "PERSONAL ADVISER": "social_care",
    "FAMILY SUPPORT WORKER": "social_care",
    "HEALTH VISITOR": "health",
    "SCHOOL NURSE": "health",
    "GP": "health",
    "DESIGNATED TEACHER": "education",
    "POLICE OFFICER": "police",
    "YOUTH OFFENDING WORKER": "youth_justice",
}
DEFAULT_LEAD_CODES = ("AW",)
DEFAULT_COMPLETE_STATES = ("COMPLETE",)
DEFAULT_DELETED_STATES = ("DELETED",)


def _path_key(path: str) -> str:
    """A classification path compared without case or spaces around the slashes."""
    return "/".join(part.strip() for part in path.split("/")).upper()


@dataclass(frozen=True, slots=True)
class _Settings:
    """The defaults with an authority's configuration laid over them, keyed for lookup."""

    formats: tuple[str, ...]
    renames: dict[str, dict[str, str]]
    sex: dict[str, str]
    gender: dict[str, str]
    ethnicity: dict[str, str]
    reference_types: dict[str, str]
    relationships: dict[str, str]
    relationships_reversed: dict[str, str]
    duplicates: frozenset[str]
    classifications: dict[str, ClassificationConfig]
    forms: dict[str, FormConfig]
    complete_states: frozenset[str]
    deleted_states: frozenset[str]
    referral_sources: dict[str, str]
    primary_needs: dict[str, str]
    closure_reasons: dict[str, str]
    conference_types: dict[str, str]
    legal_statuses: dict[str, str]
    agencies: dict[str, str]
    lead_codes: frozenset[str]


def settings_of(config: EclipseConfig) -> _Settings:
    """The configuration laid over the defaults."""
    classifications = {
        _path_key(p): ClassificationConfig.model_validate(c)
        for p, c in DEFAULT_CLASSIFICATIONS.items()
    }
    classifications.update({_path_key(p): c for p, c in config.classifications.items()})
    forms = {g.strip().lower(): FormConfig.model_validate(f) for g, f in DEFAULT_FORMS.items()}
    forms.update({g.strip().lower(): f for g, f in config.forms.items()})
    return _Settings(
        formats=tuple(config.date_formats),
        renames=config.renames,
        sex=code_map(DEFAULT_SEX, config.sex),
        gender=code_map(DEFAULT_GENDER, config.gender),
        ethnicity=code_map(DEFAULT_ETHNICITY, config.ethnicity),
        reference_types=code_map(DEFAULT_REFERENCE_TYPES, config.reference_types),
        relationships=code_map(DEFAULT_RELATIONSHIPS, config.relationships),
        relationships_reversed=code_map(
            DEFAULT_RELATIONSHIPS_REVERSED, config.relationships_reversed
        ),
        duplicates=words(DEFAULT_DUPLICATES, config.duplicate_relationships),
        classifications=classifications,
        forms=forms,
        complete_states=words(DEFAULT_COMPLETE_STATES, config.complete_states),
        deleted_states=words(DEFAULT_DELETED_STATES, config.deleted_states),
        referral_sources=code_map(DEFAULT_SOURCES, config.referral_sources),
        primary_needs=code_map(DEFAULT_NEEDS, config.primary_needs),
        closure_reasons=code_map(DEFAULT_CLOSURES, config.closure_reasons),
        conference_types=code_map(DEFAULT_CONFERENCE_TYPES, config.conference_types),
        legal_statuses=code_map(DEFAULT_LEGAL_STATUSES, config.legal_statuses),
        agencies=code_map(DEFAULT_AGENCIES, config.professional_agencies),
        lead_codes=words(DEFAULT_LEAD_CODES, config.lead_worker_codes),
    )


def _combine(codes: Sequence[str]) -> str | None:
    """One category for a plan: the single one, or MUL for several at once."""
    distinct = list(dict.fromkeys(codes))
    if not distinct:
        return None
    return distinct[0] if len(distinct) == 1 else "MUL"


# --- the scratch index of role A --------------------------------------------------------------


class _Index:
    """Lookups the grouped store lacks: relationships by role A, and who has been carried."""

    def __init__(self, tables: TableSet) -> None:
        self.tables = tables
        db = tables.db
        db.execute("CREATE TABLE eclipse_role_a (person TEXT, file TEXT, n INTEGER, cells TEXT)")
        db.execute("CREATE TABLE eclipse_subject (person TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE eclipse_mentioned (person TEXT PRIMARY KEY)")
        batch: list[tuple[str | None, str, int, str]] = []
        if RELATIONSHIP in tables.present:
            for row in tables.rows(RELATIONSHIP):
                batch.append(
                    (row.get("ROLEAPERSONID"), row.file, row.number, json.dumps(row.cells))
                )
                if len(batch) >= 2000:
                    db.executemany("INSERT INTO eclipse_role_a VALUES (?, ?, ?, ?)", batch)
                    batch.clear()
        db.executemany("INSERT INTO eclipse_role_a VALUES (?, ?, ?, ?)", batch)
        db.execute("CREATE INDEX eclipse_role_a_person ON eclipse_role_a (person, n)")

    def as_role_a(self, person: str) -> list[Row]:
        """Relationship rows where the person is role A."""
        query = "SELECT file, n, cells FROM eclipse_role_a WHERE person = ? ORDER BY n"
        return [
            Row(RELATIONSHIP, file, n, json.loads(cells))
            for file, n, cells in self.tables.db.execute(query, (person,))
        ]

    def rows(self, table: str, person: str) -> list[Row]:
        """The person's rows of a table (none when the export has no such table)."""
        if table.upper() not in self.tables.present:
            return []
        return self.tables.rows_for(table, person)

    def exists(self, person: str) -> bool:
        """The person has a row in PERSONDEMOGRAPHICSVIEW."""
        return bool(self.tables.rows_for(PERSON, person))

    def mark(self, table: str, people: Sequence[str]) -> None:
        """Note people as a record's subject or as mentioned in one."""
        self.tables.db.executemany(
            f"INSERT OR IGNORE INTO eclipse_{table} VALUES (?)",  # noqa: S608 (a fixed name)
            [(p,) for p in people],
        )

    def marked(self, table: str, person: str) -> bool:
        """Whether a person was noted as a subject or as mentioned."""
        query = f"SELECT 1 FROM eclipse_{table} WHERE person = ?"  # noqa: S608 (a fixed name)
        return self.tables.db.execute(query, (person,)).fetchone() is not None


# --- one child --------------------------------------------------------------------------------


class _Child:
    """Reads the rows of one child (and of the duplicates merged into them) into plain data."""

    def __init__(
        self,
        settings: _Settings,
        index: _Index,
        person: str,
        ids: list[str],
        authority: str | None,
        problems: list[Problem],
        is_subject: Callable[[str], bool],
    ) -> None:
        self.s = settings
        self.is_subject = is_subject
        self.introduced: dict[str, tuple[Cells, str]] = {}
        self.index = index
        self.person = person
        self.ids = ids
        self.authority = authority
        self.v = Values(problems)
        self.cells: list[Cells] = []
        self.child: dict[str, Any] = {
            "identifiers": [],
            "names": [],
            "addresses": [],
            "disabilities": [],
        }
        self.alerts: list[dict[str, Any]] = []
        self.related: dict[str, dict[str, Any]] = {}
        self.professionals: list[dict[str, Any]] = []
        self.episodes: list[dict[str, Any]] = []
        self.items: list[tuple[str, dt.date | None, dict[str, Any]]] = []
        self.chronology: list[dict[str, Any]] = []
        self.warned: set[str] = set()

    def cells_of(self, row: Row) -> Cells:
        cells = Cells(row, self.v, COLUMNS[row.table], self.s.formats, _PERSON_COLUMN[row.table])
        self.cells.append(cells)
        return cells

    def rows(self, table: str) -> list[Cells]:
        return [self.cells_of(r) for p in self.ids for r in self.index.rows(table, p)]

    def warn_once(
        self, key: str, code: str, message: str, fix: str, where: Row, column: str
    ) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.v.report(code, message, fix, where.at(column), WARNING)

    def data(self) -> dict[str, Any]:
        """The record as plain data."""
        self.demographics()
        self.relationships()
        for person in list(self.related):
            self.related_details(person)
        self.addresses()
        self.classifications()
        self.forms()
        self.looked_after()
        self.workers()
        self.place_in_episodes()
        self.confidential_alerts()
        for cells in self.cells:
            cells.rest()
        self.chronology.sort(key=lambda e: e["date"])
        self.index.mark("mentioned", list(self.related))
        return {
            "provenance": {
                "source_authority": self.authority or "unknown",
                "source_system": "Eclipse",
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

    def demographics(self) -> None:
        rows = self.rows(PERSON)
        main = rows[0]
        child = self.child
        pid = main.take("PERSONID") or self.person
        add_identifier(child["identifiers"], "la_child_id", pid, self.authority)
        legacy = main.text("CAREFIRSTID", _TEXT)
        if legacy:
            add_identifier(child["identifiers"], "legacy", legacy, self.authority)
        name = {"given": main.text("FORENAME"), "family": main.text("SURNAME")}
        if any(name.values()):
            child["names"].append({k: v for k, v in name.items() if v})
        sex = main.code("SEX", self.s.sex, SEXES)
        gender = main.peek("GENDER")
        if gender is not None:
            same = self.s.gender.get(gender.strip().upper())
            if sex is None and same is not None and main.peek("SEX") is None:
                sex = same
                main.take("GENDER")
            elif same is not None and same == sex:
                main.take("GENDER")
            else:
                child["gender"] = main.text("GENDER")
        child["sex"] = sex
        child["ethnicity"] = main.code("ETHNICITYCODE", self.s.ethnicity, ETHNICITIES)
        born = main.date("DATEOFBIRTH")
        child["birth_date"] = born
        if born is not None:
            if main.flag("DATEOFBIRTHESTIMATED"):
                child["birth_date_precision"] = "estimated"
            main.keep("DUEDATE", "the child is born; the due date is history")
        else:
            main.keep("DATEOFBIRTHESTIMATED", "no birth date to qualify")
            child["expected_birth_date"] = main.date("DUEDATE")
        child["death_date"] = main.date("DIEDDATE")
        nhs = main.text("NHSNUMBER", _LOCAL_ID)
        if nhs:
            add_identifier(child["identifiers"], "nhs_number", nhs)
        for other in rows[1:]:
            merged = other.row.get("PERSONID")
            if merged == pid:
                self.v.report(
                    "person-duplicated",
                    f"Person {pid} has more than one row in {other.row.file}; the first is used.",
                    "Export each person once; differing values are kept unmapped.",
                    other.row.at("PERSONID"),
                    WARNING,
                )
                reason = "differs from the person's first row"
            else:
                reason = f"differs in the duplicate record {merged}, merged into {pid}"
                if merged:
                    add_identifier(child["identifiers"], "legacy", merged, self.authority)
            other.take("PERSONID")
            for column in list(other.row.cells):
                if column.upper() != "PERSONID":
                    other.same_as(column, main, reason)
        for cells in self.rows(REFERENCE):
            self.reference(cells, child["identifiers"])

    def reference(self, cells: Cells, ids: list[dict[str, Any]]) -> None:
        number = cells.peek("REFERENCENUMBER")
        if number is None:
            return
        system = cells.code(
            "REFERENCETYPECODE",
            self.s.reference_types,
            IDENTIFIER_SYSTEMS,
            severity=WARNING,
        )
        if system is None:
            cells.keep("REFERENCENUMBER", "a reference of a type not configured")
            return
        if cells.peek("ENDDATE") is not None and system == "upn":
            system = "former_upn"  # an ended UPN is the child's former UPN
            if cells.date("ENDDATE") is not None:
                cells.release("ENDDATE", "the date the UPN ended")
        value = cells.text("REFERENCENUMBER", _TEXT)
        if value:
            add_identifier(ids, system, value, self.authority)

    # -- family ------------------------------------------------------------------------------

    def relationships(self) -> None:
        for cells in self.rows(RELATIONSHIP):
            self.relationship(cells, forward=True)
        for person in self.ids:
            for row in self.index.as_role_a(person):
                if row.get("ROLEBPERSONID") not in self.ids:  # else read above already
                    self.relationship(self.cells_of_reverse(row), forward=False)

    def cells_of_reverse(self, row: Row) -> Cells:
        cells = Cells(row, self.v, COLUMNS[RELATIONSHIP], self.s.formats, "ROLEAPERSONID")
        self.cells.append(cells)
        return cells

    def relationship(self, cells: Cells, *, forward: bool) -> None:
        other_column = "ROLEAPERSONID" if forward else "ROLEBPERSONID"
        other = cells.peek(other_column)
        kind = (cells.peek("RELATIONSHIP") or "").strip().upper()
        if other is None:
            return  # the row's values are kept unmapped at the end
        if kind in self.s.duplicates:
            if forward and other in self.ids:
                cells.take(other_column)  # the merged duplicate's id: a legacy identifier
                cells.take("RELATIONSHIP")
            return
        if other in self.ids:
            return  # relates the child to itself: kept unmapped
        if forward:
            code = cells.code("RELATIONSHIP", self.s.relationships, RELATIONSHIPS, severity=WARNING)
        else:
            code = cells.code(
                "RELATIONSHIP", self.s.relationships_reversed, RELATIONSHIPS, severity=WARNING
            )
        cells.take(other_column)
        person = self.related.get(other)
        if person is None:
            person = {"id": other, "relationship": code or "other"}
            self.related[other] = person
            self.introduced[other] = (cells, other_column)
        elif code is not None and code != person["relationship"]:
            cells.release("RELATIONSHIP", "a second relationship to the same person")
        if forward:
            self.set_once(person, "parental_responsibility", cells, "PARENTALRESPONSIBILITY")
        else:
            cells.keep(
                "PARENTALRESPONSIBILITY", "the child's own parental responsibility for this person"
            )
        self.set_once(person, "lives_with_child", cells, "SAMEHOUSEHOLD")
        said = []
        if (start := cells.date("STARTDATE")) is not None:
            said.append(f"from {start.isoformat()}")
        if (end := cells.date("CLOSEDATE")) is not None:
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
        rows = [self.cells_of(r) for r in self.index.rows(PERSON, person)]
        if not rows:
            if person in self.introduced:
                cells, column = self.introduced[person]
                self.v.report(
                    "related-person-not-found",
                    f"Related person {person} is not in {PERSON}; only their id is carried.",
                    f"Export the person in {PERSON}.",
                    cells.row.at(column),
                    WARNING,
                )
            return
        main = rows[0]
        main.take("PERSONID")
        name = {"given": main.text("FORENAME"), "family": main.text("SURNAME")}
        if any(name.values()):
            entry["names"] = [{k: v for k, v in name.items() if v}]
        entry["birth_date"] = main.date("DATEOFBIRTH")
        sex = main.code("SEX", self.s.sex, SEXES)
        entry["sex"] = sex
        gender = main.peek("GENDER")
        if gender is not None and self.s.gender.get(gender.strip().upper()) == sex:
            main.take("GENDER")
        nhs = main.text("NHSNUMBER", _LOCAL_ID)
        identifiers: list[dict[str, Any]] = []
        if nhs:
            add_identifier(identifiers, "nhs_number", nhs)
        for cells in (self.cells_of(r) for r in self.index.rows(REFERENCE, person)):
            self.reference(cells, identifiers)
        if identifiers:
            entry["identifiers"] = identifiers
        for other in rows[1:]:
            other.take("PERSONID")
            for column in list(other.row.cells):
                if column.upper() != "PERSONID":
                    other.same_as(column, main, "differs from the person's first row")
        for cells in rows:
            cells.rest(_RELATED)
        if self.is_subject(person):
            return  # their classifications are read into their own record
        for cells in (self.cells_of(r) for r in self.index.rows(CLASSIFICATION, person)):
            rule = self.rule(cells)
            if rule is not None and rule.kind == "alert":
                entry.setdefault("alerts", []).append(self.alert(cells, rule))

    # -- addresses ---------------------------------------------------------------------------

    def addresses(self) -> None:
        for cells in self.rows(ADDRESS):
            self.child["addresses"].append(self.address(cells))
        done: set[str] = set()
        while pending := [p for p in self.related if p not in done]:
            for person in pending:
                done.add(person)
                found = [self.address(self.cells_of(r)) for r in self.index.rows(ADDRESS, person)]
                if found:
                    self.related[person]["addresses"] = found

    def address(self, cells: Cells) -> dict[str, Any]:
        address: dict[str, Any] = {"id": cells.text("ADDRESSID", _LOCAL_ID)}
        lines = [cells.text("ROOMDESCRIPTION"), cells.text("FLOORDESCRIPTION")]
        building, street = cells.peek("BUILDINGNAMEORNUMBER"), cells.peek("STREETNAME")
        if building and street and _HOUSE_NUMBER.match(building):
            joined = f"{building} {street}"
            cells.take("BUILDINGNAMEORNUMBER")
            cells.take("STREETNAME")
            lines.append(joined if len(joined) <= _TEXT else None)
        else:
            lines += [cells.text("BUILDINGNAMEORNUMBER"), cells.text("STREETNAME")]
        address["lines"] = [line for line in lines if line]
        address["town"] = cells.text("TOWNORCITY")
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
        address["start_date"] = cells.date("STARTDATE")
        address["end_date"] = cells.date("ENDDATE")
        confidential = cells.flag("CONFIDENTIAL")
        kind = cells.peek("TYPE")
        if kind is not None and _CONFIDENTIAL_TYPE.search(kind):
            cells.take("TYPE")
            if confidential is False:
                cells.release("CONFIDENTIAL", "the address type says it is confidential")
            confidential = True
        address["confidential"] = bool(confidential)
        withheld = cells.take("DONOTDISCLOSETO")
        names: list[str] = []
        for person in _SPLIT.split(withheld or ""):
            if not person:
                continue
            if person in self.related or self.add_withheld(person):
                names.append(person)
            else:
                self.v.report(
                    "withheld-person-not-found",
                    f"The address is withheld from person {person}, who is not in {PERSON}.",
                    f"Export the person in {PERSON} so the exclusion can name them.",
                    cells.row.where("DONOTDISCLOSETO"),
                )
                self.v.keep(
                    cells.name("DONOTDISCLOSETO"),
                    person,
                    cells.row.at("DONOTDISCLOSETO"),
                    "names nobody in the export",
                )
        address["not_to_be_disclosed_to"] = list(dict.fromkeys(names))
        return address

    def add_withheld(self, person: str) -> bool:
        if person in self.ids or not self.index.exists(person):
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
                alert: dict[str, Any] = {
                    "type": "do_not_disclose_address",
                    "severity": "high",
                    "summary": "The child's current address is confidential: do not disclose it.",
                    "start_date": address["start_date"],
                    "not_to_be_disclosed_to": address["not_to_be_disclosed_to"],
                }
                self.alerts.append(alert)

    # -- classifications ---------------------------------------------------------------------

    def rule(self, cells: Cells) -> ClassificationConfig | None:
        """The configured meaning of a classification row (None: the row is kept unmapped)."""
        status = cells.peek("STATUS")
        if status is not None and status.strip().upper() in self.s.deleted_states:
            cells.rest(f"a classification with status {status}")
            return None
        path = cells.peek("CLASSIFICATIONPATH")
        rule = self.s.classifications.get(_path_key(path)) if path else None
        if rule is None:
            if path:
                self.warn_once(
                    f"classification {_path_key(path)}",
                    "classification-unknown",
                    f"Classification {path!r} is not in the configuration; its rows are kept "
                    "unmapped.",
                    "Add the path under classifications in the Eclipse configuration.",
                    cells.row,
                    "CLASSIFICATIONPATH",
                )
            cells.rest(f"classification {path!r} is not configured")
            return None
        cells.take("STATUS")
        return rule

    def classifications(self) -> None:
        plans: list[tuple[Cells, dt.date | None, dt.date | None, str]] = []
        for cells in self.rows(CLASSIFICATION):
            rule = self.rule(cells)
            if rule is None:
                continue
            if rule.kind == "cp_plan":
                start, end = cells.date("STARTDATE"), cells.date("ENDDATE")
                assert rule.category is not None
                plans.append((cells, start, end, rule.category.value))
            elif rule.kind == "cin_plan":
                start = cells.date("STARTDATE")
                plan: dict[str, Any] = {
                    "id": cells.text("CLASSIFICATIONASSIGNMENTID", _LOCAL_ID),
                    "start_date": start,
                    "end_date": cells.date("ENDDATE"),
                }
                cells.take("CLASSIFICATIONPATH")
                self.items.append(("cin_plans", start, plan))
            elif rule.kind == "looked_after":
                path = cells.take("CLASSIFICATIONPATH")
                details = f"Classification {path}"
                if (start := cells.date("STARTDATE")) is not None:
                    self.event(start, "placement", "Started to be looked after", details)
                if (end := cells.date("ENDDATE")) is not None:
                    self.event(end, "placement", "Ceased to be looked after", details)
            elif rule.kind == "disability":
                assert rule.disability is not None
                cells.take("CLASSIFICATIONPATH")
                if rule.disability.value not in self.child["disabilities"]:
                    self.child["disabilities"].append(rule.disability.value)
            else:
                self.alerts.append(self.alert(cells, rule))
        self.cp_plans(plans)

    def alert(self, cells: Cells, rule: ClassificationConfig) -> dict[str, Any]:
        assert rule.alert is not None
        return {
            "id": cells.text("CLASSIFICATIONASSIGNMENTID", _LOCAL_ID),
            "type": rule.alert.value,
            "summary": cells.text("CLASSIFICATIONPATH"),
            "start_date": cells.date("STARTDATE"),
            "end_date": cells.date("ENDDATE"),
        }

    def cp_plans(self, segments: list[tuple[Cells, dt.date | None, dt.date | None, str]]) -> None:
        """Consecutive or overlapping child protection classifications are one plan."""
        segments.sort(key=lambda s: (s[1] or dt.date.min, s[2] or dt.date.max))
        groups: list[list[tuple[Cells, dt.date | None, dt.date | None, str]]] = []
        for segment in segments:
            if groups:
                ends = [s[2] for s in groups[-1]]
                open_ = any(e is None for e in ends)
                last = max((e for e in ends if e is not None), default=None)
                start = segment[1]
                if open_ or (start is not None and last is not None and start <= last + _ONE_DAY):
                    groups[-1].append(segment)
                    continue
            groups.append([segment])
        for group in groups:
            first = group[0][0]
            plan_id = first.text("CLASSIFICATIONASSIGNMENTID", _LOCAL_ID)
            starts = [s[1] for s in group if s[1] is not None]
            start = min(starts) if starts else None
            ends = [s[2] for s in group]
            end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
            opening = [s for s in group if s[1] == start]
            closing = [s for s in group if s[2] == end]
            plan = {
                "id": plan_id,
                "start_date": start,
                "end_date": end,
                "initial_category": _combine([s[3] for s in opening]),
                "latest_category": _combine([s[3] for s in closing]),
            }
            for cells, seg_start, seg_end, _category in group:
                if cells is not first:
                    cells.release(
                        "CLASSIFICATIONASSIGNMENTID", f"a category period within plan {plan_id}"
                    )
                if seg_start is not None and seg_start != start:
                    cells.release("STARTDATE", f"a category change within plan {plan_id}")
                if seg_end is not None and seg_end != end:
                    cells.release("ENDDATE", f"a category change within plan {plan_id}")
                in_opening, in_closing = (
                    any(s[0] is cells for s in opening),
                    any(s[0] is cells for s in closing),
                )
                several = (in_opening and len(opening) > 1) or (in_closing and len(closing) > 1)
                if not (in_opening or in_closing):
                    cells.release(
                        "CLASSIFICATIONPATH", "a category between the plan's first and latest"
                    )
                elif several:
                    cells.release(
                        "CLASSIFICATIONPATH", "one of several categories at once; the plan says MUL"
                    )
                else:
                    cells.take("CLASSIFICATIONPATH")
            self.items.append(("cp_plans", start, plan))

    # -- forms -------------------------------------------------------------------------------

    def forms(self) -> None:
        instances: dict[str, list[Cells]] = {}
        for cells in self.rows(FORM):
            instance = cells.peek("INSTANCEID") or f"row {cells.row.number}"
            instances.setdefault(instance, []).append(cells)
        for instance, rows in instances.items():
            self.form(instance, rows)

    def form(self, instance: str, rows: list[Cells]) -> None:
        first = rows[0]
        guid = first.peek("DESIGNGUID")
        form = self.s.forms.get(guid.strip().lower()) if guid else None
        state = first.peek("INSTANCESTATE")
        if form is None:
            self.warn_once(
                f"form {guid}",
                "form-unknown",
                f"Form design {guid!r} is not in the configuration; its answers are kept unmapped.",
                "Add the form's GUID, kind and questions under forms in the Eclipse configuration.",
                first.row,
                "DESIGNGUID",
            )
            for cells in rows:
                self.keep_answers(cells, f"form {guid} is not configured")
            return
        if state is not None and state.strip().upper() not in self.s.complete_states:
            for cells in rows:
                self.keep_answers(cells, f"the form is not complete ({state})")
            return
        conference_type: str | None = None
        if form.kind == "conference":
            conference_type = self.conference_type(form, rows)
            if conference_type is None:
                self.v.report(
                    "conference-type-unknown",
                    f"Form {instance} ({form.name or guid}) does not say what kind of "
                    "conference it records; it is kept unmapped.",
                    "Map the form's sub-name or its conference type answer under "
                    "conference_types in the configuration.",
                    first.row.where("DESIGNSUBNAME"),
                    WARNING,
                )
                for cells in rows:
                    self.keep_answers(cells, "the conference type is not known")
                return
        record: dict[str, Any] = {"id": first.text("INSTANCEID", _LOCAL_ID) or instance}
        first.take("DESIGNGUID")
        first.take("INSTANCESTATE")
        if conference_type is not None:
            record["type"] = conference_type
        if form.date_completed and (done := first.date("DATECOMPLETED")) is not None:
            record[form.date_completed] = done
        for later in rows[1:]:
            for column in _INSTANCE_COLUMNS:
                later.same_as(column, first, "differs from the form's first row")
        questions = {k.strip().upper(): m for k, m in form.questions.items()}
        for cells in rows:
            control = cells.peek("CONTROLNAME")
            meaning = questions.get(control.strip().upper()) if control else None
            if meaning is None or (meaning in record and meaning != "conference_type"):
                why = (
                    "the question is answered again in this form"
                    if meaning is not None
                    else "a question not in the configuration"
                )
                self.keep_answers(cells, why)
                continue
            cells.take("CONTROLNAME")
            if meaning == "conference_type":
                cells.take("ANSWERVALUE")
                cells.keep("DATEANSWERVALUE", "a date given to a text question", control)
                continue
            record[meaning] = self.answer(cells, meaning, control or meaning)
        self.form_record(form.kind, record)

    def conference_type(self, form: FormConfig, rows: list[Cells]) -> str | None:
        questions = {k.strip().upper() for k, m in form.questions.items() if m == "conference_type"}
        for cells in rows:
            control = (cells.peek("CONTROLNAME") or "").strip().upper()
            answer = cells.peek("ANSWERVALUE")
            if control in questions and answer is not None:
                found = self.s.conference_types.get(answer.strip().upper())
                if found is not None:
                    return found
        subname = rows[0].peek("DESIGNSUBNAME")
        if subname is not None:
            found = self.s.conference_types.get(subname.strip().upper())
            if found is not None:
                rows[0].take("DESIGNSUBNAME")
                return found
        return None

    def keep_answers(self, cells: Cells, reason: str) -> None:
        """A form row kept whole; its answers under the question's own name."""
        control = cells.peek("CONTROLNAME")
        if control is not None and (
            cells.peek("ANSWERVALUE") is not None or cells.peek("DATEANSWERVALUE") is not None
        ):
            cells.take("CONTROLNAME")
            cells.keep("ANSWERVALUE", reason, control)
            cells.keep("DATEANSWERVALUE", reason, control)
        cells.rest(reason)

    def answer(self, cells: Cells, meaning: str, question: str) -> Any:
        if meaning in _DATE_MEANINGS:
            if cells.peek("DATEANSWERVALUE") is not None:
                day = cells.date("DATEANSWERVALUE", question)
                text = cells.peek("ANSWERVALUE")
                if text is not None and self.parse(text) == day:
                    cells.take("ANSWERVALUE")
                else:
                    cells.keep("ANSWERVALUE", "differs from the date answer", question)
                return day
            return cells.date("ANSWERVALUE", question)
        cells.keep(
            "DATEANSWERVALUE", "a date given to a question that is not about a date", question
        )
        if meaning in _FLAG_MEANINGS:
            return cells.flag("ANSWERVALUE", question)
        if meaning == "referral_source":
            return cells.code("ANSWERVALUE", self.s.referral_sources, SOURCES, field=question)
        if meaning == "primary_need":
            return cells.code("ANSWERVALUE", self.s.primary_needs, NEEDS, field=question)
        if meaning == "closure_reason":
            return cells.code("ANSWERVALUE", self.s.closure_reasons, CLOSURES, field=question)
        raw = cells.take("ANSWERVALUE")  # factors
        return [f for f in _SPLIT.split((raw or "").upper()) if f]

    def parse(self, text: str) -> dt.date | None:
        for fmt in self.s.formats:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        return parse_date(text)

    def form_record(self, kind: str, record: dict[str, Any]) -> None:
        fields = {_FIELD_OF_MEANING.get(k, k): v for k, v in record.items()}
        if kind == "referral":
            fields.update(
                assessments=[],
                cin_plans=[],
                section47_enquiries=[],
                conferences=[],
                cp_plans=[],
                looked_after_episodes=[],
            )
            self.episodes.append(fields)
        elif kind == "assessment":
            fields.setdefault("factors", [])
            day = fields.get("start_date") or fields.get("authorisation_date")
            self.items.append(("assessments", day, fields))
        elif kind == "section47":
            self.items.append(("section47_enquiries", fields.get("start_date"), fields))
        else:
            self.items.append(("conferences", fields.get("date"), fields))

    # -- looked after ------------------------------------------------------------------------

    def looked_after(self) -> None:
        periods = self.rows(PERIOD_OF_CARE)
        period_ids = {c.peek("PERIODOFCAREID") for c in periods} - {None}
        for cells in periods:
            period = cells.take("PERIODOFCAREID")
            details = f"Period of care {period}" if period else None
            if (start := cells.date("ADMISSIONDATE")) is not None:
                self.event(start, "placement", "Started to be looked after", details)
            if (end := cells.date("DISCHARGEDATE")) is not None:
                self.event(end, "placement", "Ceased to be looked after", details)
        for cells in self.rows(EPISODE_OF_CARE):
            start, end = cells.date("EOCSTARTDATE"), cells.date("EOCENDDATE")
            episode: dict[str, Any] = {
                "id": cells.text("EPISODEOFCAREID", _LOCAL_ID),
                "start_date": start,
                "end_date": end,
                "reason_new_episode": cells.code("EOCSTARTREASONCODE", {}, NEW_EPISODE_REASONS),
                "legal_status": cells.code("LEGALSTATUS", self.s.legal_statuses, LEGAL_STATUSES),
                "category_of_need": cells.code("CATEGORYOFNEED", self.s.primary_needs, NEEDS),
                "reason_episode_ceased": cells.text("EOCENDREASONCODE"),
            }
            placement = {
                "placement_type": cells.text("PLACEMENTTYPECODE"),
                "provider": cells.text("PLACEMENTPROVIDERCODE"),
                "postcode": cells.text("PLACEMENTPOSTCODE", _POSTCODE),
                "urn": cells.text("PLACEMENTURN"),
            }
            if any(placement.values()):
                episode["placement"] = {**placement, "start_date": start, "end_date": end}
            if cells.peek("PERIODOFCAREID") in period_ids:
                cells.take("PERIODOFCAREID")
            self.items.append(("looked_after_episodes", start, episode))

    def event(self, day: dt.date, category: str, summary: str, details: str | None) -> None:
        """A chronology entry; the same event from two views is one entry."""
        for same in self.chronology:
            if (same["date"], same["category"], same["summary"]) == (day, category, summary):
                if details and details not in (same.get("details") or ""):
                    same["details"] = "; ".join(filter(None, [same.get("details"), details]))
                return
        entry: dict[str, Any] = {"date": day, "category": category, "summary": summary}
        if details:
            entry["details"] = details
        self.chronology.append(entry)

    # -- workers -----------------------------------------------------------------------------

    def workers(self) -> None:
        for cells in self.rows(WORKER):
            role = cells.text("RELATIONSHIP")
            if role is None:
                self.v.report(
                    "professional-role-missing",
                    "A worker's involvement does not say their role; it is recorded as 'Not "
                    "recorded'.",
                    "Record the worker's role (RELATIONSHIP) in Eclipse.",
                    cells.row.where("RELATIONSHIP"),
                    WARNING,
                )
            worker: dict[str, Any] = {
                "id": cells.text("PROFESSIONALRELATIONSHIPPERSONID", _LOCAL_ID),
                "name": cells.text("PROFESSIONALNAME"),
                "role": role or "Not recorded",
                "agency": self.s.agencies.get(role.strip().upper()) if role else None,
                "organisation": cells.text("ORGANISATIONNAME"),
                "start_date": cells.date("STARTDATE"),
                "end_date": cells.date("CLOSEDATE"),
            }
            contact = {
                "phone": cells.text("PHONENUMBER", 40),
                "email": cells.text("EMAILADDRESS", 320),
            }
            if any(contact.values()):
                worker["contact"] = contact
            lead = cells.peek("ALLOCATEDWORKERCODE")
            if lead is not None and lead.strip().upper() in self.s.lead_codes:
                cells.take("ALLOCATEDWORKERCODE")
                worker["is_lead"] = True
            self.professionals.append(worker)

    # -- putting it together -----------------------------------------------------------------

    def place_in_episodes(self) -> None:
        """Each plan, assessment, enquiry, conference and care episode joins its referral."""
        self.episodes.sort(key=lambda e: e.get("referral_date") or dt.date.min)
        orphans: dict[str, Any] | None = None
        self.items.sort(key=lambda i: i[1] or dt.date.min)
        for key, day, item in self.items:
            home = None
            for episode in self.episodes:
                referral = episode.get("referral_date")
                if day is None or referral is None or referral <= day:
                    home = episode
            if home is None:
                if orphans is None:
                    orphans = {key: [] for key in _EPISODE_LISTS}
                    self.v.report(
                        "episode-without-referral",
                        "Plans, assessments or care episodes start before any referral; they "
                        "are kept in an episode without a referral.",
                        "Record the referral that opened the case (the referral form).",
                        self.cells[0].row.at("PERSONID"),
                        WARNING,
                    )
                home = orphans
            home[key].append(item)
        if orphans is not None:
            self.episodes.insert(0, orphans)


_EPISODE_LISTS = (
    "assessments",
    "cin_plans",
    "section47_enquiries",
    "conferences",
    "cp_plans",
    "looked_after_episodes",
)


# --- the adapter ------------------------------------------------------------------------------


class EclipseAdapter(Adapter):
    """Eclipse (OLM) views dumped to CSV -> canonical records."""

    name = "eclipse"
    title = "Eclipse (OLM) views, one CSV per view"
    formats = ("csv",)

    def __init__(
        self,
        context: RuleContext | None = None,
        *,
        config: Path | str | dict[str, Any] | None = None,
        source_authority: str | None = None,
    ) -> None:
        super().__init__(context)
        self.config = load_config(config, EclipseConfig)
        self.settings = settings_of(self.config)
        self.source_authority = (source_authority or "").strip() or None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child with a case, then one per row or person that has none."""
        yield from read_export(
            source,
            SPECS,
            COLUMNS,
            self.settings.renames,
            ("Eclipse views", PERSON, "An Eclipse"),
            self.source_authority,
            lambda tables: self._results(tables, _Index(tables)),
        )

    def _results(self, tables: TableSet, index: _Index) -> Iterator[ReadResult]:
        anyone = False
        for person in tables.people(PERSON):
            anyone = True
            if self._merged_away(index, person):
                continue
            ids = self._with_duplicates(index, person)
            if not self._has_case(index, ids):
                continue
            index.mark("subject", ids)
            yield self._record(index, person, ids)
        if not anyone:
            raise fatal(
                "no-people",
                f"{PERSON} holds no people.",
                f"Export {PERSON} with its rows, not only its header.",
                SourceLocation(file=f"{PERSON}.csv", row=1),
            )
        yield from self._leftovers(tables, index)

    def _record(self, index: _Index, person: str, ids: list[str]) -> ReadResult:
        problems: list[Problem] = []
        first = index.rows(PERSON, person)[0]
        location = SourceLocation(file=first.file, row=first.number)
        data = _Child(
            self.settings,
            index,
            person,
            ids,
            self.source_authority,
            problems,
            lambda other: self._has_case(index, self._with_duplicates(index, other)),
        ).data()
        return self.finish(data, key=person, location=location, problems=problems)

    def _duplicate_rows(self, rows: Sequence[Row]) -> list[Row]:
        return [
            r
            for r in rows
            if (r.get("RELATIONSHIP") or "").strip().upper() in self.settings.duplicates
        ]

    def _merged_away(self, index: _Index, person: str) -> bool:
        """The person is a duplicate merged into someone in the export."""
        return any(
            (survivor := r.get("ROLEBPERSONID")) is not None
            and survivor != person
            and index.exists(survivor)
            for r in self._duplicate_rows(index.as_role_a(person))
        )

    def _with_duplicates(self, index: _Index, person: str) -> list[str]:
        """The person and every duplicate merged into them (and into those)."""
        ids = [person]
        for current in ids:
            for row in self._duplicate_rows(index.rows(RELATIONSHIP, current)):
                duplicate = row.get("ROLEAPERSONID")
                if duplicate and duplicate not in ids and index.exists(duplicate):
                    ids.append(duplicate)
        return ids

    def _has_case(self, index: _Index, ids: list[str]) -> bool:
        for person in ids:
            if any(index.rows(view, person) for view in _CASE_VIEWS):
                return True
            for row in index.rows(CLASSIFICATION, person):
                path = row.get("CLASSIFICATIONPATH")
                rule = self.settings.classifications.get(_path_key(path)) if path else None
                status = (row.get("STATUS") or "").strip().upper()
                if rule and rule.kind in _CASE_KINDS and status not in self.settings.deleted_states:
                    return True
        return False

    def _leftovers(self, tables: TableSet, index: _Index) -> Iterator[ReadResult]:
        """Results without a record for every row that belongs to no case."""
        for spec in SPECS:
            if spec.name not in tables.present:
                continue
            if spec.name == RELATIONSHIP:
                continue  # read below: a relationship may belong to either of its people
            for row in tables.rows_without_person(spec.name):
                yield alone(
                    row,
                    "person-id-missing",
                    f"names no person ({spec.person_column} is empty)",
                    f"Give the row its {spec.person_column}.",
                )
            if spec.name == PERSON:
                continue
            for person in tables.people(spec.name):
                if index.exists(person):
                    continue
                for row in tables.rows_for(spec.name, person):
                    yield alone(
                        row,
                        "person-not-found",
                        f"names person {person!r}, who is not in {PERSON}",
                        f"Export the person in {PERSON}, or leave their rows out.",
                    )
        if RELATIONSHIP in tables.present:
            for row in tables.rows(RELATIONSHIP):
                ends = [p for p in (row.get("ROLEAPERSONID"), row.get("ROLEBPERSONID")) if p]
                if any(index.marked("subject", p) for p in ends):
                    continue
                if len(ends) < 2:
                    yield alone(
                        row,
                        "person-id-missing",
                        "does not name both people of the relationship",
                        "Give the row its ROLEAPERSONID and ROLEBPERSONID.",
                    )
                else:
                    yield alone(
                        row,
                        "relationship-not-carried",
                        "relates two people neither of whom has a case",
                        "Nothing to do, unless one of them should have a case in the export.",
                        WARNING,
                    )
        for person in tables.people(PERSON):
            if index.marked("subject", person) or index.marked("mentioned", person):
                continue
            rows = [
                r
                for t in (PERSON, REFERENCE, ADDRESS, CLASSIFICATION)
                for r in index.rows(t, person)
            ]
            location = SourceLocation(file=rows[0].file, row=rows[0].number)
            yield ReadResult(
                None,
                [
                    problem(
                        "person-not-carried",
                        f"Person {person} has no case and is related to no child with one; "
                        f"row {r.number} of {r.file} is not carried: {listing(r)}.",
                        "Nothing to do, unless the person should have a case or a relationship "
                        "in the export.",
                        SourceLocation(file=r.file, row=r.number),
                        severity=WARNING,
                    )
                    for r in rows
                ],
                person,
                location,
            )
