"""Idempotency-Key on POST /v1/transfers (IETF httpapi draft semantics).

The first group runs inside the rolled-back test transaction. The second group needs real
commits (a failed request rolled back, threads racing the same key), so it builds its own app
without dependency overrides and uses authorities 940 -> 941, which no other test lists.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from support import bearer, example, idempotent, minimal_record, transfer_body

from exchange.audit.chain import CHAINED_FIELDS, GENESIS_HASH, event_hash
from exchange.audit.models import AuditEvent, AuditHead
from exchange.transfers.models import IdempotencyRecord, Transfer

THREADS = 16


def _client_id(token: str) -> str:
    return token.split(".")[1]


def _transfers_created_by(session: Session, token: str) -> list[str]:
    return list(
        session.scalars(select(Transfer.id).where(Transfer.created_by_client == _client_id(token)))
    )


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


# --- in the rolled-back test transaction ---------------------------------------------------------


def test_same_key_and_body_replays_the_first_response(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    cambs = make_client(authority="873")
    headers = idempotent(camden)

    first = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    second = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    third = client.post("/v1/transfers", json=transfer_body(), headers=headers)

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for repeat in (second, third):
        assert repeat.status_code == 201, repeat.text
        assert repeat.headers["idempotent-replayed"] == "true"
        assert repeat.json() == first.json()
    assert _transfers_created_by(session, camden) == [first.json()["id"]]
    inbox = client.get("/v1/inbox", headers=bearer(cambs)).json()
    assert [t["id"] for t in inbox["items"]] == [first.json()["id"]]


def test_replay_returns_the_stored_response_even_after_the_transfer_moved_on(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    cambs = make_client(authority="873")
    headers = idempotent(camden)
    first = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    assert first.status_code == 201, first.text
    read = client.get(f"/v1/transfers/{first.json()['id']}", headers=bearer(cambs))
    assert read.json()["status"] == "received"

    again = client.post("/v1/transfers", json=transfer_body(), headers=headers)

    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["status"] == "sent"
    assert _transfers_created_by(session, camden) == [first.json()["id"]]


def test_same_key_with_another_body_is_refused(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    headers = idempotent(camden)
    first = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    assert first.status_code == 201, first.text

    other = transfer_body(urgency="urgent")
    reused = client.post("/v1/transfers", json=other, headers=headers)
    other_path = client.post(
        f"/v1/transfers/{first.json()['id']}/updates",
        json={"records": [example()]},
        headers=headers,
    )

    _problem(reused, 422, "idempotency-key-reused")
    assert "idempotent-replayed" not in reused.headers
    _problem(other_path, 422, "idempotency-key-reused")
    assert _transfers_created_by(session, camden) == [first.json()["id"]]
    # The refusal does not spoil the key for the request it was first used with.
    again = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()


def test_keys_belong_to_one_client(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden_a = make_client(authority="202", name="Camden LCS")
    camden_b = make_client(authority="202", name="Camden portal")
    barking = make_client(authority="301")
    key = str(uuid.uuid4())

    a = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden_a, key))
    b = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden_b, key))
    c = client.post(
        "/v1/transfers",
        json=transfer_body([minimal_record("301", "BD42")]),
        headers=idempotent(barking, key),
    )

    for response in (a, b, c):
        assert response.status_code == 201, response.text
        assert "idempotent-replayed" not in response.headers
    assert len({a.json()["id"], b.json()["id"], c.json()["id"]}) == 3
    assert _transfers_created_by(session, camden_a) == [a.json()["id"]]
    assert _transfers_created_by(session, camden_b) == [b.json()["id"]]
    assert _transfers_created_by(session, barking) == [c.json()["id"]]


@pytest.mark.parametrize("same_body", [True, False], ids=["same-body", "another-body"])
def test_an_expired_key_is_treated_as_new(
    client: TestClient, session: Session, make_client: Callable[..., str], same_body: bool
) -> None:
    camden = make_client(authority="202")
    key = str(uuid.uuid4())
    first = client.post("/v1/transfers", json=transfer_body(), headers=idempotent(camden, key))
    assert first.status_code == 201, first.text
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.client_id == _client_id(camden), IdempotencyRecord.key == key)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.flush()

    body = transfer_body() if same_body else transfer_body(urgency="urgent")
    fresh = client.post("/v1/transfers", json=body, headers=idempotent(camden, key))
    repeat = client.post("/v1/transfers", json=body, headers=idempotent(camden, key))

    assert fresh.status_code == 201, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    assert fresh.json()["urgency"] == body.get("urgency", "routine")
    # The key now stands for the new request: a repeat replays it.
    assert repeat.headers["idempotent-replayed"] == "true"
    assert repeat.json() == fresh.json()
    assert sorted(_transfers_created_by(session, camden)) == sorted(
        [first.json()["id"], fresh.json()["id"]]
    )


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "idempotency-key-missing"),
        ("", "idempotency-key-missing"),
        ("x" * 256, "idempotency-key-invalid"),
        ("has space", "idempotency-key-invalid"),
        ('ab"cd', "idempotency-key-invalid"),
    ],
    ids=["absent", "empty", "too-long", "space", "inner-quote"],
)
def test_a_missing_or_malformed_key_is_refused(
    client: TestClient,
    session: Session,
    make_client: Callable[..., str],
    key: str | None,
    code: str,
) -> None:
    camden = make_client(authority="202")
    headers = bearer(camden)
    if key is not None:
        headers["Idempotency-Key"] = key
    response = client.post("/v1/transfers", json=transfer_body(), headers=headers)
    _problem(response, 400, code)
    assert _transfers_created_by(session, camden) == []


# --- committed data: a real request transaction, and threads racing ------------------------------


@dataclass(frozen=True)
class Live:
    """An app with no dependency overrides, and fresh clients of 940 (sender) and 941."""

    app: FastAPI
    sender: str
    receiver: str


@pytest.fixture
def live(database_url: str) -> Live:
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    tag = uuid.uuid4().hex[:8]
    with session_scope() as db:
        sender = create_client(
            db,
            ClientCreate(name=f"idempotency {tag}", role=Role.AUTHORITY, authority="940"),
            actor=None,
        ).token
        receiver = create_client(
            db,
            ClientCreate(name=f"idempotency {tag}", role=Role.AUTHORITY, authority="941"),
            actor=None,
        ).token
    return Live(create_app(get_settings()), sender, receiver)


def _northants_body(**extra: Any) -> dict[str, Any]:
    record = minimal_record("940", f"NN{uuid.uuid4().hex[:10]}")
    return transfer_body([record], to="941", **extra)


def _committed(token: str) -> list[str]:
    from exchange.db import session_scope

    with session_scope() as db:
        return _transfers_created_by(db, token)


def _key_row(token: str, key: str) -> IdempotencyRecord | None:
    from exchange.db import session_scope

    with session_scope() as db:
        return db.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.client_id == _client_id(token), IdempotencyRecord.key == key
            )
        )


def test_a_failed_request_does_not_use_up_its_key(live: Live) -> None:
    key = str(uuid.uuid4())
    headers = idempotent(live.sender, key)
    invalid = _northants_body()
    invalid["records"][0]["child"]["birth_date"] = "2019-02-30"
    valid = _northants_body()

    with TestClient(live.app, raise_server_exceptions=False) as http:
        failed = http.post("/v1/transfers", json=invalid, headers=headers)
        failed_again = http.post("/v1/transfers", json=invalid, headers=headers)
        assert _key_row(live.sender, key) is None
        retried = http.post("/v1/transfers", json=valid, headers=headers)
        repeated = http.post("/v1/transfers", json=valid, headers=headers)

    _problem(failed, 422, "records-invalid")
    _problem(failed_again, 422, "records-invalid")
    assert "idempotent-replayed" not in failed_again.headers
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert repeated.headers["idempotent-replayed"] == "true"
    assert repeated.json() == retried.json()
    assert _committed(live.sender) == [retried.json()["id"]]
    row = _key_row(live.sender, key)
    assert row is not None
    assert row.transfer_id == retried.json()["id"]


def _race(app: FastAPI, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    """Send each (body, headers) from its own thread and TestClient, all at the same moment."""
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)

    def send(index: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            with TestClient(app, raise_server_exceptions=False) as http:
                barrier.wait(timeout=30)
                results[index] = http.post("/v1/transfers", json=body, headers=headers)
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[index] = exc

    threads = [
        threading.Thread(target=send, args=(i, body, headers))
        for i, (body, headers) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request never finished"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def test_racing_the_same_key_creates_one_transfer(live: Live) -> None:
    key = str(uuid.uuid4())
    body = _northants_body()

    responses = _race(live.app, [(body, idempotent(live.sender, key))] * THREADS)

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code == 409:
            _problem(response, 409, "idempotency-in-progress")
    created = [r for r in responses if r.status_code == 201]
    assert created, "no request succeeded"
    ids = {r.json()["id"] for r in created}
    assert len(ids) == 1
    assert sum("idempotent-replayed" not in r.headers for r in created) <= 1
    assert all(r.json() == created[0].json() for r in created)
    assert _committed(live.sender) == list(ids)
    row = _key_row(live.sender, key)
    assert row is not None
    assert row.transfer_id in ids
    with TestClient(live.app, raise_server_exceptions=False) as http:
        inbox = http.get("/v1/inbox", params={"limit": 100}, headers=bearer(live.receiver))
    assert [t["id"] for t in inbox.json()["items"]].count(row.transfer_id) == 1


def test_racing_the_same_key_with_two_bodies_creates_one_transfer(live: Live) -> None:
    key = str(uuid.uuid4())
    routine, urgent = _northants_body(), _northants_body(urgency="urgent")
    requests = [
        (routine if i % 2 else urgent, idempotent(live.sender, key)) for i in range(THREADS)
    ]

    responses = _race(live.app, requests)

    created = [
        (body, r) for (body, _), r in zip(requests, responses, strict=True) if r.status_code == 201
    ]
    assert created, [(r.status_code, r.text) for r in responses]
    assert len({r.json()["id"] for _, r in created}) == 1
    winner = created[0][0]
    assert all(body is winner for body, _ in created)
    for (body, _), response in zip(requests, responses, strict=True):
        if response.status_code == 201:
            continue
        assert response.status_code in (409, 422), response.text
        if response.status_code == 422:
            assert body is not winner
            _problem(response, 422, "idempotency-key-reused")
        else:
            _problem(response, 409, "idempotency-in-progress")
    assert _committed(live.sender) == [created[0][1].json()["id"]]


def _head_seq() -> int:
    from exchange.db import session_scope

    with session_scope() as db:
        return int(db.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0)


def test_racing_different_keys_creates_each_transfer_and_keeps_the_audit_chain(
    live: Live,
) -> None:
    from exchange.db import session_scope

    before = _head_seq()
    requests = [(_northants_body(), idempotent(live.sender)) for _ in range(THREADS)]

    responses = _race(live.app, requests)

    assert [r.status_code for r in responses] == [201] * THREADS, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == THREADS
    assert sorted(_committed(live.sender)) == sorted(ids)
    with session_scope() as db:
        previous = (
            GENESIS_HASH
            if before == 0
            else db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == before))
        )
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)
        ).all()
        head = db.scalar(select(AuditHead).where(AuditHead.id == 1))
        sent = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "transfer.sent", AuditEvent.transfer_id.in_(ids))
        )
        assert previous is not None
        assert [e.seq for e in events] == list(range(before + 1, before + 1 + len(events)))
        for event in events:
            assert event.prev_hash == previous, f"event {event.seq} does not follow its predecessor"
            fields = {name: getattr(event, name) for name in CHAINED_FIELDS}
            assert event.hash == event_hash(previous, fields), f"event {event.seq} was altered"
            previous = event.hash
        assert head is not None
        assert (head.seq, head.hash) == (events[-1].seq, previous)
    assert sent == THREADS
