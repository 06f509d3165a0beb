"""The canonical child record, version 1: what a receiving authority needs to continue a case.

Pure pydantic, no I/O. Every model forbids unknown fields, so a misspelt field is reported
instead of silently dropped. Check digits and cross-field rules are not type errors: a record
with a wrong NHS number still parses, and ``exchange.canonical.rules`` says what is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from exchange.canonical.codes import (
    AgencyTypeCode,
    AlertSeverity,
    AlertSeverityCode,
    AlertTypeCode,
    CategoryOfAbuseCode,
    ChronologyCategoryCode,
    ConferenceType,
    DatePrecision,
    DisabilityCode,
    EthnicityCode,
    IdentifierSystemCode,
    LegalStatusCode,
    NameUse,
    PrimaryNeedCode,
    ReasonForClosureCode,
    ReasonNewEpisodeCode,
    ReferralSourceCode,
    RelationshipCode,
    SexCode,
    UPNUnknownCode,
)
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode

SCHEMA_VERSION = "1.0"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)
]
LocalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(description="An identifier local to this record, used to refer between its parts."),
]


def _iso_date_only(value: object) -> object:
    # pydantic would read numbers as Unix timestamps ("0" -> 1970-01-01); a record's dates
    # are days written YYYY-MM-DD, so anything else is refused.
    if type(value) is dt.date:
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return text
        raise ValueError("a date is written YYYY-MM-DD")
    if isinstance(value, bool | int | float):
        raise ValueError("a date is written YYYY-MM-DD, not as a number")
    return value


Date = Annotated[dt.date, BeforeValidator(_iso_date_only)]
"""A calendar day, written YYYY-MM-DD."""


def _tidy_postcode(value: object) -> object:
    if not isinstance(value, str):
        return value
    return normalise_postcode(value) or normalise_partial_postcode(value) or value.strip()


Postcode = Annotated[
    str,
    BeforeValidator(_tidy_postcode),
    StringConstraints(min_length=1, max_length=16),
    Field(description="Stored upper case with one space before the inward code."),
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Model(BaseModel):
    """Base of every part of the record."""

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


class Period(Model):
    """A span of time; an open end means it is still going on."""

    start_date: Date | None = None
    end_date: Date | None = None


# --- the child ------------------------------------------------------------------------------


class Identifier(Model):
    """An identifier with the scheme it belongs to and, for local ids, who issued it."""

    system: IdentifierSystemCode
    value: Text
    issuer: Text | None = Field(
        default=None,
        description="For la_child_id and legacy ids: the DfE or GSS code of the issuing authority.",
    )


class PersonName(Model):
    """A name a person is or was known by."""

    given: Text | None = None
    middle: Text | None = None
    family: Text | None = None
    use: NameUse = NameUse.OFFICIAL
    start_date: Date | None = None
    end_date: Date | None = None


class Address(Model):
    """An address with the time the person lived there; confidential ones are never disclosed."""

    id: LocalId | None = None
    lines: list[Text] = Field(default_factory=list, max_length=10)
    town: Text | None = None
    postcode: Postcode | None = None
    uprn: Annotated[str, StringConstraints(pattern=r"^\d{1,12}$")] | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    confidential: bool = Field(
        default=False,
        description="Must not be disclosed outside the authorities holding the case.",
    )
    not_to_be_disclosed_to: list[LocalId] = Field(
        default_factory=list,
        description="Related people (by id) who must never learn this address.",
    )


class Language(Model):
    """A language the child uses."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=8)]
    main: bool = False
    interpreter_needed: bool = False


class ImmigrationStatus(Model):
    """Immigration status, including unaccompanied asylum-seeking child (UASC) status."""

    status: Text | None = None
    uasc: bool = False
    uasc_end_date: Date | None = None
    start_date: Date | None = None
    end_date: Date | None = None


class Child(Model):
    """Who the child is."""

    identifiers: list[Identifier] = Field(default_factory=list, max_length=50)
    upn_unknown_reason: UPNUnknownCode | None = None
    names: list[PersonName] = Field(default_factory=list, max_length=50)
    birth_date: Date | None = None
    birth_date_precision: DatePrecision = DatePrecision.DAY
    expected_birth_date: Date | None = Field(
        default=None, description="For an unborn child, instead of a birth date."
    )
    sex: SexCode | None = None
    gender: Text | None = Field(default=None, description="Gender identity in the child's words.")
    ethnicity: EthnicityCode | None = None
    languages: list[Language] = Field(default_factory=list, max_length=20)
    disabilities: list[DisabilityCode] = Field(default_factory=list, max_length=20)
    death_date: Date | None = None
    immigration_status: ImmigrationStatus | None = None
    addresses: list[Address] = Field(default_factory=list, max_length=200)
    nationality: Text | None = None
    religion: Text | None = None


