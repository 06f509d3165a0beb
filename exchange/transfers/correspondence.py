"""Messages and documents exchanged on a transfer, sealed at rest, readable by the two parties."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.audit.service import record_event
from exchange.authorities.auth import Principal
from exchange.config import get_settings
from exchange.errors import BodyTooLarge
from exchange.transfers.errors import (
    ContentPurged,
    DocumentRejected,
    LimitExceeded,
    TransferNotFound,
    TransitionNotAllowed,
)
from exchange.transfers.models import Transfer, TransferDocument, TransferMessage
from exchange.transfers.schemas import DocumentOut, MessageIn, MessageOut
from exchange.transfers.service import child_refs
from exchange.vault import service as vault
from exchange.vault.service import ContentPurged as BlobPurged

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def _counterpart(transfer: Transfer, principal: Principal) -> str:
    return (
        transfer.to_authority
        if principal.authority == transfer.from_authority
        else transfer.from_authority
    )


def _require_content(transfer: Transfer) -> None:
    if transfer.content_purged_at is not None:
        raise ContentPurged(
            "The transfer's content was purged at the end of retention.",
            fix="Nothing more can be added to or read from this transfer.",
        )


def add_message(
    session: Session, principal: Principal, transfer: Transfer, body: MessageIn
) -> MessageOut:
    """Send a message, a question or an answer to the other authority."""
    _require_content(transfer)
    assert principal.authority is not None
    if len(body.body) > get_settings().max_message_chars:
        raise LimitExceeded(
            f"A message is at most {get_settings().max_message_chars} characters.",
            fix="Send a long text as a document.",
        )
    if (
        body.in_reply_to is not None
        and session.scalar(
            select(TransferMessage.id).where(
                TransferMessage.id == body.in_reply_to, TransferMessage.transfer_id == transfer.id
            )
        )
        is None
    ):
        raise TransferNotFound(
            f"No message {body.in_reply_to!r} on this transfer.",
            fix="Reply to a message of this transfer.",
        )
    blob = vault.seal(session, "message", body.body.encode("utf-8"))
    message = TransferMessage(
        transfer_id=transfer.id,
        kind=body.kind.value,
        in_reply_to=body.in_reply_to,
        author_authority=principal.authority,
        client_id=principal.client_id,
        acting_user=principal.acting_user,
        body_blob_id=blob.id,
    )
    session.add(message)
    session.flush()
    record_event(
        session,
        action=f"message.{body.kind.value}",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=_counterpart(transfer, principal),
        details={"message_id": message.id},
    )
    return _message_out(session, message)


def _message_out(session: Session, message: TransferMessage) -> MessageOut:
    body = None
    if message.body_blob_id is not None:
        try:
            body = vault.open_blob(session, message.body_blob_id).decode("utf-8")
        except BlobPurged:
            body = None
    return MessageOut(
        id=message.id,
        kind=message.kind,  # type: ignore[arg-type]
        body=body,
        in_reply_to=message.in_reply_to,
        author_authority=message.author_authority,
        acting_user=message.acting_user,
        created_at=message.created_at,
    )


def list_messages(session: Session, principal: Principal, transfer: Transfer) -> list[MessageOut]:
    """Every message on the transfer, oldest first (a read of case content: audited)."""
    messages = session.scalars(
        select(TransferMessage)
        .where(TransferMessage.transfer_id == transfer.id)
        .order_by(TransferMessage.created_at, TransferMessage.id)
    ).all()
    record_event(
        session,
        action="messages.read",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=_counterpart(transfer, principal),
        details={"count": len(messages)},
    )
    return [_message_out(session, m) for m in messages]


async def receive_document(
    chunks: AsyncIterator[bytes], *, declared_size: int, declared_sha256: str
) -> bytes:
    """The uploaded bytes, checked against the declared size and SHA-256 as they arrive."""
    cap = get_settings().max_document_bytes
    if declared_size > cap:
        raise BodyTooLarge(
            f"The document is {declared_size} bytes; the limit is {cap}.",
            fix="Send a smaller document, or split it.",
        )
    digest = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > declared_size:
            raise DocumentRejected(
                f"More bytes arrived than the {declared_size} declared.",
                fix="Declare the document's exact size in Content-Length.",
            )
        digest.update(chunk)
        parts.append(chunk)
    if size != declared_size:
        raise DocumentRejected(
            f"{size} bytes arrived; {declared_size} were declared.",
            fix="Send the whole document.",
        )
    if digest.hexdigest() != declared_sha256:
        raise DocumentRejected(
            "The document's SHA-256 does not match X-Content-SHA256.",
            fix="Check the file was not changed or cut short, then send it again.",
            received_sha256=digest.hexdigest(),
        )
    return b"".join(parts)


def check_document_headers(
    media_type: str, sha256: str | None, size: str | None
) -> tuple[int, str]:
    """The declared size and hash, or a problem saying which header is wrong."""
    if not _MEDIA_TYPE.match(media_type):
        raise DocumentRejected(
            f"{media_type!r} is not a media type.",
            fix="Send the document's Content-Type, e.g. application/pdf.",
        )
    if sha256 is None or not _SHA256.match(sha256.lower()):
        raise DocumentRejected(
            "X-Content-SHA256 must be the document's SHA-256 as 64 hex digits.",
            fix="Compute the SHA-256 of the file and send it in X-Content-SHA256.",
        )
    if size is None or not size.isdigit():
        raise DocumentRejected(
            "Content-Length must declare the document's size.", fix="Send the size in bytes."
        )
    return int(size), sha256.lower()


def add_document(
    session: Session,
    principal: Principal,
    transfer: Transfer,
    *,
    title: str,
    media_type: str,
    content: bytes,
    sha256: str,
) -> DocumentOut:
    """Store a verified document, sealed, on an open or decided transfer."""
    _require_content(transfer)
    assert principal.authority is not None
    if transfer.status in ("withdrawn", "superseded"):
        raise TransitionNotAllowed(
            f"The transfer is {transfer.status}; documents go to the current transfer.",
            fix="Send the document with the transfer that replaced this one.",
            current_status=transfer.status,
        )
    count = session.scalar(
        select(func.count())
        .select_from(TransferDocument)
        .where(TransferDocument.transfer_id == transfer.id)
    )
    if (count or 0) >= get_settings().max_documents_per_transfer:
        raise LimitExceeded(
            f"A transfer holds at most {get_settings().max_documents_per_transfer} documents.",
            fix="Combine documents, or ask for the limit to be raised.",
        )
    content_blob = vault.seal(session, "document", content)
    title_blob = vault.seal(session, "document-title", title.encode("utf-8"))
    document = TransferDocument(
        transfer_id=transfer.id,
        title_blob_id=title_blob.id,
        media_type=media_type,
        size_bytes=len(content),
        sha256=sha256,
        content_blob_id=content_blob.id,
        uploaded_by_authority=principal.authority,
        client_id=principal.client_id,
        acting_user=principal.acting_user,
    )
    session.add(document)
    session.flush()
    record_event(
        session,
        action="document.added",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=_counterpart(transfer, principal),
        child_refs=child_refs(transfer),
        details={"document_id": document.id, "size": len(content), "sha256": sha256},
    )
    return document_out(session, document)


def document_out(session: Session, document: TransferDocument) -> DocumentOut:
    """A document's description (its title is case content, sealed like the rest)."""
    title = None
    if document.title_blob_id is not None:
        try:
            title = vault.open_blob(session, document.title_blob_id).decode("utf-8")
        except BlobPurged:
            title = None
    available = document.content_blob_id is not None
    if available:
        from exchange.vault.models import Blob

        blob = session.get(Blob, document.content_blob_id)
        available = blob is not None and blob.ciphertext is not None
    return DocumentOut(
        id=document.id,
        title=title,
        media_type=document.media_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        uploaded_by_authority=document.uploaded_by_authority,
        acting_user=document.acting_user,
        created_at=document.created_at,
        content_available=available,
    )


