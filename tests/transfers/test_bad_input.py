"""Bad input to the transfer API (issue 4, "Bad input"): every answer a problem, never a crash.

Each case checks the status, the stable `code` and the problem+json media type, and that the
problem says enough to fix the request (the authority's successors, the record's JSON pointer,
the adapter's own problem).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import httpx  # the httpx (or httpx2) the TestClient answers with
from support import bearer, example, idempotent, minimal_record, transfer_body

from exchange.audit.models import AuditEvent
from exchange.authorities.clients import revoke_client
from exchange.authorities.models import ApiClient
from exchange.config import get_settings

PROBLEM_JSON = "application/problem+json"
CIN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cin_census"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem document of a refused request, checked to be a well-formed one."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"]
    assert body["detail"]
    return body


def client_id_of(token: str) -> str:
    return token.split(".")[1]


@pytest.fixture
def camden(make_client: Callable[..., str]) -> str:
    return make_client(authority="202", name="Camden LCS")


@pytest.fixture
def cambs(make_client: Callable[..., str]) -> str:
    return make_client(authority="873", name="Cambridgeshire Mosaic")


@pytest.fixture
def transfer_id(client: TestClient, camden: str) -> str:
    sent = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden))
    assert sent.status_code == 201, sent.text
    return str(sent.json()["id"])


def sent_ids(client: TestClient, token: str) -> list[str]:
    listed = client.get("/v1/transfers", params={"box": "sent"}, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    return [t["id"] for t in listed.json()["items"]]


def export_body(adapter: str, files: dict[str, bytes | str]) -> dict[str, Any]:
    """A transfer of a raw export; str contents are sent as they are (not base64-encoded)."""
    encoded = [
        {
            "name": name,
            "content_base64": content
            if isinstance(content, str)
            else base64.b64encode(content).decode(),
        }
        for name, content in files.items()
    ]
    body = transfer_body(export={"adapter": adapter, "files": encoded})
    del body["records"]
    return body


# --- The body: JSON, media type, size ---------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400_saying_where(client: TestClient, camden: str) -> None:
    response = client.post(
        "/v1/transfers",
        content=b'{"to_authority": "873",\n "reason": ',
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    body = problem(response, 400, "body-not-json")
    assert "line 2" in body["detail"]
    assert sent_ids(client, camden) == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"\xff\xfe not utf-8", 400, "body-not-json"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "body-not-json"),
        (b'[{"to_authority": "873"}]', 422, "body-not-object"),
        (b'"873"', 422, "body-not-object"),
        (b"", 400, "body-not-json"),
    ],
    ids=["not-utf8", "nested-too-deep", "array", "string", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: TestClient, camden: str, content: bytes, status: int, code: str
) -> None:
    response = client.post(
        "/v1/transfers",
        content=content,
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    problem(response, status, code)


@pytest.mark.parametrize(
    "send",
    [
        pytest.param({"content": b"to_authority=873", "ctype": "text/plain"}, id="text-plain"),
        pytest.param({"data": {"to_authority": "873", "reason": "moved"}}, id="form-urlencoded"),
        pytest.param(
            {"files": {"record": ("record.json", b"{}", "application/json")}}, id="multipart"
        ),
        pytest.param({"content": b"<Message/>", "ctype": "application/xml"}, id="xml"),
    ],
)
def test_a_body_that_is_not_json_by_media_type_is_a_415(
    client: TestClient, camden: str, send: dict[str, Any]
) -> None:
    kwargs = dict(send)
    ctype = kwargs.pop("ctype", None)
    headers = idempotent(camden, **({"Content-Type": ctype} if ctype else {}))
    response = client.post("/v1/transfers", headers=headers, **kwargs)
    body = problem(response, 415, "unsupported-media-type")
    assert "application/json" in body["fix"]


def test_json_with_a_charset_or_a_json_suffix_is_read(client: TestClient, camden: str) -> None:
    for ctype in ("application/json; charset=utf-8", "application/problem+json"):
        response = client.post(
            "/v1/transfers",
            content=json.dumps(transfer_body()).encode(),
            headers=idempotent(camden, **{"Content-Type": ctype}),
        )
        assert response.status_code == 201, response.text


@pytest.fixture
def small_request_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    limit = 2_000
    monkeypatch.setattr(get_settings(), "max_request_bytes", limit)
    return limit


def _padded_body(size: int) -> bytes:
    body = transfer_body(reason="The family moved. " + "x" * size)
    return json.dumps(body).encode()


def test_a_body_over_the_request_limit_is_a_413(
    client: TestClient, camden: str, small_request_limit: int
) -> None:
    response = client.post(
        "/v1/transfers",
        content=_padded_body(small_request_limit),
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    body = problem(response, 413, "body-too-large")
    assert str(small_request_limit) in body["detail"]
    assert sent_ids(client, camden) == []


def test_a_streamed_body_over_the_limit_without_a_length_is_a_413(
    client: TestClient, camden: str, small_request_limit: int
) -> None:
    raw = _padded_body(small_request_limit)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 500):
            yield raw[start : start + 500]

    response = client.post(
        "/v1/transfers",
        content=chunks(),
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    problem(response, 413, "body-too-large")
    assert sent_ids(client, camden) == []


def test_a_body_just_under_the_request_limit_is_accepted(
    client: TestClient, camden: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(transfer_body()).encode()
    monkeypatch.setattr(get_settings(), "max_request_bytes", len(raw))
    response = client.post(
        "/v1/transfers",
        content=raw,
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 201, response.text


def test_a_record_to_validate_over_the_request_limit_is_a_413(
    client: TestClient, small_request_limit: int
) -> None:
    record = example()
    record["child"]["names"] = [{"given": "x" * small_request_limit}]
    response = client.post("/v1/records/validate", json=record)
    problem(response, 413, "body-too-large")


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"reason": None}, "/reason"),
        ({"legal_basis": ""}, "/legal_basis"),
        ({"urgency": "whenever"}, "/urgency"),
        ({"records": []}, "/records"),
        ({"export": {"adapter": "cin-census", "files": []}}, "/"),
        ({"unexpected": "field"}, "/unexpected"),
        ({"to_authority": "9" * 21}, "/to_authority"),
    ],
    ids=[
        "reason-missing",
        "legal-basis-empty",
        "urgency-unknown",
        "no-records",
        "both-sources",
        "unknown-field",
        "code-too-long",
    ],
)
def test_a_body_that_does_not_match_the_schema_names_the_field(
    client: TestClient, camden: str, change: dict[str, Any], pointer: str
) -> None:
    body = transfer_body()
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    response = client.post("/v1/transfers", json=body, headers=idempotent(camden))
    problem_body = problem(response, 422, "request-invalid")
    pointers = [e["pointer"] for e in problem_body["errors"]]
    assert any(p.startswith(pointer) for p in pointers), pointers


# --- The receiving authority ------------------------------------------------------------------


def test_an_unknown_receiving_authority_is_a_422(client: TestClient, camden: str) -> None:
    response = client.post(
        "/v1/transfers", json=transfer_body(to="999"), headers=idempotent(camden)
    )
    body = problem(response, 422, "receiving-authority-invalid")
    assert "'999'" in body["detail"]
    assert "GET /v1/authorities" in body["fix"]
    assert sent_ids(client, camden) == []


def test_an_abolished_receiving_authority_is_a_422_naming_its_successors(
    client: TestClient, camden: str
) -> None:
    response = client.post(
        "/v1/transfers", json=transfer_body(to="928"), headers=idempotent(camden)
    )
    body = problem(response, 422, "receiving-authority-invalid")
    assert "Northamptonshire County Council" in body["detail"]
    assert "abolished on 2021-04-01" in body["detail"]
    assert "North Northamptonshire Council (940)" in body["detail"]
    assert "West Northamptonshire Council (941)" in body["detail"]
    assert "successor" in body["fix"]


@pytest.mark.parametrize("code", ["202", "E09000007", "e09000007", " 202 "])
def test_sending_to_ones_own_authority_is_a_422(client: TestClient, camden: str, code: str) -> None:
    response = client.post("/v1/transfers", json=transfer_body(to=code), headers=idempotent(camden))
    body = problem(response, 422, "receiving-authority-invalid")
    assert "sending it" in body["detail"]


# --- The records ------------------------------------------------------------------------------


def test_an_invalid_record_is_a_422_listing_every_problem_with_its_pointer(
    client: TestClient, camden: str
) -> None:
    record = example()
    record["child"]["birth_date"] = "2019-02-30"
    [nhs] = [i for i in record["child"]["identifiers"] if i["system"] == "nhs_number"]
    nhs["value"] = "9434765918"  # wrong check digit

    response = client.post(
        "/v1/transfers", json=transfer_body([record]), headers=idempotent(camden)
    )

    body = problem(response, 422, "records-invalid")
    problems = body["problems"]
    assert len(problems) >= 2
    assert all(p["pointer"].startswith("/records/0/") for p in problems), problems
    pointers = {p["pointer"] for p in problems if p["severity"] == "error"}
    nhs_index = record["child"]["identifiers"].index(nhs)
    assert "/records/0/child/birth_date" in pointers
    assert f"/records/0/child/identifiers/{nhs_index}/value" in pointers
    assert all(p["code"] and p["message"] and p["fix"] for p in problems)
    assert body["detail"].startswith(f"{len(pointers)} problem(s)")
    assert sent_ids(client, camden) == []


def test_in_a_sibling_group_the_pointer_names_the_record_at_fault(
    client: TestClient, camden: str
) -> None:
    good = minimal_record(la_child_id="CH1001")
    bad = minimal_record(la_child_id="CH1002", birth_date="not a date")

    response = client.post(
        "/v1/transfers", json=transfer_body([good, bad]), headers=idempotent(camden)
    )

    body = problem(response, 422, "records-invalid")
    assert [p["pointer"] for p in body["problems"] if p["severity"] == "error"] == [
        "/records/1/child/birth_date"
    ]


def test_a_record_that_is_not_an_object_is_refused_at_its_position(
    client: TestClient, camden: str
) -> None:
    response = client.post(
        "/v1/transfers",
        json=transfer_body([minimal_record(), "a record"]),  # type: ignore[list-item]
        headers=idempotent(camden),
    )
    body = problem(response, 422, "request-invalid")
    assert [e["pointer"] for e in body["errors"]] == ["/records/1"]
    assert sent_ids(client, camden) == []


def test_more_children_than_the_limit_is_a_422(
    client: TestClient, camden: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_children_per_transfer", 2)
    records = [minimal_record(la_child_id=f"CH100{n}") for n in range(3)]

    response = client.post("/v1/transfers", json=transfer_body(records), headers=idempotent(camden))

    body = problem(response, 422, "limit-exceeded")
    assert "at most 2 children" in body["detail"]
    assert sent_ids(client, camden) == []


def test_an_export_with_more_children_than_the_limit_is_a_422(
    client: TestClient, camden: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_children_per_transfer", 1)
    raw = (CIN_FIXTURES / "clean_2025_26.xml").read_bytes()
    assert raw.count(b"<Child>") > 1

    response = client.post(
        "/v1/transfers",
        json=export_body("cin-census", {"cin.xml": raw}),
        headers=idempotent(camden),
    )

    problem(response, 422, "limit-exceeded")


# --- Raw exports ------------------------------------------------------------------------------


def test_an_export_with_an_unknown_adapter_is_a_422(client: TestClient, camden: str) -> None:
    response = client.post(
        "/v1/transfers",
        json=export_body("carefirst-v6", {"export.csv": b"CHILD,DOB\n1,2019-01-01\n"}),
        headers=idempotent(camden),
    )
    body = problem(response, 422, "export-unreadable")
    assert "carefirst-v6" in body["detail"]


@pytest.mark.parametrize(
    "content",
    ["not base64!", "QUJDRA=x", "QUJ\nDRA=="],
    ids=["symbols", "after-padding", "newline"],
)
def test_an_export_whose_base64_is_invalid_is_a_422_naming_the_file(
    client: TestClient, camden: str, content: str
) -> None:
    response = client.post(
        "/v1/transfers",
        json=export_body("cin-census", {"camden-cin.xml": content}),
        headers=idempotent(camden),
    )
    body = problem(response, 422, "export-unreadable")
    assert "'camden-cin.xml'" in body["detail"]
    assert "base64" in body["detail"]


@pytest.mark.parametrize(
    ("fixture", "adapter_code"),
    [
        ("truncated.xml", "xml-malformed"),
        ("entity_bomb.xml", "xml-dtd-forbidden"),
        ("xxe.xml", "xml-dtd-forbidden"),
        ("empty.xml", "file-empty"),
        ("no_children.xml", "no-children"),
    ],
)
def test_an_unreadable_cin_census_export_is_a_422_with_the_adapters_problem(
    client: TestClient, camden: str, fixture: str, adapter_code: str
) -> None:
    raw = (CIN_FIXTURES / fixture).read_bytes()

    response = client.post(
        "/v1/transfers",
        json=export_body("cin-census", {fixture: raw}),
        headers=idempotent(camden),
    )

    body = problem(response, 422, "export-unreadable")
    [adapter_problem] = body["problems"]
    assert adapter_problem["code"] == adapter_code
    assert adapter_problem["location"]["file"] == fixture
    assert adapter_problem["fix"]
    assert body["detail"] == adapter_problem["message"]
    assert sent_ids(client, camden) == []


def test_a_malformed_census_names_the_line_where_it_breaks(client: TestClient, camden: str) -> None:
    raw = (CIN_FIXTURES / "truncated.xml").read_bytes()
    response = client.post(
        "/v1/transfers",
        json=export_body("cin-census", {"truncated.xml": raw}),
        headers=idempotent(camden),
    )
    [adapter_problem] = problem(response, 422, "export-unreadable")["problems"]
    assert raw.endswith(b"\n")
    assert adapter_problem["location"]["line"] == raw.count(b"\n") + 1  # where the file stops


# --- Idempotency-Key --------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_a_create_without_an_idempotency_key_is_a_400(
    client: TestClient, camden: str, key: str | None
) -> None:
    headers = bearer(camden) if key is None else bearer(camden, **{"Idempotency-Key": key})
    response = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    body = problem(response, 400, "idempotency-key-missing")
    assert "Idempotency-Key" in body["detail"]
    assert sent_ids(client, camden) == []


def test_an_update_without_an_idempotency_key_is_a_400(
    client: TestClient, camden: str, transfer_id: str
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}/updates",
        json={"records": [example()]},
        headers=bearer(camden),
    )
    problem(response, 400, "idempotency-key-missing")


@pytest.mark.parametrize(
    "key",
    [
        "k" * 256,
        "k" * 300,
        "key\x01with-control",
        "key\twith-tab",
        "key with spaces",
        'quote"inside',
        b"cl\xc3\xa9",
    ],
    ids=["256-chars", "300-chars", "control-char", "tab", "space", "inner-quote", "non-ascii"],
)
def test_a_malformed_idempotency_key_is_a_400(
    client: TestClient, camden: str, key: str | bytes
) -> None:
    headers: dict[str, Any] = {**bearer(camden), "Idempotency-Key": key}
    response = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    body = problem(response, 400, "idempotency-key-invalid")
    assert "1-255 visible ASCII" in body["detail"]
    assert sent_ids(client, camden) == []


@pytest.mark.parametrize(
    "key", ["k" * 255, '"quoted-sf-string"', "a"], ids=["255", "quoted", "one"]
)
def test_a_well_formed_idempotency_key_at_the_edges_is_accepted(
    client: TestClient, camden: str, key: str
) -> None:
    response = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden, key))
    assert response.status_code == 201, response.text


def test_the_key_is_checked_before_the_body_is_read(client: TestClient, camden: str) -> None:
    response = client.post(
        "/v1/transfers",
        content=b"not json",
        headers=bearer(camden, **{"Content-Type": "application/json"}),
    )
    problem(response, 400, "idempotency-key-missing")


# --- Tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Bearer ",
        "Bearer exch..secret",
        "Bearer exch.00000000-0000-0000-0000-000000000000.secret",
        "Bearer exch.a.b.c",
        "Basic Y2FtZGVuOnNlY3JldA==",
        "abc",
    ],
    ids=[
        "absent",
        "garbage",
        "empty",
        "no-client",
        "unknown-client",
        "four-parts",
        "basic",
        "no-scheme",
    ],
)
def test_a_missing_or_garbage_token_is_a_401(
    client: TestClient, transfer_id: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in (("GET", f"/v1/transfers/{transfer_id}"), ("GET", "/v1/inbox")):
        response = client.request(method, path, headers=headers)
        body = problem(response, 401, "unauthenticated")
        assert body["fix"]


def test_an_expired_token_is_a_401_and_is_audited(
    client: TestClient, session: Session, camden: str, transfer_id: str
) -> None:
    row = session.get(ApiClient, client_id_of(camden))
    assert row is not None
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.flush()

    response = client.get(f"/v1/transfers/{transfer_id}", headers=bearer(camden))

    body = problem(response, 401, "unauthenticated")
    assert "expired" in body["detail"]
    [event] = session.scalars(
        select(AuditEvent).where(AuditEvent.client_id == row.id, AuditEvent.outcome == "denied")
    ).all()
    assert event.action == "auth.denied"
    assert json.loads(event.details) == {"reason": "expired"}


def test_a_token_that_expires_later_still_works(
    client: TestClient, session: Session, camden: str, transfer_id: str
) -> None:
    row = session.get(ApiClient, client_id_of(camden))
    assert row is not None
    row.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    session.flush()
    assert client.get(f"/v1/transfers/{transfer_id}", headers=bearer(camden)).status_code == 200


def test_a_revoked_token_is_a_401_even_to_send(
    client: TestClient, session: Session, camden: str
) -> None:
    revoke_client(session, client_id_of(camden), actor=None)
    session.flush()

    response = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden))

    body = problem(response, 401, "unauthenticated")
    assert "revoked" in body["detail"]


def test_a_right_secret_of_another_client_is_a_401(
    client: TestClient, make_client: Callable[..., str], camden: str
) -> None:
    other = make_client(authority="202", name="Camden EHM")
    spliced = f"exch.{client_id_of(camden)}.{other.split('.')[2]}"
    response = client.get("/v1/inbox", headers=bearer(spliced))
    problem(response, 401, "unauthenticated")


def test_a_token_of_another_authority_sees_404_on_the_transfer(
    client: TestClient, make_client: Callable[..., str], transfer_id: str
) -> None:
    city = make_client(authority="201", name="City of London")
    for path in ("", "/record", "/messages", "/documents"):
        response = client.get(f"/v1/transfers/{transfer_id}{path}", headers=bearer(city))
        problem(response, 404, "transfer-not-found")


# --- X-Acting-User ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user",
    ["sw.jones\x07", "\x1b[31msw.jones", "sw\x00jones", "x" * 201, "sw;jones", "<script>"],
    ids=["bell", "ansi-escape", "nul", "too-long", "semicolon", "markup"],
)
def test_an_acting_user_with_control_or_odd_characters_is_a_400(
    client: TestClient, camden: str, user: str
) -> None:
    response = client.post(
        "/v1/transfers",
        json=transfer_body(),
        headers=idempotent(camden, **{"X-Acting-User": user}),
    )
    body = problem(response, 400, "acting-user-invalid")
    assert "X-Acting-User" in body["detail"]
    assert sent_ids(client, camden) == []


def test_a_plausible_acting_user_is_recorded(client: TestClient, camden: str) -> None:
    user = "Sarah O'Neil-Jones/CSC:team 4 sarah@camden.gov.uk"
    response = client.post(
        "/v1/transfers", json=transfer_body(), headers=idempotent(camden, **{"X-Acting-User": user})
    )
    assert response.status_code == 201, response.text
    assert response.json()["created_by_user"] == user


# --- Documents --------------------------------------------------------------------------------

DOCUMENT = b"%PDF-1.4 initial child protection conference minutes (synthetic)"
SHA256 = hashlib.sha256(DOCUMENT).hexdigest()


def upload(
    client: TestClient,
    token: str,
    transfer_id: str,
    *,
    content: bytes = DOCUMENT,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Upload DOCUMENT (or ``content``) with good headers, overridden by ``headers``."""
    sent_headers = {
        "Content-Type": "application/pdf",
        "X-Document-Title": "ICPC%20minutes",
        "X-Content-SHA256": SHA256,
        **(headers or {}),
    }
    return client.post(
        f"/v1/transfers/{transfer_id}/documents",
        content=content,
        headers=bearer(token, **sent_headers),
    )


