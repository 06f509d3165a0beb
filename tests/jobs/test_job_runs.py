"""`exchange job run|resume|status` end to end against a running exchange.

Each job is a real subprocess sending to a real service; what arrived is read back from the
service's database. A clean census arrives whole, one transfer per child; a dirty one arrives
less its bad records, which the report names with their place in the file and the fix; a dry
run sends nothing and reports the same; resuming a finished job sends nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CLEAN = "clean_60.xml"
DIRTY = "dirty_20.xml"


def census_ids(path: Path) -> list[str]:
    """The LAchildID of every Child, in file order."""
    from lxml import etree

    return [e.text or "" for e in etree.parse(str(path)).iter("LAchildID")]


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The line number of the ``occurrence``-th line of ``path`` that contains ``needle``."""
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return found[occurrence - 1]


def test_a_clean_census_arrives_once_per_child_and_resuming_sends_nothing_more(
    service: Any, jobs: Any, fixtures_dir: Path
) -> None:
    census = fixtures_dir / CLEAN
    ids = census_ids(census)
    assert len(ids) == 60

    run = jobs.run(
        "run",
        "--adapter",
        "cin-census",
        "--input",
        str(census),
        "--to",
        "941",
        "--batch-size",
        "7",  # 60 = 8 x 7 + 4: the last batch is a short one
        "--concurrency",
        "3",
    )

    assert run.returncode == 0, run.output
    assert run.directory is not None
    assert "completed" in run.stderr
    arrived = service.transfers()
    assert {key: n for key, n in arrived.items() if key[0].startswith("JOBC")} == {
        (child, "941"): 1 for child in ids
    }
    assert jobs.report(run.directory) == []
    assert jobs.html_rows(run.directory) == []
    assert "Every record was sent." in (run.directory / "report.html").read_text()

    status = jobs.run("status", run.directory.name)
    assert status.returncode == 0, status.output
    assert "completed" in status.stderr
    assert "60" in status.stderr  # sent

    again = jobs.run("resume", run.directory.name)
    assert again.returncode == 0, again.output
    assert service.transfers() == arrived
    assert jobs.journal_counts(run.directory) == {"sent": 60}


def test_a_dirty_census_sends_the_good_records_and_reports_the_bad_ones_where_they_are(
    service: Any, jobs: Any, fixtures_dir: Path
) -> None:
    census = fixtures_dir / DIRTY
    before = service.transfers()

    dry = jobs.run(
        "run", "--adapter", "cin-census", "--input", str(census), "--to", "941", "--dry-run"
    )
    assert dry.returncode == 1, dry.output
    assert service.transfers() == before, "a dry run sent something"
    assert jobs.journal_counts(dry.directory) == {"valid": 15, "failed": 5}

    run = jobs.run("run", "--adapter", "cin-census", "--input", str(census), "--to", "941")

    assert run.returncode == 1, run.output
    assert run.directory is not None
    assert jobs.journal_counts(run.directory) == {"sent": 15, "failed": 5}
    rows = jobs.report(run.directory)
    expected = [
        # (position, record, code, line, element)
        (
            4,
            "JOBD04",
            "code-unknown",
            line_of(census, "<Ethnicity>WBRT<"),
            "/Message/Children/Child[4]/ChildCharacteristics/Ethnicity",
        ),
        (
            8,
            "JOBD08",
            "date-invalid",
            line_of(census, "<PersonBirthDate>2015-02-30<"),
            "/Message/Children/Child[8]/ChildIdentifiers/PersonBirthDate",
        ),
        (
            12,
            "JOBD12",
            "cp-plan-ends-before-start",
            line_of(census, "<Child>", 12),
            "/Message/Children/Child[12]",
        ),
        (
            16,
            "JOBD03",
            "la-child-id-duplicate",
            line_of(census, "<Child>", 16),
            "/Message/Children/Child[16]",
        ),
        (
            19,
            "JOBD19",
            "code-unknown",
            line_of(census, "<PrimaryNeedCode>N12<"),
            "/Message/Children/Child[19]/CINdetails[1]/PrimaryNeedCode",
        ),
    ]
    assert [
        (int(r["position"]), r["record"], r["code"], int(r["line"]), r["element"]) for r in rows
    ] == expected
    for row in rows:
        assert row["file"] == DIRTY
        assert row["status"] == "failed"
        assert row["message"], row
        assert row["fix"], row
    plan = next(r for r in rows if r["code"] == "cp-plan-ends-before-start")
    assert plan["pointer"] == "/episodes/0/cp_plans/0/end_date"

    html = jobs.html_rows(run.directory)
    assert [(h["#"], h["Record"], h["Code"], h["How to fix it"]) for h in html] == [
        (r["position"], r["record"], r["code"], r["fix"]) for r in rows
    ]
    for h, r in zip(html, rows, strict=True):
        assert r["file"] in h["Where"]
        assert f"line {r['line']}" in h["Where"]
        assert r["element"] in h["Where"]

    # The dry run reported exactly what the real run did.
    assert jobs.report(dry.directory) == rows

    arrived = service.transfers()
    bad = {"JOBD04", "JOBD08", "JOBD12", "JOBD19"}
    good = [i for i in dict.fromkeys(census_ids(census)) if i not in bad]
    assert len(good) == 15
    assert {k: n for k, n in arrived.items() if k[0].startswith("JOBD")} == {
        (child, "941"): 1 for child in good
    }, "JOBD03 (repeated at Child 16) must be sent once, the bad records never"


