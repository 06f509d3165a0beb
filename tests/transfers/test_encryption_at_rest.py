"""Case content at rest: no child's name or NHS number in the raw database, and key rotation.

A realistic run (a transfer of the example record, read, acknowledged, a message naming the child
and a document carrying the NHS number) is committed through an app without dependency overrides,
by clients of 942 (Cumberland) and 943 (Westmorland and Furness), which no other test lists. Then
the database is read raw: the SQLite file's bytes, or every row of every PostgreSQL table.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from support import bearer, example, idempotent, transfer_body

from exchange.audit.models import AuditChildRef, AuditEvent
from exchange.audit.service import nhs_pseudonym
from exchange.crypto import DecryptionError, Keyring
from exchange.transfers.models import (
    IdempotencyRecord,
    TransferChild,
    TransferDocument,
    TransferMessage,
)
from exchange.vault.models import Blob
from exchange.vault.service import open_blob, rewrap_all

NHS_NUMBER = "9434765919"
NHS_NUMBER_SPACED = "943 476 5919"


def _child() -> dict[str, Any]:
    child: dict[str, Any] = example()["child"]
    return child


def _names() -> list[str]:
    """Every given and family name the example child is known by."""
    names = [n[part] for n in _child()["names"] for part in ("given", "family") if n.get(part)]
    assert names, "the example record names its child"
    return names


def _official_name() -> str:
    official = next(n for n in _child()["names"] if n.get("use") == "official")
    return f"{official['given']} {official['family']}"


def _birth_date_forms() -> list[str]:
    year, month, day = _child()["birth_date"].split("-")
    return [f"{year}-{month}-{day}", f"{day}/{month}/{year}", f"{year}{month}{day}"]


def _needles() -> list[bytes]:
    identifiers = [i["value"] for i in _child()["identifiers"] if i["system"] == "nhs_number"]
    assert identifiers == [NHS_NUMBER], "the example record carries the NHS number looked for"
    return [NHS_NUMBER.encode(), NHS_NUMBER_SPACED.encode(), *(n.encode() for n in _names())]


def _found(haystack: bytes, needles: list[bytes]) -> list[str]:
    """The needles that occur in the bytes, in any letter case."""
    lowered = haystack.lower()
    return [n.decode() for n in needles if n.lower() in lowered]


@dataclass(frozen=True)
class Run:
    """What the realistic run sent, and what the service answered."""

    transfer_id: str
    message_text: str
    document_title: str
    document_bytes: bytes
    message: Any  # the responses to posting the message and the document, and reading them back
    document: Any
    messages_read: Any
    document_read: Any


@pytest.fixture(scope="module")
def run(database_url: str) -> Run:
    """Send, read, acknowledge, message and attach a document; everything committed."""
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    tag = uuid.uuid4().hex[:8]
    with session_scope() as db:
        cumberland = create_client(
            db,
            ClientCreate(name=f"at rest {tag}", role=Role.AUTHORITY, authority="942"),
            actor=None,
        ).token
        westmorland = create_client(
            db,
            ClientCreate(name=f"at rest {tag}", role=Role.AUTHORITY, authority="943"),
            actor=None,
        ).token

    name = _official_name()
    message_text = f"{name} has settled at school; {name}'s new GP has her records."
    title = f"Chronology of {name}"
    document = (
        f"Chronology for {name}, NHS number {NHS_NUMBER_SPACED} ({NHS_NUMBER}).\n".encode()
        + os.urandom(64)
    )
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as http:
        sent = http.post(
            "/v1/transfers",
            json=transfer_body(to="943"),
            headers=idempotent(cumberland, **{"X-Acting-User": "sw.example"}),
        )
        assert sent.status_code == 201, sent.text
        transfer_id = sent.json()["id"]
        record = http.get(f"/v1/transfers/{transfer_id}/record", headers=bearer(westmorland))
        assert record.status_code == 200, record.text
        assert NHS_NUMBER in record.text
        acknowledged = http.post(
            f"/v1/transfers/{transfer_id}/acknowledge", headers=bearer(westmorland)
        )
        assert acknowledged.status_code == 200, acknowledged.text
        message = http.post(
            f"/v1/transfers/{transfer_id}/messages",
            json={"body": message_text},
            headers=bearer(cumberland),
        )
        uploaded = http.post(
            f"/v1/transfers/{transfer_id}/documents",
            content=document,
            headers=bearer(
                cumberland,
                **{
                    "Content-Type": "text/plain",
                    "X-Document-Title": quote(title),
                    "X-Content-SHA256": hashlib.sha256(document).hexdigest(),
                },
            ),
        )
        messages_read = http.get(
            f"/v1/transfers/{transfer_id}/messages", headers=bearer(westmorland)
        )
        document_read = (
            http.get(
                f"/v1/transfers/{transfer_id}/documents/{uploaded.json()['id']}",
                headers=bearer(westmorland),
            )
            if uploaded.status_code == 201
            else None
        )
    return Run(
        transfer_id=transfer_id,
        message_text=message_text,
        document_title=title,
        document_bytes=document,
        message=message,
        document=uploaded,
        messages_read=messages_read,
        document_read=document_read,
    )


def _sqlite_files(url: str) -> list[Path]:
    database = Path(make_url(url).database or "")
    siblings = [database.with_name(database.name + s) for s in ("-wal", "-journal", "-shm")]
    return [database, *(p for p in siblings if p.exists())]


def _postgres_dump(engine: Engine) -> Iterator[tuple[str, bytes]]:
    """Every row of every table as JSON text, and every bytea value as its raw bytes."""
    with engine.connect() as connection:
        tables = connection.scalars(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ).all()
        assert {"blobs", "transfers", "transfer_messages", "audit_events"} <= set(tables)
        for table in tables:
            for row in connection.scalars(text(f'SELECT row_to_json(t)::text FROM "{table}" t')):
                yield table, row.encode("utf-8")
        binary = connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND data_type = 'bytea'"
            )
        ).all()
        assert ("blobs", "ciphertext") in [tuple(c) for c in binary]
        for table, column in binary:
            query = f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            for value in connection.scalars(text(query)):
                yield f"{table}.{column}", bytes(value)


def test_the_raw_database_holds_no_name_or_nhs_number(
    run: Run, database_url: str, engine: Engine
) -> None:
    needles = _needles()
    if engine.dialect.name == "sqlite":
        dump = [(path.name, path.read_bytes()) for path in _sqlite_files(database_url)]
    else:
        dump = list(_postgres_dump(engine))
    # The scan sees what is stored in clear (the transfer's id and reason): a leak would show.
    seen = b"\n".join(raw for _, raw in dump)
    assert run.transfer_id.encode() in seen
    assert transfer_body()["reason"].encode() in seen
    for where, raw in dump:
        assert _found(raw, needles) == [], f"found in clear in {where}"


def test_the_content_is_stored_sealed_under_the_configured_key(run: Run, engine: Engine) -> None:
    active = Keyring.parse(os.environ["EXCHANGE_ENCRYPTION_KEYS"]).active_key_id
    with Session(engine) as db:
        blobs = _blobs_of(db, run)
        purposes = {b.purpose for b in blobs}
        assert purposes == {
            "record",
            "idempotent-response",
            "message",
            "document",
            "document-title",
        }
        assert {b.key_id for b in blobs} == {active}
        for blob in blobs:
            assert blob.ciphertext is not None
            assert blob.wrapped_key is not None
            assert _found(blob.ciphertext + blob.wrapped_key, _needles()) == []
        record = next(b for b in blobs if b.purpose == "record")
        assert NHS_NUMBER.encode() in open_blob(db, record.id)


def test_a_message_and_a_document_naming_the_child_are_kept_sealed(
    run: Run, engine: Engine
) -> None:
    assert run.message.status_code == 201, run.message.text
    assert run.document.status_code == 201, run.document.text
    assert [m["body"] for m in run.messages_read.json()] == [run.message_text]
    assert run.document.json()["title"] == run.document_title
    assert run.document_read is not None
    assert run.document_read.content == run.document_bytes
    with Session(engine) as db:
        sealed = {b.purpose: open_blob(db, b.id) for b in _blobs_of(db, run)}
        events = db.scalars(
            select(AuditEvent.action).where(AuditEvent.transfer_id == run.transfer_id)
        ).all()
    assert sealed["message"] == run.message_text.encode()
    assert sealed["document"] == run.document_bytes
    assert sealed["document-title"] == run.document_title.encode()
    assert {"message.message", "document.added", "document.read"} <= set(events)


def _blobs_of(db: Session, run: Run) -> list[Blob]:
    """The blobs holding the run's record, response, message, document and its title."""
    ids: set[str | None] = set()
    ids.update(
        db.scalars(
            select(TransferChild.record_blob_id).where(TransferChild.transfer_id == run.transfer_id)
        )
    )
    ids.update(
        db.scalars(
            select(TransferMessage.body_blob_id).where(
                TransferMessage.transfer_id == run.transfer_id
            )
        )
    )
    for document in db.scalars(
        select(TransferDocument).where(TransferDocument.transfer_id == run.transfer_id)
    ):
        ids.update((document.content_blob_id, document.title_blob_id))
    ids.update(
        db.scalars(
            select(IdempotencyRecord.response_blob_id).where(
                IdempotencyRecord.transfer_id == run.transfer_id
            )
        )
    )
    ids.discard(None)
    return list(db.scalars(select(Blob).where(Blob.id.in_(ids))))


