"""Tamper evidence (issue 5): rows of the audit log edited, deleted, inserted, reordered or cut off
with raw SQL are each found by the verifier, which names the first broken event.

Raw edits get past the append-only triggers the way someone with the database owner's rights
could: on SQLite by dropping the triggers inside the test's transaction (DDL is transactional
there, so the rollback restores them), on PostgreSQL with ``SET LOCAL session_replication_role =
replica`` (the test user is a superuser). Everything is rolled back at the end of each test, except
in the command-line tests, which tamper with a scratch database of their own.
"""

from __future__ import annotations

import functools
import gc
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from support import bearer
from typer.testing import CliRunner

from exchange.audit.chain import CHAINED_FIELDS, event_hash
from exchange.audit.models import AuditEvent, AuditHead
from exchange.audit.service import Actor, nhs_pseudonym, record_event
from exchange.audit.verify import verify_chain

CAMDEN, CAMBRIDGESHIRE = "E09000007", "E10000003"
ON_POSTGRESQL = (
    make_url(os.environ.get("EXCHANGE_TEST_DATABASE_URL") or "sqlite://").get_backend_name()
    == "postgresql"
)
EVENTS = AuditEvent.__table__
APPEND_ONLY_TABLES = ("audit_events", "audit_child_refs")


def bypass_append_only(session: Session) -> None:
    """Let this transaction change audit rows, as the database owner could (rolled back after)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def said(result: Any) -> str:
    """What the command printed, with the console's line wrapping undone."""
    return " ".join(result.output.split())


def seed(session: Session, count: int = 5) -> list[int]:
    """Append ``count`` ordinary events; returns their sequence numbers."""
    actor = Actor(
        client_id=str(uuid.uuid4()),
        authority=CAMDEN,
        role="authority",
        acting_user="sw.jones",
        request_id=uuid.uuid4().hex,
        source_address="10.20.30.40",
    )
    transfer_id = str(uuid.uuid4())
    actions = ["transfer.sent", "record.read", "message.message", "document.added", "record.read"]
    seqs = [
        record_event(
            session,
            action=actions[i % len(actions)],
            actor=actor,
            transfer_id=transfer_id,
            counterpart_authority=CAMBRIDGESHIRE,
            purpose="Children Act 1989 s47",
            child_refs=[nhs_pseudonym("9434765919")],
            details={"n": i},
        ).seq
        for i in range(count)
    ]
    session.flush()
    return seqs


def row(session: Session, seq: int) -> dict[str, Any]:
    """Every column of one event, typed."""
    return dict(session.execute(select(EVENTS).where(EVENTS.c.seq == seq)).one()._mapping)


def assert_broken_at(session: Session, seq: int, reason_has: str) -> None:
    session.expire_all()
    result = verify_chain(session)
    assert not result.ok
    assert result.broken_seq == seq, result
    assert result.reason is not None
    assert reason_has in result.reason, result.reason


# --- the log as written verifies ------------------------------------------------------------------


def test_an_untouched_log_verifies(session: Session) -> None:
    seqs = seed(session)

    result = verify_chain(session)

    assert result.ok, result
    assert result.broken_seq is None
    assert result.head_seq == seqs[-1] == result.events
    assert result.head_hash == row(session, seqs[-1])["hash"]


# --- each kind of tampering is found, at the right event ------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("acting_user", "someone.else"),
        ("details", '{"n":99}'),
        ("action", "record.exported"),
        ("outcome", "denied"),
        ("actor_authority", "E10000003"),
        ("transfer_id", str(uuid.UUID(int=7))),
        ("child_refs", ""),
        ("purpose", "no reason"),
        ("source_address", "192.0.2.1"),
    ],
)
def test_an_edited_field_is_found(session: Session, column: str, value: str) -> None:
    seqs = seed(session)
    bypass_append_only(session)

    session.execute(
        text(f"UPDATE audit_events SET {column} = :value WHERE seq = :seq"),
        {"value": value, "seq": seqs[2]},
    )

    assert_broken_at(session, seqs[2], "changed")


def test_an_edited_time_is_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    when = row(session, seqs[1])["occurred_at"]

    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[1])
        .values(occurred_at=when.replace(year=when.year - 1))
    )

    assert_broken_at(session, seqs[1], "changed")