def documents_of(client: TestClient, token: str, transfer_id: str) -> list[dict[str, Any]]:
    listed = client.get(f"/v1/transfers/{transfer_id}/documents", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    return list(listed.json())


def test_a_document_whose_sha256_does_not_match_is_a_422(
    client: TestClient, camden: str, transfer_id: str
) -> None:
    altered = DOCUMENT.replace(b"minutes", b"MINUTES")

    response = upload(client, camden, transfer_id, content=altered)

    body = problem(response, 422, "document-rejected")
    assert "SHA-256" in body["detail"]
    assert body["received_sha256"] == hashlib.sha256(altered).hexdigest()
    assert documents_of(client, camden, transfer_id) == []


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [(len(DOCUMENT) + 10, "arrived"), (len(DOCUMENT) - 10, "More bytes")],
    ids=["fewer-bytes-than-declared", "more-bytes-than-declared"],
)
def test_a_document_whose_content_length_is_not_its_size_is_a_422(
    client: TestClient, camden: str, transfer_id: str, declared: int, fragment: str
) -> None:
    response = upload(client, camden, transfer_id, headers={"Content-Length": str(declared)})

    body = problem(response, 422, "document-rejected")
    assert fragment in body["detail"]
    assert str(declared) in body["detail"]
    assert documents_of(client, camden, transfer_id) == []