def test_a_dry_run_of_a_clean_census_validates_everything_and_sends_nothing(
    service: Any, jobs: Any, fixtures_dir: Path
) -> None:
    before = service.transfers()

    dry = jobs.run(
        "run",
        "--adapter",
        "cin-census",
        "--input",
        str(fixtures_dir / CLEAN),
        "--to",
        "940",
        "--dry-run",
    )

    assert dry.returncode == 0, dry.output
    assert jobs.journal_counts(dry.directory) == {"valid": 60}
    assert jobs.report(dry.directory) == []
    assert "Dry run" in (dry.directory / "report.html").read_text()
    assert service.transfers() == before


def test_a_job_without_a_token_or_with_a_refused_one_cannot_run(
    service: Any, jobs: Any, census: Any
) -> None:
    path = census.clean("tokens.xml", ["JOBT01", "JOBT02"])
    args = ("run", "--adapter", "cin-census", "--input", str(path), "--to", "941")

    missing = jobs.run(*args, token="")
    assert missing.returncode == 2, missing.output
    assert "EXCHANGE_TOKEN" in missing.stderr

    refused = jobs.run(*args, token="exch.00000000-0000-0000-0000-000000000000.not-a-secret")
    assert refused.returncode == 2, refused.output
    assert "401" in refused.stderr

    assert not any(child.startswith("JOBT") for child in service.per_child())


@pytest.mark.parametrize(
    "choice",
    [(), ("--to", "941", "--routing", "ROUTING")],
    ids=["neither --to nor --routing", "both --to and --routing"],
)
def test_a_job_needs_exactly_one_way_to_choose_the_receiver(
    jobs: Any, fixtures_dir: Path, tmp_path: Path, choice: tuple[str, ...]
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text('default: "941"\n')
    args = [str(routing) if a == "ROUTING" else a for a in choice]

    run = jobs.run(
        "run", "--adapter", "cin-census", "--input", str(fixtures_dir / CLEAN), "--dry-run", *args
    )

    assert run.returncode == 2, run.output
    assert "--to" in run.stderr
    assert "--routing" in run.stderr


def test_an_unreadable_export_stops_the_job_with_its_reason(
    service: Any, jobs: Any, census: Any
) -> None:
    whole = census.clean("whole.xml", [f"JOBU{i:02d}" for i in range(1, 6)]).read_text()
    cut = census.directory / "cut.xml"
    cut.write_text(whole[: whole.index("<Child>", whole.index("JOBU03"))] + "<Child><ChildIdent")

    run = jobs.run("run", "--adapter", "cin-census", "--input", str(cut), "--to", "941")

    assert run.returncode == 2, run.output
    assert "not well-formed" in run.stderr
    assert "fatal" in run.stderr


def test_resume_and_status_of_an_unknown_job_say_so(jobs: Any) -> None:
    for command in ("resume", "status"):
        run = jobs.run(command, "no-such-job")
        assert run.returncode == 2, run.output
        assert "no-such-job" in run.stderr
