"""The audit log and the actions it records (issue 5): never a child's name, birth date, address or
identifiers in clear, and every event in the same transaction as its action (if the action rolls
back, so does its event; if the event cannot be written, the action fails).

The "no PII" test reads the raw audit tables after a realistic run in the test's rolled-back
transaction. The rollback-together tests need real commits: they use an app without dependency
overrides and clients of North and West Northamptonshire (940, 941), created with session_scope.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session
from support import bearer, example, idempotent, minimal_record, transfer_body

from exchange.audit.models import AuditEvent, AuditHead
from exchange.audit.service import Appended, la_child_pseudonym, nhs_pseudonym
from exchange.audit.verify import verify_chain
from exchange.transfers import service
from exchange.transfers.models import Transfer

CAMDEN = "E09000007"


# --- no PII in the audit tables -------------------------------------------------------------------


def personal_data(record: dict[str, Any]) -> set[str]:
    """Everything in the example record that identifies the child or their family in clear."""
    child = record["child"]
    found: set[str] = {child["birth_date"]}
    found |= {i["value"] for i in child["identifiers"]}
    nhs = next(i["value"] for i in child["identifiers"] if i["system"] == "nhs_number")
    found.add(f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    for name in child["names"]:
        found |= {name[part] for part in ("given", "middle", "family") if name.get(part)}
    for address in child["addresses"]:
        found |= set(address["lines"])
        found |= {address["postcode"], address["postcode"].replace(" ", "")}
    for person in record.get("related_people", []):
        for name in person["names"]:
            found |= {name["given"], name["family"]}
        if person.get("birth_date"):
            found.add(person["birth_date"])
        if person.get("contact", {}).get("phone"):
            found.add(person["contact"]["phone"])
    return found


def raw_audit_tables(session: Session) -> str:
    """Every column of every row of the audit tables, as text."""
    rows = [
        *session.execute(text("SELECT * FROM audit_events")).all(),
        *session.execute(text("SELECT * FROM audit_child_refs")).all(),
        *session.execute(text("SELECT * FROM audit_head")).all(),
    ]
    return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)


def test_no_personal_data_in_the_audit_tables_after_a_realistic_run(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    record = example("cp-plan-child")
    pii = personal_data(record)
    assert {"Tilly", "Specimen", "2016-03-14", "9434765919", "CB4 9ZZ", "Flat 3"} <= pii
    camden, cambs = make_client(authority="202"), make_client(authority="873")
    auditor = make_client(role="auditor", authority=None)
    user = {"X-Acting-User": "sw.jones"}
    duty = {"X-Acting-User": "duty.worker"}

    sent = client.post(
        "/v1/transfers", json=transfer_body([record]), headers=idempotent(camden, **user)
    )
    assert sent.status_code == 201, sent.text
    tid = sent.json()["id"]
    document = b"%PDF-1.4 Tilly Specimen, initial child protection conference, 14/03/2016"
    steps = [
        client.get(f"/v1/transfers/{tid}", headers=bearer(cambs, **duty)),
        client.get(f"/v1/transfers/{tid}/record", headers=bearer(cambs, **duty)),
        client.get(f"/v1/transfers/{tid}/record?format=cin-census", headers=bearer(cambs, **duty)),
        client.post(f"/v1/transfers/{tid}/acknowledge", headers=bearer(cambs, **duty)),
        client.post(
            f"/v1/transfers/{tid}/messages",
            json={"kind": "question", "body": "Is Tilly Specimen still at 17 Example Terrace?"},
            headers=bearer(cambs, **duty),
        ),
        client.post(
            f"/v1/transfers/{tid}/documents",
            content=document,
            headers=bearer(
                camden,
                **user,
                **{
                    "Content-Type": "application/pdf",
                    "X-Document-Title": "Tilly%20Specimen%20ICPC%20report",
                    "X-Content-SHA256": hashlib.sha256(document).hexdigest(),
                },
            ),
        ),
        client.get(f"/v1/transfers/{tid}/messages", headers=bearer(camden, **user)),
        client.get(f"/v1/transfers/{tid}/documents", headers=bearer(cambs, **duty)),
        client.post(
            f"/v1/transfers/{tid}/children/1/accept",
            json={"receiver_child_id": "CAM-77", "transfer_in_conference_date": "2026-12-08"},
            headers=bearer(cambs, **duty),
        ),
        client.get(
            "/v1/audit/events",
            params={"child_nhs_number": "943 476 5919"},
            headers=bearer(auditor),
        ),
        client.get(
            "/v1/audit/events",
            params={"child_la_id": "CAM100234567", "child_la_authority": "202"},
            headers=bearer(auditor),
        ),
        client.get(
            "/v1/audit/events/export",
            params={"transfer_id": tid, "format": "csv"},
            headers=bearer(auditor),
        ),
        client.get("/v1/audit/verify", headers=bearer(auditor)),
    ]
    assert [s.status_code for s in steps] == [200, 200, 200, 200, 201, 201, 200, 200, 200] + [
        200
    ] * 4, [s.text for s in steps if s.status_code >= 400]
    [doc] = steps[7].json()
    download = client.get(f"/v1/transfers/{tid}/documents/{doc['id']}", headers=bearer(cambs))
    assert download.content == document

    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.transfer_id == tid)))
    assert {
        "transfer.sent",
        "transfer.received",
        "record.read",
        "transfer.acknowledged",
        "message.question",
        "document.added",
        "messages.read",
        "documents.listed",
        "document.read",
        "child.accepted",
    } <= actions
    raw = raw_audit_tables(session)
    assert nhs_pseudonym("9434765919") in raw, "the child is in the log, by pseudonym"
    assert la_child_pseudonym(CAMDEN, "CAM100234567") in raw
    leaked = sorted(value for value in pii if value in raw)
    assert leaked == [], f"personal data in the audit tables: {leaked}"
    assert "Tilly" not in steps[9].text + steps[10].text + steps[11].text


# --- rollback together (committed data) -----------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """An app with no dependency overrides, and fresh clients of 940 (sender) and 941."""

    app: FastAPI
    sender: str
    receiver: str

    @property
    def sender_id(self) -> str:
        return self.sender.split(".")[1]


@pytest.fixture
def live(database_url: str) -> Live:
    from exchange.app import create_app
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.config import get_settings
    from exchange.db import session_scope

    tag = uuid.uuid4().hex[:8]
    with session_scope() as db:
        tokens = [
            create_client(
                db,
                ClientCreate(name=f"audit tx {tag}", role=Role.AUTHORITY, authority=code),
                actor=None,
            ).token
            for code in ("940", "941")
        ]
    return Live(create_app(get_settings()), *tokens)


def northants_body() -> dict[str, Any]:
    return transfer_body([minimal_record("940", f"NN{uuid.uuid4().hex[:10]}")], to="941")


@dataclass(frozen=True)
class Committed:
    head_seq: int
    transfers: list[str]
    events: list[tuple[str, str | None]]  # (action, transfer id) of the sender client's events


def committed(live: Live) -> Committed:
    from exchange.db import session_scope

    with session_scope() as db:
        head = db.scalar(select(AuditHead.seq).where(AuditHead.id == 1))
        transfers = db.scalars(
            select(Transfer.id).where(Transfer.created_by_client == live.sender_id)
        ).all()
        events = db.execute(
            select(AuditEvent.action, AuditEvent.transfer_id)
            .where(AuditEvent.client_id == live.sender_id)
            .order_by(AuditEvent.seq)
        ).all()
        return Committed(int(head or 0), list(transfers), [tuple(e) for e in events])


def test_an_action_that_fails_after_its_event_leaves_neither(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.db import session_scope

    written: list[Appended] = []
    original = service.record_event

    def write_then_fail(session: Session, **kwargs: Any) -> Appended:
        event = original(session, **kwargs)
        session.flush()  # the event is in the database's transaction...
        written.append(event)
        raise RuntimeError("...and then the transaction fails")

    monkeypatch.setattr(service, "record_event", write_then_fail)
    before = committed(live)

    with TestClient(live.app, raise_server_exceptions=False) as http:
        response = http.post(
            "/v1/transfers", json=northants_body(), headers=idempotent(live.sender)
        )

    after = committed(live)
    assert response.status_code == 500, response.text
    assert response.json()["code"] == "internal-error"
    [event] = written
    assert event.action == "transfer.sent"
    assert after.transfers == before.transfers == []
    assert after.events == before.events == []
    assert after.head_seq == before.head_seq
    with session_scope() as db:
        assert db.scalar(select(func.count()).where(AuditEvent.hash == event.hash)) == 0
        assert verify_chain(db).ok


def test_an_action_whose_event_cannot_be_written_fails(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(service, "record_event", unavailable)
    before = committed(live)

    with TestClient(live.app, raise_server_exceptions=False) as http:
        response = http.post(
            "/v1/transfers", json=northants_body(), headers=idempotent(live.sender)
        )

    after = committed(live)
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert after.transfers == before.transfers == []
    assert after.head_seq == before.head_seq


def test_a_read_whose_event_cannot_be_written_returns_no_content(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.db import session_scope

    with TestClient(live.app, raise_server_exceptions=False) as http:
        sent = http.post("/v1/transfers", json=northants_body(), headers=idempotent(live.sender))
        assert sent.status_code == 201, sent.text
        tid = sent.json()["id"]
        monkeypatch.setattr(service, "record_event", _unavailable)
        read = http.get(f"/v1/transfers/{tid}/record", headers=bearer(live.receiver))
        acknowledged = http.post(f"/v1/transfers/{tid}/acknowledge", headers=bearer(live.receiver))

    assert read.status_code == 500, read.text
    assert "9434765919" not in read.text
    assert acknowledged.status_code == 500, acknowledged.text
    with session_scope() as db:
        transfer = db.get(Transfer, tid)
        assert transfer is not None
        assert transfer.status == "sent", "neither the first read nor the acknowledgement stuck"
        assert transfer.received_at is None
        assert transfer.acknowledged_at is None
        actions = db.scalars(select(AuditEvent.action).where(AuditEvent.transfer_id == tid)).all()
        assert actions == ["transfer.sent"]


def _unavailable(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("the audit log cannot be written")


# --- rollback together (in the test's transaction) ------------------------------------------------


def _principal(authority: str = CAMDEN) -> Any:
    from exchange.authorities.auth import Principal, Role

    return Principal(
        client_id=str(uuid.uuid4()),
        client_name="transactions test",
        role=Role.AUTHORITY,
        authority=authority,
        acting_user="sw.jones",
        request_id=None,
        source_address=None,
    )


def _create(session: Session) -> Transfer:
    from exchange.transfers.schemas import Urgency

    principal = _principal()
    return service.create_transfer(
        session,
        principal,
        reason="The family moved.",
        legal_basis="Children Act 1989 s47",
        urgency=Urgency.ROUTINE,
        prepared=service.prepare_records(
            session, [minimal_record("202", f"CHTX{uuid.uuid4().hex[:8]}")]
        ),
        receiver=service.resolve_receiver(session, principal, "873"),
    )


def test_a_rolled_back_action_takes_its_event_with_it(session: Session) -> None:
    head_before = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1))
    created: list[str] = []

    def act_then_fail() -> None:
        with session.begin_nested():
            transfer = _create(session)
            created.append(transfer.id)
            in_flight = session.scalars(
                select(AuditEvent.action).where(AuditEvent.transfer_id == transfer.id)
            ).all()
            assert in_flight == ["transfer.sent"]
            raise RuntimeError("the action failed after the event was written")

    with pytest.raises(RuntimeError, match="after the event"):
        act_then_fail()

    [tid] = created
    assert session.get(Transfer, tid) is None
    assert session.scalars(select(AuditEvent).where(AuditEvent.transfer_id == tid)).all() == []
    assert session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) == head_before
    assert verify_chain(session).ok


def test_an_action_fails_when_the_chains_head_cannot_be_updated(session: Session) -> None:
    transfers_before = session.scalar(select(func.count()).select_from(Transfer))

    # audit_head is the one audit table the service may update; without its row no event can
    # be appended.
    def act_without_a_head() -> None:
        with session.begin_nested():
            session.execute(text("DELETE FROM audit_head"))
            _create(session)

    with pytest.raises(NoResultFound):
        act_without_a_head()

    assert session.scalar(select(func.count()).select_from(Transfer)) == transfers_before
    assert session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) is not None


def test_record_event_returns_the_event_as_stored(session: Session) -> None:
    from dataclasses import asdict

    from exchange.audit.service import Actor, record_event

    appended = record_event(
        session,
        action="record.read",
        actor=Actor(
            client_id=str(uuid.uuid4()),
            authority=CAMDEN,
            role="authority",
            acting_user="sw.reader",
            request_id="req-1",
            source_address="10.0.0.9",
        ),
        transfer_id=str(uuid.uuid4()),
        counterpart_authority="E10000003",
        purpose="Children Act 1989 s47",
        child_refs=[nhs_pseudonym("9434765919"), la_child_pseudonym(CAMDEN, "C-1")],
        details={"format": "canonical"},
    )
    session.flush()
    stored = session.get(AuditEvent, appended.seq)
    assert stored is not None
    assert asdict(appended) == {name: getattr(stored, name) for name in asdict(appended)}
    assert appended.child_refs.split() == sorted(appended.child_refs.split())
    assert len(appended.child_refs.split()) == 2
