"""DfE children's social care data API payload (v0.7 JSON): reading, problems, purge, writing."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.adapters import InputUnreadable, ReadResult, Source, get_adapter
from exchange.adapters.dfe_csc_api import MAPPING, NOT_AN_OBJECT, DfECSCAPIAdapter
from exchange.adapters.values import parse_bool, parse_date
from exchange.canonical import ChildRecord, Severity
from exchange.canonical.codes import SEX_ALIASES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dfe_csc_api"


@pytest.fixture(scope="module")
def adapter() -> DfECSCAPIAdapter:
    return DfECSCAPIAdapter()


def read(adapter: DfECSCAPIAdapter, name: str) -> list[ReadResult]:
    return list(adapter.read(Source.from_path(FIXTURES / name)))


def read_bytes(
    adapter: DfECSCAPIAdapter, data: bytes, name: str = "upload.json"
) -> list[ReadResult]:
    return list(adapter.read(Source.from_bytes(data, name)))


def record(result: ReadResult) -> ChildRecord:
    assert result.record is not None, [p.message for p in result.problems]
    return result.record


def codes(result: ReadResult) -> list[str]:
    return [p.code for p in result.problems]


def problem_at(result: ReadResult, code: str, element: str) -> Any:
    found = [
        p
        for p in result.problems
        if p.code == code and p.location and p.location.element == element
    ]
    assert found, f"no {code} at {element}: {[(p.code, p.location) for p in result.problems]}"
    return found[0]


def unmapped_at(rec: ChildRecord, element: str) -> list[str]:
    return [u.value for u in rec.unmapped if u.location.element == element]


def write(adapter: DfECSCAPIAdapter, records: list[ChildRecord]) -> tuple[list[Any], list[Any]]:
    out = io.BytesIO()
    problems = adapter.write(records, out)
    lines = out.getvalue().decode("utf-8").splitlines()
    return [json.loads(line) for line in lines], problems


# --- registration and shapes ----------------------------------------------------------------


def test_the_adapter_is_registered() -> None:
    assert get_adapter("dfe-csc-api") is DfECSCAPIAdapter


def test_an_array_of_records_is_read_with_each_records_line_and_position(
    adapter: DfECSCAPIAdapter,
) -> None:
    results = read(adapter, "children.json")

    assert [r.key for r in results] == ["DRT0001", None, "DRT0003"]
    first = record(results[0])
    assert first.provenance.source_authority == "873"
    assert first.provenance.adapter == "dfe-csc-api"
    ids = {(i.system, i.value, i.issuer) for i in first.child.identifiers}
    assert ("la_child_id", "DRT0001", "873") in ids
    assert ("legacy", "MIS-55", "873") in ids
    assert ("upn", "J202000000005", None) in ids
    assert first.child.sex == "M"  # 1, the sex code used up to 2023-24
    assert first.child.addresses[0].postcode == "ZZ99 1AA"
    assert first.child.immigration_status is not None
    assert first.child.immigration_status.uasc is False
    assert results[0].location is not None
    assert (results[0].location.line, results[0].location.row) == (2, 1)
    assert results[0].location.element == "/0"
    assert results[2].location is not None
    assert results[2].location.line == 74


def test_a_record_that_is_not_an_object_is_skipped_with_its_index(
    adapter: DfECSCAPIAdapter,
) -> None:
    skipped = read(adapter, "children.json")[1]

    assert skipped.skipped
    assert codes(skipped) == ["record-not-object"]
    found = skipped.problems[0]
    assert found.location is not None
    assert (found.location.row, found.location.element, found.location.line) == (2, "/1", 73)
    assert "array index 1" in found.message
    assert "'oops'" in found.message


def test_json_lines_are_read_line_by_line(adapter: DfECSCAPIAdapter) -> None:
    results = read(adapter, "children.jsonl")

    assert [r.key for r in results] == ["JL0001", None, "JL0002"]
    assert [r.location.line for r in results if r.location] == [1, 3, 4]
    assert codes(results[1]) == ["record-not-object"]
    second = record(results[2])
    assert second.child.sex == "F"  # 2
    assert second.child.ethnicity == "CHNE"
    sdq = second.chronology[0]
    assert (sdq.date.isoformat(), sdq.category, sdq.source) == ("2024-05-05", "health", "SDQ")
    assert sdq.summary.endswith("score: 9")


def test_a_single_pretty_printed_object_is_one_record(adapter: DfECSCAPIAdapter) -> None:
    results = read(adapter, "single.json")

    assert len(results) == 1
    rec = record(results[0])
    assert results[0].location is not None
    assert (results[0].location.line, results[0].location.element) == (1, None)
    assert rec.child.names[0].given == "Singleton"
    assert rec.child.addresses[0].postcode == "ZZ99 4DD"
    assert rec.child.disabilities == ["NONE"]
    plan = rec.episodes[0].cp_plans[0]
    assert (plan.id, plan.start_date.isoformat() if plan.start_date else None) == (
        "CPP-1",
        "2024-04-02",
    )


def test_concatenated_pretty_printed_objects_are_each_a_record(
    adapter: DfECSCAPIAdapter,
) -> None:
    data = b'{\n  "la_code": "202",\n  "la_child_id": "C1"\n}\n{\n  "la_code": "202",\n  "la_child_id": "C2"\n}\n'

    results = read_bytes(adapter, data)

    assert [r.key for r in results] == ["C1", "C2"]
    assert [r.location.line for r in results if r.location] == [1, 5]


def test_a_byte_order_mark_is_skipped(adapter: DfECSCAPIAdapter) -> None:
    for data in (
        b'\xef\xbb\xbf[{"la_code": "202", "la_child_id": "B1"}]',
        b'\xef\xbb\xbf{"la_code": "202", "la_child_id": "B1"}\n',
    ):
        assert [r.key for r in read_bytes(adapter, data)] == ["B1"]


# --- fatal problems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "line", "column"),
    [
        pytest.param(
            b'[\n  {"la_code": "202", "la_child_id": "A1"},\n  {"la_code": "202",\n   "la_child_id": }\n]\n',
            "json-malformed",
            4,
            "19",
            id="array",
        ),
        pytest.param(
            b'{"la_code": "202", "la_child_id": "A1"}\n{"la_child_id": "A2",, }\n',
            "json-malformed",
            2,
            "22",
            id="json-lines",
        ),
        pytest.param(
            b'{\n  "la_child_id": "A1",\n  "uasc": tru\n}\n',
            "json-malformed",
            3,
            "14",
            id="pretty-object",
        ),
        pytest.param(
            b'[\n  {"la_code": "202", "la_child_id": "A1"},\n  {"la_code": "202",\n',
            "json-malformed",
            3,
            None,
            id="cut-short",
        ),
        pytest.param(b'{"la_child_id": "A1", "n": NaN}\n', "json-malformed", 1, None, id="nan"),
        pytest.param(
            b'[{"la_child_id": "A1", "first_name": "Zo\xeb"}]',
            "json-not-utf8",
            1,
            "41",
            id="latin-1",
        ),
        pytest.param(
            b'{"la_child_id": "A1"}\n{"first_name": "Zo\xeb"}\n',
            "json-not-utf8",
            2,
            "19",
            id="latin-1-lines",
        ),
        pytest.param(b" \n\t ", "file-empty", None, None, id="empty"),
        pytest.param(b"la_child_id,sex\nA1,M\n", "json-not-records", 1, None, id="csv"),
        pytest.param(b"[]", "no-records", None, None, id="no-records"),
    ],
)
def test_input_that_cannot_be_read_is_fatal_and_says_where(
    adapter: DfECSCAPIAdapter, data: bytes, code: str, line: int | None, column: str | None
) -> None:
    with pytest.raises(InputUnreadable) as caught:
        read_bytes(adapter, data, "export.json")

    found = caught.value.problem
    assert found.code == code
    assert found.severity == Severity.FATAL
    assert found.location is not None
    assert found.location.file == "export.json"
    assert (found.location.line, found.location.column) == (line, column)
    assert found.fix


def test_records_before_malformed_json_are_read_first(adapter: DfECSCAPIAdapter) -> None:
    data = b'[\n{"la_code": "202", "la_child_id": "OK1"},\n{"la_code": "202", "la_child_id": "OK2"},\n{"la_code": \n'
    results = adapter.read(Source.from_bytes(data, "cut.json"))

    seen = [next(results).key, next(results).key]
    with pytest.raises(InputUnreadable):
        next(results)
    assert seen == ["OK1", "OK2"]


def test_more_than_one_file_is_fatal(adapter: DfECSCAPIAdapter) -> None:
    source = Source.from_files({"a.json": b"[]", "b.json": b"[]"})

    with pytest.raises(InputUnreadable) as caught:
        list(adapter.read(source))

    assert caught.value.problem.code == "source-not-one-file"


# --- problems that ride with a record -------------------------------------------------------


def test_unknown_fields_are_kept_with_their_json_pointer_and_warned(
    adapter: DfECSCAPIAdapter,
) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)

    assert unmapped_at(rec, "/nickname") == ["Fixture"]
    assert unmapped_at(rec, "/social_care_episodes/0/foo/bar") == ["baz"]
    assert unmapped_at(rec, "/social_care_episodes/0/foo/n") == ["3"]
    warning = problem_at(result, "field-unknown", "/social_care_episodes/0/foo")
    assert warning.severity == Severity.WARNING
    assert warning.location.row == 1
    assert warning.location.file == "children.json"
    kept = next(u for u in rec.unmapped if u.location.element == "/nickname")
    assert (kept.field, kept.location.file, kept.location.row) == ("nickname", "children.json", 1)


def test_values_that_cannot_be_read_are_reported_and_kept(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)

    problem_at(result, "date-invalid", "/child_details/date_of_birth")
    assert unmapped_at(rec, "/child_details/date_of_birth") == ["2016-02-30"]
    problem_at(result, "code-unknown", "/child_details/ethnicity")
    problem_at(result, "code-unknown", "/child_details/disabilities/1")
    assert rec.child.disabilities == ["MOB"]
    assert unmapped_at(rec, "/child_details/disabilities/1") == ["WINGS"]
    problem_at(result, "boolean-invalid", "/social_care_episodes/0/referral_no_further_action_flag")
    problem_at(
        result, "value-not-object", "/social_care_episodes/0/child_looked_after_placements/0"
    )
    assert unmapped_at(rec, "/social_care_episodes/0/child_looked_after_placements/0") == [
        "not a placement"
    ]
    assert rec.episodes[0].assessments[0].authorisation_date is not None  # dd/mm/yyyy is read
    assert rec.episodes[0].assessments[0].factors == ["3A", "4A"]


def test_a_repeated_key_keeps_the_earlier_value(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)

    assert rec.child.names[0].family == "Testchild-Fixture"
    assert unmapped_at(rec, "/child_details/surname") == ["Testchild"]
    problem_at(result, "json-duplicate-key", "/child_details/surname")


def test_a_start_reason_that_is_not_an_rne_code_is_kept(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)
    pointer = "/social_care_episodes/0/child_looked_after_placements/1/start_reason"

    looked_after = rec.episodes[0].looked_after_episodes[0]
    assert looked_after.reason_new_episode is None
    assert looked_after.reason_episode_ceased == "E3"
    assert looked_after.placement is not None
    assert looked_after.placement.id == "PL-9"
    assert unmapped_at(rec, pointer) == ["Q"]
    assert problem_at(result, "start-reason-not-rne", pointer).severity == Severity.WARNING


def test_sdqs_join_the_chronology_and_one_without_a_date_is_kept(
    adapter: DfECSCAPIAdapter,
) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)

    assert [(e.date.isoformat(), e.summary) for e in rec.chronology] == [
        ("2023-10-10", "SDQ (no score given)"),
        ("2024-10-10", "SDQ total difficulties score: 17"),
    ]
    assert unmapped_at(rec, "/health_and_wellbeing/sdq_assessments/0/score") == ["12"]
    problem_at(result, "sdq-date-missing", "/health_and_wellbeing/sdq_assessments/0")
    assert unmapped_at(rec, "/health_and_wellbeing/sdq_assessments/1/score") == ["high"]


def test_adoption_and_care_leavers_are_kept_with_their_pointers(
    adapter: DfECSCAPIAdapter,
) -> None:
    rec = record(read(adapter, "children.json")[0])

    assert unmapped_at(rec, "/social_care_episodes/0/care_leavers/activity") == ["F2"]
    assert unmapped_at(rec, "/social_care_episodes/0/care_leavers/contact_date") == ["2024-08-11"]


# --- purge flags ----------------------------------------------------------------------------


def test_a_top_level_purge_builds_the_record_and_warns(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[2]
    rec = record(result)

    warning = problem_at(result, "purge-requested", "/purge")
    assert warning.severity == Severity.WARNING
    kept = [u for u in rec.unmapped if u.field == "purge"]
    assert [(u.value, u.location.element) for u in kept] == [("true", "/purge")]
    assert rec.child.names[0].given == "Deleteme"


def test_a_purge_on_a_part_is_kept_with_its_pointer_and_warned(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)
    pointer = "/social_care_episodes/0/child_looked_after_placements/1/purge"

    assert unmapped_at(rec, pointer) == ["true"]
    warning = problem_at(result, "part-purge-requested", pointer)
    assert "PL-9" in warning.message
    assert "purge-requested" not in codes(result)


def test_purge_false_is_not_kept(adapter: DfECSCAPIAdapter) -> None:
    rec = record(read(adapter, "single.json")[0])

    assert not [u for u in rec.unmapped if u.field == "purge"]


def test_the_writer_puts_purge_flags_back_where_they_were_read(adapter: DfECSCAPIAdapter) -> None:
    records = [r.record for r in read(adapter, "children.json") if r.record]

    written, problems = write(adapter, records)

    first, second = written
    assert first["purge"] is False
    assert second["purge"] is True
    # the item before it was not an object and is not written, so the placement is now first
    placements = first["social_care_episodes"][0]["child_looked_after_placements"]
    assert [(p["child_looked_after_placement_id"], p["purge"]) for p in placements] == [
        ("PL-9", True)
    ]
    flags = [f for f in _purge_flags(first) if f[1]]
    assert flags == [("/social_care_episodes/0/child_looked_after_placements/0/purge", True)]
    assert not problems


def test_a_purge_is_not_written_on_a_part_that_moved(adapter: DfECSCAPIAdapter) -> None:
    rec = record(read(adapter, "round_trip.json")[0])
    episode = rec.episodes[1]
    episode.cp_plans.insert(0, episode.cp_plans[0].model_copy(update={"id": "CP-OTHER"}))

    written, problems = write(adapter, [rec])

    plans = written[0]["social_care_episodes"][1]["child_protection_plans"]
    assert [(p["child_protection_plan_id"], p["purge"]) for p in plans] == [
        ("CP-OTHER", False),
        ("CP200", False),
    ]
    assert [p.code for p in problems] == ["purge-not-written"]


def _purge_flags(value: Any, pointer: str = "") -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "purge":
                found.append((f"{pointer}/purge", item))
            else:
                found += _purge_flags(item, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _purge_flags(item, f"{pointer}/{i}")
    return found


# --- nothing lost ---------------------------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, so a repeated key's earlier value is seen too."""