def test_the_audit_log_holds_pseudonyms_only(run: Run, engine: Engine) -> None:
    forbidden = [*_needles(), *(d.encode() for d in _birth_date_forms())]
    with Session(engine) as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        refs = db.scalars(select(AuditChildRef.ref)).all()
        mine = [e for e in events if e.transfer_id == run.transfer_id]
    assert {e.action for e in mine} >= {
        "transfer.sent",
        "transfer.received",
        "record.read",
        "transfer.acknowledged",
        "message.message",
        "messages.read",
        "document.added",
        "document.read",
    }
    for event in events:
        serialised = json.dumps(
            {c.key: getattr(event, c.key) for c in AuditEvent.__table__.columns}, default=str
        ).encode()
        assert _found(serialised, forbidden) == [], f"audit event {event.seq} ({event.action})"
    assert _found(" ".join(refs).encode(), forbidden) == []
    # The child can still be found by auditors: through the pseudonym of the NHS number.
    sent = next(e for e in mine if e.action == "transfer.sent")
    assert nhs_pseudonym(NHS_NUMBER) in sent.child_refs.split()
    assert nhs_pseudonym(NHS_NUMBER) in refs


def test_rotation_rewraps_every_blob_under_the_new_key(run: Run, engine: Engine) -> None:
    configured = os.environ["EXCHANGE_ENCRYPTION_KEYS"]
    assert configured.startswith("test-k1:")
    new_key = Keyring.generate_key_line("k2")
    rotated = Keyring.parse(f"{new_key},{configured}")
    only_new = Keyring.parse(new_key)
    only_old = Keyring.parse(configured)

    # `exchange keys rotate` runs rewrap_all and commits; here the transaction is rolled back,
    # so the committed rows other tests read stay under the test key.
    with Session(engine) as db:
        try:
            before = {
                b.id: (b.ciphertext, open_blob(db, b.id, keyring=only_old))
                for b in _blobs_of(db, run)
            }
            held = db.scalars(select(Blob.id).where(Blob.key_id.is_not(None))).all()

            count = rewrap_all(db, rotated, batch=7)

            assert count == len(held)
            blobs = db.scalars(
                select(Blob).where(or_(Blob.key_id.is_not(None), Blob.id.in_(held)))
            ).all()
            assert {b.key_id for b in blobs} == {"k2"}
            for blob in blobs:
                open_blob(db, blob.id, keyring=only_new)
                with pytest.raises(DecryptionError):
                    open_blob(db, blob.id, keyring=only_old)
            after = {
                b.id: (b.ciphertext, open_blob(db, b.id, keyring=only_new))
                for b in _blobs_of(db, run)
            }
            assert after == before  # same content; only the wrapped data key changed
            assert rewrap_all(db, rotated) == 0  # nothing left to re-wrap
        finally:
            db.rollback()
