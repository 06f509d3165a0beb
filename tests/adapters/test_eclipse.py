"""The Eclipse adapter: what a receiving authority sees when an authority's Eclipse views are read.

The fixture (tests/fixtures/eclipse/) is a synthetic dump of fictional people, one CSV per view:
the Testchild family (Ava, her brother Leo, their mother Mia and father Ray, the same family as
in the Azeus fixture), Noah Sample with a duplicate record merged into his, an unborn baby, Jonah
with an estimated birth date who is looked after, and Mason, whose rows are dirty on purpose. The
person view is Windows-1252, the form answers carry a BOM, one file name is in mixed case, and
PERSONVIEW.csv is a view the adapter does not read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import get_adapter
from exchange.adapters.base import InputUnreadable, ReadResult, Source
from exchange.adapters.eclipse import (
    COLUMNS,
    DEFAULT_CLOSURES,
    DEFAULT_CONFERENCE_TYPES,
    DEFAULT_ETHNICITY,
    DEFAULT_GENDER,
    DEFAULT_LEGAL_STATUSES,
    DEFAULT_NEEDS,
    DEFAULT_REFERENCE_TYPES,
    DEFAULT_RELATIONSHIPS,
    DEFAULT_RELATIONSHIPS_REVERSED,
    DEFAULT_SEX,
    DEFAULT_SOURCES,
    EclipseAdapter,
)
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.identifiers import normalise_postcode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eclipse"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "adapters" / "eclipse.md"
CONTEXT = RuleContext(
    today=dt.date(2026, 1, 15),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
REFERRAL_FORM = "e6d9de9a-b56c-49d0-ab87-0f913ca8fc5f"
PERSON_HEADER = "PERSONID,FORENAME,SURNAME,SEX,DATEOFBIRTH\r\n"
CASE = (
    "PERSONID,CLASSIFICATIONASSIGNMENTID,CLASSIFICATIONPATH,STARTDATE\r\n"
    "1,C1,Child in Need/CIN Plan,2025-01-01\r\n"
)


def read(
    source: Source | Path = FIXTURE,
    authority: str | None = "873",
    config: Any = None,
) -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    return list(EclipseAdapter(CONTEXT, config=config, source_authority=authority).read(source))


def files(**tables: str | bytes) -> Source:
    """An in-memory export: view name -> CSV text."""
    return Source.from_files(
        {f"{name}.csv": t.encode() if isinstance(t, str) else t for name, t in tables.items()}
    )


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = next(r for r in results if r.key == key and r.record is not None).record
    assert found is not None
    return found.model_dump(mode="json")


def result(results: list[ReadResult], key: str) -> ReadResult:
    return next(r for r in results if r.key == key)


def where(found: Problem) -> tuple[str | None, int | None, str | None]:
    assert found.location is not None
    return found.location.file, found.location.row, found.location.column


def codes(found: ReadResult) -> set[str]:
    return {p.code for p in found.problems}


def kept(rec: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [u for u in rec["unmapped"] if u["field"] == field]


def fatal_of(source: Source, config: Any = None) -> Problem:
    with pytest.raises(InputUnreadable) as caught:
        read(source, config=config)
    assert caught.value.problem.severity == Severity.FATAL
    return caught.value.problem


@pytest.fixture(scope="module")
def results() -> list[ReadResult]:
    return read()


# --- who gets a record ----------------------------------------------------------------------


def test_a_record_per_child_with_a_case_then_what_belongs_to_none(
    results: list[ReadResult],
) -> None:
    built = [r.key for r in results if r.record is not None]
    assert built == ["50123", "50125", "50130", "50140", "50150", "50160"]
    # parents and the foster carer have no case: they are related people, not records;
    # the duplicate 50131 is folded into 50130
    left = [(r.key, [p.code for p in r.problems]) for r in results if r.record is None]
    assert left == [
        (None, ["person-id-missing"]),
        (None, ["person-not-found"]),
        (None, ["relationship-not-carried"]),
        ("50170", ["person-not-carried", "person-not-carried"]),
    ]


def test_clean_records_pass_validation(results: list[ReadResult]) -> None:
    for key in ("50123", "50125", "50130", "50140", "50150"):
        found = result(results, key)
        assert not found.has_errors, [p.message for p in found.problems]
    assert result(results, "50160").has_errors  # Mason's rows are dirty on purpose


def test_whole_export_notices_ride_with_the_first_result(results: list[ReadResult]) -> None:
    first = results[0].problems
    assert [(p.code, where(p)) for p in first] == [
        ("columns-extra", ("ClassificationPersonView.csv", 1, None))
    ]
    assert "LASTUPDATED" in first[0].message
    assert all(p.code != "columns-extra" for r in results[1:] for p in r.problems)


# --- Ava, field by field --------------------------------------------------------------------


def test_ava_who_she_is(results: list[ReadResult]) -> None:
    child = record(results, "50123")["child"]
    assert child["identifiers"] == [
        {"system": "la_child_id", "value": "50123", "issuer": "873"},
        {"system": "legacy", "value": "CF778812", "issuer": "873"},
        {"system": "upn", "value": "F202123456781", "issuer": None},
    ]
    assert child["names"] == [
        {
            "given": "Ava",
            "middle": None,
            "family": "Testchild",
            "use": "official",
            "start_date": None,
            "end_date": None,
        }
    ]
    assert (child["birth_date"], child["birth_date_precision"]) == ("2016-03-14", "day")
    assert child["expected_birth_date"] is None
    assert (child["sex"], child["gender"], child["ethnicity"]) == ("F", None, "WBRI")


def test_ava_confidential_address_is_withheld_from_her_father(results: list[ReadResult]) -> None:
    rec = record(results, "50123")
    previous, current = rec["child"]["addresses"]
    assert previous == {
        "id": "A900",
        "lines": ["22 Old Road"],
        "town": "Testtown",
        "postcode": "TE1 2AB",
        "uprn": None,
        "start_date": "2016-03-14",
        "end_date": "2025-07-31",
        "confidential": False,
        "not_to_be_disclosed_to": [],
    }
    assert current == {
        "id": "A901",
        "lines": ["1 Example Street"],
        "town": "Testtown",
        "postcode": "TE1 1ST",
        "uprn": None,
        "start_date": "2025-08-01",
        "end_date": None,
        "confidential": True,
        "not_to_be_disclosed_to": ["50126"],
    }
    (alert,) = rec["alerts"]
    assert alert["type"] == "do_not_disclose_address"
    assert alert["severity"] == "high"
    assert alert["not_to_be_disclosed_to"] == ["50126"]
    assert alert["start_date"] == "2025-08-01"
    father = next(p for p in rec["related_people"] if p["id"] == "50126")
    assert father["names"][0]["given"] == "Ray"


def test_ava_family(results: list[ReadResult]) -> None:
    people = {p["id"]: p for p in record(results, "50123")["related_people"]}
    assert list(people) == ["50124", "50125", "50126"]
    mother, father, brother = people["50124"], people["50126"], people["50125"]
    assert (mother["relationship"], mother["parental_responsibility"]) == ("mother", True)
    assert (mother["lives_with_child"], mother["birth_date"], mother["sex"]) == (
        True,
        "1990-07-02",
        "F",
    )
    assert mother["names"][0]["given"] == "Mia"
    assert mother["addresses"] == []
    assert (father["relationship"], father["parental_responsibility"]) == ("father", True)
    assert (father["lives_with_child"], father["birth_date"]) == (False, "1988-01-20")
    assert (brother["relationship"], brother["parental_responsibility"]) == ("sibling", False)
    assert (brother["lives_with_child"], brother["birth_date"]) == (True, "2019-11-30")
    assert brother["identifiers"] == [{"system": "upn", "value": "M202123456785", "issuer": None}]


def test_ava_case(results: list[ReadResult]) -> None:
    rec = record(results, "50123")
    (episode,) = rec["episodes"]
    assert (episode["id"], episode["referral_date"]) == ("7001", "2025-09-01")
    assert (episode["referral_source"], episode["primary_need"]) == ("6", "N1")
    assert episode["referral_no_further_action"] is False
    assert episode["closure_date"] is None
    (plan,) = episode["cp_plans"]
    assert (plan["id"], plan["start_date"], plan["end_date"]) == ("C1", "2025-10-06", None)
    assert (plan["initial_category"], plan["latest_category"]) == ("NEG", "EMO")
    # the day the category changed has no place in the plan: kept with the reason
    change = [u for u in rec["unmapped"] if u["field"] in ("STARTDATE", "ENDDATE")]
    plan_rows = [u for u in change if u["location"]["file"] == "ClassificationPersonView.csv"]
    assert {(u["value"], u["reason"]) for u in plan_rows} == {
        ("2025-12-01", "a category change within plan C1")
    }
    (extra,) = kept(rec, "LASTUPDATED")
    assert (extra["value"], extra["reason"]) == ("2025-12-01", "column not in the Eclipse view")
    (worker,) = rec["professionals"]
    assert worker == {
        "id": "8001",
        "name": "Priya Fictional",
        "role": "Allocated social worker",
        "agency": "social_care",
        "organisation": "Safeguarding Team North",
        "contact": None,
        "start_date": "2025-09-02",
        "end_date": None,
        "is_lead": True,
    }
    assert rec["chronology"] == []
    assert rec["provenance"]["source_system"] == "Eclipse"
    assert rec["provenance"]["source_authority"] == "873"


def test_form_instance_columns_are_read_once(results: list[ReadResult]) -> None:
    rec = record(results, "50123")
    submitted = [u for u in rec["unmapped"] if u["field"] == "SUBMITTERPERSONID"]
    assert [(u["value"], u["location"]["row"]) for u in submitted] == [("9001", 2)]


# --- the rest of the fixture ----------------------------------------------------------------


def test_leo_sees_his_sister_from_the_other_side_of_the_relationship(
    results: list[ReadResult],
) -> None:
    rec = record(results, "50125")
    sister = next(p for p in rec["related_people"] if p["id"] == "50123")
    assert (sister["relationship"], sister["lives_with_child"]) == ("sibling", True)
    assert sister["parental_responsibility"] is None
    (own_pr,) = kept(rec, "PARENTALRESPONSIBILITY")
    assert own_pr["reason"] == "the child's own parental responsibility for this person"
    (plan,) = rec["episodes"][0]["cin_plans"]
    assert (plan["id"], plan["start_date"], plan["end_date"]) == ("C3", "2025-09-20", None)


def test_a_merged_duplicate_is_read_into_the_surviving_record(results: list[ReadResult]) -> None:
    rec = record(results, "50130")
    assert {"system": "legacy", "value": "50131", "issuer": "873"} in rec["child"]["identifiers"]
    differing = {(u["field"], u["value"]): u["reason"] for u in rec["unmapped"]}
    reason = "differs in the duplicate record 50131, merged into 50130"
    assert differing[("SURNAME", "Sampel")] == reason
    assert differing[("DATEOFBIRTH", "20/05/2012")] == reason
    _older, newer = rec["episodes"]
    (assessment,) = newer["assessments"]  # recorded against the duplicate
    assert assessment == {
        "id": "7012",
        "start_date": "2022-12-05",
        "internal_review_date": None,
        "authorisation_date": "2022-12-20",
        "factors": ["2B", "3B"],
    }
    assert result(results, "50130").key == "50130"
    assert all(r.key != "50131" for r in results)


def test_several_plans_closed_episodes_and_multiple_categories(results: list[ReadResult]) -> None:
    older, newer = record(results, "50130")["episodes"]
    assert (older["closure_date"], older["closure_reason"]) == ("2019-12-15", "RC7")
    assert (older["referral_source"], newer["referral_source"]) == ("2A", "3B")
    assert [(p["initial_category"], p["latest_category"]) for p in older["cp_plans"]] == [
        ("PHY", "PHY")
    ]
    (plan,) = newer["cp_plans"]
    assert (plan["start_date"], plan["end_date"]) == ("2023-01-09", "2023-06-30")
    assert (plan["initial_category"], plan["latest_category"]) == ("MUL", "MUL")
    (conference,) = newer["conferences"]
    assert (conference["type"], conference["date"], conference["led_to_cp_plan"]) == (
        "initial",
        "2023-01-09",
        True,
    )
    (enquiry,) = newer["section47_enquiries"]
    assert (enquiry["start_date"], enquiry["end_date"]) == ("2022-12-10", "2022-12-30")
    assert enquiry["initial_conference_not_required"] is False
    assert record(results, "50130")["child"]["disabilities"] == ["AUT"]


def test_an_unborn_child_and_an_alert_on_the_mother(results: list[ReadResult]) -> None:
    rec = record(results, "50140")
    assert rec["child"]["expected_birth_date"] == "2026-02-10"
    assert rec["child"]["birth_date"] is None
    assert rec["child"]["sex"] == "U"
    (mother,) = rec["related_people"]
    assert mother["names"][0]["given"] == "Zo\u00eb"  # read from a Windows-1252 file
    assert [(a["lines"], a["postcode"]) for a in mother["addresses"]] == [
        (["17 Hope Street"], "LV3 3AB")
    ]
    (alert,) = mother["alerts"]
    assert (alert["type"], alert["summary"], alert["start_date"]) == (
        "risk_from_person",
        "Warnings/Risk to Children",
        "2025-11-15",
    )
    assert rec["episodes"][0]["referral_source"] == "3B"


def test_an_estimated_birth_date_and_a_looked_after_child(results: list[ReadResult]) -> None:
    rec = record(results, "50150")
    assert (rec["child"]["birth_date"], rec["child"]["birth_date_precision"]) == (
        "2010-01-01",
        "estimated",
    )
    ids = [(i["system"], i["value"]) for i in rec["child"]["identifiers"]]
    assert ("former_upn", "F873765432101") in ids
    assert ("upn", "V873765432102") in ids
    assert ("nhs_number", "4010232137") in ids  # written with spaces in the view
    closed, current = rec["episodes"][0]["looked_after_episodes"]
    assert (closed["start_date"], closed["end_date"], closed["legal_status"]) == (
        "2023-02-01",
        "2023-08-14",
        "V2",
    )
    assert (closed["reason_new_episode"], closed["reason_episode_ceased"]) == ("S", "X1")
    assert (current["end_date"], current["legal_status"], current["category_of_need"]) == (
        None,
        "C2",
        "N8",
    )
    assert current["placement"]["placement_type"] == "U4"
    assert current["placement"]["postcode"] == "TE2 3XY"
    # the period of care and the looked-after classification say the same: one entry
    (entry,) = rec["chronology"]
    assert (entry["date"], entry["summary"]) == ("2023-02-01", "Started to be looked after")
    assert entry["details"] == "Classification Looked After/Looked After Child; Period of care P1"
    carer = rec["related_people"][0]
    assert (carer["relationship"], carer["notes"]) == (
        "foster_carer",
        "Relationship recorded from 2023-02-01.",
    )
    lead, reviewer = rec["professionals"]
    assert lead["contact"] == {"phone": "01234 567890", "email": "kim.support@example.org"}
    assert (lead["is_lead"], reviewer["is_lead"]) == (True, False)
    assert kept(rec, "ALLOCATEDWORKERCODE")[0]["value"] == "IRO"


def test_dirty_values_are_reported_where_they_are_and_kept(results: list[ReadResult]) -> None:
    found = result(results, "50160")
    said = {(p.code, where(p)) for p in found.problems if p.location and p.location.column}
    person = "PERSONDEMOGRAPHICSVIEW.csv"
    forms = "FORMANSWERPERSONVIEW.csv"
    assert {
        ("code-unknown", (person, 12, "SEX")),
        ("code-unknown", (person, 12, "ETHNICITYCODE")),
        ("date-invalid", (person, 12, "DATEOFBIRTH")),
        ("person-duplicated", (person, 13, "PERSONID")),
        ("code-unknown", ("REFERENCENUMBERPERSONVIEW.csv", 6, "REFERENCETYPECODE")),
        ("code-unknown", ("RELATIONSHIPPERSONVIEW.csv", 12, "RELATIONSHIP")),
        ("related-person-not-found", ("RELATIONSHIPPERSONVIEW.csv", 11, "ROLEAPERSONID")),
        ("uprn-invalid", ("ADDRESSPERSONVIEW.csv", 7, "UPRN")),
        ("classification-unknown", ("ClassificationPersonView.csv", 10, "CLASSIFICATIONPATH")),
        ("date-invalid", (forms, 32, "DATEANSWERVALUE")),
        ("code-unknown", (forms, 33, "ANSWERVALUE")),
        ("form-unknown", (forms, 37, "DESIGNGUID")),
    } <= said
    rules = {p.code for p in found.problems if p.pointer}
    assert {"nhs-number-invalid", "period-ends-before-start", "postcode-invalid"} <= rules
    rec = record(results, "50160")
    by_field = {(u["field"], u["value"]): u["reason"] for u in rec["unmapped"]}
    assert by_field[("CINCensus_favouriteColour", "Blue")] == "a question not in the configuration"
    assert by_field[("CINCensus_ReferralSource", "Carrier pigeon")] == "not a known code"
    assert by_field[("CINCensus_DateOfReferral", "2024-06-01")] == (
        "the form is not complete (DRAFT)"
    )
    assert by_field[("visitNotes", "Child seen at home")] == (
        "form 00000000-aaaa-bbbb-cccc-000000000000 is not configured"
    )
    assert by_field[("CLASSIFICATIONPATH", "Child Protection/Neglect")] == (
        "a classification with status DELETED"
    )
    assert by_field[("NHSNUMBER", "9434765870")] == "differs from the person's first row"
    uncle = next(p for p in rec["related_people"] if p["id"] == "50199")
    assert (uncle["relationship"], uncle["names"]) == ("aunt_uncle", [])
    godmother = next(p for p in rec["related_people"] if p["id"] == "50162")
    assert godmother["relationship"] == "other"


def test_rows_that_belong_to_no_case_are_reported_with_their_values(
    results: list[ReadResult],
) -> None:
    left = [p for r in results if r.record is None for p in r.problems]
    by_code = {p.code: p for p in left}
    assert where(by_code["person-id-missing"]) == ("ADDRESSPERSONVIEW.csv", 9, None)
    assert "'Lost Street'" in by_code["person-id-missing"].message
    assert where(by_code["person-not-found"]) == ("FORMANSWERPERSONVIEW.csv", 39, None)
    assert "'59999'" in by_code["person-not-found"].message
    assert by_code["relationship-not-carried"].severity == Severity.WARNING
    assert "'Partner'" in by_code["relationship-not-carried"].message
    nobody = [p for p in left if p.code == "person-not-carried"]
    assert [where(p) for p in nobody] == [
        ("PERSONDEMOGRAPHICSVIEW.csv", 15, None),
        ("ADDRESSPERSONVIEW.csv", 8, None),
    ]
    assert "'Quiet Close'" in nobody[1].message


def test_views_the_adapter_does_not_read_are_left_alone(results: list[ReadResult]) -> None:
    # PERSONVIEW.csv is in the folder; nothing of it is read, reported or carried
    for found in results:
        assert all(
            p.location is None or p.location.file != "PERSONVIEW.csv" for p in found.problems
        )
        if found.record is not None:
            assert all(u.location.file != "PERSONVIEW.csv" for u in found.record.unmapped)
            assert "LASTLOGIN" not in found.record.model_dump_json()


def test_the_adapter_is_registered() -> None:
    assert get_adapter("eclipse") is EclipseAdapter


# --- configuration --------------------------------------------------------------------------


def test_an_authoritys_own_form_classification_and_codes(tmp_path: Path) -> None:
    config = tmp_path / "eclipse.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "date_formats": ["%d.%m.%Y"],
                "renames": {"PERSONDEMOGRAPHICSVIEW": {"PERSON_ID": "PERSONID"}},
                "ethnicity": {"WB": "WBRI"},
                "classifications": {"CP/N": {"kind": "cp_plan", "category": "NEG"}},
                "forms": {
                    "AAAA-1111": {
                        "kind": "referral",
                        "questions": {"refDate": "referral_date", "refSource": "referral_source"},
                    }
                },
                "referral_sources": {"Cops": 6},
            }
        )
    )
    source = files(
        PERSONDEMOGRAPHICSVIEW="PERSON_ID,FORENAME,SEX,ETHNICITYCODE,DATEOFBIRTH\r\n"
        "1,Kit,F,WB,03.04.2015\r\n",
        CLASSIFICATIONPERSONVIEW="CLASSIFICATIONASSIGNMENTID,PERSONID,CLASSIFICATIONPATH,"
        "STARTDATE\r\nC9,1,CP/N,01.02.2025\r\n",
        FORMANSWERPERSONVIEW="ANSWERFORSUBJECTID,INSTANCEID,DESIGNGUID,CONTROLNAME,ANSWERVALUE\r\n"
        "1,F1,aaaa-1111,refDate,05.01.2025\r\n1,F1,aaaa-1111,refSource,cops\r\n",
    )
    (found,) = read(source, config=config)
    rec = record([found], "1")
    assert (rec["child"]["ethnicity"], rec["child"]["birth_date"]) == ("WBRI", "2015-04-03")
    (episode,) = rec["episodes"]
    assert (episode["referral_date"], episode["referral_source"]) == ("2025-01-05", "6")
    assert episode["cp_plans"][0]["initial_category"] == "NEG"
    assert episode["cp_plans"][0]["start_date"] == "2025-02-01"


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"colours": {}}, "colours: Extra inputs are not permitted"),
        ({"sex": {"Male": "X"}}, "sex.Male: Input should be 'M', 'F' or 'U'"),
        (
            {"forms": {"g": {"kind": "referral", "questions": {"q": "date"}}}},
            "a referral form has no meaning date",
        ),
        ({"classifications": {"CP/X": {"kind": "cp_plan"}}}, "needs its category"),
        ({"date_formats": ["%Y"]}, "has no day"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_a_configuration_with_a_mistake_is_refused_saying_where(config: Any, said: str) -> None:
    with pytest.raises(InputUnreadable) as caught:
        EclipseAdapter(CONTEXT, config=config)
    assert caught.value.problem.code == "config-invalid"
    assert said in caught.value.problem.message


def test_a_configuration_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("forms: [unclosed\n")
    with pytest.raises(InputUnreadable) as caught:
        EclipseAdapter(CONTEXT, config=bad)
    assert (caught.value.problem.code, caught.value.problem.location.file) == (  # type: ignore[union-attr]
        "config-invalid",
        str(bad),
    )


def test_without_a_sending_authority_one_warning_and_unknown() -> None:
    found = read(
        files(
            PERSONDEMOGRAPHICSVIEW=PERSON_HEADER + "1,A,B,F,2015-01-01\r\n",
            CLASSIFICATIONPERSONVIEW=CASE,
        ),
        authority=None,
    )
    assert [p.code for p in found[0].problems].count("source-authority-missing") == 1
    assert record(found, "1")["provenance"]["source_authority"] == "unknown"


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "location"),
    [
        (files(CLASSIFICATIONPERSONVIEW=CASE), "table-missing", ("upload", None, None)),
        (
            files(PERSONDEMOGRAPHICSVIEW="FORENAME,SURNAME\r\nA,B\r\n"),
            "columns-missing",
            ("PERSONDEMOGRAPHICSVIEW.csv", 1, None),
        ),
        (
            files(PERSONDEMOGRAPHICSVIEW=""),
            "file-empty",
            ("PERSONDEMOGRAPHICSVIEW.csv", None, None),
        ),
        (
            files(PERSONDEMOGRAPHICSVIEW=PERSON_HEADER),
            "no-people",
            ("PERSONDEMOGRAPHICSVIEW.csv", 1, None),
        ),
        (
            files(
                PERSONDEMOGRAPHICSVIEW=PERSON_HEADER + "1,A,B,F,2015-01-01\r\n",
                CLASSIFICATIONPERSONVIEW="PERSONID,STARTDATE\r\n1,2025-01-01\r\n",
            ),
            "columns-missing",
            ("CLASSIFICATIONPERSONVIEW.csv", 1, None),
        ),
        (
            files(PERSONDEMOGRAPHICSVIEW=PERSON_HEADER.encode() + b"1,\x81,B,F,2015-01-01\r\n"),
            "file-undecodable",
            ("PERSONDEMOGRAPHICSVIEW.csv", None, None),
        ),
        (Source((), "empty"), "source-empty", None),
    ],
)
def test_unreadable_inputs_are_fatal(
    source: Source, code: str, location: tuple[str, int | None, None] | None
) -> None:
    found = fatal_of(source)
    assert found.code == code
    assert (where(found) if found.location else None) == location


def test_missing_columns_are_named() -> None:
    found = fatal_of(files(PERSONDEMOGRAPHICSVIEW="FORENAME\r\nA\r\n"))
    assert "PERSONID" in found.message


def test_windows_1252_bom_and_mixed_case_file_names_are_read() -> None:
    source = files(
        PersonDemographicsView=(PERSON_HEADER + "1,Ren\xe9e,B,F,2015-01-01\r\n").encode("cp1252"),
        classificationpersonview=b"\xef\xbb\xbf" + CASE.encode(),
    )
    rec = record(read(source), "1")
    assert rec["child"]["names"][0]["given"] == "Ren\u00e9e"
    assert rec["episodes"][0]["cin_plans"][0]["id"] == "C1"


def test_wrong_date_formats_are_reported_and_kept() -> None:
    source = files(
        PERSONDEMOGRAPHICSVIEW=PERSON_HEADER + "1,A,B,F,2015/31/12\r\n",
        CLASSIFICATIONPERSONVIEW=CASE,
    )
    found = read(source)[0]
    (bad,) = [p for p in found.problems if p.code == "date-invalid"]
    assert where(bad) == ("PERSONDEMOGRAPHICSVIEW.csv", 2, "DATEOFBIRTH")
    assert kept(record([found], "1"), "DATEOFBIRTH")[0]["value"] == "2015/31/12"


def test_sql_server_oracle_and_uk_dates_are_all_read() -> None:
    source = files(
        PERSONDEMOGRAPHICSVIEW=PERSON_HEADER
        + "1,A,B,F,2015-03-02 00:00:00.000\r\n2,C,D,M,02-MAR-15\r\n3,E,F,M,02/03/2015\r\n",
        CLASSIFICATIONPERSONVIEW="PERSONID,CLASSIFICATIONPATH\r\n1,Child in Need/CIN Plan\r\n"
        "2,Child in Need/CIN Plan\r\n3,Child in Need/CIN Plan\r\n",
    )
    found = read(source)
    assert [record(found, k)["child"]["birth_date"] for k in "123"] == ["2015-03-02"] * 3


@given(st.binary(max_size=300))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: bytes) -> None:
    source = files(
        PERSONDEMOGRAPHICSVIEW=PERSON_HEADER.encode() + data, CLASSIFICATIONPERSONVIEW=CASE
    )
    with contextlib.suppress(InputUnreadable):
        read(source)


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reading = EclipseAdapter(CONTEXT, source_authority="873").read(Source.from_path(FIXTURE))
    next(reading)
    assert list(tmp_path.iterdir())
    reading.close()
    assert list(tmp_path.iterdir()) == []


# --- nothing lost ---------------------------------------------------------------------------

PERSON_COLUMNS = ("PERSONID", "ROLEAPERSONID", "ROLEBPERSONID", "ANSWERFORSUBJECTID")
INSTANCE_COLUMNS = (
    "DESIGNGUID",
    "DESIGNSUBNAME",
    "INSTANCESTATE",
    "DATECOMPLETED",
    "SUBMITTERPERSONID",
)
PLANS = "episodes[].cp_plans[]"
LA = "episodes[].looked_after_episodes[]"
PLACEMENT = f"{LA}.placement"
ADDRESSES = "child.addresses[]|related_people[].addresses[]"
IDS = "child.identifiers[]|related_people[].identifiers[]"
FORM_FIELDS = "|".join(
    f"episodes[].{part}"
    for part in (
        "referral_date",
        "referral_source",
        "primary_need",
        "referral_no_further_action",
        "closure_date",
        "closure_reason",
        "assessments[].start_date",
        "assessments[].authorisation_date",
        "assessments[].factors[]~",
        "section47_enquiries[].start_date",
        "section47_enquiries[].end_date",
        "section47_enquiries[].initial_conference_not_required",
        "conferences[].date",
        "conferences[].led_to_cp_plan",
    )
)


def _each(paths: str, suffix: str) -> str:
    return "|".join(f"{p}.{suffix}" for p in paths.split("|"))


MAPPING: dict[str, dict[str, str]] = {
    "PERSONDEMOGRAPHICSVIEW": {
        "CAREFIRSTID": "child.identifiers[].value",
        "FORENAME": "child.names[].given|related_people[].names[].given",
        "SURNAME": "child.names[].family|related_people[].names[].family",
        "SEX": "child.sex|related_people[].sex",
        "GENDER": "child.sex|child.gender|related_people[].sex",
        "ETHNICITYCODE": "child.ethnicity",
        "DATEOFBIRTH": "child.birth_date|related_people[].birth_date",
        "DATEOFBIRTHESTIMATED": "child.birth_date_precision",
        "DUEDATE": "child.expected_birth_date",
        "DIEDDATE": "child.death_date",
        "NHSNUMBER": _each(IDS, "value"),
    },
    "REFERENCENUMBERPERSONVIEW": {
        "REFERENCETYPECODE": _each(IDS, "system"),
        "REFERENCENUMBER": _each(IDS, "value"),
    },
    "ADDRESSPERSONVIEW": {
        "ADDRESSID": _each(ADDRESSES, "id"),
        "TYPE": _each(ADDRESSES, "confidential"),
        "STARTDATE": _each(ADDRESSES, "start_date"),
        "ENDDATE": _each(ADDRESSES, "end_date"),
        "ROOMDESCRIPTION": _each(ADDRESSES, "lines[]~"),
        "FLOORDESCRIPTION": _each(ADDRESSES, "lines[]~"),
        "BUILDINGNAMEORNUMBER": _each(ADDRESSES, "lines[]~"),
        "STREETNAME": _each(ADDRESSES, "lines[]~"),
        "TOWNORCITY": _each(ADDRESSES, "town"),
        "POSTCODE": _each(ADDRESSES, "postcode"),
        "UPRN": _each(ADDRESSES, "uprn"),
        "CONFIDENTIAL": _each(ADDRESSES, "confidential"),
        "DONOTDISCLOSETO": _each(ADDRESSES, "not_to_be_disclosed_to~"),
    },
    "RELATIONSHIPPERSONVIEW": {
        "RELATIONSHIP": "related_people[].relationship|child.identifiers[].system",
        "PARENTALRESPONSIBILITY": "related_people[].parental_responsibility",
        "SAMEHOUSEHOLD": "related_people[].lives_with_child",
        "STARTDATE": "related_people[].notes~",
        "CLOSEDATE": "related_people[].notes~",
    },
    "CLASSIFICATIONPERSONVIEW": {
        "CLASSIFICATIONASSIGNMENTID": f"{PLANS}.id|episodes[].cin_plans[].id|alerts[].id"
        "|related_people[].alerts[].id",
        "CLASSIFICATIONPATH": f"{PLANS}.initial_category|{PLANS}.latest_category"
        "|child.disabilities[]|alerts[].summary|related_people[].alerts[].summary"
        "|chronology[].details~",
        "STARTDATE": f"{PLANS}.start_date|episodes[].cin_plans[].start_date|alerts[].start_date"
        "|related_people[].alerts[].start_date|chronology[].date",
        "ENDDATE": f"{PLANS}.end_date|episodes[].cin_plans[].end_date|alerts[].end_date"
        "|chronology[].date",
    },
    "FORMANSWERPERSONVIEW": {
        "INSTANCEID": "episodes[].id|episodes[].assessments[].id"
        "|episodes[].section47_enquiries[].id|episodes[].conferences[].id",
        "DESIGNSUBNAME": "episodes[].conferences[].type",
        "DATECOMPLETED": "episodes[].assessments[].authorisation_date"
        "|episodes[].section47_enquiries[].end_date",
        "ANSWERVALUE": FORM_FIELDS,
        "DATEANSWERVALUE": FORM_FIELDS,
    },
    "CLAEPISODEOFCAREVIEW": {
        "EPISODEOFCAREID": f"{LA}.id",
        "PERIODOFCAREID": "chronology[].details~",
        "EOCSTARTDATE": f"{LA}.start_date",
        "EOCSTARTREASONCODE": f"{LA}.reason_new_episode",
        "EOCENDDATE": f"{LA}.end_date",
        "EOCENDREASONCODE": f"{LA}.reason_episode_ceased",
        "LEGALSTATUS": f"{LA}.legal_status",
        "CATEGORYOFNEED": f"{LA}.category_of_need",
        "PLACEMENTTYPECODE": f"{PLACEMENT}.placement_type",
        "PLACEMENTPROVIDERCODE": f"{PLACEMENT}.provider",
        "PLACEMENTPOSTCODE": f"{PLACEMENT}.postcode",
        "PLACEMENTURN": f"{PLACEMENT}.urn",
    },
    "CLAPERIODOFCAREVIEW": {
        "PERIODOFCAREID": "chronology[].details~",
        "ADMISSIONDATE": "chronology[].date",
        "DISCHARGEDATE": "chronology[].date",
    },
    "RELATIONSHIPPROFESSIONALVIEW": {
        "PROFESSIONALRELATIONSHIPPERSONID": "professionals[].id",
        "PROFESSIONALNAME": "professionals[].name",
        "RELATIONSHIP": "professionals[].role",
        "ALLOCATEDWORKERCODE": "professionals[].is_lead",
        "ORGANISATIONNAME": "professionals[].organisation",
        "PHONENUMBER": "professionals[].contact.phone",
        "EMAILADDRESS": "professionals[].contact.email",
        "STARTDATE": "professionals[].start_date",
        "CLOSEDATE": "professionals[].end_date",
    },
}
"""Where each mapped column's values must appear (anything not listed must be kept unmapped)."""

