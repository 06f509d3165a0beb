"""The Azeus adapter: what a receiving authority sees when an authority's Azeus Care tables are read.

The fixture (tests/fixtures/azeus/) is a synthetic dump of fictional people, one CSV per table:
the Testchild family (the same family as in the Eclipse fixture), an unborn baby, Tomasz with an
estimated birth date, two child protection plans, conferences and case notes, Lily whose birth
day is not known, Ethan with a duplicate record merged into his, Grace who died, and Casey, whose
rows are dirty on purpose. SVC_USR.csv carries a BOM, the address and case-note tables are
Windows-1252, one file name is in lower case, and LAC_EPISODE.csv is a table the adapter does not
read.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import get_adapter
from exchange.adapters.azeus import (
    COLUMNS,
    DEFAULT_ALERT_TYPES,
    DEFAULT_AZEUS_CONFERENCE_TYPES,
    DEFAULT_AZEUS_SOURCES,
    DEFAULT_CATEGORIES,
    DEFAULT_CLOSURES,
    DEFAULT_ETHNICITY,
    DEFAULT_GENDERS,
    DEFAULT_ID_TYPES,
    DEFAULT_NEEDS,
    DEFAULT_NOTE_TYPES,
    DEFAULT_RELATIONSHIPS,
    AzeusAdapter,
)
from exchange.adapters.base import InputUnreadable, ReadResult, Source
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.codes import DatePrecision
from exchange.canonical.identifiers import normalise_postcode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "azeus"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "adapters" / "azeus.md"
CONTEXT = RuleContext(
    today=dt.date(2026, 1, 15),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
USER_HEADER = "SVC_USR_REF_NO,FIRST_NM,LAST_NM,CURRENT_GENDER,DOB_DAY,DOB_MTH,DOB_YR\r\n"
REFERRAL = "REF_ID,SVC_USR_REF_NO,REF_DT,REF_SRC,CHILD_CAT_NEED\r\nR1,1,01-SEP-25,POL,N1\r\n"


def read(
    source: Source | Path = FIXTURE,
    authority: str | None = "873",
    config: Any = None,
) -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    return list(AzeusAdapter(CONTEXT, config=config, source_authority=authority).read(source))


def files(**tables: str | bytes) -> Source:
    """An in-memory export: table name -> CSV text."""
    return Source.from_files(
        {f"{name}.csv": t.encode() if isinstance(t, str) else t for name, t in tables.items()}
    )


def user(*rows: str, referral: str = REFERRAL) -> Source:
    """A one-table export of service users, each with a referral so they have a case."""
    return files(SVC_USR=USER_HEADER + "".join(f"{r}\r\n" for r in rows), REFERRAL=referral)


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = next(r for r in results if r.key == key and r.record is not None).record
    assert found is not None
    return found.model_dump(mode="json")


def result(results: list[ReadResult], key: str) -> ReadResult:
    return next(r for r in results if r.key == key)


def where(found: Problem) -> tuple[str | None, int | None, str | None]:
    assert found.location is not None
    return found.location.file, found.location.row, found.location.column


def kept(rec: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [u for u in rec["unmapped"] if u["field"] == field]


def fatal_of(source: Source) -> Problem:
    with pytest.raises(InputUnreadable) as caught:
        read(source)
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
    assert built == [
        "AZ000231",
        "AZ000233",
        "AZ000240",
        "AZ000250",
        "AZ000251",
        "AZ000260",
        "AZ000270",
        "AZ000290",
    ]
    left = [(r.key, [p.code for p in r.problems]) for r in results if r.record is None]
    assert left == [
        (None, ["person-id-missing"]),
        (None, ["relationship-not-carried"]),
        (None, ["person-not-found"]),
        ("AZ000280", ["person-not-carried", "person-not-carried"]),
    ]


def test_clean_records_pass_validation(results: list[ReadResult]) -> None:
    for found in results:
        if found.record is not None and found.key != "AZ000270":
            assert not found.has_errors, [p.message for p in found.problems]
    assert result(results, "AZ000270").has_errors  # Casey's rows are dirty on purpose


def test_whole_export_notices_ride_with_the_first_result(results: list[ReadResult]) -> None:
    (notice,) = results[0].problems
    assert (notice.code, where(notice)) == ("columns-extra", ("REFERRAL.csv", 1, None))
    assert "LEGACY_FLAG" in notice.message


# --- Ava, field by field --------------------------------------------------------------------


def test_ava(results: list[ReadResult]) -> None:
    rec = record(results, "AZ000231")
    child = rec["child"]
    assert [(i["system"], i["value"], i["issuer"]) for i in child["identifiers"]] == [
        ("la_child_id", "AZ000231", "873"),
        ("upn", "F202123456781", None),
    ]
    assert [(n["given"], n["family"], n["use"]) for n in child["names"]] == [
        ("Ava", "Testchild", "official")
    ]
    assert (child["birth_date"], child["birth_date_precision"], child["sex"]) == (
        "2016-03-14",
        "day",
        "F",
    )
    assert child["ethnicity"] == "WBRI"
    previous, current = child["addresses"]
    assert (previous["lines"], previous["town"], previous["postcode"]) == (
        ["22 Old Road"],
        "Testtown",
        "TE1 2AB",
    )
    assert (previous["start_date"], previous["end_date"]) == ("2016-03-14", "2025-07-31")
    assert (current["lines"], current["town"], current["postcode"]) == (
        ["1 Example Street"],
        "Testtown",
        "TE1 1ST",
    )
    assert (current["confidential"], current["not_to_be_disclosed_to"]) == (True, ["AZ000234"])
    (alert,) = rec["alerts"]
    assert (alert["type"], alert["not_to_be_disclosed_to"]) == (
        "do_not_disclose_address",
        ["AZ000234"],
    )
    people = {p["id"]: p for p in rec["related_people"]}
    assert [
        (p["relationship"], p["parental_responsibility"], p["lives_with_child"])
        for p in people.values()
    ] == [("mother", True, True), ("sibling", False, True), ("father", True, False)]
    assert people["AZ000232"]["birth_date"] == "1990-07-02"
    assert people["AZ000234"]["birth_date"] == "1988-01-20"
    (episode,) = rec["episodes"]
    assert (episode["referral_date"], episode["referral_source"], episode["primary_need"]) == (
        "2025-09-01",
        "6",
        "N1",
    )
    (plan,) = episode["cp_plans"]
    assert (plan["start_date"], plan["end_date"], plan["initial_category"]) == (
        "2025-10-06",
        None,
        "NEG",
    )
    assert (plan["latest_category"], plan["other_local_authority"]) == ("EMO", False)
    (worker,) = rec["professionals"]
    assert (worker["name"], worker["role"], worker["is_lead"], worker["agency"]) == (
        "Priya Fictional",
        "Allocated social worker",
        True,
        "social_care",
    )
    assert rec["provenance"]["source_system"] == "Azeus Care"


# --- split birth dates ------------------------------------------------------------------------


def test_birth_dates_split_into_parts(results: list[ReadResult]) -> None:
    unborn = record(results, "AZ000240")["child"]
    assert (unborn["expected_birth_date"], unborn["birth_date"], unborn["sex"]) == (
        "2026-02-10",
        None,
        "U",
    )
    tomasz = record(results, "AZ000250")["child"]
    assert (tomasz["birth_date"], tomasz["birth_date_precision"]) == ("2011-06-01", "estimated")
    lily = record(results, "AZ000251")["child"]
    assert (lily["birth_date"], lily["birth_date_precision"]) == ("2018-03-01", "month")
    grace = record(results, "AZ000290")["child"]
    assert grace["death_date"] == "2024-08-15"


@pytest.mark.parametrize(
    ("parts", "code", "column"),
    [
        ("31,2,2015", "date-invalid", "DOB_DAY"),
        ("1,13,2015", "date-invalid", "DOB_DAY"),
        ("1,1,15", "date-invalid", "DOB_DAY"),
        ("12,,2015", "date-incomplete", "DOB_DAY"),
        ("12,3,", "date-incomplete", "DOB_DAY"),
    ],
)
def test_parts_that_make_no_date_are_reported_and_kept(parts: str, code: str, column: str) -> None:
    found = read(user(f"1,Kit,Test,F,{parts}"))[0]
    (bad,) = [p for p in found.problems if p.code == code]
    assert where(bad) == ("SVC_USR.csv", 2, column)
    rec = record([found], "1")
    assert rec["child"]["birth_date"] is None
    given = [p for p in parts.split(",") if p]
    assert sorted(u["value"] for u in rec["unmapped"] if u["field"].startswith("DOB_")) == sorted(
        given
    )


def test_year_only_and_month_names() -> None:
    referrals = REFERRAL + "R2,2,01-SEP-25,POL,N1\r\n"
    found = read(user("1,Kit,Test,F,,,2014", "2,Lou,Test,F,,sep,2015", referral=referrals))
    assert (
        record(found, "1")["child"]["birth_date"],
        record(found, "1")["child"]["birth_date_precision"],
    ) == ("2014-01-01", "year")
    assert record(found, "2")["child"]["birth_date"] == "2015-09-01"


def test_an_expected_birth_date_needs_its_day() -> None:
    header = USER_HEADER.replace("\r\n", ",DOB_EXPECTED_IND\r\n")
    source = files(SVC_USR=header + "1,Baby,Test,U,,6,2026,Y\r\n", REFERRAL=REFERRAL)
    found = read(source)[0]
    assert [p.code for p in found.problems if p.code == "date-incomplete"] == ["date-incomplete"]
    rec = record([found], "1")
    assert rec["child"]["expected_birth_date"] is None
    assert {u["value"] for u in rec["unmapped"]} >= {"6", "2026"}


# --- the rest of the fixture ----------------------------------------------------------------


def test_plans_conferences_transfer_in_and_case_notes(results: list[ReadResult]) -> None:
    rec = record(results, "AZ000250")
    older, newer = rec["episodes"]
    assert (older["closure_date"], older["closure_reason"]) == ("2020-11-30", "RC7")
    assert [(c["type"], c["date"]) for c in older["conferences"]] == [
        ("initial", "2019-02-25"),
        ("review", "2019-08-20"),
    ]
    assert [(p["start_date"], p["end_date"], p["initial_category"]) for p in older["cp_plans"]] == [
        ("2019-02-25", "2020-10-14", "PHY")
    ]
    (plan,) = newer["cp_plans"]
    assert (plan["initial_category"], plan["latest_category"]) == ("NEG", "MUL")
    assert [c["type"] for c in newer["conferences"]] == ["transfer_in"]
    assert newer["referral_source"] == "5A"
    notes = [(e["date"], e["category"], e["summary"]) for e in rec["chronology"]]
    assert notes == [
        ("2025-03-03", "referral", "Referral transferred in from another local authority"),
        ("2025-03-05", "visit", "Home visit"),
        ("2025-03-10", "strategy_discussion", "Strategy discussion"),
    ]
    assert (
        rec["chronology"][1]["details"]
        == "Tom seen alone; said he likes the caf\u00e9 near school."
    )
    assert rec["chronology"][1]["recorded_by"] == "Kim Support"
    (undated,) = [u for u in rec["unmapped"] if u["value"] == "Undated visit"]
    assert (undated["location"]["file"], undated["location"]["row"]) == ("CASE_NOTE.csv", 4)
    assert [n["use"] for n in rec["child"]["names"]] == ["official", "preferred"]
    assert rec["child"]["nationality"] == "Polish"
    (alert,) = rec["alerts"]
    assert (alert["type"], alert["summary"]) == ("missing", "Has gone missing from placement twice")
    ids = [(i["system"], i["value"]) for i in rec["child"]["identifiers"]]
    assert ("former_upn", "F873765432101") in ids
    assert ("upn", "G873111222301") in ids
    assert ("nhs_number", "4857773457") in ids
    visitor = rec["professionals"][1]
    assert (visitor["agency"], visitor["is_lead"], visitor["end_date"]) == (
        "health",
        False,
        "2020-11-30",
    )


def test_child_in_need_plans_join_their_referral_or_the_one_before(
    results: list[ReadResult],
) -> None:
    first, second = record(results, "AZ000251")["episodes"]
    assert [p["id"] for p in first["cin_plans"]] == ["CIN1"]
    assert [p["id"] for p in second["cin_plans"]] == ["CIN2"]
    address = record(results, "AZ000251")["child"]["addresses"][0]
    assert address["confidential"] is True  # its type is CONF
    chronology = record(results, "AZ000251")["chronology"]
    assert [(e["category"], e["summary"]) for e in chronology] == [
        ("other", "Phone call with school")
    ]
    assert kept(record(results, "AZ000251"), "NOTE_TYP_CD")[0]["value"] == "CALL"


def test_a_merged_duplicate_is_read_into_the_surviving_record(results: list[ReadResult]) -> None:
    rec = record(results, "AZ000260")
    ids = [(i["system"], i["value"]) for i in rec["child"]["identifiers"]]
    assert ("legacy", "AZ000261") in ids
    assert ("legacy", "OLD4411") in ids
    (surname,) = kept(rec, "LAST_NM")
    assert (surname["value"], surname["reason"]) == (
        "Merged-Old",
        "differs in the duplicate record AZ000261, merged into AZ000260",
    )
    closed, current = rec["episodes"]
    assert (closed["id"], closed["referral_no_further_action"], closed["closure_reason"]) == (
        "R5040",
        True,
        "RC8",
    )
    assert current["id"] == "R5041"
    assert all(r.key != "AZ000261" for r in results)


def test_related_people_details(results: list[ReadResult]) -> None:
    unborn = record(results, "AZ000240")
    (mother,) = unborn["related_people"]
    assert (mother["relationship"], mother["alerts"][0]["type"]) == ("mother", "risk_from_person")
    assert [(a["lines"], a["town"]) for a in mother["addresses"]] == [
        (["17 Hope Street"], "Patelton")
    ]
    casey = record(results, "AZ000270")
    gran = next(p for p in casey["related_people"] if p["id"] == "AZ000272")
    assert (gran["relationship"], gran["birth_date"], gran["notes"]) == (
        "grandparent",
        "1950-01-01",
        "Relationship recorded from 2020-01-01.",
    )
    assert {u["reason"] for u in casey["unmapped"] if u["value"] == "1950"} == {
        "a related person's birth date known to the year"
    }


def test_dirty_values_are_reported_where_they_are_and_kept(results: list[ReadResult]) -> None:
    found = result(results, "AZ000270")
    said = {(p.code, where(p)) for p in found.problems if p.location and p.location.column}
    assert {
        ("code-unknown", ("SVC_USR.csv", 12, "CURRENT_GENDER")),
        ("code-unknown", ("SVC_USR.csv", 12, "ETHNIC_ORIGIN")),
        ("date-invalid", ("SVC_USR.csv", 12, "DOB_DAY")),
        ("person-duplicated", ("SVC_USR.csv", 13, "SVC_USR_REF_NO")),
        ("code-unknown", ("svc_usr_id.csv", 8, "ID_TYP")),
        ("code-unknown", ("SVC_USR_REL.csv", 13, "REL_TYPE_CD")),
        ("related-person-not-found", ("SVC_USR_REL.csv", 12, "REL_SVC_USR_REF_NO")),
        ("uprn-invalid", ("SVC_USR_ADDR.csv", 7, "UPRN")),
        ("code-unknown", ("SVC_USR_ALERT.csv", 4, "ALERT_TYP_CD")),
        ("date-invalid", ("REFERRAL.csv", 11, "REF_DT")),
        ("code-unknown", ("REFERRAL.csv", 11, "REF_SRC")),
        ("code-unknown", ("REFERRAL.csv", 11, "CHILD_CAT_NEED")),
        ("code-unknown", ("CP_REG.csv", 5, "INIT_CAT_CD")),
        ("code-unknown", ("CP_CONF.csv", 5, "CONF_TYP_CD")),
        ("link-not-found", ("CP_REG.csv", 6, "REF_ID")),
    } <= said
    rules = {p.code for p in found.problems if p.pointer}
    assert {
        "cp-plans-open-several",
        "cp-plan-initial-category-missing",
        "postcode-invalid",
    } <= rules
    rec = record(results, "AZ000270")
    by_field = {(u["field"], u["value"]): u["reason"] for u in rec["unmapped"]}
    assert by_field[("REF_SRC", "PIGEON")] == "not a known code"
    assert by_field[("CONF_TYP_CD", "XCPC")] == "not a known code"
    assert by_field[("CONF_DT", "01-FEB-25")] == "the conference type is not known"
    assert by_field[("REF_ID", "R5999")] == "the canonical record has no place for it"
    assert by_field[("ID_NO", "123456789")] == "an identifier of a type not configured"
    (weird,) = [a for a in rec["alerts"] if a["id"] == "AL3"]
    assert weird["type"] == "other"
    secret = rec["child"]["addresses"][1]
    assert (secret["confidential"], secret["not_to_be_disclosed_to"]) == (True, ["AZ000299"])


def test_rows_that_belong_to_no_case_are_reported_with_their_values(
    results: list[ReadResult],
) -> None:
    left = [p for r in results if r.record is None for p in r.problems]
    by_code = {p.code: p for p in left}
    assert where(by_code["person-id-missing"]) == ("svc_usr_id.csv", 9, None)
    assert where(by_code["person-not-found"]) == ("REFERRAL.csv", 13, None)
    assert "'AZ999999'" in by_code["person-not-found"].message
    assert where(by_code["relationship-not-carried"]) == ("SVC_USR_REL.csv", 8, None)
    assert "'PTNR'" in by_code["relationship-not-carried"].message
    nobody = [where(p) for p in left if p.code == "person-not-carried"]
    assert nobody == [("SVC_USR.csv", 16, None), ("SVC_USR_ADDR.csv", 9, None)]


def test_tables_the_adapter_does_not_read_are_left_alone(results: list[ReadResult]) -> None:
    for found in results:
        assert all(
            p.location is None or p.location.file != "LAC_EPISODE.csv" for p in found.problems
        )
        if found.record is not None:
            assert all(u.location.file != "LAC_EPISODE.csv" for u in found.record.unmapped)


def test_the_adapter_is_registered() -> None:
    assert get_adapter("azeus") is AzeusAdapter


# --- configuration --------------------------------------------------------------------------


def test_an_authoritys_own_codes_and_column_names() -> None:
    config = {
        "renames": {"SVC_USR": {"GENDER": "CURRENT_GENDER"}},
        "genders": {"GIRL": "F"},
        "referral_sources": {"COPS": "6"},
        "date_formats": ["%Y%m%d"],
    }
    source = files(
        SVC_USR="SVC_USR_REF_NO,GENDER,DOB_DAY,DOB_MTH,DOB_YR\r\n1,girl,3,4,2015\r\n",
        REFERRAL="REF_ID,SVC_USR_REF_NO,REF_DT,REF_SRC,CHILD_CAT_NEED\r\nR1,1,20250105,cops,N1\r\n",
    )
    rec = record(read(source, config=config), "1")
    assert rec["child"]["sex"] == "F"
    assert (rec["episodes"][0]["referral_date"], rec["episodes"][0]["referral_source"]) == (
        "2025-01-05",
        "6",
    )


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"genders": {"M": "male-ish"}}, "genders.M: Input should be 'M', 'F' or 'U'"),
        ({"categories": {"X": "BAD"}}, "categories.X: Input should be"),
        ({"forms": {}}, "forms: Extra inputs are not permitted"),
    ],
)
def test_a_configuration_with_a_mistake_is_refused_saying_where(config: Any, said: str) -> None:
    with pytest.raises(InputUnreadable) as caught:
        AzeusAdapter(CONTEXT, config=config)
    assert caught.value.problem.code == "config-invalid"
    assert said in caught.value.problem.message


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "location"),
    [
        (files(REFERRAL=REFERRAL), "table-missing", ("upload", None, None)),
        (files(SVC_USR="FIRST_NM\r\nA\r\n"), "columns-missing", ("SVC_USR.csv", 1, None)),
        (files(SVC_USR=""), "file-empty", ("SVC_USR.csv", None, None)),
        (files(SVC_USR=USER_HEADER), "no-people", ("SVC_USR.csv", 1, None)),
        (
            files(SVC_USR=USER_HEADER + "1,A,B,F,1,1,2015\r\n", REFERRAL="REF_ID\r\nR1\r\n"),
            "columns-missing",
            ("REFERRAL.csv", 1, None),
        ),
        (
            files(SVC_USR=USER_HEADER.encode() + b"1,\x9d,B,F,1,1,2015\r\n"),
            "file-undecodable",
            ("SVC_USR.csv", None, None),
        ),
    ],
)
def test_unreadable_inputs_are_fatal(
    source: Source, code: str, location: tuple[str, int | None, None]
) -> None:
    found = fatal_of(source)
    assert (found.code, where(found)) == (code, location)


def test_windows_1252_and_bom_are_read() -> None:
    source = files(
        SVC_USR=b"\xef\xbb\xbf" + (USER_HEADER + "1,Zo\u00eb,B,F,1,1,2015\r\n").encode(),
        REFERRAL=REFERRAL.replace("POL", "P\xd6L").encode("cp1252"),
    )
    found = read(source)[0]
    rec = record([found], "1")
    assert rec["child"]["names"][0]["given"] == "Zo\u00eb"
    assert kept(rec, "REF_SRC")[0]["value"] == "P\u00d6L"


def test_wrong_date_formats_are_reported_with_row_and_column() -> None:
    found = read(user("1,A,B,F,1,1,2015", referral=REFERRAL.replace("01-SEP-25", "2025.09.01")))[0]
    (bad,) = [p for p in found.problems if p.code == "date-invalid"]
    assert where(bad) == ("REFERRAL.csv", 2, "REF_DT")


@given(st.binary(max_size=300))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: bytes) -> None:
    source = files(SVC_USR=USER_HEADER.encode() + data, REFERRAL=REFERRAL)
    with contextlib.suppress(InputUnreadable):
        read(source)


# --- nothing lost ---------------------------------------------------------------------------

PERSON_COLUMNS = ("SVC_USR_REF_NO", "REL_SVC_USR_REF_NO")
EPISODE = "episodes[]"
ADDRESSES = "child.addresses[]|related_people[].addresses[]"
IDS = "child.identifiers[]|related_people[].identifiers[]"
ALERTS = "alerts[]|related_people[].alerts[]"
DOB = "child.birth_date~|child.expected_birth_date~|related_people[].birth_date~"


def _each(paths: str, suffix: str) -> str:
    return "|".join(f"{p}.{suffix}" for p in paths.split("|"))


MAPPING: dict[str, dict[str, str]] = {
    "SVC_USR": {
        "FIRST_NM": "child.names[].given|related_people[].names[].given",
        "MIDDLE_NM": "child.names[].middle|related_people[].names[].middle",
        "LAST_NM": "child.names[].family|related_people[].names[].family",
        "PREF_NM": "child.names[].given|related_people[].names[].given",
        "CURRENT_GENDER": "child.sex|related_people[].sex",
        "ETHNIC_ORIGIN": "child.ethnicity",
        "DOB_DAY": DOB,
        "DOB_MTH": DOB,
        "DOB_YR": DOB,
        "DOB_APPROX_IND": "child.birth_date_precision",
        "DOB_EXPECTED_IND": "child.expected_birth_date|child.birth_date",
        "DT_OF_DEATH_DAY": "child.death_date~",
        "DT_OF_DEATH_MTH": "child.death_date~",
        "DT_OF_DEATH_YR": "child.death_date~",
        "NATNLTY": "child.nationality",
    },
    "SVC_USR_ID": {"ID_TYP": _each(IDS, "system"), "ID_NO": _each(IDS, "value")},
    "SVC_USR_REL": {
        "REL_TYPE_CD": "related_people[].relationship|child.identifiers[].system",
        "PAR_RESP_IND": "related_people[].parental_responsibility",
        "LVNG_WITH": "related_people[].lives_with_child",
        "REL_START_DT": "related_people[].notes~",
        "REL_END_DT": "related_people[].notes~",
    },
    "SVC_USR_ADDR": {
        "ADDR_ID": _each(ADDRESSES, "id"),
        "ADDR_TYP_CD": _each(ADDRESSES, "confidential"),
        "ADDR_LINE_1": _each(ADDRESSES, "lines[]"),
        "ADDR_LINE_2": _each(ADDRESSES, "lines[]"),
        "ADDR_LINE_3": _each(ADDRESSES, "lines[]"),
        "TOWN": _each(ADDRESSES, "town"),
        "POSTCODE": _each(ADDRESSES, "postcode"),
        "UPRN": _each(ADDRESSES, "uprn"),
        "START_DT": _each(ADDRESSES, "start_date"),
        "END_DT": _each(ADDRESSES, "end_date"),
        "CONFIDENTIAL_IND": _each(ADDRESSES, "confidential"),
        "NOT_DISCLOSE_TO_REF_NO": _each(ADDRESSES, "not_to_be_disclosed_to~"),
    },
    "REFERRAL": {
        "REF_ID": f"{EPISODE}.id",
        "REF_DT": f"{EPISODE}.referral_date",
        "REF_SRC": f"{EPISODE}.referral_source",
        "CHILD_CAT_NEED": f"{EPISODE}.primary_need",
        "NFA_IND": f"{EPISODE}.referral_no_further_action",
        "CLOSE_DT": f"{EPISODE}.closure_date",
        "CLOSE_RSN_CD": f"{EPISODE}.closure_reason",
        "TRANS_IN_IND": "transfer",
    },
    "CP_REG": {
        "CP_REG_ID": f"{EPISODE}.cp_plans[].id",
        "REF_ID": f"{EPISODE}.id",
        "REG_DT": f"{EPISODE}.cp_plans[].start_date",
        "DEREG_DT": f"{EPISODE}.cp_plans[].end_date",
        "INIT_CAT_CD": f"{EPISODE}.cp_plans[].initial_category",
        "LATEST_CAT_CD": f"{EPISODE}.cp_plans[].latest_category",
        "OLA_IND": f"{EPISODE}.cp_plans[].other_local_authority",
    },
    "CP_CONF": {
        "CONF_ID": f"{EPISODE}.conferences[].id",
        "REF_ID": f"{EPISODE}.id",
        "CONF_DT": f"{EPISODE}.conferences[].date",
        "CONF_TYP_CD": f"{EPISODE}.conferences[].type",
        "OUTCOME_CP_IND": f"{EPISODE}.conferences[].led_to_cp_plan",
    },
    "CIN_PLAN": {
        "CIN_PLAN_ID": f"{EPISODE}.cin_plans[].id",
        "REF_ID": f"{EPISODE}.id",
        "START_DT": f"{EPISODE}.cin_plans[].start_date",
        "END_DT": f"{EPISODE}.cin_plans[].end_date",
    },
    "SVC_USR_WRKR": {
        "WRKR_ID": "professionals[].id",
        "WRKR_NM": "professionals[].name",
        "WRKR_ROLE": "professionals[].role",
        "TEAM_NM": "professionals[].organisation",
        "PHONE_NO": "professionals[].contact.phone",
        "EMAIL_ADDR": "professionals[].contact.email",
        "ALLOC_START_DT": "professionals[].start_date",
        "ALLOC_END_DT": "professionals[].end_date",
        "MAIN_WRKR_IND": "professionals[].is_lead",
    },
    "SVC_USR_ALERT": {
        "ALERT_ID": _each(ALERTS, "id"),
        "ALERT_TYP_CD": _each(ALERTS, "type"),
        "ALERT_DESC": _each(ALERTS, "summary"),
        "START_DT": _each(ALERTS, "start_date"),
        "END_DT": _each(ALERTS, "end_date"),
    },
    "CASE_NOTE": {
        "NOTE_DT": "chronology[].date",
        "NOTE_TYP_CD": "chronology[].category",
        "NOTE_SUBJ": "chronology[].summary",
        "NOTE_TXT": "chronology[].details",
        "AUTHOR_NM": "chronology[].recorded_by",
    },
}
"""Where each mapped column's values must appear (anything not listed must be kept unmapped)."""

