"""Auditors' questions of the log (issue 5): every filter of GET /v1/audit/events, cursor pages,
the authority-scoped auditor, exports as CSV and JSON Lines, and the auditing of auditors.

Each test seeds its own events (record_event, in the test's rolled-back transaction) dated in 2019,
with acting users, transfers and children unique to the test; the shared log also holds other
tests' events, so filters that cannot be unique on their own (authority, action, outcome) are
combined with the 2019 window.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from support import bearer, idempotent, transfer_body

from exchange.audit.queries import EXPORT_COLUMNS
from exchange.audit.service import Actor, la_child_pseudonym, nhs_pseudonym, record_event
from exchange.authorities.repository import get_authority
from exchange.canonical.identifiers import nhs_number_check_digit

PROBLEM_JSON = "application/problem+json"
DFE_CODES = ("202", "873", "301")  # Camden, Cambridgeshire, Barking and Dagenham
ACTIONS = ("transfer.sent", "record.read", "transfer.acknowledged", "document.read")
BASE = dt.datetime(2019, 3, 1, 9, 0, tzinfo=dt.UTC)
WINDOW = {"occurred_from": "2019-01-01T00:00:00Z", "occurred_to": "2020-01-01T00:00:00Z"}


def new_nhs_number(rng: random.Random) -> str:
    """A random valid NHS number."""
    while True:
        first_nine = f"{rng.randrange(10**8, 10**9)}"
        check = nhs_number_check_digit(first_nine)
        if check is not None:
            return f"{first_nine}{check}"


@dataclass(frozen=True)
class Seeded:
    """One seeded event, as the test expects to see it."""

    seq: int
    occurred_at: dt.datetime
    actor: str
    counterpart: str
    action: str
    outcome: str
    user: str
    transfer_id: str
    child: int


@dataclass
class Log:
    """The seeded events and what they were made from."""

    tag: str
    gss: dict[str, str]
    transfers: list[str]
    nhs_numbers: list[str]
    la_ids: list[tuple[str, str]]  # (DfE code of the issuing authority, its id for the child)
    events: list[Seeded] = field(default_factory=list)

    def seqs(self, keep: Callable[[Seeded], bool] = lambda e: True) -> list[int]:
        """Matching seeded events, newest first."""
        return sorted((e.seq for e in self.events if keep(e)), reverse=True)


def seed(session: Session, count: int = 42) -> Log:
    """Events across three authorities, four actions, five users, six transfers, three children
    and 42 days of 2019 (every seventh refused)."""
    tag = uuid.uuid4().hex[:8]
    rng = random.Random(tag)
    gss = {code: row.gss_code for code in DFE_CODES if (row := get_authority(session, code))}
    log = Log(
        tag=tag,
        gss=gss,
        transfers=[str(uuid.uuid4()) for _ in range(6)],
        nhs_numbers=[new_nhs_number(rng) for _ in range(3)],
        la_ids=[(DFE_CODES[c], f"LA{tag}{c}") for c in range(3)],
    )
    for i in range(count):
        actor, counterpart = gss[DFE_CODES[i % 3]], gss[DFE_CODES[(i + 1) % 3]]
        child = i % 3
        issuer, la_id = log.la_ids[child]
        occurred = BASE + dt.timedelta(days=i, minutes=i)
        event = Seeded(
            seq=0,
            occurred_at=occurred,
            actor=actor,
            counterpart=counterpart,
            action=ACTIONS[i % 4],
            outcome="denied" if i % 7 == 0 else "success",
            user=f"{tag}.user{i % 5}",
            transfer_id=log.transfers[i % 6],
            child=child,
        )
        written = record_event(
            session,
            action=event.action,
            actor=Actor(
                client_id=str(uuid.uuid4()),
                authority=actor,
                role="authority",
                acting_user=event.user,
                request_id=uuid.uuid4().hex,
                source_address="10.0.0.8",
            ),
            outcome=event.outcome,
            transfer_id=event.transfer_id,
            counterpart_authority=counterpart,
            purpose="Children Act 1989 s47",
            child_refs=[
                nhs_pseudonym(log.nhs_numbers[child]),
                la_child_pseudonym(gss[issuer], la_id),
            ],
            details={"i": i},
            occurred_at=occurred,
        )
        log.events.append(dataclass_replace(event, seq=written.seq))
    session.flush()
    return log


def dataclass_replace(event: Seeded, **changes: Any) -> Seeded:
    return Seeded(**{**event.__dict__, **changes})


def client_id(token: str) -> str:
    return token.split(".")[1]


def events(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of matching events (following next_cursor), newest first."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/audit/events", params=query, headers=bearer(token))
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def seqs_of(items: Iterable[dict[str, Any]]) -> list[int]:
    return [item["seq"] for item in items]


def case_events(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leave out auditors' own look-ups (a look-up for a child is itself an event about them)."""
    return [item for item in items if not item["action"].startswith("audit.")]


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def auditor(make_client: Callable[..., str]) -> str:
    """A national auditor (no authority)."""
    return make_client(role="auditor", authority=None, name="national auditor")


