"""The Annex A adapter: an Ofsted Annex A workbook in, one canonical record per child out.

Fixtures (tests/fixtures/annex_a/, written by make_fixtures.py there) are synthetic: ``full``
has every list, dirty the way real returns are; ``partial`` has two lists, one recognised only
by its header row under a title. Small workbooks for single behaviours are built in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import InputUnreadable, ReadResult, Source, get_adapter
from exchange.adapters.annex_a import LISTS, MAPPED_COLUMNS, AnnexAAdapter
from exchange.canonical import RuleContext, Severity

FIXTURES = Path(__file__).parent.parent / "fixtures" / "annex_a"
FULL, PARTIAL = FIXTURES / "annex_a_full.xlsx", FIXTURES / "annex_a_partial.xlsx"
CONTEXT = RuleContext(
    today=dt.date(2024, 3, 31),
    is_known_authority=lambda code: code in {"202", "873"},
    known_dfe_codes=frozenset({"202", "873"}),
)
NBSP = "\u00a0"


def read(path: Path | Source, **kwargs: Any) -> list[ReadResult]:
    source = path if isinstance(path, Source) else Source.from_path(path)
    return list(AnnexAAdapter(CONTEXT, **kwargs).read(source))


def by_key(results: list[ReadResult]) -> dict[str, ReadResult]:
    return {r.key: r for r in results if r.key is not None}


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = by_key(results)[key].record
    assert found is not None
    dumped: dict[str, Any] = found.model_dump(mode="json")
    return dumped


def where(result: ReadResult, code: str) -> list[tuple[str | None, int | None, str | None]]:
    return [
        (p.location.sheet, p.location.row, p.location.column)
        for p in result.problems
        if p.code == code and p.location is not None
    ]


def unmapped(rec: dict[str, Any]) -> dict[tuple[str, int, str], tuple[str, str]]:
    return {
        (u["location"]["sheet"], u["location"]["row"], u["location"]["column"]): (
            u["value"],
            u["reason"],
        )
        for u in rec["unmapped"]
    }


def workbook(sheets: dict[str, list[list[Any]]]) -> Source:
    """A small workbook held in memory."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return Source.from_bytes(out.getvalue(), "return.xlsx")


REFERRALS = [
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age of Child (Years)",
    "Date of referral",
    "Referral Source",
    "Referral NFA?",
]


# --- one child, every list ----------------------------------------------------------------------


def test_lists_are_folded_into_one_record_per_child() -> None:
    results = read(FULL, source_authority="202")
    assert sorted(by_key(results)) == ["900002", "TST001", "TST003", "TST004", "TST005", "TST006"]
    rec = record(results, "TST001")
    child = rec["child"]
    assert child["identifiers"] == [{"system": "la_child_id", "value": "TST001", "issuer": "202"}]
    assert (child["sex"], child["ethnicity"], child["birth_date"]) == ("F", "WBRI", "2015-01-25")
    assert child["disabilities"] == ["NONE"]
    (episode,) = rec["episodes"]
    # list 3 opened it; list 6 (same start date) gave the need; lists 4, 5, 7 fell in by date
    assert episode["referral_date"] == "2023-04-03"
    assert episode["referral_source"] == "3D"
    assert episode["referral_no_further_action"] is False
    assert episode["primary_need"] == "N1"
    assert [(a["start_date"], a["authorisation_date"]) for a in episode["assessments"]] == [
        ("2023-04-05", "2023-05-10")
    ]
    (enquiry,) = episode["section47_enquiries"]
    assert (enquiry["start_date"], enquiry["initial_conference_date"]) == (
        "2023-04-10",
        "2023-04-28",
    )
    assert enquiry["initial_conference_not_required"] is False
    assert [(c["type"], c["date"], c["led_to_cp_plan"]) for c in episode["conferences"]] == [
        ("initial", "2023-04-28", True)
    ]
    (plan,) = episode["cp_plans"]
    assert (plan["start_date"], plan["initial_category"], plan["latest_category"]) == (
        "2023-04-28",
        "PHY",
        "EMO",
    )
    assert plan["number_of_previous_plans"] == 1
    assert plan["review_dates"] == ["2023-07-20"]
    assert plan["visits"] == [{"date": "2023-12-04", "seen": None, "seen_alone": True}]
    assert [a["type"] for a in rec["alerts"]] == ["court_order"]
    assert [(c["date"], c["category"], c["summary"], c["source"]) for c in rec["chronology"]] == [
        ("2022-06-01", "assessment", "Early help assessment started", "Early Help Locality 9"),
        ("2022-07-15", "assessment", "Early help assessment completed", "Early Help Locality 9"),
        ("2023-03-30", "referral", "Contact received", "6: Police"),
        ("2023-11-20", "visit", "Child last seen (child in need)", None),
    ]


