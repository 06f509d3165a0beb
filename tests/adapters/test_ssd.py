"""The SSD adapter: what a receiving authority sees when a Standard Safeguarding Dataset is read.

The fixture (tests/fixtures/ssd/) is a synthetic SSD export of fictional children, one CSV per
table, written dirty on purpose: a BOM, upper-case headers under an old column name, a
Windows-1252 file, D2I placeholders, bad dates and codes, rows that name nobody, a confidential
address, links that point nowhere. The tests look at the records and problems a user would see,
and check that every source value is either in the record or kept unmapped where it came from.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import get_adapter
from exchange.adapters.base import InputUnreadable, ReadResult, Source
from exchange.adapters.ssd import (
    ADDRESS_JSON_MAPPING,
    CATEGORY_OF_ABUSE_ALIASES,
    ETHNICITY_ALIASES,
    LEGAL_ALIASES,
    LINK_TYPES,
    MAPPING,
    MISSING_KINDS,
    NEED_ALIASES,
    SEX_CODES,
    TABLES,
    SSDAdapter,
)
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ssd"
CONTEXT = RuleContext(
    today=dt.date(2026, 11, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
PERSON_HEADER = "pers_person_id,pers_sex,pers_dob\r\n"


def read(source: Source | Path = FIXTURE, authority: str | None = "202") -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    return list(SSDAdapter(CONTEXT, source_authority=authority).read(source))


def files(**tables: str | bytes) -> Source:
    """An in-memory export: table name -> CSV text."""
    return Source.from_files(
        {f"{name}.csv": t.encode() if isinstance(t, str) else t for name, t in tables.items()}
    )


def by_key(results: list[ReadResult]) -> dict[str, ReadResult]:
    return {r.key: r for r in results if r.key is not None}


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = by_key(results)[key].record
    assert found is not None
    return found.model_dump(mode="json")


def problems(result: ReadResult, code: str) -> list[Problem]:
    return [p for p in result.problems if p.code == code]


def where(found: Problem) -> tuple[str | None, int | None, str | None, str | None]:
    assert found.location is not None
    loc = found.location
    return loc.file, loc.row, loc.column, loc.element


def fatal_of(source: Source) -> Problem:
    with pytest.raises(InputUnreadable) as caught:
        read(source)
    assert caught.value.problem.severity == Severity.FATAL
    return caught.value.problem


@pytest.fixture(scope="module")
def fixture_results() -> list[ReadResult]:
    return read()


# --- the child ------------------------------------------------------------------------------


def test_one_result_per_person_in_file_order_then_rows_naming_nobody(
    fixture_results: list[ReadResult],
) -> None:
    keys = [(r.key, r.record is not None) for r in fixture_results]
    assert keys == [
        ("P1001", True),
        ("P1002", True),
        ("P1003", True),
        ("P1004", True),
        ("P1005", True),
        (None, False),  # the ssd_person row without an id
        (None, False),  # the address of P7777, who is not in ssd_person
    ]
    nobody = fixture_results[5].problems[0]
    assert nobody.code == "person-id-missing"
    assert where(nobody) == ("ssd_person.csv", 7, "pers_person_id", None)
    assert "'Nobody'" in nobody.message
    stray = fixture_results[6].problems[0]
    assert stray.code == "person-not-found"
    assert where(stray)[:2] == ("SSD_Address.CSV", 7)
    assert '"STREET": "Lost Road"' in stray.message


def test_person_identifiers_names_and_dates(fixture_results: list[ReadResult]) -> None:
    child = record(fixture_results, "P1001")["child"]
    assert [(i["system"], i["value"], i["issuer"]) for i in child["identifiers"]] == [
        ("la_child_id", "P1001", "202"),
        ("legacy", "LEG-1001", "202"),
        ("upn", "F202123456781", None),  # ssd_linked_identifiers repeats it: not twice
        ("nhs_number", "9434765919", None),
        ("former_upn", "N202987654321", None),
    ]
    assert child["names"][0]["given"] == "Testy"
    assert child["names"][0]["family"] == "Fictional-One"
    assert child["birth_date"] == "2015-03-02"  # from a SQL Server timestamp
    assert (child["sex"], child["gender"], child["ethnicity"]) == ("M", None, "WBRI")
    assert child["disabilities"] == ["MOB", "AUT"]
    assert child["nationality"] == "British"
    other = record(fixture_results, "P1002")["child"]
    assert other["birth_date"] == "2009-07-14"  # dd/mm/yyyy
    assert other["ethnicity"] == "WBRI"  # "White British"
    assert {"system": "other", "value": "YOT-77", "issuer": None} in other["identifiers"]


def test_nhs_number_check_digit_is_checked_by_the_rules(fixture_results: list[ReadResult]) -> None:
    result = by_key(fixture_results)["P1002"]
    (found,) = problems(result, "nhs-number-invalid")
    assert found.pointer == "/child/identifiers/2/value"
    assert "943 476 5910" in found.message
    assert not problems(by_key(fixture_results)["P1001"], "nhs-number-invalid")


def test_sex_and_gender(fixture_results: list[ReadResult]) -> None:
    coded = record(fixture_results, "P1002")["child"]
    assert (coded["sex"], coded["gender"]) == ("F", "Non-binary")  # pers_sex 2, words kept
    result = by_key(fixture_results)["P1003"]
    differs = record(fixture_results, "P1003")
    assert (differs["child"]["sex"], differs["child"]["gender"]) == ("F", None)
    (warning,) = problems(result, "sex-gender-differ")
    assert warning.severity == Severity.WARNING
    assert where(warning) == ("ssd_person.csv", 4, "pers_gender", None)
    assert any(u["field"] == "pers_gender" and u["value"] == "M" for u in differs["unmapped"])
    gender_only = read(files(ssd_person="pers_person_id,pers_gender\r\nX1,Female\r\n"))
    assert record(gender_only, "X1")["child"]["sex"] == "F"


def test_a_upn_shared_by_two_children_is_reported_on_both() -> None:
    results = read(
        files(
            ssd_person="pers_person_id,pers_upn\r\nX1,F202123456781\r\nX2,F202123456781\r\n"
            "X3,N202987654321\r\n"
        )
    )
    for key in ("X1", "X2"):
        (found,) = problems(by_key(results)[key], "upn-duplicate")
        assert (found.dfe_rule, where(found)[2]) == ("1520", "pers_upn")
    assert not problems(by_key(results)["X3"], "upn-duplicate")


def test_placeholders_and_null_count_as_empty(fixture_results: list[ReadResult]) -> None:
    unborn = record(fixture_results, "P1004")
    assert [i["system"] for i in unborn["child"]["identifiers"]] == ["la_child_id"]  # SSD_PH
    assert unborn["child"]["expected_birth_date"] == "2026-01-10"
    assert not any(u["value"] in ("SSD_PH", "NULL") for u in unborn["unmapped"])


def test_duplicate_person_rows_are_reported_and_differences_kept(
    fixture_results: list[ReadResult],
) -> None:
    result = by_key(fixture_results)["P1005"]
    (found,) = problems(result, "person-duplicate")
    assert where(found) == ("ssd_person.csv", 8, "pers_person_id", None)
    kept = record(fixture_results, "P1005")["unmapped"]
    assert [(u["field"], u["value"], u["location"]["row"]) for u in kept] == [
        ("pers_nationality", "French", 8)
    ]
    assert record(fixture_results, "P1005")["child"]["nationality"] == "Irish"


# --- addresses ------------------------------------------------------------------------------


def test_address_json_and_postcode(fixture_results: list[ReadResult]) -> None:
    rec = record(fixture_results, "P1001")
    home = rec["child"]["addresses"][0]
    assert home["id"] == "AD1"
    assert home["lines"] == ["2", "Flat 7", "Imaginary Court", "12 Nowhere Lane"]
    assert (home["town"], home["uprn"], home["postcode"]) == (
        "Faketown",
        "100000000001",
        "ZZ99 9ZZ",
    )
    assert (home["start_date"], home["end_date"]) == ("2015-03-02", "2021-05-31")  # old names
    easting = [u for u in rec["unmapped"] if u["field"] == "EASTING"]
    assert easting[0]["value"] == "512345"
    assert {k: v for k, v in easting[0]["location"].items() if v is not None} == {
        "file": "SSD_Address.CSV",
        "row": 2,
        "column": "ADDR_ADDRESS_JSON",
        "element": "/EASTING",
    }


def test_confidential_addresses_are_flagged_and_alerted(fixture_results: list[ReadResult]) -> None:
    masked = record(fixture_results, "P1001")
    assert [a["confidential"] for a in masked["child"]["addresses"]] == [False, True]
    assert masked["child"]["addresses"][1]["postcode"] is None  # 'CON' is a mask, not a postcode
    by_type = record(fixture_results, "P1002")
    assert by_type["child"]["addresses"][0]["confidential"] is True  # type 'Confidential'
    for rec in (masked, by_type):
        assert [a["type"] for a in rec["alerts"]] == ["do_not_disclose_address"]
    flagged = read(
        files(
            ssd_person=PERSON_HEADER + "X1,F,2015-01-01\r\n",
            ssd_address="addr_person_id,addr_address_postcode,is_restricted_flag\r\n"
            "X1,ZZ99 1AA,Y\r\n",
        )
    )
    assert record(flagged, "X1")["child"]["addresses"][0]["confidential"] is True
    assert not problems(flagged[0], "columns-extra")


def test_dirty_addresses_are_reported_where_they_are(fixture_results: list[ReadResult]) -> None:
    result = by_key(fixture_results)["P1003"]
    assert where(problems(result, "postcode-invalid")[0]) == (
        "SSD_Address.CSV",
        5,
        "ADDR_ADDRESS_POSTCODE",
        None,
    )
    assert where(problems(result, "address-json-invalid")[0])[:3] == (
        "SSD_Address.CSV",
        5,
        "ADDR_ADDRESS_JSON",
    )
    assert where(problems(result, "uprn-invalid")[0]) == (
        "SSD_Address.CSV",
        6,
        "ADDR_ADDRESS_JSON",
        "/UPRN",
    )


# --- the social care history ----------------------------------------------------------------


def test_cin_episodes_with_assessments_plans_and_enquiries(
    fixture_results: list[ReadResult],
) -> None:
    first, second = record(fixture_results, "P1001")["episodes"]
    assert (first["id"], first["referral_date"], first["referral_source"]) == (
        "R1",
        "2023-01-10",
        "2A",
    )
    assert (first["primary_need"], first["closure_reason"], first["closure_date"]) == (
        "N1",
        "RC5",
        "2024-06-30",
    )
    assert first["referral_no_further_action"] is False
    assert second["primary_need"] == "N1"  # "Abuse or neglect"
    assert first["assessments"] == [
        {
            "id": "A1",
            "start_date": "2023-01-12",
            "internal_review_date": None,
            "authorisation_date": "2023-02-20",
            "factors": ["1A", "2B"],
        }
    ]
    # A2 names referral R404, which does not exist: placed by its date, the id kept unmapped.
    assert [a["id"] for a in second["assessments"]] == ["A2"]
    assert second["assessments"][0]["factors"] == ["3A", "21"]
    assert first["cin_plans"][0]["id"] == "CP1"
    (enquiry,) = first["section47_enquiries"]
    assert (enquiry["id"], enquiry["initial_conference_date"]) == ("S1", "2023-03-28")
    assert enquiry["initial_conference_target_date"] == "2023-03-29"
    result = by_key(fixture_results)["P1001"]
    (link,) = problems(result, "link-not-found")
    assert where(link) == ("ssd_cin_assessments.csv", 3, "cina_referral_id", None)
    (factor,) = problems(result, "code-unknown")
    assert where(factor) == (
        "ssd_assessment_factors.csv",
        2,
        "cinf_assessment_factors_json",
        "/2",
    )
    # Factors given as a JSON object: 'N' means not identified and is kept, not dropped.
    third = record(fixture_results, "P1002")
    assert third["episodes"][0]["assessments"][0]["factors"] == ["4A"]
    assert any(u["field"] == "5B" and u["value"] == "N" for u in third["unmapped"])


def test_conferences_and_child_protection_plans(fixture_results: list[ReadResult]) -> None:
    first, second = record(fixture_results, "P1001")["episodes"]
    assert [(c["id"], c["type"], c["led_to_cp_plan"]) for c in first["conferences"]] == [
        ("C1", "initial", True)
    ]
    assert [(c["id"], c["type"], c["date"]) for c in second["conferences"]] == [
        ("C2", "transfer_in", "2024-09-20")
    ]
    plan = first["cp_plans"][0]
    assert (plan["initial_category"], plan["latest_category"]) == ("NEG", "EMO")
    assert plan["review_dates"] == ["2023-06-20", "2023-12-01"]  # RV2 reaches P1001 via its plan
    assert plan["visits"] == [{"date": "2023-04-05", "seen": True, "seen_alone": True}]
    assert second["cp_plans"][0]["review_dates"] == ["2024-10-15"]  # no plan id: the open plan
    held_elsewhere = record(fixture_results, "P1002")["episodes"][0]["cp_plans"][0]
    assert held_elsewhere["other_local_authority"] is True
    chronology = record(fixture_results, "P1002")["chronology"]
    assert {"date": "2021-01-05", "category": "conference"}.items() <= chronology[2].items()
    assert chronology[0]["summary"] == "Child protection visit"  # no plan open that day
    assert chronology[0]["details"] == "Child seen: no. Bedroom seen: yes."


def test_looked_after_episodes_placements_and_legal_status(
    fixture_results: list[ReadResult],
) -> None:
    result = by_key(fixture_results)["P1003"]
    rec = record(fixture_results, "P1003")
    spells = [s for e in rec["episodes"] for s in e["looked_after_episodes"]]
    assert [(s["id"], s["legal_status"], s["placement"]["id"]) for s in spells] == [
        ("E1", "C2", "PLC1"),  # by clae_cla_placement_id; the placement has no person id
        ("E2", "C2", "PLC2"),  # by the period of care open that day
    ]
    first = spells[0]
    assert (first["reason_new_episode"], first["category_of_need"]) == ("S", "N4")
    assert first["reason_episode_ceased"] == "X1"
    assert first["placement"]["postcode"] == "ZZ99 3AB"
    (unlinked,) = problems(result, "placement-not-linked")
    assert where(unlinked)[:2] == ("ssd_cla_placement.csv", 4)
    assert any(
        u["value"] == "Interim care order" and u["reason"] for u in rec["unmapped"]
    )  # a legal status no episode falls in is kept, with why


def test_missing_episodes_and_their_alert(fixture_results: list[ReadResult]) -> None:
    rec = record(fixture_results, "P1003")
    assert [(m["start_date"], m["end_date"], m["kind"]) for m in rec["missing_episodes"]] == [
        ("2022-05-01", "2022-05-02", "missing"),
        ("2022-07-01", None, "away"),
    ]
    assert rec["missing_episodes"][0]["return_interview_offered"] is True
    assert rec["missing_episodes"][0]["return_interview_accepted"] is False
    (alert,) = [a for a in rec["alerts"] if a["type"] == "missing"]
    assert alert["severity"] == "high"  # the latest has not ended
    assert "2022-07-01" in alert["summary"]
    (undated,) = problems(by_key(fixture_results)["P1003"], "missing-start-missing")
    assert where(undated)[:2] == ("ssd_missing.csv", 4)


def test_immigration_status_keeps_the_current_one(fixture_results: list[ReadResult]) -> None:
    rec = record(fixture_results, "P1003")
    status = rec["child"]["immigration_status"]
    assert (status["status"], status["uasc"], status["start_date"]) == ("UASC", True, "2020-01-01")
    assert any(u["value"] == "Refugee status" for u in rec["unmapped"])


def test_professionals_from_involvements(fixture_results: list[ReadResult]) -> None:
    rec = record(fixture_results, "P1001")
    assert [(p["id"], p["name"], p["role"], p["organisation"]) for p in rec["professionals"]] == [
        ("W1", "Pat Invented", "Allocated social worker", "Team North"),
        ("W2", "Sam Imaginary", "Team Manager", "Safeguarding Unit"),  # from ssd_professionals
    ]
    adviser = record(fixture_results, "P1003")["professionals"]
    assert [(p["name"], p["role"]) for p in adviser] == [("Alex Notreal", "Personal adviser")]
    (notice,) = problems(fixture_results[0], "professionals-not-involved")
    assert notice.message.startswith("1 ssd_professionals row")


def test_mothers_own_children_and_household(fixture_results: list[ReadResult]) -> None:
    unborn = record(fixture_results, "P1004")
    (mother,) = unborn["related_people"]
    assert (mother["id"], mother["relationship"], mother["birth_date"]) == (
        "P1002",
        "mother",
        "2009-07-14",
    )
    assert mother["names"][0]["family"] == "Madeup-Two"
    young_mother = record(fixture_results, "P1002")
    assert [
        (r["id"], r["relationship"], r["birth_date"]) for r in young_mother["related_people"]
    ] == [
        ("P9001", "other", "2025-05-01"),
        ("P1004", "other", None),
    ]
    assert [
        (r["id"], r["relationship"]) for r in record(fixture_results, "P1001")["related_people"]
    ] == [("P1003", "household_member")]


def test_chronology_from_visits_contacts_and_court_steps(fixture_results: list[ReadResult]) -> None:
    first = record(fixture_results, "P1001")["chronology"]
    assert [(e["date"], e["summary"]) for e in first] == [
        ("2022-12-20", "Contact"),
        ("2023-02-25", "Child in need visit"),
    ]
    assert first[0]["source"] == "Schools (2A)"
    assert first[1]["details"] == "Child seen: yes. Seen alone: no. Bedroom seen: yes."
    third = {e["summary"]: e for e in record(fixture_results, "P1003")["chronology"]}
    assert third["Decision to enter pre-proceedings"]["date"] == "2022-03-01"
    assert third["Permanence order (Special guardianship order)"]["category"] == "court"
    assert third["Looked-after review"]["details"] == "Cancelled: no. Participation: PN1."
    dates = [e["date"] for e in record(fixture_results, "P1003")["chronology"]]
    assert dates == sorted(dates)


def test_windows_1252_file_is_read(fixture_results: list[ReadResult]) -> None:
    early_help = [
        e for e in record(fixture_results, "P1002")["chronology"] if "Early help" in e["summary"]
    ]
    assert (
        early_help[0]["details"] == "Reason: Family support. Organisation: Children\u2019s Centre."
    )


def test_a_late_windows_1252_byte_restarts_the_file_without_doubling_rows() -> None:
    rows = "".join(f"X{n},F,2015-01-01\r\n" for n in range(3000))
    data = (PERSON_HEADER + rows).encode() + b"X9999,F,2015-01-01,caf\xe9\r\n"
    results = read(files(ssd_person=data))
    assert len(results) == 3001
    assert record(results, "X9999")["unmapped"][0]["value"] == "caf\u00e9"


# --- the whole export ----------------------------------------------------------------------


def test_whole_export_notices_ride_with_the_first_result_once(
    fixture_results: list[ReadResult],
) -> None:
    first = fixture_results[0]
    notices = {p.code: p for p in first.problems if p.code in NOTICES}
    assert set(notices) == {
        "file-not-read",
        "table-not-read",
        "columns-extra",
        "professionals-not-involved",
    }
    assert notices["table-not-read"].location is not None
    assert notices["table-not-read"].location.file == "ssd_department.csv"
    assert "LOCAL_FLAG" in notices["columns-extra"].message
    for later in fixture_results[1:]:
        assert not [p for p in later.problems if p.code in NOTICES]


NOTICES = {
    "file-not-read",
    "table-not-read",
    "columns-extra",
    "professionals-not-involved",
    "source-authority-missing",
    "row-too-long",
    "file-empty",
}


def test_tables_the_adapter_does_not_read_travel_unmapped(
    fixture_results: list[ReadResult],
) -> None:
    kept = [
        u
        for u in record(fixture_results, "P1001")["unmapped"]
        if u["location"]["file"] == "ssd_sdq_scores.csv"
    ]
    assert [(u["field"], u["value"]) for u in kept] == [
        ("csdq_table_id", "SQ1"),
        ("csdq_sdq_completed_date", "2024-01-01"),
        ("csdq_sdq_score", "14"),
    ]
    assert all(u["reason"] == "table ssd_sdq_scores is not read by the SSD adapter" for u in kept)


def test_file_names_are_recognised_case_insensitively_with_schema_and_view_suffix() -> None:
    source = Source.from_files(
        {
            "ssd_development.SSD_PERSON.csv": (PERSON_HEADER + "X1,F,2015-01-01\r\n").encode(),
            "ssd_disability_v.CSV": b"disa_person_id,disa_disability_code\r\nX1,VIS\r\n",
        }
    )
    assert record(read(source), "X1")["child"]["disabilities"] == ["VIS"]


def test_without_a_sending_authority_one_warning_and_unknown() -> None:
    results = read(files(ssd_person=PERSON_HEADER + "X1,F,2015-01-01\r\nX2,M,2014-01-01\r\n"), None)
    assert [p.code for p in results[0].problems if p.code == "source-authority-missing"] == [
        "source-authority-missing"
    ]
    assert problems(results[0], "source-authority-missing")[0].severity == Severity.WARNING
    assert not problems(results[1], "source-authority-missing")
    rec = record(results, "X1")
    assert rec["provenance"]["source_authority"] == "unknown"
    assert "issuer" not in {k for i in rec["child"]["identifiers"] for k, v in i.items() if v}


def test_the_adapter_is_registered() -> None:
    assert get_adapter("ssd") is SSDAdapter


# --- fatal problems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "where_"),
    [
        (Source.from_files({}), "source-empty", None),
        (files(ssd_address="addr_person_id\r\nX1\r\n"), "person-table-missing", None),
        (files(ssd_person=""), "file-empty", ("ssd_person.csv", 1)),
        (files(ssd_person=PERSON_HEADER), "no-children", ("ssd_person.csv", 1)),
        (
            files(ssd_person="pers_sex,pers_dob\r\nF,2015-01-01\r\n"),
            "columns-missing",
            ("ssd_person.csv", 1),
        ),
        (
            files(
                ssd_person=PERSON_HEADER + "X1,F,\r\n",
                ssd_address="addr_address_postcode\r\nZZ99 1AA\r\n",
            ),
            "columns-missing",
            ("ssd_address.csv", 1),
        ),
        (
            files(ssd_person=PERSON_HEADER.encode() + b"X1,F,\x81\x8d\r\n"),
            "file-undecodable",
            ("ssd_person.csv", None),
        ),
        (
            files(ssd_person=PERSON_HEADER + 'X1,F,"' + "x" * 200_000 + '"\r\n'),
            "csv-malformed",
            ("ssd_person.csv", 2),
        ),
    ],
    ids=[
        "no-files",
        "no-person-table",
        "empty-person-file",
        "header-only",
        "no-person-id-column",
        "no-join-column",
        "not-text",
        "field-too-large",
    ],
)
def test_unreadable_inputs_are_fatal(
    source: Source, code: str, where_: tuple[str, int | None] | None
) -> None:
    found = fatal_of(source)
    assert found.code == code
    assert found.fix
    if where_ is not None:
        assert found.location is not None
        assert (found.location.file, found.location.row) == where_


def test_columns_missing_names_the_file_and_the_columns() -> None:
    found = fatal_of(
        files(ssd_person=PERSON_HEADER + "X1,F,\r\n", ssd_cp_reviews="cppr_cp_review_date\r\n")
    )
    assert "ssd_cp_reviews.csv" in found.message
    assert "cppr_person_id or cppr_cp_plan_id" in found.message


def test_an_empty_optional_table_is_a_warning() -> None:
    results = read(files(ssd_person=PERSON_HEADER + "X1,F,2015-01-01\r\n", ssd_missing=""))
    (empty,) = problems(results[0], "file-empty")
    assert empty.severity == Severity.WARNING
    assert results[0].record is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: st.DataObject) -> None:
    tables = {p.stem: p.read_bytes() for p in FIXTURE.glob("*.csv")}
    name = data.draw(st.sampled_from(sorted(tables)))
    original = tables[name]
    at = data.draw(st.integers(0, len(original)))
    junk = data.draw(
        st.binary(max_size=40) | st.text(alphabet=',"\r\n{}[]:;Y0', max_size=20).map(str.encode)
    )
    tables[name] = original[:at] + junk + original[at:]
    with contextlib.suppress(InputUnreadable):
        read(files(**tables))


# --- streaming ------------------------------------------------------------------------------


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reader = SSDAdapter(CONTEXT, source_authority="202").read(Source.from_path(FIXTURE))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())  # the rows wait on disk, not in memory
    reader.close()
    assert not any(tmp_path.iterdir())


# --- nothing lost ---------------------------------------------------------------------------


def _cells(folder: Path) -> Iterator[tuple[str, str, int, str, str, str, dict[str, str]]]:
    """(table, file, row, header, column, value, row values) for every non-empty source cell."""
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() != ".csv":
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        table = path.stem.lower()
        aliases = TABLES[table].aliases if table in TABLES else {}
        headers = [h.strip() for h in rows[0]]
        columns = [aliases.get(h.lower(), h.lower()) for h in headers]
        for number, cells in enumerate(rows[1:], start=2):
            values = {
                columns[i]: c.strip()
                for i, c in enumerate(cells)
                if c.strip()
                and c.strip().upper() != "NULL"
                and not c.strip().upper().startswith("SSD_PH")
            }
            for i, column in enumerate(columns):
                if column in values:
                    yield table, path.name, number, headers[i], column, values[column], values


def _forms(value: str) -> set[str]:
    """The ways a source value may legitimately appear once mapped."""
    text = value.strip()
    key = text.upper()
    forms = {text, key, text.lower(), text.replace(" ", "")}
    if (day := parse_date(text)) is not None:
        forms.add(day.isoformat())
    if (postcode := normalise_postcode(text) or normalise_partial_postcode(text)) is not None:
        forms.add(postcode)
    if (flag := parse_bool(text)) is not None:
        forms |= {str(flag).lower(), "yes" if flag else "no"}
        forms.add("transfer_in" if flag else "initial")
    for table in (
        SEX_CODES,
        ETHNICITY_ALIASES,
        CATEGORY_OF_ABUSE_ALIASES,
        NEED_ALIASES,
        LEGAL_ALIASES,
        LINK_TYPES,
        MISSING_KINDS,
    ):
        if key in table:
            forms.add(table[key])
    if key in ("CON", "CONFIDENTIAL"):
        forms.add("true")  # the confidential marker lands as the flag
    return {f.lower() for f in forms}


def _leaves(node: Any, path: str) -> Iterator[Any]:
    if not path:
        yield node
        return
    head, _, rest = path.partition(".")
    name, many = head.removesuffix("[]"), head.endswith("[]")
    if isinstance(node, dict):
        node = node.get(name) if name else node
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
                said = json.dumps(leaf).lower() if not isinstance(leaf, str) else leaf.lower()
                if (inside and any(f in said for f in forms)) or said in forms:
                    return True
    return False


def _kept(
    records: list[dict[str, Any]],
    file: str,
    row: int,
    header: str,
    value: str,
    element: str | None = None,
) -> bool:
    return any(
        u["value"] == value
        and (u["location"].get("file"), u["location"].get("row"), u["location"].get("column"))
        == (file, row, header)
        and u["location"].get("element") == element
        for rec in records
        for u in rec["unmapped"]
    )


def _json_parts(column: str, value: str) -> list[tuple[str, str, str, str]] | None:
    """(element, value kept, value mapped, where it maps) of a JSON cell read part by part."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if column == "addr_address_json" and isinstance(parsed, dict):
        return [
            (f"/{k}", str(v), str(v), ADDRESS_JSON_MAPPING.get(k.upper(), "-"))
            for k, v in parsed.items()
            if str(v).strip()
        ]
    if column == "cinf_assessment_factors_json":
        factors = "episodes[].assessments[].factors[]"
        if isinstance(parsed, dict):  # factor: Y/N; when kept, it is the flag that is kept
            return [(f"/{k}", str(v), str(k), factors) for k, v in parsed.items()]
        if isinstance(parsed, list):
            return [(f"/{i}", str(v), str(v), factors) for i, v in enumerate(parsed)]
        return [(f"/{i}", v, v, factors) for i, v in enumerate(value.split(","))]
    return None