def test_a_document_over_the_size_limit_is_a_413(
    client: TestClient, camden: str, transfer_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_document_bytes", len(DOCUMENT) - 1)

    response = upload(client, camden, transfer_id)

    body = problem(response, 413, "body-too-large")
    assert str(len(DOCUMENT) - 1) in body["detail"]
    assert documents_of(client, camden, transfer_id) == []


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"X-Content-SHA256": "abc123"}, 422, "document-rejected"),
        ({"X-Content-SHA256": "g" * 64}, 422, "document-rejected"),
        ({"Content-Type": "pdf"}, 422, "document-rejected"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported-media-type"),
    ],
    ids=["short-hash", "not-hex", "not-a-media-type", "multipart"],
)
def test_a_document_with_malformed_headers_is_refused(
    client: TestClient,
    camden: str,
    transfer_id: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = upload(client, camden, transfer_id, headers=headers)
    problem(response, status, code)
    assert documents_of(client, camden, transfer_id) == []


def test_a_document_without_its_hash_header_names_the_header(
    client: TestClient, camden: str, transfer_id: str
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}/documents",
        content=DOCUMENT,
        headers=bearer(camden, **{"Content-Type": "application/pdf", "X-Document-Title": "x"}),
    )
    body = problem(response, 422, "request-invalid")
    assert [(e["in"], e["pointer"]) for e in body["errors"]] == [("header", "/x-content-sha256")]