# --- each filter ----------------------------------------------------------------------------------


def test_the_window_alone_gives_every_seeded_event_newest_first(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)

    found = events(client, auditor, **WINDOW)

    assert seqs_of(found) == log.seqs()
    first = found[-1]
    assert first["occurred_at"].startswith("2019-03-01T09:00:00")
    assert first["action"] == "transfer.sent"
    assert first["outcome"] == "denied"
    assert first["actor_authority"] == log.gss["202"]
    assert first["counterpart_authority"] == log.gss["873"]
    assert first["role"] == "authority"
    assert first["acting_user"] == f"{log.tag}.user0"
    assert first["transfer_id"] == log.transfers[0]
    assert first["purpose"] == "Children Act 1989 s47"
    assert first["source_address"] == "10.0.0.8"
    assert first["details"] == {"i": 0}
    assert sorted(first["child_refs"]) == sorted(
        [nhs_pseudonym(log.nhs_numbers[0]), la_child_pseudonym(log.gss["202"], log.la_ids[0][1])]
    )
    assert len(first["hash"]) == 64


@pytest.mark.parametrize("code", ["301", "E09000002", "e09000002"])
def test_by_authority_as_dfe_or_gss_code(
    client: TestClient, session: Session, auditor: str, code: str
) -> None:
    log = seed(session)
    barking = log.gss["301"]

    found = events(client, auditor, authority=code, **WINDOW)

    assert seqs_of(found) == log.seqs(lambda e: barking in (e.actor, e.counterpart))
    assert all(barking in (i["actor_authority"], i["counterpart_authority"]) for i in found)


def test_an_unknown_authority_is_a_problem(client: TestClient, auditor: str) -> None:
    response = client.get("/v1/audit/events", params={"authority": "999"}, headers=bearer(auditor))

    body = assert_problem(response, 404, "not-found")
    assert "999" in body["detail"]


@pytest.mark.parametrize("action", ACTIONS)
def test_by_action(client: TestClient, session: Session, auditor: str, action: str) -> None:
    log = seed(session)

    found = events(client, auditor, action=action, **WINDOW)

    assert seqs_of(found) == log.seqs(lambda e: e.action == action)
    assert found, "every action was seeded"


@pytest.mark.parametrize("outcome", ["success", "denied"])
def test_by_outcome(client: TestClient, session: Session, auditor: str, outcome: str) -> None:
    log = seed(session)

    found = events(client, auditor, outcome=outcome, **WINDOW)

    assert seqs_of(found) == log.seqs(lambda e: e.outcome == outcome)


