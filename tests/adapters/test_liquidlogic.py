"""The Liquidlogic LCS adapter: what a receiving authority sees when an LCS table dump is read.

The fixture (tests/fixtures/liquidlogic/) is a synthetic HDM.Child_Social dump of fictional
people, dirty on purpose (see its README.txt): a BOM, a Windows-1252 file, a repeated person, a
merged duplicate, unknown codes and bad dates, rows naming nobody, a table the adapter does not
read. The tests look at the records and problems a user would see, and check that every source
value is either in the record or kept unmapped where it came from.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import get_adapter
from exchange.adapters.base import InputUnreadable, ReadResult, Source
from exchange.adapters.liquidlogic import MAPPING, ConfigInvalid, LiquidlogicAdapter
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "liquidlogic"
CONFIG = FIXTURE / "config" / "lcs.yml"
CONTEXT = RuleContext(
    today=dt.date(2026, 11, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
PERSON_HEADER = "DIM_PERSON_ID,FORENAME,BIRTH_DTTM,IS_CLIENT\r\n"
RENAMES = {"FACT_CASENOTES.CSV": {"NOTE_AUTHOR": "CREATED_BY_NAME"}}  # as config/lcs.yml says
RELATIVE_COLUMNS = {  # what a relative's DIM_PERSON row gives a child's record
    "DIM_PERSON_ID", "LEGACY_ID", "UPN", "NHS_NUMBER", "FORENAME", "SURNAME", "GENDER_MAIN_CODE",
    "BIRTH_DTTM", "DOB_ESTIMATED",
}  # fmt: skip


def read(
    source: Source | Path = FIXTURE, config: Path | dict[str, Any] | None = CONFIG, **kw: Any
) -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    return list(LiquidlogicAdapter(CONTEXT, config=config, **kw).read(source))


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
    return found.model_dump(mode="json", exclude_defaults=True)


def problems(result: ReadResult, code: str) -> list[Problem]:
    return [p for p in result.problems if p.code == code]


def where(found: Problem) -> tuple[str | None, int | None, str | None]:
    assert found.location is not None
    return found.location.file, found.location.row, found.location.column


def kept(rec: dict[str, Any], file: str, row: int, column: str) -> list[Any]:
    return [
        u["value"]
        for u in rec["unmapped"]
        if (u["location"]["file"], u["location"].get("row"), u["location"].get("column"))
        == (file, row, column)
    ]


def fatal_of(source: Source, **kw: Any) -> Problem:
    with pytest.raises(InputUnreadable) as caught:
        read(source, **kw)
    assert caught.value.problem.severity == Severity.FATAL
    return caught.value.problem


@pytest.fixture(scope="module")
def results() -> list[ReadResult]:
    return read()


# --- who becomes a record -------------------------------------------------------------------


def test_one_record_per_child_in_file_order_then_rows_naming_nobody(
    results: list[ReadResult],
) -> None:
    assert [r.key for r in results] == [
        "1001",
        "1003",
        "1004",
        "1005",
        "1006",
        "1007",
        "1009",
        "1010",
        None,
        None,
    ]
    # Relatives (IS_CLIENT N) and the merged duplicate 1008 are no records of their own.
    assert [r.key for r in results if r.record is not None] == [
        "1001", "1003", "1004", "1005", "1006", "1007", "1010",
    ]  # fmt: skip
    (missing,) = problems(results[-2], "person-not-found")
    assert where(missing) == ("FACT_REFERRALS.csv", 8, None)
    assert "'9999'" in missing.message
    assert "F99" in missing.message
    (no_id,) = problems(results[-1], "person-id-missing")
    assert where(no_id) == ("FACT_REFERRALS.csv", 9, None)
    assert "F98" in no_id.message


def test_records_pass_validation_except_the_dirty_child(results: list[ReadResult]) -> None:
    with_errors = {r.key for r in results if r.record is not None and r.has_errors}
    assert with_errors == {"1007"}


def test_whole_export_notices_ride_with_the_first_result_once(results: list[ReadResult]) -> None:
    first = results[0]
    extra = problems(first, "columns-extra")
    assert [where(p) for p in extra] == [
        ("DIM_PERSON.csv", 1, "EHM_SEN_FLAG"),
        ("FACT_REFERRALS.csv", 1, "TEST_COLUMN"),
    ]
    (others,) = problems(first, "people-not-children")
    assert others.severity == Severity.WARNING
    assert others.message.startswith("5 people in DIM_PERSON are not children")
    assert "FACT_PERSON_RELATION.csv: 1" in others.message  # the mother's side of R4
    (idle,) = problems(first, "workers-not-involved")
    assert idle.message.startswith("1 DIM_WORKER rows")
    for later in results[1:]:
        assert not {"columns-extra", "people-not-children", "workers-not-involved"} & {
            p.code for p in later.problems
        }


# --- the same child as in the Mosaic fixture ------------------------------------------------


def test_ava_identity_and_addresses(results: list[ReadResult]) -> None:
    ava = record(results, "1001")
    assert ava["provenance"] == {
        "source_authority": "202",
        "source_system": "Liquidlogic LCS",
        "adapter": "liquidlogic-lcs",
        "adapter_version": "1",
    }
    child = ava["child"]
    assert child["identifiers"] == [
        {"system": "la_child_id", "value": "1001", "issuer": "202"},
        {"system": "upn", "value": "F202123456781"},
    ]
    assert child["names"] == [{"given": "Ava", "family": "Testchild"}]
    assert (child["birth_date"], child["sex"], child["ethnicity"]) == ("2016-03-14", "F", "WBRI")
    assert "expected_birth_date" not in child
    old, current = child["addresses"]
    assert old == {
        "id": "A1",
        "lines": ["22 Old Road"],
        "town": "Testtown",
        "postcode": "TE1 2AB",
        "start_date": "2016-03-14",
        "end_date": "2025-07-31",
    }
    assert current == {
        "id": "A2",
        "lines": ["1 Example Street"],
        "town": "Testtown",
        "postcode": "TE1 1ST",
        "start_date": "2025-08-01",
        "confidential": True,
        "not_to_be_disclosed_to": ["2002"],  # the father, named by the do-not-disclose alert
    }


def test_ava_family_alert_and_worker(results: list[ReadResult]) -> None:
    ava = record(results, "1001")
    mother, brother, father = ava["related_people"]
    assert mother == {
        "id": "2001",
        "names": [{"given": "Mia", "family": "Testchild"}],
        "relationship": "mother",
        "parental_responsibility": True,
        "lives_with_child": True,
        "birth_date": "1990-07-02",
        "sex": "F",
    }
    assert brother["relationship"] == "sibling"
    assert (brother["birth_date"], brother["parental_responsibility"]) == ("2019-11-30", False)
    assert brother["identifiers"] == [{"system": "upn", "value": "M202123456785"}]
    assert (father["id"], father["relationship"], father["lives_with_child"]) == (
        "2002",
        "father",
        False,
    )
    assert ava["alerts"] == [
        {
            "id": "WN1",
            "type": "do_not_disclose_address",
            "summary": "Do not disclose the child's address to the father.",
            "details": "Ray Testchild must not learn where Ava and her mother now live.",
            "start_date": "2025-08-01",
            "not_to_be_disclosed_to": ["2002"],
        }
    ]
    assert ava["professionals"] == [
        {
            "id": "W10",
            "name": "Priya Fictional",
            "role": "Allocated social worker",
            "agency": "social_care",
            "organisation": "Safeguarding Team North",
            "start_date": "2025-09-02",
            "is_lead": True,
        }
    ]
    # The worker's own job title and department do not replace the involvement's; kept.
    assert kept(ava, "DIM_WORKER.csv", 2, "JOB_TITLE") == ["Senior Social Worker"]


def test_ava_referral_plan_and_chronology(results: list[ReadResult]) -> None:
    ava = record(results, "1001")
    assert ava["episodes"] == [
        {
            "id": "F1",
            "referral_date": "2025-09-01",
            "referral_source": "6",  # POL, through the authority's configuration
            "primary_need": "N1",
            "referral_no_further_action": False,
            "cp_plans": [
                {
                    "id": "P1",
                    "start_date": "2025-10-06",
                    "initial_category": "NEG",
                    "latest_category": "EMO",
                }
            ],
        }
    ]
    assert ava["chronology"] == [
        {
            "date": "2025-09-02",
            "category": "strategy_discussion",
            "summary": "Strategy discussion",
            "details": "Strategy discussion with police; a Section 47 enquiry was agreed.",
            "recorded_by": "Priya Fictional",  # NOTE_AUTHOR, renamed by the configuration
        }
    ]


# --- families, duplicates, dates ------------------------------------------------------------


def test_siblings_share_their_mother_and_her_address(results: list[ReadResult]) -> None:
    noah, isla = record(results, "1003"), record(results, "1004")
    zara_for_noah = next(p for p in noah["related_people"] if p["id"] == "2003")
    zara_for_isla = next(p for p in isla["related_people"] if p["id"] == "2003")
    assert zara_for_noah == zara_for_isla
    assert zara_for_noah["addresses"] == [
        {
            "id": "A3",
            "lines": ["Flat 3", "Fiction House", "5 Nowhere Lane"],
            "town": "Faketown",
            "postcode": "ZZ99 3AB",
            "uprn": "100012345678",
            "start_date": "2010-01-01",
        }
    ]
    # The sibling who is a child of the export is a related person too, from their own row.
    isla_for_noah = next(p for p in noah["related_people"] if p["id"] == "1004")
    assert isla_for_noah["identifiers"] == [{"system": "upn", "value": "J202123456783"}]
    assert isla["child"]["ethnicity"] == "WBRI"  # "White British", the DfE description


def test_a_merged_duplicate_is_kept_on_the_survivor(results: list[ReadResult]) -> None:
    result = by_key(results)["1003"]
    (merged,) = problems(result, "person-merged")
    assert merged.severity == Severity.WARNING
    assert where(merged) == ("DIM_PERSON.csv", 13, "DUPLICATED_DTTM")
    noah = record(results, "1003")
    assert [e["id"] for e in noah["episodes"]] == ["F3"]  # the duplicate's F8 is not read as his
    assert kept(noah, "FACT_REFERRALS.csv", 4, "FACT_REFERRAL_ID") == ["F8"]
    assert kept(noah, "DIM_PERSON.csv", 13, "BIRTH_DTTM") == ["2014-06-02 00:00:00.000"]
    reasons = {u.get("reason") for u in noah["unmapped"] if u["location"].get("row") == 13}
    assert reasons == {"merged duplicate person 1008"}


def test_a_merged_duplicate_without_a_survivor_is_reported_with_its_values(
    results: list[ReadResult],
) -> None:
    lone = by_key(results)["1009"]
    assert lone.record is None
    (found,) = lone.problems
    assert found.code == "merged-survivor-not-found"
    assert where(found) == ("DIM_PERSON.csv", 14, "DUPLICATED_DTTM")
    assert "FORENAME='Old'" in found.message
    assert "SURNAME='Record'" in found.message


def test_a_repeated_person_row_is_reported_and_its_differences_kept(
    results: list[ReadResult],
) -> None:
    (twice,) = problems(by_key(results)["1004"], "person-duplicate")
    assert where(twice) == ("DIM_PERSON.csv", 9, "DIM_PERSON_ID")
    isla = record(results, "1004")
    assert isla["child"]["names"] == [{"given": "Isla", "family": "Fakename"}]
    assert kept(isla, "DIM_PERSON.csv", 9, "SURNAME") == ["Fake-name"]
    assert kept(isla, "DIM_PERSON.csv", 9, "FORENAME") == []  # the same value is not repeated


def test_an_unborn_child_has_an_expected_birth_date(results: list[ReadResult]) -> None:
    unborn = record(results, "1005")["child"]
    assert unborn["expected_birth_date"] == "2027-01-20"
    assert "birth_date" not in unborn
    assert unborn["sex"] == "U"
    assert not by_key(results)["1005"].problems


def test_an_expected_date_gone_by_is_flagged(results: list[ReadResult]) -> None:
    (passed,) = problems(by_key(results)["1006"], "expected-birth-date-passed")
    assert passed.severity == Severity.WARNING
    assert where(passed) == ("DIM_PERSON.csv", 11, "BIRTH_DTTM")
    assert record(results, "1006")["child"]["expected_birth_date"] == "2024-05-01"


# --- closed and open episodes ---------------------------------------------------------------


def test_closed_and_open_episodes_with_conferences_plans_and_care(
    results: list[ReadResult],
) -> None:
    mo = record(results, "1010")
    closed, current = mo["episodes"]
    assert (closed["closure_date"], closed["closure_reason"]) == ("2020-06-30", "RC7")
    assert closed["conferences"] == [
        {
            "id": "C10A",
            "type": "initial",
            "date": "2019-04-10",
            "target_date": "2019-04-08",
            "led_to_cp_plan": True,
        }
    ]
    assert closed["cp_plans"] == [
        {
            "id": "P10A",
            "start_date": "2019-04-10",
            "end_date": "2020-05-01",
            "initial_category": "PHY",
            "latest_category": "PHY",
        }
    ]
    first, second = closed["looked_after_episodes"]
    assert first == {
        "id": "E10",
        "start_date": "2020-01-10",
        "end_date": "2020-03-01",
        "reason_new_episode": "S",
        "legal_status": "V2",
        "category_of_need": "N1",
        "placement": {"id": "PL1", "placement_type": "U1"},
        "reason_episode_ceased": "Returned home to live with parents",
    }
    # E11 names a referral the child does not have: placed by its date, the id kept.
    assert second["id"] == "E11"
    (link,) = problems(by_key(results)["1010"], "link-not-found")
    assert where(link) == ("FACT_CARE_EPISODES.csv", 3, "FACT_REFERRAL_ID")
    assert kept(mo, "FACT_CARE_EPISODES.csv", 3, "FACT_REFERRAL_ID") == ["F77"]
    assert "closure_date" not in current
    assert current["referral_source"] == "6"  # "Police", a default description
    assert current["conferences"][0]["type"] == "transfer_in"
    assert current["cp_plans"][0]["latest_category"] == "MUL"


def test_confidential_by_type_or_restriction_and_an_alert_added(results: list[ReadResult]) -> None:
    mo = record(results, "1010")
    refuge, former = mo["child"]["addresses"]
    assert refuge["confidential"]
    assert "not_to_be_disclosed_to" not in refuge
    assert former["confidential"]  # IS_RESTRICTED_FLAG Y
    assert mo["alerts"] == [
        {
            "type": "do_not_disclose_address",
            "summary": "The child has a confidential address: do not disclose it.",
        }
    ]
    gp = mo["professionals"][1]
    assert (gp["role"], gp["agency"], gp["name"], gp["organisation"]) == (
        "GP",
        "health",
        "Doctor Madeup",
        "Faketown Surgery",
    )
    (undated,) = problems(by_key(results)["1010"], "case-note-date-missing")
    assert where(undated) == ("FACT_CASENOTES.csv", 4, "EVENT_DTTM")
    assert kept(mo, "FACT_CASENOTES.csv", 4, "CASENOTE_DESC") == ["No date was recorded."]


# --- dirty values ---------------------------------------------------------------------------


def test_dirty_values_are_reported_where_they_are_and_kept(results: list[ReadResult]) -> None:
    result = by_key(results)["1007"]
    found = {(p.code, *where(p)) for p in result.problems if p.location and p.location.column}
    assert {
        ("code-unknown", "DIM_PERSON.csv", 12, "GENDER_MAIN_CODE"),
        ("code-unknown", "DIM_PERSON.csv", 12, "ETHNICITY_MAIN_CODE"),
        ("date-invalid", "DIM_PERSON.csv", 12, "BIRTH_DTTM"),
        ("uprn-invalid", "DIM_PERSON_ADDRESS.csv", 6, "UPRN"),
        ("date-invalid", "DIM_PERSON_ADDRESS.csv", 6, "START_DTTM"),
        ("code-unknown", "FACT_PERSON_RELATION.csv", 10, "DIM_LOOKUP_RELTN_TYPE_CODE"),
        ("boolean-invalid", "FACT_PERSON_RELATION.csv", 10, "LIVES_WITH_FLAG"),
        ("related-person-not-found", "FACT_PERSON_RELATION.csv", 11, "DIM_RELATED_PERSON_ID"),
        ("code-unknown", "FACT_WARNINGS.csv", 3, "DIM_LOOKUP_WARNING_TYPE_CODE"),
        ("code-unknown", "FACT_REFERRALS.csv", 5, "DIM_LOOKUP_CONT_SORC_ID"),
        ("code-unknown", "FACT_REFERRALS.csv", 5, "DIM_LOOKUP_CATEGORY_OF_NEED_CODE"),
        ("code-unknown", "FACT_CP_PLAN.csv", 5, "INIT_CATEGORY_DESC"),
        ("link-not-found", "FACT_CP_PLAN.csv", 5, "FACT_INITIAL_CP_CONFERENCE_ID"),
        ("code-unknown", "FACT_INVOLVEMENTS.csv", 5, "DIM_LOOKUP_INVOLVEMENT_TYPE_CODE"),
        ("worker-not-found", "FACT_INVOLVEMENTS.csv", 5, "DIM_WORKER_ID"),
    } <= found
    tom = record(results, "1007")
    assert kept(tom, "DIM_PERSON.csv", 12, "BIRTH_DTTM") == ["31/02/2015"]
    assert kept(tom, "FACT_CP_PLAN.csv", 5, "INIT_CATEGORY_DESC") == ["Financial"]
    assert tom["child"]["addresses"][0]["postcode"] == "ZZ99 1AB"  # zz991ab, tidied
    cousin, unknown = tom["related_people"]
    # Never dropped: an unknown relationship travels as "other", an unknown alert type too.
    assert (cousin["relationship"], unknown["relationship"]) == ("other", "father")
    assert tom["alerts"][0]["type"] == "other"
    assert tom["alerts"][0]["related_person_ids"] == ["2004"]
    assert tom["professionals"] == [{"id": "W99", "role": "KAZZ", "start_date": "2020-01-01"}]


def test_windows_1252_and_configured_date_formats_are_read(results: list[ReadResult]) -> None:
    (visit,) = record(results, "1003")["chronology"]
    assert visit["date"] == "2022-05-10"  # 10.05.2022, a format the configuration adds
    assert "Siân" in visit["details"]
    assert "café" in visit["details"]
    assert "£2" in visit["details"]


# --- configuration --------------------------------------------------------------------------


def test_without_the_configuration_the_authority_codes_are_unknown_not_guessed() -> None:
    results = read(config=None)
    first = results[0]
    assert problems(first, "source-authority-missing")
    ava = record(results, "1001")
    assert ava["provenance"]["source_authority"] == "unknown"
    assert "referral_source" not in ava["episodes"][0]
    (unknown,) = [p for p in problems(first, "code-unknown") if p.location]
    assert where(unknown) == ("FACT_REFERRALS.csv", 2, "DIM_LOOKUP_CONT_SORC_ID")
    assert kept(ava, "FACT_REFERRALS.csv", 2, "DIM_LOOKUP_CONT_SORC_ID") == ["POL"]
    assert kept(ava, "FACT_CASENOTES.csv", 2, "NOTE_AUTHOR") == ["Priya Fictional"]


def test_a_config_dict_and_a_source_authority_argument() -> None:
    results = read(
        config={"codes": {"gender": {"X": "U"}, "alert_type": {"XYZ": "risk to child"}}},
        source_authority="873",
    )
    tom = record(results, "1007")
    assert tom["provenance"]["source_authority"] == "873"
    assert tom["child"]["sex"] == "U"
    assert tom["alerts"][0]["type"] == "risk_to_child"


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"codes": {"colour": {"R": "red"}}}, "'colour' is not a code list"),
        ({"codes": {"gender": {"X": "Q"}}}, "gender: 'X' -> 'Q' is not one of F, M, U"),
        ({"codes": {"relationship": {"AUNTY": "aunt"}}}, "relationship: 'AUNTY' -> 'aunt'"),
        ({"date_formats": ["%d/%m"]}, "'%d/%m' does not give the day, month and year"),
        ({"renames": {"FACT_NOTHING": {"A": "B"}}}, "renames: no table FACT_NOTHING"),
        ({"colours": ["red"]}, "colours: Extra inputs are not permitted"),
        (["not", "a", "mapping"], "must be a mapping of settings"),
    ],
)
def test_a_wrong_configuration_says_what_is_wrong(config: Any, said: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        LiquidlogicAdapter(CONTEXT, config=config)
    assert said in str(caught.value)
    assert "liquidlogic-lcs" in str(caught.value) or "mapping" in str(caught.value)


def test_a_configuration_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "lcs.yml"
    bad.write_text("codes: [unclosed\n")
    with pytest.raises(ConfigInvalid, match="cannot be read as YAML"):
        LiquidlogicAdapter(CONTEXT, config=bad)


def test_the_adapter_is_registered() -> None:
    assert get_adapter("liquidlogic-lcs") is LiquidlogicAdapter


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "file", "row"),
    [
        (Source.from_files({}), "table-missing", "upload", None),
        (files(FACT_REFERRALS="DIM_PERSON_ID,FACT_REFERRAL_ID\r\n"), "table-missing", "upload", None),
        (files(DIM_PERSON=""), "file-empty", "DIM_PERSON.csv", None),
        (files(DIM_PERSON=PERSON_HEADER), "no-children", "DIM_PERSON.csv", 1),
        (files(DIM_PERSON=PERSON_HEADER + "1,Ann,2015-01-01,N\r\n"), "no-children", "DIM_PERSON.csv", 1),
        (files(DIM_PERSON="DIM_PERSON_ID,FORENAME\r\n1,Ann\r\n"), "columns-missing", "DIM_PERSON.csv", 1),
        (
            files(
                DIM_PERSON=PERSON_HEADER + "1,Ann,2015-01-01,Y\r\n",
                FACT_CP_PLAN="DIM_PERSON_ID,START_DTTM\r\n1,2020-01-01\r\n",
            ),
            "columns-missing",
            "FACT_CP_PLAN.csv",
            1,
        ),
        (files(DIM_PERSON=PERSON_HEADER.encode() + b"1,\x81\x8d,2015-01-01,Y\r\n"), "file-undecodable", "DIM_PERSON.csv", None),
        (
            files(DIM_PERSON=PERSON_HEADER + '1,"' + "x" * 11_000_000 + '",2015-01-01,Y\r\n'),
            "csv-malformed",
            "DIM_PERSON.csv",
            2,
        ),
    ],
    ids=[
        "no-files",
        "no-person-table",
        "empty-person-file",
        "header-only",
        "no-client",
        "no-is-client-column",
        "no-join-column",
        "not-text",
        "field-too-large",
    ],
)  # fmt: skip
def test_unreadable_inputs_are_fatal(source: Source, code: str, file: str, row: int | None) -> None:
    found = fatal_of(source)
    assert found.code == code
    assert found.fix
    assert found.location is not None
    assert (found.location.file, found.location.row) == (file, row)


def test_columns_missing_names_the_file_and_the_column() -> None:
    found = fatal_of(files(DIM_PERSON="DIM_PERSON_ID,FORENAME\r\n1,Ann\r\n"))
    assert "DIM_PERSON.csv" in found.message
    assert "IS_CLIENT" in found.message


def test_a_bom_windows_1252_and_null_are_read() -> None:
    results = read(
        files(
            DIM_PERSON=b"\xef\xbb\xbf" + PERSON_HEADER.encode() + b"7,Ann,NULL,Y\r\n",
            FACT_CASENOTES=b"DIM_PERSON_ID,EVENT_DTTM,CASENOTE_DESC\r\n7,2024-01-02,Ren\xe9e\r\n",
        ),
        config=None,
        source_authority="202",
    )
    rec = record(results, "7")
    assert rec["child"]["names"] == [{"given": "Ann"}]
    assert "birth_date" not in rec["child"]
    assert rec["chronology"][0]["details"] == "Renée"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: st.DataObject) -> None:
    tables = {p.stem: p.read_bytes() for p in FIXTURE.glob("*.csv")}
    name = data.draw(st.sampled_from(sorted(tables)))
    original = tables[name]
    at = data.draw(st.integers(0, len(original)))
    junk = data.draw(
        st.binary(max_size=40) | st.text(alphabet=',"\r\nNULY0-:', max_size=20).map(str.encode)
    )
    tables[name] = original[:at] + junk + original[at:]
    with contextlib.suppress(InputUnreadable):
        read(files(**tables))


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reader = LiquidlogicAdapter(CONTEXT, config=CONFIG).read(Source.from_path(FIXTURE))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())  # the rows wait on disk, not in memory
    reader.close()
    assert not any(tmp_path.iterdir())


# --- nothing lost ---------------------------------------------------------------------------

PERSON_COLUMN = {"DIM_WORKER": "DIM_WORKER_ID"}  # every other table: DIM_PERSON_ID


def cells(folder: Path) -> Iterator[tuple[str, str, int, str, str, dict[str, str]]]:
    """(TABLE, file, row, header, value, row values) for every non-empty cell of the export."""
    for path in sorted(folder.glob("*.csv")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        headers = [h.strip() for h in rows[0]]
        renames = RENAMES.get(path.name.upper(), {})
        columns = [renames.get(h.upper(), h).upper() for h in headers]
        for number, row in enumerate(rows[1:], start=2):
            values = {
                columns[i]: c.strip()
                for i, c in enumerate(row)
                if c.strip() and c.strip().upper() != "NULL"
            }
            for i, column in enumerate(columns):
                if column in values:
                    yield path.stem.upper(), path.name, number, headers[i], values[column], values


def forms(value: str, adapter: LiquidlogicAdapter) -> set[str]:
    """The ways a source value may legitimately appear once mapped."""
    text = value.strip()
    found = {text, text.upper(), text.lower()}
    if (day := parse_date(text)) is not None or ((day := _dotted(text)) is not None):
        found.add(day.isoformat())
    if (postcode := normalise_postcode(text) or normalise_partial_postcode(text)) is not None:
        found.add(postcode)
    if (flag := parse_bool(text)) is not None:
        found |= {str(flag).lower(), "transfer_in" if flag else "initial"}
    for mapping in adapter.codes.values():
        if text.upper() in mapping:
            found.add(mapping[text.upper()])
    if text.upper() in adapter.confidential_types:
        found.add("true")  # the address type that marks an address confidential
    return {f.lower() for f in found}


def _dotted(text: str) -> dt.date | None:
    with contextlib.suppress(ValueError):
        return dt.datetime.strptime(text, "%d.%m.%Y").date()
    return None


def leaves(node: Any, path: str) -> Iterator[Any]:
    if not path:
        yield node
        return
    head, _, rest = path.partition(".")
    name, many = head.removesuffix("[]"), head.endswith("[]")
    node = node.get(name) if isinstance(node, dict) else None
    if node is None:
        return
    for item in node if many and isinstance(node, list) else [node]:
        yield from leaves(item, rest)


def appears(
    value: str, paths: str, records: list[dict[str, Any]], adapter: LiquidlogicAdapter
) -> bool:
    wanted = forms(value, adapter)
    for path in paths.split("|"):
        inside = path.endswith("~")
        for rec in records:
            for leaf in leaves(rec, path.removesuffix("~")):
                said = leaf.lower() if isinstance(leaf, str) else json.dumps(leaf).lower()
                if said in wanted or (inside and any(w in said for w in wanted)):
                    return True
    return False


def lost_values(folder: Path, results: list[ReadResult]) -> list[str]:
    """Every source value neither mapped into its declared field nor kept where it came from."""
    adapter = LiquidlogicAdapter(CONTEXT, config=CONFIG)
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    everyone = list(records.values())
    skipped = [p for r in results if r.skipped for p in r.problems]
    notices = {p.code for p in results[0].problems}
    clients = {
        v["DIM_PERSON_ID"]
        for t, *_, v in cells(folder)
        if t == "DIM_PERSON" and v.get("IS_CLIENT") == "Y"
    }
    involved = {v.get("DIM_WORKER_ID") for t, *_, v in cells(folder) if t == "FACT_INVOLVEMENTS"}
    lost = []
    for table, file, number, header, value, row in cells(folder):
        column = header.upper()
        column = RENAMES.get(file.upper(), {}).get(column, column)
        if table not in MAPPING:  # a table the adapter does not read is left alone
            if any(u["location"]["file"] == file for rec in everyone for u in rec["unmapped"]):
                lost.append(f"{file}: read although the adapter does not read it")
            continue
        if any(
            u["value"] == value
            and (u["location"]["file"], u["location"].get("row"), u["location"].get("column"))
            == (file, number, header)
            for rec in everyone
            for u in rec["unmapped"]
        ):
            continue
        if any(
            p.location
            and (p.location.file, p.location.row) == (file, number)
            and f"{header}={value!r}" in p.message
            for p in skipped
        ):
            continue
        person = row.get(PERSON_COLUMN.get(table, "DIM_PERSON_ID"))
        if table == "DIM_WORKER" and person not in involved:
            if "workers-not-involved" not in notices:
                lost.append(f"{file}:{number}:{header}={value!r} (unreported idle worker)")
            continue
        relative = table != "DIM_WORKER" and person not in clients
        carried = table == "DIM_PERSON_ADDRESS" or (
            table == "DIM_PERSON" and column in RELATIVE_COLUMNS
        )
        if relative and not carried:
            if "people-not-children" not in notices:
                lost.append(f"{file}:{number}:{header}={value!r} (unreported relative)")
            continue
        paths = MAPPING[table].get(column)
        if paths is not None and paths.startswith("("):
            continue  # it steers the reading; the record's shape says it
        mine = [records[person]] if person in records and not relative else everyone
        if paths is None or not appears(value, paths, mine, adapter):
            lost.append(f"{file}:{number}:{header}={value!r}")
    return lost


def test_nothing_is_lost(results: list[ReadResult]) -> None:
    assert sum(1 for _ in cells(FIXTURE)) > 500
    assert sum(1 for t, *_ in cells(FIXTURE) if t not in MAPPING) == 2  # FACT_903_DATA, left alone
    assert lost_values(FIXTURE, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def dropped(change: Any, key: str) -> list[str]:
        results = read()
        for r in results:
            if r.key == key and r.record is not None:
                change(r.record)
        return lost_values(FIXTURE, results)

    def forget_relationship_id(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "R2"]

    assert dropped(forget_relationship_id, "1001") == [
        "FACT_PERSON_RELATION.csv:3:FACT_PERSON_RELATION_ID='R2'"
    ]

    def forget_plan_end(rec: Any) -> None:
        rec.episodes[0].cp_plans[0].end_date = None

    assert dropped(forget_plan_end, "1010") == [
        "FACT_CP_PLAN.csv:3:END_DTTM='2020-05-01 00:00:00.000'"
    ]

    def forget_mothers_birth_date(rec: Any) -> None:
        rec.related_people[0].birth_date = None

    assert dropped(forget_mothers_birth_date, "1001") == [
        "DIM_PERSON.csv:3:BIRTH_DTTM='1990-07-02 00:00:00.000'",
        "FACT_PERSON_RELATION.csv:2:DIM_RELATED_PERSON_DOB='1990-07-02 00:00:00.000'",
    ]


def test_every_mapped_column_is_documented() -> None:
    from exchange.adapters import liquidlogic

    doc = liquidlogic.__doc__ or ""
    assert [f"{t}.{c}" for t, cols in MAPPING.items() for c in cols if c not in doc] == []
