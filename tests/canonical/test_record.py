"""The canonical record as a document: the examples, round trips, code variants and validation.

``validate_document`` is what a sending authority meets first, so these tests check what it
tells them: which code, at which JSON pointer (RFC 6901, into the document as sent).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import string
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.authorities import load_registry
from exchange.canonical import ChildRecord, RuleContext, Severity, validate_document
from exchange.canonical.codes import (
    ASSESSMENT_FACTORS,
    AgencyType,
    AlertSeverity,
    AlertType,
    CategoryOfAbuse,
    ChronologyCategory,
    Disability,
    Ethnicity,
    IdentifierSystem,
    NameUse,
    PrimaryNeed,
    ReasonForClosure,
    ReferralSource,
    Relationship,
)
from exchange.canonical.identifiers import is_valid_nhs_number, upn_problems
from exchange.canonical.validation import ValidationReport

Doc = dict[str, Any]

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
CONTEXT = RuleContext(
    today=dt.date(2026, 11, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)


def example(name: str) -> Doc:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def small_record() -> Doc:
    """A small record with no problems."""
    return {
        "provenance": {"source_authority": "202"},
        "child": {
            "identifiers": [{"system": "la_child_id", "value": "CAM100234"}],
            "birth_date": "2016-03-14",
            "addresses": [{"postcode": "NW5 9ZZ"}],
        },
        "alerts": [
            {
                "type": "risk_from_person",
                "severity": "high",
                "summary": "Father has been violent to mother.",
                "not_to_be_disclosed_to": ["rp-father"],
            }
        ],
        "related_people": [
            {"id": "rp-mother", "relationship": "mother"},
            {"id": "rp-father", "relationship": "father"},
        ],
        "episodes": [
            {
                "referral_date": "2026-03-02",
                "primary_need": "N1",
                "closure_date": "2026-06-01",
                "closure_reason": "RC8",
                "cp_plans": [
                    {
                        "start_date": "2026-03-23",
                        "end_date": "2026-05-30",
                        "initial_category": "NEG",
                        "latest_category": "NEG",
                    }
                ],
            }
        ],
        "professionals": [{"role": "GP"}],
        "documents": [
            {
                "title": "Minutes",
                "media_type": "application/pdf",
                "size_bytes": 10,
                "sha256": "a" * 64,
            }
        ],
        "chronology": [{"date": "2026-03-02", "category": "referral", "summary": "Referral."}],
    }


def validate(doc: Doc) -> ValidationReport:
    return validate_document(doc, CONTEXT)


def found(report: ValidationReport) -> list[tuple[str, str | None]]:
    return [(p.code, p.pointer) for p in report.problems]


# --- the examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cp-plan-child", "unborn-child"])
def test_example_has_no_problems(name: str) -> None:
    report = validate(example(name))
    assert report.problems == []
    assert report.valid
    assert report.record is not None


@pytest.mark.parametrize("name", ["cp-plan-child", "unborn-child"])
def test_example_parses_straight_from_json(name: str) -> None:
    text = (EXAMPLES / f"{name}.json").read_text(encoding="utf-8")
    assert ChildRecord.model_validate_json(text) == ChildRecord.model_validate(json.loads(text))


def test_cp_plan_example_carries_what_a_receiving_authority_needs() -> None:
    record = ChildRecord.model_validate(example("cp-plan-child"))
    ids = {i.system: i for i in record.child.identifiers}
    assert ids[IdentifierSystem.NHS_NUMBER].value == "9434765919"
    assert is_valid_nhs_number(ids[IdentifierSystem.NHS_NUMBER].value)
    upn = ids[IdentifierSystem.UPN].value
    assert upn[1:4] == "202"
    assert upn_problems(upn, known_la_code=CONTEXT.known_dfe_codes) == []
    assert ids[IdentifierSystem.LA_CHILD_ID].issuer == "202"
    assert any(n.use == NameUse.ALIAS for n in record.child.names)

    father = next(p for p in record.related_people if p.relationship == Relationship.FATHER)
    current = next(a for a in record.child.addresses if a.end_date is None)
    assert current.confidential
    assert current.not_to_be_disclosed_to == [father.id]
    assert {a.type for a in record.alerts} >= {
        AlertType.RISK_FROM_PERSON,
        AlertType.DO_NOT_DISCLOSE_ADDRESS,
        AlertType.RISK_TO_STAFF,
        AlertType.MISSING,
    }
    withheld = next(a for a in record.alerts if a.type == AlertType.DO_NOT_DISCLOSE_ADDRESS)
    assert withheld.not_to_be_disclosed_to == [father.id]
    assert father.parental_responsibility
    assert father.lives_with_child is False
    assert father.alerts

    open_episode, closed_episode = (
        next(e for e in record.episodes if e.closure_date is None),
        next(e for e in record.episodes if e.closure_date is not None),
    )
    plan = open_episode.cp_plans[0]
    assert plan.end_date is None
    assert (plan.initial_category, plan.latest_category) == (
        CategoryOfAbuse.NEGLECT,
        CategoryOfAbuse.EMOTIONAL,
    )
    assert open_episode.primary_need == PrimaryNeed.N1
    assert closed_episode.closure_reason == ReasonForClosure.CLOSED_AFTER_ASSESSMENT_NFA
    assert record.child.birth_date is not None
    assert record.child.birth_date < closed_episode.referral_date  # type: ignore[operator]
    assert len(record.chronology) >= 10
    assert len({c.category for c in record.chronology}) >= 6
    assert {c.agency for c in record.agency_contributions} == {
        AgencyType.POLICE,
        AgencyType.HEALTH,
        AgencyType.EDUCATION,
    }
    assert next(p for p in record.professionals if p.is_lead).agency == AgencyType.SOCIAL_CARE


def test_unborn_example_is_an_unborn_child_on_a_pre_birth_plan() -> None:
    record = ChildRecord.model_validate(example("unborn-child"))
    child = record.child
    assert child.birth_date is None
    assert child.expected_birth_date == dt.date(2027, 1, 15)
    assert child.sex == "U"
    assert child.upn_unknown_reason == "UN1"
    assert record.provenance.source_authority == "873"
    episode = record.episodes[0]
    assert episode.referral_date is not None
    assert episode.referral_date < child.expected_birth_date
    assert episode.section47_enquiries
    assert episode.conferences[0].led_to_cp_plan
    assert episode.cp_plans[0].start_date == episode.conferences[0].date
    assert any("midwife" in p.role.lower() for p in record.professionals)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cp-plan-child", "unborn-child"])
def test_example_survives_a_round_trip(name: str) -> None:
    record = ChildRecord.model_validate(example(name))
    text = record.model_dump_json()
    again = ChildRecord.model_validate_json(text)
    assert again == record
    assert again.model_dump_json() == text


def _text(max_size: int = 30) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]),
        min_size=1,
        max_size=max_size,
    ).filter(str.strip)


_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(str)
_local_ids = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
_postcodes = st.one_of(
    st.sampled_from(["sw1a1aa", " ec1a  1bb ", "GIR0AA", "NW5 9", "nw5", "CB4 9ZZ"]),
    _text(16),
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _codes(enum: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([member.value for member in enum])


def _compact(**fields: Any) -> st.SearchStrategy[Doc]:
    """A dict of the given field strategies, leaving out fields drawn as None."""
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


_addresses = _compact(
    lines=st.lists(_text(), max_size=2),
    town=_maybe(_text()),
    postcode=_maybe(_postcodes),
    start_date=_maybe(_dates),
    end_date=_maybe(_dates),
    confidential=st.booleans(),
)
_alerts = _compact(
    type=_codes(AlertType),
    severity=_codes(AlertSeverity),
    summary=_text(),
    start_date=_maybe(_dates),
)
_plans = _compact(
    start_date=_maybe(_dates),
    end_date=_maybe(_dates),
    initial_category=_maybe(_codes(CategoryOfAbuse)),
    latest_category=_maybe(_codes(CategoryOfAbuse)),
    number_of_previous_plans=_maybe(st.integers(0, 99)),
    other_local_authority=st.booleans(),
    review_dates=st.lists(_dates, max_size=2),
    visits=st.lists(_compact(date=_dates, seen=_maybe(st.booleans())), max_size=2),
)
_episodes = _compact(
    referral_date=_maybe(_dates),
    referral_source=_maybe(_codes(ReferralSource)),
    primary_need=_maybe(_codes(PrimaryNeed)),
    closure_date=_maybe(_dates),
    closure_reason=_maybe(_codes(ReasonForClosure)),
    assessments=st.lists(
        _compact(
            start_date=_maybe(_dates),
            factors=st.lists(st.sampled_from(sorted(ASSESSMENT_FACTORS)), max_size=3),
        ),
        max_size=2,
    ),
    cp_plans=st.lists(_plans, max_size=2),
)


@st.composite
def records(draw: st.DrawFn) -> Doc:
    """A record assembled from generated pieces; valid against the schema, not the rules."""
    people = draw(st.lists(_local_ids, max_size=3, unique=True))
    return {
        "provenance": draw(
            _compact(
                source_authority=st.sampled_from(["202", "873", "E09000007"]),
                source_system=_maybe(_text()),
                extracted_at=_maybe(
                    st.datetimes(
                        min_value=dt.datetime(2000, 1, 1),
                        max_value=dt.datetime(2100, 1, 1),
                        timezones=st.one_of(st.none(), st.just(dt.UTC)),
                    ).map(dt.datetime.isoformat)
                ),
            )
        ),
        "child": draw(
            _compact(
                identifiers=st.lists(
                    _compact(
                        system=_codes(IdentifierSystem), value=_text(20), issuer=_maybe(_text(5))
                    ),
                    max_size=3,
                ),
                names=st.lists(
                    _compact(given=_maybe(_text()), family=_maybe(_text()), use=_codes(NameUse)),
                    max_size=2,
                ),
                birth_date=_maybe(_dates),
                expected_birth_date=_maybe(_dates),
                sex=_maybe(st.sampled_from(["M", "F", "U", "1", "2", "0", "9", "female"])),
                ethnicity=_maybe(_codes(Ethnicity).map(str.lower)),
                disabilities=st.lists(_codes(Disability), max_size=2),
                addresses=st.lists(_addresses, max_size=2),
            )
        ),
        "alerts": draw(
            st.lists(
                _alerts.map(lambda a: a | {"not_to_be_disclosed_to": people[:1]}),
                max_size=2,
            )
        ),
        "related_people": [
            draw(
                _compact(relationship=_codes(Relationship), lives_with_child=_maybe(st.booleans()))
            )
            | {"id": person}
            for person in people
        ],
        "episodes": draw(st.lists(_episodes, max_size=2)),
        "chronology": draw(
            st.lists(
                _compact(date=_dates, category=_codes(ChronologyCategory), summary=_text()),
                max_size=3,
            )
        ),
        "summary": draw(_maybe(_compact(text=_text(200), date=_maybe(_dates)))),
        "documents": draw(
            st.lists(
                _compact(
                    title=_text(),
                    media_type=st.sampled_from(["application/pdf", "image/jpeg", "text/plain"]),
                    size_bytes=st.integers(0, 10**9),
                    sha256=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
                ),
                max_size=2,
            )
        ),
    }


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_any_record_survives_a_round_trip(doc: Doc) -> None:
    record = ChildRecord.model_validate(doc)
    text = record.model_dump_json()
    again = ChildRecord.model_validate_json(text)
    assert again == record
    assert again.model_dump_json() == text


# --- historic and sloppy code variants ------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("1", "M"), ("2", "F"), ("0", "U"), ("9", "U"), (1, "M"), ("f", "F"), ("Male", "M")],
)
def test_gender_current_and_sex_variants_become_sex_codes(sent: Any, stored: str) -> None:
    doc = small_record()
    doc["child"]["sex"] = sent
    report = validate(doc)
    assert report.problems == []
    assert report.record is not None
    assert report.record.child.sex == stored
    assert json.loads(report.record.model_dump_json())["child"]["sex"] == stored


@pytest.mark.parametrize(
    ("sent", "stored"), [("wbri", "WBRI"), (" mwbc ", "MWBC"), ("Nobt", "NOBT")]
)
def test_ethnicity_in_any_case(sent: str, stored: str) -> None:
    doc = small_record()
    doc["child"]["ethnicity"] = sent
    report = validate(doc)
    assert report.problems == []
    assert report.record is not None
    assert report.record.child.ethnicity == stored


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Neglect", "NEG"),
        ("physical abuse", "PHY"),
        ("Sexual Abuse", "SAB"),
        ("emo", "EMO"),
        ("Multiple", "MUL"),
    ],
)
def test_category_of_abuse_names_become_codes(sent: str, stored: str) -> None:
    doc = small_record()
    doc["episodes"][0]["cp_plans"][0]["latest_category"] = sent
    report = validate(doc)
    assert report.problems == []
    assert report.record is not None
    assert report.record.episodes[0].cp_plans[0].latest_category == stored


def test_other_codes_as_exports_write_them() -> None:
    doc = small_record()
    episode = doc["episodes"][0]
    episode |= {"referral_source": 6, "primary_need": "n1", "closure_reason": "rc8"}
    episode["assessments"] = [{"factors": ["3a", " 4b "]}]
    doc["related_people"][0]["relationship"] = "Half Sibling"
    doc["alerts"][0]["type"] = "Risk-To-Staff"
    doc["child"]["addresses"][0]["postcode"] = " sw1a1aa "
    report = validate(doc)
    assert report.problems == []
    assert report.record is not None
    sent = json.loads(report.record.model_dump_json())
    assert sent["episodes"][0]["referral_source"] == "6"
    assert sent["episodes"][0]["primary_need"] == "N1"
    assert sent["episodes"][0]["closure_reason"] == "RC8"
    assert sent["episodes"][0]["assessments"][0]["factors"] == ["3A", "4B"]
    assert sent["related_people"][0]["relationship"] == "half_sibling"
    assert sent["alerts"][0]["type"] == "risk_to_staff"
    assert sent["child"]["addresses"][0]["postcode"] == "SW1A 1AA"


# --- what validate_document reports ---------------------------------------------------------


def _set(doc: Doc, path: str, value: Any) -> Doc:
    """A copy of doc with the value at a dotted path set (or removed when value is ...)."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "code", "pointer"),
    [
        # fields the schema does not define
        ("colour", "blue", "field-unknown", "/colour"),
        ("child.favourite_colour", "blue", "field-unknown", "/child/favourite_colour"),
        ("child.a/b~c", 1, "field-unknown", "/child/a~1b~0c"),
        ("episodes.0.cp_plans.0.catgory", "NEG", "field-unknown", "/episodes/0/cp_plans/0/catgory"),
        # wrong types
        ("child.names", "Tilly Specimen", "type-wrong", "/child/names"),
        ("alerts", {"type": "missing"}, "type-wrong", "/alerts"),
        ("professionals.0.is_lead", "perhaps", "type-wrong", "/professionals/0/is_lead"),
        ("documents.0.size_bytes", "big", "type-wrong", "/documents/0/size_bytes"),
        ("child.identifiers.0.value", 12345, "type-wrong", "/child/identifiers/0/value"),
        # codes
        ("child.ethnicity", "XXXX", "code-unknown", "/child/ethnicity"),
        ("episodes.0.closure_reason", "RC99", "code-unknown", "/episodes/0/closure_reason"),
        (
            "related_people.1.relationship",
            "uncle",
            "code-unknown",
            "/related_people/1/relationship",
        ),
        ("child.sex", "X", "code-unknown", "/child/sex"),
        # dates
        ("child.birth_date", "2023-02-30", "date-invalid", "/child/birth_date"),
        ("child.birth_date", "30/02/2023", "date-invalid", "/child/birth_date"),
        ("episodes.0.referral_date", "2026-13-01", "date-invalid", "/episodes/0/referral_date"),
        ("chronology.0.date", "yesterday", "date-invalid", "/chronology/0/date"),
        # required fields
        ("provenance", ..., "field-missing", "/provenance"),
        ("alerts.0.summary", ..., "field-missing", "/alerts/0/summary"),
        ("related_people.0.id", ..., "field-missing", "/related_people/0/id"),
        ("documents.0.sha256", ..., "field-missing", "/documents/0/sha256"),
        # other values
        ("documents.0.sha256", "A" * 64, "value-invalid", "/documents/0/sha256"),
        ("alerts.0.summary", "   ", "value-invalid", "/alerts/0/summary"),
    ],
)
def test_what_does_not_fit_the_schema_is_reported_where_it_is(
    path: str, value: Any, code: str, pointer: str
) -> None:
    report = validate(_set(small_record(), path, value))
    assert (code, pointer) in found(report)
    problem = next(p for p in report.problems if p.pointer == pointer)
    assert problem.severity == Severity.ERROR
    assert problem.message
    assert problem.fix
    assert not report.valid


