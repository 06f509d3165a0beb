"""Sending several transfers in one request, and keys whose replay window has passed.

A batch is written in a few statements (issue 6); these tests hold it to what one request at a
time promised: each transfer once, its own audit event in the chain, and nothing at all when the
audit log cannot be written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from support import bearer, idempotent, minimal_record, transfer_body

from exchange.audit.models import AuditEvent
from exchange.audit.verify import verify_chain
from exchange.transfers import service
from exchange.transfers.models import IdempotencyRecord, Transfer


def item(key: str, child: str | None = None, **body: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "transfer": transfer_body(
            [minimal_record(la_child_id=child or f"C{uuid.uuid4().hex[:8]}")], **body
        ),
    }


def test_a_batch_appends_one_event_per_transfer_in_order_and_the_chain_verifies(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    items = [item(f"order-{n}") for n in range(5)]
    response = client.post("/v1/transfers/batch", json={"items": items}, headers=bearer(camden))
    assert response.status_code == 200, response.text
    ids = [r["transfer"]["id"] for r in response.json()["results"]]
    assert len(set(ids)) == 5

    events = session.execute(
        select(AuditEvent.transfer_id, AuditEvent.action, AuditEvent.seq)
        .where(AuditEvent.transfer_id.in_(ids))
        .order_by(AuditEvent.seq)
    ).all()
    assert [(e.transfer_id, e.action) for e in events] == [(i, "transfer.sent") for i in ids]
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5)), "one unbroken run of the chain"
    assert verify_chain(session).ok


def test_the_same_key_twice_in_one_batch_sends_once(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    twice = item("twice", child="TWICE1")
    changed = item("twice", child="TWICE2")
    results = client.post(
        "/v1/transfers/batch", json={"items": [twice, twice, changed]}, headers=bearer(camden)
    ).json()["results"]

    assert [r["status"] for r in results] == [201, 201, 422]
    assert [r["replayed"] for r in results[:2]] == [False, True]
    assert results[1]["transfer"]["id"] == results[0]["transfer"]["id"]
    assert results[2]["problem"]["code"] == "idempotency-key-reused"
    sent = session.scalars(
        select(Transfer.id).where(Transfer.id == results[0]["transfer"]["id"])
    ).all()
    assert len(sent) == 1


def test_a_key_past_its_replay_window_can_be_used_again(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    first = client.post(
        "/v1/transfers", json=transfer_body(), headers=idempotent(camden, "old-key")
    )
    assert first.status_code == 201, first.text
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == "old-key")
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    )

    other = transfer_body([minimal_record(la_child_id="LATER1")])
    again = client.post("/v1/transfers", json=other, headers=idempotent(camden, "old-key"))

    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    [row] = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "old-key"))
    assert row.transfer_id == again.json()["id"]


def test_a_repeat_replays_even_when_the_body_would_now_be_refused(
    client: TestClient, make_client: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer stands: a retry after a limit was lowered still gets its transfer."""
    from exchange.config import get_settings

    camden = make_client(authority="202")
    body = transfer_body([minimal_record(la_child_id="SIB1"), minimal_record(la_child_id="SIB2")])
    first = client.post("/v1/transfers", json=body, headers=idempotent(camden, "sibs"))
    assert first.status_code == 201, first.text
    monkeypatch.setattr(get_settings(), "max_children_per_transfer", 1)

    again = client.post("/v1/transfers", json=body, headers=idempotent(camden, "sibs"))

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    fresh = client.post("/v1/transfers", json=body, headers=idempotent(camden, "sibs-2"))
    assert fresh.status_code == 422
    assert fresh.json()["code"] == "limit-exceeded"


def test_a_batch_whose_events_cannot_be_written_leaves_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    with session_scope() as db:
        token = create_client(
            db, ClientCreate(name="batch audit", role=Role.AUTHORITY, authority="202"), actor=None
        ).token
    client_id = token.split(".")[1]

    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(service, "record_events", unavailable)
    items = [item(f"lost-{n}") for n in range(3)]
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as http:
        response = http.post("/v1/transfers/batch", json={"items": items}, headers=bearer(token))

    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    with session_scope() as db:
        assert (
            db.scalars(select(Transfer).where(Transfer.created_by_client == client_id)).all() == []
        )
        keys = db.scalars(select(IdempotencyRecord).where(IdempotencyRecord.client_id == client_id))
        assert keys.all() == [], "the keys stay free for the retry"
        assert verify_chain(db).ok


def test_many_concurrent_sends_with_a_small_thread_pool_all_finish(database_url: str) -> None:
    """A request that holds the audit chain's head must be able to commit even when every
    worker thread is taken by requests waiting for that head (no deadlock)."""
    import anyio
    import anyio.to_thread
    import httpx

    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    with session_scope() as db:
        token = create_client(
            db, ClientCreate(name="small pool", role=Role.AUTHORITY, authority="330"), actor=None
        ).token
    app = create_app(get_settings())
    statuses: list[int] = []

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as http:

            async def send(n: int) -> None:
                # Birmingham to Coventry: committed, so kept away from other tests' authorities.
                body = transfer_body([minimal_record("330", f"POOL{n}")], to="331")
                response = await http.post(
                    "/v1/transfers", json=body, headers=idempotent(token, f"pool-{n}")
                )
                statuses.append(response.status_code)

            with anyio.fail_after(120):
                async with anyio.create_task_group() as group:
                    for n in range(12):
                        group.start_soon(send, n)

    anyio.run(main)
    assert statuses == [201] * 12
