"""Who may call what: every endpoint of the app walked with every role and authority (issue 4).

Only the sending and receiving authorities' `authority` clients can see a transfer; any other
authority gets the same 404 as for a transfer that does not exist (existence is not disclosed).
Auditor and admin clients are refused by role (403), a missing, revoked or forged token by 401,
and every refusal of a known client is written to the audit log (issue 5).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import httpx  # the httpx (or httpx2) the TestClient answers with
from support import bearer, example, idempotent, transfer_body

from exchange.audit.models import AuditEvent
from exchange.authorities.clients import revoke_client

PROBLEM_JSON = "application/problem+json"
CAMDEN, CITY_OF_LONDON = "E09000007", "E09000001"

# Who calls. "forged" is the sender's client id with a secret that is not its own.
CALLERS = ("sender", "receiver", "third", "auditor", "admin", "revoked", "forged", "anonymous")
PARTIES = ("sender", "receiver")

Expected = tuple[int, str | None]  # status, and the problem's code (None for a success)
NOT_FOUND: Expected = (404, "transfer-not-found")
FORBIDDEN: Expected = (403, "forbidden")
UNAUTHENTICATED: Expected = (401, "unauthenticated")
OTHER_PARTYS_STEP: Expected = (409, "transition-not-allowed")
NO_TOKEN = {"revoked": UNAUTHENTICATED, "forged": UNAUTHENTICATED, "anonymous": UNAUTHENTICATED}

DOCUMENT = b"%PDF-1.4 conference report (synthetic)"
DOCUMENT_HEADERS = {
    "Content-Type": "application/pdf",
    "X-Document-Title": "Initial%20child%20protection%20conference",
    "X-Content-SHA256": hashlib.sha256(DOCUMENT).hexdigest(),
}


def transfer_scoped(sender: Expected, receiver: Expected) -> dict[str, Expected]:
    """A transfer's own endpoint: its two parties, then everyone else refused."""
    return {
        "sender": sender,
        "receiver": receiver,
        "third": NOT_FOUND,
        "auditor": FORBIDDEN,
        "admin": FORBIDDEN,
        **NO_TOKEN,
    }


def authority_role(status: int) -> dict[str, Expected]:
    """A collection endpoint any authority client may use (on its own transfers)."""
    ok: Expected = (status, None)
    return {
        "sender": ok,
        "receiver": ok,
        "third": ok,
        "auditor": FORBIDDEN,
        "admin": FORBIDDEN,
        **NO_TOKEN,
    }


def admin_role(status: int) -> dict[str, Expected]:
    """Client management: the admin role only."""
    return {
        "sender": FORBIDDEN,
        "receiver": FORBIDDEN,
        "third": FORBIDDEN,
        "auditor": FORBIDDEN,
        "admin": (status, None),
        **NO_TOKEN,
    }


def auditor_role(status: int) -> dict[str, Expected]:
    """The audit log and reports: the auditor role only, never an authority's case workers."""
    return {
        "sender": FORBIDDEN,
        "receiver": FORBIDDEN,
        "third": FORBIDDEN,
        "auditor": (status, None),
        "admin": FORBIDDEN,
        **NO_TOKEN,
    }


def any_client(status: int) -> dict[str, Expected]:
    """Any valid client, whatever its role (record validation: no case is stored or read)."""
    ok: Expected = (status, None)
    return {
        "sender": ok,
        "receiver": ok,
        "third": ok,
        "auditor": ok,
        "admin": ok,
        **NO_TOKEN,
    }


def public() -> dict[str, Expected]:
    """No token needed, and a bad one is not looked at."""
    return dict.fromkeys(CALLERS, (200, None))


Body = Callable[[], dict[str, Any]]


def no_body() -> dict[str, Any]:
    return {}


def json_body(payload: Callable[[], Any], *, idempotency: bool = False) -> Body:
    def make() -> dict[str, Any]:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotency else {}
        return {"json": payload(), "headers": headers}

    return make


def document_body() -> dict[str, Any]:
    return {"content": DOCUMENT, "headers": dict(DOCUMENT_HEADERS)}