def test_allocated_workers_become_professionals_with_their_names_tidied() -> None:
    rec = record(read(FULL, source_authority="202"), "TST001")
    people = [(p["role"], p["name"], p["organisation"]) for p in rec["professionals"]]
    assert people == [
        ("allocated social worker", "Ada Example", "Referral and Assessment Team"),
        ("allocated social worker", "Cy Sample", "Safeguarding Unit 2"),
    ]
    leaver = record(read(FULL, source_authority="202"), "TST006")
    assert ("personal advisor", "Hal Pretend") in [
        (p["role"], p["name"]) for p in leaver["professionals"]
    ]


def test_children_in_care_become_a_looked_after_episode_an_alert_and_chronology() -> None:
    rec = record(read(FULL, source_authority="202"), "TST004")
    (episode,) = rec["episodes"]
    (care,) = episode["looked_after_episodes"]
    assert (care["legal_status"], care["category_of_need"], care["start_date"]) == (
        "E1",
        "N1",
        "2022-11-02",
    )
    placement = care["placement"]
    assert (placement["placement_type"], placement["provider"], placement["postcode"]) == (
        "U6",
        "PR4",
        "ZZ99 9ZZ",
    )
    (alert,) = rec["alerts"]
    assert (alert["type"], alert["severity"]) == ("missing", "high")
    assert "2 times" in alert["summary"]
    assert "offered: yes" in alert["details"]
    assert "accepted: no" in alert["details"]
    dated = {(c["date"], c["summary"]) for c in rec["chronology"]}
    assert ("2021-08-06", "Started to be looked after") in dated
    assert ("2022-07-12", "Legal status E1 (Placement order granted) began") in dated
    assert ("2022-07-12", "Placement order") in dated  # from list 10
    assert rec["child"]["immigration_status"]["uasc"] is False


def test_numeric_child_ids_join_whether_int_or_float() -> None:
    results = read(FULL, source_authority="202")
    rec = record(results, "900002")  # int 900002 in list 1, float 900002.0 in list 3
    assert rec["chronology"][0]["source"] == "1B: Individual"
    assert rec["episodes"][0]["referral_date"] == "2023-09-04"
    assert rec["episodes"][0]["referral_no_further_action"] is True


def test_the_adapter_is_registered() -> None:
    assert get_adapter("annex-a") is AnnexAAdapter


# --- dirty values -------------------------------------------------------------------------------


def test_formulas_and_spreadsheet_errors_are_kept_never_read() -> None:
    results = by_key(read(FULL, source_authority="202"))
    tst004 = results["TST004"]
    assert where(tst004, "cell-formula") == [
        ("List 10", 2, "Date of Decision that Child Should be Placed for Adoption")
    ]
    kept = unmapped(record(list(results.values()), "TST004"))
    assert kept[("List 10", 2, "Date of Decision that Child Should be Placed for Adoption")] == (
        "=H2+5",
        "formula, not a value",
    )
    tst001 = results["TST001"]
    assert where(tst001, "cell-error") == [
        ("List 6", 2, "Allocated Team"),
        ("List 6", 2, "Allocated Worker"),
    ]
    assert all(p.severity == Severity.WARNING for p in tst001.problems if p.code == "cell-error")
    kept = unmapped(record(list(results.values()), "TST001"))
    assert kept[("List 6", 2, "Allocated Worker")] == ("#N/A", "spreadsheet error, not a value")


