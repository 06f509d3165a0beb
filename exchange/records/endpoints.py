"""Validate a canonical record before sending it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from exchange.api.requests import read_json_object
from exchange.authorities import repository as authorities
from exchange.authorities.auth import PrincipalDep
from exchange.canonical import Problem, validate_document
from exchange.db import SessionDep, run_committing

router = APIRouter(prefix="/v1/records", tags=["records"])

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "schemas" / "examples"


class ValidationResult(BaseModel):
    """Whether a record can be sent, and every problem found in it."""

    valid: bool = Field(description="False when any problem is an error; warnings alone pass.")
    problems: list[Problem]


def _examples() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        found[path.stem] = {
            "summary": path.stem.replace("-", " "),
            "value": json.loads(path.read_text()),
        }
    return found


@router.post(
    "/validate",
    response_model=ValidationResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ChildRecord"},
                    "examples": _examples(),
                }
            },
        }
    },
    responses={
        401: {"description": "No valid token (any client may validate)."},
        400: {"description": "The body is not JSON or not UTF-8."},
        413: {"description": "The body is too large."},
        422: {"description": "The body is JSON but not an object."},
    },
)
async def validate_record(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> ValidationResult:
    """Check a canonical record: every schema and rule problem, each with its JSON pointer."""
    document = await read_json_object(request)

    def check() -> ValidationResult:
        report = validate_document(document, authorities.rule_context(session))
        return ValidationResult(valid=report.valid, problems=report.problems)

    return await run_committing(session, check)
