"""Code lists of the canonical record, with their meanings and the historic variants exports carry.

The codes are the DfE's (CIN census, SSDA903) wherever a statutory list exists, so a record
converts back to the statutory formats without a lookup. Each list accepts the older spellings
still found in exports (``normalise`` below) and stores only the current code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

_ALIASES: dict[type, dict[str, str]] = {}


class CodeList(StrEnum):
    """A code list whose historic spellings are mapped onto the current code on input.

    Exact codes are matched by pydantic without calling Python; only a miss comes here.
    """

    @classmethod
    def _key(cls, value: str) -> str:
        return value.strip().upper()

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        key = cls._key(value)
        key = _ALIASES.get(cls, {}).get(key, key)
        return cls._value2member_map_.get(key)


class NamedCodeList(CodeList):
    """A code list of the exchange's own snake_case names."""

    @classmethod
    def _key(cls, value: str) -> str:
        return value.strip().lower().replace(" ", "_").replace("-", "_")


class Sex(CodeList):
    """Sex as recorded for the census: M, F or U (unknown, indeterminate, or unborn)."""

    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"


# GenderCurrent (CIN census up to 2023-24) and SSDA903 SEX 1/2 (up to 2023-24).
SEX_ALIASES: dict[str, str] = {
    "1": "M",
    "2": "F",
    "0": "U",
    "9": "U",
    "MALE": "M",
    "FEMALE": "F",
    "UNKNOWN": "U",
    "INDETERMINATE": "U",
    "NOT RECORDED": "U",
}


class Ethnicity(CodeList):
    """DfE ethnicity codes."""

    WBRI = "WBRI"
    WIRI = "WIRI"
    WIRT = "WIRT"
    WOTH = "WOTH"
    WROM = "WROM"
    MWBC = "MWBC"
    MWBA = "MWBA"
    MWAS = "MWAS"
    MOTH = "MOTH"
    AIND = "AIND"
    APKN = "APKN"
    ABAN = "ABAN"
    AOTH = "AOTH"
    BCRB = "BCRB"
    BAFR = "BAFR"
    BOTH = "BOTH"
    CHNE = "CHNE"
    OOTH = "OOTH"
    REFU = "REFU"
    NOBT = "NOBT"


ETHNICITY_MEANINGS: dict[Ethnicity, str] = {
    Ethnicity.WBRI: "White British",
    Ethnicity.WIRI: "White Irish",
    Ethnicity.WIRT: "Traveller of Irish heritage",
    Ethnicity.WOTH: "Any other White background",
    Ethnicity.WROM: "Gypsy/Roma",
    Ethnicity.MWBC: "White and Black Caribbean",
    Ethnicity.MWBA: "White and Black African",
    Ethnicity.MWAS: "White and Asian",
    Ethnicity.MOTH: "Any other mixed background",
    Ethnicity.AIND: "Indian",
    Ethnicity.APKN: "Pakistani",
    Ethnicity.ABAN: "Bangladeshi",
    Ethnicity.AOTH: "Any other Asian background",
    Ethnicity.BCRB: "Caribbean",
    Ethnicity.BAFR: "African",
    Ethnicity.BOTH: "Any other Black background",
    Ethnicity.CHNE: "Chinese",
    Ethnicity.OOTH: "Any other ethnic group",
    Ethnicity.REFU: "Refused",
    Ethnicity.NOBT: "Information not yet obtained",
}


class Disability(CodeList):
    """DfE disability codes."""

    NONE = "NONE"
    MOB = "MOB"
    HAND = "HAND"
    PC = "PC"
    INC = "INC"
    COMM = "COMM"
    LD = "LD"
    HEAR = "HEAR"
    VIS = "VIS"
    BEH = "BEH"
    CON = "CON"
    AUT = "AUT"
    DDA = "DDA"


DISABILITY_MEANINGS: dict[Disability, str] = {
    Disability.NONE: "No disability",
    Disability.MOB: "Mobility",
    Disability.HAND: "Hand function",
    Disability.PC: "Personal care",
    Disability.INC: "Incontinence",
    Disability.COMM: "Communication",
    Disability.LD: "Learning",
    Disability.HEAR: "Hearing",
    Disability.VIS: "Vision",
    Disability.BEH: "Behaviour",
    Disability.CON: "Consciousness",
    Disability.AUT: "Autism",
    Disability.DDA: "Other",
}


class ReferralSource(CodeList):
    """Who made the referral (CIN census ReferralSource)."""

    INDIVIDUAL_FAMILY = "1A"
    INDIVIDUAL_ACQUAINTANCE = "1B"
    INDIVIDUAL_SELF = "1C"
    INDIVIDUAL_OTHER = "1D"
    SCHOOLS = "2A"
    EDUCATION_SERVICES = "2B"
    HEALTH_GP = "3A"
    HEALTH_VISITOR = "3B"
    HEALTH_SCHOOL_NURSE = "3C"
    HEALTH_OTHER_PRIMARY = "3D"
    HEALTH_A_AND_E = "3E"
    HEALTH_OTHER = "3F"
    HOUSING = "4"
    LA_SOCIAL_CARE = "5A"
    LA_OTHER_INTERNAL = "5B"
    LA_EXTERNAL = "5C"
    LA_EARLY_HELP = "5D"
    POLICE = "6"
    OTHER_LEGAL_AGENCY = "7"
    OTHER = "8"
    ANONYMOUS = "9"
    UNKNOWN = "10"