def test_dirty_values_are_reported_where_they_are() -> None:
    results = by_key(read(FULL, source_authority="202"))
    tst005 = results["TST005"]
    assert where(tst005, "date-invalid") == [("List 8", 3, "Date of Birth")]
    assert where(tst005, "cell-formula") == [("List 8", 3, "Start date of current legal status")]
    assert where(tst005, "postcode-invalid") == [("List 8", 3, "Placement postcode")]
    rec = record(list(results.values()), "TST005")
    # a date typed as text is still a date
    assert {"date": "2022-03-15", "summary": "Started to be looked after"}.items() <= rec[
        "chronology"
    ][0].items()
    assert unmapped(rec)[("List 8", 3, "Placement postcode")] == ("nope", "not a postcode")
    assert unmapped(rec)[("List 8", 3, "Age")] == ("15", "age given without a date of birth")


def test_unknown_primary_need_is_kept_with_a_warning() -> None:
    results = by_key(read(FULL, source_authority="202"))
    tst003 = results["TST003"]
    (unknown,) = [p for p in tst003.problems if p.code == "code-unknown"]
    assert unknown.severity == Severity.WARNING
    assert unknown.location is not None
    assert (unknown.location.sheet, unknown.location.row, unknown.location.column) == (
        "List 6",
        3,
        "Primary Need Code",
    )
    rec = record(list(results.values()), "TST003")
    assert unmapped(rec)[("List 6", 3, "Primary Need Code")] == (
        "PSRMEM - Support with memory and cognition",
        "not a known code",
    )
    (episode,) = rec["episodes"]
    assert episode["primary_need"] is None
    assert (episode["closure_reason"], episode["closure_date"]) == ("RC1", "2023-12-01")
    assert episode["cin_plans"] == [{"id": None, "start_date": None, "end_date": None}]
    assert rec["child"]["sex"] == "U"


def test_lists_that_disagree_keep_the_first_and_report_the_other() -> None:
    results = by_key(read(FULL, source_authority="202"))
    tst001 = results["TST001"]
    assert where(tst001, "value-conflict") == [("List 7", 2, "Gender")]
    rec = record(list(results.values()), "TST001")
    assert rec["child"]["sex"] == "F"
    assert unmapped(rec)[("List 7", 2, "Gender")] == (
        "a) Male",
        "differs from list_3 referrals row 2",
    )


def test_gender_neither_is_sex_u_with_the_words_kept_and_unknown_text_reported() -> None:
    source = workbook(
        {
            "List 3": [
                REFERRALS,
                ["TSTA", "d) Neither", "a) WBRI", dt.datetime(2015, 1, 1), 9],
                ["TSTB", "Dragon", "ZZZZ", dt.datetime(2015, 1, 1), 9],
            ]
        }
    )
    results = by_key(read(source, source_authority="202"))
    first = record(list(results.values()), "TSTA")
    assert (first["child"]["sex"], first["child"]["gender"]) == ("U", "Neither")
    assert where(results["TSTB"], "code-unknown") == [
        ("List 3", 3, "Gender"),
        ("List 3", 3, "Ethnicity"),
    ]


def test_numbers_in_a_date_column_are_read_as_excel_day_numbers_with_a_warning() -> None:
    source = workbook({"List 3": [REFERRALS, ["TSTA", "a) Male", "a) WBRI", 42005, 9, 45200]]})
    (result,) = read(source, source_authority="202")
    assert result.record is not None
    assert result.record.child.birth_date == dt.date(2015, 1, 1)
    assert result.record.episodes[0].referral_date == dt.date(2023, 10, 1)
    assert where(result, "date-from-number") == [
        ("List 3", 2, "Date of Birth"),
        ("List 3", 2, "Date of referral"),
    ]


CIN = [
    "Child Unique ID",
    "Gender",
    "Ethnicity",
    "Date of Birth",
    "Age of Child (Years)",
    "CIN Start Date",
    "Primary Need Code",
    "CIN Closure Date",
    "Reason for Closure",
]


