"""`exchange convert`, `exchange validate` and `exchange adapters list` with the CIN census adapter.

The commands run in-process through typer's CliRunner; the tests look at what a user gets: the
exit code, the files written, the problems CSV and what the terminal says.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from exchange.canonical import ChildRecord
from exchange.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cin_census"
XSD = FIXTURES / "CIN_schema_2026.xsd"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
REPORT_HEADER = [
    "record",
    "severity",
    "code",
    "dfe_rule",
    "file",
    "line",
    "row",
    "column",
    "element",
    "pointer",
    "message",
    "fix",
]


def run(*args: str | Path) -> tuple[int, str]:
    """Exit code and everything the command printed (stdout and stderr), whitespace collapsed."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    said = result.stdout + result.stderr
    return result.exit_code, " ".join(said.split())


def problem_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == REPORT_HEADER
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def census(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_convert_writes_one_json_line_per_child_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "out" / "clean.jsonl"

    code, said = run(
        "convert", "--adapter", "cin-census", FIXTURES / "clean_2025_26.xml", "-o", out
    )

    assert code == 0, said
    lines = out.read_text(encoding="utf-8").splitlines()
    records = [ChildRecord.model_validate(json.loads(line)) for line in lines]
    assert [
        [i.value for i in r.child.identifiers if i.system == "la_child_id"] for r in records
    ] == [["FICT0001"], ["FICT0002"], ["FICT0003"]]
    assert all(r.provenance.source_authority == "301" for r in records)
    assert problem_rows(out.with_name("clean.jsonl.problems.csv")) == []
    assert "3 records read: 3 built" in said
    assert "no errors" in said


def test_convert_reports_every_problem_with_where_and_how_to_fix(tmp_path: Path) -> None:
    out = tmp_path / "dirty.jsonl"

    code, said = run("convert", "-a", "cin-census", FIXTURES / "dirty.xml", "-o", out)

    assert code == 1
    assert "errors found" in said
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    rows = problem_rows(tmp_path / "dirty.jsonl.problems.csv")
    assert all(r["file"] == "dirty.xml" and r["line"] and r["message"] and r["fix"] for r in rows)

    check_letter = next(r for r in rows if r["dfe_rule"] == "1510")
    assert check_letter["record"] == "DIRTY01"
    assert check_letter["severity"] == "error"
    assert check_letter["code"] == "upn-check-letter"
    assert check_letter["element"] == "/Message/Children/Child[1]"
    assert check_letter["pointer"] == "/child/identifiers/1/value"
    assert check_letter["line"] == "20"

    duplicate = next(r for r in rows if r["dfe_rule"] == "8510")
    assert (duplicate["record"], duplicate["code"], duplicate["element"]) == (
        "DIRTY02",
        "la-child-id-duplicate",
        "/Message/Children/Child[3]",
    )
    assert {r["dfe_rule"] for r in rows} >= {"1510", "1520", "8510", "8905", "8925", "8935"}

    sex = next(r for r in rows if r["code"] == "code-unknown" and "Sex" in r["element"])
    assert sex["element"] == "/Message/Children/Child[1]/ChildIdentifiers/Sex"
    assert sex["line"] == "25"
    assert sex["pointer"] == ""
    assert "'X'" in sex["message"]
    # the summary table names the codes
    for code_name in ("upn-check-letter", "la-child-id-duplicate", "code-unknown", "date-invalid"):
        assert code_name in said


def test_malformed_xml_exits_2_and_says_what_and_where(tmp_path: Path) -> None:
    out = tmp_path / "truncated.jsonl"

    code, said = run("convert", "-a", "cin-census", FIXTURES / "truncated.xml", "-o", out)

    assert code == 2
    assert out.read_text(encoding="utf-8") == ""
    (row,) = problem_rows(tmp_path / "truncated.jsonl.problems.csv")
    assert (row["severity"], row["code"], row["file"]) == (
        "fatal",
        "xml-malformed",
        "truncated.xml",
    )
    # the file has 45 lines and stops inside a Child: the parser notices at its end
    assert row["line"] in {"45", "46"}
    assert "xml-malformed" in said
    assert f"line {row['line']}" in said
    assert "input unreadable" in said.lower()


@pytest.mark.parametrize(
    ("fixture", "code_name"),
    [
        ("entity_bomb.xml", "xml-dtd-forbidden"),
        ("xxe.xml", "xml-dtd-forbidden"),
        ("empty.xml", "file-empty"),
        ("no_children.xml", "no-children"),
    ],
)
def test_unreadable_inputs_exit_2_with_their_code(
    fixture: str, code_name: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"

    code, said = run("convert", "-a", "cin-census", FIXTURES / fixture, "-o", out)

    assert code == 2
    assert code_name in said
    assert [r["code"] for r in problem_rows(tmp_path / "out.jsonl.problems.csv")] == [code_name]


def test_xxe_never_shows_the_file_it_points_at(tmp_path: Path) -> None:
    out = tmp_path / "xxe.jsonl"

    _, said = run("convert", "-a", "cin-census", FIXTURES / "xxe.xml", "-o", out)

    everything = said + "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    passwd = Path("/etc/passwd")
    if passwd.exists():
        for line in passwd.read_text(encoding="utf-8", errors="replace").splitlines():
            if len(line) > 8:
                assert line not in everything
    assert "root:" not in everything


def test_convert_to_cin_census_writes_every_child(tmp_path: Path) -> None:
    out = tmp_path / "again.xml"

    code, said = run(
        "convert",
        "-a",
        "cin-census",
        FIXTURES / "clean_2025_26.xml",
        "--to",
        "cin-census",
        "-o",
        out,
    )

    assert code == 0, said
    root = etree.parse(str(out), SAFE).getroot()
    assert [c.findtext("ChildIdentifiers/LAchildID") for c in root.iter("Child")] == [
        "FICT0001",
        "FICT0002",
        "FICT0003",
    ]
    assert root.findtext("Header/Source/LEA") == "301"
    assert "3 written" in said


def test_convert_to_cin_census_writes_xml_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "again.xml"

    run(
        "convert",
        "-a",
        "cin-census",
        FIXTURES / "clean_2025_26.xml",
        "--to",
        "cin-census",
        "-o",
        out,
    )

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(out), SAFE)), str(schema.error_log)