def test_unknown_code_message_lists_the_codes() -> None:
    report = validate(_set(small_record(), "child.ethnicity", "XXXX"))
    [problem] = report.problems
    assert "'XXXX'" in problem.message
    assert "'WBRI'" in problem.message


def test_impossible_date_message_shows_the_value() -> None:
    report = validate(_set(small_record(), "child.birth_date", "2023-02-30"))
    assert found(report) == [("date-invalid", "/child/birth_date")]
    assert "'2023-02-30'" in report.problems[0].message
    assert "YYYY-MM-DD" in report.problems[0].fix


def test_rules_still_run_past_a_part_that_does_not_fit() -> None:
    doc = small_record()
    doc["alerts"].insert(0, {"type": "bogus", "severity": "high", "summary": "Dog."})
    doc["alerts"][1]["not_to_be_disclosed_to"] = ["rp-uncle"]
    report = validate(doc)
    assert found(report) == [
        ("code-unknown", "/alerts/0/type"),
        ("person-reference-unknown", "/alerts/1/not_to_be_disclosed_to/0"),
    ]


def test_rules_still_run_past_an_item_of_the_wrong_type() -> None:
    doc = small_record()
    plans = doc["episodes"][0]["cp_plans"]
    plans.insert(0, "see paper file")
    plans[1]["end_date"] = plans[1]["start_date"]
    report = validate(doc)
    assert found(report) == [
        ("type-wrong", "/episodes/0/cp_plans/0"),
        ("cp-plan-same-day", "/episodes/0/cp_plans/1/end_date"),
    ]