# --- safety ---------------------------------------------------------------------------------


class Alert(Model):
    """A safety alert: shown first in every view, carried into every export."""

    id: LocalId | None = None
    type: AlertTypeCode
    severity: AlertSeverityCode = AlertSeverity.HIGH
    summary: Text
    details: LongText | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    related_person_ids: list[LocalId] = Field(
        default_factory=list, description="Related people (by id) the alert concerns."
    )
    not_to_be_disclosed_to: list[LocalId] = Field(
        default_factory=list,
        description="Related people (by id) who must never see this alert or what it protects.",
    )
    raised_by: Text | None = None


class MissingEpisode(Model):
    """A time the child went missing or was away from placement without authorisation."""

    start_date: Date
    end_date: Date | None = None
    kind: Literal["missing", "away"] = "missing"
    return_interview_offered: bool | None = None
    return_interview_accepted: bool | None = None


# --- people around the child ---------------------------------------------------------------


class ContactDetails(Model):
    """How to reach someone."""

    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = None


class RelatedPerson(Model):
    """A parent, carer, sibling or other member of the child's family or household."""

    id: LocalId
    names: list[PersonName] = Field(default_factory=list, max_length=20)
    relationship: RelationshipCode
    parental_responsibility: bool | None = None
    lives_with_child: bool | None = None
    birth_date: Date | None = None
    sex: SexCode | None = None
    identifiers: list[Identifier] = Field(default_factory=list, max_length=20)
    addresses: list[Address] = Field(default_factory=list, max_length=50)
    contact: ContactDetails | None = None
    alerts: list[Alert] = Field(default_factory=list, max_length=100)
    notes: LongText | None = None


class Professional(Model):
    """A professional involved with the child, such as the allocated social worker or the GP."""

    id: LocalId | None = None
    name: Text | None = None
    role: Text
    agency: AgencyTypeCode | None = None
    organisation: Text | None = None
    contact: ContactDetails | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    is_lead: bool = False


# --- social care history --------------------------------------------------------------------


class Assessment(Model):
    """A child and family assessment."""

    id: LocalId | None = None
    start_date: Date | None = None
    internal_review_date: Date | None = None
    authorisation_date: Date | None = None
    factors: list[Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True)]] = Field(
        default_factory=list, max_length=50
    )


class CINPlan(Model):
    """A child in need plan."""

    id: LocalId | None = None
    start_date: Date | None = None
    end_date: Date | None = None


class Section47Enquiry(Model):
    """A Section 47 enquiry and whether it led to an initial child protection conference."""

    id: LocalId | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    initial_conference_target_date: Date | None = None
    initial_conference_date: Date | None = None
    initial_conference_not_required: bool | None = None


class Conference(Model):
    """A child protection conference."""

    id: LocalId | None = None
    type: ConferenceType
    date: Date | None = None
    target_date: Date | None = None
    led_to_cp_plan: bool | None = None


class Visit(Model):
    """A statutory visit."""

    date: Date
    seen: bool | None = None
    seen_alone: bool | None = None


class ChildProtectionPlan(Model):
    """A child protection plan with its categories, reviews and visits."""

    id: LocalId | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    initial_category: CategoryOfAbuseCode | None = None
    latest_category: CategoryOfAbuseCode | None = None
    number_of_previous_plans: Annotated[int, Field(ge=0, le=99)] | None = None
    other_local_authority: bool = Field(
        default=False, description="The plan is held by another local authority."
    )
    review_dates: list[Date] = Field(default_factory=list, max_length=200)
    visits: list[Visit] = Field(default_factory=list, max_length=2000)


class Placement(Model):
    """Where a looked-after child lived, with whom and why it changed."""

    id: LocalId | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    placement_type: Text | None = None
    provider: Text | None = None
    postcode: Postcode | None = None
    urn: Text | None = None
    change_reason: Text | None = None


class LookedAfterEpisode(Model):
    """A looked-after episode (SSDA903): a legal status and a placement for a span of time."""

    id: LocalId | None = None
    start_date: Date | None = None
    end_date: Date | None = None
    reason_new_episode: ReasonNewEpisodeCode | None = None
    legal_status: LegalStatusCode | None = None
    category_of_need: PrimaryNeedCode | None = None
    placement: Placement | None = None
    reason_episode_ceased: Text | None = None
    home_postcode: Postcode | None = None