def lost_values(folder: Path, results: list[ReadResult]) -> list[str]:
    """Every source value neither mapped into its declared field nor kept where it came from."""
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    everyone = list(records.values())
    skipped = [p for r in results if r.skipped for p in r.problems]
    notices = {p.code: p for p in results[0].problems}
    involved = {v["invo_professional_id"] for t, *_, v in _cells(folder) if t == "ssd_involvements"}
    lost = []
    for table, file, number, header, column, value, row in _cells(folder):
        if table not in TABLES and not any(c.endswith("_person_id") for c in row):
            if notices["table-not-read"].location.file != file:  # type: ignore[union-attr]
                lost.append(f"{file}: not read and not reported")
            continue
        if table == "ssd_professionals" and row.get("prof_professional_id") not in involved:
            if "professionals-not-involved" not in notices:
                lost.append(f"{file}:{number}:{column}={value!r} (unreported idle professional)")
            continue
        if any(
            p.location
            and (p.location.file, p.location.row) == (file, number)
            and repr(value) in p.message
            for p in skipped
        ):
            continue
        people = [v for c, v in row.items() if c.endswith("_person_id") and v in records]
        mine = [records[p] for p in people] or everyone
        if _kept(mine, file, number, header, value):
            continue
        parts = _json_parts(column, value)
        if parts is not None:
            for element, kept, mapped, paths in parts:
                if not _kept(mine, file, number, header, kept, element) and not _appears(
                    mapped, paths, mine
                ):
                    lost.append(f"{file}:{number}:{column}{element}={kept!r}")
            continue
        paths = MAPPING.get(table, {}).get(column)
        if paths is None and column.endswith("_person_id"):
            paths = "child.identifiers[].value"  # the join key of a table not read
        if paths is None or not _appears(value, paths, mine):
            lost.append(f"{file}:{number}:{column}={value!r}")
    return lost