_MAPS = (
    DEFAULT_GENDERS,
    DEFAULT_ETHNICITY,
    DEFAULT_ID_TYPES,
    DEFAULT_RELATIONSHIPS,
    DEFAULT_AZEUS_SOURCES,
    DEFAULT_NEEDS,
    DEFAULT_CLOSURES,
    DEFAULT_CATEGORIES,
    DEFAULT_AZEUS_CONFERENCE_TYPES,
    DEFAULT_NOTE_TYPES,
    DEFAULT_ALERT_TYPES,
)


def _cells(folder: Path) -> Iterator[tuple[str, str, int, str, str, dict[str, str]]]:
    """(table, file, row, column, value, row values) for every non-empty cell of a read table."""
    for path in sorted(folder.glob("*.csv")):
        table = path.stem.upper()
        if table not in COLUMNS:
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
                yield table, path.name, number, column, value, values


def _forms(column: str, value: str) -> set[str]:
    """The ways a source value may appear once mapped."""
    text = value.strip()
    key = text.upper()
    forms = {text, key, text.lower()}
    if (day := parse_date(text)) is not None:
        forms.add(day.isoformat())
    if (postcode := normalise_postcode(text)) is not None:
        forms.add(postcode)
    if (flag := parse_bool(text)) is not None:
        forms.add(str(flag).lower())
        if column == "DOB_APPROX_IND":
            forms |= {"estimated", "month", "year"} if flag else {"day"}
    if column.startswith(("DOB_", "DT_OF_DEATH_")) and text.isdigit():
        forms.add(f"-{int(text):02d}" if len(text) < 4 else text)
    if column == "DOB_MTH" and not text.isdigit():
        month = dt.datetime.strptime(key[:3].title(), "%b").month
        forms.add(f"-{month:02d}-")
    for table in _MAPS:
        if key in table:
            forms.add(table[key])
    if key == "DUP":
        forms.add("legacy")
    if key == "UPN":
        forms.add("former_upn")
    if key == "CONF":
        forms.add("true")
    forms |= {f for f in re.split(r"[\s,;]+", key) if f}
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


