"""Helpers shared by the tests: request headers and small synthetic records."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"


def bearer(token: str, **extra: str) -> dict[str, str]:
    """Headers for a request by the client with this token."""
    return {"Authorization": f"Bearer {token}", **extra}


def idempotent(token: str, key: str | None = None, **extra: str) -> dict[str, str]:
    """Headers for a create request, with a fresh Idempotency-Key unless one is given."""
    return bearer(token, **{"Idempotency-Key": key or str(uuid.uuid4()), **extra})


def example(name: str = "cp-plan-child") -> dict[str, Any]:
    """A complete example record from schemas/examples (a fresh copy)."""
    return copy.deepcopy(json.loads((EXAMPLES / f"{name}.json").read_text()))


def minimal_record(
    source_authority: str = "202", la_child_id: str = "CH1001", **child: Any
) -> dict[str, Any]:
    """The smallest record that validates without problems."""
    return {
        "provenance": {"source_authority": source_authority},
        "child": {
            "identifiers": [
                {"system": "la_child_id", "value": la_child_id, "issuer": source_authority},
                {"system": "nhs_number", "value": "9434765919"},
            ],
            "birth_date": "2019-05-04",
            **child,
        },
    }


def transfer_body(
    records: list[dict[str, Any]] | None = None, to: str = "873", **extra: Any
) -> dict[str, Any]:
    """A request body for POST /v1/transfers."""
    return {
        "to_authority": to,
        "reason": "The family moved to Cambridgeshire.",
        "legal_basis": "Children Act 1989 s47; Working Together to Safeguard Children",
        "records": records if records is not None else [example()],
        **extra,
    }
