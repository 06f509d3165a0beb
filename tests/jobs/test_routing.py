"""Routing a caseload between authorities: the Router's rules, and a reorganisation end to end.

The end-to-end test sends a Northamptonshire-style caseload (the county was split into North
Northamptonshire, 940, and West Northamptonshire, 941, on 1 April 2021) through the dfe-csc-api
adapter, whose ``child_details.postcode`` becomes the child's current address, and checks every
child arrived at the authority that now covers its address.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import minimal_record

from exchange.canonical import ChildRecord
from exchange.jobs.routing import Router, RoutingError


def child(*addresses: dict[str, Any], la_child_id: str = "CH1001") -> ChildRecord:
    """A valid record whose child lived at ``addresses``."""
    document = minimal_record(source_authority="301", la_child_id=la_child_id)
    document["child"]["addresses"] = list(addresses)
    return ChildRecord.model_validate(document)


def living_at(postcode: str, la_child_id: str = "CH1001") -> ChildRecord:
    return child({"postcode": postcode, "start_date": "2024-01-01"}, la_child_id=la_child_id)


def load(tmp_path: Path, text: str) -> Router:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return Router.load(path)


LAYERED = """
by_postcode:
  NN16 8DN: "942"   # a unit
  NN16 8: "943"     # a sector
  NN16: "940"       # a district
  NN: "941"         # an area