def list_documents(session: Session, principal: Principal, transfer: Transfer) -> list[DocumentOut]:
    """The transfer's documents (titles are case content: audited)."""
    documents = session.scalars(
        select(TransferDocument)
        .where(TransferDocument.transfer_id == transfer.id)
        .order_by(TransferDocument.created_at, TransferDocument.id)
    ).all()
    record_event(
        session,
        action="documents.listed",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=_counterpart(transfer, principal),
        details={"count": len(documents)},
    )
    return [document_out(session, d) for d in documents]


def read_document(
    session: Session, principal: Principal, transfer: Transfer, document_id: str
) -> tuple[TransferDocument, bytes]:
    """A document's content (audited)."""
    document = session.scalar(
        select(TransferDocument).where(
            TransferDocument.id == document_id, TransferDocument.transfer_id == transfer.id
        )
    )
    if document is None:
        raise TransferNotFound(
            f"No document {document_id!r} on this transfer.", fix="Check the id."
        )
    if document.content_blob_id is None:
        raise ContentPurged("The document was purged.", fix="It is no longer held.")
    try:
        content = vault.open_blob(session, document.content_blob_id)
    except BlobPurged as exc:
        raise ContentPurged(
            "The document was purged at the end of retention.", fix="It is no longer held."
        ) from exc
    record_event(
        session,
        action="document.read",
        actor=principal.actor,
        transfer_id=transfer.id,
        counterpart_authority=_counterpart(transfer, principal),
        child_refs=child_refs(transfer),
        details={"document_id": document.id},
    )
    return document, content