def test_a_document_matching_its_declared_size_and_hash_is_stored(
    client: TestClient, camden: str, cambs: str, transfer_id: str
) -> None:
    response = upload(client, camden, transfer_id, headers={"X-Content-SHA256": SHA256.upper()})
    assert response.status_code == 201, response.text
    document = response.json()
    assert (document["sha256"], document["size_bytes"]) == (SHA256, len(DOCUMENT))
    downloaded = client.get(
        f"/v1/transfers/{transfer_id}/documents/{document['id']}", headers=bearer(cambs)
    )
    assert downloaded.content == DOCUMENT


# --- Path, query and other bodies -------------------------------------------------------------


def test_an_overlong_transfer_id_is_a_422_not_a_lookup(client: TestClient, camden: str) -> None:
    response = client.get("/v1/transfers/" + "a" * 37, headers=bearer(camden))
    body = problem(response, 422, "request-invalid")
    assert body["errors"][0]["in"] == "path"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "not-a-cursor"}, 400, "cursor-invalid"),
        ({"limit": "0"}, 422, "request-invalid"),
        ({"limit": "101"}, 422, "request-invalid"),
        ({"status": "lost"}, 422, "request-invalid"),
        ({"box": "outbox"}, 422, "request-invalid"),
        ({"created_from": "yesterday"}, 422, "request-invalid"),
        ({"overdue": "perhaps"}, 422, "request-invalid"),
    ],
)
def test_bad_listing_parameters_are_problems(
    client: TestClient, camden: str, params: dict[str, str], status: int, code: str
) -> None:
    response = client.get("/v1/transfers", params=params, headers=bearer(camden))
    problem(response, status, code)


