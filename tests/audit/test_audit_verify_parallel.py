"""Verifying with several worker processes (issue 5): on PostgreSQL the ranges are checked side by
side, in one snapshot, and the answer is the same as verifying in one process: intact when it is,
and the first broken event named when it is not.

Workers read the log as committed, so these tests commit (session_scope), like
test_audit_concurrency. An edit is made with the owner's rights and undone in the same test, so
the shared log is intact again afterwards. On SQLite there is no quick pass: the same calls must
give the same answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from exchange.audit.models import AuditChildRef, AuditEvent
from exchange.audit.service import Actor, la_child_pseudonym, nhs_pseudonym, record_event
from exchange.audit.verify import VerifyResult, verify_chain

EVENTS = AuditEvent.__table__
REFS = AuditChildRef.__table__
NORTH_NORTHANTS = "E06000061"

pytestmark = pytest.mark.usefixtures("database_url")


def append(count: int) -> list[int]:
    """``count`` committed events, some naming several children; their sequence numbers."""
    from exchange.db import session_scope

    actor = Actor(
        client_id=str(uuid.uuid4()),
        authority=NORTH_NORTHANTS,
        role="authority",
        acting_user="sw.parallel",
        request_id=uuid.uuid4().hex,
        source_address="10.1.2.3",
    )
    seqs = []
    with session_scope() as db:
        for i in range(count):
            children = [la_child_pseudonym(NORTH_NORTHANTS, f"P{i}-{n}") for n in range(i % 4)] + (
                [nhs_pseudonym("9434765919")] if i % 5 == 0 else []
            )
            seqs.append(
                record_event(
                    db,
                    action="record.read",
                    actor=actor,
                    transfer_id=str(uuid.uuid4()),
                    purpose='Children Act 1989 s47 "urgent" \\ checked' if i % 3 else None,
                    child_refs=children,
                    details={"i": i},
                ).seq
            )
    return seqs


def verify(workers: int, batch: int = 25) -> VerifyResult:
    from exchange.db import session_scope

    with session_scope() as db:
        return verify_chain(db, workers=workers, batch=batch)


def owner_edit(statement: object) -> None:
    """A committed change made past the append-only triggers, as the database owner could."""
    from exchange.db import session_scope

    with session_scope() as db:
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("audit_events", "audit_child_refs"):
                for action in ("update", "delete"):
                    db.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        db.execute(statement)  # type: ignore[call-overload]


@pytest.fixture
def restore_triggers(database_url: str) -> Iterator[None]:
    """On SQLite, the append-only triggers dropped by owner_edit come back (from the models'
    migrations: the test database is rebuilt by them, so read their definitions from there)."""
    from exchange.db import session_scope

    with session_scope() as db:
        saved = (
            db.execute(
                text(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name IN ('audit_events', 'audit_child_refs')"
                )
            )
            .scalars()
            .all()
            if db.get_bind().dialect.name == "sqlite"
            else []
        )
    yield
    with session_scope() as db:
        for definition in saved:
            name = definition.split()[2]
            db.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
            db.execute(text(definition))


def test_several_workers_find_the_log_intact_as_one_does(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.audit import verify as verifying

    append(40)
    vouched: list[object] = []
    side_by_side_pass = verifying._vouch_in_parallel

    def spy(*args: Any, **kwargs: Any) -> Any:
        vouched.append(side_by_side_pass(*args, **kwargs))
        return vouched[-1]

    monkeypatch.setattr(verifying, "_vouch_in_parallel", spy)

    alone, side_by_side = verify(1), verify(2)

    assert alone.ok, alone
    assert side_by_side == alone
    if make_url(database_url).get_backend_name() == "postgresql":
        # The workers vouched for the whole log themselves (no second pass in one process).
        [whole] = vouched
        assert whole is not None
        assert whole.count == alone.events  # type: ignore[attr-defined]
    else:
        assert vouched == []


@pytest.mark.usefixtures("restore_triggers")
@pytest.mark.parametrize("where", ["first range", "middle", "last event"])
def test_several_workers_name_an_edited_event(where: str) -> None:
    seqs = append(30)
    target = {"first range": None, "middle": seqs[13], "last event": seqs[-1]}[where]
    if target is None:
        target = 2  # an event in the first range of any log this suite has written
    from exchange.db import session_scope

    with session_scope() as db:
        original = db.scalar(select(EVENTS.c.purpose).where(EVENTS.c.seq == target))
    owner_edit(update(EVENTS).where(EVENTS.c.seq == target).values(purpose="edited"))
    try:
        result = verify(2)
        assert not result.ok
        assert result.broken_seq == target
        assert result == verify(1)
    finally:
        owner_edit(update(EVENTS).where(EVENTS.c.seq == target).values(purpose=original))
    assert verify(2).ok


@pytest.mark.usefixtures("restore_triggers")
def test_several_workers_find_a_child_index_row_changed() -> None:
    seqs = append(12)
    event = seqs[7]  # names three children
    from exchange.db import session_scope

    with session_scope() as db:
        refs = sorted(db.scalars(select(REFS.c.ref).where(REFS.c.event_seq == event)))
    assert len(refs) == 3
    owner_edit(
        update(REFS)
        .where(REFS.c.event_seq == event, REFS.c.ref == refs[0])
        .values(ref=nhs_pseudonym("9434765919"))
    )
    try:
        result = verify(2)
        assert not result.ok
        assert result.broken_seq == event
        assert "child index" in (result.reason or "")
    finally:
        owner_edit(
            update(REFS)
            .where(REFS.c.event_seq == event, REFS.c.ref == nhs_pseudonym("9434765919"))
            .values(ref=refs[0])
        )
    assert verify(2).ok


def test_workers_read_committed_events_only_and_this_session_still_verifies_its_own(
    session: Session,
) -> None:
    """Uncommitted events are this session's: one process sees them and they hold; the
    workers cannot see them, so the answer must still come from this session's view."""
    for n in range(3):
        record_event(
            session,
            action="record.read",
            actor=Actor(client_id=None, authority=NORTH_NORTHANTS, role="authority"),
            details={"n": n},
        )
    session.flush()

    result = verify_chain(session, workers=2, batch=5)

    assert result.ok, result
    assert result.events == result.head_seq