@pytest.mark.parametrize("start", [dt.datetime(2022, 5, 1), None], ids=["same-date", "undated"])
def test_two_children_in_need_rows_never_overwrite_each_other(start: dt.datetime | None) -> None:
    common = ["TSTA", "a) Male", "a) WBRI", dt.datetime(2015, 1, 1), 8]
    source = workbook(
        {
            "List 3": [REFERRALS, [*common, start, "q) 6: Police", "No"]],
            "List 6": [
                CIN,
                [*common, start, "N1 - Abuse or neglect", dt.datetime(2023, 1, 1), "RC8"],
                [*common, start, "N4 - Family in acute stress"],
            ],
        }
    )
    (result,) = read(source, source_authority="202")
    assert result.record is not None
    needs = sorted(
        (e.primary_need, e.closure_reason, e.referral_source) for e in result.record.episodes
    )
    assert needs == [("N1", "RC8", "6"), ("N4", None, None)]


def test_rows_without_a_child_id_are_skipped_and_said_so() -> None:
    results = read(FULL, source_authority="202")
    (skipped,) = [r for r in results if r.skipped]
    assert where(skipped, "child-id-missing") == [("List 1", 4, "Child Unique ID")]
    source = workbook({"List 3": [REFERRALS, ["=A1", "a) Male"], ["#N/A", "a) Male"]]})
    with pytest.raises(InputUnreadable) as caught:
        read(source)  # no row names a child: nothing can be built
    assert caught.value.problem.code == "no-children"
    source = workbook({"List 3": [REFERRALS, ["=A1", "a) Male"], ["TSTA", "a) Male"]]})
    results = read(source, source_authority="202")
    assert [r.skipped for r in results] == [True, False]
    assert where(results[0], "child-id-invalid") == [("List 3", 2, "Child Unique ID")]


# --- the workbook as a whole ----------------------------------------------------------------------


def test_workbook_problems_ride_once_with_the_first_record() -> None:
    results = read(FULL, source_authority="202")
    firsts = [r for r in results if not r.skipped]
    notes = {"adopters-not-transferred", "sheet-not-recognised", "columns-unknown"}
    assert notes <= {p.code for p in firsts[0].problems}
    assert not any(p.code in notes for r in firsts[1:] for p in r.problems)
    (adopters,) = [p for p in firsts[0].problems if p.code == "adopters-not-transferred"]
    assert adopters.severity == Severity.WARNING
    assert adopters.location is not None
    assert adopters.location.sheet == "List 11"
    assert "2 adopter rows" in adopters.message
    (local,) = [p for p in firsts[0].problems if p.code == "columns-unknown"]
    assert "'Local Notes'" in local.message
    assert unmapped(record(results, "TST001"))[("List 4", 2, "Local Notes")] == (
        "see the family file",
        "column not in Annex A list 4",
    )


def test_yes_no_answers_with_nowhere_to_go_are_kept_as_written() -> None:
    results = read(FULL, source_authority="202")
    assert unmapped(record(results, "TST003"))[("List 7", 3, "Was the Child Seen Alone?")] == (
        "b) No",
        "seen alone, but no visit date",
    )
    offered = "Was the child offered a Return Interview after their last missing episode (Y/N)?"
    assert unmapped(record(results, "TST005"))[("List 8", 3, offered)] == (
        "a) Yes",
        "no missing episodes",
    )


def test_a_sheet_that_is_no_list_but_names_children_is_kept_on_their_records() -> None:
    results = read(FULL, source_authority="202")
    assert unmapped(record(results, "TST006"))[("Local extras", 2, "Favourite colour")] == (
        "green",
        "sheet is not an Annex A list",
    )
    first = next(r for r in results if not r.skipped)
    assert {"Local extras", "Notes"} == {
        p.location.sheet for p in first.problems if p.code == "sheet-not-recognised" and p.location
    }


def test_missing_lists_are_warnings_and_lists_are_found_by_their_header() -> None:
    (result,) = read(PARTIAL, source_authority="202")
    missing = [p for p in result.problems if p.code == "sheet-missing"]
    assert [p.location.sheet for p in missing if p.location] == [
        f"List {n}" for n in (1, 2, 4, 5, 6, 8, 9, 10, 11)
    ]
    assert all(p.severity == Severity.WARNING for p in missing)
    assert result.record is not None
    (episode,) = result.record.episodes
    (plan,) = episode.cp_plans  # from 'CP export', its header under a title row
    assert (plan.start_date, plan.initial_category, plan.latest_category) == (
        dt.date(2023, 11, 2),
        "NEG",
        "NEG",
    )
    assert episode.referral_source == "2A"