def _source_records(name: str) -> list[Any]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    if name.endswith(".jsonl"):
        return [
            json.loads(line, object_pairs_hook=_Pairs) for line in text.splitlines() if line.strip()
        ]
    document = json.loads(text, object_pairs_hook=_Pairs)
    return [document] if isinstance(document, _Pairs) else list(document)


def _leaves(value: Any, pointer: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, _Pairs):
        return [leaf for key, item in value for leaf in _leaves(item, f"{pointer}/{key}")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{pointer}/{i}")]
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    return [(pointer, value)]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value).strip()


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = _text(value)
    day = parse_date(text)
    return day.isoformat() if day else text.upper().replace(" ", "")


def _resolve(node: Any, tokens: list[str]) -> list[Any]:
    if not tokens:
        return [node]
    head, rest = tokens[0], tokens[1:]
    if head.startswith("[") and isinstance(node, list):
        return [
            v for item in node if item.get("system") == head[1:-1] for v in _resolve(item, rest)
        ]
    if head == "*" and isinstance(node, list):
        return [v for item in node for v in _resolve(item, rest)]
    if isinstance(node, list) and head.isdigit() and int(head) < len(node):
        return _resolve(node[int(head)], rest)
    if isinstance(node, dict) and head in node:
        return _resolve(node[head], rest)
    return []


