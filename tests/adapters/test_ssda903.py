"""The SSDA903 adapter: a folder of 903 CSVs in, one canonical record per child out.

Fixtures (tests/fixtures/ssda903/) are synthetic: ``clean`` is a tidy 2024-25 style return with
every table under names that do not say which table they hold; ``dirty`` is a 2019-20 style
return with the faults real exports have; ``cp1252`` is saved in Windows-1252.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import InputUnreadable, ReadResult, Source, get_adapter
from exchange.adapters.ssda903 import MAPPED_COLUMNS, SSDA903Adapter, recognise
from exchange.adapters.values import parse_date
from exchange.canonical import RuleContext, Severity
from exchange.canonical.codes import SEX_ALIASES
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ssda903"
CLEAN, DIRTY, CP1252 = FIXTURES / "clean", FIXTURES / "dirty", FIXTURES / "cp1252"
CONTEXT = RuleContext(
    today=dt.date(2025, 3, 31),
    is_known_authority=lambda code: code in {"202", "873"},
    known_dfe_codes=frozenset({"202", "873"}),
)


def read(path: Path | Source, **kwargs: Any) -> list[ReadResult]:
    source = path if isinstance(path, Source) else Source.from_path(path)
    return list(SSDA903Adapter(CONTEXT, **kwargs).read(source))


def by_key(results: list[ReadResult]) -> dict[str, ReadResult]:
    return {r.key: r for r in results if r.key is not None}


def record(results: list[ReadResult], key: str) -> dict[str, Any]:
    found = by_key(results)[key].record
    assert found is not None
    dumped: dict[str, Any] = found.model_dump(mode="json")
    return dumped


def codes(result: ReadResult) -> list[str]:
    return [p.code for p in result.problems]


def where(result: ReadResult, code: str) -> list[tuple[str | None, int | None, str | None]]:
    return [
        (p.location.file, p.location.row, p.location.column)
        for p in result.problems
        if p.code == code and p.location is not None
    ]


def csv_bytes(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"
EPISODES = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
)


# --- a clean return ---------------------------------------------------------------------------


def test_clean_return_maps_every_table_onto_the_child() -> None:
    results = read(CLEAN, source_authority="202")
    assert [r.key for r in results] == ["TEST1001", "TEST1002", "TEST1003"]
    assert all(r.problems == [] for r in results), [codes(r) for r in results]

    first = record(results, "TEST1001")
    assert first["provenance"]["source_authority"] == "202"
    assert first["child"]["identifiers"] == [
        {"system": "la_child_id", "value": "TEST1001", "issuer": "202"},
        {"system": "upn", "value": "R202410020123", "issuer": None},
    ]
    assert (first["child"]["birth_date"], first["child"]["sex"]) == ("2012-02-14", "M")
    (episode,) = first["episodes"]
    assert episode["referral_date"] is None  # a 903 return has no referral
    later, earlier = episode["looked_after_episodes"][1], episode["looked_after_episodes"][0]
    assert earlier["start_date"] == "2023-04-01"
    assert earlier["end_date"] == "2023-09-15"
    assert (earlier["reason_new_episode"], earlier["legal_status"]) == ("S", "C1")
    assert earlier["category_of_need"] == "N1"
    assert earlier["reason_episode_ceased"] == "X1"
    assert earlier["home_postcode"] == "ZZ1 1AA"
    assert later["placement"] == {
        "id": None,
        "start_date": None,
        "end_date": None,
        "placement_type": "U3",
        "provider": "PR1",
        "postcode": "ZZ3 3CC",
        "urn": "SC900002",
        "change_reason": "CARPL",
    }
    assert [(m["start_date"], m["end_date"], m["kind"]) for m in first["missing_episodes"]] == [
        ("2023-06-02", "2023-06-04", "missing"),
        ("2023-07-20", "2023-07-20", "away"),
    ]
    (alert,) = first["alerts"]
    assert (alert["type"], alert["severity"]) == ("missing", "medium")
    assert "missing from care 1 time" in alert["summary"]
    assert "away" in alert["summary"]
    reviews = [c for c in first["chronology"] if c["summary"] == "Looked-after child review"]
    assert [(c["date"], c["category"]) for c in reviews] == [
        ("2023-04-28", "plan"),
        ("2023-10-20", "plan"),
    ]
    assert "PN1" in reviews[0]["details"]
    assert "PN5" in reviews[1]["details"]
    assert [
        (p["id"], p["role"], p["start_date"], p["end_date"]) for p in first["professionals"]
    ] == [
        ("SW0042", "social worker", "2023-04-01", "2023-11-30"),
        ("SW0077", "social worker", "2023-11-30", None),
    ]


def test_uasc_mother_and_permanence_details() -> None:
    results = read(CLEAN, source_authority="202")
    mother = record(results, "TEST1002")
    assert mother["child"]["immigration_status"]["uasc"] is True
    assert mother["child"]["immigration_status"]["uasc_end_date"] == "2026-09-03"
    (own_child,) = mother["related_people"]
    assert own_child["relationship"] == "other_relative"
    assert own_child["birth_date"] == "2024-01-21"
    assert "MOTHER=1" in own_child["notes"]
    (perm,) = [c for c in mother["chronology"] if c["category"] == "court"]
    assert perm["date"] == "2015-05-12"
    assert "P2" in perm["summary"]
    assert "873" in perm["details"]

    adopted = record(results, "TEST1003")
    assert adopted["child"]["upn_unknown_reason"] == "UN2"
    assert [i["system"] for i in adopted["child"]["identifiers"]] == ["la_child_id"]
    events = {(c["date"], c["category"]) for c in adopted["chronology"]}
    assert {("2024-09-01", "plan"), ("2024-12-01", "placement"), ("2024-08-15", "plan")} <= events
    (alert,) = adopted["alerts"]  # an episode with no end date: the child may be missing now
    assert alert["severity"] == "high"
    assert "no end date" in alert["summary"]


def test_files_are_recognised_by_columns_not_names() -> None:
    names = {p.name: p.read_bytes() for p in CLEAN.iterdir()}
    renamed = {f"export_{i}.txt": data for i, data in enumerate(names.values())}
    from_disk = [r.record for r in read(CLEAN, source_authority="202")]
    from_bytes = [r.record for r in read(Source.from_files(renamed), source_authority="202")]
    strip = {"unmapped"}  # locations name the files, which differ
    assert [r.model_dump(exclude=strip) for r in from_disk if r] == [
        r.model_dump(exclude=strip) for r in from_bytes if r
    ]
    assert recognise(["CHILD", "SEX", "DOB", "DUC"]) is not None
    assert recognise(["CHILD", "SEX", "DOB", "DUC"]).name == "uasc"  # type: ignore[union-attr]
    assert recognise([*HEADER.split(","), "DUC"]).name == "header"  # type: ignore[union-attr]
    assert recognise(["CHILD", "DOB"]) is None
    assert recognise(["CHILD", "DOB", "DUC", "MISSING"]) is None  # uasc or missing: not guessed


def test_the_adapter_is_registered() -> None:
    assert get_adapter("ssda903") is SSDA903Adapter


# --- what fires on a 903 record -------------------------------------------------------------


def test_without_a_sending_authority_one_warning_and_an_error_on_each_record() -> None:
    results = read(CLEAN)
    assert codes(results[0]).count("source-authority-missing") == 1
    assert all("source-authority-missing" not in codes(r) for r in results[1:])
    for r in results:
        assert r.record is not None
        assert r.record.provenance.source_authority == "unknown"
        # The canonical rule makes every record of an unattributed return an error.
        assert "source-authority-unknown" in codes(r)
        assert {p.code for p in r.problems if p.severity == Severity.ERROR} == {
            "source-authority-unknown"
        }


# --- a dirty return ---------------------------------------------------------------------------


def test_duplicate_header_rows_are_reported_and_their_differences_kept() -> None:
    results = read(DIRTY, source_authority="873")
    dup = by_key(results)["DIRTY01"]
    (problem,) = [p for p in dup.problems if p.code == "la-child-id-duplicate"]
    assert problem.dfe_rule == "8510"
    assert problem.severity == Severity.ERROR
    assert "row 2" in problem.message
    assert "row 3" in problem.message
    assert where(dup, "la-child-id-duplicate") == [("header.csv", 3, "CHILD")]
    kept = {
        (u["field"], u["value"])
        for u in record(results, "DIRTY01")["unmapped"]
        if u["location"]["row"] == 3 and u["location"]["file"] == "header.csv"
    }
    # UPN is the same on both rows, so only the differing values are kept.
    assert kept == {("SEX", "2"), ("DOB", "16/08/2017"), ("MOTHER", "1"), ("MC_DOB", "08/03/2032")}
    first = record(results, "DIRTY01")
    assert (first["child"]["sex"], first["child"]["birth_date"]) == ("M", "2015-07-11")
    assert first["related_people"] == []


def test_child_only_in_other_files_still_gets_a_record() -> None:
    results = read(DIRTY, source_authority="873")
    orphan = by_key(results)["DIRTY04"]
    assert orphan.record is not None
    assert where(orphan, "child-not-in-header") == [("episodes.csv", 6, "CHILD")]
    (ep,) = orphan.record.episodes[0].looked_after_episodes
    assert ep.start_date == dt.date(2019, 3, 30)
    # Children come in header order, then the others.
    assert [r.key for r in results if r.key] == [
        "DIRTY01",
        "DIRTY02",
        "DIRTY03",
        "DIRTY05",
        "DIRTY04",
    ]


def test_unrecognised_file_and_row_without_child_are_reported_not_dropped() -> None:
    results = read(DIRTY, source_authority="873")
    skipped = [r for r in results if r.skipped]
    assert [codes(r) for r in skipped] == [["file-not-recognised"], ["la-child-id-missing"]]
    notes, no_child = skipped
    assert notes.location is not None
    assert notes.location.file == "notes.csv"
    assert "CHILD, COMMENT" in notes.problems[0].message
    assert where(no_child, "la-child-id-missing") == [("header.csv", 5, "CHILD")]
    assert "J873102030424" in no_child.problems[0].message


def test_dirty_values_are_reported_where_they_are() -> None:
    results = read(DIRTY, source_authority="873")
    one, two, three = (by_key(results)[k] for k in ("DIRTY01", "DIRTY02", "DIRTY03"))
    assert ("header.csv", 1, "TEST_COLUMN") in where(results[1], "columns-extra")
    assert where(two, "date-invalid") == [
        ("header.csv", 4, "DOB"),
        ("episodes.csv", 4, "DECOM"),
        ("missing.csv", 4, "DOB"),
    ]
    assert set(where(two, "code-unknown")) == {
        ("header.csv", 4, "ETHNIC"),
        ("episodes.csv", 4, "RNE"),
        ("episodes.csv", 4, "REC"),
    }
    assert where(two, "row-too-long") == [("episodes.csv", 4, "(COLUMN 14)")]
    assert where(one, "postcode-invalid") == [("episodes.csv", 3, "PL_POST")]
    assert where(one, "value-missing") == [("episodes.csv", 3, "LS")]
    assert where(one, "child-details-conflict") == [("missing.csv", 3, "DOB")]
    assert where(three, "mother-child-dob-without-mother") == [("header.csv", 6, "MC_DOB")]
    assert where(three, "upn-duplicate") == [("header.csv", 6, "UPN")]
    # A partial postcode is stored normalised and the canonical rule says so.
    rec = record(results, "DIRTY01")
    postcodes = [e["placement"]["postcode"] for e in rec["episodes"][0]["looked_after_episodes"]]
    homes = [e["home_postcode"] for e in rec["episodes"][0]["looked_after_episodes"]]
    assert postcodes == [None, "ZZ1"]
    assert homes == ["ZZ1 2AA", "ZZ1 2AA"]
    assert "postcode-partial" in codes(one)
    # NULL and padded cells read as blank and trimmed.
    assert record(results, "DIRTY02")["child"]["sex"] == "F"


def test_sex_is_read_in_both_codings() -> None:
    results = read(DIRTY, source_authority="873")
    assert record(results, "DIRTY01")["child"]["sex"] == "M"  # 1, up to 2023-24
    assert record(results, "DIRTY03")["child"]["sex"] == "F"  # 2
    assert record(results, "DIRTY05")["child"]["sex"] == "U"  # U, from 2024-25
    assert record(read(CLEAN), "TEST1002")["child"]["sex"] == "F"  # F


def test_missing_episodes_raise_an_alert_even_when_undated() -> None:
    results = read(DIRTY, source_authority="873")
    one = record(results, "DIRTY01")
    assert [(m["start_date"], m["end_date"]) for m in one["missing_episodes"]] == [
        ("2019-05-01", "2019-05-03"),
        ("2019-06-06", None),
    ]
    # Unknown kind 'X' is reported and kept; safety first, the child counts as missing.
    assert one["missing_episodes"][1]["kind"] == "missing"
    (alert,) = one["alerts"]
    assert alert["type"] == "missing"
    assert alert["severity"] == "high"
    two = record(results, "DIRTY02")
    assert two["missing_episodes"] == []
    (alert,) = two["alerts"]
    assert alert["severity"] == "medium"
    assert "dates the return does not give" in alert["summary"]


def test_windows_1252_file_is_read() -> None:
    results = read(CP1252, source_authority="202")
    (result,) = results
    rec = record(results, "WIN01")
    (note,) = [u for u in rec["unmapped"] if u["field"] == "CARER_NOTE"]
    assert note["value"] == "Caf\u00e9 Rouge foster home \u2013 fictional"
    assert rec["episodes"][0]["looked_after_episodes"][0]["placement"]["postcode"] == "ZZ8 8YY"
    assert result.problems[0].code == "columns-extra"


def test_a_late_windows_1252_byte_restarts_the_file_without_doubling_rows() -> None:
    # Enough rows to pass one write batch and one read chunk before the Windows-1252 byte.
    rows = [f"W{n:04d},F,02/02/2014,WOTH,UN1,,," for n in range(2100)]
    late = "W9999,F,02/02/2014,WOTH,UN1,,,Caf\u00e9".encode("cp1252")
    header = csv_bytes(HEADER + ",NOTE", *rows) + late + b"\r\n"
    results = read(Source.from_files({"h.csv": header}), source_authority="202")
    assert len(results) == 2101
    assert all("la-child-id-duplicate" not in codes(r) for r in results)
    (note,) = record(results, "W9999")["unmapped"]
    assert note["value"] == "Caf\u00e9"


def test_null_cells_are_blank() -> None:
    results = read(DIRTY, source_authority="873")
    assert all(u.value.upper() != "NULL" for r in results if r.record for u in r.record.unmapped)
    assert record(results, "DIRTY02")["related_people"] == []


def test_utf8_with_bom_and_lower_case_header() -> None:
    header = b"\xef\xbb\xbf" + csv_bytes(HEADER.lower(), "B1,F,01/01/2015,WBRI,UN3,,")
    (result,) = read(Source.from_files({"h.csv": header}), source_authority="202")
    assert result.record is not None
    assert result.record.child.upn_unknown_reason == "UN3"
    assert result.problems == []


# --- fatal ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "code", "location"),
    [
        ({}, "source-empty", None),
        ({"h.csv": b""}, "file-empty", ("h.csv", 1, None)),
        ({"h.csv": b"\n\n"}, "file-empty", ("h.csv", 1, None)),
        ({"x.csv": csv_bytes("A,B", "1,2")}, "no-ssda903-files", None),
        (
            {"h.csv": csv_bytes("CHILD,SEX,ETHNIC,UPN", "A1,1,WBRI,UN1")},
            "columns-missing",
            ("h.csv", 1, "DOB"),
        ),
        ({"h.csv": csv_bytes(HEADER)}, "no-children", ("h.csv", 1, None)),
        (
            {"h.csv": csv_bytes(HEADER, "A1,1,01/01/2015,WBRI,UN1,,") + b"A2,\x81\xff,x\r\n"},
            "file-undecodable",
            ("h.csv", None, None),
        ),
        (
            {"h.csv": csv_bytes(HEADER, "A1,1,01/01/2015,WBRI,UN1,,", "A2," + "x" * 200_000)},
            "csv-malformed",
            ("h.csv", 3, None),
        ),
    ],
)
def test_unreadable_inputs_are_fatal(
    files: dict[str, bytes], code: str, location: tuple[str, int | None, str | None] | None
) -> None:
    source = Source.from_files(files) if files else Source((), "empty")
    with pytest.raises(InputUnreadable) as caught:
        read(source)
    found = caught.value.problem
    assert found.code == code
    assert found.severity == Severity.FATAL
    assert found.fix
    if location is not None:
        assert found.location is not None
        assert (found.location.file, found.location.row, found.location.column) == location


def test_columns_missing_names_the_file_and_every_column() -> None:
    files = {"eps.csv": csv_bytes("CHILD,DECOM,RNE,PLACE", "A1,01/01/2020,S,U1")}
    with pytest.raises(InputUnreadable) as caught:
        read(Source.from_files(files))
    message = caught.value.problem.message
    assert "eps.csv" in message
    assert "LS" in message
    assert "CIN" in message


def test_optional_columns_missing_is_a_warning() -> None:
    files = {"h.csv": csv_bytes("CHILD,SEX,DOB,ETHNIC,UPN", "A1,1,01/01/2015,WBRI,UN1")}
    (result,) = read(Source.from_files(files), source_authority="202")
    assert where(result, "columns-optional-missing") == [("h.csv", 1, None)]
    assert result.record is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bad_bytes_never_raise_anything_but_input_unreadable(data: st.DataObject) -> None:
    original = (DIRTY / "episodes.csv").read_bytes()
    at = data.draw(st.integers(0, len(original)))
    junk = data.draw(st.binary(max_size=40))
    files = {
        "header.csv": (DIRTY / "header.csv").read_bytes(),
        "episodes.csv": original[:at] + junk + original[at:],
    }
    with contextlib.suppress(InputUnreadable):
        read(Source.from_files(files))


# --- streaming --------------------------------------------------------------------------------


def test_scratch_store_is_removed_even_when_reading_stops_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    reader = SSDA903Adapter(CONTEXT).read(Source.from_path(DIRTY))
    assert isinstance(reader, Generator)
    next(reader)
    assert any(tmp_path.iterdir())  # the rows wait on disk, not in memory
    reader.close()
    assert not any(tmp_path.iterdir())
    read(CLEAN)
    assert not any(tmp_path.iterdir())


# --- nothing lost -----------------------------------------------------------------------------


def _iso(value: str) -> str | None:
    day = parse_date(value)
    return day.isoformat() if day else None


def _postcode(value: str) -> str | None:
    return normalise_postcode(value) or normalise_partial_postcode(value)


DATE_COLUMNS = {
    "DOB",
    "MC_DOB",
    "DECOM",
    "DEC",
    "MIS_START",
    "MIS_END",
    "REVIEW",
    "SW_DECOM",
    "SW_DEC",
    "DUC",
    "DATE_INT",
    "DATE_MATCH",
    "DATE_PLACED",
    "DATE_PLACED_CEASED",
    "DATE_PERM",
}
EPISODE_FIELDS: dict[str, tuple[str, ...]] = {
    "DEC": ("end_date",),
    "RNE": ("reason_new_episode",),
    "LS": ("legal_status",),
    "CIN": ("category_of_need",),
    "REC": ("reason_episode_ceased",),
    "HOME_POST": ("home_postcode",),
    "PLACE": ("placement", "placement_type"),
    "PLACE_PROVIDER": ("placement", "provider"),
    "PL_POST": ("placement", "postcode"),
    "URN": ("placement", "urn"),
    "REASON_PLACE_CHANGE": ("placement", "change_reason"),
}


def _dig(item: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    for part in path:
        item = item.get(part) if isinstance(item, dict) else None
    return item


def _expected(column: str, value: str) -> str | None:
    if column in DATE_COLUMNS:
        return _iso(value)
    if column in ("PL_POST", "HOME_POST"):
        return _postcode(value)
    if column == "SEX":
        return SEX_ALIASES.get(value.upper(), value.upper())
    return value


def is_mapped(
    table: str, column: str, value: str, row: dict[str, str], rec: dict[str, Any]
) -> bool:
    """The cell's value sits in the record field the adapter's mapping table names."""
    if column not in MAPPED_COLUMNS[table]:
        return False
    want = _expected(column, value)
    if want is None:
        return False
    child = rec["child"]
    if column == "CHILD":
        return any(
            i["system"] == "la_child_id" and i["value"] == value for i in child["identifiers"]
        )
    if column == "DOB":
        return bool(child["birth_date"] == want)
    if column == "SEX":
        return bool(child["sex"] == want)
    chronology = rec["chronology"]
    if table == "header":
        if column == "ETHNIC":
            return bool(child["ethnicity"] == want)
        if column == "UPN":
            return child["upn_unknown_reason"] == want or any(
                i["system"] == "upn" and i["value"] == want for i in child["identifiers"]
            )
        people = [p for p in rec["related_people"] if p["relationship"] == "other_relative"]
        if column == "MOTHER":
            return value == "1" and bool(people)
        return any(p["birth_date"] == want for p in people)  # MC_DOB
    if table == "episodes":
        episodes = [e for ep in rec["episodes"] for e in ep["looked_after_episodes"]]
        same_row = [e for e in episodes if e["start_date"] == _iso(row.get("DECOM", ""))]
        if column == "DECOM":
            return bool(same_row)
        return any(_dig(e, EPISODE_FIELDS[column]) == want for e in same_row)
    if table == "uasc":
        return bool(child["immigration_status"]["uasc_end_date"] == want)  # DUC
    if table == "missing":
        same = [m for m in rec["missing_episodes"] if m["start_date"] == _iso(row["MIS_START"])]
        if column == "MISSING":
            return any(m["kind"] == {"M": "missing", "A": "away"}.get(value) for m in same)
        if column == "MIS_END":
            return any(m["end_date"] == want for m in same)
        return bool(same)
    if table == "reviews":
        same = [
            c for c in chronology if c["date"] == _iso(row["REVIEW"]) and c["category"] == "plan"
        ]
        if column == "REVIEW_CODE":
            return any(value in (c["details"] or "") for c in same)
        return bool(same)
    if table == "social_worker":
        same = [p for p in rec["professionals"] if p["id"] == row["SW_ID"]]
        field = {"SW_ID": "id", "SW_DECOM": "start_date", "SW_DEC": "end_date"}[column]
        return any(p[field] == want for p in same)
    dated = {c["date"]: c for c in chronology}
    if column.startswith("DATE_"):
        return want in dated
    anchor = {
        "REASON_PLACED_CEASED": "DATE_PLACED_CEASED",
        "PREV_PERM": "DATE_PERM",
        "LA_PERM": "DATE_PERM",
    }
    entry = dated.get(_iso(row.get(anchor[column], "")) or "")
    return entry is not None and value in f"{entry['summary']} {entry['details']}"


def source_cells(folder: Path) -> list[tuple[str, str, int, str, str, dict[str, str]]]:
    """(table, file, row, column, value, row) for each non-empty cell of recognised files."""
    cells = []
    for path in sorted(folder.iterdir()):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = [c.strip().upper() for c in rows[0]]
        table = recognise(header)
        if table is None:
            continue
        for number, cells_ in enumerate(rows[1:], start=2):
            values = {
                (header[i] if i < len(header) else f"(COLUMN {i + 1})"): c.strip()
                for i, c in enumerate(cells_)
            }
            values = {k: v for k, v in values.items() if v and v.upper() != "NULL"}
            for column, value in values.items():
                cells.append((table.name, path.name, number, column, value, values))
    return cells


def lost_values(folder: Path, results: list[ReadResult]) -> list[str]:
    """Every source value neither mapped into its field nor kept unmapped at its location."""
    records = {r.key: r.record.model_dump(mode="json") for r in results if r.record and r.key}
    skipped = [p for r in results if r.skipped for p in r.problems]
    lost = []
    for table, file, number, column, value, row in source_cells(folder):
        child = row.get("CHILD")
        if child is None:
            if not any(
                p.location
                and (p.location.file, p.location.row) == (file, number)
                and value in p.message
                for p in skipped
            ):
                lost.append(f"{file}:{number}:{column}={value!r} (row without CHILD)")
            continue
        rec = records.get(child)
        if rec is None:
            lost.append(f"{file}:{number}:{column}={value!r} (no record for {child})")
            continue
        kept = any(
            u["value"] == value
            and (u["location"].get("file"), u["location"].get("row"), u["location"].get("column"))
            == (file, number, column)
            for u in rec["unmapped"]
        )
        if not kept and not is_mapped(table, column, value, row, rec):
            lost.append(f"{file}:{number}:{column}={value!r}")
    return lost


@pytest.mark.parametrize("folder", [CLEAN, DIRTY, CP1252], ids=lambda p: p.name)
def test_nothing_is_lost(folder: Path) -> None:
    results = read(folder, source_authority="202")
    assert len(source_cells(folder)) > 10
    assert lost_values(folder, results) == []


def test_the_nothing_lost_check_catches_a_dropped_value() -> None:
    def drop(results: list[ReadResult], change: Callable[[Any], None]) -> list[ReadResult]:
        for r in results:
            if r.key == "DIRTY01" and r.record is not None:
                change(r.record)
        return results

    dropped_unmapped = drop(read(DIRTY), lambda rec: rec.unmapped.pop(0))
    assert lost_values(DIRTY, dropped_unmapped) == ["header.csv:2:TEST_COLUMN='*DUMMY*'"]

    def forget_urn(rec: Any) -> None:
        rec.episodes[0].looked_after_episodes[0].placement.urn = None

    assert lost_values(DIRTY, drop(read(DIRTY), forget_urn)) == ["episodes.csv:3:URN='5431039'"]

    def forget_missing(rec: Any) -> None:
        rec.missing_episodes[0].end_date = None

    assert lost_values(DIRTY, drop(read(DIRTY), forget_missing)) == [
        "missing.csv:2:MIS_END='03/05/2019'"
    ]
    assert json.dumps(MAPPED_COLUMNS)  # the declared mapping table is plain data