def test_without_a_sending_authority_each_record_says_so() -> None:
    results = [r for r in read(FULL) if r.record is not None]
    for result in results:
        assert result.record is not None
        assert result.record.provenance.source_authority == "unknown"
        assert "issuer" not in result.record.child.identifiers[0].model_dump(exclude_none=True)
        (missing,) = [p for p in result.problems if p.code == "source-authority-missing"]
        assert missing.severity == Severity.WARNING
    given = read(FULL, source_authority="202")
    assert not any(p.code == "source-authority-missing" for r in given for p in r.problems)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("source", "code"),
    [
        (Source.from_bytes(b"Child Unique ID,Gender\r\nA1,M\r\n", "annex.xlsx"), "xlsx-unreadable"),
        (Source.from_bytes(b"", "annex.xlsx"), "xlsx-unreadable"),
        (Source.from_bytes(_zip_bytes({"hello.txt": b"hi"}), "annex.xlsx"), "xlsx-unreadable"),
        (workbook({"Sheet1": [["Name", "Score"], ["x", 1]]}), "no-annex-a-lists"),
        (
            workbook({"List 3": [["Gender", "Ethnicity"], ["a) Male", "a) WBRI"]]}),
            "columns-missing",
        ),
        (workbook({"List 3": [REFERRALS]}), "no-children"),
        (workbook({"List 11": [["Individual adopter identifier"], ["AD1"]]}), "no-children"),
        (Source.from_files({"a.xlsx": b"", "b.xlsx": b""}), "source-not-one-file"),
    ],
    ids=[
        "csv",
        "empty",
        "zip-not-xlsx",
        "no-lists",
        "no-id-column",
        "header-only",
        "adopters-only",
        "two-files",
    ],
)
def test_unreadable_inputs_are_fatal(source: Source, code: str) -> None:
    with pytest.raises(InputUnreadable) as caught:
        read(source)
    assert caught.value.problem.code == code
    assert caught.value.problem.severity == Severity.FATAL
    assert caught.value.problem.fix


def test_columns_missing_names_the_sheet() -> None:
    with pytest.raises(InputUnreadable) as caught:
        read(workbook({"List 7": [["Gender"], ["a) Male"]]}))
    found = caught.value.problem
    assert found.location is not None
    assert found.location.sheet == "List 7"
    assert "Child Unique ID" in found.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: st.DataObject) -> None:
    original = PARTIAL.read_bytes()
    at = data.draw(st.integers(0, len(original)))
    cut = data.draw(st.integers(0, 64))
    junk = data.draw(st.binary(max_size=40))
    with contextlib.suppress(InputUnreadable):
        read(Source.from_bytes(original[:at] + junk + original[at + cut :], "annex.xlsx"))


# --- streaming ----------------------------------------------------------------------------------


def test_the_workbook_is_streamed_in_read_only_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = openpyxl.load_workbook

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", spy)
    read(PARTIAL, source_authority="202")
    assert calls
    assert all(c.get("read_only") is True for c in calls)


def test_a_stale_sheet_dimension_does_not_cut_rows_short() -> None:
    rows = [REFERRALS] + [
        [f"TST{n}", "a) Male", "a) WBRI", dt.datetime(2015, 1, 1), 9, dt.datetime(2023, 1, n)]
        for n in range(1, 6)
    ]
    original = workbook({"List 3": rows}).files[0].data or b""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B2"', body)
            dst.writestr(item, body)
    results = read(Source.from_bytes(out.getvalue(), "return.xlsx"), source_authority="202")
    assert sorted(by_key(results)) == [f"TST{n}" for n in range(1, 6)]


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reader = AnnexAAdapter(CONTEXT, source_authority="202").read(Source.from_path(FULL))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())  # the rows wait on disk, not in memory
    reader.close()
    assert not any(tmp_path.iterdir())
    read(PARTIAL)
    assert not any(tmp_path.iterdir())


