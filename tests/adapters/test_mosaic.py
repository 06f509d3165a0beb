"""The Mosaic adapter: what a receiving authority sees when a Mosaic warehouse dump is read.

The fixture (tests/fixtures/mosaic/) is a synthetic DM_*/MO_* dump of fictional people, dirty on
purpose (see its README.txt): a BOM, Oracle dates, a Windows-1252 file, a repeated person, a
duplicate merged through a DUPLICATE relationship, unknown codes and bad dates, rows naming
nobody, a table the adapter does not read. The tests look at the records and problems a user
would see, and check that every source value is either in the record or kept unmapped.
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
from exchange.adapters.liquidlogic import ConfigInvalid
from exchange.adapters.mosaic import IDENTIFIER_TYPES, MAPPING, MosaicAdapter
from exchange.adapters.values import parse_bool, parse_date
from exchange.authorities import load_registry
from exchange.canonical import Problem, RuleContext
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mosaic"
CONFIG = FIXTURE / "config" / "mosaic.yml"
CONTEXT = RuleContext(
    today=dt.date(2026, 11, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
PERSON_HEADER = "PERSON_ID,FIRST_NAMES,DATE_OF_BIRTH\r\n"
REFERRAL_HEADER = "REFERRAL_ID,PERSON_ID,REFERRAL_DATE\r\n"
RENAMES = {"DM_WARNINGS.CSV": {"WARNING_NOTE": "NOTE"}}  # as config/mosaic.yml says
PERSON_COLUMN = {"MO_SUBJECT_REFERENCES": "SUBJECT_COMPOUND_ID", "DM_WORKERS": "WORKER_ID"}
RELATIVE_COLUMNS = {"PERSON_ID", "FIRST_NAMES", "LAST_NAME", "GENDER", "DATE_OF_BIRTH", "UPN_ID"}


def read(
    source: Source | Path = FIXTURE, config: Path | dict[str, Any] | None = CONFIG, **kw: Any
) -> list[ReadResult]:
    if isinstance(source, Path):
        source = Source.from_path(source)
    return list(MosaicAdapter(CONTEXT, config=config, **kw).read(source))


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


@pytest.fixture(scope="module")
def results() -> list[ReadResult]:
    return read()


# --- who becomes a record -------------------------------------------------------------------


def test_one_record_per_person_with_a_case_then_rows_naming_nobody(
    results: list[ReadResult],
) -> None:
    assert [r.key for r in results] == [
        "50001", "50005", "50006", "50008", "50009", "50010", "50012", None,
    ]  # fmt: skip
    (missing,) = problems(results[-1], "person-not-found")
    assert where(missing) == ("dm_cin_referrals.csv", 9, None)
    assert "'99999'" in missing.message
    assert "R99" in missing.message


def test_records_pass_validation_except_the_dirty_ones(results: list[ReadResult]) -> None:
    with_errors = {r.key for r in results if r.record is not None and r.has_errors}
    # 50005 carries a former UPN whose check letter is wrong: the rules say so.
    assert with_errors == {"50005", "50010"}
    (upn,) = problems(by_key(results)["50005"], "upn-check-letter")
    assert upn.pointer == "/child/identifiers/2/value"


def test_whole_export_notices_ride_with_the_first_result_once(results: list[ReadResult]) -> None:
    first = results[0]
    (extra,) = problems(first, "columns-extra")
    assert where(extra) == ("dm_cin_referrals.csv", 1, "EXTRA_COLUMN")
    (others,) = problems(first, "people-not-children")
    assert others.message.startswith("5 people in dm_persons have no referral")
    assert "DM_PERSONAL_RELATIONSHIPS.csv: 1" in others.message  # the mother's own row
    (idle,) = problems(first, "workers-not-involved")
    assert idle.message.startswith("1 DM_WORKERS rows")
    assert not any(problems(r, "people-not-children") for r in results[1:])


# --- the same child as in the Liquidlogic fixture ---------------------------------------------


def test_ava_identity_addresses_and_alert(results: list[ReadResult]) -> None:
    ava = record(results, "50001")
    child = ava["child"]
    assert child["identifiers"] == [
        {"system": "la_child_id", "value": "50001", "issuer": "202"},
        {
            "system": "upn",
            "value": "F202123456781",
        },  # once, though MO_SUBJECT_REFERENCES repeats it
    ]
    assert (child["birth_date"], child["sex"], child["ethnicity"]) == ("2016-03-14", "F", "WBRI")
    current = child["addresses"][1]
    assert current == {
        "id": "AD2",
        "lines": ["1 Example Street"],
        "town": "Testtown",
        "postcode": "TE1 1ST",
        "start_date": "2025-08-01",
        "confidential": True,
        "not_to_be_disclosed_to": ["50004"],
    }
    (alert,) = ava["alerts"]
    assert (alert["type"], alert["not_to_be_disclosed_to"]) == (
        "do_not_disclose_address",
        ["50004"],
    )
    assert alert["details"] == "Ray Testchild must not learn where Ava and her mother now live."


def test_relationships_read_from_mosaic_descriptions(results: list[ReadResult]) -> None:
    ava = record(results, "50001")
    assert [(p["id"], p["relationship"]) for p in ava["related_people"]] == [
        ("50002", "mother"),  # "Daughter : Mother"
        ("50003", "sibling"),  # "Sister : Brother"
        ("50004", "father"),
    ]
    mother = ava["related_people"][0]
    assert (
        mother["birth_date"],
        mother["parental_responsibility"],
        mother["lives_with_child"],
    ) == (
        "1990-07-02",  # 02-JUL-90, an Oracle date
        True,
        True,
    )


def test_ava_case(results: list[ReadResult]) -> None:
    ava = record(results, "50001")
    assert ava["episodes"] == [
        {
            "id": "R1",
            "referral_date": "2025-09-01",
            "referral_source": "6",
            "primary_need": "N1",
            "referral_no_further_action": False,
            "cp_plans": [
                {
                    "id": "G1",
                    "start_date": "2025-10-06",
                    "initial_category": "NEG",  # the category starting with the plan
                    "latest_category": "EMO",  # the one in force today
                }
            ],
        }
    ]
    # The first category's end is no date of the plan: kept.
    assert kept(ava, "DM_REGISTRATION_CATEGORIES.csv", 2, "CATEGORY_END_DATE") == ["09-FEB-26"]
    (worker,) = ava["professionals"]
    assert (worker["name"], worker["role"], worker["is_lead"]) == (
        "Priya Fictional",
        "Allocated social worker",
        True,
    )


# --- merged duplicates, families, dates -----------------------------------------------------


def test_a_duplicate_is_folded_into_the_surviving_child(results: list[ReadResult]) -> None:
    result = by_key(results)["50005"]
    (merged,) = problems(result, "person-merged")
    assert where(merged) == ("dm_persons.csv", 12, "PERSON_ID")
    noah = record(results, "50005")
    # The duplicate's referral and address are read as Noah's.
    assert [e["id"] for e in noah["episodes"]] == ["R5", "R11"]
    assert [a["id"] for a in noah["child"]["addresses"]] == ["AD4", "AD7"]
    # Their own details that differ from Noah's are kept, the same ones are not repeated.
    assert kept(noah, "dm_persons.csv", 12, "DATE_OF_BIRTH") == ["02-JUN-14"]
    assert kept(noah, "dm_persons.csv", 12, "FIRST_NAMES") == []
    assert kept(noah, "dm_persons.csv", 12, "PERSON_ID") == ["50011"]
    # The DUPLICATE relationship itself is kept, not read as a relative.
    assert {p["id"] for p in noah["related_people"]} == {"50006", "50007"}
    assert kept(noah, "DM_PERSONAL_RELATIONSHIPS.csv", 10, "RELATIONSHIP_TYPE") == ["DUPLICATE"]


def test_siblings_sharing_a_mother(results: list[ReadResult]) -> None:
    noah, isla = record(results, "50005"), record(results, "50006")
    zara = [next(p for p in r["related_people"] if p["id"] == "50007") for r in (noah, isla)]
    assert zara[0] == zara[1]
    assert zara[0]["addresses"][0]["lines"] == ["Flat 3", "Fiction House", "5 Nowhere Lane"]
    assert isla["child"]["identifiers"][-1] == {"system": "other", "value": "SCN-4471"}
    assert kept(isla, "MO_SUBJECT_REFERENCES.csv", 5, "REFERENCE_TYPE_CODE") == ["SCN"]
    (twice,) = problems(by_key(results)["50006"], "person-duplicate")
    assert where(twice) == ("dm_persons.csv", 15, "PERSON_ID")
    assert kept(isla, "dm_persons.csv", 15, "LAST_NAME") == ["Fake-name"]


def test_unborn_and_estimated_birth_dates(results: list[ReadResult]) -> None:
    unborn = record(results, "50008")["child"]
    assert unborn["expected_birth_date"] == "2027-01-20"  # after today: expected
    assert "birth_date" not in unborn
    estimated = record(results, "50009")["child"]
    assert (estimated["birth_date"], estimated["birth_date_precision"]) == (
        "2024-05-01",
        "estimated",
    )
    nfa = record(results, "50009")
    assert nfa["episodes"][0]["referral_no_further_action"] is True
    assert kept(nfa, "dm_cin_referrals.csv", 11, "NFA_DATE") == ["03-JUN-26"]


# --- plans and care -------------------------------------------------------------------------


def test_several_categories_mean_mul_and_a_temporary_plan_is_another_authoritys(
    results: list[ReadResult],
) -> None:
    mo = record(results, "50012")
    closed, current = mo["episodes"]
    assert closed["cp_plans"] == [
        {
            "id": "G12A",
            "start_date": "2019-04-10",
            "end_date": "2020-05-01",
            "initial_category": "PHY",
            "latest_category": "PHY",
        }
    ]
    assert current["cp_plans"] == [
        {
            "id": "G12B",
            "start_date": "2023-02-20",
            "initial_category": "MUL",
            "latest_category": "MUL",
            "other_local_authority": True,
        }
    ]
    assert kept(mo, "DM_REGISTRATION_CATEGORIES.csv", 5, "CIN_ABUSE_CATEGORY_CODE") == ["SAB"]
    assert kept(mo, "DM_REGISTRATION_CATEGORIES.csv", 6, "CIN_ABUSE_CATEGORY_CODE") == ["NEG"]
    # Another register (not child protection) is not a plan: kept, with its category.
    assert kept(mo, "DM_REGISTRATIONS.csv", 5, "REGISTRATION_ID") == ["G12C"]
    assert kept(mo, "DM_REGISTRATION_CATEGORIES.csv", 9, "CIN_ABUSE_CATEGORY_CODE") == ["NEG"]


def test_a_period_of_care_is_cut_at_each_legal_or_placement_change(
    results: list[ReadResult],
) -> None:
    episodes = record(results, "50012")["episodes"][0]["looked_after_episodes"]
    assert [
        (e["id"], e["start_date"], e["end_date"], e["reason_new_episode"], e["legal_status"])
        for e in episodes
    ] == [
        ("POC1-1", "2020-01-10", "2020-03-01", "S", "V2"),
        ("POC1-2", "2020-03-01", "2020-04-15", "P", "V2"),
        ("POC1-3", "2020-04-15", "2020-06-30", "L", "C1"),
    ]
    assert episodes[1]["placement"] == {
        "id": "PL2",
        "start_date": "2020-03-01",
        "end_date": "2020-06-30",
        "placement_type": "U3",
        "provider": "Other Fosterer",
        "postcode": "ZZ99 6AA",
        "urn": "SC123456",
        "change_reason": "CHILD",
    }
    assert episodes[-1]["reason_episode_ceased"] == "E13"
    assert {e["category_of_need"] for e in episodes} == {"N1"}
    (orphan,) = problems(by_key(results)["50012"], "link-not-found")
    assert where(orphan) == ("DM_LEGAL_STATUSES.csv", 4, "PERIOD_OF_CARE_ID")


def test_the_same_carer_changing_placement_is_t() -> None:
    results = read(
        files(
            dm_persons=PERSON_HEADER + "1,Kim,2015-01-01\r\n",
            DM_PERIODS_OF_CARE="PERIOD_OF_CARE_ID,PERSON_ID,START_DATE\r\nP,1,2020-01-01\r\n",
            DM_LEGAL_STATUSES="PERSON_ID,PERIOD_OF_CARE_ID,LEGAL_STATUS,START_DATE\r\n"
            "1,P,C2,2020-01-01\r\n1,P,E1,2020-05-01\r\n",
            DM_PLACEMENTS="PLACEMENT_ID,PERSON_ID,PERIOD_OF_CARE_ID,START_DATE,END_DATE,CARER_ID\r\n"
            "A,1,P,2020-01-01,2020-03-01,K\r\nB,1,P,2020-03-01,,K\r\nC,1,P,2020-05-01,,Z\r\n",
        ),
        config=None,
        source_authority="202",
    )
    episodes = record(results, "1")["episodes"][0]["looked_after_episodes"]
    assert [e["reason_new_episode"] for e in episodes] == ["S", "T", "B"]


def test_confidential_address_type_adds_an_alert(results: list[ReadResult]) -> None:
    mo = record(results, "50012")
    assert mo["child"]["addresses"][0]["confidential"] is True  # ADDRESS_TYPE CONF
    assert [a["type"] for a in mo["alerts"]] == ["do_not_disclose_address"]
    assert [p["role"] for p in mo["professionals"]] == [
        "Allocated social worker",
        "Independent reviewing officer",
    ]
    assert mo["child"]["identifiers"][-1] == {"system": "nhs_number", "value": "4010232137"}
    assert kept(mo, "MO_SUBJECT_REFERENCES.csv", 6, "SUBJECT_TYPE_CODE") == ["ORG"]


# --- dirty values ---------------------------------------------------------------------------


def test_dirty_values_are_reported_where_they_are_and_kept(results: list[ReadResult]) -> None:
    result = by_key(results)["50010"]
    found = {(p.code, *where(p)) for p in result.problems if p.location and p.location.column}
    assert {
        ("code-unknown", "dm_persons.csv", 11, "GENDER"),
        ("code-unknown", "dm_persons.csv", 11, "FULL_ETHNICITY_CODE"),
        ("date-invalid", "dm_persons.csv", 11, "DATE_OF_BIRTH"),
        ("boolean-invalid", "dm_persons.csv", 11, "DATE_OF_BIRTH_ESTIMATED"),
        ("uprn-invalid", "DM_ADDRESSES.csv", 6, "UPRN"),
        ("date-invalid", "DM_ADDRESSES.csv", 6, "START_DATE"),
        ("code-unknown", "DM_PERSONAL_RELATIONSHIPS.csv", 11, "RELATIONSHIP_TYPE"),
        ("boolean-invalid", "DM_PERSONAL_RELATIONSHIPS.csv", 11, "LIVES_WITH"),
        ("related-person-not-found", "DM_PERSONAL_RELATIONSHIPS.csv", 12, "OTHER_PERSON_ID"),
        ("code-unknown", "DM_WARNINGS.csv", 3, "WARNING_TYPE"),
        ("code-unknown", "dm_cin_referrals.csv", 6, "SOURCE_OF_REFERRAL"),
        ("code-unknown", "dm_cin_referrals.csv", 6, "PRIMARY_NEED_CODE"),
        ("code-unknown", "DM_REGISTRATION_CATEGORIES.csv", 7, "CIN_ABUSE_CATEGORY_CODE"),
        ("link-not-found", "DM_REGISTRATION_CATEGORIES.csv", 8, "REGISTRATION_ID"),
        ("code-unknown", "DM_ALLOCATED_WORKERS.csv", 5, "ALLOCATION_TYPE"),
        ("worker-not-found", "DM_ALLOCATED_WORKERS.csv", 5, "WORKER_ID"),
    } <= found
    tom = record(results, "50010")
    assert kept(tom, "dm_persons.csv", 11, "DATE_OF_BIRTH") == ["31-FEB-15"]
    address = tom["child"]["addresses"][0]
    # The address as one text, split at its commas; the postcode tidied.
    assert (address["lines"], address["postcode"]) == (["7 Muddle Street", "Faketown"], "ZZ99 1AB")
    godparent, father = tom["related_people"]
    assert (godparent["relationship"], father["relationship"]) == ("other", "father")
    assert (tom["alerts"][0]["type"], tom["alerts"][0]["related_person_ids"]) == (
        "other",
        ["50013"],
    )


def test_windows_1252_and_configured_renames_and_formats(results: list[ReadResult]) -> None:
    (visit,) = record(results, "50005")["chronology"]
    assert visit["date"] == "2022-05-10"  # 10.05.2022, a format the configuration adds
    assert "Siân" in visit["details"]
    assert "£2" in visit["details"]
    ava = record(results, "50001")
    assert ava["alerts"][0]["details"]  # WARNING_NOTE, renamed NOTE by the configuration


# --- configuration and bad input ------------------------------------------------------------


def test_without_the_configuration_local_ethnicity_codes_are_unknown() -> None:
    results = read(config=None)
    ava = record(results, "50001")
    assert "ethnicity" not in ava["child"]
    assert kept(ava, "dm_persons.csv", 2, "FULL_ETHNICITY_CODE") == ["A1"]
    assert problems(results[0], "source-authority-missing")


def test_a_wrong_configuration_says_what_is_wrong() -> None:
    with pytest.raises(
        ConfigInvalid, match="mosaic configuration: codes: 'sex' is not a code list"
    ):
        MosaicAdapter(CONTEXT, config={"codes": {"sex": {"M": "M"}}})
    with pytest.raises(ConfigInvalid, match="renames: no table DIM_PERSON"):
        MosaicAdapter(CONTEXT, config={"renames": {"DIM_PERSON": {"A": "B"}}})


def test_the_adapter_is_registered() -> None:
    assert get_adapter("mosaic") is MosaicAdapter


def test_duplicates_in_a_circle_are_not_merged() -> None:
    relationships = (
        "PERSON_ID,OTHER_PERSON_ID,RELATIONSHIP_TYPE\r\n1,2,DUPLICATE\r\n2,1,Duplicate\r\n"
    )
    results = read(
        files(
            dm_persons=PERSON_HEADER + "1,Ann,2015-01-01\r\n2,Ann,2015-01-01\r\n",
            dm_cin_referrals=REFERRAL_HEADER + "R1,1,2024-01-01\r\nR2,2,2024-02-01\r\n",
            DM_PERSONAL_RELATIONSHIPS=relationships,
        ),
        config=None,
        source_authority="202",
    )
    assert [r.key for r in results] == ["1", "2"]
    assert [p.code for p in results[0].problems if "duplicate" in p.code] == ["duplicate-cycle"]


def test_a_duplicate_of_someone_not_exported_stays_a_person() -> None:
    results = read(
        files(
            dm_persons=PERSON_HEADER + "2,Ann,2015-01-01\r\n",
            dm_cin_referrals=REFERRAL_HEADER + "R2,2,2024-02-01\r\n",
            DM_PERSONAL_RELATIONSHIPS="PERSON_ID,OTHER_PERSON_ID,RELATIONSHIP_TYPE\r\n9,2,DUPLICATE\r\n",
        ),
        config=None,
        source_authority="202",
    )
    assert [r.key for r in results] == ["2", None]
    (lost,) = problems(results[0], "merged-survivor-not-found")
    assert where(lost) == ("DM_PERSONAL_RELATIONSHIPS.csv", 2, "PERSON_ID")
    assert problems(results[1], "person-not-found")  # the relationship row of person 9


@pytest.mark.parametrize(
    ("source", "code", "file"),
    [
        (Source.from_files({}), "table-missing", "upload"),
        (files(dm_persons=""), "file-empty", "dm_persons.csv"),
        (files(dm_persons=PERSON_HEADER + "1,Ann,2015-01-01\r\n"), "no-children", "dm_persons.csv"),
        (files(dm_persons="FIRST_NAMES\r\nAnn\r\n"), "columns-missing", "dm_persons.csv"),
        (
            files(dm_persons=PERSON_HEADER + "1,Ann,2015-01-01\r\n", DM_REGISTRATIONS="PERSON_ID\r\n1\r\n"),
            "columns-missing",
            "DM_REGISTRATIONS.csv",
        ),
        (files(dm_persons=PERSON_HEADER.encode() + b"1,\x81\x8d,2015\r\n"), "file-undecodable", "dm_persons.csv"),
    ],
    ids=["no-files", "empty", "no-case", "no-person-id", "no-plan-flag", "not-text"],
)  # fmt: skip
def test_unreadable_inputs_are_fatal(source: Source, code: str, file: str) -> None:
    with pytest.raises(InputUnreadable) as caught:
        read(source)
    assert caught.value.problem.code == code
    assert caught.value.problem.location is not None
    assert caught.value.problem.location.file == file


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
    reader = MosaicAdapter(CONTEXT, config=CONFIG).read(Source.from_path(FIXTURE))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())
    reader.close()
    assert not any(tmp_path.iterdir())


# --- nothing lost ---------------------------------------------------------------------------


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


def forms(value: str, adapter: MosaicAdapter) -> set[str]:
    """The ways a source value may legitimately appear once mapped."""
    text = value.strip()
    found = {text, text.upper(), text.lower()}
    day = parse_date(text)
    with contextlib.suppress(ValueError):
        day = day or dt.datetime.strptime(text, "%d.%m.%Y").date()
    if day is not None:
        found.add(day.isoformat())
    if (postcode := normalise_postcode(text) or normalise_partial_postcode(text)) is not None:
        found.add(postcode)
    if (flag := parse_bool(text)) is not None:
        found |= {str(flag).lower(), "estimated" if flag else "day"}
    for key in (text.upper(), text.upper().rsplit(":", 1)[-1].strip()):
        for mapping in adapter.codes.values():
            if key in mapping:
                found.add(mapping[key])
    if text.upper() in adapter.confidential_types:
        found.add("true")
    if text.upper() in IDENTIFIER_TYPES:
        found.add(IDENTIFIER_TYPES[text.upper()])
    return {f.lower() for f in found}


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


def appears(value: str, paths: str, records: list[dict[str, Any]], adapter: MosaicAdapter) -> bool:
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
    adapter = MosaicAdapter(CONTEXT, config=CONFIG)
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    everyone = list(records.values())
    skipped = [p for r in results if r.skipped for p in r.problems]
    notices = {p.code for p in results[0].problems}
    mapping = {t.upper(): columns for t, columns in MAPPING.items()}
    involved = {v.get("WORKER_ID") for t, *_, v in cells(folder) if t == "DM_ALLOCATED_WORKERS"}
    merged = {"50011"}  # folded into 50005: their rows are read as his
    lost = []
    for table, file, number, header, value, row in cells(folder):
        column = RENAMES.get(file.upper(), {}).get(header.upper(), header.upper())
        if table not in mapping:  # a table the adapter does not read is left alone
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
        person = row.get(PERSON_COLUMN.get(table, "PERSON_ID"))
        if table == "DM_WORKERS" and person not in involved:
            if "workers-not-involved" not in notices:
                lost.append(f"{file}:{number}:{header}={value!r} (unreported idle worker)")
            continue
        relative = table != "DM_WORKERS" and person not in records and person not in merged
        carried = table == "DM_ADDRESSES" or (table == "DM_PERSONS" and column in RELATIVE_COLUMNS)
        if relative and not carried:
            if "people-not-children" not in notices:
                lost.append(f"{file}:{number}:{header}={value!r} (unreported relative)")
            continue
        paths = mapping[table].get(column)
        if paths is not None and paths.startswith("("):
            continue  # it steers the reading; the record's shape says it
        mine = [records[person]] if person in records else everyone
        parts = value.split(",") if column == "ADDRESS" else [value]  # one text, split at commas
        if paths is None or not all(appears(p.strip(), paths, mine, adapter) for p in parts):
            lost.append(f"{file}:{number}:{header}={value!r}")
    return lost


def test_nothing_is_lost(results: list[ReadResult]) -> None:
    assert sum(1 for _ in cells(FIXTURE)) > 500
    assert sum(1 for t, *_ in cells(FIXTURE) if t == "DM_DISABILITIES") == 2  # left alone
    assert lost_values(FIXTURE, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def dropped(change: Any, key: str) -> list[str]:
        results = read()
        for r in results:
            if r.key == key and r.record is not None:
                change(r.record)
        return lost_values(FIXTURE, results)

    def forget_mul_category(rec: Any) -> None:
        rec.unmapped[:] = [u for u in rec.unmapped if u.value != "SAB"]

    assert dropped(forget_mul_category, "50012") == [
        "DM_REGISTRATION_CATEGORIES.csv:5:CIN_ABUSE_CATEGORY_CODE='SAB'"
    ]

    def forget_folded_referral(rec: Any) -> None:
        rec.episodes.pop()

    assert "dm_cin_referrals.csv:5:REFERRAL_ID='R11'" in dropped(forget_folded_referral, "50005")

    def forget_placement_urn(rec: Any) -> None:
        for episode in rec.episodes[0].looked_after_episodes:
            if episode.placement is not None:
                episode.placement.urn = None

    assert dropped(forget_placement_urn, "50012") == ["DM_PLACEMENTS.csv:3:OFSTED_URN='SC123456'"]


def test_every_mapped_column_is_documented() -> None:
    from exchange.adapters import mosaic

    doc = mosaic.__doc__ or ""
    assert [f"{t}.{c}" for t, cols in MAPPING.items() for c in cols if c not in doc] == []