def test_by_date_range_from_inclusive_to_exclusive(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    start, end = log.events[5].occurred_at, log.events[12].occurred_at

    found = events(
        client,
        auditor,
        occurred_from=start.isoformat(),
        occurred_to=end.isoformat(),
    )
    only_from = events(client, auditor, occurred_from=log.events[40].occurred_at.isoformat())

    seeded = {e.seq for e in log.events}
    assert seqs_of(found) == log.seqs(lambda e: start <= e.occurred_at < end)
    assert len(found) == 7
    assert [s for s in seqs_of(only_from) if s in seeded] == [
        log.events[41].seq,
        log.events[40].seq,
    ]


def test_a_date_range_in_another_time_zone_means_the_same_instants(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    start = log.events[3].occurred_at
    in_paris = start.astimezone(dt.timezone(dt.timedelta(hours=1)))

    found = events(
        client,
        auditor,
        occurred_from=in_paris.isoformat(),
        occurred_to=(in_paris + dt.timedelta(days=2)).isoformat(),
    )

    assert seqs_of(found) == [log.events[4].seq, log.events[3].seq]


def test_a_date_range_without_an_offset_is_read_as_utc_or_refused(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    naive = {"occurred_from": "2019-03-04T09:03:00", "occurred_to": "2019-03-06T09:05:00"}

    response = client.get("/v1/audit/events", params=naive, headers=bearer(auditor))

    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert seqs_of(response.json()["items"]) == [log.events[4].seq, log.events[3].seq]
    else:
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_by_transfer(client: TestClient, session: Session, auditor: str) -> None:
    log = seed(session)

    found = events(client, auditor, transfer_id=log.transfers[4])

    assert seqs_of(found) == log.seqs(lambda e: e.transfer_id == log.transfers[4])
    assert len(found) == 7


def test_by_acting_user(client: TestClient, session: Session, auditor: str) -> None:
    log = seed(session)
    user = f"{log.tag}.user3"

    found = events(client, auditor, acting_user=user)

    assert seqs_of(found) == log.seqs(lambda e: e.user == user)
    assert {i["acting_user"] for i in found} == {user}


def test_filters_combine(client: TestClient, session: Session, auditor: str) -> None:
    log = seed(session)
    user, action = f"{log.tag}.user1", "record.read"

    found = events(client, auditor, acting_user=user, action=action, outcome="success")

    assert seqs_of(found) == log.seqs(
        lambda e: e.user == user and e.action == action and e.outcome == "success"
    )


@pytest.mark.parametrize("spacing", ["plain", "spaced"])
def test_by_childs_nhs_number(
    client: TestClient, session: Session, auditor: str, spacing: str
) -> None:
    log = seed(session)
    nhs = log.nhs_numbers[1]
    given = nhs if spacing == "plain" else f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"

    response = client.get(
        "/v1/audit/events", params={"child_nhs_number": given}, headers=bearer(auditor)
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert seqs_of(case_events(items)) == log.seqs(lambda e: e.child == 1)
    own_lookup = items[0]
    assert own_lookup["action"] == "audit.queried"
    assert own_lookup["client_id"] == client_id(auditor)
    assert nhs not in response.text


@pytest.mark.parametrize("authority_as", ["dfe", "gss"])
def test_by_la_child_id_and_its_authority(
    client: TestClient, session: Session, auditor: str, authority_as: str
) -> None:
    log = seed(session)
    issuer, la_id = log.la_ids[2]
    code = issuer if authority_as == "dfe" else log.gss[issuer]

    found = events(client, auditor, child_la_id=la_id, child_la_authority=code)
    elsewhere = events(client, auditor, child_la_id=la_id, child_la_authority="873")

    assert seqs_of(case_events(found)) == log.seqs(lambda e: e.child == 2)
    assert issuer != "873"
    assert case_events(elsewhere) == [], "the same id at another authority is another child"
    assert la_id not in json.dumps(found)


def test_an_authoritys_auditor_finds_its_own_childs_la_id_without_naming_the_authority(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    log = seed(session)
    issuer, la_id = log.la_ids[0]
    camden_auditor = make_client(role="auditor", authority=issuer)

    found = events(client, camden_auditor, child_la_id=la_id)

    assert seqs_of(case_events(found)) == log.seqs(lambda e: e.child == 0)


def test_a_national_auditor_must_say_whose_la_child_id_it_is(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)

    response = client.get(
        "/v1/audit/events", params={"child_la_id": log.la_ids[0][1]}, headers=bearer(auditor)
    )

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


# --- cursor pages ---------------------------------------------------------------------------------


def test_pages_are_newest_first_without_gaps_or_repeats(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session, 42)
    params = {"action": "record.read", **WINDOW}
    expected = log.seqs(lambda e: e.action == "record.read")
    assert len(expected) == 11

    pages: list[list[int]] = []
    cursor = None
    while True:
        response = client.get(
            "/v1/audit/events",
            params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=bearer(auditor),
        )
        assert response.status_code == 200, response.text
        pages.append(seqs_of(response.json()["items"]))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        # Events written while the auditor pages (here, newer matching ones) do not shift pages.
        record_event(
            session,
            action="record.read",
            actor=Actor(client_id=None, authority=log.gss["202"], role="authority"),
            occurred_at=BASE + dt.timedelta(days=100),
        )
        session.flush()

    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [s for page in pages for s in page] == expected


def test_a_page_of_exactly_the_rest_ends_the_pages(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    user = f"{log.tag}.user2"
    expected = log.seqs(lambda e: e.user == user)

    response = client.get(
        "/v1/audit/events",
        params={"acting_user": user, "limit": len(expected)},
        headers=bearer(auditor),
    )

    assert seqs_of(response.json()["items"]) == expected
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["abc", "-5", "1.5"])
def test_a_cursor_not_given_by_the_service_is_a_problem(
    client: TestClient, auditor: str, cursor: str
) -> None:
    response = client.get("/v1/audit/events", params={"cursor": cursor}, headers=bearer(auditor))

    assert_problem(response, 400, "cursor-invalid")


@pytest.mark.parametrize("limit", [0, 501])
def test_the_page_size_is_bounded(client: TestClient, auditor: str, limit: int) -> None:
    response = client.get("/v1/audit/events", params={"limit": limit}, headers=bearer(auditor))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


# --- who may see what -----------------------------------------------------------------------------


def test_an_authoritys_auditor_sees_only_its_authoritys_events(
    client: TestClient, session: Session, make_client: Callable[..., str], auditor: str
) -> None:
    log = seed(session)
    camden = log.gss["202"]
    camden_auditor = make_client(role="auditor", authority="202")
    not_camden = next(
        t
        for t in log.transfers
        if all(camden not in (e.actor, e.counterpart) for e in log.events if e.transfer_id == t)
    )

    own = events(client, camden_auditor, **WINDOW)
    asked_for_barking = events(client, camden_auditor, authority="301", **WINDOW)
    other_transfer = events(client, camden_auditor, transfer_id=not_camden)
    national = events(client, auditor, transfer_id=not_camden)

    assert seqs_of(own) == log.seqs(lambda e: camden in (e.actor, e.counterpart))
    assert len(own) < len(log.events)
    assert seqs_of(asked_for_barking) == log.seqs(
        lambda e: {e.actor, e.counterpart} == {camden, log.gss["301"]}
    )
    assert other_transfer == []
    assert seqs_of(national) == log.seqs(lambda e: e.transfer_id == not_camden) != []


def test_an_authoritys_auditor_exports_only_its_authoritys_events(
    client: TestClient, session: Session, make_client: Callable[..., str]
) -> None:
    log = seed(session)
    camden = log.gss["202"]
    camden_auditor = make_client(role="auditor", authority="202")

    response = client.get(
        "/v1/audit/events/export",
        params={"format": "jsonl", **WINDOW},
        headers=bearer(camden_auditor),
    )

    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [r["seq"] for r in rows] == sorted(
        log.seqs(lambda e: camden in (e.actor, e.counterpart))
    )


@pytest.mark.parametrize(
    "path",
    ["/v1/audit/events", "/v1/audit/events/export", "/v1/audit/verify", "/v1/reports/activity"],
)
@pytest.mark.parametrize(("role", "authority"), [("authority", "202"), ("admin", None)])
def test_authority_and_admin_clients_are_refused_and_the_refusal_is_logged(
    client: TestClient,
    make_client: Callable[..., str],
    auditor: str,
    path: str,
    role: str,
    authority: str | None,
) -> None:
    token = make_client(role=role, authority=authority)
    user = f"curious.{uuid.uuid4().hex[:8]}"

    response = client.get(path, headers=bearer(token, **{"X-Acting-User": user}))
    logged = events(client, auditor, acting_user=user)

    body = assert_problem(response, 403, "forbidden")
    assert "auditor" in body["detail"]
    assert [(e["action"], e["outcome"], e["role"]) for e in logged] == [
        ("access.denied", "denied", role)
    ]
    assert logged[0]["client_id"] == client_id(token)
    assert logged[0]["details"] == {"needed_role": "auditor"}
    assert events(client, auditor, acting_user=user, outcome="denied") == logged


def test_a_wrong_secret_for_a_known_auditor_client_is_refused_and_logged(
    client: TestClient, auditor: str, make_client: Callable[..., str]
) -> None:
    victim = make_client(role="auditor", authority=None, name="ig team")
    forged = f"exch.{client_id(victim)}.{'x' * 43}"
    user = f"intruder.{uuid.uuid4().hex[:8]}"

    response = client.get("/v1/audit/events", headers=bearer(forged, **{"X-Acting-User": user}))
    logged = events(client, auditor, acting_user=user, outcome="denied")

    assert_problem(response, 401, "unauthenticated")
    assert [(e["action"], e["client_id"], e["details"]) for e in logged] == [
        ("auth.denied", client_id(victim), {"reason": "token-mismatch"})
    ]


def test_no_token_is_refused(client: TestClient) -> None:
    assert_problem(client.get("/v1/audit/events"), 401, "unauthenticated")
    assert_problem(client.get("/v1/audit/events/export"), 401, "unauthenticated")


# --- auditors are audited, and never leave a child's NHS number behind ----------------------------


def raw_audit_text(session: Session) -> str:
    """Every column of every row of the audit tables, as text."""
    rows = session.execute(text("SELECT * FROM audit_events")).all()
    refs = session.execute(text("SELECT * FROM audit_child_refs")).all()
    return "\n".join(" ".join(str(v) for v in row) for row in [*rows, *refs])


def test_an_auditors_query_is_itself_audited_without_the_nhs_number_in_clear(
    client: TestClient,
    session: Session,
    auditor: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = seed(session)
    nhs = log.nhs_numbers[0]
    officer = f"ig.officer.{log.tag}"

    asked = client.get(
        "/v1/audit/events",
        params={"child_nhs_number": nhs, "action": "record.read"},
        headers=bearer(auditor, **{"X-Acting-User": officer}),
    )
    trail = events(client, auditor, acting_user=officer)

    assert asked.status_code == 200, asked.text
    assert seqs_of(asked.json()["items"]) == log.seqs(
        lambda e: e.child == 0 and e.action == "record.read"
    ), "the look-up is an audit.queried event, so not among record.read events"
    assert [(e["action"], e["outcome"], e["role"]) for e in trail] == [
        ("audit.queried", "success", "auditor")
    ]
    query_event = trail[0]
    assert query_event["client_id"] == client_id(auditor)
    assert query_event["child_refs"] == [nhs_pseudonym(nhs)]
    assert query_event["details"].get("action") == "record.read"
    assert nhs not in json.dumps(query_event)
    assert nhs not in asked.text
    assert nhs not in raw_audit_text(session)
    service_logs = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert service_logs, "the service logs each request"
    assert not [r for r in service_logs if nhs in r.getMessage() or nhs in str(r.__dict__)]


def test_an_export_is_audited(client: TestClient, session: Session, auditor: str) -> None:
    log = seed(session)
    officer = f"ig.officer.{log.tag}"

    client.get(
        "/v1/audit/events/export",
        params={"transfer_id": log.transfers[0], "format": "csv"},
        headers=bearer(auditor, **{"X-Acting-User": officer}),
    )
    trail = events(client, auditor, acting_user=officer)

    assert [(e["action"], e["details"].get("transfer_id")) for e in trail] == [
        ("audit.exported", log.transfers[0])
    ]


# --- exports --------------------------------------------------------------------------------------


def test_the_csv_export_holds_the_matching_events_oldest_first(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    user = f"{log.tag}.user4"

    response = client.get(
        "/v1/audit/events/export",
        params={"format": "csv", "acting_user": user},
        headers=bearer(auditor),
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == EXPORT_COLUMNS
    records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [int(r["seq"]) for r in records] == sorted(log.seqs(lambda e: e.user == user))
    assert {r["acting_user"] for r in records} == {user}
    first = next(e for e in log.events if e.user == user)
    assert records[0]["transfer_id"] == first.transfer_id
    assert records[0]["action"] == first.action
    assert dt.datetime.fromisoformat(records[0]["occurred_at"]) == first.occurred_at
    assert json.loads(records[0]["details"]) == {"i": log.events.index(first)}


def test_the_json_lines_export_holds_the_matching_events_oldest_first(
    client: TestClient, session: Session, auditor: str
) -> None:
    log = seed(session)
    nhs = log.nhs_numbers[2]

    response = client.get(
        "/v1/audit/events/export",
        params={"format": "jsonl", "child_nhs_number": nhs},
        headers=bearer(auditor),
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jsonl")
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [r["seq"] for r in case_events(rows)] == sorted(log.seqs(lambda e: e.child == 2))
    assert [r["action"] for r in rows][-1] == "audit.exported", "the export is on record first"
    assert all(set(r) == set(EXPORT_COLUMNS) for r in rows)
    assert all(nhs_pseudonym(nhs) in r["child_refs"] for r in rows)
    assert nhs not in response.text


def test_an_export_with_nothing_matching_is_just_the_header(
    client: TestClient, auditor: str
) -> None:
    nobody = f"nobody.{uuid.uuid4().hex}"

    as_csv = client.get(
        "/v1/audit/events/export", params={"acting_user": nobody}, headers=bearer(auditor)
    )
    as_jsonl = client.get(
        "/v1/audit/events/export",
        params={"acting_user": nobody, "format": "jsonl"},
        headers=bearer(auditor),
    )

    assert list(csv.reader(io.StringIO(as_csv.text))) == [EXPORT_COLUMNS]
    assert as_jsonl.status_code == 200
    assert as_jsonl.text == ""


def test_spreadsheet_formulas_in_a_csv_export_are_neutralised(
    client: TestClient, session: Session, auditor: str
) -> None:
    transfer_id = str(uuid.uuid4())
    hostile = {
        "acting_user": "=cmd|' /C calc'!A0",
        "request_id": "+SUM(1,2)",
        "source_address": "-2+3",
        "client_id": "@SUM(A1)",
    }
    record_event(
        session,
        action="record.read",
        actor=Actor(authority="E09000007", role="authority", **hostile),
        transfer_id=transfer_id,
        purpose='=HYPERLINK("https://evil.example","open")',
    )
    session.flush()

    as_csv = client.get(
        "/v1/audit/events/export",
        params={"transfer_id": transfer_id, "format": "csv"},
        headers=bearer(auditor),
    )
    as_jsonl = client.get(
        "/v1/audit/events/export",
        params={"transfer_id": transfer_id, "format": "jsonl"},
        headers=bearer(auditor),
    )

    rows = list(csv.reader(io.StringIO(as_csv.text)))
    [cells] = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    for column, value in hostile.items():
        assert cells[column] == "'" + value, column
    assert cells["purpose"] == '\'=HYPERLINK("https://evil.example","open")'
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    [exact] = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert exact["acting_user"] == hostile["acting_user"], "JSON Lines keep values exact"


def test_formulas_sent_through_the_transfer_api_are_neutralised_in_the_export(
    client: TestClient, make_client: Callable[..., str], auditor: str
) -> None:
    camden = make_client(authority="202")
    legal_basis = '=HYPERLINK("https://evil.example","Children Act 1989")'
    sent = client.post(
        "/v1/transfers",
        json=transfer_body(legal_basis=legal_basis),
        headers=idempotent(camden, **{"X-Acting-User": "@duty.team"}),
    )
    assert sent.status_code == 201, sent.text

    exported = client.get(
        "/v1/audit/events/export",
        params={"transfer_id": sent.json()["id"], "format": "csv"},
        headers=bearer(auditor),
    )

    rows = list(csv.reader(io.StringIO(exported.text)))
    [cells] = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert cells["action"] == "transfer.sent"
    assert cells["acting_user"] == "'@duty.team"
    assert cells["purpose"] == "'" + legal_basis
