"""Files generated from the code and checked in: the record's JSON Schema and the OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from exchange.canonical import ChildRecord

ROOT = Path(__file__).resolve().parents[1]
RECORD_SCHEMA = ROOT / "schemas" / "child-record.v1.json"
OPENAPI = ROOT / "openapi.yaml"


def record_schema() -> str:
    """The canonical record's JSON Schema (draft 2020-12) as text."""
    schema = ChildRecord.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def openapi_document() -> str:
    """The service's OpenAPI description as YAML."""
    from exchange.app import create_app
    from exchange.config import Settings

    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def generated_files() -> dict[Path, str]:
    """Every generated file with the content the code gives it now."""
    return {RECORD_SCHEMA: record_schema(), OPENAPI: openapi_document()}
