"""The mapping adapter: another system's CSV export converted by a YAML mapping file.

Two worked examples ship in docs/examples/mappings/ (a CareFirst-like and a Paris-like export);
their synthetic exports are in tests/fixtures/mapping/. The tests look at what an integration
engineer and a receiving social worker would see: the records (field by field), the problems
with their file/row/column, every source value accounted for, and, for the mapping file itself,
each kind of mistake reported with its line.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import io
import json
import re
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exchange.adapters import get_adapter
from exchange.adapters.base import InputUnreadable, ReadResult, Source
from exchange.adapters.mapping import (
    MappingAdapter,
    check_mapping,
    check_mapping_text,
    date_format_problem,
)
from exchange.adapters.mapping_schema import (
    Step,
    canonical_fields,
    mapping_json_schema,
    parse_target,
)
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext, Severity, validate_document
from exchange.canonical.identifiers import normalise_postcode
from exchange.cli import app

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mapping"
CAREFIRST = FIXTURES / "carefirst"
PARIS = FIXTURES / "paris"
MISTAKES = FIXTURES / "mistakes"
EXAMPLES = ROOT / "docs" / "examples" / "mappings"
CAREFIRST_MAPPING = EXAMPLES / "carefirst.yml"
PARIS_MAPPING = EXAMPLES / "paris.yml"
CONTEXT = RuleContext(
    today=dt.date(2026, 2, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)

SMALL = """
source_authority: "873"
files:
  CLIENTS:
    role: person
    id: CLIENT_NO
    dates: "%d/%m/%Y"
    columns:
      CLIENT_NO: child.identifiers[la_child_id]
      FORENAME: child.names[official].given
      DOB: child.birth_date
  REFERRALS:
    join: CLIENT_NO
    required: false
    columns:
      REFERRAL_DATE: episodes[].referral_date
      NEED: episodes[].primary_need
"""
CLIENTS_HEADER = "CLIENT_NO,FORENAME,DOB\r\n"


def read(
    source: Source | Path = CAREFIRST,
    mapping: Path | str | dict[str, Any] | None = CAREFIRST_MAPPING,
    authority: str | None = None,
) -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    if isinstance(mapping, str):
        mapping = yaml.safe_load(mapping)
    adapter = MappingAdapter(CONTEXT, mapping=mapping, source_authority=authority)
    return list(adapter.read(source))


def files(**tables: str | bytes) -> Source:
    """An in-memory export: table name -> CSV text."""
    return Source.from_files(
        {f"{name}.csv": t.encode() if isinstance(t, str) else t for name, t in tables.items()}
    )


def by_key(results: list[ReadResult]) -> dict[str, ReadResult]:
    return {r.key: r for r in results if r.key is not None}


def compact(node: Any) -> Any:
    """The record's JSON without empty lists, so the expected values read as the facts."""
    if isinstance(node, dict):
        return {k: compact(v) for k, v in node.items() if v != []}
    if isinstance(node, list):
        return [compact(v) for v in node]
    return node


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = by_key(results)[key].record
    assert found is not None
    return compact(found.model_dump(mode="json", exclude_none=True))


def codes(result: ReadResult) -> list[str]:
    return [p.code for p in result.problems]


def where(found: Problem) -> tuple[str | None, int | None, str | None]:
    assert found.location is not None
    return found.location.file, found.location.row, found.location.column


def fatal_of(source: Source, mapping: str | None = SMALL) -> Problem:
    with pytest.raises(InputUnreadable) as caught:
        read(source, mapping)
    assert caught.value.problem.severity == Severity.FATAL
    return caught.value.problem