def _canonical_indexes(pointer: str, skipped: set[str]) -> list[int]:
    """The source pointer's list indexes, less the items before it that were not objects."""
    tokens = pointer.split("/")[1:]
    indexes = []
    for i, token in enumerate(tokens):
        if token.isdigit():
            parent = "/".join(tokens[:i])
            before = sum(
                1
                for s in skipped
                if s.rsplit("/", 1)[0] == "/" + parent and int(s.rsplit("/", 1)[1]) < int(token)
            )
            indexes.append(int(token) - before)
    return indexes


def _mapped(rec: dict[str, Any], pointer: str, value: Any, skipped: set[str]) -> bool:
    pattern = re.sub(r"/\d+(?=/|$)", "/*", pointer)
    template = MAPPING.get(pattern)
    if template is None:
        return False
    negate = template.startswith("not ")
    template = template.removeprefix("not ").format(*_canonical_indexes(pointer, skipped))
    found = _resolve(rec, template.split("/")[1:])
    if pattern == "/child_details/sex":
        value = SEX_ALIASES.get(_text(value).upper(), value)
    for candidate in found:
        if isinstance(candidate, bool):
            expected = value if isinstance(value, bool) else parse_bool(_text(value))
            if expected is not None and candidate == (not expected if negate else expected):
                return True
        elif pattern.endswith("/score"):
            if isinstance(candidate, str) and candidate.endswith(f": {_text(value)}"):
                return True
        elif _norm(candidate) == _norm(value):
            return True
    return False


