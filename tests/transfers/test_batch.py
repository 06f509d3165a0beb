"""POST /v1/transfers/batch: many transfers, each with its own key and result."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from support import bearer, minimal_record, transfer_body


def item(key: str, **body: object) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "transfer": transfer_body([minimal_record(la_child_id=key.replace("-", ""))], **body),
    }


def test_each_item_succeeds_or_fails_alone_and_repeats_replay(
    client: TestClient, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    batch = {"items": [item("job-1"), item("job-2", to_authority="999"), item("job-3")]}
    first = client.post("/v1/transfers/batch", json=batch, headers=bearer(camden))
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["problem"]["code"] == "receiving-authority-invalid"
    assert results[1]["transfer"] is None

    again = client.post("/v1/transfers/batch", json=batch, headers=bearer(camden)).json()["results"]
    assert [r["replayed"] for r in again] == [True, False, True]
    assert again[0]["transfer"]["id"] == results[0]["transfer"]["id"]
    sent = client.get("/v1/transfers", params={"box": "sent"}, headers=bearer(camden)).json()[
        "items"
    ]
    assert len(sent) == 2


def test_a_new_items_result_is_the_transfer_its_replay_repeats(
    client: TestClient, make_client: Callable[..., str]
) -> None:
    from exchange.transfers.schemas import BatchOut

    camden = make_client(authority="202")
    batch = {"items": [item("shape-1"), item("shape-2", to_authority="999")]}
    first = client.post("/v1/transfers/batch", json=batch, headers=bearer(camden)).json()
    BatchOut.model_validate(first)  # every field the schema names, nothing else
    created = first["results"][0]
    assert list(created) == ["idempotency_key", "status", "replayed", "transfer", "problem"]
    assert (created["status"], created["replayed"], created["problem"]) == (201, False, None)
    assert created["transfer"]["status"] == "sent"
    assert created["transfer"]["to_authority"]["dfe_code"] == "873"

    again = client.post("/v1/transfers/batch", json=batch, headers=bearer(camden)).json()
    assert again["results"][0]["replayed"] is True
    assert again["results"][0]["transfer"] == created["transfer"]
    single = client.post(
        "/v1/transfers",
        json=batch["items"][0]["transfer"],  # type: ignore[index]
        headers={**bearer(camden), "Idempotency-Key": "shape-1-alone"},
    ).json()
    assert set(single) == set(created["transfer"])


def test_a_key_reused_with_another_body_is_refused_for_that_item(
    client: TestClient, make_client: Callable[..., str]
) -> None:
    camden = make_client(authority="202")
    client.post("/v1/transfers/batch", json={"items": [item("k-1")]}, headers=bearer(camden))
    changed = {
        "idempotency_key": "k-1",
        "transfer": transfer_body([minimal_record(la_child_id="OTHER1")]),
    }
    result = client.post(
        "/v1/transfers/batch", json={"items": [changed]}, headers=bearer(camden)
    ).json()["results"][0]
    assert result["status"] == 422
    assert result["problem"]["code"] == "idempotency-key-reused"


def test_an_oversized_batch_is_refused_whole(
    client: TestClient, make_client: Callable[..., str], monkeypatch: object
) -> None:
    import pytest

    from exchange.config import get_settings

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(get_settings(), "max_batch_items", 2)
    camden = make_client(authority="202")
    response = client.post(
        "/v1/transfers/batch",
        json={"items": [item("a"), item("b"), item("c")]},
        headers=bearer(camden),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "limit-exceeded"


def test_a_large_batchs_transfers_read_back_as_they_were_answered(
    client: TestClient, make_client: Callable[..., str]
) -> None:
    """More items than are written one statement at a time (on PostgreSQL, COPY's binary
    format): every transfer read back later, its records and audit events too, is as answered."""
    camden = make_client(authority="202")
    batch = {"items": [item(f"many-{n}") for n in range(20)]}
    answered = client.post("/v1/transfers/batch", json=batch, headers=bearer(camden)).json()
    results = answered["results"]
    assert [r["status"] for r in results] == [201] * 20

    for n, result in enumerate(results):
        sent = result["transfer"]
        read = client.get(f"/v1/transfers/{sent['id']}", headers=bearer(camden))
        assert read.status_code == 200
        assert read.json() == sent  # dates, flags, timestamps and names as answered
        record = client.get(f"/v1/transfers/{sent['id']}/record", headers=bearer(camden))
        [child] = record.json()["records"]
        assert child["child"]["identifiers"][0]["value"] == f"many{n}"

    audit = make_client(role="auditor", authority=None)
    verified = client.get("/v1/audit/verify", headers=bearer(audit))
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True
    assert verified.json()["events"] >= 20  # one sent event each, at least