_MAPS = (
    DEFAULT_SEX,
    DEFAULT_GENDER,
    DEFAULT_ETHNICITY,
    DEFAULT_REFERENCE_TYPES,
    DEFAULT_RELATIONSHIPS,
    DEFAULT_RELATIONSHIPS_REVERSED,
    DEFAULT_SOURCES,
    DEFAULT_NEEDS,
    DEFAULT_CLOSURES,
    DEFAULT_CONFERENCE_TYPES,
    DEFAULT_LEGAL_STATUSES,
)
_CATEGORY_OF_PATH = {
    "CHILD PROTECTION/NEGLECT": "NEG",
    "CHILD PROTECTION/PHYSICAL ABUSE": "PHY",
    "CHILD PROTECTION/EMOTIONAL ABUSE": "EMO",
    "CHILD PROTECTION/SEXUAL ABUSE": "SAB",
    "DISABILITY/AUTISM": "AUT",
}


def _cells(folder: Path) -> Iterator[tuple[str, str, int, str, str, dict[str, str]]]:
    """(view, file, row, column, value, row values) for every non-empty cell of a read view."""
    for path in sorted(folder.glob("*.csv")):
        view = path.stem.upper()
        if view not in COLUMNS:
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = [h.strip() for h in rows[0]]
        for number, cells in enumerate(rows[1:], start=2):
            values = {
                header[i]: c.strip()
                for i, c in enumerate(cells)
                if c.strip() and c.strip().upper() != "NULL"
            }
            for column, value in values.items():
                yield view, path.name, number, column, value, values