def test_nothing_is_lost(fixture_results: list[ReadResult]) -> None:
    assert sum(1 for _ in _cells(FIXTURE)) > 400
    assert lost_values(FIXTURE, fixture_results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def drop(change: Callable[[Any], None], key: str = "P1001") -> list[ReadResult]:
        results = read()
        for r in results:
            if r.key == key and r.record is not None:
                change(r.record)
        return results

    def forget_sdq_score(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "14"]

    assert lost_values(FIXTURE, drop(forget_sdq_score)) == [
        "ssd_sdq_scores.csv:2:csdq_sdq_score='14'"
    ]

    def forget_review(rec: Any) -> None:
        rec.episodes[0].cp_plans[0].review_dates.pop()

    assert lost_values(FIXTURE, drop(forget_review)) == [
        "ssd_cp_reviews.csv:3:cppr_cp_review_date='2023-12-01'"
    ]

    def forget_street(rec: Any) -> None:
        rec.child.addresses[0].lines.pop()

    assert lost_values(FIXTURE, drop(forget_street)) == [
        "SSD_Address.CSV:2:addr_address_json/HOUSE='12'",
        "SSD_Address.CSV:2:addr_address_json/STREET='Nowhere Lane'",
    ]

    def forget_seen_alone(rec: Any) -> None:
        rec.missing_episodes[0].return_interview_accepted = None

    assert lost_values(FIXTURE, drop(forget_seen_alone, "P1003")) == [
        "ssd_missing.csv:2:miss_missing_rhi_accepted='N'"
    ]


def test_every_mapped_column_is_documented() -> None:
    from exchange.adapters import ssd

    doc = ssd.__doc__ or ""
    undocumented = [
        f"{table}.{column}"
        for table, columns in MAPPING.items()
        for column in columns
        if column not in doc and not column.endswith("_person_id")
    ]
    assert undocumented == []