default: "873"
"""


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [
        ("NN16 8DN", "942"),  # the unit itself
        ("NN16 8DQ", "943"),  # same sector, another unit
        ("NN16 9AA", "940"),  # same district, another sector
        ("NN1 1DE", "941"),  # same area, another district: NN1 is not a prefix of NN16
        ("NN17 1AB", "941"),
        ("MK40 1SA", "873"),  # another area: the default
    ],
)
def test_the_most_specific_postcode_rule_wins(tmp_path: Path, postcode: str, expected: str) -> None:
    router = load(tmp_path, LAYERED)

    assert router.route(living_at(postcode)).to_authority == expected


def test_a_district_rule_does_not_catch_districts_that_only_start_the_same(
    tmp_path: Path,
) -> None:
    router = load(tmp_path, 'by_postcode:\n  NN1: "941"\n')

    assert router.route(living_at("NN1 1DE")).to_authority == "941"
    assert router.route(living_at("NN10 9BN")).to_authority is None
    assert router.route(living_at("NN16 8DN")).to_authority is None


def test_a_childs_id_in_the_table_wins_over_the_postcode(tmp_path: Path) -> None:
    router = load(tmp_path, LAYERED + 'by_la_child_id:\n  NNC013: "940"\n')

    assert router.route(living_at("LE1 1AA", la_child_id="NNC013")).to_authority == "940"
    assert router.route(living_at("NN16 8DN", la_child_id="NNC013")).to_authority == "940"
    assert router.route(living_at("LE1 1AA", la_child_id="NNC014")).to_authority == "873"


def test_a_fixed_receiver_takes_every_record() -> None:
    router = Router(fixed="941", by_postcode={"NN16": "940"}, default="873")

    assert router.route(living_at("NN16 8DN")).to_authority == "941"
    assert router.route(child()).to_authority == "941"


def test_the_postcode_used_is_the_current_address_most_recently_moved_into(
    tmp_path: Path,
) -> None:
    router = load(tmp_path, 'by_postcode:\n  NN16: "940"\n  NN1: "941"\n  MK40: "826"\n')
    moved_within_the_county = child(
        {"postcode": "MK40 1SA", "start_date": "2019-01-01", "end_date": "2023-12-31"},
        {"postcode": "NN1 1DE", "start_date": "2021-05-01"},
        {"postcode": "NN16 8DN", "start_date": "2024-01-01"},
    )
    left_the_county = child(
        {"postcode": "NN16 8DN", "start_date": "2019-01-01", "end_date": "2024-02-01"},
        {"postcode": "MK40 1SA", "start_date": "2024-02-02"},
    )

    assert router.route(moved_within_the_county).to_authority == "940"
    assert router.route(left_the_county).to_authority == "826"


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [("nn16 8dn", "940"), ("NN168DN", "940"), ("  NN16   8DN ", "940"), ("NN16", "940")],
)
def test_postcodes_are_matched_however_the_record_writes_them(
    tmp_path: Path, postcode: str, expected: str
) -> None:
    router = load(tmp_path, 'by_postcode:\n  NN16: "940"\n')

    assert router.route(living_at(postcode)).to_authority == expected


def test_routing_file_postcodes_may_be_written_in_lower_case_and_loose_spacing(
    tmp_path: Path,
) -> None:
    router = load(tmp_path, 'by_postcode:\n  "nn16  8": "943"\n  nn16: "940"\n')

    assert router.route(living_at("NN16 8DN")).to_authority == "943"
    assert router.route(living_at("NN16 9AA")).to_authority == "940"


def test_a_routing_file_unit_written_without_its_space_still_matches(tmp_path: Path) -> None:
    router = load(tmp_path, 'by_postcode:\n  NN168DN: "942"\n  NN16: "940"\n')

    assert router.route(living_at("NN16 8DN")).to_authority == "942"


def test_codes_and_child_ids_written_as_plain_numbers_are_read_as_text(tmp_path: Path) -> None:
    router = load(
        tmp_path, "by_la_child_id:\n  123456: 940\nby_postcode:\n  NN1: 941\ndefault: 873\n"
    )

    assert router.route(living_at("LE1 1AA", la_child_id="123456")).to_authority == "940"
    assert router.route(living_at("NN1 1DE")).to_authority == "941"
    assert router.route(living_at("MK40 1SA")).to_authority == "873"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (living_at("MK40 1SA"), "MK40 1SA"),
        (child(), "no current address"),
        (
            child({"postcode": "NN16 8DN", "start_date": "2019-01-01", "end_date": "2020-01-01"}),
            "no current address",
        ),
    ],
    ids=["postcode not routed", "no address", "only a past address"],
)
def test_without_a_rule_or_a_default_there_is_no_route_and_the_reason_says_why(
    tmp_path: Path, record: ChildRecord, reason: str
) -> None:
    router = load(tmp_path, 'by_postcode:\n  NN16: "940"\n')

    route = router.route(record)

    assert route.to_authority is None
    assert reason in route.reason


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('by_postcod:\n  NN16: "940"\n', "by_postcod"),
        ('by_postcode:\n  - NN16\n  - "940"\n', "by_postcode"),
        ("by_postcode: {NN16: [940, 941]}\n", "NN16"),
        ("by_postcode:\n  NN16: '940'\n   NN17: '941'\n", "not YAML"),
        ("- 940\n- 941\n", "routing.yaml"),
    ],
    ids=["unknown section", "a list, not a table", "two receivers", "broken YAML", "not a table"],
)
def test_a_routing_file_with_a_mistake_is_refused_naming_the_file_and_where(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(RoutingError) as refused:
        load(tmp_path, text)

    assert str(tmp_path / "routing.yaml") in str(refused.value)
    assert named in str(refused.value)


def test_a_job_with_a_broken_routing_file_does_not_start(
    jobs: Any, fixtures_dir: Path, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text('by_postcod:\n  NN16: "940"\n')

    run = jobs.run(
        "run",
        "--adapter",
        "dfe-csc-api",
        "--input",
        str(fixtures_dir / "northamptonshire_caseload.jsonl"),
        "--routing",
        str(routing),
        "--dry-run",
    )

    assert run.returncode == 2, run.output
    assert "by_postcod" in run.stderr


# Where each child of the caseload lives, and who covers that address since April 2021.
NORTH, WEST = "940", "941"
EXPECTED = {
    "NNC001": NORTH,  # NN16 8DN, Kettering
    "NNC002": NORTH,  # nn17 1ab, Corby (written in lower case)
    "NNC003": NORTH,  # NN181AA, Corby (written without the space)
    "NNC004": NORTH,  # NN8 4EX, Wellingborough
    "NNC005": NORTH,  # NN10 9BN, Rushden
    "NNC006": NORTH,  # PE8 4BQ, Oundle: a sector of a non-NN district
    "NNC007": WEST,  # NN1 1DE, Northampton
    "NNC008": WEST,  # NN4 8UT, Northampton
    "NNC009": WEST,  # NN11 4HJ, Daventry
    "NNC010": WEST,  # NN12 6AD, Towcester
    "NNC011": WEST,  # NN13 7AB, Brackley
    "NNC012": WEST,  # NN6 7PP
    "NNC013": NORTH,  # placed in Leicester (LE1): routed by the child's id
}
NOT_ROUTED = {
    "NNC014": "MK40 1SA",  # Bedford: not Northamptonshire, and no default
    "NNC015": "no current address",
    "NNC016": "PE8 6XX",  # PE8 outside the Oundle sector
}


def test_a_reorganised_county_caseload_reaches_the_successor_covering_each_childs_address(
    service: Any, jobs: Any, fixtures_dir: Path
) -> None:
    caseload = fixtures_dir / "northamptonshire_caseload.jsonl"
    children = [json.loads(line)["la_child_id"] for line in caseload.read_text().splitlines()]
    assert sorted(children) == sorted([*EXPECTED, *NOT_ROUTED])

    run = jobs.run(
        "run",
        "--adapter",
        "dfe-csc-api",
        "--input",
        str(caseload),
        "--routing",
        str(fixtures_dir / "northamptonshire_routing.yaml"),
        "--batch-size",
        "5",
    )

    assert run.returncode == 1, run.output
    arrived = {k: n for k, n in service.transfers().items() if k[0].startswith("NNC")}
    assert arrived == dict.fromkeys(EXPECTED.items(), 1)
    rows = jobs.report(run.directory)
    assert [r["record"] for r in rows] == list(NOT_ROUTED)
    for row in rows:
        assert row["code"] == "no-route"
        assert NOT_ROUTED[row["record"]] in row["message"]
        assert row["file"] == caseload.name
        assert row["line"] == str(children.index(row["record"]) + 1)
        assert row["fix"]
