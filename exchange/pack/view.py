"""What the pack shows, in the order a social worker needs it: pure, no I/O.

Page one answers, in order: who the child is; what the risks are; where and with whom the child
lives now; why the case is moving and under what legal status; when the transfer-in conference
is due; who to call. Everything else follows. A copy made for someone a safety flag excludes
(``viewer``) leaves out every address and alert withheld from them, and every confidential
address; the authorities' own copy shows them with the warning.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from exchange.canonical import ChildRecord
from exchange.canonical.codes import (
    DISABILITY_MEANINGS,
    ETHNICITY_MEANINGS,
    LEGAL_STATUS_MEANINGS,
    PRIMARY_NEED_MEANINGS,
    AlertSeverity,
    CategoryOfAbuse,
    Disability,
    Ethnicity,
    IdentifierSystem,
    LegalStatus,
    PrimaryNeed,
)
from exchange.canonical.model import Address, Alert, PersonName, RelatedPerson

CATEGORY_MEANINGS = {
    CategoryOfAbuse.NEGLECT: "Neglect",
    CategoryOfAbuse.PHYSICAL: "Physical abuse",
    CategoryOfAbuse.SEXUAL: "Sexual abuse",
    CategoryOfAbuse.EMOTIONAL: "Emotional abuse",
    CategoryOfAbuse.MULTIPLE: "Multiple",
}
# ISO 639 codes most often recorded in English children's services; others are shown as given.
LANGUAGES = {
    "en": "English",
    "eng": "English",
    "cy": "Welsh",
    "pl": "Polish",
    "pol": "Polish",
    "ro": "Romanian",
    "ur": "Urdu",
    "pa": "Punjabi",
    "bn": "Bengali",
    "ar": "Arabic",
    "so": "Somali",
    "ti": "Tigrinya",
    "ps": "Pashto",
    "fa": "Persian",
    "ku": "Kurdish",
    "tr": "Turkish",
    "pt": "Portuguese",
    "es": "Spanish",
    "fr": "French",
    "lt": "Lithuanian",
    "gu": "Gujarati",
    "ta": "Tamil",
    "zh": "Chinese",
    "yue": "Cantonese",
    "bg": "Bulgarian",
    "uk": "Ukrainian",
    "ru": "Russian",
    "sq": "Albanian",
    "am": "Amharic",
    "bsl": "British Sign Language",
}
SEVERITY_ORDER = {AlertSeverity.HIGH: 0, AlertSeverity.MEDIUM: 1, AlertSeverity.LOW: 2}
IDENTIFIER_LABELS = {
    IdentifierSystem.NHS_NUMBER: "NHS number",
    IdentifierSystem.UPN: "UPN",
    IdentifierSystem.FORMER_UPN: "Former UPN",
    IdentifierSystem.LA_CHILD_ID: "Sending authority's id",
    IdentifierSystem.LEGACY: "Legacy id",
    IdentifierSystem.OTHER: "Other id",
}


def name_of(names: list[PersonName]) -> str:
    """A person's name as used (preferred, else official)."""
    chosen = (
        next((n for n in names if n.use == "preferred"), None)
        or next((n for n in names if n.use == "official"), None)
        or (names[0] if names else None)
    )
    if chosen is None:
        return "Name not recorded"
    return (
        " ".join(p for p in (chosen.given, chosen.middle, chosen.family) if p)
        or "Name not recorded"
    )


