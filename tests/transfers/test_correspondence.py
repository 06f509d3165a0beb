"""Messages and documents between the two authorities of a transfer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import bearer, idempotent, transfer_body

from exchange.audit.models import AuditEvent
from exchange.config import get_settings

Json = dict[str, Any]
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n\x00\xff\x10trailer\n%%EOF\n"
TITLE = "Évaluation de l\u2019école — Tilly\u2019s conference minutes (23 März 2026) 🧒.pdf"


class Parties:
    """Camden (202) sends to Cambridgeshire (873); Barking and Dagenham (301) is a third party."""

    def __init__(self, client: TestClient, make_client: Callable[..., str]) -> None:
        self.client = client
        self.sender = make_client(authority="202")
        self.receiver = make_client(authority="873")
        self.outsider = make_client(authority="301")

    def send(self) -> str:
        response = self.client.post(
            "/v1/transfers", json=transfer_body(), headers=idempotent(self.sender)
        )
        assert response.status_code == 201, response.text
        transfer_id: str = response.json()["id"]
        return transfer_id

    def message(self, tid: str, token: str, user: str | None = None, **body: Any) -> Any:
        headers = bearer(token, **({"X-Acting-User": user} if user else {}))
        return self.client.post(f"/v1/transfers/{tid}/messages", json=body, headers=headers)

    def messages(self, tid: str, token: str) -> list[Json]:
        response = self.client.get(f"/v1/transfers/{tid}/messages", headers=bearer(token))
        assert response.status_code == 200, response.text
        items: list[Json] = response.json()
        return items

    def upload(
        self,
        tid: str,
        token: str,
        content: bytes = PDF,
        *,
        title: str = TITLE,
        media_type: str = "application/pdf",
        sha256: str | None = None,
        user: str | None = None,
    ) -> Any:
        headers = bearer(
            token,
            **{
                "Content-Type": media_type,
                "X-Document-Title": quote(title),
                "X-Content-SHA256": sha256 or hashlib.sha256(content).hexdigest(),
                "Content-Length": str(len(content)),
            },
            **({"X-Acting-User": user} if user else {}),
        )
        return self.client.post(f"/v1/transfers/{tid}/documents", content=content, headers=headers)


@pytest.fixture
def parties(client: TestClient, make_client: Callable[..., str]) -> Parties:
    return Parties(client, make_client)


def gss(parties: Parties, tid: str) -> tuple[str, str]:
    body = parties.client.get(f"/v1/transfers/{tid}", headers=bearer(parties.sender)).json()
    return body["from_authority"]["gss_code"], body["to_authority"]["gss_code"]


# -- messages ------------------------------------------------------------------------------------


def test_a_message_a_question_and_its_answer_are_seen_by_both_in_order(
    parties: Parties,
) -> None:
    tid = parties.send()
    camden, cambs = gss(parties, tid)

    note = parties.message(
        tid, parties.sender, "sw.jones", body="The school report is attached to the record."
    )
    assert note.status_code == 201, note.text
    question = parties.message(
        tid,
        parties.receiver,
        "duty.worker",
        kind="question",
        body="Does the father know the family has moved?",
    )
    assert question.status_code == 201, question.text
    answer = parties.message(
        tid,
        parties.sender,
        "sw.jones",
        kind="answer",
        body="No: keep the address from him.",
        in_reply_to=question.json()["id"],
    )
    assert answer.status_code == 201, answer.text

    expected = [
        ("message", "The school report is attached to the record.", None, camden, "sw.jones"),
        (
            "question",
            "Does the father know the family has moved?",
            None,
            cambs,
            "duty.worker",
        ),
        (
            "answer",
            "No: keep the address from him.",
            question.json()["id"],
            camden,
            "sw.jones",
        ),
    ]
    for token in (parties.sender, parties.receiver):
        seen = parties.messages(tid, token)
        assert [
            (m["kind"], m["body"], m["in_reply_to"], m["author_authority"], m["acting_user"])
            for m in seen
        ] == expected
        assert [m["id"] for m in seen] == [
            note.json()["id"],
            question.json()["id"],
            answer.json()["id"],
        ]
        stamps = [m["created_at"] for m in seen]
        assert stamps == sorted(stamps)


def test_a_reply_must_be_to_a_message_of_the_same_transfer(parties: Parties) -> None:
    first = parties.send()
    second = parties.send()
    elsewhere = parties.message(first, parties.receiver, kind="question", body="Any siblings?")
    assert elsewhere.status_code == 201, elsewhere.text

    cross = parties.message(
        second,
        parties.sender,
        kind="answer",
        body="One half-brother.",
        in_reply_to=elsewhere.json()["id"],
    )
    assert cross.status_code == 404
    assert cross.json()["code"] == "transfer-not-found"
    unknown = parties.message(
        second, parties.sender, kind="answer", body="Yes.", in_reply_to="no-such-message"
    )
    assert unknown.status_code == 404
    assert parties.messages(second, parties.sender) == []


def test_a_third_authority_cannot_upload(parties: Parties) -> None:
    tid = parties.send()
    response = parties.upload(tid, parties.outsider)
    assert response.status_code == 404
    assert response.json()["code"] == "transfer-not-found"
    listed = parties.client.get(f"/v1/transfers/{tid}/documents", headers=bearer(parties.sender))
    assert listed.json() == []


def test_messages_are_refused_to_a_third_authority_and_when_empty_or_too_long(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    outsider = parties.message(tid, parties.outsider, body="Hello?")
    assert outsider.status_code == 404
    listed = parties.client.get(f"/v1/transfers/{tid}/messages", headers=bearer(parties.outsider))
    assert listed.status_code == 404

    empty = parties.message(tid, parties.sender, body="   ")
    assert empty.status_code == 422
    assert empty.json()["code"] == "request-invalid"

    monkeypatch.setattr(get_settings(), "max_message_chars", 20)
    long = parties.message(tid, parties.sender, body="x" * 21)
    assert long.status_code == 422
    assert long.json()["code"] == "limit-exceeded"
    assert parties.messages(tid, parties.receiver) == []


def test_a_message_as_long_as_the_limit_is_accepted(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    monkeypatch.setattr(get_settings(), "max_message_chars", 20)
    response = parties.message(tid, parties.sender, body="x" * 20)
    assert response.status_code == 201, response.text
    assert [m["body"] for m in parties.messages(tid, parties.receiver)] == ["x" * 20]


def test_messages_are_audited_without_their_text(parties: Parties, session: Session) -> None:
    tid = parties.send()
    secret = "She now lives at 17 Example Terrace."
    assert parties.message(tid, parties.sender, "sw.jones", body=secret).status_code == 201
    parties.messages(tid, parties.receiver)
    events = session.scalars(select(AuditEvent).where(AuditEvent.transfer_id == tid)).all()
    actions = [e.action for e in events]
    assert "message.message" in actions
    assert "messages.read" in actions
    assert all(secret not in e.details for e in events)


# -- documents -----------------------------------------------------------------------------------


def test_a_document_is_uploaded_listed_and_downloaded_exactly(parties: Parties) -> None:
    tid = parties.send()
    camden, _ = gss(parties, tid)
    sha = hashlib.sha256(PDF).hexdigest()

    uploaded = parties.upload(tid, parties.sender, user="sw.jones")
    assert uploaded.status_code == 201, uploaded.text
    doc = uploaded.json()
    assert doc["title"] == TITLE
    assert doc["size_bytes"] == len(PDF)
    assert doc["sha256"] == sha
    assert doc["media_type"] == "application/pdf"
    assert doc["uploaded_by_authority"] == camden
    assert doc["acting_user"] == "sw.jones"
    assert doc["content_available"] is True

    for token in (parties.receiver, parties.sender):
        listed = parties.client.get(f"/v1/transfers/{tid}/documents", headers=bearer(token))
        assert listed.status_code == 200
        assert [(d["id"], d["title"], d["size_bytes"], d["sha256"]) for d in listed.json()] == [
            (doc["id"], TITLE, len(PDF), sha)
        ]
        download = parties.client.get(
            f"/v1/transfers/{tid}/documents/{doc['id']}", headers=bearer(token)
        )
        assert download.status_code == 200
        assert download.content == PDF
        assert download.headers["x-content-sha256"] == sha
        assert download.headers["content-type"].startswith("application/pdf")


def test_a_third_authority_cannot_list_download_or_upload(parties: Parties) -> None:
    tid = parties.send()
    uploaded = parties.upload(tid, parties.sender)
    assert uploaded.status_code == 201, uploaded.text
    doc = uploaded.json()
    for path in (f"/v1/transfers/{tid}/documents", f"/v1/transfers/{tid}/documents/{doc['id']}"):
        response = parties.client.get(path, headers=bearer(parties.outsider))
        assert response.status_code == 404, path
        assert response.json()["code"] == "transfer-not-found"
        assert PDF not in response.content
    assert parties.upload(tid, parties.outsider).status_code == 404

    other = parties.send()
    crossed = parties.client.get(
        f"/v1/transfers/{other}/documents/{doc['id']}", headers=bearer(parties.receiver)
    )
    assert crossed.status_code == 404


def test_a_document_whose_hash_does_not_match_is_rejected(parties: Parties) -> None:
    tid = parties.send()
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = parties.upload(tid, parties.sender, sha256=wrong)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "document-rejected"
    assert body["received_sha256"] == hashlib.sha256(PDF).hexdigest()
    malformed = parties.upload(tid, parties.sender, sha256="abc")
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "document-rejected"
    listed = parties.client.get(f"/v1/transfers/{tid}/documents", headers=bearer(parties.sender))
    assert listed.json() == []


def test_the_number_of_documents_is_limited(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    monkeypatch.setattr(get_settings(), "max_documents_per_transfer", 2)
    for n in (1, 2):
        content = f"document {n}".encode()
        response = parties.upload(tid, parties.sender, content, media_type="text/plain")
        assert response.status_code == 201, response.text
    third = parties.upload(tid, parties.receiver, b"document 3", media_type="text/plain")
    assert third.status_code == 422
    assert third.json()["code"] == "limit-exceeded"
    assert "2 documents" in third.json()["detail"]
    listed = parties.client.get(f"/v1/transfers/{tid}/documents", headers=bearer(parties.sender))
    assert len(listed.json()) == 2


def test_no_document_is_taken_when_the_limit_is_zero(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    monkeypatch.setattr(get_settings(), "max_documents_per_transfer", 0)
    response = parties.upload(tid, parties.sender, b"notes", media_type="text/plain")
    assert response.status_code == 422
    assert response.json()["code"] == "limit-exceeded"


def test_a_document_larger_than_the_limit_is_refused(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    monkeypatch.setattr(get_settings(), "max_document_bytes", 10)
    too_big = parties.upload(tid, parties.sender, b"x" * 11, media_type="text/plain")
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "body-too-large"
    listed = parties.client.get(f"/v1/transfers/{tid}/documents", headers=bearer(parties.sender))
    assert listed.json() == []


def test_a_document_as_large_as_the_limit_is_accepted(
    parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = parties.send()
    monkeypatch.setattr(get_settings(), "max_document_bytes", 10)
    fits = parties.upload(tid, parties.sender, b"x" * 10, media_type="text/plain")
    assert fits.status_code == 201, fits.text
    assert fits.json()["size_bytes"] == 10


def test_no_document_can_be_added_to_a_withdrawn_transfer(parties: Parties) -> None:
    tid = parties.send()
    withdrawn = parties.client.post(
        f"/v1/transfers/{tid}/withdraw",
        json={"reason": "Sent in error."},
        headers=bearer(parties.sender),
    )
    assert withdrawn.status_code == 200
    response = parties.upload(tid, parties.sender)
    assert response.status_code == 409
    assert response.json()["code"] == "transition-not-allowed"
    assert response.json()["current_status"] == "withdrawn"


def test_a_form_upload_is_refused(parties: Parties) -> None:
    tid = parties.send()
    response = parties.upload(tid, parties.sender, media_type="multipart/form-data; boundary=x")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported-media-type"


def test_document_reads_are_audited(parties: Parties, session: Session) -> None:
    tid = parties.send()
    uploaded = parties.upload(tid, parties.sender)
    assert uploaded.status_code == 201, uploaded.text
    doc = uploaded.json()
    parties.client.get(
        f"/v1/transfers/{tid}/documents/{doc['id']}",
        headers=bearer(parties.receiver, **{"X-Acting-User": "duty.worker"}),
    )
    reads = session.scalars(
        select(AuditEvent).where(
            AuditEvent.transfer_id == tid, AuditEvent.action == "document.read"
        )
    ).all()
    assert [(e.acting_user, doc["id"] in e.details) for e in reads] == [("duty.worker", True)]
    assert all(TITLE not in e.details for e in reads)
