"""Transfers to render as packs: the example records sent between two authorities over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import bearer, example, idempotent, transfer_body

PACK_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pack"
CAMDEN, CAMBRIDGESHIRE = "202", "873"
UNBORN_REASON = "The mother moved to Camden to live with her sister before the birth."


@pytest.fixture
def pack_record() -> Callable[[str], dict[str, Any]]:
    """Load a record written for the pack tests (tests/fixtures/pack/<name>.json)."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((PACK_FIXTURES / f"{name}.json").read_text())
        return data

    return load


@dataclass(frozen=True)
class Sent:
    """A transfer as its sender got it back, with both parties' tokens."""

    transfer: dict[str, Any]
    sender: str
    receiver: str

    @property
    def id(self) -> str:
        return str(self.transfer["id"])

    @property
    def url(self) -> str:
        return f"/v1/transfers/{self.id}/pack"


@pytest.fixture
def send(client: TestClient, make_client: Callable[..., str]) -> Callable[..., Sent]:
    """Send records from one authority to another (extra: other fields of the transfer body);
    returns the transfer and both parties' tokens."""

    def _send(
        records: list[dict[str, Any]],
        *,
        sender: str = CAMDEN,
        to: str = CAMBRIDGESHIRE,
        **extra: Any,
    ) -> Sent:
        sender_token = make_client(authority=sender, name=f"{sender} case system")
        receiver_token = make_client(authority=to, name=f"{to} case system")
        response = client.post(
            "/v1/transfers",
            json=transfer_body(records, to=to, **extra),
            headers=idempotent(sender_token, **{"X-Acting-User": "sw.example"}),
        )
        assert response.status_code == 201, response.text
        return Sent(response.json(), sender_token, receiver_token)

    return _send


@pytest.fixture
def cp_plan_transfer(send: Callable[..., Sent]) -> Sent:
    """Tilly (CP plan, confidential address kept from her father), Camden to Cambridgeshire."""
    return send([example("cp-plan-child")])


@pytest.fixture
def unborn_transfer(send: Callable[..., Sent]) -> Sent:
    """An unborn baby on a pre-birth CP plan, Cambridgeshire to Camden."""
    return send(
        [example("unborn-child")],
        sender=CAMBRIDGESHIRE,
        to=CAMDEN,
        reason=UNBORN_REASON,
    )


@pytest.fixture
def get_pack(client: TestClient) -> Callable[..., Any]:
    """GET the pack as one of the parties (extra query parameters and headers allowed)."""

    def _get(
        sent: Sent, token: str | None = None, headers: dict[str, str] | None = None, **params: str
    ) -> Any:
        return client.get(
            sent.url, params=params, headers=bearer(token or sent.receiver, **(headers or {}))
        )

    return _get
