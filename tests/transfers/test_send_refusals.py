"""The sending endpoints authenticate the caller in the thread that does their work: who may send
is still decided before anything about the body, and refusals are audited as anywhere else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import bearer

from exchange.audit.models import AuditEvent

NOT_JSON = b"{this is not json"
ENDPOINTS = ["/v1/transfers", "/v1/transfers/batch"]


def post(client: TestClient, path: str, headers: dict[str, str]) -> dict[str, object]:
    response = client.post(
        path,
        content=NOT_JSON,
        headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "k-1"},
    )
    return {"status": response.status_code, **response.json()}


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
    # Only a caller allowed to send hears about the body.
    allowed = post(client, path, bearer(sender))
    assert allowed["status"] == 400
    assert allowed["code"] != "unauthenticated"

    refusals = session.execute(
        select(AuditEvent.action, AuditEvent.outcome, AuditEvent.details)
        .where(AuditEvent.action.in_(["auth.denied", "access.denied"]))
        .order_by(AuditEvent.seq)
    ).all()
    assert [(action, outcome) for action, outcome, _ in refusals] == [
        ("auth.denied", "denied"),  # the known client with a wrong secret
        ("access.denied", "denied"),  # the auditor
    ]
    assert "token-mismatch" in refusals[0].details
