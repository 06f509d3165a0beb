"""The sending endpoints decide who may send before anything about the body (not even read for a
caller refused), and refusals are audited as anywhere else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import bearer

from exchange.audit.models import AuditEvent

NOT_JSON = b"{this is not json"
ENDPOINTS = ["/v1/transfers", "/v1/transfers/batch"]


def post(
    client: TestClient, path: str, headers: dict[str, str], content: Any = NOT_JSON
) -> dict[str, object]:
    response = client.post(
        path,
        content=content,
        headers={"Content-Type": "application/json", "Idempotency-Key": "k-1", **headers},
    )
    return {**response.json(), "status": response.status_code}


def oversized() -> Iterator[bytes]:
    """A body sent in chunks (no Content-Length), larger than any request may be."""
    for _ in range(40):
        yield b" " * 1_000_000


@pytest.mark.parametrize("path", ENDPOINTS)
def test_who_may_send_is_decided_before_the_body_is_read_as_json(
    client: TestClient, make_client: Callable[..., str], session: Session, path: str
) -> None:
    sender = make_client(authority="202")
    auditor = make_client(role="auditor", authority=None)

    nobody = post(client, path, {})
    assert (nobody["status"], nobody["code"]) == (401, "unauthenticated")
    malformed = post(client, path, {"Authorization": "Bearer not-a-token"})
    assert (malformed["status"], malformed["code"]) == (401, "unauthenticated")
    wrong_secret = post(client, path, bearer(sender[:-4] + "AAAA"))
    assert (wrong_secret["status"], wrong_secret["detail"]) == (401, "The token is not valid.")
    bad_user = post(client, path, {**bearer(sender), "X-Acting-User": "<script>"})
    assert (bad_user["status"], bad_user["code"]) == (400, "acting-user-invalid")
    wrong_role = post(client, path, bearer(auditor))
    assert (wrong_role["status"], wrong_role["code"]) == (403, "forbidden")
    # Refused before the body is read: an upload too large changes nothing, a bad key or media
    # type neither.
    assert post(client, path, bearer(auditor), oversized())["status"] == 403
    assert post(client, path, {}, oversized())["status"] == 401
    assert (
        post(client, path, {"Content-Type": "text/plain", "Idempotency-Key": ""})["status"] == 401
    )
    # Only a caller allowed to send hears about the body.
    allowed = post(client, path, bearer(sender))
    assert (allowed["status"], allowed["code"]) == (400, "body-not-json")
    assert post(client, path, bearer(sender), oversized())["status"] == 413

    refusals = session.execute(
        select(AuditEvent.action, AuditEvent.outcome, AuditEvent.details)
        .where(AuditEvent.action.in_(["auth.denied", "access.denied"]))
        .order_by(AuditEvent.seq)
    ).all()
    assert [(action, outcome) for action, outcome, _ in refusals] == [
        ("auth.denied", "denied"),  # the known client with a wrong secret
        ("access.denied", "denied"),  # the auditor
        ("access.denied", "denied"),  # the auditor again, with the upload too large
    ]
    assert "token-mismatch" in refusals[0].details
