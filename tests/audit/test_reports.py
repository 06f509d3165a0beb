"""Reports for managers and auditors (issue 5): timeliness per authority, activity per member of
staff, volumes by month and what is overdue now, as JSON and CSV, through /v1/reports/{name} and
`exchange report`.

The API tests drive transfers through HTTP in the test's rolled-back transaction, with the
transfer service's clock set to days in 2025 (so the figures are known); they ask for Camden's
reports, which only these tests' transfers touch. The command-line tests commit transfers between
Cumberland (942) and Westmorland and Furness (943) and compare the reports before and after.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from support import bearer, idempotent, minimal_record, transfer_body
from typer.testing import CliRunner

from exchange.audit.service import Actor, record_event
from exchange.transfers import service

CAMDEN, CAMBRIDGESHIRE, BARKING = "E09000007", "E10000003", "E09000002"
CUMBERLAND, WESTMORLAND = "E06000063", "E06000064"
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)  # a Monday
HOUR = dt.timedelta(hours=1)


class Clock:
    """The transfer service's idea of now, set by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    now = Clock(T0)
    monkeypatch.setattr(service, "utcnow", now)
    return now


@dataclass
class Scenario:
    """Five transfers touching Camden, sent and handled at known times in 2025."""

    tag: str
    camden: str
    cambs: str
    barking: str
    ids: dict[str, str]
    due: dict[str, dt.date]