def test_an_unknown_record_format_is_a_422(
    client: TestClient, cambs: str, transfer_id: str
) -> None:
    response = client.get(
        f"/v1/transfers/{transfer_id}/record", params={"format": "pdf"}, headers=bearer(cambs)
    )
    problem(response, 422, "request-invalid")


def test_deciding_a_child_position_the_transfer_does_not_have(
    client: TestClient, cambs: str, transfer_id: str
) -> None:
    acked = client.post(f"/v1/transfers/{transfer_id}/acknowledge", headers=bearer(cambs))
    assert acked.status_code == 200, acked.text
    accept = {"receiver_child_id": "CAM-77", "transfer_in_conference_date": "2026-12-08"}

    missing = client.post(
        f"/v1/transfers/{transfer_id}/children/2/accept", json=accept, headers=bearer(cambs)
    )
    zero = client.post(
        f"/v1/transfers/{transfer_id}/children/0/accept", json=accept, headers=bearer(cambs)
    )

    assert "position 2" in problem(missing, 404, "transfer-not-found")["detail"]
    problem(zero, 422, "request-invalid")


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b'{"receiver_child_id": ', "application/json"),
        (
            b'{"receiver_child_id": "CAM-77", "transfer_in_conference_date": "08/12/2026"}',
            "application/json",
        ),
        (b"receiver_child_id=CAM-77", "text/plain"),
        (
            b'{"receiver_child_id": "CAM-77", "transfer_in_conference_date": "2026-12-08", "x": 1}',
            "application/json",
        ),
    ],
    ids=["not-json", "date-format", "text-plain", "unknown-field"],
)
def test_a_bad_decision_body_is_a_422(
    client: TestClient, cambs: str, transfer_id: str, content: bytes, ctype: str
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}/children/1/accept",
        content=content,
        headers=bearer(cambs, **{"Content-Type": ctype}),
    )
    problem(response, 422, "request-invalid")


