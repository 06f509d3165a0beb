"""Signed checkpoints (issue 5): a statement of the log's length and head hash, signed with
Ed25519, that an outside party keeps; later the log must still extend it.

The in-process tests run inside the test's rolled-back transaction. The command-line round trip
runs against the configured (committed) database, which it only appends to; the command-line
tampering runs against a scratch database of its own.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, create_engine, delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from exchange.audit import checkpoint as checkpoints
from exchange.audit.chain import CHAINED_FIELDS, GENESIS_HASH, event_hash
from exchange.audit.checkpoint import CheckpointError, make_checkpoint, verify_checkpoint
from exchange.audit.models import AuditEvent, AuditHead
from exchange.audit.service import Actor, record_event
from exchange.audit.verify import verify_chain

EVENTS = AuditEvent.__table__


def bypass_append_only(session: Session) -> None:
    """Let this transaction change audit rows, as the database owner could."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for table in ("audit_events", "audit_child_refs"):
            for action in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def said(result: Any) -> str:
    """What the command printed, with the console's line wrapping undone."""
    return " ".join(result.output.split())


def append(session: Session, count: int, user: str = "sw.jones") -> list[int]:
    """Append ``count`` events; their sequence numbers."""
    actor = Actor(
        client_id=str(uuid.uuid4()), authority="E09000007", role="authority", acting_user=user
    )
    seqs = [
        record_event(
            session,
            action="record.read",
            actor=actor,
            transfer_id=str(uuid.uuid4()),
            counterpart_authority="E10000003",
            details={"n": i},
        ).seq
        for i in range(count)
    ]
    session.flush()
    return seqs


def rechain_from(session: Session, seq: int) -> None:
    """What a forger with the owner's rights does to hide an edit: recompute every hash from
    ``seq`` on, and the head, so the chain verifies again on its own."""
    previous = session.scalar(select(EVENTS.c.hash).where(EVENTS.c.seq == seq - 1)) or GENESIS_HASH
    rows = session.execute(select(EVENTS).where(EVENTS.c.seq >= seq).order_by(EVENTS.c.seq)).all()
    for row in rows:
        digest = event_hash(previous, {name: row._mapping[name] for name in CHAINED_FIELDS})
        session.execute(
            update(EVENTS).where(EVENTS.c.seq == row.seq).values(prev_hash=previous, hash=digest)
        )
        previous = digest
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=previous))
    session.expire_all()


# --- the log extends the checkpoint ---------------------------------------------------------------


def test_a_checkpoint_is_extended_by_later_events(session: Session) -> None:
    first = append(session, 4)
    statement = make_checkpoint(session)
    later = append(session, 3)

    result = verify_checkpoint(session, statement)

    assert statement["format"] == "exchange-audit-checkpoint/1"
    assert statement["head_seq"] == first[-1] == statement["event_count"]
    head = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == first[-1]))
    assert statement["head_hash"] == head
    assert result.ok, result
    assert result.head_seq == later[-1] == result.events


def test_a_checkpoint_survives_a_round_trip_through_json(session: Session) -> None:
    append(session, 2)
    statement = json.loads(json.dumps(make_checkpoint(session)))
    append(session, 1)

    assert verify_checkpoint(session, statement).ok


def test_a_checkpoint_of_an_already_broken_log_is_refused(session: Session) -> None:
    seqs = append(session, 3)
    bypass_append_only(session)
    session.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[1]})
    session.expire_all()

    with pytest.raises(CheckpointError, match=f"broken at event {seqs[1]}"):
        make_checkpoint(session)


# --- history rewritten before the checkpoint ------------------------------------------------------


def test_an_event_rewritten_before_the_checkpoint_is_found(session: Session) -> None:
    seqs = append(session, 5)
    statement = make_checkpoint(session)
    append(session, 2)
    bypass_append_only(session)
    session.execute(
        text("UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :seq"),
        {"seq": seqs[2]},
    )
    session.expire_all()

    result = verify_checkpoint(session, statement)

    assert not result.ok
    assert result.broken_seq == seqs[2]


def test_a_rewrite_hidden_by_rechaining_the_log_is_still_found(session: Session) -> None:
    """The chain alone cannot catch a forger who recomputes every later hash and the head; a
    checkpoint held by an outside party can."""
    seqs = append(session, 5)
    statement = make_checkpoint(session)
    append(session, 2)
    bypass_append_only(session)
    session.execute(
        text("UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :seq"),
        {"seq": seqs[1]},
    )
    rechain_from(session, seqs[1])

    on_its_own = verify_chain(session)
    against_checkpoint = verify_checkpoint(session, statement)

    assert on_its_own.ok, "the forger's rechained log should verify on its own"
    assert not against_checkpoint.ok
    assert against_checkpoint.broken_seq == statement["head_seq"]
    assert "checkpoint" in (against_checkpoint.reason or "")


def test_a_tail_cut_behind_the_checkpoint_with_the_head_rewound_is_found(session: Session) -> None:
    seqs = append(session, 5)
    statement = make_checkpoint(session)
    bypass_append_only(session)
    session.execute(delete(EVENTS).where(EVENTS.c.seq >= seqs[3]))
    kept = session.scalar(select(EVENTS.c.hash).where(EVENTS.c.seq == seqs[2]))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seqs[2], hash=kept))
    session.expire_all()

    on_its_own = verify_chain(session)
    against_checkpoint = verify_checkpoint(session, statement)

    assert on_its_own.ok, "a tidy tail cut verifies on its own"
    assert not against_checkpoint.ok
    assert against_checkpoint.broken_seq == statement["head_seq"]