def _appears(column: str, value: str, paths: str, records: list[dict[str, Any]]) -> bool:
    forms = _forms(column, value)
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
    lost = []
    for table, file, number, column, value, row in _cells(folder):
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
        if column in PERSON_COLUMNS and value in known:
            continue
        if column == "TRANS_IN_IND":
            transferred = parse_bool(value)
            said = any(
                e["summary"].startswith("Referral transferred in")
                for rec in mine
                for e in rec["chronology"]
            )
            if transferred is False or said:
                continue  # N says there is nothing to record; Y is the chronology entry
        if column == "DOB_EXPECTED_IND" and parse_bool(value) is not None:
            expected = any(rec["child"]["expected_birth_date"] for rec in mine)
            if parse_bool(value) == expected:
                continue  # the date is an expected or a birth date, as the fields say
        paths = MAPPING.get(table, {}).get(column)
        if paths is None or not _appears(column, value, paths, mine):
            lost.append(f"{file}:{number}:{column}={value!r}")
    return lost


def test_nothing_is_lost(results: list[ReadResult]) -> None:
    assert sum(1 for _ in _cells(FIXTURE)) > 500
    assert lost_values(FIXTURE, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def drop(key: str, change: Callable[[Any], None]) -> list[str]:
        found = read()
        for r in found:
            if r.key == key and r.record is not None:
                change(r.record)
        return lost_values(FIXTURE, found)

    def forget_deregistration_reason(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "Risk reduced"]

    assert drop("AZ000250", forget_deregistration_reason) == [
        "CP_REG.csv:3:DEREG_RSN='Risk reduced'"
    ]

    def forget_case_note_author(rec: Any) -> None:
        for entry in rec.chronology:
            entry.recorded_by = None

    assert drop("AZ000250", forget_case_note_author) == [
        "CASE_NOTE.csv:2:AUTHOR_NM='Kim Support'",
        "CASE_NOTE.csv:3:AUTHOR_NM='Kim Support'",
    ]

    def forget_precision(rec: Any) -> None:
        rec.child.birth_date_precision = DatePrecision.DAY

    assert drop("AZ000250", forget_precision) == ["SVC_USR.csv:8:DOB_APPROX_IND='Y'"]


# --- documentation --------------------------------------------------------------------------


def test_every_column_read_is_documented() -> None:
    from exchange.adapters import azeus

    text = DOCS.read_text(encoding="utf-8")
    doc = azeus.__doc__ or ""
    for table, columns in COLUMNS.items():
        assert table in text
        assert table in doc
        for column in columns:
            word = re.compile(rf"\b{column}\b")
            assert word.search(text), f"{table}.{column} is not in {DOCS.name}"
            assert word.search(doc), f"{table}.{column} is not in the module docstring"