def _forms(value: str) -> set[str]:
    """The ways a source value may appear once mapped."""
    text = value.strip()
    key = text.upper()
    forms = {text, key, text.lower(), text.replace(" ", "")}
    if (day := parse_date(text)) is not None:
        forms.add(day.isoformat())
    if (postcode := normalise_postcode(text)) is not None:
        forms.add(postcode)
    if (flag := parse_bool(text)) is not None:
        forms |= {str(flag).lower(), "estimated" if flag else "day"}
    for table in _MAPS:
        if key in table:
            forms.add(table[key])
    if key in _CATEGORY_OF_PATH or key.replace(" / ", "/") in _CATEGORY_OF_PATH:
        forms.add(_CATEGORY_OF_PATH[key.replace(" / ", "/")])
    if key == "DUPLICATE":
        forms.add("legacy")
    if key == "UPN":
        forms.add("former_upn")
    if key in ("AW", "CONFIDENTIAL"):
        forms.add("true")
    forms |= {f for f in re.split(r"[\s,;]+", key) if f}  # lists (factors, person ids)
    return {f.lower() for f in forms}


def _leaves(node: Any, path: str) -> Iterator[Any]:
    if not path:
        yield node
        return
    head, _, rest = path.partition(".")
    name, many = head.removesuffix("[]"), head.endswith("[]")
    node = node.get(name) if isinstance(node, dict) else None
    if node is None:
        return
    if many and isinstance(node, list):
        for item in node:
            yield from _leaves(item, rest)
    else:
        yield from _leaves(node, rest)