# --- nothing lost -------------------------------------------------------------------------------

# Sheet titles of the fixtures and the list each one is (the Notes sheet and list 11 are not
# about any child; list 11 is covered by the adopters warning).
SHEETS = {
    **{f"List {n}": n for n in range(1, 11)},
    "list_3 referrals": 3,
    "CP export": 7,
}
HEADER_VARIANTS = {
    "age": "Age of Child (Years)",
    "date of referral": "Date of referral",
    "child unique id": "Child Unique ID",
}
SEX = {"b) Female": "F", "Male": "M", "a) Male": "M", "c) Not stated/recorded": "U"}
CATEGORY = {
    "Physical abuse": "PHY",
    "b) Emotional abuse": "EMO",
    "a) Neglect": "NEG",
    "Neglect": "NEG",
    "c) Sexual abuse": "SAB",
    "Sexual abuse": "SAB",
}
YES = {"Yes", "a) Yes"}


def column_name(number: int, header: str) -> str:
    """The Annex A column a fixture header stands for (the fixtures' few spelling variants)."""
    text = header.replace("\u2018", "'").replace("\u2019", "'").replace("))", ")")
    if text.lower() in HEADER_VARIANTS:
        return HEADER_VARIANTS[text.lower()]
    assert text in LISTS[number].columns or header == "Local Notes", header
    return text


def shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
        return dt.datetime.strptime(value, "%d/%m/%Y").date().isoformat()
    return None


def tail(value: str) -> str:
    """'a) WBRI' -> 'WBRI'."""
    return re.sub(r"^[a-z]\)\s*", "", value)


def token(value: str) -> str:
    """'f) U6: Foster placement - not FFA' -> 'U6'."""
    return re.split(r"[:\s]", tail(value), maxsplit=1)[0]


