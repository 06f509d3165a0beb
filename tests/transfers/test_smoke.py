"""The lifecycle end to end through HTTP, as two authorities' systems would drive it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from support import bearer, idempotent, transfer_body


def test_send_read_acknowledge_accept(client: TestClient, make_client: Callable[..., str]) -> None:
    camden = make_client(authority="202")
    cambs = make_client(authority="873")

    sent = client.post(
        "/v1/transfers",
        json=transfer_body(),
        headers=idempotent(camden, **{"X-Acting-User": "sw.jones"}),
    )
    assert sent.status_code == 201, sent.text
    transfer = sent.json()
    assert transfer["status"] == "sent"
    assert sent.headers["location"] == f"/v1/transfers/{transfer['id']}"
    assert transfer["to_authority"]["dfe_code"] == "873"
    assert transfer["created_by_user"] == "sw.jones"

    inbox = client.get("/v1/inbox", headers=bearer(cambs)).json()
    assert [t["id"] for t in inbox["items"]] == [transfer["id"]]

    read = client.get(f"/v1/transfers/{transfer['id']}", headers=bearer(cambs)).json()
    assert read["status"] == "received"
    record = client.get(f"/v1/transfers/{transfer['id']}/record", headers=bearer(cambs)).json()
    nhs = [
        i["value"]
        for i in record["records"][0]["child"]["identifiers"]
        if i["system"] == "nhs_number"
    ]
    assert nhs == ["9434765919"]

    acked = client.post(f"/v1/transfers/{transfer['id']}/acknowledge", headers=bearer(cambs)).json()
    assert acked["status"] == "acknowledged"
    assert acked["conference_clock_started"] is True

    accepted = client.post(
        f"/v1/transfers/{transfer['id']}/children/1/accept",
        json={"receiver_child_id": "CAM-77", "transfer_in_conference_date": "2026-12-08"},
        headers=bearer(cambs),
    ).json()
    assert accepted["status"] == "accepted"
    assert accepted["children"][0]["receiver_child_id"] == "CAM-77"

    xml = client.get(
        f"/v1/transfers/{transfer['id']}/record?format=cin-census", headers=bearer(cambs)
    )
    assert xml.status_code == 200, xml.text
    assert b"<LAchildID>" in xml.content
