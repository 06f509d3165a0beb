"""POST /v1/records/validate: any JSON object gets a report; only non-objects are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

URL = "/v1/records/validate"


def minimal_record(**child: Any) -> dict[str, Any]:
    return {
        "provenance": {"source_authority": "202"},
        "child": {
            "identifiers": [
                {"system": "la_child_id", "value": "CH1001", "issuer": "202"},
                {"system": "nhs_number", "value": "9434765919"},
            ],
            "birth_date": "2019-05-04",
            **child,
        },
    }


HEADERS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _token(make_client: Any) -> None:
    # Validation takes a record full of personal data, so only known clients may call it.
    HEADERS.clear()
    HEADERS["Authorization"] = f"Bearer {make_client(authority='202')}"


def post(client: TestClient, body: Any) -> Any:
    return client.post(
        URL, content=json.dumps(body), headers={"content-type": "application/json", **HEADERS}
    )


def test_validation_needs_a_token(client: TestClient) -> None:
    response = client.post(URL, json={}, headers={"content-type": "application/json"})
    assert response.status_code == 401


def test_a_valid_record_is_valid_with_no_problems(client: TestClient) -> None:
    response = post(client, minimal_record())
    assert response.status_code == 200
    assert response.json() == {"valid": True, "problems": []}


def test_warnings_alone_leave_the_record_valid(client: TestClient) -> None:
    record = minimal_record(expected_birth_date="2019-05-01")
    body = post(client, record).json()
    assert body["valid"] is True
    assert [p["code"] for p in body["problems"]] == ["birth-date-or-expected"]
    assert body["problems"][0]["severity"] == "warning"
    assert body["problems"][0]["dfe_rule"] == "8525Q"


def test_each_problem_names_pointer_code_severity_message_and_fix(client: TestClient) -> None:
    record = minimal_record()
    record["child"]["identifiers"][1]["value"] = "9434765918"
    body = post(client, record).json()
    assert body["valid"] is False
    [problem] = body["problems"]
    assert problem["pointer"] == "/child/identifiers/1/value"
    assert problem["code"] == "nhs-number-invalid"
    assert problem["severity"] == "error"
    assert "9434765918" in problem["message"]
    assert problem["fix"]


@pytest.mark.parametrize(
    ("patch", "pointer", "code"),
    [
        ({"birth_date": 20190504}, "/child/birth_date", "date-invalid"),
        ({"birth_date": "2023-02-30"}, "/child/birth_date", "date-invalid"),
        ({"birth_date": "04/05/2019"}, "/child/birth_date", "date-invalid"),
        ({"sex": "Q"}, "/child/sex", "code-unknown"),
        ({"ethnicity": "XXXX"}, "/child/ethnicity", "code-unknown"),
        ({"disabilities": "AUT"}, "/child/disabilities", "type-wrong"),
        ({"names": [{"given": ["Ann"]}]}, "/child/names/0/given", "type-wrong"),
        ({"favourite_colour": "blue"}, "/child/favourite_colour", "field-unknown"),
    ],
)
def test_schema_problems_are_reported_with_pointers(
    client: TestClient, patch: dict[str, Any], pointer: str, code: str
) -> None:
    response = post(client, minimal_record(**patch))
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert {"pointer": pointer, "code": code} in [
        {"pointer": p["pointer"], "code": p["code"]} for p in body["problems"]
    ]


def test_missing_required_parts_are_reported(client: TestClient) -> None:
    body = post(client, {}).json()
    assert body["valid"] is False
    assert {p["pointer"] for p in body["problems"]} == {"/provenance", "/child"}
    assert {p["code"] for p in body["problems"]} == {"field-missing"}


def test_rules_still_run_on_the_parts_that_fit(client: TestClient) -> None:
    record = minimal_record(sex="Q")
    record["alerts"] = [
        {"type": "no-such-type", "summary": "x"},
        {"type": "risk_from_person", "summary": "Father", "not_to_be_disclosed_to": ["p9"]},
    ]
    body = post(client, record).json()
    found = {(p["pointer"], p["code"]) for p in body["problems"]}
    assert ("/child/sex", "code-unknown") in found
    assert ("/alerts/0/type", "code-unknown") in found
    assert ("/alerts/1/not_to_be_disclosed_to/0", "person-reference-unknown") in found


def test_unknown_sending_authority_is_an_error(client: TestClient) -> None:
    record = minimal_record()
    record["provenance"]["source_authority"] = "999"
    body = post(client, record).json()
    assert [(p["pointer"], p["code"]) for p in body["problems"]] == [
        ("/provenance/source_authority", "source-authority-unknown")
    ]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "body-not-json"),
        (b"", 400, "body-not-json"),
        (b'{"child": "\xff\xfe"}', 400, "body-not-json"),
        (b"[1, 2, 3]", 422, "body-not-object"),
        (b'"a string"', 422, "body-not-object"),
        (b"null", 422, "body-not-object"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(
    client: TestClient, content: bytes, status: int, code: str
) -> None:
    response = client.post(
        URL, content=content, headers={"content-type": "application/json", **HEADERS}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_ten_megabytes_of_nested_arrays_is_refused_cleanly(client: TestClient) -> None:
    depth = 5 * 1024 * 1024
    content = b"[" * depth + b"]" * depth
    response = client.post(
        URL, content=content, headers={"content-type": "application/json", **HEADERS}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "body-not-json"


def test_deeply_nested_object_gets_a_report_not_a_crash(client: TestClient) -> None:
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(800):
        node["x"] = {}
        node = node["x"]
    response = post(client, {**minimal_record(), "extra": nested})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["problems"][0]["code"] == "nesting-too-deep"
    assert body["problems"][0]["pointer"].startswith("/extra/x/x/")


def test_a_body_over_the_size_limit_is_413(client: TestClient) -> None:
    from exchange.config import get_settings

    content = b'{"pad": "' + b"a" * (get_settings().max_request_bytes + 1) + b'"}'
    response = client.post(
        URL, content=content, headers={"content-type": "application/json", **HEADERS}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body-too-large"


def test_a_form_body_is_415(client: TestClient) -> None:
    response = client.post(URL, data={"a": "b"}, headers=HEADERS)
    assert response.status_code == 415


def test_many_problems_are_capped_with_a_note(client: TestClient) -> None:
    record = minimal_record()
    record["chronology"] = [{"date": "bad", "category": "zzz", "summary": ""}] * 1500
    body = post(client, record).json()
    assert body["valid"] is False
    assert body["problems"][-1]["code"] == "problems-truncated"
    assert len(body["problems"]) == 1001


def test_utf8_with_bom_is_read(client: TestClient) -> None:
    content = b"\xef\xbb\xbf" + json.dumps(minimal_record()).encode()
    response = client.post(
        URL, content=content, headers={"content-type": "application/json", **HEADERS}
    )
    assert response.json()["valid"] is True