@dataclass(frozen=True)
class Row:
    """One endpoint: how to call it, and what each caller must get."""

    method: str
    path: str
    expect: dict[str, Expected]
    body: Body = no_body
    acknowledged: bool = False  # the state the parties' own transfer must be in

    @property
    def transfer_scoped(self) -> bool:
        return "{transfer_id}" in self.path

    @property
    def needs_document(self) -> bool:
        return "{document_id}" in self.path

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ACCEPT = {"receiver_child_id": "CAM-77", "transfer_in_conference_date": "2026-12-08"}
REASON = {"reason": "The family did not move after all."}

ROWS: tuple[Row, ...] = (
    # Public: the registry, health, docs, and the record validator.
    Row("GET", "/openapi.json", public()),
    Row("GET", "/docs", public()),
    Row("GET", "/docs/oauth2-redirect", public()),
    Row("GET", "/redoc", public()),
    Row("GET", "/healthz", public()),
    Row("GET", "/readyz", public()),
    Row("GET", "/v1/authorities", public()),
    Row("GET", "/v1/authorities/{code}", public()),
    Row("POST", "/v1/records/validate", any_client(200), json_body(example)),
    # Collections: any authority client, on its own authority's transfers.
    Row(
        "POST",
        "/v1/transfers",
        authority_role(201),
        json_body(lambda: transfer_body(to="301"), idempotency=True),
    ),
    Row(
        "POST",
        "/v1/transfers/batch",
        authority_role(200),
        json_body(
            lambda: {
                "items": [
                    {"idempotency_key": str(uuid.uuid4()), "transfer": transfer_body(to="301")}
                ]
            }
        ),
    ),
    Row("GET", "/v1/transfers", authority_role(200)),
    Row("GET", "/v1/inbox", authority_role(200)),
    # One transfer: its two parties only; a step of the other party is a 409.
    Row("GET", "/v1/transfers/{transfer_id}", transfer_scoped((200, None), (200, None))),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/acknowledge",
        transfer_scoped(OTHER_PARTYS_STEP, (200, None)),
    ),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/children/{position}/accept",
        transfer_scoped(OTHER_PARTYS_STEP, (200, None)),
        json_body(lambda: ACCEPT),
        acknowledged=True,
    ),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/children/{position}/decline",
        transfer_scoped(OTHER_PARTYS_STEP, (200, None)),
        json_body(lambda: REASON),
        acknowledged=True,
    ),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/withdraw",
        transfer_scoped((200, None), OTHER_PARTYS_STEP),
        json_body(lambda: REASON),
    ),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/updates",
        transfer_scoped((201, None), OTHER_PARTYS_STEP),
        json_body(lambda: {"records": [example()], "note": "New address."}, idempotency=True),
    ),
    Row("GET", "/v1/transfers/{transfer_id}/record", transfer_scoped((200, None), (200, None))),
    Row("GET", "/v1/transfers/{transfer_id}/pack", transfer_scoped((200, None), (200, None))),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/messages",
        transfer_scoped((201, None), (201, None)),
        json_body(lambda: {"kind": "question", "body": "Who is the allocated worker?"}),
    ),
    Row("GET", "/v1/transfers/{transfer_id}/messages", transfer_scoped((200, None), (200, None))),
    Row(
        "POST",
        "/v1/transfers/{transfer_id}/documents",
        transfer_scoped((201, None), (201, None)),
        document_body,
    ),
    Row("GET", "/v1/transfers/{transfer_id}/documents", transfer_scoped((200, None), (200, None))),
    Row(
        "GET",
        "/v1/transfers/{transfer_id}/documents/{document_id}",
        transfer_scoped((200, None), (200, None)),
    ),
    # Client management: admin only.
    Row(
        "POST",
        "/v1/clients",
        admin_role(201),
        json_body(lambda: {"name": "Camden LCS", "role": "authority", "authority": "202"}),
    ),
    Row("GET", "/v1/clients", admin_role(200)),
    Row("POST", "/v1/clients/{client_id}/revoke", admin_role(200)),
    Row("POST", "/v1/clients/{client_id}/rotate", admin_role(200)),
    # The audit log and reports (issue 5): auditors only.
    Row("GET", "/v1/audit/events", auditor_role(200)),
    Row("GET", "/v1/audit/events/export", auditor_role(200)),
    Row("GET", "/v1/audit/verify", auditor_role(200)),
    Row("GET", "/v1/reports/{report}", auditor_role(200)),
)
TRANSFER_ROWS = tuple(r for r in ROWS if r.transfer_scoped)


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were resolved lazily
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    for route in routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                yield method, route.path


