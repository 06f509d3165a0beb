"""Standard Safeguarding Dataset (Data to Insight), one CSV per ``ssd_`` table, read into records.

**Recognising the files.** A file is the table its name says, case-insensitively: ``SSD_Person.csv``
is ``ssd_person``; a schema prefix (``ssd_development.ssd_person.csv``) and a view suffix
(``ssd_person_v.csv``) are ignored. ``ssd_person`` is required (fatal ``person-table-missing``);
every other table is optional. A read table without its join column(s) is fatal
(``columns-missing``). Columns a table does not define are kept unmapped, with one
``columns-extra`` warning per file; older SSD column names are read under their current names
(``addr_address_start`` as ``addr_address_start_date``, ``pers_la_person_id`` as
``pers_person_id``, ``cppl_initial_cp_conference_id`` as ``cppl_icpc_id``, ...). A table the
adapter does not read (``ssd_sdq_scores``, ``ssd_send``, any other CSV) is still carried: each
non-empty value goes into the ``unmapped`` list of the child its ``*_person_id`` column names;
a table without such a column gets one ``table-not-read`` warning naming the file. Files that are
not CSV get ``file-not-read``.

**Joining, streaming.** Each file is read once, row by row, into a private SQLite file in a
temporary directory (stdlib ``sqlite3``: a scratch file, never the service database), each row
tagged with its table, file, row number and person id. Rows without a person id of their own
(``ssd_assessment_factors``, ``ssd_cla_reviews``, and any row whose person id is blank) are then
given the person of the row they point at (assessment, looked-after episode, CP plan, referral)
by two set-based UPDATEs. Records are built one child at a time, in ``ssd_person`` order, from
one indexed query per child, then yielded and forgotten; memory therefore does not grow with the
number of children, only the scratch file does, and it is deleted when reading ends or is
abandoned. A merge of sorted files would need no scratch file, but SSD extracts are not sorted
by person and several tables reach the child only through another table.

**Encodings.** Each file is decoded lazily as UTF-8 (a BOM is skipped). If a byte proves not to be
UTF-8 anywhere in the file, the rows already stored from that file are deleted from the scratch
file and the file is read again as Windows-1252; nothing has been yielded by then, because
records are built only once every file is stored. Bytes that are not Windows-1252 either are
fatal (``file-undecodable``). Cells are stripped; ``''``, ``NULL`` and the Data to Insight
placeholders ``SSD_PH``/``SSD_PH_CCI``/``PLACEHOLDER_DATA`` count as empty.

**Whole-export problems** (``source-authority-missing``, ``columns-extra``, ``table-not-read``,
``file-not-read``, ``file-empty`` for an empty optional table, ``row-too-long``,
``professionals-not-involved``) ride with the first result, once each. A row whose person is not
in ``ssd_person`` (or who has none) becomes a result without a record (``person-not-found`` /
``person-id-missing``) whose message lists the row's values, so nothing is dropped silently.

**Nothing lost.** Every non-empty cell a record's rows hold is either mapped (the tables below) or
kept in ``unmapped`` with its file, row and column (JSON parts also with ``element``, e.g.
``/EASTING``). Person id columns repeating the child's id count as mapped. A link column (a
referral, plan, assessment or conference id) counts as mapped only when what it names is in the
record; otherwise it is kept, with a ``link-not-found`` warning.

**Sex and gender.** ``pers_sex`` gives ``child.sex`` (M/F/U; 1/2/0/9, 01/02/00/09, I and the
words male/female/unknown/indeterminate are read as their code). The SSD lets ``pers_gender``
duplicate ``pers_sex`` when an authority holds one value only, so: a sex code in
``pers_gender`` equal to the sex counts as mapped; used as the sex when ``pers_sex`` is blank;
kept unmapped with a ``sex-gender-differ`` warning when it differs. Anything else in
``pers_gender`` is the child's own description and goes to ``child.gender``.

**Confidential addresses.** Data to Insight's extract masks a confidential or restricted address
by writing ``CON`` as its postcode and blanking its JSON. The adapter marks an address
``confidential`` when its postcode (column or JSON ``POSTCODE``) is ``CON``, when
``addr_address_type`` mentions confidential, restricted, protected, withheld or
do-not-disclose (or is ``CON``/``CONF``), or when an extra ``ssd_address`` column whose name
contains ``confiden``, ``restrict`` or ``protect`` holds a true value. A child with such an
address also gets a ``do_not_disclose_address`` alert.

Columns read (anything else in a row is kept unmapped):

============================ ====================================================================
ssd_person                   canonical
============================ ====================================================================
pers_person_id               child.identifiers la_child_id (issuer: the sending authority)
pers_legacy_id               child.identifiers legacy
pers_upn                     child.identifiers upn
pers_common_child_id         child.identifiers nhs_number (check digit checked by the rules)
pers_single_unique_id        nhs_number when 10 digits (and not the same number), else other
pers_forename, pers_surname  child.names given, family
pers_sex, pers_gender        child.sex, child.gender (see above)
pers_ethnicity               child.ethnicity (codes or their DfE descriptions)
pers_dob                     child.birth_date
pers_expected_dob            child.expected_birth_date
pers_death_date              child.death_date
pers_upn_unknown             child.upn_unknown_reason (UN1-UN7)
pers_nationality             child.nationality
============================ ====================================================================

============================ ====================================================================
other table: column          canonical
============================ ====================================================================
ssd_linked_identifiers       link_identifier_value -> child.identifiers; link_identifier_type
                             'Unique Pupil Number' upn, 'Former Unique Pupil Number' former_upn,
                             'NHS Number' nhs_number (other types: system other, type kept)
ssd_address                  addr_table_id id; addr_address_start_date, addr_address_end_date;
                             addr_address_postcode postcode (normalised); addr_address_json
                             ROOM/FLOOR/FLAT/BUILDING and 'HOUSE STREET' lines, TOWN town,
                             UPRN uprn, POSTCODE postcode; addr_address_type only as the
                             confidential marker -> child.addresses
ssd_disability               disa_disability_code -> child.disabilities
ssd_immigration_status       the current row (open, latest start): immi_immigration_status
                             status (uasc when it says UASC/unaccompanied),
                             immi_immigration_status_start_date,
                             immi_immigration_status_end_date -> child.immigration_status
ssd_mother                   moth_person_id -> related_people mother (names, birth date from her
                             ssd_person row); where the child is the mother,
                             moth_childs_person_id, moth_childs_dob -> related_people (other);
                             moth_childs_dob equal to the child's birth date counts as mapped
ssd_family                   fami_family_id -> related_people household_member: the other
                             people with the same family id (at most 50)
ssd_involvements             invo_professional_id id, invo_professional_role_id role,
                             invo_professional_team organisation, invo_involvement_start_date,
                             invo_involvement_end_date -> professionals
ssd_professionals            (through invo_professional_id) prof_professional_id id,
                             prof_professional_name name, prof_professional_job_title role
                             when the involvement has none, prof_professional_department
                             organisation when it has none
ssd_cin_episodes             cine_referral_id id, cine_referral_date, cine_referral_source_code,
                             cine_cin_primary_need_code, cine_referral_nfa, cine_close_reason,
                             cine_close_date -> episodes
ssd_cin_assessments          cina_assessment_id id, cina_assessment_start_date start_date,
                             cina_assessment_auth_date authorisation_date,
                             cina_referral_id -> episodes.assessments
ssd_assessment_factors       cinf_assessment_id, cinf_assessment_factors_json (a JSON list,
                             a JSON object of factor: Y/N, or comma-separated) -> factors
ssd_cin_plans                cinp_cin_plan_id id, cinp_cin_plan_start_date, cinp_cin_plan_end_date,
                             cinp_referral_id -> episodes.cin_plans
ssd_s47_enquiry              s47e_s47_enquiry_id id, s47e_s47_start_date, s47e_s47_end_date,
                             s47e_s47_nfa initial_conference_not_required, s47e_referral_id
                             -> episodes.section47_enquiries
ssd_initial_cp_conference    icpc_icpc_id id; icpc_icpc_transfer_in Y -> type transfer_in, else
                             initial; icpc_icpc_date date; icpc_icpc_target_date target_date;
                             icpc_icpc_outcome_cp_flag led_to_cp_plan; icpc_referral_id,
                             icpc_s47_enquiry_id (also sets the enquiry's conference dates),
                             icpc_cp_plan_id -> episodes.conferences
ssd_cp_plans                 cppl_cp_plan_id id, cppl_cp_plan_start_date, cppl_cp_plan_end_date,
                             cppl_cp_plan_initial_category, cppl_cp_plan_latest_category,
                             cppl_cp_plan_ola other_local_authority, cppl_referral_id,
                             cppl_icpc_id -> episodes.cp_plans
ssd_cp_reviews               cppr_cp_review_date -> the plan's review_dates (plan by
                             cppr_cp_plan_id, else the plan open that day, else chronology
                             'conference'); cppr_cp_plan_id
ssd_cp_visits                cppv_cp_visit_date date, cppv_cp_visit_seen seen,
                             cppv_cp_visit_seen_alone seen_alone -> the plan's visits (else
                             chronology 'visit' with cppv_cp_visit_bedroom too); cppv_cp_plan_id
ssd_cla_episodes             clae_cla_episode_id id, clae_cla_episode_start_date,
                             clae_cla_episode_start_reason reason_new_episode,
                             clae_cla_primary_need_code category_of_need,
                             clae_cla_episode_ceased_date end_date,
                             clae_cla_episode_ceased_reason reason_episode_ceased,
                             clae_referral_id, clae_cla_placement_id
                             -> episodes.looked_after_episodes
ssd_cla_placement            clap_cla_placement_id id, clap_cla_placement_start_date,
                             clap_cla_placement_end_date,
                             clap_cla_placement_type, clap_cla_placement_provider,
                             clap_cla_placement_postcode, clap_cla_placement_urn,
                             clap_cla_placement_change_reason -> the episode's placement (by
                             clae_cla_placement_id, else the same clae_cla_id open that day)
ssd_legal_status             lega_legal_status -> legal_status of each looked-after episode
                             starting within the status' period
ssd_missing                  miss_missing_episode_start_date, miss_missing_episode_end_date,
                             miss_missing_episode_type kind (missing/away),
                             miss_missing_rhi_offered, miss_missing_rhi_accepted
                             -> missing_episodes, plus one 'missing' alert
ssd_cin_visits               cinv_cin_visit_date, cinv_cin_visit_seen, cinv_cin_visit_seen_alone,
                             cinv_cin_visit_bedroom -> chronology 'visit'
ssd_contacts                 cont_contact_date date, cont_contact_source_desc and
                             cont_contact_source_code source, cont_contact_outcome_json details
                             -> chronology 'other'
ssd_early_help_episodes      earl_episode_start_date, earl_episode_end_date, earl_episode_reason,
                             earl_episode_end_reason, earl_episode_organisation -> chronology
ssd_pre_proceedings          prep_pre_pro_decision_date (with prep_pre_pro_outcome,
                             prep_legal_gateway_outcome), prep_initial_pre_pro_meeting_date,
                             prep_pre_pro_letter_date, prep_care_pro_letter_date,
                             prep_agree_stepdown_issue_date -> chronology 'court'
ssd_care_leavers             clea_care_leaver_latest_contact (with clea_care_leaver_eligibility,
                             clea_care_leaver_in_touch, clea_care_leaver_accommodation,
                             clea_care_leaver_accom_suitable, clea_care_leaver_activity),
                             clea_pathway_plan_review_date -> chronology;
                             clea_care_leaver_personal_advisor -> professionals
ssd_permanence               perm_adm_decision_date, perm_ffa_cp_decision_date,
                             perm_placement_order_date, perm_placed_for_adoption_date,
                             perm_matched_date, perm_placed_ffa_cp_date,
                             perm_decision_reversed_date (with perm_decision_reversed_reason),
                             perm_placed_foster_carer_date, perm_permanence_order_date (with
                             perm_permanence_order_type) -> chronology
ssd_cla_reviews              clar_cla_review_date (with clar_cla_review_cancelled,
                             clar_cla_review_participation) -> chronology; reaches the child
                             through clar_cla_id = clae_cla_id
ssd_voice_of_child           nothing (no date, no canonical field): kept unmapped
============================ ====================================================================

Every ``*_person_id`` column equal to the child's id counts as mapped (the join key).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from exchange.adapters.base import Adapter, ReadResult, Source, SourceFile, fatal, problem
from exchange.adapters.values import Values, Where, parse_bool, parse_date
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import (
    ASSESSMENT_FACTORS,
    CATEGORY_OF_ABUSE_ALIASES,
    DISABILITY_MEANINGS,
    ETHNICITY_MEANINGS,
    LEGAL_STATUS_MEANINGS,
    PRIMARY_NEED_MEANINGS,
    SEX_ALIASES,
    CategoryOfAbuse,
    Disability,
    Ethnicity,
    IdentifierSystem,
    LegalStatus,
    PrimaryNeed,
    ReasonForClosure,
    ReasonNewEpisode,
    ReferralSource,
    Sex,
    UPNUnknownReason,
)
from exchange.canonical.identifiers import (
    compact,
    normalise_partial_postcode,
    normalise_postcode,
)
from exchange.canonical.model import SourceLocation

WARNING = Severity.WARNING

SEXES = frozenset(s.value for s in Sex)
SEX_CODES: dict[str, str] = {
    **SEX_ALIASES,
    "00": "U",
    "01": "M",
    "02": "F",
    "09": "U",
    "I": "U",
}
ETHNICITIES = frozenset(e.value for e in Ethnicity)
ETHNICITY_ALIASES = {meaning.upper(): code.value for code, meaning in ETHNICITY_MEANINGS.items()}
DISABILITIES = frozenset(d.value for d in Disability)
DISABILITY_ALIASES = {meaning.upper(): code.value for code, meaning in DISABILITY_MEANINGS.items()}
NEEDS = frozenset(n.value for n in PrimaryNeed)
NEED_ALIASES = {meaning.upper(): code.value for code, meaning in PRIMARY_NEED_MEANINGS.items()}
SOURCES = frozenset(r.value for r in ReferralSource)
CLOSURES = frozenset(r.value for r in ReasonForClosure)
CATEGORIES = frozenset(c.value for c in CategoryOfAbuse)
LEGAL_STATUSES = frozenset(s.value for s in LegalStatus)
LEGAL_ALIASES = {meaning.upper(): code.value for code, meaning in LEGAL_STATUS_MEANINGS.items()}
NEW_EPISODE_REASONS = frozenset(r.value for r in ReasonNewEpisode)
UPN_UNKNOWN = frozenset(u.value for u in UPNUnknownReason)

LINK_TYPES: dict[str, str] = {
    "UNIQUE PUPIL NUMBER": IdentifierSystem.UPN.value,
    "UPN": IdentifierSystem.UPN.value,
    "FORMER UNIQUE PUPIL NUMBER": IdentifierSystem.FORMER_UPN.value,
    "FORMER UPN": IdentifierSystem.FORMER_UPN.value,
    "FORMER_UPN": IdentifierSystem.FORMER_UPN.value,
    "NHS NUMBER": IdentifierSystem.NHS_NUMBER.value,
    "NHS_NUMBER": IdentifierSystem.NHS_NUMBER.value,
    "NHS": IdentifierSystem.NHS_NUMBER.value,
    "LEGACY ID": IdentifierSystem.LEGACY.value,
    "LEGACY_ID": IdentifierSystem.LEGACY.value,
}
"""ssd_linked_identifiers types (upper case) with a canonical identifier system."""

MISSING_KINDS: dict[str, str] = {
    "MISSING": "missing",
    "M": "missing",
    "AWAY": "away",
    "A": "away",
    "ABSENT": "away",
    "AWAY FROM PLACEMENT": "away",
    "AWAY FROM PLACEMENT WITHOUT AUTHORISATION": "away",
}
"""miss_missing_episode_type values (upper case) and the canonical kind."""

_EMPTY = frozenset({"", "NULL"})
# Data to Insight's extract writes these where an authority's system holds nothing.
_PLACEHOLDERS = ("SSD_PH", "PLACEHOLDER_DATA", "PLACEHOLDER")
_CONFIDENTIAL_TYPE = re.compile(
    r"CONFIDENTIAL|RESTRICTED|PROTECTED|WITHHELD|DO NOT DISCLOSE|^CONF?$", re.IGNORECASE
)
_CONFIDENTIAL_COLUMN = re.compile(r"confiden|restrict|protect")
_UPRN = re.compile(r"^\d{1,12}$")
_FACTOR_SPLIT = re.compile(r"[\s,;|]+")
_BATCH = 2000
_MAX_FAMILY = 50
_TEXT = 2000
_LONG_TEXT = 200_000
_LOCAL_ID = 100
_NO_FIELD = "the canonical record has no place for it"
_NOT_SSD = "column not in the SSD specification"
_DUPLICATE_PERSON = "differs from the first ssd_person row of this child"


def _clean(cell: str) -> str:
    """A cell stripped; the empty markers ('', NULL, D2I placeholders) made ''."""
    text = cell.strip()
    upper = text.upper()
    if upper in _EMPTY or upper.startswith(_PLACEHOLDERS):
        return ""
    return text


# --- the tables ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Table:
    """One SSD table: its columns, how a row finds its child, what other rows find it by."""

    name: str
    columns: tuple[str, ...]
    person: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]
    parents: tuple[tuple[str, str, str], ...] = ()
    keys: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    read: bool = True

    @property
    def known(self) -> frozenset[str]:
        """Every column the specification gives the table."""
        return frozenset(self.columns)


def _table(
    name: str,
    prefix: str,
    columns: str,
    *,
    person: tuple[str, ...] | None = None,
    required: tuple[tuple[str, ...], ...] | None = None,
    parents: tuple[tuple[str, str, str], ...] = (),
    keys: tuple[str, ...] = (),
    aliases: Mapping[str, str] | None = None,
    read: bool = True,
) -> _Table:
    cols = tuple(f"{prefix}_{c}" for c in columns.split())
    who = person if person is not None else (f"{prefix}_person_id",)
    return _Table(
        name,
        cols,
        who,
        required if required is not None else tuple((p,) for p in who),
        parents,
        keys,
        aliases or {},
        read,
    )


_REFERRAL = "ssd_cin_episodes", "cine_referral_id"

TABLES: dict[str, _Table] = {
    t.name: t
    for t in (
        _table(
            "ssd_person",
            "pers",
            "person_id legacy_id upn forename surname sex gender ethnicity dob common_child_id "
            "single_unique_id upn_unknown send_flag expected_dob death_date is_mother nationality",
            keys=("pers_upn",),
            aliases={"pers_la_person_id": "pers_person_id", "pers_send": "pers_send_flag"},
        ),
        _table(
            "ssd_linked_identifiers",
            "link",
            "table_id person_id identifier_type identifier_value valid_from_date valid_to_date",
        ),
        _table(
            "ssd_address",
            "addr",
            "table_id person_id address_type address_start_date address_end_date "
            "address_postcode address_json",
            aliases={
                "addr_address_id": "addr_table_id",
                "addr_address_start": "addr_address_start_date",
                "addr_address_end": "addr_address_end_date",
            },
        ),
        _table("ssd_family", "fami", "table_id family_id person_id", keys=("fami_family_id",)),
        _table(
            "ssd_involvements",
            "invo",
            "involvements_id professional_id professional_role_id professional_team "
            "involvement_start_date involvement_end_date worker_change_reason person_id "
            "referral_id",
            keys=("invo_professional_id",),
        ),
        _table(
            "ssd_professionals",
            "prof",
            "professional_id staff_id professional_name social_worker_registration_no "
            "professional_job_title professional_caseload professional_department "
            "full_time_equivalency agency_worker_flag",
            person=(),
            required=(("prof_professional_id",),),
            keys=("prof_professional_id",),
        ),
        _table("ssd_disability", "disa", "table_id person_id disability_code"),
        _table(
            "ssd_immigration_status",
            "immi",
            "immigration_status_id person_id immigration_status "
            "immigration_status_start_date immigration_status_end_date",
            aliases={
                "immi_immigration_status_start": "immi_immigration_status_start_date",
                "immi_immigration_status_end": "immi_immigration_status_end_date",
            },
        ),
        _table(
            "ssd_mother",
            "moth",
            "table_id person_id childs_person_id childs_dob",
            person=("moth_childs_person_id", "moth_person_id"),
        ),
        _table(
            "ssd_contacts",
            "cont",
            "contact_id person_id contact_date contact_source_code contact_source_desc "
            "contact_outcome_json",
        ),
        _table(
            "ssd_early_help_episodes",
            "earl",
            "episode_id person_id episode_start_date episode_end_date episode_reason "
            "episode_end_reason episode_organisation episode_worker_id",
        ),
        _table(
            "ssd_cin_episodes",
            "cine",
            "referral_id person_id referral_date cin_primary_need_code referral_source_code "
            "referral_source_desc referral_outcome_json referral_nfa close_reason close_date "
            "referral_team referral_worker_id",
            keys=("cine_referral_id",),
        ),
        _table(
            "ssd_cin_assessments",
            "cina",
            "assessment_id person_id referral_id assessment_start_date assessment_child_seen "
            "assessment_auth_date assessment_outcome_json assessment_outcome_nfa "
            "assessment_team assessment_worker_id",
            required=(("cina_person_id", "cina_referral_id"),),
            parents=(("cina_referral_id", *_REFERRAL),),
            keys=("cina_assessment_id",),
        ),
        _table(
            "ssd_assessment_factors",
            "cinf",
            "table_id assessment_id assessment_factors_json",
            person=(),
            required=(("cinf_assessment_id",),),
            parents=(("cinf_assessment_id", "ssd_cin_assessments", "cina_assessment_id"),),
        ),
        _table(
            "ssd_cin_plans",
            "cinp",
            "cin_plan_id referral_id person_id cin_plan_start_date cin_plan_end_date "
            "cin_plan_team cin_plan_worker_id",
            required=(("cinp_person_id", "cinp_referral_id"),),
            parents=(("cinp_referral_id", *_REFERRAL),),
        ),
        _table(
            "ssd_cin_visits",
            "cinv",
            "cin_visit_id person_id cin_visit_date cin_visit_seen cin_visit_seen_alone "
            "cin_visit_bedroom",
        ),
        _table(
            "ssd_s47_enquiry",
            "s47e",
            "s47_enquiry_id referral_id person_id s47_start_date s47_end_date s47_nfa "
            "s47_outcome_json s47_completed_by_team s47_completed_by_worker_id",
            required=(("s47e_person_id", "s47e_referral_id"),),
            parents=(("s47e_referral_id", *_REFERRAL),),
        ),
        _table(
            "ssd_initial_cp_conference",
            "icpc",
            "icpc_id icpc_meeting_id s47_enquiry_id person_id cp_plan_id referral_id "
            "icpc_transfer_in icpc_target_date icpc_date icpc_outcome_cp_flag icpc_outcome_json "
            "icpc_team icpc_worker_id",
            required=(("icpc_person_id", "icpc_referral_id"),),
            parents=(("icpc_referral_id", *_REFERRAL),),
        ),
        _table(
            "ssd_cp_plans",
            "cppl",
            "cp_plan_id referral_id icpc_id person_id cp_plan_start_date cp_plan_end_date "
            "cp_plan_ola cp_plan_initial_category cp_plan_latest_category",
            required=(("cppl_person_id", "cppl_referral_id"),),
            parents=(("cppl_referral_id", *_REFERRAL),),
            keys=("cppl_cp_plan_id",),
            aliases={"cppl_initial_cp_conference_id": "cppl_icpc_id"},
        ),
        _table(
            "ssd_cp_reviews",
            "cppr",
            "cp_review_id person_id cp_plan_id cp_review_due cp_review_date cp_review_meeting_id "
            "cp_review_outcome_continue_cp cp_review_quorate cp_review_participation",
            required=(("cppr_person_id", "cppr_cp_plan_id"),),
            parents=(("cppr_cp_plan_id", "ssd_cp_plans", "cppl_cp_plan_id"),),
        ),
        _table(
            "ssd_cp_visits",
            "cppv",
            "cp_visit_id person_id cp_plan_id casenote_date cp_visit_date cp_visit_seen "
            "cp_visit_seen_alone cp_visit_bedroom",
            required=(("cppv_person_id", "cppv_cp_plan_id"),),
            parents=(("cppv_cp_plan_id", "ssd_cp_plans", "cppl_cp_plan_id"),),
        ),
        _table(
            "ssd_cla_episodes",
            "clae",
            "cla_episode_id person_id cla_episode_start_date cla_episode_start_reason "
            "cla_primary_need_code cla_episode_ceased_date cla_episode_ceased_reason cla_id "
            "referral_id cla_placement_id entered_care_date cla_last_iro_contact_date",
            required=(("clae_person_id", "clae_referral_id"),),
            parents=(("clae_referral_id", *_REFERRAL),),
            keys=("clae_cla_id", "clae_cla_placement_id"),
            aliases={"clae_cla_episode_ceased": "clae_cla_episode_ceased_date"},
        ),
        _table(
            "ssd_cla_placement",
            "clap",
            "cla_placement_id cla_id person_id cla_placement_start_date cla_placement_type "
            "cla_placement_urn cla_placement_distance cla_placement_provider "
            "cla_placement_postcode cla_placement_end_date cla_placement_change_reason",
            required=(("clap_person_id", "clap_cla_id", "clap_cla_placement_id"),),
            parents=(
                ("clap_cla_placement_id", "ssd_cla_episodes", "clae_cla_placement_id"),
                ("clap_cla_id", "ssd_cla_episodes", "clae_cla_id"),
            ),
        ),
        _table(
            "ssd_legal_status",
            "lega",
            "legal_status_id person_id legal_status legal_status_start_date legal_status_end_date",
        ),
        _table(
            "ssd_cla_reviews",
            "clar",
            "cla_review_id cla_id person_id cla_review_due_date cla_review_date "
            "cla_review_cancelled cla_review_participation",
            required=(("clar_person_id", "clar_cla_id"),),
            parents=(("clar_cla_id", "ssd_cla_episodes", "clae_cla_id"),),
        ),
        _table(
            "ssd_missing",
            "miss",
            "table_id person_id missing_episode_start_date missing_episode_type "
            "missing_episode_end_date missing_rhi_offered missing_rhi_accepted",
        ),
        _table(
            "ssd_care_leavers",
            "clea",
            "table_id person_id care_leaver_eligibility care_leaver_in_touch "
            "care_leaver_latest_contact care_leaver_accommodation care_leaver_accom_suitable "
            "care_leaver_activity pathway_plan_review_date care_leaver_personal_advisor "
            "care_leaver_allocated_team care_leaver_worker_id",
        ),
        _table(
            "ssd_permanence",
            "perm",
            "table_id person_id cla_id adm_decision_date ffa_cp_decision_date "
            "placement_order_date placed_for_adoption_date matched_date adopted_by_carer_flag "
            "placed_ffa_cp_date decision_reversed_date placed_foster_carer_date "
            "part_of_sibling_group siblings_placed_together siblings_placed_apart "
            "placement_provider_urn decision_reversed_reason permanence_order_date "
            "permanence_order_type adoption_worker_id adopter_sex adopter_legal_status "
            "number_of_adopters",
        ),
        _table(
            "ssd_voice_of_child",
            "voch",
            "table_id person_id explained_worries story_help_understand agree_worker "
            "plan_safe tablet_help_explain",
        ),
        _table(
            "ssd_pre_proceedings",
            "prep",
            "table_id person_id plo_family_id pre_pro_decision_date "
            "initial_pre_pro_meeting_date pre_pro_outcome agree_stepdown_issue_date "
            "cp_plans_referral_period legal_gateway_outcome prev_pre_proc_child "
            "prev_care_proc_child pre_pro_letter_date care_pro_letter_date "
            "pre_pro_meetings_num pre_pro_parents_legal_rep parents_legal_rep_point_of_issue "
            "court_reference care_proc_court_hearings care_proc_short_notice "
            "proc_short_notice_reason la_inital_plan_approved la_initial_care_plan "
            "la_final_plan_approved la_final_care_plan",
        ),
    )
}
"""Every table the adapter reads, by name."""

_IDS = "child.identifiers[].value"
_EPISODE_ID = "episodes[].id"
_PLAN_ID = "episodes[].cp_plans[].id"
_CHRONOLOGY_DATE = "chronology[].date"
_DETAILS = "chronology[].details~"

MAPPING: dict[str, dict[str, str]] = {
    "ssd_person": {
        "pers_person_id": _IDS,
        "pers_legacy_id": _IDS,
        "pers_upn": _IDS,
        "pers_common_child_id": _IDS,
        "pers_single_unique_id": _IDS,
        "pers_forename": "child.names[].given",
        "pers_surname": "child.names[].family",
        "pers_sex": "child.sex",
        "pers_gender": "child.gender|child.sex",
        "pers_ethnicity": "child.ethnicity",
        "pers_dob": "child.birth_date",
        "pers_expected_dob": "child.expected_birth_date",
        "pers_death_date": "child.death_date",
        "pers_upn_unknown": "child.upn_unknown_reason",
        "pers_nationality": "child.nationality",
    },
    "ssd_linked_identifiers": {
        "link_person_id": _IDS,
        "link_identifier_type": "child.identifiers[].system",
        "link_identifier_value": _IDS,
    },
    "ssd_address": {
        "addr_table_id": "child.addresses[].id",
        "addr_person_id": _IDS,
        "addr_address_type": "child.addresses[].confidential",
        "addr_address_start_date": "child.addresses[].start_date",
        "addr_address_end_date": "child.addresses[].end_date",
        "addr_address_postcode": "child.addresses[].postcode|child.addresses[].confidential",
        "addr_address_json": "child.addresses[]",
    },
    "ssd_family": {
        "fami_person_id": _IDS,
        "fami_family_id": "related_people[].notes~",
    },
    "ssd_involvements": {
        "invo_person_id": _IDS,
        "invo_professional_id": "professionals[].id",
        "invo_professional_role_id": "professionals[].role",
        "invo_professional_team": "professionals[].organisation",
        "invo_involvement_start_date": "professionals[].start_date",
        "invo_involvement_end_date": "professionals[].end_date",
    },
    "ssd_professionals": {
        "prof_professional_id": "professionals[].id",
        "prof_professional_name": "professionals[].name",
        "prof_professional_job_title": "professionals[].role",
        "prof_professional_department": "professionals[].organisation",
    },
    "ssd_disability": {
        "disa_person_id": _IDS,
        "disa_disability_code": "child.disabilities[]",
    },
    "ssd_immigration_status": {
        "immi_person_id": _IDS,
        "immi_immigration_status": "child.immigration_status.status",
        "immi_immigration_status_start_date": "child.immigration_status.start_date",
        "immi_immigration_status_end_date": "child.immigration_status.end_date",
    },
    "ssd_mother": {
        "moth_person_id": f"{_IDS}|related_people[].id",
        "moth_childs_person_id": f"{_IDS}|related_people[].id",
        "moth_childs_dob": "child.birth_date|related_people[].birth_date",
    },
    "ssd_cin_episodes": {
        "cine_person_id": _IDS,
        "cine_referral_id": _EPISODE_ID,
        "cine_referral_date": "episodes[].referral_date",
        "cine_referral_source_code": "episodes[].referral_source",
        "cine_cin_primary_need_code": "episodes[].primary_need",
        "cine_referral_nfa": "episodes[].referral_no_further_action",
        "cine_close_reason": "episodes[].closure_reason",
        "cine_close_date": "episodes[].closure_date",
    },
    "ssd_cin_assessments": {
        "cina_person_id": _IDS,
        "cina_assessment_id": "episodes[].assessments[].id",
        "cina_referral_id": _EPISODE_ID,
        "cina_assessment_start_date": "episodes[].assessments[].start_date",
        "cina_assessment_auth_date": "episodes[].assessments[].authorisation_date",
    },
    "ssd_assessment_factors": {
        "cinf_assessment_id": "episodes[].assessments[].id",
        "cinf_assessment_factors_json": "episodes[].assessments[].factors[]",
    },
    "ssd_cin_plans": {
        "cinp_person_id": _IDS,
        "cinp_cin_plan_id": "episodes[].cin_plans[].id",
        "cinp_referral_id": _EPISODE_ID,
        "cinp_cin_plan_start_date": "episodes[].cin_plans[].start_date",
        "cinp_cin_plan_end_date": "episodes[].cin_plans[].end_date",
    },
    "ssd_s47_enquiry": {
        "s47e_person_id": _IDS,
        "s47e_s47_enquiry_id": "episodes[].section47_enquiries[].id",
        "s47e_referral_id": _EPISODE_ID,
        "s47e_s47_start_date": "episodes[].section47_enquiries[].start_date",
        "s47e_s47_end_date": "episodes[].section47_enquiries[].end_date",
        "s47e_s47_nfa": "episodes[].section47_enquiries[].initial_conference_not_required",
    },
    "ssd_initial_cp_conference": {
        "icpc_person_id": _IDS,
        "icpc_icpc_id": "episodes[].conferences[].id",
        "icpc_referral_id": _EPISODE_ID,
        "icpc_s47_enquiry_id": "episodes[].section47_enquiries[].id",
        "icpc_cp_plan_id": _PLAN_ID,
        "icpc_icpc_transfer_in": "episodes[].conferences[].type",
        "icpc_icpc_date": "episodes[].conferences[].date",
        "icpc_icpc_target_date": "episodes[].conferences[].target_date",
        "icpc_icpc_outcome_cp_flag": "episodes[].conferences[].led_to_cp_plan",
    },
    "ssd_cp_plans": {
        "cppl_person_id": _IDS,
        "cppl_cp_plan_id": _PLAN_ID,
        "cppl_referral_id": _EPISODE_ID,
        "cppl_icpc_id": "episodes[].conferences[].id",
        "cppl_cp_plan_start_date": "episodes[].cp_plans[].start_date",
        "cppl_cp_plan_end_date": "episodes[].cp_plans[].end_date",
        "cppl_cp_plan_ola": "episodes[].cp_plans[].other_local_authority",
        "cppl_cp_plan_initial_category": "episodes[].cp_plans[].initial_category",
        "cppl_cp_plan_latest_category": "episodes[].cp_plans[].latest_category",
    },
    "ssd_cp_reviews": {
        "cppr_person_id": _IDS,
        "cppr_cp_plan_id": _PLAN_ID,
        "cppr_cp_review_date": f"episodes[].cp_plans[].review_dates[]|{_CHRONOLOGY_DATE}",
    },
    "ssd_cp_visits": {
        "cppv_person_id": _IDS,
        "cppv_cp_plan_id": _PLAN_ID,
        "cppv_cp_visit_date": f"episodes[].cp_plans[].visits[].date|{_CHRONOLOGY_DATE}",
        "cppv_cp_visit_seen": f"episodes[].cp_plans[].visits[].seen|{_DETAILS}",
        "cppv_cp_visit_seen_alone": f"episodes[].cp_plans[].visits[].seen_alone|{_DETAILS}",
        "cppv_cp_visit_bedroom": _DETAILS,
    },
    "ssd_cla_episodes": {
        "clae_person_id": _IDS,
        "clae_cla_episode_id": "episodes[].looked_after_episodes[].id",
        "clae_referral_id": _EPISODE_ID,
        "clae_cla_placement_id": "episodes[].looked_after_episodes[].placement.id",
        "clae_cla_episode_start_date": "episodes[].looked_after_episodes[].start_date",
        "clae_cla_episode_start_reason": "episodes[].looked_after_episodes[].reason_new_episode",
        "clae_cla_primary_need_code": "episodes[].looked_after_episodes[].category_of_need",
        "clae_cla_episode_ceased_date": "episodes[].looked_after_episodes[].end_date",
        "clae_cla_episode_ceased_reason": (
            "episodes[].looked_after_episodes[].reason_episode_ceased"
        ),
    },
    "ssd_cla_placement": {
        "clap_person_id": _IDS,
        "clap_cla_placement_id": "episodes[].looked_after_episodes[].placement.id",
        "clap_cla_placement_start_date": "episodes[].looked_after_episodes[].placement.start_date",
        "clap_cla_placement_end_date": "episodes[].looked_after_episodes[].placement.end_date",
        "clap_cla_placement_type": "episodes[].looked_after_episodes[].placement.placement_type",
        "clap_cla_placement_provider": "episodes[].looked_after_episodes[].placement.provider",
        "clap_cla_placement_postcode": "episodes[].looked_after_episodes[].placement.postcode",
        "clap_cla_placement_urn": "episodes[].looked_after_episodes[].placement.urn",
        "clap_cla_placement_change_reason": (
            "episodes[].looked_after_episodes[].placement.change_reason"
        ),
    },
    "ssd_legal_status": {
        "lega_person_id": _IDS,
        "lega_legal_status": "episodes[].looked_after_episodes[].legal_status",
    },
    "ssd_cla_reviews": {
        "clar_person_id": _IDS,
        "clar_cla_review_date": _CHRONOLOGY_DATE,
        "clar_cla_review_cancelled": _DETAILS,
        "clar_cla_review_participation": _DETAILS,
    },
    "ssd_missing": {
        "miss_person_id": _IDS,
        "miss_missing_episode_start_date": "missing_episodes[].start_date",
        "miss_missing_episode_end_date": "missing_episodes[].end_date",
        "miss_missing_episode_type": "missing_episodes[].kind",
        "miss_missing_rhi_offered": "missing_episodes[].return_interview_offered",
        "miss_missing_rhi_accepted": "missing_episodes[].return_interview_accepted",
    },
    "ssd_cin_visits": {
        "cinv_person_id": _IDS,
        "cinv_cin_visit_date": _CHRONOLOGY_DATE,
        "cinv_cin_visit_seen": _DETAILS,
        "cinv_cin_visit_seen_alone": _DETAILS,
        "cinv_cin_visit_bedroom": _DETAILS,
    },
    "ssd_contacts": {
        "cont_person_id": _IDS,
        "cont_contact_date": _CHRONOLOGY_DATE,
        "cont_contact_source_code": "chronology[].source~",
        "cont_contact_source_desc": "chronology[].source~",
        "cont_contact_outcome_json": _DETAILS,
    },
    "ssd_early_help_episodes": {
        "earl_person_id": _IDS,
        "earl_episode_start_date": _CHRONOLOGY_DATE,
        "earl_episode_end_date": _CHRONOLOGY_DATE,
        "earl_episode_reason": _DETAILS,
        "earl_episode_end_reason": _DETAILS,
        "earl_episode_organisation": _DETAILS,
    },
    "ssd_pre_proceedings": {
        "prep_person_id": _IDS,
        "prep_pre_pro_decision_date": _CHRONOLOGY_DATE,
        "prep_initial_pre_pro_meeting_date": _CHRONOLOGY_DATE,
        "prep_pre_pro_letter_date": _CHRONOLOGY_DATE,
        "prep_care_pro_letter_date": _CHRONOLOGY_DATE,
        "prep_agree_stepdown_issue_date": _CHRONOLOGY_DATE,
        "prep_pre_pro_outcome": _DETAILS,
        "prep_legal_gateway_outcome": _DETAILS,
    },
    "ssd_care_leavers": {
        "clea_person_id": _IDS,
        "clea_care_leaver_latest_contact": _CHRONOLOGY_DATE,
        "clea_pathway_plan_review_date": _CHRONOLOGY_DATE,
        "clea_care_leaver_eligibility": _DETAILS,
        "clea_care_leaver_in_touch": _DETAILS,
        "clea_care_leaver_accommodation": _DETAILS,
        "clea_care_leaver_accom_suitable": _DETAILS,
        "clea_care_leaver_activity": _DETAILS,
        "clea_care_leaver_personal_advisor": "professionals[].name",
    },
    "ssd_permanence": {
        "perm_person_id": _IDS,
        "perm_adm_decision_date": _CHRONOLOGY_DATE,
        "perm_ffa_cp_decision_date": _CHRONOLOGY_DATE,
        "perm_placement_order_date": _CHRONOLOGY_DATE,
        "perm_placed_for_adoption_date": _CHRONOLOGY_DATE,
        "perm_matched_date": _CHRONOLOGY_DATE,
        "perm_placed_ffa_cp_date": _CHRONOLOGY_DATE,
        "perm_decision_reversed_date": _CHRONOLOGY_DATE,
        "perm_placed_foster_carer_date": _CHRONOLOGY_DATE,
        "perm_permanence_order_date": _CHRONOLOGY_DATE,
        "perm_decision_reversed_reason": _DETAILS,
        "perm_permanence_order_type": "chronology[].summary~",
    },
    "ssd_voice_of_child": {"voch_person_id": _IDS},
}
"""Where each mapped column lands, as a path into the record (``[]`` any item, ``|`` either
path, a trailing ``~`` inside free text). Columns absent here are always kept unmapped."""

ADDRESS_JSON_MAPPING: dict[str, str] = {
    "ROOM": "child.addresses[].lines[]~",
    "FLOOR": "child.addresses[].lines[]~",
    "FLAT": "child.addresses[].lines[]~",
    "BUILDING": "child.addresses[].lines[]~",
    "HOUSE": "child.addresses[].lines[]~",
    "STREET": "child.addresses[].lines[]~",
    "TOWN": "child.addresses[].town",
    "UPRN": "child.addresses[].uprn",
    "POSTCODE": "child.addresses[].postcode|child.addresses[].confidential",
}
"""Where each addr_address_json part lands; other parts (EASTING, NORTHING) are kept."""


def _table_name(file_name: str) -> str:
    """The table a file holds, from its name: lower case, no extension, schema or view suffix."""
    stem = file_name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = stem.rsplit(".", 1)[-1].strip().lower()
    if stem not in TABLES and stem.endswith("_v") and stem[:-2] in TABLES:
        return stem[:-2]
    return stem


# --- files and rows -----------------------------------------------------------------------


@dataclass(slots=True)
class _File:
    """A file of the source as read: its table, its columns (current names) and their headers."""

    index: int
    name: str
    table: _Table
    columns: list[str]
    headers: dict[str, str]
    positions: dict[str, int]
    extras: frozenset[str]
    flags: frozenset[str] = frozenset()

    def column_at(self, at: int) -> str:
        """The column name at a position, made up for cells beyond the header."""
        return self.columns[at] if at < len(self.columns) else f"(column {at + 1})"

    def header(self, column: str) -> str:
        """The column's name as the file's header row spells it."""
        return self.headers.get(column, column)


class _Row:
    """One row of one file, remembering which of its values have been mapped."""

    __slots__ = ("file", "number", "reasons", "taken", "values", "via")

    def __init__(self, file: _File, number: int, cells: list[str], via: str | None) -> None:
        self.file = file
        self.number = number
        self.via = via
        self.values = {file.column_at(i): cell for i, cell in enumerate(cells) if cell}
        self.taken: set[str] = set()
        self.reasons: dict[str, str] = {}

    @property
    def table(self) -> str:
        """The table the row belongs to."""
        return self.file.table.name

    def get(self, column: str) -> str | None:
        """The value of a column, or None when blank or absent, without mapping it."""
        return self.values.get(column)

    def take(self, column: str) -> str | None:
        """The value of a column, marked as mapped."""
        value = self.values.get(column)
        if value is not None:
            self.taken.add(column)
        return value

    def release(self, column: str, reason: str) -> None:
        """Leave a value unmapped after all, saying why."""
        self.taken.discard(column)
        self.reasons[column] = reason

    def at(self, column: str, element: str | None = None) -> SourceLocation:
        """The location of one cell (or of a part of a JSON cell)."""
        return SourceLocation(
            file=self.file.name, row=self.number, column=self.file.header(column), element=element
        )

    def where(self, column: str, element: str | None = None) -> Where:
        """The location of one cell, made only if a problem needs it."""
        return lambda: self.at(column, element)

    def leftovers(self) -> Iterator[tuple[str, str, str]]:
        """Every value not mapped: column, value and why it is kept."""
        table = self.file.table
        for column, value in self.values.items():
            if column in self.taken:
                continue
            reason = self.reasons.get(column)
            if reason is None:
                if not table.read:
                    reason = f"table {table.name} is not read by the SSD adapter"
                elif column in table.known:
                    reason = _NO_FIELD
                else:
                    reason = _NOT_SSD
            yield column, value, reason

    def filled(self) -> str:
        """The row's values as text, for a problem about the whole row."""
        return ", ".join(f"{self.file.header(c)}={v!r}" for c, v in self.values.items())


