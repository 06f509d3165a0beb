"""The job report: every record not sent, where it is in the export, what is wrong, the fix.

report.csv is for spreadsheets (so it must not run formulas a hostile export put in it), and
report.html for people (so it must escape markup); both list the same records in export order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

COLUMNS = {
    "position",
    "record",
    "status",
    "to_authority",
    "code",
    "file",
    "line",
    "element",
    "pointer",
    "message",
    "fix",
    "attempts",
}


DIRTY = Path(__file__).resolve().parents[1] / "fixtures" / "jobs" / "dirty_20.xml"


def dry_run(jobs: Any, path: Path, *extra: str) -> Any:
    return jobs.run(
        "run", "--adapter", "cin-census", "--input", str(path), "--to", "941", "--dry-run", *extra
    )


@pytest.fixture(scope="module")
def dirty(module_jobs: Any) -> Any:
    """A dry run of the dirty census (one run, read by several tests)."""
    return dry_run(module_jobs, DIRTY)


def test_the_csv_gives_each_record_not_sent_with_its_place_problem_and_fix(
    module_jobs: Any, dirty: Any
) -> None:
    jobs, run = module_jobs, dirty

    assert run.returncode == 1, run.output
    header = (run.directory / "report.csv").read_text().splitlines()[0].split(",")
    assert set(header) >= COLUMNS
    rows = jobs.report(run.directory)
    assert [int(r["position"]) for r in rows] == sorted(int(r["position"]) for r in rows)
    assert len(rows) == jobs.journal_counts(run.directory)["failed"]
    for row in rows:
        assert row["record"], row
        assert row["code"], row
        assert row["file"] == "dirty_20.xml", row
        assert int(row["line"]) >= 1, row
        assert row["element"].startswith("/Message/Children/Child["), row
        assert row["message"], row
        assert row["fix"], row
        assert row["attempts"] == "0", row  # nothing was sent


def test_the_html_lists_the_same_records_with_the_job_and_its_counts(
    module_jobs: Any, dirty: Any
) -> None:
    jobs, run = module_jobs, dirty
    page = (run.directory / "report.html").read_text()
    rows = jobs.report(run.directory)

    assert run.directory.name in page
    assert "dirty_20.xml" in page
    assert "Dry run" in page
    assert f"Records not sent ({len(rows)})" in page
    html = jobs.html_rows(run.directory)
    assert [
        (h["#"], h["Record"], h["Status"], h["Code"], h["What"], h["How to fix it"]) for h in html
    ] == [
        (r["position"], r["record"], r["status"], r["code"], r["message"], r["fix"]) for r in rows
    ]
    # The summary by problem counts each code once per record.
    codes: dict[str, int] = {}
    for row in rows:
        codes[row["code"]] = codes.get(row["code"], 0) + 1
    for code, count in codes.items():
        assert f"<code>{code}</code> {count}" in page


def test_the_terminal_summary_counts_the_records_and_points_at_both_reports(
    module_jobs: Any, dirty: Any
) -> None:
    jobs, run = module_jobs, dirty

    assert "completed" in run.stderr
    for status, count in jobs.journal_counts(run.directory).items():
        assert str(count) in run.stderr, status
    assert str(run.directory / "report.html") in run.stderr.replace("\n", "")
    assert str(run.directory / "report.csv") in run.stderr.replace("\n", "")
    for row in jobs.report(run.directory):
        assert row["record"] in run.stderr


def test_values_from_a_hostile_export_are_neither_formulas_in_the_csv_nor_markup_in_the_html(
    jobs: Any, census: Any
) -> None:
    path = census.write(
        "hostile.xml",
        [
            census.child("=1+2", 1, ethnicity="WBRT"),
            census.child("@SUM(A1)", 2, need="N12"),
            census.child("HOST03", 3, ethnicity="&lt;script&gt;alert(1)&lt;/script&gt;"),
            census.child("&lt;b&gt;HOST04", 4, birth_date="2015-02-30"),
        ],
    )

    run = dry_run(jobs, path)

    assert run.returncode == 1, run.output
    rows = {r["position"]: r for r in jobs.report(run.directory)}
    assert set(rows) == {"1", "2", "3", "4"}
    for row in rows.values():
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), row
    assert rows["1"]["record"].endswith("=1+2")
    assert rows["2"]["record"].endswith("@SUM(A1)")
    assert "<script>alert(1)</script>" in rows["3"]["message"]

    page = (run.directory / "report.html").read_text()
    assert "<script>" not in page
    assert "<b>HOST04" not in page
    html = {h["#"]: h for h in jobs.html_rows(run.directory)}
    assert "<script>alert(1)</script>" in html["3"]["What"]  # shown as text, not run
    assert html["4"]["Record"] == "<b>HOST04"


def test_problems_found_by_the_adapter_the_router_and_the_exchange_are_reported_in_export_order(
    service: Any, jobs: Any, census: Any, tmp_path: Path
) -> None:
    ids = [f"JOBM{i:02d}" for i in range(1, 9)]
    path = census.write(
        "mixed.xml",
        [
            census.child(i, n, **({"ethnicity": "WBRT"} if n == 2 else {}))
            for n, i in enumerate(ids, 1)
        ],
    )
    routes = {i: ("928" if i == "JOBM04" else "941") for i in ids if i != "JOBM06"}
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "by_la_child_id:\n" + "".join(f'  {i}: "{to}"\n' for i, to in routes.items())
    )

    run = jobs.run(
        "run", "--adapter", "cin-census", "--input", str(path), "--routing", str(routing)
    )

    assert run.returncode == 1, run.output
    rows = jobs.report(run.directory)
    assert [
        (r["position"], r["record"], r["status"], r["to_authority"], r["code"]) for r in rows
    ] == [
        ("2", "JOBM02", "failed", "", "code-unknown"),
        ("4", "JOBM04", "failed", "928", "receiving-authority-invalid"),
        ("6", "JOBM06", "failed", "", "no-route"),
    ]
    assert [r["attempts"] for r in rows] == ["0", "1", "0"]
    assert all(r["message"] and r["fix"] for r in rows)
    sent = {k for k in service.transfers() if k[0].startswith("JOBM")}
    assert sent == {(i, "941") for i in ids if i not in {"JOBM02", "JOBM04", "JOBM06"}}


def test_a_record_the_exchange_refuses_is_reported_with_where_it_is_in_the_export(
    service: Any, jobs: Any, census: Any, tmp_path: Path
) -> None:
    path = census.clean("refused_where.xml", ["JOBW01", "JOBW02", "JOBW03"])
    routing = tmp_path / "routing.yaml"
    routing.write_text('by_la_child_id:\n  JOBW02: "928"\ndefault: "941"\n')

    run = jobs.run(
        "run", "--adapter", "cin-census", "--input", str(path), "--routing", str(routing)
    )

    assert run.returncode == 1, run.output
    [row] = jobs.report(run.directory)
    assert row["record"] == "JOBW02"
    assert row["file"] == "refused_where.xml"
    second_child = [
        n for n, line in enumerate(path.read_text().splitlines(), 1) if "<Child>" in line
    ][1]
    assert row["line"] == str(second_child)
    assert row["element"] == "/Message/Children/Child[2]"