@dataclass
class Target:
    """A transfer to call the endpoints on, with a document on it."""

    transfer_id: str
    document_id: str


@dataclass
class World:
    """Camden (202) sends to Cambridgeshire (873); City of London (201) is a bystander."""

    client: TestClient
    session: Session
    make_client: Callable[..., str]
    tokens: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tokens["sender"] = self.make_client(authority="202", name="Camden LCS")
        self.tokens["receiver"] = self.make_client(authority="873", name="Cambridgeshire")
        self.tokens["third"] = self.make_client(authority="201", name="City of London")
        self.tokens["auditor"] = self.make_client(role="auditor", authority=None, name="Ofsted")
        self.tokens["admin"] = self.make_client(role="admin", authority=None, name="Operator")
        revoked = self.make_client(authority="202", name="Camden, old system")
        revoke_client(self.session, client_id_of(revoked), actor=None)
        self.tokens["revoked"] = revoked
        self.tokens["forged"] = f"exch.{client_id_of(self.token('sender'))}.{'A' * 43}"
        self.tokens["anonymous"] = None

    def token(self, caller: str) -> str:
        token = self.tokens[caller]
        assert token is not None
        return token

    def headers(self, caller: str, **extra: str) -> dict[str, str]:
        token = self.tokens[caller]
        return bearer(token, **extra) if token else dict(extra)

    def transfer(self, *, acknowledged: bool = False, document: bool = False) -> Target:
        """A fresh transfer from Camden to Cambridgeshire, with a document on it if asked."""
        sent = self.client.post(
            "/v1/transfers", json=transfer_body(), headers=idempotent(self.token("sender"))
        )
        assert sent.status_code == 201, sent.text
        target = Target(sent.json()["id"], str(uuid.uuid4()))
        if document:
            uploaded = self.client.post(
                f"/v1/transfers/{target.transfer_id}/documents",
                content=DOCUMENT,
                headers=self.headers("sender", **DOCUMENT_HEADERS),
            )
            assert uploaded.status_code == 201, uploaded.text
            target.document_id = uploaded.json()["id"]
        if acknowledged:
            acked = self.client.post(
                f"/v1/transfers/{target.transfer_id}/acknowledge", headers=self.headers("receiver")
            )
            assert acked.status_code == 200, acked.text
        return target

    def call(self, row: Row, caller: str, target: Target | None) -> httpx.Response:
        path = row.path.format(
            transfer_id=target.transfer_id if target else "",
            document_id=target.document_id if target else "",
            position=1,
            code="202",
            report="timeliness",
            client_id=client_id_of(self.make_client(authority="301", name="to be managed"))
            if "{client_id}" in row.path
            else "",
        )
        body = row.body()
        headers = self.headers(caller, **body.pop("headers", {}))
        return self.client.request(row.method, path, headers=headers, **body)


def client_id_of(token: str) -> str:
    return token.split(".")[1]


def answer(response: httpx.Response) -> Expected:
    """The status and, for a problem, its code (checking it is a well-formed problem)."""
    if response.status_code < 400:
        return response.status_code, None
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    problem = response.json()
    assert problem["status"] == response.status_code
    return response.status_code, problem["code"]


@pytest.fixture
def world(client: TestClient, session: Session, make_client: Callable[..., str]) -> World:
    return World(client, session, make_client)


def test_every_route_of_the_app_has_a_row_in_the_matrix(app: FastAPI) -> None:
    served = sorted(set(app_routes(app)))
    assert served == sorted({(row.method, row.path) for row in ROWS})
    assert len(served) == len(ROWS)