class PrimaryNeed(CodeList):
    """Primary need at referral (CIN census PrimaryNeedCode)."""

    N0 = "N0"
    N1 = "N1"
    N2 = "N2"
    N3 = "N3"
    N4 = "N4"
    N5 = "N5"
    N6 = "N6"
    N7 = "N7"
    N8 = "N8"
    N9 = "N9"


PRIMARY_NEED_MEANINGS: dict[PrimaryNeed, str] = {
    PrimaryNeed.N0: "Not stated",
    PrimaryNeed.N1: "Abuse or neglect",
    PrimaryNeed.N2: "Child's disability",
    PrimaryNeed.N3: "Parental disability or illness",
    PrimaryNeed.N4: "Family in acute stress",
    PrimaryNeed.N5: "Family dysfunction",
    PrimaryNeed.N6: "Socially unacceptable behaviour",
    PrimaryNeed.N7: "Low income",
    PrimaryNeed.N8: "Absent parenting",
    PrimaryNeed.N9: "Cases other than children in need",
}


class CategoryOfAbuse(CodeList):
    """Category of abuse of a child protection plan."""

    NEGLECT = "NEG"
    PHYSICAL = "PHY"
    SEXUAL = "SAB"
    EMOTIONAL = "EMO"
    MULTIPLE = "MUL"


CATEGORY_OF_ABUSE_ALIASES: dict[str, str] = {
    "NEGLECT": "NEG",
    "PHYSICAL ABUSE": "PHY",
    "PHYSICAL": "PHY",
    "SEXUAL ABUSE": "SAB",
    "SEXUAL": "SAB",
    "EMOTIONAL ABUSE": "EMO",
    "EMOTIONAL": "EMO",
    "MULTIPLE": "MUL",
}


class ReasonForClosure(CodeList):
    """Why a child in need episode closed (CIN census ReasonForClosure)."""

    ADOPTED = "RC1"
    DIED = "RC2"
    CHILD_ARRANGEMENTS_ORDER = "RC3"
    SPECIAL_GUARDIANSHIP_ORDER = "RC4"
    TRANSFERRED_TO_ANOTHER_LA = "RC5"
    TRANSFERRED_TO_ADULT_SOCIAL_CARE = "RC6"
    SERVICES_CEASED = "RC7"
    CLOSED_AFTER_ASSESSMENT_NFA = "RC8"
    CLOSED_AFTER_ASSESSMENT_EARLY_HELP = "RC9"


class UPNUnknownReason(CodeList):
    """Why a child has no UPN (UN1-UN7)."""

    UN1 = "UN1"
    UN2 = "UN2"
    UN3 = "UN3"
    UN4 = "UN4"
    UN5 = "UN5"
    UN6 = "UN6"
    UN7 = "UN7"


ASSESSMENT_FACTORS: frozenset[str] = frozenset(
    [f"{n}{letter}" for n in (1, 2, 3, 4, 5, 6) for letter in "ABC"]
    + ["7A", "8B", "8C", "8D", "8E", "8F", "9A", "10A", "11A", "12A", "13A", "14A", "15A"]
    + ["16A", "17A", "18A", "18B", "18C", "19A", "19B", "19C", "20", "21", "22A", "23A", "24A"]
)
"""Factors identified at assessment; 21 means "no factors" and stands alone."""


class LegalStatus(CodeList):
    """Legal status of a looked-after child (SSDA903 LS)."""

    C1 = "C1"
    C2 = "C2"
    D1 = "D1"
    E1 = "E1"
    J1 = "J1"
    J2 = "J2"
    J3 = "J3"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    V2 = "V2"
    V3 = "V3"
    V4 = "V4"


LEGAL_STATUS_MEANINGS: dict[LegalStatus, str] = {
    LegalStatus.C1: "Interim care order",
    LegalStatus.C2: "Full care order",
    LegalStatus.D1: "Freeing order granted",
    LegalStatus.E1: "Placement order granted",
    LegalStatus.J1: "Remanded to local authority accommodation or youth detention",
    LegalStatus.J2: "Placed in local authority accommodation under PACE",
    LegalStatus.J3: "Sentenced to a youth rehabilitation order with residence requirement",
    LegalStatus.L1: "Under police protection and in local authority accommodation",
    LegalStatus.L2: "Emergency protection order",
    LegalStatus.L3: "Under a child assessment order and in local authority accommodation",
    LegalStatus.V2: "Single period of accommodation under section 20",
    LegalStatus.V3: "Accommodated under an agreed series of short-term breaks (single placements)",
    LegalStatus.V4: "Accommodated under an agreed series of short-term breaks (multiple placements)",
}


