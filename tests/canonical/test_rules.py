"""Every rule fires on a record built to break it, and stays quiet once the record is corrected.

Each case starts from a small valid record (``base_record``), breaks it in one way, and says
where the problem must point and which DfE rule it carries. The same case then corrects the
record and expects no problem at all, so a rule that fires too eagerly fails here too.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from exchange.authorities import load_registry
from exchange.canonical import RULES, ChildRecord, Problem, RuleContext, Severity, check_record
from exchange.canonical.identifiers import upn_check_letter

Doc = dict[str, Any]
Mutation = Callable[[Doc], None]

TODAY = dt.date(2026, 11, 1)
CONTEXT = RuleContext(
    today=TODAY,
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
ERROR, WARNING = Severity.ERROR, Severity.WARNING

UPN_BODY = "202" + "41002012" + "3"
UPN = upn_check_letter(UPN_BODY) + UPN_BODY  # R202410020123


def base_record() -> Doc:
    """A small record with no problems: a child on a plan, two parents, one alert."""
    return {
        "provenance": {"source_authority": "202", "adapter": "manual"},
        "child": {
            "identifiers": [
                {"system": "la_child_id", "value": "CAM100234", "issuer": "202"},
                {"system": "nhs_number", "value": "9434765919"},
                {"system": "upn", "value": UPN},
            ],
            "names": [{"given": "Tilly", "family": "Specimen"}],
            "birth_date": "2016-03-14",
            "sex": "F",
            "addresses": [
                {"lines": ["22 Imaginary Road"], "postcode": "NW5 9ZZ", "start_date": "2019-02-01"}
            ],
        },
        "alerts": [
            {
                "type": "risk_from_person",
                "severity": "high",
                "summary": "Father has been violent to mother.",
                "related_person_ids": ["rp-father"],
                "start_date": "2026-02-28",
            }
        ],
        "related_people": [
            {"id": "rp-mother", "relationship": "mother", "parental_responsibility": True},
            {"id": "rp-father", "relationship": "father", "parental_responsibility": True},
        ],
        "episodes": [
            {
                "referral_date": "2026-03-02",
                "referral_source": "6",
                "primary_need": "N1",
                "assessments": [{"start_date": "2026-03-02", "factors": ["3A", "4B"]}],
                "cp_plans": [
                    {
                        "start_date": "2026-03-23",
                        "initial_category": "NEG",
                        "latest_category": "EMO",
                    }
                ],
            }
        ],
    }


def problems_of(doc: Doc, context: RuleContext = CONTEXT) -> list[Problem]:
    return check_record(ChildRecord.model_validate(doc), context)


def codes_of(doc: Doc, context: RuleContext = CONTEXT) -> list[str]:
    return [p.code for p in problems_of(doc, context)]


# --- small mutations ------------------------------------------------------------------------


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc[int(part)] if part.isdigit() else doc[part]
    return doc


def put(path: str, value: Any) -> Mutation:
    """Set the value at a dotted path (``child.identifiers.0.value``)."""
    parent, _, last = path.rpartition(".")

    def mutate(doc: Doc) -> None:
        target = _get(doc, parent) if parent else doc
        target[int(last) if last.isdigit() else last] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    """Remove the key or list item at a dotted path."""
    parent, _, last = path.rpartition(".")

    def mutate(doc: Doc) -> None:
        target = _get(doc, parent) if parent else doc
        del target[int(last) if last.isdigit() else last]

    return mutate


def append(path: str, value: Any) -> Mutation:
    """Append to the list at a dotted path."""

    def mutate(doc: Doc) -> None:
        _get(doc, path).append(copy.deepcopy(value))

    return mutate


def steps(*mutations: Mutation) -> Mutation:
    def mutate(doc: Doc) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


@dataclass(frozen=True)
class Case:
    """One way to break a rule: the breach, where it must point, and how to correct it."""

    id: str
    code: str
    breaks: Mutation
    pointer: str
    dfe_rule: str | None
    corrects: Mutation
    severity: Severity = ERROR
    says: str = ""  # a fragment the message must contain

    @property
    def param(self) -> Any:
        return pytest.param(self, id=self.id)


PLAN = "episodes.0.cp_plans"
EPISODE = "episodes.0"
OPEN_PLAN = {"start_date": "2026-05-01", "initial_category": "PHY", "latest_category": "PHY"}

CASES = [
    # identifiers
    Case(
        "nhs-check-digit",
        "nhs-number-invalid",
        put("child.identifiers.1.value", "9434765918"),
        "/child/identifiers/1/value",
        None,
        put("child.identifiers.1.value", "943 476 5919"),
        says="'9434765918'",
    ),
    Case(
        "nhs-of-a-parent",
        "nhs-number-invalid",
        put("related_people.1.identifiers", [{"system": "nhs_number", "value": "123"}]),
        "/related_people/1/identifiers/0/value",
        None,
        put("related_people.1.identifiers.0.value", "9434765919"),
        says="10 digits",
    ),
    Case(
        "upn-too-short",
        "upn-length",
        put("child.identifiers.2.value", UPN[:-1]),
        "/child/identifiers/2/value",
        None,
        put("child.identifiers.2.value", UPN),
        says="13 characters",
    ),
    Case(
        "upn-check-letter",
        "upn-check-letter",
        put("child.identifiers.2.value", "A" + UPN_BODY),
        "/child/identifiers/2/value",
        "1510",
        put("child.identifiers.2.value", UPN),
        says=f"should be {UPN[0]}, not A",
    ),
    Case(
        "former-upn-check-letter",
        "upn-check-letter",
        append("child.identifiers", {"system": "former_upn", "value": "A" + UPN_BODY}),
        "/child/identifiers/3/value",
        "1510",
        put("child.identifiers.3.value", UPN),
        says="Former UPN",
    ),
    Case(
        "upn-la-code-unknown",
        "upn-la-code",
        put(
            "child.identifiers.2.value",
            upn_check_letter("999" + UPN_BODY[3:]) + "999" + UPN_BODY[3:],
        ),
        "/child/identifiers/2/value",
        "1530",
        put("child.identifiers.2.value", UPN),
        says="999",
    ),
    Case(
        "upn-la-code-not-digits",
        "upn-la-code",
        put("child.identifiers.2.value", "RABC" + UPN_BODY[3:]),
        "/child/identifiers/2/value",
        "1530",
        put("child.identifiers.2.value", UPN),
    ),
    Case(
        "upn-not-numeric",
        "upn-not-numeric",
        put("child.identifiers.2.value", UPN[:6] + "X" + UPN[7:]),
        "/child/identifiers/2/value",
        "1540",
        put("child.identifiers.2.value", UPN),
        says="5-12",
    ),
    Case(
        "upn-last-character",
        "upn-last-character",
        put("child.identifiers.2.value", UPN[:-1] + "I"),
        "/child/identifiers/2/value",
        "1550",
        put("child.identifiers.2.value", UPN),
    ),
    Case(
        "la-child-id-missing",
        "la-child-id-missing",
        drop("child.identifiers.0"),
        "/child/identifiers",
        "8500",
        append("child.identifiers", {"system": "la_child_id", "value": "CAM100234"}),
    ),
    Case(
        "la-child-id-not-alphanumeric",
        "la-child-id-format",
        put("child.identifiers.0.value", "CAM-100234"),
        "/child/identifiers/0/value",
        "1570",
        put("child.identifiers.0.value", "CAM100234"),
    ),
    Case(
        "la-child-id-too-long",
        "la-child-id-format",
        put("child.identifiers.0.value", "A" * 21),
        "/child/identifiers/0/value",
        "1570",
        put("child.identifiers.0.value", "A" * 20),
    ),
    Case(
        "source-authority-unknown",
        "source-authority-unknown",
        put("provenance.source_authority", "999"),
        "/provenance/source_authority",
        None,
        put("provenance.source_authority", "E09000007"),
        says="'999'",
    ),
    # addresses and people
    Case(
        "postcode-invalid",
        "postcode-invalid",
        put("child.addresses.0.postcode", "NOTAPOSTCODE"),
        "/child/addresses/0/postcode",
        None,
        put("child.addresses.0.postcode", "nw59zz"),
        severity=WARNING,
    ),
    Case(
        "postcode-partial",
        "postcode-partial",
        put("child.addresses.0.postcode", "NW5 9"),
        "/child/addresses/0/postcode",
        None,
        put("child.addresses.0.postcode", "NW5 9ZZ"),
        severity=WARNING,
        says="'NW5 9'",
    ),
    Case(
        "postcode-partial-of-a-parent",
        "postcode-partial",
        put("related_people.1.addresses", [{"postcode": "nw1"}]),
        "/related_people/1/addresses/0/postcode",
        None,
        put("related_people.1.addresses.0.postcode", "NW1 9ZZ"),
        severity=WARNING,
    ),
    Case(
        "alert-not-to-be-disclosed-to-nobody",
        "person-reference-unknown",
        put("alerts.0.not_to_be_disclosed_to", ["rp-uncle"]),
        "/alerts/0/not_to_be_disclosed_to/0",
        None,
        put("alerts.0.not_to_be_disclosed_to", ["rp-father"]),
        says="'rp-uncle'",
    ),
    Case(
        "alert-about-nobody",
        "person-reference-unknown",
        put("alerts.0.related_person_ids", ["rp-father", "rp-nobody"]),
        "/alerts/0/related_person_ids/1",
        None,
        put("alerts.0.related_person_ids", ["rp-father", "rp-mother"]),
    ),
    Case(
        "address-withheld-from-nobody",
        "person-reference-unknown",
        steps(
            put("child.addresses.0.confidential", True),
            put("child.addresses.0.not_to_be_disclosed_to", ["father"]),
        ),
        "/child/addresses/0/not_to_be_disclosed_to/0",
        None,
        put("child.addresses.0.not_to_be_disclosed_to", ["rp-father"]),
    ),
    Case(
        "person-id-duplicate",
        "person-id-duplicate",
        append("related_people", {"id": "rp-mother", "relationship": "half_sibling"}),
        "/related_people/2/id",
        None,
        put("related_people.2.id", "rp-sister"),
        says="'rp-mother'",
    ),
    Case(
        "address-exclusion-not-confidential",
        "address-exclusion-not-confidential",
        put("child.addresses.0.not_to_be_disclosed_to", ["rp-father"]),
        "/child/addresses/0/confidential",
        None,
        put("child.addresses.0.confidential", True),
        severity=WARNING,
    ),
    # dates of the child
    Case(
        "birth-date-and-expected",
        "birth-date-or-expected",
        put("child.expected_birth_date", "2016-03-20"),
        "/child/expected_birth_date",
        "8525Q",
        drop("child.expected_birth_date"),
        severity=WARNING,
    ),
    Case(
        "neither-birth-date-nor-expected",
        "birth-date-or-expected",
        drop("child.birth_date"),
        "/child/birth_date",
        "8525Q",
        put("child.birth_date", "2016-03-14"),
        severity=WARNING,
    ),
    Case(
        "birth-date-in-future",
        "birth-date-in-future",
        put("child.birth_date", "2026-11-02"),
        "/child/birth_date",
        "8520",
        put("child.birth_date", "2016-03-14"),
        says="2026-11-02",
    ),
    Case(
        "death-before-birth",
        "death-before-birth",
        put("child.death_date", "2016-03-13"),
        "/child/death_date",
        None,
        put("child.death_date", "2016-03-14"),
    ),
    Case(
        "referral-before-birth",
        "referral-before-birth",
        put(f"{EPISODE}.referral_date", "2016-03-01"),
        "/episodes/0/referral_date",
        None,
        put(f"{EPISODE}.referral_date", "2016-03-14"),
        severity=WARNING,
    ),
    # episodes
    Case(
        "closure-before-referral",
        "closure-before-referral",
        steps(
            put(f"{EPISODE}.closure_date", "2026-03-01"), put(f"{EPISODE}.closure_reason", "RC8")
        ),
        "/episodes/0/closure_date",
        "8620",
        put(f"{EPISODE}.closure_date", "2026-03-02"),
    ),
    Case(
        "closed-without-reason",
        "closure-reason-missing",
        put(f"{EPISODE}.closure_date", "2026-10-30"),
        "/episodes/0/closure_reason",
        "8640",
        put(f"{EPISODE}.closure_reason", "RC5"),
    ),
    Case(
        "reason-without-closure",
        "closure-reason-missing",
        put(f"{EPISODE}.closure_reason", "RC5"),
        "/episodes/0/closure_date",
        "8640",
        put(f"{EPISODE}.closure_date", "2026-10-30"),
    ),
    Case(
        "primary-need-missing",
        "primary-need-missing",
        drop(f"{EPISODE}.primary_need"),
        "/episodes/0/primary_need",
        "8650",
        put(f"{EPISODE}.primary_need", "n1"),
    ),
    Case(
        "assessment-factor-unknown",
        "assessment-factor-unknown",
        put(f"{EPISODE}.assessments.0.factors", ["3A", "99Z"]),
        "/episodes/0/assessments/0/factors/1",
        None,
        put(f"{EPISODE}.assessments.0.factors", ["3a", "4b"]),
        says="'99Z'",
    ),
    Case(
        "assessment-factor-21-not-alone",
        "assessment-factor-21-not-alone",
        put(f"{EPISODE}.assessments.0.factors", ["21", "3A"]),
        "/episodes/0/assessments/0/factors",
        None,
        put(f"{EPISODE}.assessments.0.factors", ["21"]),
    ),
    # periods
    Case(
        "address-ends-before-start",
        "period-ends-before-start",
        put("child.addresses.0.end_date", "2019-01-31"),
        "/child/addresses/0/end_date",
        None,
        put("child.addresses.0.end_date", "2019-02-01"),
    ),
    Case(
        "parent-address-ends-before-start",
        "period-ends-before-start",
        put("related_people.1.addresses", [{"start_date": "2026-03-01", "end_date": "2026-01-01"}]),
        "/related_people/1/addresses/0/end_date",
        None,
        drop("related_people.1.addresses.0.end_date"),
    ),
    Case(
        "alert-ends-before-start",
        "period-ends-before-start",
        put("alerts.0.end_date", "2026-02-27"),
        "/alerts/0/end_date",
        None,
        put("alerts.0.end_date", "2026-10-01"),
    ),
    Case(
        "missing-episode-ends-before-start",
        "period-ends-before-start",
        put("missing_episodes", [{"start_date": "2026-05-09", "end_date": "2026-05-08"}]),
        "/missing_episodes/0/end_date",
        None,
        put("missing_episodes.0.end_date", "2026-05-09"),
    ),
    Case(
        "professional-ends-before-start",
        "period-ends-before-start",
        put(
            "professionals", [{"role": "GP", "start_date": "2020-01-01", "end_date": "2019-01-01"}]
        ),
        "/professionals/0/end_date",
        None,
        put("professionals.0.end_date", "2021-01-01"),
    ),
    Case(
        "cin-plan-ends-before-start",
        "period-ends-before-start",
        put(f"{EPISODE}.cin_plans", [{"start_date": "2026-03-10", "end_date": "2026-03-09"}]),
        "/episodes/0/cin_plans/0/end_date",
        None,
        put(f"{EPISODE}.cin_plans.0.end_date", "2026-03-22"),
    ),
    Case(
        "section47-ends-before-start",
        "period-ends-before-start",
        put(
            f"{EPISODE}.section47_enquiries",
            [{"start_date": "2026-03-03", "end_date": "2026-03-02"}],
        ),
        "/episodes/0/section47_enquiries/0/end_date",
        None,
        put(f"{EPISODE}.section47_enquiries.0.end_date", "2026-03-17"),
    ),
    Case(
        "looked-after-episode-ends-before-start",
        "period-ends-before-start",
        put(
            f"{EPISODE}.looked_after_episodes",
            [{"start_date": "2026-04-01", "end_date": "2026-03-01"}],
        ),
        "/episodes/0/looked_after_episodes/0/end_date",
        None,
        put(f"{EPISODE}.looked_after_episodes.0.end_date", "2026-05-01"),
    ),
    Case(
        "placement-ends-before-start",
        "period-ends-before-start",
        put(
            f"{EPISODE}.looked_after_episodes",
            [{"placement": {"start_date": "2026-04-01", "end_date": "2026-03-01"}}],
        ),
        "/episodes/0/looked_after_episodes/0/placement/end_date",
        None,
        drop(f"{EPISODE}.looked_after_episodes.0.placement.end_date"),
    ),
    # child protection plans
    Case(
        "cp-plan-start-missing",
        "cp-plan-start-missing",
        drop(f"{PLAN}.0.start_date"),
        "/episodes/0/cp_plans/0/start_date",
        "8720",
        put(f"{PLAN}.0.start_date", "2026-03-23"),
    ),
    Case(
        "cp-plan-ends-before-start",
        "cp-plan-ends-before-start",
        put(f"{PLAN}.0.end_date", "2026-03-22"),
        "/episodes/0/cp_plans/0/end_date",
        "8925",
        put(f"{PLAN}.0.end_date", "2026-03-24"),
    ),
    Case(
        "cp-plan-same-day",
        "cp-plan-same-day",
        put(f"{PLAN}.0.end_date", "2026-03-23"),
        "/episodes/0/cp_plans/0/end_date",
        "8840",
        drop(f"{PLAN}.0.end_date"),
    ),
    Case(
        "cp-plan-initial-category-missing",
        "cp-plan-initial-category-missing",
        drop(f"{PLAN}.0.initial_category"),
        "/episodes/0/cp_plans/0/initial_category",
        "8905",
        put(f"{PLAN}.0.initial_category", "Neglect"),
    ),
    Case(
        "cp-plan-latest-category-missing",
        "cp-plan-latest-category-missing",
        drop(f"{PLAN}.0.latest_category"),
        "/episodes/0/cp_plans/0/latest_category",
        "8910",
        put(f"{PLAN}.0.latest_category", "MUL"),
    ),
    Case(
        "cp-plans-open-several",
        "cp-plans-open-several",
        append(PLAN, OPEN_PLAN),
        "/episodes/0/cp_plans/1/end_date",
        "8935",
        put(f"{PLAN}.0.end_date", "2026-05-01"),
        says="2 plans are open",
    ),
    Case(
        "cp-plans-open-in-two-episodes",
        "cp-plans-open-several",
        append(
            "episodes",
            {"referral_date": "2026-04-20", "primary_need": "N1", "cp_plans": [OPEN_PLAN]},
        ),
        "/episodes/1/cp_plans/0/end_date",
        "8935",
        put("episodes.1.cp_plans.0.other_local_authority", True),
    ),
    Case(
        "cp-plans-overlap",
        "cp-plans-overlap",
        append(PLAN, {**OPEN_PLAN, "start_date": "2026-01-05", "end_date": "2026-04-01"}),
        "/episodes/0/cp_plans/0/start_date",
        "8940",
        put(f"{PLAN}.1.end_date", "2026-03-23"),
    ),
    Case(
        "cp-plans-overlap-both-closed",
        "cp-plans-overlap",
        steps(
            put(f"{PLAN}.0.end_date", "2026-06-01"),
            append(PLAN, {**OPEN_PLAN, "end_date": "2026-08-01"}),
        ),
        "/episodes/0/cp_plans/1/start_date",
        "8940",
        put(f"{PLAN}.1.start_date", "2026-06-01"),
    ),
]


def test_base_record_has_no_problems() -> None:
    assert problems_of(base_record()) == []


def test_every_rule_has_a_case() -> None:
    assert set(RULES) - {case.code for case in CASES} == set()
    assert {case.code for case in CASES} - set(RULES) == set()


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_rule_fires_on_a_record_that_breaks_it(case: Case) -> None:
    doc = base_record()
    case.breaks(doc)
    found = [p for p in problems_of(doc) if p.code == case.code]
    assert [p.pointer for p in found] == [case.pointer]
    problem = found[0]
    assert problem.severity == case.severity == RULES[case.code].severity
    assert problem.dfe_rule == case.dfe_rule == RULES[case.code].dfe_rule
    assert problem.fix == RULES[case.code].fix
    assert problem.message
    assert case.says in problem.message


@pytest.mark.parametrize("case", [case.param for case in CASES])
def test_rule_is_quiet_once_the_record_is_corrected(case: Case) -> None:
    doc = base_record()
    case.breaks(doc)
    case.corrects(doc)
    assert problems_of(doc) == []


# --- behaviour around the edges of particular rules ----------------------------------------


def test_errors_come_before_warnings() -> None:
    doc = base_record()
    put("child.addresses.0.postcode", "NW5 9")(doc)  # warning
    put("child.identifiers.1.value", "9434765918")(doc)  # error
    assert [p.severity for p in problems_of(doc)] == [ERROR, WARNING]


def test_source_authority_is_not_checked_without_a_registry() -> None:
    doc = base_record()
    put("provenance.source_authority", "999")(doc)
    assert codes_of(doc, RuleContext(today=TODAY)) == []


def test_abolished_authority_is_still_known() -> None:
    doc = base_record()
    put("provenance.source_authority", "E10000021")(doc)  # Northamptonshire, abolished 2021
    assert codes_of(doc) == []


def test_upn_la_code_is_not_checked_without_known_codes() -> None:
    body = "999" + UPN_BODY[3:]
    doc = base_record()
    put("child.identifiers.2.value", upn_check_letter(body) + body)(doc)
    assert codes_of(doc, RuleContext(today=TODAY)) == []


def test_birth_date_today_is_not_in_the_future() -> None:
    doc = base_record()
    put("child.birth_date", TODAY.isoformat())(doc)
    drop("episodes")(doc)
    assert codes_of(doc) == []


def test_unborn_child_referred_before_birth_is_fine() -> None:
    doc = base_record()
    drop("child.birth_date")(doc)
    put("child.expected_birth_date", "2027-01-15")(doc)
    assert codes_of(doc) == []


def test_episode_without_referral_date_needs_no_primary_need() -> None:
    doc = base_record()
    drop(f"{EPISODE}.referral_date")(doc)
    drop(f"{EPISODE}.primary_need")(doc)
    assert codes_of(doc) == []


def test_three_open_plans_are_two_problems() -> None:
    doc = base_record()
    append(PLAN, OPEN_PLAN)(doc)
    append(PLAN, {**OPEN_PLAN, "start_date": "2026-06-01"})(doc)
    found = [p for p in problems_of(doc) if p.code == "cp-plans-open-several"]
    assert [p.pointer for p in found] == [
        "/episodes/0/cp_plans/1/end_date",
        "/episodes/0/cp_plans/2/end_date",
    ]
    assert all("3 plans are open" in p.message for p in found)


def test_open_plans_are_not_also_reported_as_overlapping() -> None:
    doc = base_record()
    append(PLAN, OPEN_PLAN)(doc)
    assert "cp-plans-overlap" not in codes_of(doc)


def test_plan_held_by_another_authority_may_overlap() -> None:
    doc = base_record()
    append(PLAN, {**OPEN_PLAN, "start_date": "2026-01-05", "other_local_authority": True})(doc)
    assert codes_of(doc) == []


def test_plan_ending_the_day_the_next_starts_does_not_overlap() -> None:
    doc = base_record()
    append(PLAN, {**OPEN_PLAN, "start_date": "2025-06-01", "end_date": "2026-03-23"})(doc)
    assert codes_of(doc) == []


def test_period_ending_the_day_it_starts_is_fine() -> None:
    doc = base_record()
    put("missing_episodes", [{"start_date": "2026-05-09", "end_date": "2026-05-09"}])(doc)
    assert codes_of(doc) == []


def test_every_breach_is_reported_not_just_the_first() -> None:
    doc = base_record()
    put(f"{EPISODE}.assessments.0.factors", ["99Z", "3A", "XX"])(doc)
    found = [p.pointer for p in problems_of(doc) if p.code == "assessment-factor-unknown"]
    assert found == [
        "/episodes/0/assessments/0/factors/0",
        "/episodes/0/assessments/0/factors/2",
    ]


def test_reference_in_a_related_persons_alert_is_checked() -> None:
    doc = base_record()
    put(
        "related_people.1.alerts",
        [
            {
                "type": "court_order",
                "severity": "high",
                "summary": "Non-molestation order.",
                "related_person_ids": ["rp-nobody"],
            }
        ],
    )(doc)
    found = [p for p in problems_of(doc) if p.code == "person-reference-unknown"]
    assert [p.pointer for p in found] == ["/related_people/1/alerts/0/related_person_ids/0"]