def test_the_matrix_names_every_caller_for_every_row() -> None:
    assert all(set(row.expect) == set(CALLERS) for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_caller_gets_what_its_role_and_authority_allow(row: Row, world: World) -> None:
    shared = (
        world.transfer(acknowledged=True, document=row.needs_document)
        if row.transfer_scoped
        else None
    )
    answers: dict[str, Expected] = {}
    for caller in CALLERS:
        target = shared
        if row.transfer_scoped and caller in PARTIES:
            # A party's call may move the transfer on: each gets a transfer of its own.
            target = world.transfer(acknowledged=row.acknowledged, document=row.needs_document)
        answers[caller] = answer(world.call(row, caller, target))
    assert answers == row.expect

    if shared is not None:
        # Nothing the refused callers tried changed the transfer they were refused.
        seen = world.client.get(
            f"/v1/transfers/{shared.transfer_id}", headers=world.headers("sender")
        ).json()
        assert seen["status"] == "acknowledged"
        assert [c["status"] for c in seen["children"]] == ["pending"]
        assert seen["superseded_by"] is None


def _normalised(response: httpx.Response, *ids: str) -> dict[str, Any]:
    """The problem with the ids asked for replaced and the request id left out."""
    text = response.text
    for n, value in enumerate(ids):
        text = text.replace(value, f"<id{n}>")
    body = dict(json.loads(text))
    body.pop("request_id", None)
    return body


@pytest.mark.parametrize("row", TRANSFER_ROWS, ids=lambda row: row.id)
def test_another_authoritys_transfer_looks_exactly_like_one_that_does_not_exist(
    row: Row, world: World
) -> None:
    real = world.transfer(document=row.needs_document)
    missing = Target(str(uuid.uuid4()), str(uuid.uuid4()))

    someone_elses = world.call(row, "third", real)
    nonexistent = world.call(row, "third", missing)
    nonexistent_to_a_party = world.call(row, "sender", missing)

    assert answer(someone_elses) == answer(nonexistent) == NOT_FOUND
    assert answer(nonexistent_to_a_party) == NOT_FOUND
    expected = _normalised(nonexistent, missing.transfer_id, missing.document_id)
    assert _normalised(someone_elses, real.transfer_id, real.document_id) == expected
    assert _normalised(nonexistent_to_a_party, missing.transfer_id, missing.document_id) == expected
    assert someone_elses.headers["content-type"] == nonexistent.headers["content-type"]
    assert set(someone_elses.headers) == set(nonexistent.headers)
    assert len(someone_elses.content) == len(nonexistent.content)  # ids are all UUIDs
    assert expected["title"] == "Transfer not found"
    assert "<id0>" in expected["detail"]  # the id asked for, nothing about the transfer


def test_lists_and_inboxes_show_a_transfer_to_its_two_parties_only(world: World) -> None:
    target = world.transfer()

    def ids(path: str, caller: str, **params: str) -> list[str]:
        response = world.client.get(path, params=params, headers=world.headers(caller))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert target.transfer_id in ids("/v1/transfers", "sender", box="sent")
    assert target.transfer_id not in ids("/v1/transfers", "sender", box="received")
    assert target.transfer_id in ids("/v1/transfers", "receiver", box="received")
    assert target.transfer_id in ids("/v1/inbox", "receiver")
    assert target.transfer_id not in ids("/v1/inbox", "sender")
    assert target.transfer_id not in ids("/v1/transfers", "third")
    assert target.transfer_id not in ids("/v1/inbox", "third")
    # Not even by looking the child up by NHS number.
    assert ids("/v1/transfers", "third", child_nhs_number="9434765919") == []
    assert target.transfer_id in ids("/v1/transfers", "sender", child_nhs_number="9434765919")


def _denied_events(session: Session, client_id: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.client_id == client_id, AuditEvent.outcome == "denied")
            .order_by(AuditEvent.seq)
        )
    )