@pytest.mark.parametrize(
    "name", ["children.json", "children.jsonl", "single.json", "round_trip.json"]
)
def test_nothing_is_lost(adapter: DfECSCAPIAdapter, name: str) -> None:
    """Every non-empty source value is in its mapped canonical field or kept with its location."""
    sources = _source_records(name)
    results = read(adapter, name)
    assert len(results) == len(sources)
    checked = 0
    for row, (source, result) in enumerate(zip(sources, results, strict=True), 1):
        if not isinstance(source, _Pairs):
            assert result.skipped
            assert codes(result) == ["record-not-object"]
            continue
        rec = record(result).model_dump(mode="json")
        kept = {
            (u["location"]["element"], u["value"])
            for u in rec["unmapped"]
            if u["location"].get("file") == name and u["location"].get("row") == row
        }
        skipped = {
            u["location"]["element"] for u in rec["unmapped"] if u.get("reason") == NOT_AN_OBJECT
        }
        for pointer, value in _leaves(source):
            checked += 1
            if (pointer, _text(value)) in kept:
                continue
            if pointer.endswith("/purge") and value is False:
                continue  # the default: every object the writer writes carries purge false
            assert _mapped(rec, pointer, value, skipped), (
                f"{name} record {row}: {pointer} = {value!r} is neither mapped nor kept"
            )
    assert checked > 20