# --- the checkpoint itself altered or foreign -----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("head_hash", lambda value: ("f" if value[0] != "f" else "e") + value[1:]),
        ("event_count", lambda value: value - 1),
        ("head_seq", lambda value: value - 1),
        ("created_at", lambda value: "2020-01-01T00:00:00+00:00"),
    ],
)
def test_an_altered_checkpoint_fails_its_signature(
    session: Session, field: str, change: Any
) -> None:
    append(session, 3)
    statement = make_checkpoint(session)
    statement[field] = change(statement[field])

    with pytest.raises(CheckpointError, match="signature"):
        verify_checkpoint(session, statement)


def test_a_checkpoint_signed_by_another_key_is_refused(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(session, 3)
    stranger = Ed25519PrivateKey.generate()
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints, "get_signing_key", lambda: stranger)
        foreign = make_checkpoint(session)

    with pytest.raises(CheckpointError, match="another key"):
        verify_checkpoint(session, foreign)


def test_a_foreign_signature_under_this_services_public_key_is_refused(session: Session) -> None:
    append(session, 3)
    statement = make_checkpoint(session)
    stranger = Ed25519PrivateKey.generate()
    statement["head_hash"] = "0" * 64
    payload = json.dumps(
        {k: statement[k] for k in checkpoints.STATEMENT_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    statement["signature"] = base64.b64encode(stranger.sign(payload)).decode()

    with pytest.raises(CheckpointError, match="signature"):
        verify_checkpoint(session, statement)


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.pop("signature"),
        lambda s: s.pop("head_seq"),
        lambda s: s.update(format="something-else/1"),
        lambda s: s.update(signature="not base64!"),
        lambda s: s.update(head_seq="many"),
    ],
)
def test_a_malformed_checkpoint_is_refused(session: Session, damage: Any) -> None:
    append(session, 2)
    statement = make_checkpoint(session)
    damage(statement)

    with pytest.raises(CheckpointError):
        verify_checkpoint(session, statement)


# --- the command line -----------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    from exchange.cli import app

    return CliRunner().invoke(app, list(args))


def append_committed(count: int, url: str | None = None) -> list[int]:
    from exchange.db.session import session_scope

    with session_scope(url) as db:
        return append(db, count, user=f"checkpoint.{uuid.uuid4().hex[:6]}")


def test_checkpoint_then_verify_against_it_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    append_committed(3)
    path = tmp_path / "checkpoint.json"

    made = invoke("audit", "checkpoint", "-o", str(path))
    statement = json.loads(path.read_text())
    later = append_committed(2)
    verified = invoke("audit", "verify", "--checkpoint", str(path))
    to_stdout = invoke("audit", "checkpoint")

    assert made.exit_code == 0, made.output
    assert f"checkpoint at event {statement['head_seq']}" in said(made)
    assert statement["head_seq"] < later[0]
    assert verified.exit_code == 0, verified.output
    assert "intact" in said(verified)
    assert f"extends the checkpoint at event {statement['head_seq']}" in said(verified)
    assert to_stdout.exit_code == 0, to_stdout.output
    assert json.loads(to_stdout.stdout)["head_seq"] >= later[-1]


def test_an_altered_checkpoint_file_is_refused_by_the_command(
    database_url: str, tmp_path: Path
) -> None:
    append_committed(2)
    path = tmp_path / "checkpoint.json"
    assert invoke("audit", "checkpoint", "-o", str(path)).exit_code == 0
    statement = json.loads(path.read_text())
    statement["event_count"] += 1
    path.write_text(json.dumps(statement))

    result = invoke("audit", "verify", "--checkpoint", str(path))

    assert result.exit_code == 1, result.output
    assert "checkpoint not valid" in said(result)
    assert "signature" in said(result)


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated, that a test may tamper with and commit."""
    from exchange.app import setup_database
    from exchange.config import Settings
    from exchange.db import get_engine

    url = make_url(database_url)
    admin: Engine | None = None
    name = f"exchange_scratch_{uuid.uuid4().hex[:12]}"
    if url.get_backend_name() == "postgresql":
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        scratch = url.set(database=name).render_as_string(hide_password=False)
    else:
        scratch = f"sqlite:///{tmp_path / f'{name}.db'}"
    setup_database(Settings(database_url=scratch))
    try:
        yield scratch
    finally:
        get_engine(scratch).dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def test_the_command_finds_history_rewritten_before_the_checkpoint(
    scratch_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exchange.db
    from exchange.db.session import session_scope

    monkeypatch.setattr(exchange.db, "session_scope", functools.partial(session_scope, scratch_url))
    seqs = append_committed(5, scratch_url)
    path = tmp_path / "checkpoint.json"
    assert invoke("audit", "checkpoint", "-o", str(path)).exit_code == 0
    append_committed(2, scratch_url)
    with session_scope(scratch_url) as db:
        bypass_append_only(db)
        db.execute(
            text("UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :seq"),
            {"seq": seqs[1]},
        )
        rechain_from(db, seqs[1])

    plain = invoke("audit", "verify")
    against_checkpoint = invoke("audit", "verify", "--checkpoint", str(path))

    assert plain.exit_code == 0, "the rechained log verifies on its own"
    assert against_checkpoint.exit_code == 1, against_checkpoint.output
    assert f"broken at event {seqs[-1]}" in said(against_checkpoint)


def test_an_outside_party_checks_the_signature_with_the_public_key_alone(
    session: Session,
) -> None:
    append(session, 2)
    statement = make_checkpoint(session)
    configured = base64.b64decode(os.environ["EXCHANGE_AUDIT_SIGNING_KEY"])
    public = Ed25519PrivateKey.from_private_bytes(configured).public_key()
    signed = json.dumps(
        {k: v for k, v in statement.items() if k != "signature"},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()

    assert (
        statement["public_key"]
        == base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    )
    public.verify(base64.b64decode(statement["signature"]), signed)  # raises if it does not hold