def _appears(value: str, paths: str, records: list[dict[str, Any]]) -> bool:
    forms = _forms(value)
    for path in paths.split("|"):
        inside = path.endswith("~")
        for rec in records:
            for leaf in _leaves(rec, path.removesuffix("~")):
                said = leaf.lower() if isinstance(leaf, str) else json.dumps(leaf).lower()
                if said in forms or (inside and any(f in said for f in forms)):
                    return True
    return False


def _kept(records: list[dict[str, Any]], file: str, row: int, column: str, value: str) -> bool:
    return any(
        u["value"] == value
        and (u["location"].get("file"), u["location"].get("row"), u["location"].get("column"))
        == (file, row, column)
        for rec in records
        for u in rec["unmapped"]
    )


def lost_values(folder: Path, results: list[ReadResult]) -> list[str]:
    """Every source value neither mapped where it belongs nor kept where it came from."""
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    listed = [p for r in results if r.record is None for p in r.problems]
    known: set[str] = set(records)
    for rec in records.values():
        known |= {p["id"] for p in rec["related_people"]}
        known |= {i["value"] for i in rec["child"]["identifiers"] if i["system"] == "legacy"}
    first_rows: dict[str, dict[str, str]] = {}
    lost = []
    for view, file, number, column, value, row in _cells(folder):
        if any(
            p.location
            and (p.location.file, p.location.row) == (file, number)
            and repr(value) in p.message
            for p in listed
        ):
            continue
        people = {row[c] for c in PERSON_COLUMNS if c in row}
        mine = [
            rec
            for key, rec in records.items()
            if key in people
            or people & {p["id"] for p in rec["related_people"]}
            or people & {i["value"] for i in rec["child"]["identifiers"]}
        ] or list(records.values())
        if _kept(mine, file, number, column, value):
            continue
        if column in PERSON_COLUMNS:
            if value in known:
                continue
        elif (
            view == "FORMANSWERPERSONVIEW"
            and column != "ANSWERVALUE"
            and column != "DATEANSWERVALUE"
        ):
            first = first_rows.setdefault(row.get("INSTANCEID", ""), row)
            built = _appears(row.get("INSTANCEID", ""), MAPPING[view]["INSTANCEID"], mine)
            if column in INSTANCE_COLUMNS and first is not row and first.get(column) == value:
                continue  # a repeat of the form's first row
            if column in ("DESIGNGUID", "INSTANCESTATE") and built:
                continue  # chose the form, and its state let it be read
            if column == "CONTROLNAME" and (
                built
                or any(
                    u["field"] == value and u["location"].get("row") == number
                    for rec in mine
                    for u in rec["unmapped"]
                )
            ):
                continue
        elif column == "STATUS" and value.upper() != "DELETED":
            continue  # a live row: the status is what let it be read
        elif column == "CLASSIFICATIONPATH" and _appears(
            row.get("CLASSIFICATIONASSIGNMENTID", ""), "episodes[].cin_plans[].id", mine
        ):
            continue  # the path made the row a child in need plan
        paths = MAPPING.get(view, {}).get(column)
        if paths is None or not _appears(value, paths, mine):
            lost.append(f"{file}:{number}:{column}={value!r}")
    return lost