def test_the_nothing_lost_check_notices_a_dropped_value(adapter: DfECSCAPIAdapter) -> None:
    result = read(adapter, "children.json")[0]
    rec = record(result)
    rec.episodes[0].looked_after_episodes[0].placement.placement_type = None  # type: ignore[union-attr]
    dumped = rec.model_dump(mode="json")
    skipped = {"/social_care_episodes/0/child_looked_after_placements/0"}

    pointer = "/social_care_episodes/0/child_looked_after_placements/1/placement_type"
    assert not _mapped(dumped, pointer, "K2", skipped)
    assert _mapped(
        dumped, "/social_care_episodes/0/child_looked_after_placements/1/end_reason", "E3", skipped
    )


# --- writing --------------------------------------------------------------------------------


def test_json_to_canonical_to_json_keeps_every_value(adapter: DfECSCAPIAdapter) -> None:
    source = json.loads((FIXTURES / "round_trip.json").read_text(encoding="utf-8"))
    records = [record(r) for r in read(adapter, "round_trip.json")]

    written, problems = write(adapter, records)

    assert written == source
    assert problems == []


def test_values_kept_from_fields_of_the_specification_are_written_back(
    adapter: DfECSCAPIAdapter,
) -> None:
    records = [r.record for r in read(adapter, "children.json") if r.record]

    written, _problems = write(adapter, records)

    child = written[0]["child_details"]
    assert (child["ethnicity"], child["date_of_birth"], child["disabilities"]) == (
        "XXXX",
        "2016-02-30",
        ["MOB", "WINGS"],
    )
    assert child["surname"] == "Testchild-Fixture"
    assert "nickname" not in written[0]  # unknown fields are not part of the payload
    assert written[0]["health_and_wellbeing"]["sdq_assessments"] == [
        {"date": None, "score": 12, "purge": False},
        {"date": "2023-10-10", "score": "high", "purge": False},
        {"date": "2024-10-10", "score": 17, "purge": False},
    ]
    episode = written[0]["social_care_episodes"][0]
    assert "foo" not in episode
    assert episode["care_leavers"] == {
        "contact_date": "2024-08-11",
        "activity": "F2",
        "accommodation": "Z",
        "purge": False,
    }
    assert episode["child_looked_after_placements"][0]["start_reason"] == "Q"
    assert episode["care_worker_details"][0]["worker_id"] == "SW77"