def age_text(born: dt.date | None, expected: dt.date | None, today: dt.date) -> str:
    """'7 years', '11 months', or 'unborn, due 3 March 2027'."""
    if born is None:
        return f"unborn, due {long_date(expected)}" if expected else "age not known"
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    if months < 24:
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{months // 12} years"


def long_date(day: dt.date | None) -> str:
    """'3 March 2027' (or an empty string)."""
    return f"{day.day} {day:%B %Y}" if day else ""


@dataclass
class AlertView:
    """A safety alert as shown."""

    type: str
    severity: str
    summary: str
    details: str | None
    since: str
    about: list[str]
    withheld_from: list[str]


@dataclass
class AddressView:
    """An address as shown."""

    text: str
    since: str
    until: str
    confidential: bool
    withheld_from: list[str]


@dataclass
class PersonView:
    """Someone in the child's family or household."""

    id: str
    name: str
    relationship: str
    parental_responsibility: bool | None
    lives_with_child: bool | None
    born: str
    contact: str
    alerts: list[AlertView]
    notes: str | None


@dataclass
class ChildPack:
    """Everything the pack shows about one child."""

    name: str
    other_names: list[str]
    age: str
    born: str
    home_heading: str
    sex: str
    ethnicity: str
    languages: list[str]
    disabilities: list[str]
    identifiers: list[tuple[str, str]]
    alerts: list[AlertView]
    missing_summary: str | None
    current_address: AddressView | None
    previous_addresses: list[AddressView]
    lives_with: list[str]
    legal_status: list[str]
    cp_plan: dict[str, str] | None
    people: list[PersonView]
    professionals: list[dict[str, str]]
    sending_contacts: list[dict[str, str]]
    summary: str | None
    plan: str | None
    plan_author: str
    chronology: list[dict[str, str]]
    chronology_categories: list[tuple[str, int]]
    episodes: list[dict[str, object]]
    contributions: list[dict[str, str]]
    documents: list[dict[str, str]]
    unmapped: list[dict[str, str]]
    redacted: int = 0


@dataclass
class TransferFacts:
    """The transfer's own facts shown on page one."""

    id: str
    from_name: str
    to_name: str
    reason: str
    legal_basis: str
    urgency: str
    status: str
    sent_on: str
    conference_due: str
    working_days_left: int
    conference_clock_started: bool


@dataclass
class Pack:
    """The whole pack: the transfer and each child."""

    transfer: TransferFacts
    children: list[ChildPack]
    generated_at: str
    viewer: str | None = None
    marking: str = "OFFICIAL-SENSITIVE"
    notices: list[str] = field(default_factory=list)


def _withheld(ids: list[str], people: dict[str, str]) -> list[str]:
    return [people.get(i, i) for i in ids]


def _alert(alert: Alert, people: dict[str, str]) -> AlertView:
    return AlertView(
        type=alert.type.value.replace("_", " "),
        severity=alert.severity.value,
        summary=alert.summary,
        details=alert.details,
        since=long_date(alert.start_date),
        about=_withheld(alert.related_person_ids, people),
        withheld_from=_withheld(alert.not_to_be_disclosed_to, people),
    )


def _address(address: Address, people: dict[str, str]) -> AddressView:
    parts = [*address.lines, address.town or "", address.postcode or ""]
    return AddressView(
        text=", ".join(p for p in parts if p),
        since=long_date(address.start_date),
        until=long_date(address.end_date),
        confidential=address.confidential or bool(address.not_to_be_disclosed_to),
        withheld_from=_withheld(address.not_to_be_disclosed_to, people),
    )


def _hidden_from(viewer: str | None, withheld: list[str], confidential: bool) -> bool:
    if viewer is None:
        return False
    return confidential or viewer in withheld


def child_pack(record: ChildRecord, *, today: dt.date, viewer: str | None = None) -> ChildPack:
    """The pack of one child's record, for the authorities or (viewer) for one related person."""
    c = record.child
    people = {
        p.id: f"{name_of(p.names)} ({p.relationship.value.replace('_', ' ')})"
        for p in record.related_people
    }
    redacted = 0

    alerts = []
    for alert in sorted(
        record.alerts, key=lambda a: (SEVERITY_ORDER[a.severity], a.start_date or dt.date.min)
    ):
        if alert.end_date and alert.end_date < today:
            continue
        if _hidden_from(viewer, alert.not_to_be_disclosed_to, False) or (
            viewer is not None and alert.type == "do_not_disclose_address"
        ):
            redacted += 1
            continue
        alerts.append(_alert(alert, people))

    addresses = []
    for address in sorted(c.addresses, key=lambda a: a.start_date or dt.date.min, reverse=True):
        view = _address(address, people)
        if _hidden_from(viewer, address.not_to_be_disclosed_to, view.confidential):
            redacted += 1
            continue
        addresses.append((address, view))
    current = next((v for a, v in addresses if a.end_date is None), None)
    previous = [v for a, v in addresses if a.end_date is not None]

    lives_with = [
        name_of(p.names) + f" ({p.relationship.value.replace('_', ' ')})"
        for p in record.related_people
        if p.lives_with_child
    ]

    plans = [
        (ep, plan)
        for ep in record.episodes
        for plan in ep.cp_plans
        if not plan.other_local_authority
    ]
    open_plans = [p for p in plans if p[1].end_date is None]
    cp_plan = None
    if open_plans:
        _, plan = max(open_plans, key=lambda p: p[1].start_date or dt.date.min)
        last_review = max(plan.review_dates) if plan.review_dates else None
        cp_plan = {
            "since": long_date(plan.start_date),
            "initial_category": CATEGORY_MEANINGS.get(plan.initial_category, "")
            if plan.initial_category
            else "not recorded",
            "latest_category": CATEGORY_MEANINGS.get(plan.latest_category, "")
            if plan.latest_category
            else "not recorded",
            "last_review": long_date(last_review) if last_review else "no review yet",
            "previous_plans": str(plan.number_of_previous_plans)
            if plan.number_of_previous_plans is not None
            else "not recorded",
        }
    legal = []
    for ep in record.episodes:
        for la in ep.looked_after_episodes:
            if la.end_date is None and la.legal_status:
                legal.append(
                    f"Looked after: {LEGAL_STATUS_MEANINGS[LegalStatus(la.legal_status)]} since {long_date(la.start_date)}"
                )
    if cp_plan:
        legal.insert(0, f"Child protection plan since {cp_plan['since']}")
    elif any(ep.closure_date is None for ep in record.episodes):
        legal.append("Child in need")

    missing_summary = None
    if record.missing_episodes:
        still = [m for m in record.missing_episodes if m.end_date is None]
        latest = max(m.start_date for m in record.missing_episodes)
        missing_summary = (
            f"{len(record.missing_episodes)} missing episode(s), the latest on {long_date(latest)}"
            + ("; missing now" if still else "")
        )

    person_views = []
    for person in record.related_people:
        person_alerts = [
            _alert(a, people)
            for a in person.alerts
            if not _hidden_from(viewer, a.not_to_be_disclosed_to, False)
            and not (a.end_date and a.end_date < today)
        ]
        person_views.append(_person(person, person_alerts))

    professionals = [
        {
            "name": p.name or "",
            "role": p.role,
            "organisation": p.organisation or "",
            "phone": (p.contact.phone or "") if p.contact else "",
            "email": (p.contact.email or "") if p.contact else "",
            "since": long_date(p.start_date),
            "lead": "yes" if p.is_lead else "",
        }
        for p in record.professionals
        if p.end_date is None or p.end_date >= today
    ]
    sending = [p for p in professionals if p["lead"]] or [
        p for p in professionals if "social worker" in p["role"].lower()
    ]

    chronology = [
        {
            "date": long_date(e.date),
            "iso": e.date.isoformat(),
            "category": e.category.value,
            "label": e.category.value.replace("_", " "),
            "summary": e.summary,
            "details": e.details or "",
            "source": e.source or e.recorded_by or "",
        }
        for e in sorted(record.chronology, key=lambda e: e.date, reverse=True)
    ]
    categories = sorted(Counter(e["category"] for e in chronology).items())

    episodes: list[dict[str, object]] = []
    for ep in sorted(record.episodes, key=lambda e: e.referral_date or dt.date.min, reverse=True):
        items = []
        for plan in ep.cp_plans:
            cats = ", ".join(
                CATEGORY_MEANINGS[c] for c in (plan.initial_category, plan.latest_category) if c
            )
            items.append(
                f"Child protection plan {long_date(plan.start_date)} to {long_date(plan.end_date) or 'now'} ({cats})"
            )
        for p in ep.cin_plans:
            items.append(
                f"Child in need plan {long_date(p.start_date)} to {long_date(p.end_date) or 'now'}"
            )
        for s in ep.section47_enquiries:
            items.append(f"Section 47 enquiry started {long_date(s.start_date)}")
        for conf in ep.conferences:
            items.append(
                f"{conf.type.value.replace('_', '-').capitalize()} conference {long_date(conf.date)}"
            )
        for a in ep.assessments:
            items.append(
                f"Assessment {long_date(a.start_date)}"
                + (f", factors {', '.join(a.factors)}" if a.factors else "")
            )
        for la in ep.looked_after_episodes:
            items.append(
                f"Looked after {long_date(la.start_date)} to {long_date(la.end_date) or 'now'}"
            )
        episodes.append(
            {
                "referral": long_date(ep.referral_date),
                "need": PRIMARY_NEED_MEANINGS[PrimaryNeed(ep.primary_need)]
                if ep.primary_need
                else "not recorded",
                "closed": long_date(ep.closure_date),
                "items": items,
            }
        )

    return ChildPack(
        name=name_of(c.names),
        other_names=[name_of([n]) for n in c.names if n.use in ("alias", "previous")],
        age=age_text(c.birth_date, c.expected_birth_date, today),
        born=f"born {long_date(c.birth_date)}" if c.birth_date else "",
        home_heading=(
            f"Where {name_of(c.names).split(' ')[0]} lives now"
            if c.birth_date and c.names
            else "Where the family lives now"
        ),
        sex={"M": "Male", "F": "Female", "U": "Not known"}.get(c.sex or "", "Not recorded"),
        ethnicity=ETHNICITY_MEANINGS[Ethnicity(c.ethnicity)] if c.ethnicity else "Not recorded",
        languages=[
            LANGUAGES.get(lang.code.lower(), lang.code)
            + (" (interpreter needed)" if lang.interpreter_needed else "")
            for lang in c.languages
        ],
        disabilities=[DISABILITY_MEANINGS[Disability(d)] for d in c.disabilities if d != "NONE"],
        identifiers=[(IDENTIFIER_LABELS[i.system], i.value) for i in c.identifiers],
        alerts=alerts,
        missing_summary=missing_summary,
        current_address=current,
        previous_addresses=previous,
        lives_with=lives_with,
        legal_status=legal,
        cp_plan=cp_plan,
        people=person_views,
        professionals=professionals,
        sending_contacts=sending,
        summary=record.summary.text if record.summary else None,
        plan=record.current_plan.text if record.current_plan else None,
        plan_author=", ".join(
            p
            for p in (
                record.current_plan.author if record.current_plan else None,
                long_date(record.current_plan.date) if record.current_plan else None,
            )
            if p
        ),
        chronology=chronology,
        chronology_categories=categories,
        episodes=episodes,
        contributions=[
            {
                "agency": a.agency.value.replace("_", " "),
                "organisation": a.organisation or "",
                "author": a.author or "",
                "date": long_date(a.date),
                "title": a.title or "",
                "text": a.text,
            }
            for a in record.agency_contributions
        ],
        documents=[
            {
                "title": d.title,
                "type": d.media_type,
                "size": f"{d.size_bytes / 1024:.0f} KB",
                "date": long_date(d.date),
                "sha256": d.sha256[:12],
            }
            for d in record.documents
        ],
        unmapped=[
            {
                "field": u.field,
                "value": u.value,
                "where": ", ".join(
                    str(v)
                    for v in (
                        u.location.file,
                        u.location.sheet,
                        u.location.line and f"line {u.location.line}",
                        u.location.row and f"row {u.location.row}",
                        u.location.column,
                        u.location.element,
                    )
                    if v
                ),
                "reason": u.reason or "",
            }
            for u in record.unmapped
        ],
        redacted=redacted,
    )


def _person(person: RelatedPerson, alerts: list[AlertView]) -> PersonView:
    contact = ""
    if person.contact:
        contact = ", ".join(p for p in (person.contact.phone, person.contact.email) if p)
    return PersonView(
        id=person.id,
        name=name_of(person.names),
        relationship=person.relationship.value.replace("_", " "),
        parental_responsibility=person.parental_responsibility,
        lives_with_child=person.lives_with_child,
        born=long_date(person.birth_date),
        contact=contact,
        alerts=alerts,
        notes=person.notes,
    )