def test_an_edit_with_its_hash_recomputed_is_found_at_the_next_event(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    edited = row(session, seqs[1]) | {"acting_user": "someone.else"}
    fields = {name: edited[name] for name in CHAINED_FIELDS}

    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[1])
        .values(acting_user="someone.else", hash=event_hash(edited["prev_hash"], fields))
    )

    assert_broken_at(session, seqs[2], "does not follow")


def test_a_deleted_event_is_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)

    session.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[2]})

    assert_broken_at(session, seqs[2], "missing")


def test_a_forged_event_inserted_in_the_middle_is_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    before = row(session, seqs[1])
    # Make room: every later event moves up one (last first, so keys never collide), as does
    # the head, so the log's length still agrees with it.
    for seq in reversed(seqs[2:]):
        session.execute(text("UPDATE audit_events SET seq = seq + 1 WHERE seq = :s"), {"s": seq})
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    forged = {name: before[name] for name in CHAINED_FIELDS} | {
        "seq": seqs[2],
        "action": "record.read",
        "acting_user": "alibi.user",
        "details": '{"n":-1}',
    }
    session.execute(
        insert(EVENTS).values(
            **forged, prev_hash=before["hash"], hash=event_hash(before["hash"], forged)
        )
    )

    # The forgery itself links to its predecessor; the event it displaced no longer does.
    assert_broken_at(session, seqs[2] + 1, "does not follow")


def test_two_events_swapped_are_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    first, second = row(session, seqs[1]), row(session, seqs[2])
    # Every column but seq changes places (through a placeholder hash: hashes are unique).
    session.execute(update(EVENTS).where(EVENTS.c.seq == seqs[1]).values(hash="x" * 64))
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[2])
        .values(**{k: v for k, v in first.items() if k != "seq"})
    )
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[1])
        .values(**{k: v for k, v in second.items() if k != "seq"})
    )

    assert_broken_at(session, seqs[1], "does not follow")


def test_a_cut_off_tail_is_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)

    session.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[-1]})

    assert_broken_at(session, seqs[-1], f"ends at event {seqs[-2]}")


def test_a_forged_event_appended_past_the_head_is_named(session: Session) -> None:
    seqs = seed(session)
    last = row(session, seqs[-1])
    forged = {name: last[name] for name in CHAINED_FIELDS} | {
        "seq": seqs[-1] + 1,
        "acting_user": "alibi.user",
    }
    # INSERT is what the service's own database role may do: no trigger stands in the way.
    session.execute(
        insert(EVENTS).values(
            **forged, prev_hash=last["hash"], hash=event_hash(last["hash"], forged)
        )
    )

    assert_broken_at(session, seqs[-1] + 1, "head")


def test_the_last_event_rewritten_with_its_hash_recomputed_is_named(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    edited = row(session, seqs[-1]) | {"acting_user": "someone.else"}
    fields = {name: edited[name] for name in CHAINED_FIELDS}

    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[-1])
        .values(acting_user="someone.else", hash=event_hash(edited["prev_hash"], fields))
    )

    assert_broken_at(session, seqs[-1], "head")


def test_a_deleted_child_reference_is_found(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)

    session.execute(text("DELETE FROM audit_child_refs WHERE event_seq = :seq"), {"seq": seqs[2]})

    assert_broken_at(session, seqs[2], "child")


def test_verifying_a_broken_log_closes_its_cursor(session: Session) -> None:
    seqs = seed(session)
    bypass_append_only(session)
    session.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[1]})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = verify_chain(session)
        gc.collect()

    assert result.broken_seq == seqs[1]
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# --- without the owner's rights, the tables refuse change -----------------------------------------


def refused(session: Session, statement: str, **params: Any) -> str:
    """Run ``statement`` in a savepoint; return the database's refusal."""
    with pytest.raises(DBAPIError) as caught, session.begin_nested():
        session.execute(text(statement), params)
    return str(caught.value.orig)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :seq",
        "UPDATE audit_events SET hash = prev_hash WHERE seq = :seq",
        "DELETE FROM audit_events WHERE seq = :seq",
        "DELETE FROM audit_events",
        "UPDATE audit_child_refs SET ref = 'nhs:0' WHERE event_seq = :seq",
        "DELETE FROM audit_child_refs WHERE event_seq = :seq",
    ],
)
def test_updates_and_deletes_are_refused(session: Session, statement: str) -> None:
    seqs = seed(session)
    before = row(session, seqs[2])

    message = refused(session, statement, seq=seqs[2])

    assert "append-only" in message
    assert row(session, seqs[2]) == before
    assert verify_chain(session).ok