def is_mapped(
    number: int, column: str, value: Any, row: dict[str, Any], rec: dict[str, Any]
) -> bool:
    """Whether a source value is in the record where the declared mapping says it goes."""
    if column not in MAPPED_COLUMNS[number]:
        return False
    child, chronology = rec["child"], rec["chronology"]
    episodes = rec["episodes"]
    professionals = rec["professionals"]
    text = " ".join(str(value).replace(NBSP, " ").split())
    day = iso(value)
    on_day = [c for c in chronology if c["date"] == day]
    if "date" in column.lower() and day is None:
        return False  # a date column's value is mapped only if it was read as a date
    if column == "Gender":
        return bool(child["sex"] == SEX[value])
    if column == "Ethnicity":
        return bool(child["ethnicity"] == tail(value))
    if column == "Date of Birth":
        return bool(child["birth_date"] == day)
    if column == "Age of Child (Years)":
        return child["birth_date"] is not None  # derivable from the date of birth
    if column == "Does the Child have a Disability":
        return value not in YES and child["disabilities"] == ["NONE"]
    if column.startswith("Unaccompanied"):
        status = child["immigration_status"]
        return status is not None and (status["uasc"] or value not in YES)
    if column == "Allocated Team":
        return any(p["organisation"] == text for p in professionals)
    if column in ("Allocated Worker", "Allocated Personal Advisor"):
        role = "personal advisor" if "Advisor" in column else "allocated social worker"
        return any(p["name"] == text and p["role"] == role for p in professionals)
    if number == 1:
        contact = [c for c in chronology if c["date"] == iso(row["Date of Contact"])]
        if column == "Contact Source":
            return any(c["source"] == tail(value) for c in contact)
        return any(c["category"] == "referral" for c in contact)
    if number == 2:
        if column == "Organisation completing assessment":
            return any(c["source"] == text for c in chronology if "Early help" in c["summary"])
        return any("Early help" in c["summary"] for c in on_day)
    if number == 3 or (number == 6 and column == "CIN Start Date"):
        start = row.get("Date of referral", row.get("CIN Start Date"))
        same = [e for e in episodes if e["referral_date"] == iso(start)]
        if column == "Referral Source":
            return any(e["referral_source"] == token(value) for e in same)
        if column == "Referral NFA?":
            return any(e["referral_no_further_action"] == (value in YES) for e in same)
        return bool(same)
    if number == 4:
        assessments = [a for e in episodes for a in e["assessments"]]
        field = "start_date" if "Start" in column else "authorisation_date"
        return any(a[field] == day for a in assessments)
    if number == 5:
        enquiries = [s for e in episodes for s in e["section47_enquiries"]]
        conferences = [c for e in episodes for c in e["conferences"]]
        if column.startswith("Strategy"):
            return any(s["start_date"] == day for s in enquiries)
        if column.startswith("Was an Initial"):
            return any(s["initial_conference_not_required"] == (value in YES) for s in enquiries)
        if column.startswith("Date of Initial"):
            return any(c["date"] == day for c in conferences) and any(
                s["initial_conference_date"] == day for s in enquiries
            )
        return any(c["led_to_cp_plan"] == (value in YES) for c in conferences)
    if number == 6:
        same = [e for e in episodes if e["referral_date"] == iso(row["CIN Start Date"])]
        if column == "Primary Need Code":
            return any(e["primary_need"] == token(value) for e in same)
        if column == "CIN Closure Date":
            return any(e["closure_date"] == day for e in same)
        if column == "Reason for Closure":
            return any(e["closure_reason"] == token(value) for e in same)
        if column == "Case Status":
            return "Child in need plan" in value and any(e["cin_plans"] for e in same)
        return any(c["category"] == "visit" for c in on_day)  # Date Child Was Last Seen
    if number == 7:
        plans = [
            p
            for e in episodes
            for p in e["cp_plans"]
            if p["start_date"] == iso(row["Child Protection Plan Start Date"])
        ]
        if column.startswith("Subject to Emergency"):
            # a yes is an alert; a no is the absence of one
            return (value in YES) == any(a["type"] == "court_order" for a in rec["alerts"])
        checks: dict[str, Callable[[dict[str, Any]], bool]] = {
            "Child Protection Plan Start Date": lambda p: True,
            "Child Protection Plan End Date": lambda p: p["end_date"] == day,
            "Initial Category of Abuse": lambda p: p["initial_category"] == CATEGORY[value],
            "Latest Category of Abuse": lambda p: p["latest_category"] == CATEGORY[value],
            "Date of the Last Statutory Visit": lambda p: day in [v["date"] for v in p["visits"]],
            "Was the Child Seen Alone?": lambda p: any(
                v["seen_alone"] == (value in YES) for v in p["visits"]
            ),
            "Date of latest review conference": lambda p: day in p["review_dates"],
            "Number of Previous Child Protection Plans": lambda p: (
                p["number_of_previous_plans"] == value
            ),
        }
        return any(checks[column](p) for p in plans)
    if number == 8:
        cared = [c for e in episodes for c in e["looked_after_episodes"]]
        placements = [c["placement"] for c in cared if c["placement"]]
        missing = [a for a in rec["alerts"] if a["type"] == "missing"]
        if column.startswith("Number of Episodes"):
            kind = "Missing" if "Missing" in column else "Absent"
            return value == 0 or any(
                a["summary"].startswith(f"{kind} from placement {value} time") for a in missing
            )
        if column.startswith(("Was the child offered", "Did the child accept")):
            said = f"{'offered' if 'offered' in column else 'accepted'}: "
            said += "yes" if value in YES else "no"
            return any(said in (a["details"] or "") for a in missing)
        fields: dict[str, Callable[[dict[str, Any]], bool]] = {
            "Child's Category of Need": lambda c: c["category_of_need"] == token(value),
            "Child's Legal Status": lambda c: c["legal_status"] == token(value),
            "Date Ceased to be Looked After": lambda c: c["end_date"] == day,
            "Reason Ceased to be Looked After": lambda c: (
                c["reason_episode_ceased"] == token(value)
            ),
        }
        if column in fields:
            return any(fields[column](c) for c in cared)
        place: dict[str, Callable[[dict[str, Any]], bool]] = {
            "Start Date of Most Recent Placement": lambda p: p["start_date"] == day,
            "Placement Type": lambda p: p["placement_type"] == token(value),
            "Placement Provider": lambda p: p["provider"] == token(value),
            "Placement postcode": lambda p: p["postcode"] == text.upper(),
            "URN of Placement": lambda p: p["urn"] == text,
        }
        if column in place:
            return any(place[column](p) for p in placements)
        return bool(on_day)  # the dated events of list 8 are in the chronology
    if number == 9:
        return bool(on_day)
    if column == "Reason Why Child No Longer Placed for Adoption":
        return any(text in (c["details"] or "") for c in chronology)
    return bool(on_day)  # the dates of list 10


