"""The chain under concurrent writers (issue 5): many transactions appending at once, committed,
still make one unbroken chain with contiguous sequence numbers.

Real commits and real threads, so no `session`/`client` fixtures: events are written with
session_scope, transfers through an app without dependency overrides, by clients of North and
West Northamptonshire (940, 941). The rows stay (the audit log is append-only).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from support import bearer, idempotent, minimal_record, transfer_body

from exchange.audit.models import AuditEvent, AuditHead
from exchange.audit.service import Actor, record_event
from exchange.audit.verify import verify_chain

THREADS, EVENTS_PER_THREAD = 12, 10
TRANSFER_THREADS = 8


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer never finished"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def assert_whole_log_verifies() -> int:
    from exchange.db import session_scope

    with session_scope() as db:
        result = verify_chain(db)
        seqs = db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        head = db.get(AuditHead, 1)
    assert result.ok, result
    assert list(seqs) == list(range(1, len(seqs) + 1)), "sequence numbers have a gap"
    assert head is not None
    assert head.seq == len(seqs) == result.events
    return len(seqs)


def test_concurrent_transactions_append_one_unbroken_chain(database_url: str) -> None:
    from exchange.db import session_scope

    tag = uuid.uuid4().hex[:8]

    def write(thread: int) -> list[tuple[int, str]]:
        actor = Actor(
            client_id=str(uuid.uuid4()),
            authority="E06000061",
            role="authority",
            acting_user=f"{tag}.writer{thread}",
        )
        written = []
        for n in range(EVENTS_PER_THREAD):
            with session_scope() as db:
                event = record_event(
                    db,
                    action="record.read",
                    actor=actor,
                    transfer_id=str(uuid.uuid4()),
                    counterpart_authority="E06000062",
                    details={"thread": thread, "n": n},
                )
                db.flush()
                written.append((event.seq, event.hash))
        return written

    results = race(THREADS, write)

    total = assert_whole_log_verifies()
    mine = [seq for per_thread in results for seq, _ in per_thread]
    assert len(mine) == len(set(mine)) == THREADS * EVENTS_PER_THREAD
    assert max(mine) <= total
    for per_thread in results:
        assert [seq for seq, _ in per_thread] == sorted(seq for seq, _ in per_thread)
    with session_scope() as db:
        stored = dict(
            db.execute(
                select(AuditEvent.seq, AuditEvent.hash).where(
                    AuditEvent.acting_user.like(f"{tag}.writer%")
                )
            ).all()
        )
    assert stored == {seq: digest for per_thread in results for seq, digest in per_thread}


def test_concurrent_transfers_and_acknowledgements_keep_the_chain(database_url: str) -> None:
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    tag = uuid.uuid4().hex[:8]
    with session_scope() as db:
        sender, receiver = (
            create_client(
                db,
                ClientCreate(name=f"concurrency {tag}", role=Role.AUTHORITY, authority=code),
                actor=None,
            ).token
            for code in ("940", "941")
        )
    app = create_app(get_settings())

    def send(thread: int) -> Any:
        body = transfer_body([minimal_record("940", f"NN{tag}{thread}")], to="941")
        with TestClient(app, raise_server_exceptions=False) as http:
            return http.post(
                "/v1/transfers",
                json=body,
                headers=idempotent(sender, **{"X-Acting-User": f"{tag}.sender{thread}"}),
            )

    sent = race(TRANSFER_THREADS, send)
    assert [r.status_code for r in sent] == [201] * TRANSFER_THREADS, [r.text for r in sent]
    ids = [r.json()["id"] for r in sent]

    def acknowledge(thread: int) -> Any:
        with TestClient(app, raise_server_exceptions=False) as http:
            return http.post(f"/v1/transfers/{ids[thread]}/acknowledge", headers=bearer(receiver))

    acknowledged = race(TRANSFER_THREADS, acknowledge)

    assert [r.status_code for r in acknowledged] == [200] * TRANSFER_THREADS, [
        r.text for r in acknowledged
    ]
    assert_whole_log_verifies()
    with session_scope() as db:
        events = db.execute(
            select(AuditEvent.transfer_id, AuditEvent.action).where(AuditEvent.transfer_id.in_(ids))
        ).all()
    for tid in ids:
        assert sorted(a for t, a in events if t == tid) == [
            "transfer.acknowledged",
            "transfer.received",
            "transfer.sent",
        ]