class ReasonNewEpisode(CodeList):
    """Why a looked-after episode started (SSDA903 RNE)."""

    STARTED = "S"
    LEGAL_STATUS_CHANGE = "L"
    PLACEMENT_AND_CARER_CHANGE = "P"
    PLACEMENT_CHANGE_SAME_CARER = "T"
    LEGAL_AND_PLACEMENT_CHANGE = "B"
    LEGAL_AND_PLACEMENT_CHANGE_SAME_CARER = "U"


class AlertType(NamedCodeList):
    """What a safety alert warns about."""

    RISK_TO_CHILD = "risk_to_child"
    RISK_TO_STAFF = "risk_to_staff"
    RISK_FROM_PERSON = "risk_from_person"
    DO_NOT_DISCLOSE_ADDRESS = "do_not_disclose_address"
    MISSING = "missing"
    EXPLOITATION = "exploitation"
    MEDICAL = "medical"
    COMMUNICATION_NEED = "communication_need"
    COURT_ORDER = "court_order"
    OTHER = "other"


class AlertSeverity(NamedCodeList):
    """How serious an alert is; high alerts are shown first in every view."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Relationship(NamedCodeList):
    """How a related person stands to the child."""

    MOTHER = "mother"
    FATHER = "father"
    STEP_PARENT = "step_parent"
    ADOPTIVE_PARENT = "adoptive_parent"
    PARENT_PARTNER = "parent_partner"
    SIBLING = "sibling"
    HALF_SIBLING = "half_sibling"
    STEP_SIBLING = "step_sibling"
    GRANDPARENT = "grandparent"
    AUNT_UNCLE = "aunt_uncle"
    OTHER_RELATIVE = "other_relative"
    FOSTER_CARER = "foster_carer"
    SPECIAL_GUARDIAN = "special_guardian"
    KINSHIP_CARER = "kinship_carer"
    FAMILY_FRIEND = "family_friend"
    HOUSEHOLD_MEMBER = "household_member"
    OTHER = "other"


class IdentifierSystem(NamedCodeList):
    """Which scheme an identifier belongs to."""

    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    FORMER_UPN = "former_upn"
    LA_CHILD_ID = "la_child_id"
    LEGACY = "legacy"
    OTHER = "other"


class DatePrecision(NamedCodeList):
    """How exactly a birth date is known."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    ESTIMATED = "estimated"


class NameUse(NamedCodeList):
    """What a name is for."""

    OFFICIAL = "official"
    PREFERRED = "preferred"
    ALIAS = "alias"
    PREVIOUS = "previous"


class AgencyType(NamedCodeList):
    """The kind of organisation a professional or a contribution comes from."""

    SOCIAL_CARE = "social_care"
    HEALTH = "health"
    EDUCATION = "education"
    POLICE = "police"
    PROBATION = "probation"
    HOUSING = "housing"
    YOUTH_JUSTICE = "youth_justice"
    VOLUNTARY = "voluntary"
    LEGAL = "legal"
    OTHER = "other"


class ConferenceType(NamedCodeList):
    """Child protection conferences."""

    INITIAL = "initial"
    TRANSFER_IN = "transfer_in"
    REVIEW = "review"


class ChronologyCategory(NamedCodeList):
    """Kinds of significant event in a chronology."""

    REFERRAL = "referral"
    ASSESSMENT = "assessment"
    STRATEGY_DISCUSSION = "strategy_discussion"
    SECTION_47 = "section_47"
    CONFERENCE = "conference"
    PLAN = "plan"
    VISIT = "visit"
    INCIDENT = "incident"
    MISSING = "missing"
    HEALTH = "health"
    EDUCATION = "education"
    POLICE = "police"
    COURT = "court"
    MOVE = "move"
    PLACEMENT = "placement"
    OTHER = "other"


_ALIASES[Sex] = SEX_ALIASES
_ALIASES[CategoryOfAbuse] = CATEGORY_OF_ABUSE_ALIASES


def normalise(value: Any, aliases: dict[str, str] | None = None) -> Any:
    """Trim and upper-case a code, then map a historic variant onto its current code."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return value
    key = value.strip().upper()
    if aliases and key in aliases:
        return aliases[key]
    return key


# Names the record's fields use; each accepts the historic variants (see CodeList).
SexCode = Sex
EthnicityCode = Ethnicity
DisabilityCode = Disability
ReferralSourceCode = ReferralSource
PrimaryNeedCode = PrimaryNeed
CategoryOfAbuseCode = CategoryOfAbuse
ReasonForClosureCode = ReasonForClosure
UPNUnknownCode = UPNUnknownReason
LegalStatusCode = LegalStatus
ReasonNewEpisodeCode = ReasonNewEpisode
AlertTypeCode = AlertType
AlertSeverityCode = AlertSeverity
RelationshipCode = Relationship
IdentifierSystemCode = IdentifierSystem
AgencyTypeCode = AgencyType
ChronologyCategoryCode = ChronologyCategory