def test_a_confidential_postcode_is_not_written(adapter: DfECSCAPIAdapter) -> None:
    rec = record(read(adapter, "round_trip.json")[0])
    rec.child.addresses[0].confidential = True
    rec.child.addresses[0].postcode = "ZZ99 2BB"  # the child now lives at the second placement

    written, problems = write(adapter, [rec])

    payload = written[0]
    assert payload["child_details"]["postcode"] is None
    placements = payload["social_care_episodes"][1]["child_looked_after_placements"]
    assert [p["postcode"] for p in placements] == ["ZZ99 1AA", None]
    withheld = [p for p in problems if p.code == "confidential-postcode-withheld"]
    assert {p.pointer for p in withheld} == {
        "/child/addresses/0/postcode",
        "/episodes/1/looked_after_episodes/1/placement/postcode",
    }
    assert all(p.severity == Severity.WARNING for p in withheld)
    assert "ZZ99 2BB" not in json.dumps(payload)


def test_an_address_withheld_from_someone_counts_as_confidential(
    adapter: DfECSCAPIAdapter,
) -> None:
    rec = record(read(adapter, "single.json")[0])
    rec.child.addresses[0].not_to_be_disclosed_to = ["father"]

    written, problems = write(adapter, [rec])

    assert written[0]["child_details"]["postcode"] is None
    assert "confidential-postcode-withheld" in [p.code for p in problems]