class Driver:
    def __init__(self, client: TestClient, clock: Clock, tag: str) -> None:
        self.client, self.clock, self.tag = client, clock, tag

    def send(self, token: str, source: str, to: str, at: dt.datetime, user: str) -> str:
        self.clock.at = at
        record = minimal_record(source, f"R{uuid.uuid4().hex[:10]}")
        response = self.client.post(
            "/v1/transfers",
            json=transfer_body([record], to=to),
            headers=idempotent(token, **{"X-Acting-User": user}),
        )
        assert response.status_code == 201, response.text
        transfer_id: str = response.json()["id"]
        return transfer_id

    def acknowledge(self, token: str, transfer_id: str, at: dt.datetime, user: str) -> dt.date:
        self.clock.at = at
        response = self.client.post(
            f"/v1/transfers/{transfer_id}/acknowledge",
            headers=bearer(token, **{"X-Acting-User": user}),
        )
        assert response.status_code == 200, response.text
        return dt.date.fromisoformat(response.json()["transfer_in_conference_due"])

    def accept(
        self, token: str, transfer_id: str, at: dt.datetime, conference: dt.date, user: str
    ) -> None:
        self.clock.at = at
        response = self.client.post(
            f"/v1/transfers/{transfer_id}/children/1/accept",
            json={"receiver_child_id": "NEW-1", "transfer_in_conference_date": str(conference)},
            headers=bearer(token, **{"X-Acting-User": user}),
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def scenario(client: TestClient, make_client: Callable[..., str], clock: Clock) -> Scenario:
    """A: to Cambridgeshire, acknowledged in 4 h, accepted 20 h later, conference on the due day.
    B: to Cambridgeshire, acknowledged in 10 h, accepted 30 h later, conference a day late.
    C: to Cambridgeshire, acknowledged in 6 h, never decided.
    D: to Barking and Dagenham in April, never read.
    E: from Barking and Dagenham to Camden in April, acknowledged in 2 h, accepted 1 h later."""
    tag = uuid.uuid4().hex[:6]
    camden, cambs, barking = (
        make_client(authority="202"),
        make_client(authority="873"),
        make_client(authority="301"),
    )
    drive = Driver(client, clock, tag)
    sender, cambs_user, barking_user, camden_duty = (
        f"sw.{tag}",
        f"team.{tag}",
        f"bd.{tag}",
        f"duty.{tag}",
    )
    ids: dict[str, str] = {}
    due: dict[str, dt.date] = {}

    ids["A"] = drive.send(camden, "202", "873", T0, sender)
    due["A"] = drive.acknowledge(cambs, ids["A"], T0 + 4 * HOUR, cambs_user)
    drive.accept(cambs, ids["A"], T0 + 24 * HOUR, due["A"], cambs_user)

    sent_b = T0 + 24 * HOUR
    ids["B"] = drive.send(camden, "202", "873", sent_b, sender)
    due["B"] = drive.acknowledge(cambs, ids["B"], sent_b + 10 * HOUR, cambs_user)
    drive.accept(cambs, ids["B"], sent_b + 40 * HOUR, due["B"] + dt.timedelta(days=1), cambs_user)

    sent_c = T0 + 48 * HOUR
    ids["C"] = drive.send(camden, "202", "873", sent_c, sender)
    due["C"] = drive.acknowledge(cambs, ids["C"], sent_c + 6 * HOUR, cambs_user)

    april = dt.datetime(2025, 4, 7, 10, 0, tzinfo=dt.UTC)
    ids["D"] = drive.send(camden, "202", "301", april, sender)

    ids["E"] = drive.send(barking, "301", "202", april + HOUR, barking_user)
    due["E"] = drive.acknowledge(camden, ids["E"], april + 3 * HOUR, camden_duty)
    drive.accept(camden, ids["E"], april + 4 * HOUR, due["E"] - dt.timedelta(days=3), camden_duty)
    return Scenario(tag, camden, cambs, barking, ids, due)


@pytest.fixture
def auditor(make_client: Callable[..., str]) -> str:
    return make_client(role="auditor", authority=None)


def report(client: TestClient, token: str, name: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/v1/reports/{name}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["report"] == name
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """JSON rows as a CSV reader gives them back."""
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


# --- timeliness -----------------------------------------------------------------------------------


def test_timeliness_per_receiving_authority(
    client: TestClient, scenario: Scenario, auditor: str
) -> None:
    rows = {r["authority"]: r for r in report(client, auditor, "timeliness", authority="202")}

    assert rows[CAMBRIDGESHIRE] == {
        "authority": CAMBRIDGESHIRE,
        "transfers": 3,
        "median_hours_sent_to_acknowledged": 6.0,
        "median_hours_acknowledged_to_accepted": 25.0,
        "transfer_in_conferences": 2,
        "conferences_within_15_working_days": 1,
        "share_within_15_working_days": 0.5,
    }
    assert rows[BARKING]["transfers"] == 1
    assert rows[BARKING]["median_hours_sent_to_acknowledged"] is None
    assert rows[BARKING]["share_within_15_working_days"] is None
    assert rows[CAMDEN]["median_hours_sent_to_acknowledged"] == 2.0
    assert rows[CAMDEN]["median_hours_acknowledged_to_accepted"] == 1.0
    assert rows[CAMDEN]["share_within_15_working_days"] == 1.0
    assert set(rows) == {CAMBRIDGESHIRE, BARKING, CAMDEN}


def test_timeliness_since_a_date_leaves_earlier_transfers_out(
    client: TestClient, scenario: Scenario, auditor: str
) -> None:
    rows = {
        r["authority"]: r
        for r in report(client, auditor, "timeliness", authority="202", since="2025-03-04")
    }

    assert rows[CAMBRIDGESHIRE]["transfers"] == 2  # B and C; A was sent on 3 March
    assert rows[CAMBRIDGESHIRE]["median_hours_sent_to_acknowledged"] == 8.0


def test_timeliness_since_a_date_leaves_earlier_conferences_out(
    client: TestClient, scenario: Scenario, auditor: str
) -> None:
    rows = {
        r["authority"]: r
        for r in report(client, auditor, "timeliness", authority="202", since="2025-03-04")
    }

    # Only B's conference (a day late) is of a transfer sent since 4 March.
    assert rows[CAMBRIDGESHIRE]["transfer_in_conferences"] == 1
    assert rows[CAMBRIDGESHIRE]["share_within_15_working_days"] == 0.0


# --- activity -------------------------------------------------------------------------------------


def test_activity_per_member_of_staff(client: TestClient, scenario: Scenario, auditor: str) -> None:
    tag = scenario.tag

    everyone = report(client, auditor, "activity")
    camden_only = report(client, auditor, "activity", authority="202")

    mine = {
        (r["authority"], r["acting_user"], r["action"]): r["count"]
        for r in everyone
        if (r["acting_user"] or "").endswith(tag)
    }
    assert mine == {
        (CAMDEN, f"sw.{tag}", "transfer.sent"): 4,
        (CAMDEN, f"duty.{tag}", "transfer.received"): 1,
        (CAMDEN, f"duty.{tag}", "transfer.acknowledged"): 1,
        (CAMDEN, f"duty.{tag}", "child.accepted"): 1,
        (CAMBRIDGESHIRE, f"team.{tag}", "transfer.received"): 3,
        (CAMBRIDGESHIRE, f"team.{tag}", "transfer.acknowledged"): 3,
        (CAMBRIDGESHIRE, f"team.{tag}", "child.accepted"): 2,
        (BARKING, f"bd.{tag}", "transfer.sent"): 1,
    }
    assert {r["authority"] for r in camden_only} == {CAMDEN}
    assert {r["acting_user"] for r in camden_only if (r["acting_user"] or "").endswith(tag)} == {
        f"sw.{tag}",
        f"duty.{tag}",
    }


def test_activity_since_a_date(client: TestClient, session: Session, auditor: str) -> None:
    user = f"sw.{uuid.uuid4().hex[:6]}"
    actor = Actor(client_id=None, authority=CAMDEN, role="authority", acting_user=user)
    for month, action in ((5, "record.read"), (7, "record.read"), (7, "document.read")):
        record_event(
            session,
            action=action,
            actor=actor,
            occurred_at=dt.datetime(2019, month, 1, 12, tzinfo=dt.UTC),
        )
    session.flush()

    all_time = report(client, auditor, "activity", authority="202")
    since_june = report(client, auditor, "activity", authority="202", since="2019-06-01")

    def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {r["action"]: r["count"] for r in rows if r["acting_user"] == user}

    assert counts(all_time) == {"record.read": 2, "document.read": 1}
    assert counts(since_june) == {"record.read": 1, "document.read": 1}


# --- volumes --------------------------------------------------------------------------------------


def test_volumes_by_month(client: TestClient, scenario: Scenario, auditor: str) -> None:
    rows = report(client, auditor, "volumes", authority="202")

    assert rows == [
        {
            "month": "2025-03",
            "from_authority": CAMDEN,
            "to_authority": CAMBRIDGESHIRE,
            "transfers": 3,
        },
        {"month": "2025-04", "from_authority": BARKING, "to_authority": CAMDEN, "transfers": 1},
        {"month": "2025-04", "from_authority": CAMDEN, "to_authority": BARKING, "transfers": 1},
    ]


def test_volumes_since_a_date(client: TestClient, scenario: Scenario, auditor: str) -> None:
    rows = report(client, auditor, "volumes", authority="202", since="2025-04-01")

    assert {r["month"] for r in rows} == {"2025-04"}


# --- overdue now ----------------------------------------------------------------------------------


def test_overdue_now(client: TestClient, scenario: Scenario, auditor: str, clock: Clock) -> None:
    clock.at = dt.datetime.now(dt.UTC)
    fresh = Driver(client, clock, scenario.tag).send(
        scenario.camden, "202", "873", clock.at, f"sw.{scenario.tag}"
    )

    rows = report(client, auditor, "overdue", authority="202")

    by_id = {r["transfer_id"]: r for r in rows}
    assert list(by_id) == [scenario.ids["C"], scenario.ids["D"]], "open and late, oldest first"
    assert fresh not in by_id
    late_c, late_d = by_id[scenario.ids["C"]], by_id[scenario.ids["D"]]
    assert late_c["status"] == "acknowledged"
    assert (late_c["acknowledgement_overdue"], late_c["conference_overdue"]) == (False, True)
    assert late_c["transfer_in_conference_due"] == scenario.due["C"].isoformat()
    assert late_d["status"] == "sent"
    assert (late_d["acknowledgement_overdue"], late_d["conference_overdue"]) == (True, True)
    assert (late_d["from_authority"], late_d["to_authority"]) == (CAMDEN, BARKING)


# --- CSV, scope and audit of the reports ----------------------------------------------------------


@pytest.mark.parametrize("name", ["timeliness", "activity", "volumes", "overdue"])
def test_each_report_as_csv_holds_the_same_rows_as_json(
    client: TestClient, scenario: Scenario, auditor: str, name: str
) -> None:
    rows = report(client, auditor, name, authority="202")

    response = client.get(
        f"/v1/reports/{name}", params={"authority": "202", "format": "csv"}, headers=bearer(auditor)
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert rows, "the scenario gives every report some rows"
    assert list(csv.DictReader(io.StringIO(response.text))) == as_text(rows)


def test_an_authoritys_auditor_gets_its_own_authoritys_reports_only(
    client: TestClient, scenario: Scenario, make_client: Callable[..., str], auditor: str
) -> None:
    camden_auditor = make_client(role="auditor", authority="202")

    for name in ("timeliness", "volumes", "overdue"):
        asked_for_barking = report(client, camden_auditor, name, authority="301")
        unscoped = report(client, camden_auditor, name)
        national_view_of_camden = report(client, auditor, name, authority="202")
        assert asked_for_barking == unscoped == national_view_of_camden, name


def test_reports_are_audited(client: TestClient, scenario: Scenario, auditor: str) -> None:
    officer = f"ig.{scenario.tag}"

    client.get(
        "/v1/reports/volumes",
        params={"authority": "873"},
        headers=bearer(auditor, **{"X-Acting-User": officer}),
    )
    trail = client.get(
        "/v1/audit/events", params={"acting_user": officer}, headers=bearer(auditor)
    ).json()["items"]

    assert [(e["action"], e["details"]) for e in trail] == [
        ("report.volumes", {"authority": CAMBRIDGESHIRE})
    ]


def test_an_unknown_report_or_format_is_refused(client: TestClient, auditor: str) -> None:
    unknown = client.get("/v1/reports/everything", headers=bearer(auditor))
    bad_format = client.get("/v1/reports/volumes?format=xlsx", headers=bearer(auditor))

    assert unknown.status_code == 422, unknown.text
    assert bad_format.status_code == 422, bad_format.text
    assert unknown.headers["content-type"].startswith("application/problem+json")


# --- `exchange report` ----------------------------------------------------------------------------


def cli(*args: str) -> Any:
    from exchange.cli import app

    return CliRunner().invoke(app, list(args))


def cli_rows(*args: str) -> list[dict[str, Any]]:
    result = cli("report", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def committed_transfers(count: int, at: dt.datetime, *, acknowledge: bool = False) -> list[str]:
    """Transfers from Cumberland to Westmorland and Furness, sent (and acknowledged an hour
    later) at ``at`` by the transfer service, committed."""
    from exchange.authorities.auth import Principal, Role
    from exchange.db import session_scope
    from exchange.transfers.schemas import Urgency

    def principal(authority: str, user: str) -> Principal:
        return Principal(
            client_id=str(uuid.uuid4()),
            client_name="report test",
            role=Role.AUTHORITY,
            authority=authority,
            acting_user=user,
            request_id=None,
            source_address=None,
        )

    sender, receiver = principal(CUMBERLAND, "cumb.sw"), principal(WESTMORLAND, "wf.duty")
    ids = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "utcnow", lambda: at)
        with session_scope() as db:
            for _ in range(count):
                prepared = service.prepare_records(
                    db, [minimal_record("942", f"CU{uuid.uuid4().hex[:10]}")]
                )
                transfer = service.create_transfer(
                    db,
                    sender,
                    reason="The family moved to Kendal.",
                    legal_basis="Children Act 1989 s47",
                    urgency=Urgency.ROUTINE,
                    prepared=prepared,
                    receiver=service.resolve_receiver(db, sender, "943"),
                )
                ids.append(transfer.id)
        if acknowledge:
            patch.setattr(service, "utcnow", lambda: at + HOUR)
            with session_scope() as db:
                for transfer_id in ids:
                    service.acknowledge(db, receiver, transfer_id)
    return ids


def test_the_volumes_command_counts_committed_transfers(database_url: str) -> None:
    def february(rows: list[dict[str, Any]]) -> int:
        return sum(
            r["transfers"]
            for r in rows
            if r["month"] == "2024-02" and r["to_authority"] == WESTMORLAND
        )

    before = february(cli_rows("volumes", "--authority", "942"))
    committed_transfers(2, dt.datetime(2024, 2, 12, 10, tzinfo=dt.UTC))
    after_json = cli_rows("volumes", "--authority", "E06000063")
    after_csv = cli("report", "volumes", "--authority", "942")

    assert february(after_json) == before + 2
    assert after_csv.exit_code == 0, after_csv.output
    assert list(csv.DictReader(io.StringIO(after_csv.stdout))) == as_text(after_json)


def test_the_timeliness_and_overdue_commands(database_url: str) -> None:
    def row(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return next((r for r in rows if r["authority"] == WESTMORLAND), {"transfers": 0})

    before = row(cli_rows("timeliness", "--authority", "943"))
    ids = committed_transfers(2, dt.datetime(2024, 3, 4, 9, tzinfo=dt.UTC), acknowledge=True)

    after = row(cli_rows("timeliness", "--authority", "943"))
    since = cli_rows("timeliness", "--authority", "943", "--since", "2024-03-04")
    overdue = cli_rows("overdue", "--authority", "943")

    assert after["transfers"] == before["transfers"] + 2
    assert row(since)["transfers"] >= 2
    late = {r["transfer_id"]: r for r in overdue}
    assert set(ids) <= set(late)
    assert all(
        late[i]["conference_overdue"] and not late[i]["acknowledgement_overdue"] for i in ids
    )


def test_the_activity_command(database_url: str) -> None:
    before = {
        r["action"]: r["count"]
        for r in cli_rows("activity", "--authority", "942")
        if r["acting_user"] == "cumb.sw"
    }
    committed_transfers(1, dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))

    after = {
        r["action"]: r["count"]
        for r in cli_rows("activity", "--authority", "942")
        if r["acting_user"] == "cumb.sw"
    }

    assert after.get("transfer.sent", 0) == before.get("transfer.sent", 0) + 1


@pytest.mark.parametrize(
    "args",
    [
        ["everything"],
        ["volumes", "--format", "xlsx"],
        ["volumes", "--authority", "999"],
    ],
)
def test_the_report_command_refuses_what_it_cannot_do(database_url: str, args: list[str]) -> None:
    result = cli("report", *args)

    assert result.exit_code == 2, result.output