def test_a_message_over_the_length_limit_is_a_422(
    client: TestClient, camden: str, transfer_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_message_chars", 20)
    response = client.post(
        f"/v1/transfers/{transfer_id}/messages",
        json={"body": "Please call the allocated worker before Friday."},
        headers=bearer(camden),
    )
    body = problem(response, 422, "limit-exceeded")
    assert "20 characters" in body["detail"]


@pytest.mark.parametrize(
    "message",
    [{"body": "   "}, {"body": "hi", "kind": "shout"}, {}],
    ids=["blank", "unknown-kind", "no-body"],
)
def test_a_malformed_message_is_a_422(
    client: TestClient, camden: str, transfer_id: str, message: dict[str, Any]
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}/messages", json=message, headers=bearer(camden)
    )
    problem(response, 422, "request-invalid")


def test_a_reply_to_a_message_of_no_such_id_is_a_404(
    client: TestClient, camden: str, transfer_id: str
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}/messages",
        json={"kind": "answer", "body": "Yes.", "in_reply_to": "no-such-message"},
        headers=bearer(camden),
    )
    problem(response, 404, "transfer-not-found")


def test_a_streamed_document_without_a_declared_length_is_a_422(
    client: TestClient, camden: str, transfer_id: str
) -> None:
    def chunks() -> Iterator[bytes]:
        yield DOCUMENT[:10]
        yield DOCUMENT[10:]

    response = client.post(
        f"/v1/transfers/{transfer_id}/documents",
        content=chunks(),
        headers=bearer(
            camden,
            **{
                "Content-Type": "application/pdf",
                "X-Document-Title": "x",
                "X-Content-SHA256": SHA256,
            },
        ),
    )
    body = problem(response, 422, "document-rejected")
    assert "Content-Length" in body["detail"]


