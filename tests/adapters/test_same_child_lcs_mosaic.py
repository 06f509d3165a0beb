"""The same child exported by Liquidlogic LCS and by Mosaic converts to the same canonical record.

Ava Testchild is in both fixtures (tests/fixtures/liquidlogic, tests/fixtures/mosaic) with the
same facts in each vendor's shape: born 2016-03-14, female, White British; her mother Mia
(parental responsibility, lives with her), her brother Leo, her father Ray; a police referral on
2025-09-01 (need N1); a child protection plan from 2025-10-06 (neglect, now emotional abuse); a
confidential current address withheld from her father; her allocated social worker and a
strategy discussion. LCS lacks her NHS number, so neither fixture has it. The records must be
equal once provenance, source ids and ``unmapped`` are set aside.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from exchange.adapters.base import Adapter, Source
from exchange.adapters.liquidlogic import LiquidlogicAdapter
from exchange.adapters.mosaic import MosaicAdapter
from exchange.authorities import load_registry
from exchange.canonical import RuleContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONTEXT = RuleContext(
    today=dt.date(2026, 11, 1),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
SOURCE_ID = "(source id)"


def ava(adapter: Adapter, folder: str, key: str) -> dict[str, Any]:
    """Ava's record as the adapter reads it, with nothing but warnings about it."""
    (result,) = [r for r in adapter.read(Source.from_path(FIXTURES / folder)) if r.key == key]
    assert result.record is not None
    assert not result.has_errors, result.problems
    return result.record.model_dump(mode="json")


def without_source_ids(record: dict[str, Any]) -> dict[str, Any]:
    """The record with provenance, unmapped and every id local to the source system replaced."""
    record = {k: v for k, v in record.items() if k not in ("provenance", "unmapped")}
    child = record["child"]
    for ident in child["identifiers"]:
        if ident["system"] in ("la_child_id", "legacy"):
            ident["value"] = SOURCE_ID
    # Related people get ids by what they are, and every reference to them follows.
    people = sorted(
        record["related_people"], key=lambda p: (p["relationship"], p["birth_date"] or "")
    )
    renamed = {p["id"]: f"person {n}" for n, p in enumerate(people, 1)}
    record["related_people"] = people
    for person in people:
        person["id"] = renamed[person["id"]]
    addresses = [*child["addresses"], *(a for p in people for a in p["addresses"])]
    for address in addresses:
        address["id"] = SOURCE_ID if address["id"] else None
        address["not_to_be_disclosed_to"] = [renamed[i] for i in address["not_to_be_disclosed_to"]]
    for alert in record["alerts"]:
        alert["id"] = SOURCE_ID if alert["id"] else None
        for key in ("not_to_be_disclosed_to", "related_person_ids"):
            alert[key] = [renamed[i] for i in alert[key]]
    for professional in record["professionals"]:
        professional["id"] = SOURCE_ID if professional["id"] else None
    for episode in record["episodes"]:
        episode["id"] = SOURCE_ID if episode["id"] else None
        for part in ("assessments", "cin_plans", "section47_enquiries", "conferences", "cp_plans"):
            for item in episode[part]:
                item["id"] = SOURCE_ID if item["id"] else None
        for looked_after in episode["looked_after_episodes"]:
            looked_after["id"] = SOURCE_ID if looked_after["id"] else None
            if looked_after["placement"]:
                looked_after["placement"]["id"] = SOURCE_ID
    return record


def test_same_child_lcs_mosaic() -> None:
    lcs = LiquidlogicAdapter(CONTEXT, config=FIXTURES / "liquidlogic" / "config" / "lcs.yml")
    mosaic = MosaicAdapter(CONTEXT, config=FIXTURES / "mosaic" / "config" / "mosaic.yml")
    from_lcs = ava(lcs, "liquidlogic", "1001")
    from_mosaic = ava(mosaic, "mosaic", "50001")
    assert from_lcs["provenance"]["source_system"] == "Liquidlogic LCS"
    assert from_mosaic["provenance"]["source_system"] == "Mosaic"
    assert without_source_ids(from_lcs) == without_source_ids(from_mosaic)
    # Not vacuous: the facts that matter are there in both.
    same = without_source_ids(from_lcs)
    assert same["child"]["birth_date"] == "2016-03-14"
    assert same["child"]["addresses"][1]["confidential"] is True
    assert same["child"]["addresses"][1]["not_to_be_disclosed_to"] == ["person 1"]  # the father
    assert [p["relationship"] for p in same["related_people"]] == ["father", "mother", "sibling"]
    assert same["episodes"][0]["cp_plans"][0]["latest_category"] == "EMO"
    assert not any(i["system"] == "nhs_number" for i in same["child"]["identifiers"])