def test_rules_run_on_the_rest_of_the_record() -> None:
    doc = _set(small_record(), "child.ethnicity", "XXXX")
    doc["child"]["identifiers"].append({"system": "nhs_number", "value": "9434765918"})
    doc["child"]["addresses"][0]["postcode"] = "NW5 9"
    report = validate(doc)
    assert found(report) == [
        ("code-unknown", "/child/ethnicity"),
        ("nhs-number-invalid", "/child/identifiers/1/value"),
        ("postcode-partial", "/child/addresses/0/postcode"),
    ]


def test_a_value_that_does_not_fit_is_not_reported_again_by_a_rule() -> None:
    # The closure reason is unreadable, so "closed without a reason" would only repeat it.
    report = validate(_set(small_record(), "episodes.0.closure_reason", "RC99"))
    assert found(report) == [("code-unknown", "/episodes/0/closure_reason")]


def test_a_misspelt_field_is_reported_and_its_absence_noticed() -> None:
    doc = _set(small_record(), "episodes.0.cp_plans.0.latest_category", ...)
    doc = _set(doc, "episodes.0.cp_plans.0.latest_categroy", "NEG")
    report = validate(doc)
    assert found(report) == [
        ("field-unknown", "/episodes/0/cp_plans/0/latest_categroy"),
        ("cp-plan-latest-category-missing", "/episodes/0/cp_plans/0/latest_category"),
    ]


