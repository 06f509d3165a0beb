"""The same child exported by Eclipse and by Azeus Care converts to the same canonical record.

Ava Testchild is in both fixtures (tests/fixtures/eclipse/, tests/fixtures/azeus/) with the same
facts in each system's shape: her Eclipse person id is 50123, her Azeus reference AZ000231 (no
NHS number: the Liquidlogic fixture has none, so no vendor fixture gives her one). The
records must be equal once what is only the source's own is set aside: provenance, the source's
ids (la_child_id and legacy identifier values, related people's ids and every reference to them,
the ids of episodes, plans and professionals) and ``unmapped``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from exchange.adapters.azeus import AzeusAdapter
from exchange.adapters.base import Adapter, ReadResult, Source
from exchange.adapters.eclipse import EclipseAdapter
from exchange.authorities import load_registry
from exchange.canonical import RuleContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONTEXT = RuleContext(
    today=dt.date(2026, 1, 15),
    is_known_authority=lambda code: load_registry().get(code) is not None,
    known_dfe_codes=frozenset(a.dfe_code for a in load_registry() if a.dfe_code),
)
SOURCE_ID_LISTS = ("not_to_be_disclosed_to", "related_person_ids")


def ava(adapter: Adapter, folder: str, key: str) -> ReadResult:
    found = next(r for r in adapter.read(Source.from_path(FIXTURES / folder)) if r.key == key)
    assert found.record is not None
    return found


@pytest.fixture(scope="module")
def eclipse() -> ReadResult:
    return ava(EclipseAdapter(CONTEXT, source_authority="873"), "eclipse", "50123")


@pytest.fixture(scope="module")
def azeus() -> ReadResult:
    return ava(AzeusAdapter(CONTEXT, source_authority="873"), "azeus", "AZ000231")


def without_source_ids(found: ReadResult) -> dict[str, Any]:
    """The record with provenance, unmapped values and the source's own ids set aside."""
    assert found.record is not None
    data = found.record.model_dump(mode="json")
    del data["provenance"], data["unmapped"]
    child = data["child"]
    child["identifiers"] = [
        {**i, "value": "<la child id>"} if i["system"] == "la_child_id" else i
        for i in child["identifiers"]
        if i["system"] != "legacy"  # Eclipse keeps the CareFirst id; Azeus has none
    ]
    # a related person is known by what they are to the child, not by the source's id
    people = {p["id"]: f"<{p['relationship']}>" for p in data["related_people"]}
    assert len(set(people.values())) == len(people)

    def tidy(node: Any) -> Any:
        if isinstance(node, list):
            return [tidy(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "id" and value is not None:
                out[key] = people.get(value, "<source id>")
            elif key in SOURCE_ID_LISTS:
                out[key] = [people[v] for v in value]
            else:
                out[key] = tidy(value)
        return out

    return dict(tidy(data))


def test_ava_converts_to_the_same_record_from_both_vendors(
    eclipse: ReadResult, azeus: ReadResult
) -> None:
    assert without_source_ids(eclipse) == without_source_ids(azeus)


def test_the_comparison_is_about_the_facts_that_matter(
    eclipse: ReadResult, azeus: ReadResult
) -> None:
    same = without_source_ids(eclipse)
    child = same["child"]
    assert child["identifiers"] == [
        {"system": "la_child_id", "value": "<la child id>", "issuer": "873"},
        {"system": "upn", "value": "F202123456781", "issuer": None},
    ]
    assert (child["names"][0]["given"], child["names"][0]["family"]) == ("Ava", "Testchild")
    assert (child["birth_date"], child["sex"], child["ethnicity"]) == ("2016-03-14", "F", "WBRI")
    current = child["addresses"][-1]
    assert (current["lines"], current["town"], current["postcode"]) == (
        ["1 Example Street"],
        "Testtown",
        "TE1 1ST",
    )
    assert (current["start_date"], current["confidential"]) == ("2025-08-01", True)
    assert current["not_to_be_disclosed_to"] == ["<father>"]
    mother, brother, father = same["related_people"]
    assert (mother["names"][0]["given"], mother["birth_date"]) == ("Mia", "1990-07-02")
    assert (mother["parental_responsibility"], mother["lives_with_child"]) == (True, True)
    assert (father["names"][0]["given"], brother["birth_date"]) == ("Ray", "2019-11-30")
    (episode,) = same["episodes"]
    assert (episode["referral_date"], episode["referral_source"], episode["primary_need"]) == (
        "2025-09-01",
        "6",
        "N1",
    )
    (plan,) = episode["cp_plans"]
    assert (plan["start_date"], plan["end_date"]) == ("2025-10-06", None)
    assert (plan["initial_category"], plan["latest_category"]) == ("NEG", "EMO")
    assert same["alerts"][0]["not_to_be_disclosed_to"] == ["<father>"]
    # and what was set aside really differs: the two exports name her differently
    assert eclipse.record is not None
    assert azeus.record is not None
    assert eclipse.record.child.identifiers[0].value == "50123"
    assert azeus.record.child.identifiers[0].value == "AZ000231"
    assert eclipse.record.provenance.source_system != azeus.record.provenance.source_system


def test_neither_record_has_an_error(eclipse: ReadResult, azeus: ReadResult) -> None:
    assert not eclipse.has_errors
    assert not azeus.has_errors