# --- Known gaps -------------------------------------------------------------------------------


def _padded(document: dict[str, Any], size: int) -> bytes:
    """Valid JSON made larger than ``size`` bytes with insignificant whitespace."""
    raw = json.dumps(document).encode()
    return raw[:-1] + b" " * size + b"}"


@pytest.mark.parametrize(
    ("path", "document"),
    [
        ("/messages", {"body": "Please call before Friday."}),
        ("/withdraw", {"reason": "Sent in error."}),
    ],
    ids=["message", "withdraw"],
)
def test_every_json_endpoint_honours_the_request_size_limit(
    client: TestClient,
    camden: str,
    transfer_id: str,
    small_request_limit: int,
    path: str,
    document: dict[str, Any],
) -> None:
    response = client.post(
        f"/v1/transfers/{transfer_id}{path}",
        content=_padded(document, small_request_limit),
        headers=bearer(camden, **{"Content-Type": "application/json"}),
    )
    problem(response, 413, "body-too-large")


def test_the_same_padding_is_refused_when_sending(
    client: TestClient, camden: str, small_request_limit: int
) -> None:
    response = client.post(
        "/v1/transfers",
        content=_padded(transfer_body(), small_request_limit),
        headers=idempotent(camden, **{"Content-Type": "application/json"}),
    )
    problem(response, 413, "body-too-large")


@pytest.mark.parametrize("key", ['"unbalanced-key', 'unbalanced-key"'], ids=["leading", "trailing"])
def test_an_idempotency_key_with_an_unbalanced_quote_is_a_400(
    client: TestClient, camden: str, key: str
) -> None:
    response = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden, key))
    problem(response, 400, "idempotency-key-invalid")