def test_only_warnings_is_valid() -> None:
    report = validate(_set(small_record(), "child.addresses.0.postcode", "NW5 9"))
    assert found(report) == [("postcode-partial", "/child/addresses/0/postcode")]
    assert report.problems[0].severity == Severity.WARNING
    assert report.valid
    assert report.record is not None


def test_any_error_is_not_valid() -> None:
    doc = small_record()
    doc["child"]["identifiers"].append({"system": "nhs_number", "value": "9434765918"})
    doc["child"]["addresses"][0]["postcode"] = "NW5 9"
    report = validate(doc)
    assert [p.severity for p in report.problems] == [Severity.ERROR, Severity.WARNING]
    assert not report.valid


def test_no_problems_is_valid() -> None:
    report = validate(small_record())
    assert report.problems == []
    assert report.valid


def test_a_document_that_is_not_an_object() -> None:
    report = validate_document([])  # type: ignore[arg-type]
    assert not report.valid
    assert report.record is None


# --- pruned parts of a document do not mislead the rules -----------------------------------


def test_alert_without_severity_dumps_cleanly() -> None:
    doc = _set(small_record(), "alerts.0.severity", ...)
    record = ChildRecord.model_validate(doc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert json.loads(record.model_dump_json())["alerts"][0]["severity"] == "high"


@pytest.mark.parametrize("sent", ["0", 0, "86400"])
def test_a_number_is_not_a_date(sent: Any) -> None:
    report = validate(_set(small_record(), "child.birth_date", sent))
    assert ("date-invalid", "/child/birth_date") in found(report)


def test_a_related_person_with_a_bad_code_is_still_someone_to_refer_to() -> None:
    report = validate(_set(small_record(), "related_people.1.relationship", "uncle"))
    assert found(report) == [("code-unknown", "/related_people/1/relationship")]


def test_an_unreadable_end_date_does_not_open_the_plan() -> None:
    doc = small_record()
    plans = doc["episodes"][0]["cp_plans"]
    plans[0]["end_date"] = "2026-04-31"
    doc["episodes"].append(
        {
            "referral_date": "2026-09-01",
            "primary_need": "N1",
            "cp_plans": [
                {"start_date": "2026-10-01", "initial_category": "NEG", "latest_category": "NEG"}
            ],
        }
    )
    report = validate(doc)
    assert found(report) == [("date-invalid", "/episodes/0/cp_plans/0/end_date")]


def test_upn_with_a_non_ascii_digit_is_reported() -> None:
    doc = small_record()
    doc["child"]["identifiers"].append({"system": "upn", "value": "A20241002012\u0660"})
    report = validate(doc)
    assert ("upn-last-character", "/child/identifiers/1/value") in found(report)
