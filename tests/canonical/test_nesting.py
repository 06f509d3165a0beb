"""How deep a record may nest: a document one level under the limit is read as a record (its
schema problems reported), one level over it is refused as too deep, with a pointer to where."""

from __future__ import annotations

from typing import Any

import pytest
from support import minimal_record

from exchange.canonical.validation import MAX_DEPTH, validate_document


def nested(levels: int, leaf: Any) -> Any:
    """``leaf`` under ``levels`` containers, alternating objects and arrays."""
    node = leaf
    for level in range(levels):
        node = {"k": node} if level % 2 else [node]
    return node


def codes(document: dict[str, Any]) -> list[str]:
    return [p.code for p in validate_document(document).problems]


@pytest.mark.parametrize("leaf", [1, "text", None, {"k": 1}, [1]])
def test_one_level_over_the_limit_is_too_deep_and_says_where(leaf: Any) -> None:
    # "extra" is level 1; its value's containers take the document to the level named.
    levels = MAX_DEPTH - (1 if isinstance(leaf, dict | list) else 0)
    report = validate_document({**minimal_record(), "extra": nested(levels, leaf)})

    [problem] = report.problems
    assert problem.code == "nesting-too-deep"
    assert problem.pointer is not None
    assert problem.pointer.startswith("/extra/")
    assert problem.pointer.count("/") == MAX_DEPTH + 1


@pytest.mark.parametrize("leaf", [1, {}, []])
def test_at_the_limit_the_document_is_read_and_its_problems_named(leaf: Any) -> None:
    levels = MAX_DEPTH - (2 if isinstance(leaf, dict | list) else 1)

    found = codes({**minimal_record(), "extra": nested(levels, leaf)})

    assert "nesting-too-deep" not in found
    assert found  # "extra" is not a field of the record


def test_a_deep_value_anywhere_in_a_wide_document_is_found() -> None:
    record = minimal_record()
    record["extra"] = [{"a": [1, 2, {"b": []}]} for _ in range(50)] + [nested(MAX_DEPTH, 1)]

    assert codes(record) == ["nesting-too-deep"]