@pytest.mark.parametrize("caller", ["auditor", "admin"])
def test_a_client_refused_for_its_role_is_audited(caller: str, world: World) -> None:
    target = world.transfer()
    client_id = client_id_of(world.token(caller))

    response = world.client.get(
        f"/v1/transfers/{target.transfer_id}/record",
        headers=world.headers(caller, **{"X-Acting-User": "inspector.khan"}),
    )

    assert answer(response) == FORBIDDEN
    [event] = _denied_events(world.session, client_id)
    assert event.action == "access.denied"
    assert event.role == caller
    assert event.actor_authority is None
    assert event.acting_user == "inspector.khan"
    assert event.request_id == response.json()["request_id"]


def test_an_authority_client_refused_client_management_is_audited(world: World) -> None:
    response = world.client.get("/v1/clients", headers=world.headers("sender"))

    assert answer(response) == FORBIDDEN
    [event] = _denied_events(world.session, client_id_of(world.token("sender")))
    assert event.action == "access.denied"
    assert event.actor_authority == CAMDEN


@pytest.mark.parametrize(
    ("caller", "reason"), [("revoked", "revoked"), ("forged", "token-mismatch")]
)
def test_a_bad_token_for_a_known_client_is_audited(caller: str, reason: str, world: World) -> None:
    target = world.transfer()
    client_id = client_id_of(world.token(caller))

    response = world.client.get(
        f"/v1/transfers/{target.transfer_id}", headers=world.headers(caller)
    )

    assert answer(response) == UNAUTHENTICATED
    [event] = _denied_events(world.session, client_id)
    assert event.action == "auth.denied"
    assert event.actor_authority == CAMDEN
    assert reason in event.details


def test_refusals_are_not_recorded_as_anything_but_denied(world: World) -> None:
    target = world.transfer()
    for caller in ("auditor", "admin", "revoked", "forged"):
        world.client.get(f"/v1/transfers/{target.transfer_id}", headers=world.headers(caller))
    refused = {client_id_of(world.token(c)) for c in ("auditor", "admin", "revoked")}
    outcomes = {
        e.outcome
        for e in world.session.scalars(select(AuditEvent).where(AuditEvent.client_id.in_(refused)))
        if e.action != "client.created"
    }
    assert outcomes == {"denied"}


def test_another_authority_reading_a_transfer_is_audited_as_denied(world: World) -> None:
    target = world.transfer()

    response = world.client.get(
        f"/v1/transfers/{target.transfer_id}/record", headers=world.headers("third")
    )

    assert answer(response) == NOT_FOUND
    events = _denied_events(world.session, client_id_of(world.token("third")))
    assert [(e.actor_authority, e.transfer_id) for e in events] == [
        (CITY_OF_LONDON, target.transfer_id)
    ]


def test_a_document_of_another_transfer_cannot_be_fetched_through_ones_own(
    world: World,
) -> None:
    mine = world.transfer()
    # Camden also sends a case to the City of London; Cambridgeshire is no party to it.
    to_city = world.client.post(
        "/v1/transfers", json=transfer_body(to="201"), headers=idempotent(world.token("sender"))
    )
    assert to_city.status_code == 201, to_city.text
    city_transfer = to_city.json()["id"]
    uploaded = world.client.post(
        f"/v1/transfers/{city_transfer}/documents",
        content=DOCUMENT,
        headers=world.headers("sender", **DOCUMENT_HEADERS),
    )
    assert uploaded.status_code == 201, uploaded.text

    response = world.client.get(
        f"/v1/transfers/{mine.transfer_id}/documents/{uploaded.json()['id']}",
        headers=world.headers("receiver"),
    )

    assert answer(response) == NOT_FOUND
    assert DOCUMENT not in response.content


def test_a_reply_cannot_point_at_a_message_of_another_transfer(world: World) -> None:
    mine, other = world.transfer(), world.transfer()
    asked = world.client.post(
        f"/v1/transfers/{other.transfer_id}/messages",
        json={"kind": "question", "body": "Is the school aware?"},
        headers=world.headers("receiver"),
    )
    assert asked.status_code == 201, asked.text

    response = world.client.post(
        f"/v1/transfers/{mine.transfer_id}/messages",
        json={"kind": "answer", "body": "Yes.", "in_reply_to": asked.json()["id"]},
        headers=world.headers("sender"),
    )

    assert answer(response) == NOT_FOUND
