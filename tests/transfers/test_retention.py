"""Retention: the content of transfers closed long enough ago is purged; metadata and audit stay."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from support import bearer, idempotent, transfer_body
from typer.testing import CliRunner

from exchange.audit.models import AuditEvent
from exchange.config import get_settings
from exchange.transfers.models import Transfer, TransferChild
from exchange.transfers.retention import run_retention
from exchange.vault.models import Blob

Json = dict[str, Any]
DOCUMENT = b"Conference minutes, 23 March 2026.\n"
MESSAGE = "Mum has asked that the new school is not named in letters to the father."


class Parties:
    """Camden (202) sends to Cambridgeshire (873)."""

    def __init__(self, client: TestClient, sender: str, receiver: str) -> None:
        self.client = client
        self.sender = sender
        self.receiver = receiver

    def send(self) -> str:
        response = self.client.post(
            "/v1/transfers", json=transfer_body(), headers=idempotent(self.sender)
        )
        assert response.status_code == 201, response.text
        transfer_id: str = response.json()["id"]
        return transfer_id

    def post(self, token: str, path: str, body: Json | None = None) -> Json:
        response = self.client.post(path, json=body, headers=bearer(token))
        assert response.status_code in (200, 201), response.text
        out: Json = response.json()
        return out

    def accepted_with_correspondence(self) -> str:
        """A transfer accepted, with a message each way and a document."""
        tid = self.send()
        self.post(self.receiver, f"/v1/transfers/{tid}/acknowledge")
        self.post(
            self.receiver,
            f"/v1/transfers/{tid}/children/1/accept",
            {"receiver_child_id": "CB-1", "transfer_in_conference_date": "2026-12-08"},
        )
        self.post(self.sender, f"/v1/transfers/{tid}/messages", {"body": MESSAGE})
        self.post(
            self.receiver,
            f"/v1/transfers/{tid}/messages",
            {"kind": "question", "body": "Which school?"},
        )
        uploaded = self.client.post(
            f"/v1/transfers/{tid}/documents",
            content=DOCUMENT,
            headers=bearer(
                self.sender,
                **{
                    "Content-Type": "text/plain",
                    "X-Document-Title": "ICPC%20minutes",
                    "X-Content-SHA256": hashlib.sha256(DOCUMENT).hexdigest(),
                },
            ),
        )
        assert uploaded.status_code == 201, uploaded.text
        return tid

    def withdrawn(self) -> str:
        tid = self.send()
        self.post(self.sender, f"/v1/transfers/{tid}/messages", {"body": MESSAGE})
        self.post(self.sender, f"/v1/transfers/{tid}/withdraw", {"reason": "Sent in error."})
        return tid

    def get(self, path: str, token: str | None = None) -> Any:
        return self.client.get(path, headers=bearer(token or self.receiver))


@pytest.fixture
def parties(client: TestClient, make_client: Callable[..., str]) -> Parties:
    return Parties(client, make_client(authority="202"), make_client(authority="873"))


def close_days_ago(session: Session, transfer_id: str, days: int) -> None:
    session.execute(
        update(Transfer)
        .where(Transfer.id == transfer_id)
        .values(closed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
    )
    session.flush()
    session.expire_all()


def audit_rows(session: Session) -> dict[int, str]:
    rows = session.execute(select(AuditEvent.seq, AuditEvent.hash)).all()
    return dict(rows)


def assert_content_readable(parties: Parties, tid: str) -> None:
    body = parties.get(f"/v1/transfers/{tid}").json()
    assert body["content_purged"] is False
    assert parties.get(f"/v1/transfers/{tid}/record").status_code == 200
    messages = parties.get(f"/v1/transfers/{tid}/messages").json()
    assert messages
    assert all(m["body"] for m in messages)


def test_content_closed_long_ago_is_purged_and_the_rest_kept(
    parties: Parties, session: Session
) -> None:
    old = parties.accepted_with_correspondence()
    recent = parties.withdrawn()
    still_open = parties.send()
    parties.post(parties.receiver, f"/v1/transfers/{still_open}/acknowledge")
    parties.post(parties.sender, f"/v1/transfers/{still_open}/messages", {"body": MESSAGE})
    close_days_ago(session, old, 100)
    close_days_ago(session, recent, 10)
    session.execute(
        update(Transfer)
        .where(Transfer.id == still_open)
        .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    )
    before = parties.get(f"/v1/transfers/{old}").json()
    audit_before = audit_rows(session)

    report = run_retention(session, days=90)

    assert (report.transfers, report.records, report.documents, report.messages) == (1, 1, 1, 2)
    audit_after = audit_rows(session)
    assert len(audit_after) == len(audit_before) + 1
    assert {seq: audit_after[seq] for seq in audit_before} == audit_before
    [purge_event] = session.scalars(
        select(AuditEvent).where(AuditEvent.seq.not_in(list(audit_before)))
    ).all()
    assert purge_event.action == "retention.purged"
    assert purge_event.transfer_id == old

    after = parties.get(f"/v1/transfers/{old}")
    assert after.status_code == 200
    kept = after.json()
    assert kept["content_purged"] is True
    for field in ("status", "children", "reason", "legal_basis", "closed_at", "created_at"):
        assert kept[field] == before[field], field
    assert kept["children"][0]["receiver_child_id"] == "CB-1"

    for fmt in ("canonical", "cin-census", "dfe-csc-api"):
        for token in (parties.receiver, parties.sender):
            gone = parties.get(f"/v1/transfers/{old}/record?format={fmt}", token)
            assert gone.status_code == 410, (fmt, gone.text)
            assert gone.json()["code"] == "content-purged"

    messages = parties.get(f"/v1/transfers/{old}/messages").json()
    assert [(m["kind"], m["body"]) for m in messages] == [("message", None), ("question", None)]
    [document] = parties.get(f"/v1/transfers/{old}/documents").json()
    assert document["title"] is None
    assert document["content_available"] is False
    assert document["sha256"] == hashlib.sha256(DOCUMENT).hexdigest()
    assert document["size_bytes"] == len(DOCUMENT)
    download = parties.get(f"/v1/transfers/{old}/documents/{document['id']}")
    assert download.status_code == 410
    assert download.json()["code"] == "content-purged"
    refused = parties.client.post(
        f"/v1/transfers/{old}/messages",
        json={"body": "Still there?"},
        headers=bearer(parties.sender),
    )
    assert refused.status_code == 410

    child = session.scalars(select(TransferChild).where(TransferChild.transfer_id == old)).one()
    blob = session.get(Blob, child.record_blob_id)
    assert blob is not None
    assert blob.ciphertext is None
    assert blob.wrapped_key is None
    assert blob.purged_at is not None
    assert blob.size_bytes > 0

    assert_content_readable(parties, recent)
    assert_content_readable(parties, still_open)


def test_a_second_run_purges_nothing_more(parties: Parties, session: Session) -> None:
    old = parties.accepted_with_correspondence()
    close_days_ago(session, old, 100)
    assert run_retention(session, days=90).transfers == 1
    events = session.scalar(select(func.count()).select_from(AuditEvent))

    again = run_retention(session, days=90)
    assert (again.transfers, again.records, again.documents, again.messages) == (0, 0, 0, 0)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_the_period_counts_from_when_the_transfer_closed(
    parties: Parties, session: Session
) -> None:
    tid = parties.withdrawn()
    # Long ago, so that no other transfer in the database falls in the window looked at.
    close_days_ago(session, tid, 1000)
    transfer = session.get(Transfer, tid)
    assert transfer is not None
    assert transfer.closed_at is not None
    closed = transfer.closed_at

    early = run_retention(session, days=30, now=closed + dt.timedelta(days=29, hours=23))
    assert early.transfers == 0
    assert parties.get(f"/v1/transfers/{tid}/record").status_code == 200

    due = run_retention(session, days=30, now=closed + dt.timedelta(days=30, minutes=1))
    assert (due.transfers, due.records, due.messages) == (1, 1, 1)
    assert parties.get(f"/v1/transfers/{tid}/record").status_code == 410


# -- the command line, on a database of its own (it commits) ---------------------------------------

runner = CliRunner()


@pytest.fixture
def own_database(tmp_path: Any) -> Iterator[str]:
    """A migrated SQLite database that the CLI, and an app without overrides, use."""
    import exchange.db.session as db_session
    from exchange.cli import app as cli

    url = f"sqlite:///{tmp_path / 'retention.db'}"
    engine = functools.cache(db_session.get_engine.__wrapped__)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXCHANGE_DATABASE_URL", url)
        # The default engine and session factory are cached under "no URL": fresh ones here.
        patch.setattr(db_session, "get_engine", engine)
        patch.setattr(
            db_session, "_session_factory", functools.cache(db_session._session_factory.__wrapped__)
        )
        get_settings.cache_clear()
        try:
            upgraded = runner.invoke(cli, ["db", "upgrade"])
            assert upgraded.exit_code == 0, upgraded.output
            yield url
        finally:
            engine(url).dispose()
    get_settings.cache_clear()


def test_the_retention_command_purges_and_reports_counts(
    own_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.cli import app as cli
    from exchange.db import session_scope

    with session_scope() as db:
        sender = create_client(
            db, ClientCreate(name="Camden", role=Role.AUTHORITY, authority="202"), actor=None
        ).token
        receiver = create_client(
            db, ClientCreate(name="Cambs", role=Role.AUTHORITY, authority="873"), actor=None
        ).token
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as http:
        parties = Parties(http, sender, receiver)
        old = parties.accepted_with_correspondence()
        recent = parties.withdrawn()
        with session_scope() as db:
            close_days_ago(db, old, 40)
            close_days_ago(db, recent, 10)
        with session_scope() as db:
            audit_before = audit_rows(db)

        monkeypatch.setenv("EXCHANGE_RETENTION_DAYS", "30")
        get_settings.cache_clear()
        result = runner.invoke(cli, ["retention", "run"])
        assert result.exit_code == 0, result.output
        said = " ".join(result.output.split())
        assert (
            "retention (30 days): 1 transfer(s) purged: 1 record(s), 1 document(s), 2 message(s)"
            in said
        )

        with session_scope() as db:
            audit_after = audit_rows(db)
            actions = db.scalars(
                select(AuditEvent.action).where(AuditEvent.seq.not_in(list(audit_before)))
            ).all()
        assert {seq: audit_after[seq] for seq in audit_before} == audit_before
        assert actions == ["retention.purged"]

        gone = parties.get(f"/v1/transfers/{old}/record")
        assert gone.status_code == 410
        assert parties.get(f"/v1/transfers/{old}").json()["content_purged"] is True
        assert_content_readable(parties, recent)

        again = runner.invoke(cli, ["retention", "run", "--days", "5"])
        assert again.exit_code == 0, again.output
        assert "retention (5 days): 1 transfer(s) purged" in " ".join(again.output.split())
        assert parties.get(f"/v1/transfers/{recent}/record").status_code == 410