def run(*args: str | Path) -> tuple[int, str]:
    """Exit code and everything the command printed, whitespace collapsed."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


@pytest.fixture(scope="module")
def carefirst() -> list[ReadResult]:
    return read()


@pytest.fixture(scope="module")
def paris() -> list[ReadResult]:
    return read(PARIS, PARIS_MAPPING)


# --- the example mappings ---------------------------------------------------------------------


def test_the_adapter_is_registered() -> None:
    assert get_adapter("mapping") is MappingAdapter


@pytest.mark.parametrize("mapping", [CAREFIRST_MAPPING, PARIS_MAPPING], ids=["carefirst", "paris"])
def test_the_worked_examples_check_clean(mapping: Path) -> None:
    checked = check_mapping(mapping)
    assert checked.ok
    assert checked.problems == []


def test_check_command_says_a_good_mapping_is_valid() -> None:
    code, said = run("adapters", "check", CAREFIRST_MAPPING)
    assert code == 0, said
    assert "valid: carefirst.yml: 10 files, person file CLIENTS (id CLIENT_NO)" in said
    assert "CP_REGISTRATIONS.REFERRAL_NO -> REFERRALS" in said


def test_one_result_per_child_in_file_order_then_rows_that_reached_no_child(
    carefirst: list[ReadResult],
) -> None:
    assert [r.key for r in carefirst] == [
        "CF100234",
        "CF100235",
        "CF100240",
        "CF100250",
        "CF100260",
        None,
        None,
    ]
    assert [(r.location.file, r.location.row) for r in carefirst if r.location] == [
        ("CLIENTS.csv", 2),
        ("CLIENTS.csv", 3),
        ("CLIENTS.csv", 4),
        ("CLIENTS.csv", 5),
        ("CLIENTS.csv", 7),
        ("REFERRALS.csv", 9),
        ("CP_REGISTRATIONS.csv", 9),
    ]


# --- Ava Testchild, field by field ------------------------------------------------------------

AVA_CAREFIRST: dict[str, Any] = {
    "schema_version": "1.0",
    "provenance": {
        "source_authority": "873",
        "source_system": "CareFirst",
        "adapter": "mapping",
        "adapter_version": "1",
    },
    "child": {
        # No NHS number: Liquidlogic exports often lack it, so no vendor fixture gives Ava one.
        "identifiers": [{"system": "la_child_id", "value": "CF100234", "issuer": "873"}],
        "names": [{"given": "Ava", "family": "Testchild", "use": "official"}],
        "birth_date": "2016-03-14",
        "birth_date_precision": "day",
        "sex": "F",
        "ethnicity": "WBRI",
        "addresses": [
            {
                "id": "A1",
                "lines": ["1 Example Street"],
                "town": "Testtown",
                "postcode": "TE1 1ST",  # exported as te11st
                "start_date": "2025-08-01",
                "confidential": True,
                "not_to_be_disclosed_to": ["CF200003"],
            }
        ],
    },
    "alerts": [
        {
            "id": "H1",
            "type": "do_not_disclose_address",
            "severity": "high",
            "summary": "Address must not be disclosed to father",
            "start_date": "2025-08-01",
            "not_to_be_disclosed_to": ["CF200003"],
            "raised_by": "Sam Worker",
        }
    ],
    "related_people": [
        {
            "id": "CF200001",
            "names": [{"given": "Mia", "family": "Testchild", "use": "official"}],
            "relationship": "mother",
            "parental_responsibility": True,
            "lives_with_child": True,
            "birth_date": "1990-07-02",
            "sex": "F",
        },
        {
            "id": "CF100235",
            "names": [{"given": "Leo", "family": "Testchild", "use": "official"}],
            "relationship": "sibling",
            "lives_with_child": True,
            "birth_date": "2019-11-30",
            "sex": "M",
        },
        {
            "id": "CF200003",
            "names": [{"given": "Ray", "family": "Testchild", "use": "official"}],
            "relationship": "father",
            "parental_responsibility": True,
            "lives_with_child": False,
            "sex": "M",
        },
    ],
    "professionals": [
        {
            "id": "SW017",
            "name": "Sam Worker",
            "role": "Social worker",
            "agency": "social_care",
            "organisation": "Safeguarding East",
            "contact": {"phone": "020 7946 0017", "email": "sam.worker@testtown.example"},
            "start_date": "2025-09-02",
            "is_lead": True,
        }
    ],
    "episodes": [
        {
            "id": "R5001",
            "referral_date": "2025-09-01",
            "referral_source": "6",
            "primary_need": "N1",
            "referral_no_further_action": False,
            "cp_plans": [
                {
                    "id": "CP701",
                    "start_date": "2025-10-06",
                    "initial_category": "NEG",
                    "latest_category": "EMO",
                    "other_local_authority": False,
                }
            ],
        }
    ],
    "chronology": [
        {
            "date": "2025-09-01",
            "category": "referral",
            "summary": "Referral from police",
            "details": "Police attended a domestic incident at home; Ava was present, "
            'frightened, and said "Dad shouted".',
            "recorded_by": "Sam Worker",
        },
        {
            "date": "2025-10-06",
            "category": "conference",
            "summary": "Initial child protection conference",
            "details": "Plan agreed under neglect.",
            "recorded_by": "Sam Worker",
        },
    ],
    "unmapped": [
        {
            "field": "TEAM",
            "value": "Safeguarding East",
            "location": {"file": "REFERRALS.csv", "row": 2, "column": "TEAM"},
            "reason": "column not in the mapping",
        }
    ],
}


def test_ava_testchild_from_the_carefirst_like_export(carefirst: list[ReadResult]) -> None:
    assert record(carefirst, "CF100234") == AVA_CAREFIRST


def test_ava_carries_only_the_whole_export_notices(carefirst: list[ReadResult]) -> None:
    ava = by_key(carefirst)["CF100234"]
    assert codes(ava) == ["file-not-mapped", "rows-excluded", "columns-not-mapped"]
    assert all(p.severity == Severity.WARNING for p in ava.problems)


def test_ava_passes_canonical_validation(carefirst: list[ReadResult]) -> None:
    ava = by_key(carefirst)["CF100234"].record
    assert ava is not None
    report = validate_document(ava.model_dump(mode="json"), CONTEXT)
    assert report.problems == []


def _without_source_ids(data: dict[str, Any]) -> dict[str, Any]:
    """A record with provenance, source ids, issuers and unmapped values taken out."""
    data = copy.deepcopy(data)
    data.pop("provenance")
    data.pop("unmapped", None)
    people = {p["id"]: f"person {i}" for i, p in enumerate(data.get("related_people", []))}
    data["child"]["identifiers"] = [
        {k: v for k, v in i.items() if k != "issuer"}
        for i in data["child"]["identifiers"]
        if i["system"] != "la_child_id"
    ]
    for person in data.get("related_people", []):
        person["id"] = people[person["id"]]
    for part in [*data["child"].get("addresses", []), *data.get("alerts", [])]:
        part.pop("id", None)
        part["not_to_be_disclosed_to"] = [people[p] for p in part["not_to_be_disclosed_to"]]
    for part in data.get("professionals", []):
        part.pop("id", None)
    for episode in data.get("episodes", []):
        episode.pop("id", None)
        for plan in episode.get("cp_plans", []):
            plan.pop("id", None)
    return data


def test_same_child_from_the_carefirst_and_paris_examples(
    carefirst: list[ReadResult], paris: list[ReadResult]
) -> None:
    from_carefirst = record(carefirst, "CF100234")
    from_paris = record(paris, "P000123")
    assert from_carefirst != from_paris  # ids and provenance differ ...
    assert _without_source_ids(from_carefirst) == _without_source_ids(
        from_paris
    )  # ... nothing else


# --- the other children -----------------------------------------------------------------------


def test_siblings_share_their_mother_and_father(carefirst: list[ReadResult]) -> None:
    ava, leo = record(carefirst, "CF100234"), record(carefirst, "CF100235")
    mother = AVA_CAREFIRST["related_people"][0]
    assert leo["related_people"][0] == mother
    assert [(p["id"], p["relationship"]) for p in leo["related_people"]] == [
        ("CF200001", "mother"),
        ("CF100234", "sibling"),
        ("CF200003", "father"),
    ]
    assert ava["child"]["addresses"][0]["postcode"] == leo["child"]["addresses"][0]["postcode"]


def test_unborn_child_has_an_expected_date_and_a_pre_birth_plan(
    carefirst: list[ReadResult],
) -> None:
    baby = record(carefirst, "CF100240")
    assert "birth_date" not in baby["child"]
    assert baby["child"]["expected_birth_date"] == "2026-04-20"
    assert baby["child"]["sex"] == "U"
    assert baby["child"]["ethnicity"] == "NOBT"
    assert baby["episodes"][0]["cp_plans"] == [
        {
            "id": "CP705",
            "start_date": "2026-01-20",
            "initial_category": "NEG",
            "latest_category": "NEG",
            "number_of_previous_plans": 0,
            "other_local_authority": False,
        }
    ]
    mother = baby["related_people"][0]
    assert mother["names"] == [{"given": "Zoë", "family": "Sample", "use": "official"}]  # cp1252
    assert mother["contact"] == {"phone": "07700 900123"}
    assert by_key(carefirst)["CF100240"].problems == []


def test_estimated_birth_date_closed_and_open_episodes_and_two_plans(
    carefirst: list[ReadResult],
) -> None:
    noah = record(carefirst, "CF100250")
    child = noah["child"]
    assert (child["birth_date"], child["birth_date_precision"]) == ("2012-01-01", "estimated")
    assert child["identifiers"][1:] == [
        {"system": "nhs_number", "value": "9990000123"},
        {"system": "upn", "value": "D873201200001"},
    ]
    assert child["disabilities"] == ["LD", "AUT"]
    assert child["languages"] == [{"code": "pol", "main": True, "interpreter_needed": True}]
    assert (child["nationality"], child["religion"]) == ("Polish", "Catholic")
    assert [a["end_date"] for a in child["addresses"] if "end_date" in a] == ["2025-07-31"]
    closed, open_ = noah["episodes"]
    assert (closed["closure_date"], closed["closure_reason"]) == ("2023-06-30", "RC7")
    assert "closure_date" not in open_
    assert closed["cp_plans"][0]["review_dates"] == ["2022-06-01", "2022-12-01"]
    assert closed["cp_plans"][0]["end_date"] == "2023-05-15"
    assert open_["cp_plans"] == [
        {
            "id": "CP711",
            "start_date": "2025-09-01",
            "initial_category": "SAB",
            "latest_category": "MUL",
            "number_of_previous_plans": 1,
            "other_local_authority": False,
            "review_dates": ["2025-11-28"],
        }
    ]
    assert [(p["name"], p["is_lead"]) for p in noah["professionals"]] == [
        ("Pat Former", False),
        ("Kim Current", True),
    ]
    assert noah["alerts"][0]["type"] == "exploitation"


def test_records_pass_canonical_validation_except_the_dirty_child(
    carefirst: list[ReadResult], paris: list[ReadResult]
) -> None:
    for result in [*carefirst, *paris]:
        if result.record is None or result.key in ("CF100260", "P000140"):
            continue
        report = validate_document(result.record.model_dump(mode="json"), CONTEXT)
        assert report.problems == [], result.key
        assert not result.has_errors, (result.key, codes(result))


def test_the_merged_duplicate_stays_behind_with_its_referral(
    carefirst: list[ReadResult],
) -> None:
    assert "CF100251" not in by_key(carefirst)
    everything = json.dumps(
        [r.record.model_dump(mode="json") for r in carefirst if r.record]
        + [p.message for r in carefirst for p in r.problems]
    )
    assert "R5012" not in everything
    assert "CP712" not in everything
    (excluded,) = [p for p in carefirst[0].problems if p.code == "rows-excluded"]
    assert excluded.severity == Severity.WARNING
    assert "1 row of CLIENTS.csv (row 6)" in excluded.message
    assert "MERGED_INTO_CLIENT_NO filled" in excluded.message


def test_a_file_the_mapping_does_not_name_is_left_alone(carefirst: list[ReadResult]) -> None:
    (notice,) = [p for p in carefirst[0].problems if p.code == "file-not-mapped"]
    assert notice.location is not None
    assert notice.location.file == "FINANCE_PAYMENTS.csv"
    everything = json.dumps([r.record.model_dump(mode="json") for r in carefirst if r.record])
    assert "PAY1" not in everything
    assert "25.00" not in everything


def test_a_column_the_mapping_does_not_name_is_kept_and_warned_once(
    carefirst: list[ReadResult],
) -> None:
    warnings = [p for r in carefirst for p in r.problems if p.code == "columns-not-mapped"]
    assert [(w.location.file if w.location else None, w.message) for w in warnings] == [
        (
            "REFERRALS.csv",
            "REFERRALS.csv has column the mapping does not name: TEAM; its values are kept "
            "unmapped.",
        )
    ]
    kept = [
        (u["location"]["row"], u["value"])
        for key in ("CF100235", "CF100250")
        for u in record(carefirst, key)["unmapped"]
    ]
    assert kept == [(3, "Safeguarding East"), (5, "Safeguarding West"), (6, "Safeguarding West")]


# --- dirty values -----------------------------------------------------------------------------


def test_dirty_values_are_reported_where_they_are_and_kept(carefirst: list[ReadResult]) -> None:
    dirty = by_key(carefirst)["CF100260"]
    found = {(p.code, *where(p)) for p in dirty.problems if p.location and p.location.column}
    assert found == {
        ("date-invalid", "CLIENTS.csv", 7, "DATE_OF_BIRTH"),
        ("value-not-mapped", "CLIENTS.csv", 7, "ETHNIC_ORIGIN"),
        ("value-not-mapped", "CLIENT_RELATIONSHIPS.csv", 10, "RELATIONSHIP"),
        ("value-not-mapped", "REFERRALS.csv", 8, "REFERRAL_SOURCE"),
        ("code-unknown", "REFERRALS.csv", 8, "PRIMARY_NEED"),
        ("boolean-invalid", "REFERRALS.csv", 8, "NFA"),
        ("value-not-mapped", "CP_REGISTRATIONS.csv", 8, "INITIAL_CATEGORY"),
    }
    data = record(carefirst, "CF100260")
    kept = {(u["location"]["file"], u["location"]["row"], u["field"]): u for u in data["unmapped"]}
    assert kept["CLIENTS.csv", 7, "DATE_OF_BIRTH"]["value"] == "31/02/2015"
    assert kept["CLIENTS.csv", 7, "ETHNIC_ORIGIN"]["value"] == "XX"
    assert kept["REFERRALS.csv", 8, "NFA"]["reason"] == "not a true/false value"
    assert data["child"]["names"] == [
        {"given": "Zara", "family": "Dirty", "use": "official"},
        {"given": "Zee", "use": "preferred"},
    ]
    rules = {p.code for p in dirty.problems if p.location and p.location.column is None}
    assert {"upn-length", "cp-plan-initial-category-missing", "postcode-invalid"} <= rules


def test_an_item_without_a_required_field_is_left_out_and_its_values_kept(
    carefirst: list[ReadResult],
) -> None:
    dirty = by_key(carefirst)["CF100260"]
    missing = [p for p in dirty.problems if p.code == "required-value-missing"]
    assert [(where(p), p.message) for p in missing] == [
        (
            ("CLIENT_RELATIONSHIPS.csv", 10, None),
            "related_people[] has no relationship in CLIENT_RELATIONSHIPS.csv row 10, which it "
            "needs; it is left out and its values kept unmapped.",
        ),
        (
            ("HAZARDS.csv", 5, None),
            "alerts[] has no summary in HAZARDS.csv row 5, which it needs; it is left out and "
            "its values kept unmapped.",
        ),
    ]
    data = record(carefirst, "CF100260")
    assert "related_people" not in data
    assert "alerts" not in data
    lodger = {
        (u["field"], u["value"], u["location"]["row"])
        for u in data["unmapped"]
        if u["location"]["file"] == "CLIENT_RELATIONSHIPS.csv"
    }
    assert lodger == {
        ("RELATIONSHIP", "LODGER", 10),  # not in the value map
        ("RELATED_CLIENT_NO", "CF200030", 10),
        ("PARENTAL_RESPONSIBILITY", "N", 10),
        ("LIVES_WITH_CLIENT", "Y", 10),
        ("REL_FORENAMES", "Lou", 10),
        ("REL_SURNAME", "Lodger", 10),
        ("REL_GENDER", "M", 10),
    }


def test_rows_that_reach_no_child_are_reported_with_all_their_values(
    carefirst: list[ReadResult],
) -> None:
    orphan, no_referral = (r for r in carefirst if r.skipped)
    (found,) = orphan.problems
    assert found.code == "join-not-found"
    assert where(found) == ("REFERRALS.csv", 9, None)
    assert "CLIENT_NO 'CF999999'" in found.message
    assert "REFERRAL_NO='R5099'" in found.message
    (found,) = no_referral.problems
    assert found.code == "join-value-missing"
    assert where(found) == ("CP_REGISTRATIONS.csv", 9, None)
    assert "REGISTRATION_NO='CP799'" in found.message


def test_a_value_mapped_to_null_is_kept_without_a_problem(paris: list[ReadResult]) -> None:
    muddle = by_key(paris)["P000140"]
    data = record(paris, "P000140")
    (closed,) = [u for u in data["unmapped"] if u["field"] == "RECORD_STATUS"]
    assert closed["value"] == "CLOSED"
    assert closed["reason"] == "the mapping gives it no episodes[].referral_no_further_action"
    assert not [p for p in muddle.problems if p.location and p.location.column == "RECORD_STATUS"]


# --- the Paris-like example -------------------------------------------------------------------


def test_paris_long_tables_of_identifiers_names_and_languages(paris: list[ReadResult]) -> None:
    theo = record(paris, "P000130")["child"]
    assert theo["identifiers"] == [
        {"system": "la_child_id", "value": "P000130", "issuer": "301"},
        {"system": "nhs_number", "value": "9990000131"},
        {"system": "upn", "value": "A301201000005"},
        {"system": "legacy", "value": "OLD-4471", "issuer": "301"},
    ]
    assert theo["names"] == [
        {
            "given": "Theo",
            "middle": "James",
            "family": "Paris",
            "use": "official",
            "start_date": "2019-02-01",
        },
        {
            "given": "Theo",
            "middle": "James",
            "family": "Smith",
            "use": "previous",
            "start_date": "2010-06-21",
            "end_date": "2019-01-31",
        },
        {"given": "Teddy", "use": "preferred"},
    ]
    assert theo["languages"] == [
        {"code": "eng", "main": True, "interpreter_needed": False},
        {"code": "fra", "main": False, "interpreter_needed": False},
    ]
    assert theo["addresses"][0]["lines"] == ["Flat 4", "Harbour House", "2 Quay Side"]
    assert theo["addresses"][0]["uprn"] == "100012345678"


def test_paris_looked_after_episode_and_transfer_in_conference(paris: list[ReadResult]) -> None:
    (episode,) = record(paris, "P000130")["episodes"]  # the deleted involvement stays behind
    assert episode["conferences"] == [
        {"type": "transfer_in", "date": "2024-05-20", "led_to_cp_plan": False}
    ]
    assert episode["looked_after_episodes"] == [
        {
            "id": "LAC-5",
            "start_date": "2024-06-01",
            "reason_new_episode": "S",
            "legal_status": "C2",
            "placement": {
                "placement_type": "U1",
                "provider": "Testtown Fostering",
                "postcode": "TE5 5GH",
            },
        }
    ]
    assert "CPP-3" not in json.dumps(record(paris, "P000130"))
    assert not any(r.skipped for r in paris)


def test_paris_dirty_values(paris: list[ReadResult]) -> None:
    muddle = by_key(paris)["P000140"]
    found = {(p.code, *where(p)) for p in muddle.problems if p.location and p.location.column}
    assert found == {
        ("date-invalid", "PERSON.csv", 5, "BIRTH_DATE"),
        ("value-not-mapped", "PERSON.csv", 5, "ETHNICITY"),
        ("value-not-mapped", "PERSON_IDENTIFIER.csv", 5, "ID_TYPE"),
        ("value-invalid", "PERSON_ADDRESS.csv", 5, "UPRN"),
    }
    # The identifier lost its system, so it is left out with its value kept.
    assert [p.code for p in muddle.problems if p.code == "required-value-missing"] == [
        "required-value-missing"
    ]
    kept = {(u["field"], u["value"]) for u in record(paris, "P000140")["unmapped"]}
    assert {("ID_TYPE", "PASSPORT"), ("ID_VALUE", "123456789"), ("UPRN", "UPRN-X")} <= kept


# --- nothing lost -----------------------------------------------------------------------------


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [h.strip() for h in rows[0]], rows[1:]


def _filled(value: str) -> bool:
    return value.strip() not in ("", "NULL", "null")


def _cells(
    folder: Path, mapping: Path
) -> Iterator[tuple[str, str, int, str, str, str | None, bool]]:
    """(table, file, row, column, value, person, excluded) for every non-empty cell of a file
    the mapping describes, with the child the row belongs to (walking the joins)."""
    spec = yaml.safe_load(mapping.read_text(encoding="utf-8"))["files"]
    present = {p.stem.upper(): p for p in folder.glob("*.csv")}
    person_file = next(n for n, f in spec.items() if f.get("role") == "person")
    order = [person_file] + [n for n in spec if n != person_file]
    owner: dict[str, dict[str, tuple[str, bool]]] = {}  # table -> its key -> (person, excluded)
    for table in order:
        f = spec[table]
        path = present.get(table.upper())
        if path is None:
            continue
        header, rows = _csv_rows(path)
        join = f.get("join")
        join_column = join if isinstance(join, str) else join["column"] if join else f["id"]
        parent = person_file if isinstance(join, str) else join.get("to") if join else None
        key_column = f.get("id") or f.get("key")
        keys: dict[str, tuple[str, bool]] = {}
        for number, cells in enumerate(rows, start=2):
            values = dict(zip(header, (c.strip() for c in cells), strict=False))
            link = values.get(join_column, "")
            excluded = any(
                _filled(values.get(col, ""))
                and (rule == "filled" or values[col].upper() in {str(v).upper() for v in rule})
                for col, rule in f.get("exclude", {}).items()
            )
            if parent is None:
                person: str | None = link or None
            else:
                person, excluded_above = owner[parent].get(link, (None, False))
                excluded = excluded or excluded_above
            if key_column and values.get(key_column) and person is not None:
                keys.setdefault(values[key_column], (person, excluded))
            for column, value in values.items():
                if _filled(value):
                    yield table, path.name, number, column, value, person, excluded
        owner[table] = keys


def _forms(value: str, column: Any, formats: list[str]) -> set[str]:
    """The ways a source value may appear once mapped (the test's own reading of the mapping)."""
    text = value.strip()
    forms = {text, text.upper(), text.lower()}
    if isinstance(column, dict) and column.get("values"):
        wanted = {str(k).strip().upper(): v for k, v in column["values"].items()}
        if text.upper() in wanted and wanted[text.upper()] is not None:
            forms.add(str(wanted[text.upper()]))
    if (day := parse_date(text)) is not None:
        forms.add(day.isoformat())
    for form in formats:
        with contextlib.suppress(ValueError):
            forms.add(dt.datetime.strptime(text, form).date().isoformat())
    if (postcode := normalise_postcode(text)) is not None:
        forms.add(postcode)
    if (flag := parse_bool(text)) is not None:
        forms.add(str(flag).lower())
    return {f.lower() for f in forms}


def _leaves(node: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    value = node.get(step.name) if isinstance(node, dict) else None
    if value is None:
        return
    if step.kind in ("single", "leaf"):
        yield from _leaves(value, rest)
    else:
        for item in value:
            if step.kind != "keyed" or item.get(step.key_field) == step.key:
                yield from _leaves(item, rest)


def lost_values(folder: Path, mapping: Path, results: list[ReadResult]) -> list[str]:
    """Every source cell neither in its mapped field, nor kept where it came from, nor reported."""
    spec = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    messages = [p.message for r in results if r.skipped for p in r.problems]
    lost = []
    for table, file, number, column, value, person, excluded in _cells(folder, mapping):
        if excluded:
            continue  # left out on purpose; the rows-excluded warning names them
        if person not in records:
            if not any(
                f"Row {number} of {file}" in m and f"{column}={value!r}" in m for m in messages
            ):
                lost.append(f"{file}:{number}:{column}={value!r} (row reaching no child)")
            continue
        rec = records[person]
        if any(
            u["value"] == value
            and (u["location"]["file"], u["location"]["row"], u["location"]["column"])
            == (file, number, column)
            for u in rec["unmapped"]
        ):
            continue
        f = spec["files"][table]
        join = f.get("join")
        if join and column == (join if isinstance(join, str) else join["column"]):
            continue  # the join column repeats its parent row's key
        mapped = {c.upper(): m for c, m in f.get("columns", {}).items()}.get(column.upper())
        if mapped is None:
            lost.append(f"{file}:{number}:{column}={value!r} (column not mapped, not kept)")
            continue
        targets = mapped if isinstance(mapped, list) else [mapped]
        if isinstance(mapped, dict):
            targets = mapped["to"] if isinstance(mapped["to"], list) else [mapped["to"]]
        formats = [
            str(d)
            for d in [
                *(mapped.get("dates", []) if isinstance(mapped, dict) else []),
                *([f["dates"]] if isinstance(f.get("dates"), str) else f.get("dates", [])),
                *([spec["dates"]] if isinstance(spec.get("dates"), str) else spec.get("dates", [])),
            ]
            if d != "auto"
        ]
        forms = _forms(value, mapped, formats)
        found = any(
            str(leaf).lower() in forms
            for target in targets
            for leaf in _leaves(rec, parse_target(target).steps)
        )
        if not found:
            lost.append(f"{file}:{number}:{column}={value!r}")
    return lost


@pytest.mark.parametrize(
    ("folder", "mapping", "at_least"),
    [(CAREFIRST, CAREFIRST_MAPPING, 300), (PARIS, PARIS_MAPPING, 250)],
    ids=["carefirst", "paris"],
)
def test_nothing_is_lost(folder: Path, mapping: Path, at_least: int) -> None:
    results = read(folder, mapping)
    cells = list(_cells(folder, mapping))
    assert len(cells) >= at_least
    assert sum(1 for c in cells if c[-1]) >= 9  # excluded rows are in the count too
    assert lost_values(folder, mapping, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def dropping(change: Callable[[Any], None], key: str) -> list[ReadResult]:
        results = read()
        for r in results:
            if r.key == key and r.record is not None:
                change(r.record)
        return results

    def forget_a_review(rec: Any) -> None:
        rec.episodes[0].cp_plans[0].review_dates.pop()

    assert lost_values(CAREFIRST, CAREFIRST_MAPPING, dropping(forget_a_review, "CF100250")) == [
        "CP_REVIEWS.csv:3:REVIEW_DATE='2022-12-01'"
    ]

    def forget_the_team(rec: Any) -> None:
        rec.unmapped.pop()

    assert lost_values(CAREFIRST, CAREFIRST_MAPPING, dropping(forget_the_team, "CF100234")) == [
        "REFERRALS.csv:2:TEAM='Safeguarding East' (column not mapped, not kept)"
    ]

    def forget_the_mothers_phone(rec: Any) -> None:
        rec.related_people[0].contact = None

    assert lost_values(
        CAREFIRST, CAREFIRST_MAPPING, dropping(forget_the_mothers_phone, "CF100240")
    ) == ["CLIENT_RELATIONSHIPS.csv:8:REL_PHONE='07700 900123'"]

    results = read()
    results.pop()  # the row without a REFERRAL_NO, no longer reported
    assert lost_values(CAREFIRST, CAREFIRST_MAPPING, results) == [
        f"CP_REGISTRATIONS.csv:9:{column}={value!r} (row reaching no child)"
        for column, value in [
            ("REGISTRATION_NO", "CP799"),
            ("START_DATE", "01/11/2025"),
            ("INITIAL_CATEGORY", "Neglect"),
            ("CURRENT_CATEGORY", "Neglect"),
            ("OTHER_LA", "N"),
        ]
    ]


# --- each kind of mistake in a mapping file ---------------------------------------------------


def _marked(path: Path) -> tuple[str, int]:
    """The mistake a fixture is written to have (# MISTAKE <code>) and its line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if match := re.search(r"# MISTAKE ([a-z-]+)", line):
            return match[1], number
    raise AssertionError(f"{path.name} marks no mistake")


MISTAKE_FILES = sorted(MISTAKES.glob("*.yml"))


@pytest.mark.parametrize("path", MISTAKE_FILES, ids=[p.stem for p in MISTAKE_FILES])
def test_each_kind_of_mistake_is_reported_with_its_line(path: Path) -> None:
    code, line = _marked(path)
    checked = check_mapping(path)
    assert not checked.ok
    found = [(p.code, p.location.line if p.location else None) for p in checked.errors]
    assert (code, line) in found, found
    assert all(p.fix for p in checked.problems)
    assert all(p.location is not None and p.location.file == path.name for p in checked.problems)


def test_every_kind_of_mistake_has_a_fixture() -> None:
    assert {_marked(p)[0] for p in MISTAKE_FILES} == {
        "yaml-invalid",
        "structure-invalid",
        "key-duplicate",
        "target-unknown",
        "target-invalid",
        "target-reserved",
        "selector-unknown",
        "target-duplicate",
        "required-field-unmapped",
        "value-map-without-code-list",
        "value-map-target-invalid",
        "date-format-invalid",
        "date-format-not-date",
        "constant-invalid",
        "person-file-missing",
        "join-missing",
        "join-file-unknown",
        "join-key-missing",
        "join-cycle",
        "file-no-columns",
    }


def test_an_unknown_field_names_the_nearest_valid_ones() -> None:
    (found,) = check_mapping(MISTAKES / "unknown-field.yml").problems
    assert "did you mean child.names[official].given?" in found.message
    (found,) = check_mapping({"files": _person({"X": "episodez[].referal_date"})}).problems
    assert "nearest canonical fields: episodes[].referral_date" in found.message


def test_a_value_map_to_a_code_the_field_lacks_lists_the_codes() -> None:
    (found,) = check_mapping(MISTAKES / "value-map-bad-code.yml").problems
    assert "'WHITE_IRISH' (for source value 'WI') is not a code of child.ethnicity" in found.message
    assert found.fix.startswith("Use one of: WBRI, WIRI, WIRT")
    assert found.location is not None
    assert found.location.element == "files.CLIENTS.columns.ETHNIC_ORIGIN.values.WI"


def test_check_command_lists_the_problems_with_their_lines_and_exits_1() -> None:
    code, said = run("adapters", "check", MISTAKES / "join-file-unknown.yml")
    assert code == 1
    assert (
        "join-file-unknown.yml:16 (files.CP_REGISTRATIONS.join.to): error join-file-unknown: "
        "CP_REGISTRATIONS joins to REFERALS, which is not a file of the mapping; did you mean "
        "REFERRALS?"
    ) in said
    assert "1 error; not usable yet" in said
    code, said = run("adapters", "check", MISTAKES / "yaml-syntax.yml")
    assert code == 1
    assert "yaml-syntax.yml:9: error yaml-invalid" in said
    assert "Quote target paths written inside { }" in said


def _person(columns: dict[str, Any]) -> dict[str, Any]:
    return {
        "P": {
            "role": "person",
            "id": "ID",
            "columns": {"ID": "child.identifiers[la_child_id]", **columns},
        }
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("auto", None),
        ("%d/%m/%Y", None),
        ("%Y-%m-%d %H:%M:%S.%f", None),
        ("%d-%b-%y", None),
        ("%Y%j", None),
        ("%d/%m", "it does not hold a day, a month and a year (e.g. %d/%m/%Y)"),
        ("%d/%q/%Y", "%q is not a strptime directive"),
        ("dd/mm/yyyy", "it does not hold a day, a month and a year (e.g. %d/%m/%Y)"),
        ("%d/%m/%Y%", "it ends with a lone %"),
        ("%d/%m/%Y %Y", "it cannot read back the dates it describes"),
    ],
)
def test_date_formats(text: str, why: str | None) -> None:
    said = date_format_problem(text)
    assert (said if said is None else said.split(" (")[0]) == (
        why if why is None else why.split(" (")[0]
    )


@pytest.mark.parametrize(
    "text",
    [
        "files: &loop\n  A: *loop\n",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefg", "bcdefgh", strict=True)
        ),
        "- just\n- a list\n",
        "",
    ],
    ids=["recursive-alias", "alias-bomb", "not-a-mapping", "empty"],
)
def test_mapping_files_that_are_not_mappings_are_reported_not_raised(text: str) -> None:
    checked = check_mapping_text(text, "odd.yml")
    assert not checked.ok
    assert checked.errors[0].code in ("yaml-invalid", "structure-invalid")


def test_warnings_do_not_stop_a_mapping() -> None:
    checked = check_mapping(
        {"files": {"P": {"role": "person", "id": "ID", "columns": {"N": "child.gender"}}}}
    )
    assert checked.ok
    assert [p.code for p in checked.problems] == ["la-child-id-unmapped"]


def test_a_mapping_with_errors_converts_nothing() -> None:
    found = fatal_of(
        files(CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n"),
        SMALL.replace("child.birth_date", "child.birthdate"),
    )
    assert found.code == "mapping-invalid"
    assert "'child.birthdate' is not a canonical field" in found.message
    assert "exchange adapters check" in found.fix


# --- conversion details -----------------------------------------------------------------------


def test_source_authority_from_the_command_beats_the_mapping() -> None:
    source = files(CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n")
    (result,) = read(source, SMALL, authority="202")
    assert result.record is not None
    assert result.record.provenance.source_authority == "202"
    assert result.record.child.identifiers[0].issuer == "202"
    (result,) = read(source, SMALL.replace('source_authority: "873"', ""))
    assert result.record is not None
    assert result.record.provenance.source_authority == "unknown"
    assert codes(result)[0] == "source-authority-missing"


def test_constants_for_the_record_and_for_each_row_s_items() -> None:
    mapping = (
        SMALL.replace(
            "files:",
            "constants:\n  provenance.source_system_version: '6.9'\n  child.nationality: British\n"
            "files:",
        )
        + "    constants:\n      episodes[].referral_source: '6'\n"
    )
    source = files(
        CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\nC2,Leo,30/11/2019\r\n",
        REFERRALS="CLIENT_NO,REFERRAL_DATE,NEED\r\nC1,01/09/2025,N1\r\n",
    )
    ava, leo = read(source, mapping)
    assert ava.record is not None
    assert leo.record is not None
    assert ava.record.provenance.source_system_version == "6.9"
    assert ava.record.child.nationality == leo.record.child.nationality == "British"
    assert [e.referral_source for e in ava.record.episodes] == ["6"]
    assert leo.record.episodes == []  # a constant alone makes no episode


def test_a_second_different_value_for_one_field_is_kept_with_a_warning() -> None:
    mapping = (
        SMALL + "  EXTRA:\n    join: CLIENT_NO\n    columns:\n      RELIGION: child.religion\n"
    )
    source = files(
        CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n",
        EXTRA="CLIENT_NO,RELIGION\r\nC1,None\r\nC1,Buddhist\r\nC1,None\r\n",
    )
    (result,) = read(source, mapping)
    assert result.record is not None
    assert result.record.child.religion == "None"
    (conflict,) = [p for p in result.problems if p.code == "value-conflict"]
    assert conflict.severity == Severity.WARNING
    assert where(conflict) == ("EXTRA.csv", 3, "RELIGION")
    assert [(u.value, u.location.row) for u in result.record.unmapped] == [("Buddhist", 3)]


def test_a_column_may_fill_two_fields_and_a_file_may_be_optional() -> None:
    mapping = SMALL.replace(
        "CLIENT_NO: child.identifiers[la_child_id]",
        "CLIENT_NO: ['child.identifiers[la_child_id]', 'child.identifiers[legacy]']",
    )
    (result,) = read(files(CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n"), mapping)
    assert result.record is not None
    assert [(i.system, i.value) for i in result.record.child.identifiers] == [
        ("la_child_id", "C1"),
        ("legacy", "C1"),
    ]
    assert result.record.episodes == []  # REFERRALS is optional and absent


def test_the_mapping_can_travel_in_the_export_folder() -> None:
    source = Source.from_files(
        {
            "CLIENTS.csv": (CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n").encode(),
            "mapping.yml": SMALL.encode(),
        }
    )
    (result,) = MappingAdapter(CONTEXT).read(source)
    assert result.record is not None
    assert result.record.child.birth_date == dt.date(2016, 3, 14)
    assert "file-not-mapped" not in codes(result)
    with pytest.raises(InputUnreadable) as caught:
        list(MappingAdapter(CONTEXT).read(files(CLIENTS=CLIENTS_HEADER)))
    assert caught.value.problem.code == "mapping-missing"


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "where_"),
    [
        (Source.from_files({}), "source-empty", None),
        (
            files(REFERRALS="CLIENT_NO,REFERRAL_DATE,NEED\r\nC1,01/01/2025,N1\r\n"),
            "table-missing",
            None,
        ),
        (files(CLIENTS=""), "file-empty", ("CLIENTS.csv", None)),
        (files(CLIENTS=CLIENTS_HEADER), "no-people", ("CLIENTS.csv", 1)),
        (files(CLIENTS="CLIENT_NO,FORENAME\r\nC1,Ava\r\n"), "columns-missing", ("CLIENTS.csv", 1)),
        (
            files(CLIENTS=CLIENTS_HEADER + "C1,Ava,\r\n", REFERRALS="REFERRAL_DATE\r\n1\r\n"),
            "columns-missing",
            ("REFERRALS.csv", 1),
        ),
        (
            files(CLIENTS=CLIENTS_HEADER + 'C1,"' + "x" * 200_000 + '"\r\n'),
            "csv-malformed",
            ("CLIENTS.csv", 2),
        ),
    ],
    ids=[
        "no-files",
        "no-person-file",
        "empty-file",
        "header-only",
        "person-column-missing",
        "join-column-missing",
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
    found = fatal_of(files(CLIENTS="CLIENT_NO\r\nC1\r\n"))
    assert found.message == "CLIENTS.csv has no column DOB, FORENAME."


def test_windows_1252_and_a_bom_are_read() -> None:
    source = files(
        CLIENTS=b"\xef\xbb\xbf" + (CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n").encode(),
        REFERRALS=b"CLIENT_NO,REFERRAL_DATE,NEED\r\nC1,01/09/2025,N1\r\n",
    )
    (result,) = read(source, SMALL)
    assert result.record is not None
    assert result.record.child.names[0].given == "Ava"
    source = files(CLIENTS=(CLIENTS_HEADER + "C1,Zoë,14/03/2016\r\n").encode("cp1252"))
    (result,) = read(source, SMALL)
    assert result.record is not None
    assert result.record.child.names[0].given == "Zoë"


def test_wrong_date_formats_are_reported_and_kept() -> None:
    source = files(
        CLIENTS=CLIENTS_HEADER + "C1,Ava,2016-03-14\r\n",
        REFERRALS="CLIENT_NO,REFERRAL_DATE,NEED\r\nC1,yesterday,N1\r\n",
    )
    (result,) = read(source, SMALL)
    assert result.record is not None
    invalid = [p for p in result.problems if p.code == "date-invalid"]
    assert [(where(p), p.message) for p in invalid] == [
        (("CLIENTS.csv", 2, "DOB"), "DOB '2016-03-14' is not a date ('%d/%m/%Y')."),
        (
            ("REFERRALS.csv", 2, "REFERRAL_DATE"),
            "REFERRAL_DATE 'yesterday' is not a date (a date in any usual form).",
        ),
    ]
    assert [(u.field, u.value) for u in result.record.unmapped] == [
        ("DOB", "2016-03-14"),
        ("REFERRAL_DATE", "yesterday"),
    ]


def test_duplicated_ids_are_reported_and_differences_kept() -> None:
    source = files(CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\nC1,Eva,14/03/2016\r\n")
    (result,) = read(source, SMALL)
    assert result.record is not None
    (duplicate,) = [p for p in result.problems if p.code == "person-id-duplicate"]
    assert duplicate.severity == Severity.ERROR
    assert where(duplicate) == ("CLIENTS.csv", 3, None)
    assert result.record.child.names[0].given == "Ava"
    assert [(u.field, u.value, u.location.row) for u in result.record.unmapped] == [
        ("FORENAME", "Eva", 3)
    ]


def test_a_person_row_without_its_id_is_reported() -> None:
    results = read(
        files(CLIENTS=CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n,Ghost,01/01/2015\r\n"), SMALL
    )
    assert [r.key for r in results] == ["C1", None]
    (missing,) = results[1].problems
    assert missing.code == "person-id-missing"
    assert "FORENAME='Ghost'" in missing.message


def test_bytes_neither_utf8_nor_windows_1252_are_fatal() -> None:
    found = fatal_of(files(CLIENTS=CLIENTS_HEADER.encode() + b"C1,\x81\x8d,14/03/2016\r\n"))
    assert found.code == "file-undecodable"
    assert found.location is not None
    assert found.location.file == "CLIENTS.csv"


CAREFIRST_ADAPTER = MappingAdapter(CONTEXT, mapping=CAREFIRST_MAPPING)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: st.DataObject) -> None:
    tables = {p.stem: p.read_bytes() for p in CAREFIRST.glob("*.csv")}
    name = data.draw(st.sampled_from(sorted(tables)))
    original = tables[name]
    at = data.draw(st.integers(0, len(original)))
    junk = data.draw(
        st.binary(max_size=40) | st.text(alphabet=',"\r\nNY0/-', max_size=20).map(str.encode)
    )
    tables[name] = original[:at] + junk + original[at:]
    with contextlib.suppress(InputUnreadable):
        list(CAREFIRST_ADAPTER.read(files(**tables)))


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reader = MappingAdapter(CONTEXT, mapping=CAREFIRST_MAPPING).read(Source.from_path(CAREFIRST))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())  # the rows wait on disk, not in memory
    reader.close()
    assert not any(tmp_path.iterdir())


# --- the command line -------------------------------------------------------------------------


def test_convert_with_a_mapping_file(tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    code, said = run(
        "convert", CAREFIRST, "--adapter", "mapping", "--mapping", CAREFIRST_MAPPING, "-o", out
    )
    assert code == 1, said  # the dirty child and the rows that reached no child
    assert (
        "7 records read: 5 built (1 with errors, 1 with warnings only), 2 could not be read" in said
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["child"]["identifiers"][0]["value"] for r in lines] == [
        "CF100234",
        "CF100235",
        "CF100240",
        "CF100250",
        "CF100260",
    ]


def test_validate_with_the_mapping_in_the_folder_and_a_mapping_for_another_adapter(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "CLIENTS.csv").write_text(CLIENTS_HEADER + "C1,Ava,14/03/2016\r\n")
    (folder / "mapping.yml").write_text(SMALL)
    code, said = run("validate", folder, "--adapter", "mapping", "--problems", tmp_path / "p.csv")
    assert code == 0, said
    assert "1 records read: 1 built" in said
    code, said = run("validate", folder, "--adapter", "ssd", "--mapping", folder / "mapping.yml")
    assert code == 2
    assert "The ssd adapter takes no --mapping." in said


# --- the documentation ------------------------------------------------------------------------


def test_the_editor_schema_is_up_to_date_and_accepts_the_examples() -> None:
    schema = mapping_json_schema()
    stored = json.loads((EXAMPLES / "mapping-file.schema.json").read_text(encoding="utf-8"))
    assert stored == schema, "regenerate docs/examples/mappings/mapping-file.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in (CAREFIRST_MAPPING, PARIS_MAPPING):
        assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == []
    assert list(validator.iter_errors({"files": {"A": {"colums": {}}}}))


def test_the_docs_list_every_canonical_field_and_every_check_code() -> None:
    doc = (ROOT / "docs" / "mapping-files.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", doc, flags=re.MULTILINE))
    assert {f.path for f in canonical_fields()} <= listed
    for path in MISTAKE_FILES:
        assert f"`{_marked(path)[0]}`" in doc
    example = re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)[0]
    assert check_mapping_text(example, "docs example").problems == []