class SocialCareEpisode(Model):
    """One child in need episode, from referral to closure, with what happened in it."""

    id: LocalId | None = None
    referral_date: Date | None = None
    referral_source: ReferralSourceCode | None = None
    primary_need: PrimaryNeedCode | None = None
    referral_no_further_action: bool | None = None
    closure_date: Date | None = None
    closure_reason: ReasonForClosureCode | None = None
    assessments: list[Assessment] = Field(default_factory=list, max_length=500)
    cin_plans: list[CINPlan] = Field(default_factory=list, max_length=500)
    section47_enquiries: list[Section47Enquiry] = Field(default_factory=list, max_length=500)
    conferences: list[Conference] = Field(default_factory=list, max_length=500)
    cp_plans: list[ChildProtectionPlan] = Field(default_factory=list, max_length=500)
    looked_after_episodes: list[LookedAfterEpisode] = Field(default_factory=list, max_length=2000)


# --- the story ------------------------------------------------------------------------------


class ChronologyEntry(Model):
    """A significant event in the child's life or the case."""

    date: Date
    category: ChronologyCategoryCode
    summary: Text
    details: LongText | None = None
    source: Text | None = None
    recorded_by: Text | None = None


class Narrative(Model):
    """Text in the social worker's own words."""

    text: LongText
    author: Text | None = None
    date: Date | None = None


class AgencyContribution(Model):
    """What another agency (police, health, school) contributed, with author and date."""

    agency: AgencyTypeCode
    organisation: Text | None = None
    author: Text | None = None
    date: Date | None = None
    title: Text | None = None
    text: LongText


class Document(Model):
    """A document that travels with the case, described and fingerprinted."""

    id: LocalId | None = None
    title: Text
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=255)]
    size_bytes: Annotated[int, Field(ge=0)]
    sha256: Sha256
    date: Date | None = None


class SourceLocation(Model):
    """Where in a source export a value came from."""

    file: Text | None = None
    row: Annotated[int, Field(ge=1)] | None = None
    line: Annotated[int, Field(ge=1)] | None = None
    column: Text | None = None
    element: Text | None = Field(default=None, description="An XML element path or JSON pointer.")
    sheet: Text | None = None


class UnmappedValue(Model):
    """A source value the adapter could not place in the record, kept with where it came from."""

    field: Text = Field(description="The source's own name for the value.")
    value: LongText
    location: SourceLocation
    reason: Text | None = None


class Provenance(Model):
    """Where the record came from."""

    source_authority: Text = Field(description="DfE 3-digit or GSS code of the sending authority.")
    source_system: Text | None = Field(default=None, description="e.g. Liquidlogic LCS, Mosaic.")
    adapter: Text | None = None
    adapter_version: Text | None = None
    source_system_version: Text | None = Field(default=None, description="The system's release.")
    source_format_version: Text | None = Field(
        default=None, description="Version of the export format, e.g. the census year."
    )
    batch_id: Text | None = Field(
        default=None, description="The export's own serial or batch number."
    )
    reference_date: Date | None = Field(
        default=None, description="The date the export describes the case as at."
    )
    extracted_at: dt.datetime | None = None


class ChildRecord(Model):
    """The canonical child record, version 1."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        title="Canonical child record",
        json_schema_extra={"$id": "https://exchange.example/schemas/child-record.v1.json"},
    )

    schema_version: Annotated[str, StringConstraints(pattern=r"^1\.\d+$")] = Field(
        default=SCHEMA_VERSION,
        description="1.x: minor versions only add optional fields; see docs/schema-evolution.md.",
    )
    provenance: Provenance
    child: Child
    alerts: list[Alert] = Field(default_factory=list, max_length=500)
    missing_episodes: list[MissingEpisode] = Field(default_factory=list, max_length=2000)
    related_people: list[RelatedPerson] = Field(default_factory=list, max_length=200)
    professionals: list[Professional] = Field(default_factory=list, max_length=500)
    episodes: list[SocialCareEpisode] = Field(default_factory=list, max_length=500)
    chronology: list[ChronologyEntry] = Field(default_factory=list, max_length=20_000)
    summary: Narrative | None = Field(default=None, description="The case summary.")
    current_plan: Narrative | None = Field(default=None, description="The plan, in words.")
    agency_contributions: list[AgencyContribution] = Field(default_factory=list, max_length=2000)
    documents: list[Document] = Field(default_factory=list, max_length=2000)
    unmapped: list[UnmappedValue] = Field(default_factory=list)
