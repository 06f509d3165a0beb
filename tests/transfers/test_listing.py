"""Listing transfers: sent and received boxes, filters, cursor pagination and the inbox."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from support import bearer, example, idempotent, minimal_record, transfer_body

from exchange.transfers.models import Transfer

Json = dict[str, Any]


class Parties:
    """Camden (202) and Cambridgeshire (873) send to each other; Barking (301) is elsewhere."""

    def __init__(self, client: TestClient, make_client: Callable[..., str]) -> None:
        self.client = client
        self.camden = make_client(authority="202")
        self.cambs = make_client(authority="873")
        self.barking = make_client(authority="301")

    def send(
        self, token: str | None = None, records: list[Json] | None = None, to: str = "873"
    ) -> str:
        response = self.client.post(
            "/v1/transfers",
            json=transfer_body(records, to=to),
            headers=idempotent(token or self.camden),
        )
        assert response.status_code == 201, response.text
        transfer_id: str = response.json()["id"]
        return transfer_id

    def list(self, token: str, path: str = "/v1/transfers", **params: Any) -> Json:
        response = self.client.get(path, params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        page: Json = response.json()
        return page

    def ids(self, token: str, path: str = "/v1/transfers", **params: Any) -> list[str]:
        return [t["id"] for t in self.list(token, path, **params)["items"]]

    def step(self, token: str, path: str, body: Json | None = None) -> None:
        response = self.client.post(path, json=body, headers=bearer(token))
        assert response.status_code == 200, response.text


@pytest.fixture
def parties(client: TestClient, make_client: Callable[..., str]) -> Parties:
    return Parties(client, make_client)


def test_the_sent_and_received_boxes(parties: Parties) -> None:
    to_cambs = [parties.send(), parties.send()]
    from_cambs = parties.send(parties.cambs, [example("unborn-child")], to="202")
    to_barking = parties.send(to="301")

    assert sorted(parties.ids(parties.camden, box="sent")) == sorted([*to_cambs, to_barking])
    assert parties.ids(parties.camden, box="received") == [from_cambs]
    assert sorted(parties.ids(parties.camden)) == sorted([*to_cambs, to_barking, from_cambs])
    assert sorted(parties.ids(parties.cambs, box="received")) == sorted(to_cambs)
    assert parties.ids(parties.cambs, box="sent") == [from_cambs]
    assert parties.ids(parties.barking) == [to_barking]

    bad = parties.client.get(
        "/v1/transfers", params={"box": "outbox"}, headers=bearer(parties.camden)
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "request-invalid"


def test_filter_by_one_or_several_statuses(parties: Parties) -> None:
    sent = parties.send()
    received = parties.send()
    acknowledged = parties.send()
    withdrawn = parties.send()
    parties.client.get(f"/v1/transfers/{received}", headers=bearer(parties.cambs))
    parties.step(parties.cambs, f"/v1/transfers/{acknowledged}/acknowledge")
    parties.step(parties.camden, f"/v1/transfers/{withdrawn}/withdraw", {"reason": "In error."})

    assert parties.ids(parties.camden, status="sent") == [sent]
    assert parties.ids(parties.camden, status="withdrawn") == [withdrawn]
    assert sorted(parties.ids(parties.camden, status=["received", "acknowledged"])) == sorted(
        [received, acknowledged]
    )
    assert parties.ids(parties.camden, status="accepted") == []
    unknown = parties.client.get(
        "/v1/transfers", params={"status": "lost"}, headers=bearer(parties.camden)
    )
    assert unknown.status_code == 422


def test_filter_by_the_childs_nhs_number_or_la_child_id(parties: Parties) -> None:
    tilly = parties.send(records=[example()])
    other = parties.send(records=[minimal_record(la_child_id="CHOTHER")])
    other_record = minimal_record(la_child_id="CHTHIRD")
    other_record["child"]["identifiers"] = other_record["child"]["identifiers"][:1]
    third = parties.send(records=[other_record])

    assert sorted(parties.ids(parties.camden, child_nhs_number="9434765919")) == sorted(
        [tilly, other]
    )
    assert sorted(parties.ids(parties.cambs, child_nhs_number="943 476 5919")) == sorted(
        [tilly, other]
    )
    assert parties.ids(parties.camden, child_nhs_number="4010232137") == []

    # Camden's own id for the child: the authority defaults to the caller's.
    assert parties.ids(parties.camden, child_la_id="CAM100234567") == [tilly]
    assert parties.ids(parties.camden, child_la_id="CHTHIRD") == [third]
    # The receiver names whose id it is.
    camden_gss = parties.list(parties.camden)["items"][0]["from_authority"]["gss_code"]
    assert parties.ids(
        parties.cambs, child_la_id="CAM100234567", child_la_authority=camden_gss
    ) == [tilly]
    assert parties.ids(parties.cambs, child_la_id="CAM100234567") == []
    assert parties.ids(parties.barking, child_nhs_number="9434765919") == []


def move_created(session: Session, transfer_id: str, when: dt.datetime) -> None:
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    transfer.created_at = when
    session.flush()


def test_filter_by_creation_date(parties: Parties, session: Session) -> None:
    now = dt.datetime.now(dt.UTC)
    old = parties.send()
    older = parties.send()
    new = parties.send()
    move_created(session, old, now - dt.timedelta(days=10))
    move_created(session, older, now - dt.timedelta(days=20))
    today = now.date()

    def days_ago(n: int) -> str:
        return (today - dt.timedelta(days=n)).isoformat()

    assert parties.ids(parties.camden, created_from=today.isoformat()) == [new]
    assert parties.ids(parties.camden, created_to=days_ago(5)) == [old, older]
    assert parties.ids(parties.camden, created_from=days_ago(15), created_to=days_ago(5)) == [old]
    # Both ends are whole days, inclusive.
    assert parties.ids(parties.camden, created_from=days_ago(10), created_to=days_ago(10)) == [old]
    assert sorted(parties.ids(parties.camden, created_from=days_ago(20))) == sorted(
        [new, old, older]
    )
    bad = parties.client.get(
        "/v1/transfers", params={"created_from": "last week"}, headers=bearer(parties.camden)
    )
    assert bad.status_code == 422


def test_filter_overdue_transfers(parties: Parties, session: Session) -> None:
    now = dt.datetime.now(dt.UTC)
    on_time = parties.send()
    late_ack = parties.send()
    late_conference = parties.send()
    closed_late = parties.send()
    parties.step(parties.cambs, f"/v1/transfers/{late_conference}/acknowledge")
    parties.step(parties.cambs, f"/v1/transfers/{closed_late}/acknowledge")
    parties.step(
        parties.cambs,
        f"/v1/transfers/{closed_late}/children/1/accept",
        {"receiver_child_id": "CB-9", "transfer_in_conference_date": "2026-12-08"},
    )

    unacknowledged = session.get(Transfer, late_ack)
    conference = session.get(Transfer, late_conference)
    closed = session.get(Transfer, closed_late)
    assert unacknowledged is not None
    assert conference is not None
    assert closed is not None
    unacknowledged.acknowledgement_due = now - dt.timedelta(hours=1)
    conference.conference_due = now.date() - dt.timedelta(days=3)
    closed.acknowledgement_due = now - dt.timedelta(days=30)
    closed.conference_due = now.date() - dt.timedelta(days=3)
    session.flush()

    overdue = parties.list(parties.camden, overdue="true")["items"]
    assert sorted(t["id"] for t in overdue) == sorted([late_ack, late_conference])
    flags = {t["id"]: t["overdue"] for t in overdue}
    assert flags[late_ack]["acknowledgement"] is True
    assert flags[late_conference] == {"acknowledgement": False, "transfer_in_conference": True}
    by_id = {t["id"]: t for t in overdue}
    assert by_id[late_conference]["working_days_left"] < 0

    assert sorted(parties.ids(parties.camden, overdue="false")) == sorted([on_time, closed_late])
    assert sorted(parties.ids(parties.cambs, "/v1/inbox", overdue="true")) == sorted(
        [late_ack, late_conference]
    )
    assert parties.ids(parties.cambs, "/v1/inbox", overdue="false") == [on_time]


def test_cursor_pagination_is_newest_first_without_gaps_or_repeats(parties: Parties) -> None:
    created = [parties.send() for _ in range(7)]
    whole = parties.list(parties.camden, box="sent", limit=100)["items"]
    assert sorted(t["id"] for t in whole) == sorted(created)
    stamps = [(t["created_at"], t["id"]) for t in whole]
    assert stamps == sorted(stamps, reverse=True)
    assert whole[0]["id"] == created[-1]

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: Json = {"box": "sent", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = parties.list(parties.camden, **params)
        pages.append([t["id"] for t in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "pagination does not end"

    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [i for p in pages for i in p]
    assert flat == [t["id"] for t in whole]
    assert len(set(flat)) == 7


def test_a_full_last_page_has_no_next_cursor(parties: Parties) -> None:
    created = [parties.send() for _ in range(3)]
    page = parties.list(parties.camden, limit=3)
    assert sorted(t["id"] for t in page["items"]) == sorted(created)
    assert page["next_cursor"] is None


def encoded(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="not-base64-json"),
        pytest.param("!!!!", id="punctuation"),
        pytest.param(encoded({"created": "2026-01-01"}), id="object"),
        pytest.param(encoded(["yesterday", "id"]), id="not-a-date"),
        pytest.param(encoded([1, 2]), id="numbers"),
        pytest.param(encoded(None), id="null"),
        pytest.param(encoded(["2026-01-01T00:00:00+00:00", 5, "extra"]), id="three-parts"),
        pytest.param(encoded(["2026-01-01T00:00:00", "naive"]), id="timestamp-without-offset"),
    ],
)
def test_a_bad_cursor_is_a_400_problem(parties: Parties, cursor: str) -> None:
    parties.send()
    response = parties.client.get(
        "/v1/transfers", params={"cursor": cursor}, headers=bearer(parties.camden)
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "cursor-invalid"


def test_the_inbox_shows_only_open_transfers_received(parties: Parties) -> None:
    sent = parties.send()
    received = parties.send()
    acknowledged = parties.send()
    accepted = parties.send()
    declined = parties.send()
    withdrawn = parties.send()
    superseded = parties.send()
    parties.send(parties.cambs, [example("unborn-child")], to="202")

    parties.client.get(f"/v1/transfers/{received}", headers=bearer(parties.cambs))
    for tid in (acknowledged, accepted, declined):
        parties.step(parties.cambs, f"/v1/transfers/{tid}/acknowledge")
    parties.step(
        parties.cambs,
        f"/v1/transfers/{accepted}/children/1/accept",
        {"receiver_child_id": "CB-1", "transfer_in_conference_date": "2026-12-08"},
    )
    parties.step(
        parties.cambs, f"/v1/transfers/{declined}/children/1/decline", {"reason": "Not ours."}
    )
    parties.step(parties.camden, f"/v1/transfers/{withdrawn}/withdraw", {"reason": "In error."})
    update = parties.client.post(
        f"/v1/transfers/{superseded}/updates",
        json={"records": [example()]},
        headers=idempotent(parties.camden),
    )
    assert update.status_code == 201, update.text
    replacement = update.json()["id"]

    inbox = parties.list(parties.cambs, "/v1/inbox")
    assert sorted(t["id"] for t in inbox["items"]) == sorted(
        [sent, received, acknowledged, replacement]
    )
    assert {t["status"] for t in inbox["items"]} == {"sent", "received", "acknowledged"}
    assert inbox["next_cursor"] is None
    assert parties.ids(parties.camden, "/v1/inbox") == parties.ids(
        parties.camden, box="received", status=["sent", "received", "acknowledged"]
    )
    assert len(parties.ids(parties.camden, "/v1/inbox")) == 1
    assert parties.ids(parties.barking, "/v1/inbox") == []

    # Listing does not mark anything received.
    assert parties.list(parties.cambs, "/v1/inbox", limit=100)["items"][-1]["status"] == "sent"
    first = parties.list(parties.cambs, "/v1/inbox", limit=2)
    second = parties.list(parties.cambs, "/v1/inbox", limit=2, cursor=first["next_cursor"])
    assert [t["id"] for t in first["items"] + second["items"]] == [t["id"] for t in inbox["items"]]


def test_listing_needs_an_authority_client(
    parties: Parties, make_client: Callable[..., str]
) -> None:
    auditor = make_client(role="auditor", authority=None)
    for path in ("/v1/transfers", "/v1/inbox"):
        assert parties.client.get(path, headers=bearer(auditor)).status_code == 403
        assert parties.client.get(path).status_code == 401