def source_cells(path: Path) -> list[tuple[int, str, int, str, str, Any, dict[str, Any]]]:
    """(list, sheet, row, header, column, value, row values) for every non-empty child cell."""
    cells = []
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        number = SHEETS.get(sheet.title)
        if number is None:
            continue
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        top = next(i for i, r in enumerate(rows) if "child unique id" in str(r).lower())
        header = [" ".join(str(h).split()) for h in rows[top]]
        names = [column_name(number, h) for h in header]
        for number_in_sheet, values in enumerate(rows[top + 1 :], start=top + 2):
            row = {n: v for n, v in zip(names, values, strict=False) if v not in (None, "")}
            for (name, value), head in zip(
                [(n, v) for n, v in zip(names, values, strict=False)], header, strict=False
            ):
                if value not in (None, ""):
                    cells.append((number, sheet.title, number_in_sheet, head, name, value, row))
    return cells


def lost_values(path: Path, results: list[ReadResult]) -> list[str]:
    """Every source value neither mapped into its field nor kept unmapped at its location."""
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    skipped = {
        (p.location.sheet, p.location.row)
        for r in results
        if r.skipped
        for p in r.problems
        if p.location
    }
    lost = []
    for number, sheet, row_number, header, column, value, row in source_cells(path):
        here = f"{sheet}!{row_number}:{header}={value!r}"
        child_id = row.get("Child Unique ID")
        if child_id is None:
            if (sheet, row_number) not in skipped:
                lost.append(f"{here} (row without a child id)")
            continue
        rec = records.get(shown(child_id))
        if rec is None:
            lost.append(f"{here} (no record for {child_id!r})")
            continue
        if column == "Child Unique ID":
            ids = [i["value"] for i in rec["child"]["identifiers"] if i["system"] == "la_child_id"]
            if ids != [shown(value)]:
                lost.append(here)
            continue
        kept = any(
            u["value"] == shown(value)
            and (u["location"]["sheet"], u["location"]["row"], u["location"]["column"])
            == (sheet, row_number, header)
            and u["location"]["file"] == path.name
            for u in rec["unmapped"]
        )
        if not kept and not is_mapped(number, column, value, row, rec):
            lost.append(here)
    return lost


@pytest.mark.parametrize("path", [FULL, PARTIAL], ids=lambda p: p.stem)
def test_nothing_is_lost(path: Path) -> None:
    results = read(path, source_authority="202")
    assert len(source_cells(path)) >= 20
    assert lost_values(path, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def drop(key: str, change: Callable[[Any], None]) -> list[ReadResult]:
        results = read(FULL, source_authority="202")
        for r in results:
            if r.key == key and r.record is not None:
                change(r.record)
        return results

    def forget_local_notes(rec: Any) -> None:
        rec.unmapped = [u for u in rec.unmapped if u.field != "Local Notes"]

    assert lost_values(FULL, drop("TST001", forget_local_notes)) == [
        "List 4!2:Local Notes='see the family file'"
    ]

    def forget_urn(rec: Any) -> None:
        rec.episodes[0].looked_after_episodes[0].placement.urn = None

    assert lost_values(FULL, drop("TST004", forget_urn)) == ["List 8!2:URN of Placement='SC999999'"]

    def forget_visit(rec: Any) -> None:
        rec.episodes[0].cp_plans[0].visits = []

    assert lost_values(FULL, drop("TST001", forget_visit)) == [
        "List 7!2:Date of the Last Statutory Visit=datetime.datetime(2023, 12, 4, 0, 0)",
        "List 7!2:Was the Child Seen Alone?='a) Yes'",
    ]
    assert json.dumps(MAPPED_COLUMNS)  # the declared mapping table is plain data