def test_nothing_is_lost(results: list[ReadResult]) -> None:
    assert sum(1 for _ in _cells(FIXTURE)) > 400
    assert lost_values(FIXTURE, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def drop(**changes: Callable[[Any], None]) -> list[str]:
        found = read()
        for r in found:
            if r.key in changes and r.record is not None:
                changes[r.key](r.record)
        return lost_values(FIXTURE, found)

    def forget_reason(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "Category changed at review"]

    assert drop(**{"50123": forget_reason}) == [
        "ClassificationPersonView.csv:2:ENDREASON='Category changed at review'"
    ]

    def forget_latest_category(rec: Any) -> None:
        rec.episodes[0].cp_plans[0].latest_category = None

    assert drop(**{"50123": forget_latest_category}) == [
        "ClassificationPersonView.csv:3:CLASSIFICATIONPATH='Child Protection/Emotional Abuse'"
    ]

    def forget_withheld(rec: Any) -> None:
        for address in rec.child.addresses:
            address.not_to_be_disclosed_to.clear()
        for person in rec.related_people:
            for address in person.addresses:
                address.not_to_be_disclosed_to.clear()

    # Ava's address is in Leo's record too (she is his sister): both must lose it
    assert drop(**{"50123": forget_withheld}) == []
    assert drop(**{"50123": forget_withheld, "50125": forget_withheld}) == [
        "ADDRESSPERSONVIEW.csv:3:DONOTDISCLOSETO='50126'"
    ]

    def forget_merged_surname(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "Sampel"]

    assert drop(**{"50130": forget_merged_surname}) == [
        "PERSONDEMOGRAPHICSVIEW.csv:7:SURNAME='Sampel'"
    ]


# --- documentation --------------------------------------------------------------------------


def test_every_column_read_is_documented() -> None:
    from exchange.adapters import eclipse

    text = DOCS.read_text(encoding="utf-8")
    doc = eclipse.__doc__ or ""
    for view, columns in COLUMNS.items():
        assert view in text
        assert view in doc
        for column in columns:
            word = re.compile(rf"\b{column}\b")
            assert word.search(text), f"{view}.{column} is not in {DOCS.name}"
            assert word.search(doc), f"{view}.{column} is not in the module docstring"