def test_truncate_is_refused_on_postgresql(session: Session) -> None:
    seeded = seed(session)
    if session.get_bind().dialect.name != "postgresql":
        # SQLite has no TRUNCATE: its nearest, DELETE without WHERE, is refused above.
        return

    message = refused(session, "TRUNCATE audit_events CASCADE")

    assert "append-only" in message
    assert row(session, seeded[0])["seq"] == seeded[0]


# --- auditors see the break through the API -------------------------------------------------------


def test_the_verify_endpoint_reports_the_first_broken_event(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    auditor = make_client(role="auditor", authority=None)
    seqs = seed(session)

    intact = client.get("/v1/audit/verify", headers=bearer(auditor))
    bypass_append_only(session)
    session.execute(
        text("UPDATE audit_events SET details = '{}' WHERE seq = :seq"), {"seq": seqs[3]}
    )
    session.expire_all()
    broken = client.get("/v1/audit/verify", headers=bearer(auditor))

    assert intact.status_code == 200, intact.text
    assert intact.json()["ok"] is True
    assert intact.json()["broken_seq"] is None
    assert intact.json()["events"] == intact.json()["head_seq"] >= seqs[-1]
    assert broken.status_code == 200, broken.text
    body = broken.json()
    assert body["ok"] is False
    assert body["broken_seq"] == seqs[3]
    assert "changed" in body["reason"]


def test_only_auditors_may_verify(client: TestClient, make_client: Callable[..., str]) -> None:
    for role, authority in (("authority", "202"), ("admin", None)):
        response = client.get("/v1/audit/verify", headers=bearer(make_client(role, authority)))
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"


# --- `exchange audit verify` against a committed (scratch) database -------------------------------


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database of its own, migrated, that a test may tamper with and commit."""
    from exchange.app import setup_database
    from exchange.config import Settings
    from exchange.db import get_engine

    url = make_url(database_url)
    admin: Engine | None = None
    if url.get_backend_name() == "postgresql":
        name = f"exchange_scratch_{uuid.uuid4().hex[:12]}"
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = url.set(database=name).render_as_string(hide_password=False)
    else:
        scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    setup_database(Settings(database_url=scratch))
    try:
        yield scratch
    finally:
        get_engine(scratch).dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> Any:
    """Run `exchange ...` in-process with its sessions on ``url``."""
    import exchange.db
    from exchange.cli import app
    from exchange.db.session import session_scope

    monkeypatch.setattr(exchange.db, "session_scope", functools.partial(session_scope, url))
    return CliRunner().invoke(app, list(args))


def test_the_command_exits_1_naming_the_broken_event(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.db import session_scope

    with session_scope(scratch_url) as db:
        seqs = seed(db, 6)

    intact = run_cli(monkeypatch, scratch_url, "audit", "verify")
    with session_scope(scratch_url) as db:
        bypass_append_only(db)
        db.execute(
            text("UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :seq"),
            {"seq": seqs[3]},
        )
    broken = run_cli(monkeypatch, scratch_url, "audit", "verify")

    assert intact.exit_code == 0, intact.output
    assert "intact" in said(intact)
    assert f"{seqs[-1]} events" in said(intact)
    assert broken.exit_code == 1, broken.output
    assert f"broken at event {seqs[3]}" in said(broken)
    assert "changed" in said(broken)


def test_the_command_names_a_deleted_event(
    scratch_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.db import session_scope

    with session_scope(scratch_url) as db:
        seqs = seed(db, 6)
    with session_scope(scratch_url) as db:
        bypass_append_only(db)
        db.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[1]})

    result = run_cli(monkeypatch, scratch_url, "audit", "verify")

    assert result.exit_code == 1, result.output
    assert f"broken at event {seqs[1]}" in said(result)
    assert "missing" in said(result)