# --- the scratch store ----------------------------------------------------------------------


class _Store:
    """The scratch SQLite file: every row tagged with its person, and the ids rows link by."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        # A private scratch file: durability is worthless, speed and bounded memory are not.
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -16000;
            CREATE TABLE rows (
                seq INTEGER PRIMARY KEY,
                tbl TEXT NOT NULL,
                file INTEGER NOT NULL,
                rownum INTEGER NOT NULL,
                person TEXT,
                via TEXT,
                cells TEXT NOT NULL
            );
            CREATE TABLE links (tbl TEXT, col TEXT, value TEXT, seq INTEGER);
            CREATE TABLE pending (seq INTEGER, rank INTEGER, ptbl TEXT, pcol TEXT, value TEXT);
            """
        )
        self.seq = 0
        self.rows: list[tuple[int, str, int, int, str | None, str | None, str]] = []
        self.links: list[tuple[str, str, str, int]] = []
        self.pending: list[tuple[int, int, str, str, str]] = []

    def add(self, file: _File, rownum: int, cells: list[str]) -> None:
        """Queue one row, once per person it belongs to."""
        table = file.table
        text = json.dumps(cells, ensure_ascii=False, separators=(",", ":"))

        def cell(column: str) -> str:
            at = file.positions.get(column)
            return cells[at] if at is not None and at < len(cells) else ""

        people = [(c, cell(c)) for c in table.person if cell(c)]
        first = self.seq + 1
        seen: set[str] = set()
        for column, person in people:
            if person in seen:
                continue
            seen.add(person)
            self.seq += 1
            self.rows.append((self.seq, table.name, file.index, rownum, person, column, text))
        if not people:
            self.seq += 1
            self.rows.append((self.seq, table.name, file.index, rownum, None, None, text))
            for rank, (own, ptbl, pcol) in enumerate(table.parents):
                if value := cell(own):
                    self.pending.append((self.seq, rank, ptbl, pcol, value))
        for key in table.keys:
            if value := cell(key):
                self.links.append((table.name, key, value, first))
        if len(self.rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows."""
        if self.rows:
            self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)", self.rows)
            self.rows.clear()
        if self.links:
            self.db.executemany("INSERT INTO links VALUES (?, ?, ?, ?)", self.links)
            self.links.clear()
        if self.pending:
            self.db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?, ?)", self.pending)
            self.pending.clear()

    def mark(self) -> int:
        """The sequence number before the next row (to discard a file's rows later)."""
        return self.seq

    def discard(self, after: int) -> None:
        """Forget every row stored after a mark (the file is being read again)."""
        self.rows.clear()
        self.links.clear()
        self.pending.clear()
        for table in ("rows", "links", "pending"):
            self.db.execute(f"DELETE FROM {table} WHERE seq > ?", (after,))  # noqa: S608
        self.seq = after

    def prepare(self) -> None:
        """Index the rows and give rows without a person the person of the row they point at."""
        self.flush()
        self.db.executescript(
            """
            CREATE INDEX rows_person ON rows (person, seq);
            CREATE INDEX rows_table ON rows (tbl, person);
            CREATE INDEX links_value ON links (tbl, col, value);
            CREATE INDEX pending_seq ON pending (seq);
            """
        )
        # Twice: a factor row reaches its person through an assessment that may itself have
        # reached its person only through its referral.
        for _ in range(2):
            self.db.execute(
                """
                UPDATE rows SET person = (
                    SELECT r.person FROM pending p
                    JOIN links l ON l.tbl = p.ptbl AND l.col = p.pcol AND l.value = p.value
                    JOIN rows r ON r.seq = l.seq
                    WHERE p.seq = rows.seq AND r.person IS NOT NULL
                    ORDER BY p.rank, r.seq LIMIT 1)
                WHERE person IS NULL AND seq IN (SELECT seq FROM pending)
                """
            )

    def people(self) -> Iterator[tuple[int, str | None, int, int, str]]:
        """Each ssd_person row in file order: sequence, person id, file, row number, cells."""
        cursor = self.db.execute(
            "SELECT seq, person, file, rownum, cells FROM rows WHERE tbl = 'ssd_person' "
            "ORDER BY seq"
        )
        for seq, person, file, rownum, cells in cursor:
            yield int(seq), person, int(file), int(rownum), cells

    def has_people(self) -> bool:
        """Any ssd_person data row stored."""
        found = self.db.execute("SELECT 1 FROM rows WHERE tbl = 'ssd_person' LIMIT 1").fetchone()
        return found is not None

    def first(self, person: str) -> int:
        """The sequence number of a person's first ssd_person row."""
        found = self.db.execute(
            "SELECT MIN(seq) FROM rows WHERE tbl = 'ssd_person' AND person = ?", (person,)
        ).fetchone()
        return int(found[0])

    def rows_of(self, person: str) -> list[tuple[int, int, str | None, str]]:
        """Every row of one person: file, row number, the column naming them, cells."""
        return [
            (int(f), int(n), via, cells)
            for f, n, via, cells in self.db.execute(
                "SELECT file, rownum, via, cells FROM rows WHERE person = ? ORDER BY seq",
                (person,),
            )
        ]

    def linked(self, table: str, column: str, value: str) -> list[tuple[int, int, str]]:
        """The rows a link id names (e.g. a professional by id): file, row number, cells."""
        return [
            (int(f), int(n), cells)
            for f, n, cells in self.db.execute(
                "SELECT r.file, r.rownum, r.cells FROM links l JOIN rows r ON r.seq = l.seq "
                "WHERE l.tbl = ? AND l.col = ? AND l.value = ? ORDER BY l.seq",
                (table, column, value),
            )
        ]

    def sharing_upn(self, upn: str) -> int:
        """How many people ssd_person gives this UPN."""
        found = self.db.execute(
            "SELECT COUNT(DISTINCT r.person) FROM links l JOIN rows r ON r.seq = l.seq "
            "WHERE l.tbl = 'ssd_person' AND l.col = 'pers_upn' AND l.value = ?",
            (upn,),
        ).fetchone()
        return int(found[0])

    def person_row(self, person: str) -> tuple[int, int, str] | None:
        """Someone's first ssd_person row (file, row number, cells), if they have one."""
        found = self.db.execute(
            "SELECT file, rownum, cells FROM rows WHERE tbl = 'ssd_person' AND person = ? "
            "ORDER BY seq LIMIT 1",
            (person,),
        ).fetchone()
        return (int(found[0]), int(found[1]), found[2]) if found else None

    def family(self, family: str, besides: str) -> list[str]:
        """Other people with the same ssd_family id (one more than the most carried)."""
        return [
            str(p)
            for (p,) in self.db.execute(
                "SELECT DISTINCT r.person FROM links l JOIN rows r ON r.seq = l.seq "
                "WHERE l.tbl = 'ssd_family' AND l.col = 'fami_family_id' AND l.value = ? "
                "AND r.person IS NOT NULL AND r.person <> ? ORDER BY r.person LIMIT ?",
                (family, besides, _MAX_FAMILY + 1),
            )
        ]

    def orphans(self) -> Iterator[tuple[int, int, str | None, str]]:
        """Rows whose person (by any of its person columns) is not in ssd_person."""
        cursor = self.db.execute(
            """
            SELECT file, rownum, person, cells,
                   person IS NOT NULL AND EXISTS (
                       SELECT 1 FROM rows p WHERE p.tbl = 'ssd_person' AND p.person = r.person)
            FROM rows r WHERE tbl NOT IN ('ssd_person', 'ssd_professionals') ORDER BY seq
            """
        )
        for (file, rownum), copies in groupby(cursor, key=lambda c: (int(c[0]), int(c[1]))):
            found = list(copies)
            if not any(c[4] for c in found):
                yield file, rownum, found[0][2], found[0][3]

    def professionals_not_involved(self) -> int:
        """How many ssd_professionals rows no ssd_involvements row names."""
        total = self.db.execute(
            "SELECT COUNT(*) FROM rows WHERE tbl = 'ssd_professionals'"
        ).fetchone()[0]
        involved = self.db.execute(
            """
            SELECT COUNT(DISTINCT p.seq) FROM links p
            WHERE p.tbl = 'ssd_professionals' AND EXISTS (
                SELECT 1 FROM links i WHERE i.tbl = 'ssd_involvements'
                AND i.col = 'invo_professional_id' AND i.value = p.value)
            """
        ).fetchone()[0]
        return int(total) - int(involved)

    def close(self) -> None:
        """Close the scratch file."""
        self.db.close()


# --- one child ----------------------------------------------------------------------------


def _new_episode(episode_id: str | None) -> dict[str, Any]:
    return {
        "id": episode_id,
        "assessments": [],
        "cin_plans": [],
        "section47_enquiries": [],
        "conferences": [],
        "cp_plans": [],
        "looked_after_episodes": [],
    }


def _within(when: dt.date, start: Any, end: Any) -> bool:
    return isinstance(start, dt.date) and start <= when and (end is None or when <= end)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


class _Child:
    """Gathers the rows of one child into the plain data of a canonical record."""

    def __init__(
        self,
        person_id: str,
        rows: list[_Row],
        store: _Store,
        files: list[_File],
        authority: str | None,
        problems: list[Problem],
    ) -> None:
        self.person_id = person_id
        self.rows = rows
        self.store = store
        self.files = files
        self.authority = authority
        self.problems = problems
        self.v = Values(problems)
        self.by_table: dict[str, list[_Row]] = {}
        for row in rows:
            self.by_table.setdefault(row.table, []).append(row)
            for column in row.file.table.person:
                if row.get(column) == person_id:
                    row.take(column)
        self.borrowed: list[_Row] = []
        self.child: dict[str, Any] = {
            "identifiers": [],
            "names": [],
            "disabilities": [],
            "addresses": [],
        }
        self.episodes: list[dict[str, Any]] = []
        self.episode_by_id: dict[str, dict[str, Any]] = {}
        self.unlinked: dict[str, Any] | None = None
        self.plans: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.enquiries: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.conferences: set[str] = set()
        self.alerts: list[dict[str, Any]] = []
        self.missing: list[dict[str, Any]] = []
        self.related: list[dict[str, Any]] = []
        self.professionals: list[dict[str, Any]] = []
        self.chronology: list[dict[str, Any]] = []

    def of(self, table: str) -> list[_Row]:
        return self.by_table.get(table, [])

    # -- reading values --------------------------------------------------------------------

    def warn(self, code: str, message: str, fix: str, where: Where) -> None:
        self.v.report(code, message, fix, where, WARNING)

    def date(self, row: _Row, column: str) -> dt.date | None:
        return self.v.date(row.take(column), column, row.where(column))

    def flag(self, row: _Row, column: str) -> bool | None:
        return self.v.boolean(row.take(column), column, row.where(column))

    def code(
        self,
        row: _Row,
        column: str,
        allowed: frozenset[str],
        aliases: Mapping[str, str] | None = None,
        severity: Severity = Severity.ERROR,
    ) -> str | None:
        return self.v.code(
            row.take(column), column, row.where(column), allowed, aliases, severity=severity
        )

    def text(self, row: _Row, column: str, limit: int = _TEXT) -> str | None:
        value = row.get(column)
        if value is None:
            return None
        if len(value) > limit:
            row.release(column, "longer than the canonical record allows")
            self.warn(
                "value-too-long",
                f"{column} is {len(value)} characters long; the record takes at most {limit}.",
                "Shorten the value in the source system; it is kept unmapped meanwhile.",
                row.where(column),
            )
            return None
        return row.take(column)

    def local_id(self, row: _Row, column: str) -> str | None:
        return self.text(row, column, _LOCAL_ID)

    def room(
        self, items: list[Any], limit: int, row: _Row, what: str, *, whole_row: bool = True
    ) -> bool:
        """Whether a list of the record has room for one more item; if not, say so."""
        if len(items) < limit:
            return True
        if whole_row:
            for column in list(row.taken):
                if row.get(column) != self.person_id:
                    row.release(column, f"the record holds at most {limit} {what}")
        self.warn(
            "too-many",
            f"The child has more than {limit} {what}; the record holds {limit}, the rest of "
            "this row is kept unmapped.",
            "Check the source for duplicated rows.",
            row.where(next(iter(row.values), "")),
        )
        return False

    def details(self, row: _Row, parts: list[tuple[str, str, str]]) -> str | None:
        """Free text built from several columns: (label, column, kind 'text' or 'flag')."""
        said = []
        for label, column, kind in parts:
            if kind == "flag":
                value = self.flag(row, column)
                if value is not None:
                    said.append(f"{label}: {_yes_no(value)}.")
            else:
                text = self.text(row, column)
                if text is not None:
                    said.append(f"{label}: {text}.")
        return " ".join(said) or None

    def event(
        self,
        when: dt.date,
        category: str,
        summary: str,
        row: _Row,
        details: str | None = None,
        source: str | None = None,
    ) -> bool:
        if not self.room(self.chronology, 20_000, row, "chronology entries"):
            return False
        entry: dict[str, Any] = {"date": when, "category": category, "summary": summary}
        if details:
            entry["details"] = details
        if source:
            entry["source"] = source
        self.chronology.append(entry)
        return True

    def link_missing(self, row: _Row, column: str, what: str) -> None:
        value = row.get(column)
        row.release(column, f"no {what} of this child has this id")
        self.warn(
            "link-not-found",
            f"{column} {value!r} names no {what} of this child.",
            f"Check the id, or include the {what} in the export.",
            row.where(column),
        )

    # -- the record ------------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        people = self.of("ssd_person")
        self.person(people[0])
        for extra in people[1:]:
            self.duplicate(extra, people[0])
        self.linked_identifiers()
        self.addresses()
        self.disabilities()
        self.immigration()
        self.cin_episodes()
        self.assessments()
        self.cin_plans()
        self.enquiries_()
        self.cp_plans()
        self.initial_conferences()
        self.plan_conferences()
        self.cp_reviews()
        self.cp_visits()
        self.looked_after()
        self.missing_episodes()
        self.involvements()
        self.mothers()
        self.families()
        self.events()
        for row in (*self.rows, *self.borrowed):
            for column, value, reason in row.leftovers():
                self.v.keep(row.file.header(column), value, row.at(column), reason)
        self.chronology.sort(key=lambda e: e["date"])
        provenance: dict[str, Any] = {"source_authority": self.authority or "unknown"}
        return {
            "provenance": provenance,
            "child": self.child,
            "alerts": self.alerts,
            "missing_episodes": self.missing,
            "related_people": self.related,
            "professionals": self.professionals,
            "episodes": self.episodes,
            "chronology": self.chronology,
            "unmapped": self.v.unmapped,
        }

    # -- the child -------------------------------------------------------------------------

    def identifier(self, row: _Row, column: str, system: str, issuer: str | None = None) -> None:
        value = row.get(column)
        if value is None:
            return
        ids: list[dict[str, Any]] = self.child["identifiers"]
        key = compact(value)
        if any(i["system"] == system and compact(i["value"]) == key for i in ids):
            row.take(column)
            return
        if not self.room(ids, 50, row, "identifiers", whole_row=False):
            row.release(column, "the record holds at most 50 identifiers")
            return
        if self.text(row, column) is None:
            return
        ident: dict[str, Any] = {"system": system, "value": value}
        if issuer:
            ident["issuer"] = issuer
        ids.append(ident)

    def person(self, row: _Row) -> None:
        child = self.child
        issuer = self.authority
        child["identifiers"].append(
            {"system": IdentifierSystem.LA_CHILD_ID.value, "value": self.person_id}
            | ({"issuer": issuer} if issuer else {})
        )
        self.identifier(row, "pers_legacy_id", IdentifierSystem.LEGACY.value, issuer)
        self.identifier(row, "pers_upn", IdentifierSystem.UPN.value)
        upn = row.get("pers_upn")
        if upn is not None and (sharing := self.store.sharing_upn(upn)) > 1:
            self.v.report(
                "upn-duplicate",
                f"UPN {upn!r} is given to {sharing} people in ssd_person.",
                "Check which child the UPN belongs to; a UPN identifies one pupil.",
                row.where("pers_upn"),
                dfe_rule="1520",
            )
        self.identifier(row, "pers_common_child_id", IdentifierSystem.NHS_NUMBER.value)
        single = row.get("pers_single_unique_id")
        if single is not None:
            number = compact(single)
            is_nhs = len(number) == 10 and number.isdigit()
            system = IdentifierSystem.NHS_NUMBER if is_nhs else IdentifierSystem.OTHER
            self.identifier(row, "pers_single_unique_id", system.value)
        given = self.text(row, "pers_forename")
        family = self.text(row, "pers_surname")
        if given or family:
            child["names"].append({"given": given, "family": family})
        self.sex_and_gender(row)
        child["ethnicity"] = self.code(row, "pers_ethnicity", ETHNICITIES, ETHNICITY_ALIASES)
        child["birth_date"] = self.date(row, "pers_dob")
        child["expected_birth_date"] = self.date(row, "pers_expected_dob")
        child["death_date"] = self.date(row, "pers_death_date")
        child["upn_unknown_reason"] = self.code(
            row, "pers_upn_unknown", UPN_UNKNOWN, severity=WARNING
        )
        child["nationality"] = self.text(row, "pers_nationality")

    def sex_and_gender(self, row: _Row) -> None:
        sex = self.code(row, "pers_sex", SEXES, SEX_CODES)
        gender = row.get("pers_gender")
        if gender is not None:
            as_sex = SEX_CODES.get(gender.upper(), gender.upper())
            if as_sex not in SEXES:
                self.child["gender"] = self.text(row, "pers_gender")
            elif sex is None or as_sex == sex:
                sex = as_sex
                row.take("pers_gender")
            else:
                row.release("pers_gender", "a sex code that differs from pers_sex")
                self.warn(
                    "sex-gender-differ",
                    f"pers_gender {gender!r} is a sex code other than pers_sex; the record keeps "
                    "pers_sex and carries pers_gender unmapped.",
                    "Give the child's sex in pers_sex and their gender, in words, in pers_gender.",
                    row.where("pers_gender"),
                )
        self.child["sex"] = sex

    def duplicate(self, row: _Row, first: _Row) -> None:
        self.v.report(
            "person-duplicate",
            f"pers_person_id {self.person_id!r} has more than one ssd_person row "
            f"(rows {first.number} and {row.number} of {row.file.name}).",
            "Give each person one ssd_person row; merge the duplicated records in the source "
            "system.",
            row.where("pers_person_id"),
            dfe_rule="8510",
        )
        for column, value in list(row.values.items()):
            if first.get(column) == value:
                row.take(column)
            else:
                row.release(column, _DUPLICATE_PERSON)

    def linked_identifiers(self) -> None:
        for row in self.of("ssd_linked_identifiers"):
            if row.get("link_identifier_value") is None:
                continue
            kind = row.get("link_identifier_type")
            system = LINK_TYPES.get(kind.upper()) if kind else None
            if system is None:
                # The record has no system for it; the type stays with it among the unmapped.
                self.identifier(row, "link_identifier_value", IdentifierSystem.OTHER.value)
                continue
            row.take("link_identifier_type")
            issuer = self.authority if system == IdentifierSystem.LEGACY.value else None
            self.identifier(row, "link_identifier_value", system, issuer)

    def addresses(self) -> None:
        confidential_any = False
        for row in self.of("ssd_address"):
            if not self.room(self.child["addresses"], 200, row, "addresses"):
                continue
            address: dict[str, Any] = {"lines": []}
            address["id"] = self.local_id(row, "addr_table_id")
            address["start_date"] = self.date(row, "addr_address_start_date")
            address["end_date"] = self.date(row, "addr_address_end_date")
            confidential = False
            postcode = row.get("addr_address_postcode")
            if postcode is not None:
                if postcode.upper() == "CON":
                    confidential = True
                    row.take("addr_address_postcode")
                else:
                    address["postcode"] = self.postcode(row, "addr_address_postcode")
            kind = row.get("addr_address_type")
            if kind is not None and _CONFIDENTIAL_TYPE.search(kind):
                confidential = True
                row.take("addr_address_type")
            for column in row.file.flags:
                marked = row.get(column)
                if marked is not None and parse_bool(marked) is not None:
                    confidential = confidential or bool(parse_bool(marked))
                    row.take(column)
            confidential = self.address_json(row, address) or confidential
            address["confidential"] = confidential
            confidential_any = confidential_any or confidential
            self.child["addresses"].append(address)
        if confidential_any:
            self.alerts.append(
                {
                    "type": "do_not_disclose_address",
                    "severity": "high",
                    "summary": "The child has a confidential address: do not disclose it.",
                }
            )

    def postcode(self, row: _Row, column: str) -> str | None:
        value = row.get(column)
        if value is None:
            return None
        tidy = normalise_postcode(value) or normalise_partial_postcode(value)
        if tidy is None:
            row.release(column, "not a UK postcode")
            self.warn(
                "postcode-invalid",
                f"{column} {value!r} is not a UK postcode.",
                "Correct the postcode in the source system.",
                row.where(column),
            )
            return None
        row.take(column)
        return tidy

    def address_json(self, row: _Row, address: dict[str, Any]) -> bool:
        """Read addr_address_json into the address; True when it marks it confidential."""
        column = "addr_address_json"
        raw = row.get(column)
        if raw is None:
            return False
        try:
            parts = json.loads(raw)
        except ValueError:
            parts = None
        if isinstance(parts, list) and len(parts) == 1:
            parts = parts[0]  # FOR JSON PATH without WITHOUT_ARRAY_WRAPPER
        if not isinstance(parts, dict):
            row.release(column, "not a JSON object")
            self.warn(
                "address-json-invalid",
                f"{column} is not a JSON object of address parts.",
                "Export the address as the SSD specifies: "
                '{"ROOM": ..., "FLAT": ..., "HOUSE": ..., "STREET": ..., "TOWN": ..., ...}.',
                row.where(column),
            )
            return False
        row.take(column)
        found: dict[str, tuple[str, str]] = {}
        for key, value in parts.items():
            text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
            text = _clean(text)
            if text:
                found[str(key).upper()] = (str(key), text)

        def keep(key: str, reason: str) -> None:
            name, text = found[key]
            self.v.keep(name, text, row.at(column, f"/{name}"), reason)

        fitting = {}
        for key in ("ROOM", "FLOOR", "FLAT", "BUILDING", "HOUSE", "STREET"):
            if key in found and len(found[key][1]) > _TEXT:
                keep(key, "longer than the canonical record allows")
            elif key in found:
                fitting[key] = found[key][1]
        lines = [fitting[k] for k in ("ROOM", "FLOOR", "FLAT", "BUILDING") if k in fitting]
        street = [fitting[k] for k in ("HOUSE", "STREET") if k in fitting]
        if len(" ".join(street)) <= _TEXT:
            street = [" ".join(street)] if street else []
        address["lines"].extend(lines + street)
        if "TOWN" in found:
            if len(found["TOWN"][1]) <= _TEXT:
                address["town"] = found["TOWN"][1]
            else:
                keep("TOWN", "longer than the canonical record allows")
        if "UPRN" in found:
            if _UPRN.match(found["UPRN"][1]):
                address["uprn"] = found["UPRN"][1]
            else:
                keep("UPRN", "not a UPRN (1-12 digits)")
                self.warn(
                    "uprn-invalid",
                    f"UPRN {found['UPRN'][1]!r} in {column} is not 1-12 digits.",
                    "Correct the UPRN in the source system.",
                    row.where(column, f"/{found['UPRN'][0]}"),
                )
        confidential = False
        if "POSTCODE" in found:
            text = found["POSTCODE"][1]
            tidy = normalise_postcode(text) or normalise_partial_postcode(text)
            if text.upper() == "CON":
                confidential = True
            elif tidy is not None and address.get("postcode") in (None, tidy):
                address["postcode"] = tidy
            else:
                keep("POSTCODE", "differs from addr_address_postcode or is not a postcode")
        for key in [k for k in found if k not in ADDRESS_JSON_MAPPING]:
            keep(key, _NO_FIELD)
        return confidential

    def disabilities(self) -> None:
        have: list[str] = self.child["disabilities"]
        for row in self.of("ssd_disability"):
            raw = row.get("disa_disability_code")
            if raw is None:
                continue
            key = DISABILITY_ALIASES.get(raw.upper(), raw.upper())
            if key in have:
                row.take("disa_disability_code")
                continue
            if not self.room(have, 20, row, "disabilities"):
                continue
            code = self.code(row, "disa_disability_code", DISABILITIES, DISABILITY_ALIASES)
            if code:
                have.append(code)

    def immigration(self) -> None:
        rows = self.of("ssd_immigration_status")
        if not rows:
            return

        def current(row: _Row) -> tuple[bool, dt.date]:
            start = parse_date(row.get("immi_immigration_status_start_date") or "")
            ended = row.get("immi_immigration_status_end_date") is not None
            return (not ended, start or dt.date.min)

        chosen = max(rows, key=current)
        status = self.text(chosen, "immi_immigration_status")
        start = self.date(chosen, "immi_immigration_status_start_date")
        end = self.date(chosen, "immi_immigration_status_end_date")
        uasc = bool(status and re.search(r"UASC|UNACCOMPANIED", status.upper()))
        self.child["immigration_status"] = {
            "status": status,
            "uasc": uasc,
            "uasc_end_date": end if uasc else None,
            "start_date": start,
            "end_date": end,
        }
        for row in rows:
            if row is not chosen:
                for column in list(row.values):
                    if column not in row.taken:
                        row.release(column, "an earlier immigration status; the record holds one")

    # -- social care episodes ----------------------------------------------------------------

    def cin_episodes(self) -> None:
        for row in self.of("ssd_cin_episodes"):
            # One place is kept for the episode that gathers what no referral claims.
            if not self.room(self.episodes, 499, row, "child in need episodes"):
                continue
            episode = _new_episode(self.local_id(row, "cine_referral_id"))
            episode["referral_date"] = self.date(row, "cine_referral_date")
            episode["referral_source"] = self.code(row, "cine_referral_source_code", SOURCES)
            episode["primary_need"] = self.code(
                row, "cine_cin_primary_need_code", NEEDS, NEED_ALIASES
            )
            episode["referral_no_further_action"] = self.flag(row, "cine_referral_nfa")
            episode["closure_reason"] = self.code(row, "cine_close_reason", CLOSURES)
            episode["closure_date"] = self.date(row, "cine_close_date")
            self.episodes.append(episode)
            if episode["id"] is not None:
                self.episode_by_id.setdefault(episode["id"], episode)

    def episode_for(
        self,
        row: _Row,
        column: str,
        when: dt.date | None,
        fallback: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The episode a row belongs to: by its referral id, else by date, else the catch-all."""
        referral = row.get(column)
        if referral is not None:
            episode = self.episode_by_id.get(referral)
            if episode is not None:
                row.take(column)
                return episode
            self.link_missing(row, column, "ssd_cin_episodes referral")
        if fallback is not None:
            return fallback
        if when is not None:
            for episode in self.episodes:
                if episode is not self.unlinked and _within(
                    when, episode["referral_date"], episode["closure_date"]
                ):
                    return episode
        if self.unlinked is None:
            self.unlinked = _new_episode(None)
            self.episodes.append(self.unlinked)
        return self.unlinked

    def assessments(self) -> None:
        factors: dict[str, list[_Row]] = {}
        for row in self.of("ssd_assessment_factors"):
            if (key := row.get("cinf_assessment_id")) is not None:
                factors.setdefault(key, []).append(row)
        for row in self.of("ssd_cin_assessments"):
            start = self.date(row, "cina_assessment_start_date")
            episode = self.episode_for(row, "cina_referral_id", start)
            if not self.room(episode["assessments"], 500, row, "assessments in an episode"):
                continue
            assessment: dict[str, Any] = {
                "id": self.local_id(row, "cina_assessment_id"),
                "start_date": start,
                "authorisation_date": self.date(row, "cina_assessment_auth_date"),
                "factors": [],
            }
            episode["assessments"].append(assessment)
            for factor_row in factors.pop(assessment["id"] or "", []):
                factor_row.take("cinf_assessment_id")
                self.factors(factor_row, assessment["factors"])

    def factors(self, row: _Row, have: list[str]) -> None:
        column = "cinf_assessment_factors_json"
        raw = row.take(column)
        if raw is None:
            return
        items: list[tuple[str, str, str | None]] = []  # (element, factor, Y/N flag)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            items = [(f"/{k}", str(k), str(v)) for k, v in parsed.items()]
        elif isinstance(parsed, list):
            items = [(f"/{i}", str(v), None) for i, v in enumerate(parsed) if v is not None]
        else:
            split = [p for p in _FACTOR_SPLIT.split(raw.strip("[]{}\"'")) if p]
            items = [(f"/{i}", p.strip("\"'"), None) for i, p in enumerate(split)]
        for element, factor, marked in items:
            where = row.where(column, element)
            factor = factor.strip()
            if not factor:
                continue
            if marked is not None and parse_bool(marked) is not True:
                self.v.keep(
                    factor, marked, row.at(column, element), "factor not marked as identified"
                )
                continue
            code = self.v.code(factor, column, where, ASSESSMENT_FACTORS)
            if code is not None and code not in have and len(have) < 50:
                have.append(code)

    def cin_plans(self) -> None:
        for row in self.of("ssd_cin_plans"):
            start = self.date(row, "cinp_cin_plan_start_date")
            episode = self.episode_for(row, "cinp_referral_id", start)
            if self.room(episode["cin_plans"], 500, row, "child in need plans in an episode"):
                episode["cin_plans"].append(
                    {
                        "id": self.local_id(row, "cinp_cin_plan_id"),
                        "start_date": start,
                        "end_date": self.date(row, "cinp_cin_plan_end_date"),
                    }
                )

    def enquiries_(self) -> None:
        for row in self.of("ssd_s47_enquiry"):
            start = self.date(row, "s47e_s47_start_date")
            episode = self.episode_for(row, "s47e_referral_id", start)
            if not self.room(episode["section47_enquiries"], 500, row, "Section 47 enquiries"):
                continue
            enquiry: dict[str, Any] = {
                "id": self.local_id(row, "s47e_s47_enquiry_id"),
                "start_date": start,
                "end_date": self.date(row, "s47e_s47_end_date"),
                "initial_conference_not_required": self.flag(row, "s47e_s47_nfa"),
            }
            episode["section47_enquiries"].append(enquiry)
            if enquiry["id"] is not None:
                self.enquiries.setdefault(enquiry["id"], (enquiry, episode))

    def cp_plans(self) -> None:
        for row in self.of("ssd_cp_plans"):
            start = self.date(row, "cppl_cp_plan_start_date")
            episode = self.episode_for(row, "cppl_referral_id", start)
            if not self.room(episode["cp_plans"], 500, row, "child protection plans"):
                continue
            plan: dict[str, Any] = {
                "id": self.local_id(row, "cppl_cp_plan_id"),
                "start_date": start,
                "end_date": self.date(row, "cppl_cp_plan_end_date"),
                "initial_category": self.code(
                    row, "cppl_cp_plan_initial_category", CATEGORIES, CATEGORY_OF_ABUSE_ALIASES
                ),
                "latest_category": self.code(
                    row, "cppl_cp_plan_latest_category", CATEGORIES, CATEGORY_OF_ABUSE_ALIASES
                ),
                "review_dates": [],
                "visits": [],
            }
            other = self.flag(row, "cppl_cp_plan_ola")
            if other is not None:
                plan["other_local_authority"] = other
            episode["cp_plans"].append(plan)
            if plan["id"] is not None:
                self.plans.setdefault(plan["id"], (plan, episode))

    def initial_conferences(self) -> None:
        for row in self.of("ssd_initial_cp_conference"):
            held = self.date(row, "icpc_icpc_date")
            target = self.date(row, "icpc_icpc_target_date")
            kind = "initial"
            if self.flag(row, "icpc_icpc_transfer_in"):
                kind = "transfer_in"
            home: dict[str, Any] | None = None
            enquiry_id = row.get("icpc_s47_enquiry_id")
            if enquiry_id is not None:
                if enquiry_id in self.enquiries:
                    enquiry, home = self.enquiries[enquiry_id]
                    row.take("icpc_s47_enquiry_id")
                    enquiry["initial_conference_date"] = (
                        enquiry.get("initial_conference_date") or held
                    )
                    enquiry["initial_conference_target_date"] = (
                        enquiry.get("initial_conference_target_date") or target
                    )
                else:
                    self.link_missing(row, "icpc_s47_enquiry_id", "ssd_s47_enquiry enquiry")
            plan_id = row.get("icpc_cp_plan_id")
            if plan_id is not None:
                if plan_id in self.plans:
                    home = home or self.plans[plan_id][1]
                    row.take("icpc_cp_plan_id")
                else:
                    self.link_missing(row, "icpc_cp_plan_id", "ssd_cp_plans plan")
            episode = self.episode_for(row, "icpc_referral_id", held or target, home)
            if not self.room(episode["conferences"], 500, row, "conferences in an episode"):
                continue
            conference: dict[str, Any] = {
                "id": self.local_id(row, "icpc_icpc_id"),
                "type": kind,
                "date": held,
                "target_date": target,
                "led_to_cp_plan": self.flag(row, "icpc_icpc_outcome_cp_flag"),
            }
            episode["conferences"].append(conference)
            if conference["id"] is not None:
                self.conferences.add(conference["id"])

    def plan_conferences(self) -> None:
        for row in self.of("ssd_cp_plans"):
            conference = row.get("cppl_icpc_id")
            if conference is None:
                continue
            if conference in self.conferences:
                row.take("cppl_icpc_id")
            else:
                self.link_missing(row, "cppl_icpc_id", "ssd_initial_cp_conference conference")

    def plan_for(self, row: _Row, column: str, when: dt.date) -> dict[str, Any] | None:
        """The plan a review or visit belongs to: by its plan id, else the plan open that day."""
        plan_id = row.get(column)
        if plan_id is not None:
            if plan_id in self.plans:
                row.take(column)
                return self.plans[plan_id][0]
            self.link_missing(row, column, "ssd_cp_plans plan")
        for episode in self.episodes:
            plans: list[dict[str, Any]] = episode["cp_plans"]
            for plan in plans:
                if _within(when, plan["start_date"], plan["end_date"]):
                    return plan
        return None

    def cp_reviews(self) -> None:
        for row in self.of("ssd_cp_reviews"):
            held = self.date(row, "cppr_cp_review_date")
            if held is None:
                continue
            plan = self.plan_for(row, "cppr_cp_plan_id", held)
            if plan is None:
                self.event(held, "conference", "Child protection review conference", row)
            elif self.room(plan["review_dates"], 200, row, "reviews of one plan"):
                plan["review_dates"].append(held)

    def cp_visits(self) -> None:
        for row in self.of("ssd_cp_visits"):
            when = self.date(row, "cppv_cp_visit_date")
            if when is None:
                continue
            plan = self.plan_for(row, "cppv_cp_plan_id", when)
            if plan is not None:
                if self.room(plan["visits"], 2000, row, "visits on one plan"):
                    plan["visits"].append(
                        {
                            "date": when,
                            "seen": self.flag(row, "cppv_cp_visit_seen"),
                            "seen_alone": self.flag(row, "cppv_cp_visit_seen_alone"),
                        }
                    )
                continue
            said = self.details(row, _seen("cppv_cp_visit"))
            self.event(when, "visit", "Child protection visit", row, said)

    def looked_after(self) -> None:
        placements = self.of("ssd_cla_placement")
        by_id = {p.get("clap_cla_placement_id"): p for p in reversed(placements)}
        built: dict[int, dict[str, Any]] = {}
        legal = [
            (
                row,
                parse_date(row.get("lega_legal_status_start_date") or ""),
                parse_date(row.get("lega_legal_status_end_date") or ""),
            )
            for row in self.of("ssd_legal_status")
        ]
        statuses: dict[int, str | None] = {}
        for row in self.of("ssd_cla_episodes"):
            start = self.date(row, "clae_cla_episode_start_date")
            episode = self.episode_for(row, "clae_referral_id", start)
            if not self.room(episode["looked_after_episodes"], 2000, row, "looked-after episodes"):
                continue
            spell: dict[str, Any] = {
                "id": self.local_id(row, "clae_cla_episode_id"),
                "start_date": start,
                "end_date": self.date(row, "clae_cla_episode_ceased_date"),
                "reason_new_episode": self.code(
                    row, "clae_cla_episode_start_reason", NEW_EPISODE_REASONS
                ),
                "category_of_need": self.code(
                    row, "clae_cla_primary_need_code", NEEDS, NEED_ALIASES
                ),
                "reason_episode_ceased": self.text(row, "clae_cla_episode_ceased_reason"),
            }
            placement_row = None
            placement_id = row.get("clae_cla_placement_id")
            if placement_id is not None:
                placement_row = by_id.get(placement_id)
                if placement_row is not None:
                    row.take("clae_cla_placement_id")
                else:
                    self.link_missing(row, "clae_cla_placement_id", "ssd_cla_placement placement")
            if placement_row is None and start is not None:
                placement_row = self.placement_open(placements, row.get("clae_cla_id"), start)
            if placement_row is not None:
                if id(placement_row) not in built:
                    built[id(placement_row)] = self.placement(placement_row)
                spell["placement"] = built[id(placement_row)]
            if start is not None:
                for status_row, begins, ends in legal:
                    if begins is not None and begins <= start and (ends is None or start < ends):
                        if id(status_row) not in statuses:
                            statuses[id(status_row)] = self.code(
                                status_row, "lega_legal_status", LEGAL_STATUSES, LEGAL_ALIASES
                            )
                        spell["legal_status"] = statuses[id(status_row)]
                        break
            episode["looked_after_episodes"].append(spell)
        for row in placements:
            if id(row) not in built:
                for column in list(row.values):
                    if column not in row.taken:
                        row.release(column, "no looked-after episode of this child has it")
                self.warn(
                    "placement-not-linked",
                    f"Placement {row.get('clap_cla_placement_id')!r} belongs to no looked-after "
                    "episode of this child; its values are kept unmapped.",
                    "Give the episode's clae_cla_placement_id, or the placement's clap_cla_id.",
                    row.where("clap_cla_placement_id"),
                )
        for row, _, _ in legal:
            if id(row) not in statuses and row.get("lega_legal_status") is not None:
                row.release("lega_legal_status", "no looked-after episode starts in this period")

    @staticmethod
    def placement_open(placements: list[_Row], period: str | None, when: dt.date) -> _Row | None:
        """The placement of the same period of care open that day (the latest to start)."""
        if period is None:
            return None
        found: list[tuple[dt.date, _Row]] = []
        for row in placements:
            began = parse_date(row.get("clap_cla_placement_start_date") or "")
            ended = parse_date(row.get("clap_cla_placement_end_date") or "")
            if began and row.get("clap_cla_id") == period and _within(when, began, ended):
                found.append((began, row))
        return max(found, key=lambda f: f[0])[1] if found else None

    def placement(self, row: _Row) -> dict[str, Any]:
        return {
            "id": self.local_id(row, "clap_cla_placement_id"),
            "start_date": self.date(row, "clap_cla_placement_start_date"),
            "end_date": self.date(row, "clap_cla_placement_end_date"),
            "placement_type": self.text(row, "clap_cla_placement_type"),
            "provider": self.text(row, "clap_cla_placement_provider"),
            "postcode": self.postcode(row, "clap_cla_placement_postcode"),
            "urn": self.text(row, "clap_cla_placement_urn"),
            "change_reason": self.text(row, "clap_cla_placement_change_reason"),
        }

    # -- safety --------------------------------------------------------------------------------

    def missing_episodes(self) -> None:
        for row in self.of("ssd_missing"):
            start_text = row.get("miss_missing_episode_start_date")
            start = self.date(row, "miss_missing_episode_start_date")
            if start is None:
                if start_text is None:
                    self.warn(
                        "missing-start-missing",
                        "A missing episode has no start date; its values are kept unmapped.",
                        "Give miss_missing_episode_start_date for every missing episode.",
                        row.where("miss_missing_episode_start_date"),
                    )
                continue
            if not self.room(self.missing, 2000, row, "missing episodes"):
                continue
            episode: dict[str, Any] = {
                "start_date": start,
                "end_date": self.date(row, "miss_missing_episode_end_date"),
            }
            kind = row.get("miss_missing_episode_type")
            if kind is not None and kind.upper() in MISSING_KINDS:
                episode["kind"] = MISSING_KINDS[kind.upper()]
                row.take("miss_missing_episode_type")
            for column, name in (
                ("miss_missing_rhi_offered", "return_interview_offered"),
                ("miss_missing_rhi_accepted", "return_interview_accepted"),
            ):
                value = row.get(column)
                if value is not None and value.upper() in ("NA", "N/A"):
                    row.release(column, "not applicable")
                else:
                    episode[name] = self.flag(row, column)
            self.missing.append(episode)
        if self.missing:
            latest = max(self.missing, key=lambda m: m["start_date"])
            count = len(self.missing)
            still = latest["end_date"] is None
            self.alerts.append(
                {
                    "type": "missing",
                    "severity": "high" if still else "medium",
                    "summary": (
                        f"Missing {count} time{'s' if count > 1 else ''}; the latest from "
                        f"{latest['start_date'].isoformat()}"
                        + (", not recorded as returned." if still else ".")
                    ),
                    "start_date": latest["start_date"],
                    "end_date": latest["end_date"],
                }
            )

    # -- people ----------------------------------------------------------------------------

    def borrow(self, table: str, column: str, value: str) -> _Row | None:
        found = self.store.linked(table, column, value)
        if not found:
            return None
        file, number, cells = found[0]
        row = _Row(self.files[file], number, json.loads(cells), None)
        self.borrowed.append(row)
        return row

    def involvements(self) -> None:
        for row in self.of("ssd_involvements"):
            if not self.room(self.professionals, 500, row, "professionals"):
                continue
            worker_id = row.get("invo_professional_id")
            worker = None
            if worker_id is not None:
                worker = self.borrow("ssd_professionals", "prof_professional_id", worker_id)
                row.take("invo_professional_id")
                if worker is not None:
                    worker.take("prof_professional_id")
            role = self.text(row, "invo_professional_role_id")
            if role is None and worker is not None:
                role = self.text(worker, "prof_professional_job_title")
            organisation = self.text(row, "invo_professional_team")
            if organisation is None and worker is not None:
                organisation = self.text(worker, "prof_professional_department")
            self.professionals.append(
                {
                    "id": worker_id if worker_id and len(worker_id) <= _LOCAL_ID else None,
                    "name": self.text(worker, "prof_professional_name") if worker else None,
                    "role": role or "Involved professional",
                    "organisation": organisation,
                    "start_date": self.date(row, "invo_involvement_start_date"),
                    "end_date": self.date(row, "invo_involvement_end_date"),
                }
            )
            if worker_id and len(worker_id) > _LOCAL_ID:
                row.release("invo_professional_id", "longer than the canonical record allows")
        for row in self.of("ssd_care_leavers"):
            adviser = row.get("clea_care_leaver_personal_advisor")
            if adviser is not None and self.room(self.professionals, 500, row, "professionals"):
                self.professionals.append(
                    {
                        "name": self.text(row, "clea_care_leaver_personal_advisor"),
                        "role": "Personal adviser",
                    }
                )

    def relative(self, person: str, row: _Row, **entry: Any) -> dict[str, Any] | None:
        """The related person with this id, added if new; None when they cannot be added."""
        for related in self.related:
            if related["id"] == person:
                return related
        if len(person) > _LOCAL_ID or not self.room(self.related, 200, row, "related people"):
            return None
        related = {"id": person, **entry}
        self.related.append(related)
        return related

    def mothers(self) -> None:
        for row in self.of("ssd_mother"):
            if row.via == "moth_childs_person_id":
                mother = row.get("moth_person_id")
                if mother is not None:
                    facts = self.about(mother)
                    if self.relative(mother, row, relationship="mother", **facts) is not None:
                        row.take("moth_person_id")
                born = row.get("moth_childs_dob")
                if born is not None and parse_date(born) == self.child.get("birth_date"):
                    row.take("moth_childs_dob")
                elif born is not None:
                    row.release("moth_childs_dob", "differs from the child's pers_dob")
                continue
            own_child = row.get("moth_childs_person_id")
            if own_child is None:
                continue
            related = self.relative(
                own_child, row, relationship="other", notes="The child's own child (ssd_mother)."
            )
            if related is not None:
                row.take("moth_childs_person_id")
                born_date = self.date(row, "moth_childs_dob")
                if born_date is not None and related.get("birth_date") not in (None, born_date):
                    row.release("moth_childs_dob", "differs from the birth date already held")
                elif born_date is not None:
                    related["birth_date"] = born_date

    def about(self, person: str) -> dict[str, Any]:
        """What someone's own ssd_person row says of them: names, birth date, sex."""
        found = self.store.person_row(person)
        if found is None:
            return {}
        row = _Row(self.files[found[0]], found[1], json.loads(found[2]), None)
        facts: dict[str, Any] = {}
        given, family = row.get("pers_forename"), row.get("pers_surname")
        if (given or family) and len(given or "") <= _TEXT and len(family or "") <= _TEXT:
            facts["names"] = [{"given": given, "family": family}]
        if born := parse_date(row.get("pers_dob") or ""):
            facts["birth_date"] = born
        sex = (row.get("pers_sex") or "").upper()
        if SEX_CODES.get(sex, sex) in SEXES:
            facts["sex"] = SEX_CODES.get(sex, sex)
        return facts

    def families(self) -> None:
        for row in self.of("ssd_family"):
            family = row.get("fami_family_id")
            if family is None:
                continue
            others = self.store.family(family, self.person_id)
            if len(others) > _MAX_FAMILY:
                self.warn(
                    "family-group-large",
                    f"More than {_MAX_FAMILY} people share family id {family!r}; the record "
                    f"names the first {_MAX_FAMILY} as household members.",
                    "Check that the family id is not a placeholder shared by unrelated people.",
                    row.where("fami_family_id"),
                )
            note = f"Shares family group {family} (ssd_family)."
            for other in others[:_MAX_FAMILY]:
                related = self.relative(other, row, relationship="household_member")
                if related is None:
                    continue
                notes = related.get("notes")
                if not notes or note not in notes:
                    related["notes"] = f"{notes} {note}" if notes else note
                row.take("fami_family_id")

    # -- the chronology ----------------------------------------------------------------------

    def events(self) -> None:
        for row in self.of("ssd_cin_visits"):
            when = self.date(row, "cinv_cin_visit_date")
            if when is not None:
                said = self.details(row, _seen("cinv_cin_visit"))
                self.event(when, "visit", "Child in need visit", row, said)
        for row in self.of("ssd_contacts"):
            when = self.date(row, "cont_contact_date")
            if when is None:
                continue
            desc = self.text(row, "cont_contact_source_desc", 900)
            code = self.text(row, "cont_contact_source_code", 900)
            source = f"{desc} ({code})" if desc and code else desc or code
            outcome = self.text(row, "cont_contact_outcome_json", _LONG_TEXT)
            self.event(when, "other", "Contact", row, outcome, source)
        for row in self.of("ssd_early_help_episodes"):
            start = self.date(row, "earl_episode_start_date")
            if start is not None:
                said = self.details(
                    row,
                    [
                        ("Reason", "earl_episode_reason", "text"),
                        ("Organisation", "earl_episode_organisation", "text"),
                    ],
                )
                self.event(start, "other", "Early help episode started", row, said)
            end = self.date(row, "earl_episode_end_date")
            if end is not None:
                said = self.details(row, [("Reason", "earl_episode_end_reason", "text")])
                self.event(end, "other", "Early help episode ended", row, said)
        for row in self.of("ssd_cla_reviews"):
            when = self.date(row, "clar_cla_review_date")
            if when is not None:
                said = self.details(
                    row,
                    [
                        ("Cancelled", "clar_cla_review_cancelled", "flag"),
                        ("Participation", "clar_cla_review_participation", "text"),
                    ],
                )
                self.event(when, "other", "Looked-after review", row, said)
        for row in self.of("ssd_pre_proceedings"):
            self.dated_events(row, _PRE_PROCEEDINGS)
        for row in self.of("ssd_permanence"):
            self.dated_events(row, _PERMANENCE)
        for row in self.of("ssd_care_leavers"):
            self.dated_events(row, _CARE_LEAVERS)

    def dated_events(self, row: _Row, events: tuple[_Event, ...]) -> None:
        for event in events:
            when = self.date(row, event.column)
            if when is None:
                continue
            summary = event.summary
            if event.summary_column and (extra := self.text(row, event.summary_column, 500)):
                summary = f"{summary} ({extra})"
            said = self.details(row, list(event.details))
            self.event(when, event.category, summary, row, said)


@dataclass(frozen=True, slots=True)
class _Event:
    """A dated column that becomes a chronology entry, with the columns that describe it."""

    column: str
    category: str
    summary: str
    details: tuple[tuple[str, str, str], ...] = ()
    summary_column: str | None = None


def _seen(prefix: str) -> list[tuple[str, str, str]]:
    return [
        ("Child seen", f"{prefix}_seen", "flag"),
        ("Seen alone", f"{prefix}_seen_alone", "flag"),
        ("Bedroom seen", f"{prefix}_bedroom", "flag"),
    ]


_PRE_PROCEEDINGS = (
    _Event(
        "prep_pre_pro_decision_date",
        "court",
        "Decision to enter pre-proceedings",
        (
            ("Outcome", "prep_pre_pro_outcome", "text"),
            ("Legal gateway outcome", "prep_legal_gateway_outcome", "text"),
        ),
    ),
    _Event("prep_initial_pre_pro_meeting_date", "court", "Initial pre-proceedings meeting"),
    _Event("prep_pre_pro_letter_date", "court", "Letter before proceedings sent"),
    _Event("prep_care_pro_letter_date", "court", "Letter of issue sent (care proceedings)"),
    _Event("prep_agree_stepdown_issue_date", "court", "Agreed to step down or to issue"),
)
_PERMANENCE = (
    _Event("perm_adm_decision_date", "plan", "Agency decision: should be placed for adoption"),
    _Event(
        "perm_ffa_cp_decision_date",
        "plan",
        "Decision to place for fostering for adoption or concurrent planning",
    ),
    _Event("perm_placement_order_date", "court", "Placement order granted"),
    _Event("perm_placed_for_adoption_date", "placement", "Placed for adoption"),
    _Event("perm_matched_date", "plan", "Matched with adopters"),
    _Event(
        "perm_placed_ffa_cp_date",
        "placement",
        "Placed for fostering for adoption or concurrent planning",
    ),
    _Event(
        "perm_decision_reversed_date",
        "plan",
        "Adoption decision reversed",
        (("Reason", "perm_decision_reversed_reason", "text"),),
    ),
    _Event("perm_placed_foster_carer_date", "placement", "Placed with foster carer"),
    _Event(
        "perm_permanence_order_date",
        "court",
        "Permanence order",
        summary_column="perm_permanence_order_type",
    ),
)
_CARE_LEAVERS = (
    _Event(
        "clea_care_leaver_latest_contact",
        "other",
        "Care leaver contact",
        (
            ("Eligibility", "clea_care_leaver_eligibility", "text"),
            ("In touch", "clea_care_leaver_in_touch", "text"),
            ("Accommodation", "clea_care_leaver_accommodation", "text"),
            ("Accommodation suitable", "clea_care_leaver_accom_suitable", "text"),
            ("Activity", "clea_care_leaver_activity", "text"),
        ),
    ),
    _Event("clea_pathway_plan_review_date", "plan", "Pathway plan review"),
)


# --- the adapter ----------------------------------------------------------------------------


class SSDAdapter(Adapter):
    """Standard Safeguarding Dataset CSV tables -> canonical records."""

    name = "ssd"
    title = "Standard Safeguarding Dataset (Data to Insight), one CSV per ssd_ table"
    formats = ("csv",)
    versions = ("1.x",)

    def __init__(
        self, context: RuleContext | None = None, *, source_authority: str | None = None
    ) -> None:
        super().__init__(context)
        self.source_authority = (source_authority or "").strip() or None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child in ssd_person (plus one per row naming nobody in it)."""
        if not source.files:
            raise fatal(
                "source-empty",
                f"{source.name} holds no files.",
                "Give the folder of the SSD's CSV files (ssd_person.csv, ssd_address.csv, ...).",
            )
        with tempfile.TemporaryDirectory(prefix="exchange-ssd-") as scratch:
            store = _Store(Path(scratch) / "rows.sqlite")
            try:
                yield from self._read(source, store)
            finally:
                store.close()

    def _read(self, source: Source, store: _Store) -> Iterator[ReadResult]:
        files: list[_File] = []
        notices: list[Problem] = []
        for file in source.files:
            found = self._load(len(files), file, store, notices)
            if found is not None:
                files.append(found)
        people = [f for f in files if f.table.name == "ssd_person"]
        if not people:
            raise fatal(
                "person-table-missing",
                f"{source.name} has no ssd_person file; every other table hangs off it. Files: "
                + ", ".join(f.name for f in source.files)
                + ".",
                "Include ssd_person.csv (the SSD's person table) in the export.",
            )
        store.prepare()
        if not store.has_people():
            raise fatal(
                "no-children",
                "ssd_person holds no data rows.",
                "Export the SSD again; ssd_person has a header row only.",
                SourceLocation(file=people[0].name, row=1),
            )
        if self.source_authority is None:
            notices.insert(
                0,
                problem(
                    "source-authority-missing",
                    "An SSD export does not say which authority sent it; records say 'unknown'.",
                    "Give the sending authority's DfE or GSS code when converting the export.",
                    severity=WARNING,
                ),
            )
        idle = store.professionals_not_involved()
        if idle:
            where = next(f for f in files if f.table.name == "ssd_professionals")
            notices.append(
                problem(
                    "professionals-not-involved",
                    f"{idle} ssd_professionals row{'s are' if idle > 1 else ' is'} named by no "
                    "ssd_involvements row; staff records that concern no child are not carried.",
                    "Nothing to do, unless an involvement is missing from ssd_involvements.",
                    SourceLocation(file=where.name),
                    severity=WARNING,
                ),
            )
        first = True
        for result in self._results(files, store):
            if first:
                result.problems[:0] = notices
                first = False
            yield result

    def _results(self, files: list[_File], store: _Store) -> Iterator[ReadResult]:
        for seq, person, file, rownum, cells in store.people():
            row = _Row(files[file], rownum, json.loads(cells), "pers_person_id")
            location = SourceLocation(file=row.file.name, row=rownum)
            if person is None:
                yield ReadResult(
                    None,
                    [
                        problem(
                            "person-id-missing",
                            f"Row {rownum} of {row.file.name} has no pers_person_id, so no "
                            f"record can be built: {row.filled()}.",
                            "Give every ssd_person row its person id.",
                            row.at("pers_person_id"),
                            dfe_rule="8500",
                        )
                    ],
                    None,
                    location,
                )
                continue
            if store.first(person) != seq:
                continue  # a duplicate row, read with the person's first row
            yield self._child(person, files, store, location)
        for file, rownum, person, cells in store.orphans():
            row = _Row(files[file], rownum, json.loads(cells), None)
            location = SourceLocation(file=row.file.name, row=rownum)
            if person is None:
                code, said = "person-id-missing", "names no person"
                fix = f"Give the row its {' or '.join(row.file.table.person or ('person id',))}."
            else:
                code, said = (
                    "person-not-found",
                    f"names person {person!r}, who is not in ssd_person",
                )
                fix = "Export the person in ssd_person, or leave their rows out."
            yield ReadResult(
                None,
                [
                    problem(
                        code,
                        f"Row {rownum} of {row.file.name} {said}; it belongs to no record: "
                        f"{row.filled()}.",
                        fix,
                        location,
                    )
                ],
                None,
                location,
            )

    def _child(
        self, person: str, files: list[_File], store: _Store, location: SourceLocation
    ) -> ReadResult:
        problems: list[Problem] = []
        rows = [
            _Row(files[file], rownum, json.loads(cells), via)
            for file, rownum, via, cells in store.rows_of(person)
        ]
        data = _Child(person, rows, store, files, self.source_authority, problems).data()
        return self.finish(data, key=person, location=location, problems=problems)

    # -- loading ---------------------------------------------------------------------------

    def _load(
        self, index: int, file: SourceFile, store: _Store, notices: list[Problem]
    ) -> _File | None:
        if not file.name.lower().endswith(".csv"):
            notices.append(
                problem(
                    "file-not-read",
                    f"{file.name} is not a CSV file; the SSD adapter reads one CSV per ssd_ table.",
                    "Leave the file out, or export the table as CSV named after it "
                    "(e.g. ssd_person.csv).",
                    SourceLocation(file=file.name),
                    severity=WARNING,
                )
            )
            return None
        mark = store.mark()
        try:
            try:
                return self._load_as(index, file, store, notices, "utf-8-sig")
            except UnicodeDecodeError:
                store.discard(mark)
            return self._load_as(index, file, store, notices, "cp1252")
        except UnicodeDecodeError as exc:
            store.discard(mark)
            raise fatal(
                "file-undecodable",
                f"{file.name} is neither UTF-8 nor Windows-1252 text ({exc.reason}).",
                "Export the file again as UTF-8 CSV, and leave files that are not CSV out.",
                SourceLocation(file=file.name),
            ) from exc
        except OSError as exc:
            raise fatal(
                "file-unreadable",
                f"{file.name} cannot be read: {exc}.",
                "Check the file exists and can be read.",
                SourceLocation(file=file.name),
            ) from exc

    def _load_as(
        self, index: int, file: SourceFile, store: _Store, notices: list[Problem], encoding: str
    ) -> _File | None:
        name = _table_name(file.name)
        table = TABLES.get(name)
        notes: list[Problem] = []
        with file.open() as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding=encoding, newline=""))
            number = 1
            try:
                header_row = next(reader, None)
                if header_row is None or not any(c.strip() for c in header_row):
                    if table is not None and table.name == "ssd_person":
                        raise fatal(
                            "file-empty",
                            f"{file.name} is empty: it has no header row.",
                            "Export ssd_person again with its header row.",
                            SourceLocation(file=file.name, row=1),
                        )
                    notices.append(
                        problem(
                            "file-empty",
                            f"{file.name} is empty (no header row); nothing was read from it.",
                            "Export the table again with its header row, or leave it out.",
                            SourceLocation(file=file.name, row=1),
                            severity=WARNING,
                        )
                    )
                    return None
                found = self._columns(index, file.name, name, table, header_row, notes)
                if found is None:
                    notices.extend(notes)
                    return None
                long_row = 0
                width = len(found.columns)
                for cells in reader:
                    number += 1
                    clean = [_clean(c) for c in cells]
                    if not any(clean):
                        continue
                    if len(clean) > width and any(clean[width:]) and not long_row:
                        long_row = number
                    store.add(found, number, clean)
            except csv.Error as exc:
                raise fatal(
                    "csv-malformed",
                    f"{file.name} cannot be read as CSV at row {number + 1}: {exc}.",
                    "Export the file again; it is cut short or was edited by hand.",
                    SourceLocation(file=file.name, row=number + 1),
                ) from exc
        store.flush()
        if long_row:
            notes.append(
                problem(
                    "row-too-long",
                    f"{file.name} has rows with more cells than its header (the first is row "
                    f"{long_row}); the extra cells are kept unmapped.",
                    "Check the file's quoting: a comma inside a value must be quoted.",
                    SourceLocation(file=file.name, row=long_row),
                    severity=WARNING,
                )
            )
        notices.extend(notes)
        return found

    @staticmethod
    def _columns(
        index: int,
        file_name: str,
        name: str,
        table: _Table | None,
        header_row: list[str],
        notes: list[Problem],
    ) -> _File | None:
        headers: list[str] = []
        columns: list[str] = []
        aliases = table.aliases if table is not None else {}
        for at, cell in enumerate(header_row):
            header = cell.strip().lstrip("\ufeff").strip('[]"').strip() or f"(column {at + 1})"
            column = header.lower()
            column = aliases.get(column, column)
            if column in columns:
                column = f"{column} ({at + 1})"
            headers.append(header)
            columns.append(column)
        positions = {c: i for i, c in enumerate(columns)}
        here = SourceLocation(file=file_name, row=1)
        if table is None:
            person = next((c for c in columns if c.endswith("_person_id")), None)
            if person is None:
                notes.append(
                    problem(
                        "table-not-read",
                        f"{file_name} is not an SSD table the adapter reads and has no "
                        "*_person_id column to attach its rows to a child; it was not read.",
                        "Leave the file out, or add the person id column so its values travel "
                        "with each child.",
                        here,
                        severity=WARNING,
                    )
                )
                return None
            table = _Table(name, (), (person,), ((person,),), read=False)
        missing = [g for g in table.required if not any(c in positions for c in g)]
        if missing:
            said = ", ".join(" or ".join(g) for g in missing)
            raise fatal(
                "columns-missing",
                f"{file_name} ({table.name}) has no {said} column, so its rows cannot be joined "
                "to their child.",
                f"Export {table.name} with every column: {', '.join(table.columns)}.",
                SourceLocation(file=file_name, row=1, column=missing[0][0]),
            )
        flags = frozenset(
            c
            for c in columns
            if table.name == "ssd_address"
            and c not in table.known
            and _CONFIDENTIAL_COLUMN.search(c)
        )
        extras = frozenset(c for c in columns if c not in table.known) - flags
        if extras and table.read:
            shown = ", ".join(headers[positions[c]] for c in columns if c in extras)
            notes.append(
                problem(
                    "columns-extra",
                    f"{file_name} ({table.name}) has columns the SSD does not define: {shown}; "
                    "their values are kept unmapped.",
                    "Leave the extra columns out of the export, or check they belong to another "
                    "table.",
                    here.model_copy(update={"column": shown.split(", ")[0]}),
                    severity=WARNING,
                )
            )
        return _File(
            index,
            file_name,
            table,
            columns,
            dict(zip(columns, headers, strict=True)),
            positions,
            extras,
            flags,
        )