def test_a_record_without_an_la_child_id_is_not_written(adapter: DfECSCAPIAdapter) -> None:
    first, second = (record(r) for r in read(adapter, "round_trip.json"))
    first.child.identifiers = [i for i in first.child.identifiers if i.system != "la_child_id"]

    written, problems = write(adapter, [first, second])

    assert [w["la_child_id"] for w in written] == ["RT0002"]
    assert [(p.code, p.location.element if p.location else None) for p in problems] == [
        ("la-child-id-missing", "record 1")
    ]


def test_a_record_from_another_format_is_written_from_its_canonical_fields(
    adapter: DfECSCAPIAdapter,
) -> None:
    rec = ChildRecord.model_validate(
        {
            "provenance": {"source_authority": "E09000007", "adapter": "cin-census"},
            "child": {
                "identifiers": [{"system": "la_child_id", "value": "CIN42", "issuer": "E09000007"}],
                "sex": "F",
                "birth_date": "2014-05-05",
                "addresses": [
                    {"postcode": "ZZ99 7AA", "end_date": "2020-01-01"},
                    {"postcode": "ZZ99 8BB", "start_date": "2020-01-02"},
                ],
            },
            "professionals": [
                {"id": "W1", "role": "Social worker", "start_date": "2019-02-01"},
                {"id": "W2", "role": "Social worker", "start_date": "2023-03-01"},
                {"id": "GP", "role": "GP", "agency": "health"},
            ],
            "episodes": [
                {"id": "R1", "referral_date": "2019-01-01", "closure_date": "2019-12-31"},
                {"id": "R2", "referral_date": "2023-01-01"},
            ],
            "unmapped": [
                {
                    "field": "Foo",
                    "value": "bar",
                    "location": {"element": "/Message/Children/Child[1]/Foo"},
                }
            ],
        }
    )

    written, problems = write(adapter, [rec])

    payload = written[0]
    assert payload["la_code"] == "202"  # Camden, from its GSS code
    assert payload["child_details"]["postcode"] == "ZZ99 8BB"  # the current address
    workers = [
        [w["worker_id"] for w in e["care_worker_details"]] for e in payload["social_care_episodes"]
    ]
    assert workers == [["W1"], ["W2"]]
    assert all(flag is False for _, flag in _purge_flags(payload))
    assert problems == []


def test_writing_is_one_json_line_per_record(adapter: DfECSCAPIAdapter) -> None:
    records = [r.record for r in read(adapter, "children.json") if r.record]
    out = io.BytesIO()

    adapter.write(records, out)

    lines = out.getvalue().split(b"\n")
    assert lines[-1] == b""
    assert len(lines[:-1]) == 2
    assert all(line.startswith(b"{") for line in lines[:-1])


# --- robustness -----------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["2024-01-02", "02/01/2024", "M", "1", "RC5", "S", "true", "ZZ99 1AA"])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "la_code",
        "la_child_id",
        "purge",
        "child_details",
        "health_and_wellbeing",
        "social_care_episodes",
        "first_name",
        "sdq_assessments",
        "date",
        "score",
        "child_protection_plans",
        "child_looked_after_placements",
        "start_reason",
        "adoption",
        "disabilities",
        "unknown",
    ]
)
_payloads = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_payloads | _json, min_size=1, max_size=3), lines=st.booleans())
def test_any_json_is_read_or_reported_never_crashes(records: list[Any], lines: bool) -> None:
    adapter = DfECSCAPIAdapter()
    if lines:
        data = "\n".join(json.dumps(r) for r in records).encode("utf-8")
    else:
        data = json.dumps(records, indent=1).encode("utf-8")
    try:
        results = list(adapter.read(Source.from_bytes(data, "random.json")))
    except InputUnreadable:
        return
    built = [r.record for r in results if r.record]
    written, _problems = write(adapter, built)
    assert len(written) <= len(built)
