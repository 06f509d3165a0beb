"""Rows written at once (exchange.db.bulk): on PostgreSQL many by COPY and a few by prepared
INSERTs, elsewhere by INSERT; every way, every value reads back as it was given, awkward text and
bytes included, and a naive timestamp is refused as the column type refuses it."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from sqlalchemy import JSON, Column, ForeignKey, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from exchange.db import bulk
from exchange.db.base import table_of
from exchange.vault.models import Blob

AWKWARD_TEXT = ["tab\there", "new\nline\r", "back\\slash \\N \\.", "quote ' \"", "Zoë 🧒🏽", ""]
AWKWARD_BYTES = [bytes(range(256)), b"\\x00", b"\t\n\r\\", b""]
BLOBS = table_of(Blob)


def row(purpose: str, ciphertext: bytes | None, **extra: object) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "purpose": purpose,
        "key_id": "k\t1" if purpose else None,
        "wrapped_key": None,
        "ciphertext": ciphertext,
        "size_bytes": len(ciphertext or b""),
        "created_at": dt.datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=dt.UTC),
        "purged_at": None,
        **extra,
    }


@pytest.mark.parametrize("at_once", [1, bulk.FEW_ROWS, 1000], ids=["one", "few", "many"])
def test_awkward_values_read_back_as_written(session: Session, at_once: int) -> None:
    rows = [row(text, data) for text in AWKWARD_TEXT for data in [*AWKWARD_BYTES, None]]
    rows[0]["purged_at"] = dt.datetime(
        2026, 10, 25, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert len(rows) > bulk.FEW_ROWS

    for start in range(0, len(rows), at_once):
        bulk.insert_rows(session, BLOBS, rows[start : start + at_once])

    stored = {r.id: r for r in session.execute(select(BLOBS)).all()}
    for written in rows:
        read = stored[str(written["id"])]
        assert read.purpose == written["purpose"]
        assert read.key_id == written["key_id"]
        assert read.ciphertext == written["ciphertext"]
        assert read.size_bytes == written["size_bytes"]
        assert read.created_at == written["created_at"]
        assert read.purged_at == written["purged_at"]


def test_a_naive_timestamp_is_refused_and_the_transaction_goes_on(session: Session) -> None:
    naive = row("record", b"x", created_at=dt.datetime(2026, 1, 1))

    with pytest.raises((ValueError, StatementError), match="timezone-aware"):
        bulk.insert_rows(session, BLOBS, [naive])
    # Refused before anything was sent: the transaction goes on.
    bulk.insert_rows(session, BLOBS, [row("record", b"after")])
    assert session.scalar(select(BLOBS.c.ciphertext).where(BLOBS.c.ciphertext == b"after"))


def test_a_left_out_column_gets_its_default(session: Session) -> None:
    given = row("record", b"x")
    del given["id"], given["created_at"]  # both have defaults computed in Python

    bulk.insert_rows(session, BLOBS, [given])

    [read] = session.execute(select(BLOBS).where(BLOBS.c.ciphertext == b"x")).all()
    assert uuid.UUID(read.id)
    assert read.created_at is not None


@pytest.mark.parametrize("at_once", [1, bulk.FEW_ROWS, 50], ids=["one", "few", "many"])
def test_a_column_of_another_type_reads_back_as_written(session: Session, at_once: int) -> None:
    """A type outside the plain ones (JSON: psycopg adapts its values itself, and COPY's
    binary format would write them differently) reads back as given: its table goes by INSERT."""
    table = Table(
        f"bulk_json_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("doc", JSON),
    )
    table.create(session.connection())  # (the test's transaction is rolled back at its end)
    docs = [{"n": n, "text": AWKWARD_TEXT[n % len(AWKWARD_TEXT)]} for n in range(50)]

    rows = [{"id": n, "doc": doc} for n, doc in enumerate(docs)]
    for start in range(0, len(rows), at_once):
        bulk.insert_rows(session, table, rows[start : start + at_once])

    read = {row.id: row.doc for row in session.execute(select(table.c.id, table.c.doc))}
    assert [read[n] for n in range(len(docs))] == docs


@pytest.mark.parametrize("children", [1, bulk.FEW_ROWS, 30], ids=["one", "few", "many"])
def test_rows_for_several_tables_go_in_together_parents_before_children(
    session: Session, children: int
) -> None:
    """A parent and the children that refer to it, given together (on PostgreSQL one statement
    when each table has only a few rows): all read back; a child whose parent is missing is
    refused and nothing of its statement is kept."""
    tag = uuid.uuid4().hex[:8]
    metadata = MetaData()
    parents = Table(f"bulk_parent_{tag}", metadata, Column("id", String(36), primary_key=True))
    kids = Table(
        f"bulk_child_{tag}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey(parents.c.id)),
        Column("name", String(50)),
    )
    metadata.create_all(session.connection())  # (rolled back with the test's transaction)
    kid_rows = [{"id": n, "parent_id": "p1", "name": AWKWARD_TEXT[n % 6]} for n in range(children)]

    bulk.insert_together(session, [(parents, [{"id": "p1"}]), (kids, kid_rows)])

    assert session.execute(select(parents.c.id)).scalars().all() == ["p1"]
    read = session.execute(select(kids.c.id, kids.c.parent_id, kids.c.name).order_by(kids.c.id))
    assert [r._asdict() for r in read] == kid_rows

    savepoint = session.begin_nested()
    with pytest.raises((IntegrityError, psycopg.IntegrityError)):  # Core's, or the driver's
        bulk.insert_together(
            session,
            [
                (parents, [{"id": "p2"}]),
                (kids, [{"id": 1000, "parent_id": "nobody", "name": "orphan"}]),
            ],
        )
    savepoint.rollback()
    assert session.execute(select(parents.c.id)).scalars().all() == ["p1"]
