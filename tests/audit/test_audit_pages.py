"""Cursor pages of GET /v1/audit/events (issue 5): newest first by time, then by seq; every
matching event on exactly one page, even when many share a time or one was written late with an
earlier time; and a cursor only continues the question it was given for.

Each test seeds its own events (in the test's rolled-back transaction) with an acting user of its
own, dated in 2018 so no other test's events fall in its windows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from support import bearer

from exchange.audit.service import Actor, record_event

CAMDEN, BARKING = "E09000007", "E09000002"
NOON = dt.datetime(2018, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def auditor(make_client: Callable[..., str]) -> str:
    """A national auditor (no authority)."""
    return make_client(role="auditor", authority=None, name="national auditor")


def write(session: Session, user: str, when: dt.datetime, authority: str = CAMDEN) -> int:
    """One event by ``user`` at ``when``; its seq."""
    event = record_event(
        session,
        action="record.read",
        actor=Actor(client_id=None, authority=authority, role="authority", acting_user=user),
        occurred_at=when,
    )
    session.flush()
    return event.seq


def pages(client: TestClient, token: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of the question, following next_cursor."""
    found: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(100):
        response = client.get(
            "/v1/audit/events",
            params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert cursor == str(body["items"][-1]["seq"]), "the cursor names the page's last event"
    raise AssertionError("pagination never ended")


def seqs(items: list[dict[str, Any]]) -> list[int]:
    return [item["seq"] for item in items]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_events_sharing_a_time_are_each_on_exactly_one_page(
    client: TestClient, session: Session, auditor: str, limit: int
) -> None:
    user = f"sw.ties.{uuid.uuid4().hex[:8]}"
    before = write(session, user, NOON - dt.timedelta(seconds=1))
    same = [write(session, user, NOON) for _ in range(5)]
    after = write(session, user, NOON + dt.timedelta(microseconds=1))

    found = pages(client, auditor, limit, acting_user=user)

    assert [len(page) for page in found[:-1]] == [limit] * (len(found) - 1)
    assert [s for page in found for s in seqs(page)] == [after, *reversed(same), before]


def test_a_late_written_event_takes_its_place_by_time(
    client: TestClient, session: Session, auditor: str
) -> None:
    user = f"sw.late.{uuid.uuid4().hex[:8]}"
    first = write(session, user, NOON)
    third = write(session, user, NOON + dt.timedelta(hours=2))
    second = write(session, user, NOON + dt.timedelta(hours=1))  # written last, happened between

    found = pages(client, auditor, 1, acting_user=user)

    assert [s for page in found for s in seqs(page)] == [third, second, first]


def test_pages_of_a_date_range_hold_every_event_in_it_once(
    client: TestClient, session: Session, auditor: str
) -> None:
    user = f"sw.window.{uuid.uuid4().hex[:8]}"
    # Events two by two at the same time, every five minutes, from 20 minutes before noon.
    when = {
        write(session, user, NOON + dt.timedelta(minutes=5 * (i // 2))): i // 2
        for i in range(-8, 16)
    }
    inside = sorted((s for s, slot in when.items() if 0 <= slot < 6), key=lambda s: (when[s], s))

    found = pages(
        client,
        auditor,
        5,
        acting_user=user,
        occurred_from=NOON.isoformat(),
        occurred_to=(NOON + dt.timedelta(minutes=30)).isoformat(),
    )

    assert [s for page in found for s in seqs(page)] == inside[::-1]
    assert len(inside) == 12


def test_events_written_while_paging_do_not_shift_the_pages(
    client: TestClient, session: Session, auditor: str
) -> None:
    user = f"sw.moving.{uuid.uuid4().hex[:8]}"
    written = [write(session, user, NOON + dt.timedelta(minutes=i)) for i in range(6)]
    first = client.get(
        "/v1/audit/events", params={"acting_user": user, "limit": 2}, headers=bearer(auditor)
    ).json()

    write(session, user, NOON + dt.timedelta(days=1))  # newer than all: belongs before page one
    write(session, user, NOON + dt.timedelta(minutes=4))  # the same time as one already shown
    rest = client.get(
        "/v1/audit/events",
        params={"acting_user": user, "limit": 10, "cursor": first["next_cursor"]},
        headers=bearer(auditor),
    ).json()

    assert seqs(first["items"]) == [written[5], written[4]]
    assert seqs(rest["items"]) == [written[3], written[2], written[1], written[0]]


# --- cursors that do not continue this question ---------------------------------------------------


def problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == "cursor-invalid"
    assert body["fix"], "the problem says how to fix it"
    return body


@pytest.mark.parametrize("cursor", ["\u00b2", "\u0663", "1" * 20, "0", " 5", "5 "])
def test_a_malformed_cursor_is_a_problem_not_an_error(
    client: TestClient, auditor: str, cursor: str
) -> None:
    problem(client.get("/v1/audit/events", params={"cursor": cursor}, headers=bearer(auditor)))


def test_a_cursor_from_another_question_is_a_problem(
    client: TestClient, session: Session, auditor: str
) -> None:
    mine, theirs = f"sw.mine.{uuid.uuid4().hex[:8]}", f"sw.theirs.{uuid.uuid4().hex[:8]}"
    write(session, mine, NOON)
    other = write(session, theirs, NOON)

    response = client.get(
        "/v1/audit/events",
        params={"acting_user": mine, "cursor": str(other)},
        headers=bearer(auditor),
    )

    problem(response)


def test_an_authoritys_auditor_cannot_page_from_another_authoritys_event(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    user = f"sw.{uuid.uuid4().hex[:8]}"
    barking_only = write(session, user, NOON, authority=BARKING)
    camden_auditor = make_client(role="auditor", authority="202")

    response = client.get(
        "/v1/audit/events", params={"cursor": str(barking_only)}, headers=bearer(camden_auditor)
    )

    problem(response)