def test_convert_to_cin_census_reports_children_it_cannot_write(tmp_path: Path) -> None:
    out = tmp_path / "dirty-out.xml"

    code, said = run(
        "convert", "-a", "cin-census", FIXTURES / "dirty.xml", "--to", "cin-census", "-o", out
    )

    assert code == 1
    assert "census-fields-missing" in said
    assert "3 written" in said
    root = etree.parse(str(out), SAFE).getroot()
    assert len(list(root.iter("Child"))) == 3
    rows = problem_rows(tmp_path / "dirty-out.xml.problems.csv")
    assert [r["element"] for r in rows if r["code"] == "census-fields-missing"] == ["record 1"]


def test_strict_turns_warnings_into_exit_1(tmp_path: Path) -> None:
    # both a birth date and an expected birth date: DfE query 8525Q, a warning
    text = (FIXTURES / "clean_2025_26.xml").read_text(encoding="utf-8")
    warned = census(
        tmp_path,
        "warned.xml",
        text.replace(
            "<PersonBirthDate>2015-04-12</PersonBirthDate>",
            "<PersonBirthDate>2015-04-12</PersonBirthDate>\n"
            "<ExpectedPersonBirthDate>2015-04-10</ExpectedPersonBirthDate>",
        ),
    )

    code, said = run("convert", "-a", "cin-census", warned, "-o", tmp_path / "w.jsonl")
    assert code == 0, said
    assert "1 with warnings only" in said
    (row,) = problem_rows(tmp_path / "w.jsonl.problems.csv")
    assert (row["severity"], row["code"], row["dfe_rule"]) == (
        "warning",
        "birth-date-or-expected",
        "8525Q",
    )

    strict_code, strict_said = run(
        "convert", "-a", "cin-census", warned, "-o", tmp_path / "s.jsonl", "--strict"
    )
    assert strict_code == 1
    assert "strict" in strict_said

    assert run("validate", "-a", "cin-census", warned, "--problems", tmp_path / "v.csv")[0] == 0
    assert (
        run("validate", "-a", "cin-census", warned, "--problems", tmp_path / "v.csv", "--strict")[0]
        == 1
    )


def test_validate_writes_no_output_but_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted = tmp_path / "converted"
    converted.mkdir()
    run("convert", "-a", "cin-census", FIXTURES / "dirty.xml", "-o", converted / "dirty.jsonl")
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(FIXTURES / "dirty.xml", here / "dirty.xml")
    monkeypatch.chdir(here)

    code, said = run("validate", "--adapter", "cin-census", "dirty.xml")

    assert code == 1
    assert sorted(p.name for p in here.iterdir()) == ["dirty.xml", "dirty.xml.problems.csv"]
    assert (here / "dirty.xml.problems.csv").read_text(encoding="utf-8") == (
        converted / "dirty.jsonl.problems.csv"
    ).read_text(encoding="utf-8")
    assert "dirty.xml.problems.csv" in said
    assert "written to" not in said


def test_validate_clean_file_exits_0(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"

    code, said = run(
        "validate", "-a", "cin-census", FIXTURES / "older_2023_24.xml", "--problems", report
    )

    assert code == 0, said
    assert problem_rows(report) == []
    assert "4 records read: 4 built (0 with errors, 0 with warnings only)" in said


def test_formula_in_a_source_value_is_neutralised_in_the_problems_csv(tmp_path: Path) -> None:
    text = (FIXTURES / "clean_2025_26.xml").read_text(encoding="utf-8")
    formula = '=HYPERLINK("http://example.invalid/x","open")'
    evil = census(
        tmp_path,
        "evil.xml",
        text.replace("<LAchildID>FICT0001</LAchildID>", f"<LAchildID>{formula}</LAchildID>"),
    )

    code, _ = run("convert", "-a", "cin-census", evil, "-o", tmp_path / "evil.jsonl")

    assert code == 1  # the LA child id breaks DfE rule 1570
    rows = problem_rows(tmp_path / "evil.jsonl.problems.csv")
    assert rows
    assert all(r["record"] == "'" + formula for r in rows)
    assert [r["dfe_rule"] for r in rows] == ["1570"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_unknown_adapter_exits_2_naming_the_installed_ones(tmp_path: Path) -> None:
    code, said = run("convert", "-a", "no-such-adapter", FIXTURES / "clean_2025_26.xml")

    assert code == 2
    assert "no-such-adapter" in said
    assert "cin-census" in said


def test_adapters_list_shows_cin_census_in_and_out() -> None:
    result = CliRunner().invoke(app, ["adapters", "list"])

    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "cin-census" in line]
    assert len(rows) == 1
    assert "in/out" in rows[0]
    assert "xml" in rows[0]
