"""The transfer lifecycle through HTTP: each step, who took it and when, and the steps refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import bearer, example, idempotent, minimal_record, transfer_body

from exchange.audit.models import AuditEvent
from exchange.transfers.models import TransferChild, TransferTransition

LONDON = ZoneInfo("Europe/London")
Json = dict[str, Any]


# -- helpers -------------------------------------------------------------------------------------


def nhs_number(first_nine: str) -> str:
    """A valid NHS number from its first nine digits (modulus 11 check digit)."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    assert check != 10, f"{first_nine} has no valid check digit"
    return first_nine + str(check)


SHARED_PEOPLE = [
    {
        "id": "rp-mother",
        "names": [{"given": "Rosa", "family": "Specimen"}],
        "relationship": "mother",
        "parental_responsibility": True,
        "lives_with_child": True,
    },
    {
        "id": "rp-father",
        "names": [{"given": "Dominic", "family": "Placeholder"}],
        "relationship": "father",
        "parental_responsibility": True,
        "lives_with_child": False,
    },
]


def sibling_group() -> list[Json]:
    """Three children of the same family: they share their mother and father."""
    records = []
    for n, (first_nine, birth) in enumerate(
        [("943476591", "2014-02-01"), ("401023213", "2017-06-11"), ("401023221", "2020-09-30")],
        1,
    ):
        record = minimal_record(la_child_id=f"SIB{n}", birth_date=birth)
        record["child"]["identifiers"][1]["value"] = nhs_number(first_nine)
        record["related_people"] = json.loads(json.dumps(SHARED_PEOPLE))
        records.append(record)
    return records


class Parties:
    """Camden (202) sends, Cambridgeshire (873) receives; Barking and Dagenham (301) looks on."""

    def __init__(self, client: TestClient, make_client: Callable[..., str]) -> None:
        self.client = client
        self.sender = make_client(authority="202", name="Camden LCS")
        self.receiver = make_client(authority="873", name="Cambridgeshire Mosaic")
        self.outsider = make_client(authority="301", name="Barking and Dagenham")

    def send(self, records: list[Json] | None = None, user: str = "sw.jones", **extra: Any) -> Json:
        response = self.client.post(
            "/v1/transfers",
            json=transfer_body(records, **extra),
            headers=idempotent(self.sender, **{"X-Acting-User": user}),
        )
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, transfer_id: str, token: str | None = None, user: str | None = None) -> Json:
        headers = bearer(token or self.receiver, **({"X-Acting-User": user} if user else {}))
        response = self.client.get(f"/v1/transfers/{transfer_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, token: str, body: Json | None = None, user: str | None = None) -> Any:
        headers = bearer(token, **({"X-Acting-User": user} if user else {}))
        return self.client.post(path, json=body, headers=headers)

    def acknowledge(self, transfer_id: str, user: str | None = None) -> Json:
        response = self.post(f"/v1/transfers/{transfer_id}/acknowledge", self.receiver, user=user)
        assert response.status_code == 200, response.text
        return response.json()

    def accept(self, transfer_id: str, position: int = 1, child_id: str = "CAM-1") -> Any:
        return self.post(
            f"/v1/transfers/{transfer_id}/children/{position}/accept",
            self.receiver,
            {"receiver_child_id": child_id, "transfer_in_conference_date": "2026-12-08"},
            user="team.manager",
        )

    def decline(self, transfer_id: str, position: int = 1, reason: str = "Not resident.") -> Any:
        return self.post(
            f"/v1/transfers/{transfer_id}/children/{position}/decline",
            self.receiver,
            {"reason": reason},
            user="team.manager",
        )


@pytest.fixture
def parties(client: TestClient, make_client: Callable[..., str]) -> Parties:
    return Parties(client, make_client)


def assert_conflict(response: Any, current_status: str) -> Json:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: Json = response.json()
    assert body["code"] == "transition-not-allowed"
    assert body["current_status"] == current_status
    assert body["fix"]
    return body


def when(stamp: str | None) -> dt.datetime:
    assert stamp is not None
    return dt.datetime.fromisoformat(stamp)


def transitions(session: Session, transfer_id: str) -> list[tuple[str | None, str, str | None]]:
    rows = session.scalars(
        select(TransferTransition)
        .where(TransferTransition.transfer_id == transfer_id)
        .order_by(TransferTransition.id)
    )
    return [(r.from_status, r.to_status, r.acting_user) for r in rows]


# -- the happy path ------------------------------------------------------------------------------


def test_every_step_is_timestamped_and_names_who_took_it(
    parties: Parties, session: Session
) -> None:
    sent = parties.send(user="sw.jones")
    tid = sent["id"]
    assert sent["status"] == "sent"
    assert sent["created_by_user"] == "sw.jones"
    assert sent["received_at"] is None
    assert sent["acknowledged_at"] is None
    assert sent["decided_at"] is None
    assert sent["closed_at"] is None

    received = parties.get(tid, user="duty.worker")
    assert received["status"] == "received"
    acked = parties.acknowledge(tid, user="team.lead")
    assert acked["status"] == "acknowledged"
    accepted = parties.accept(tid, child_id="CAMBS-77")
    assert accepted.status_code == 200, accepted.text
    done = accepted.json()
    assert done["status"] == "accepted"
    assert done["children"] == [
        {
            "position": 1,
            "status": "accepted",
            "receiver_child_id": "CAMBS-77",
            "transfer_in_conference_date": "2026-12-08",
            "decline_reason": None,
            "decided_at": done["children"][0]["decided_at"],
        }
    ]

    stamps = [
        when(done["created_at"]),
        when(done["received_at"]),
        when(done["acknowledged_at"]),
        when(done["decided_at"]),
    ]
    assert stamps == sorted(stamps)
    assert when(done["closed_at"]) >= when(done["decided_at"])
    assert when(done["children"][0]["decided_at"]) == when(done["decided_at"])
    assert all(s.tzinfo is not None for s in stamps)

    assert transitions(session, tid) == [
        (None, "sent", "sw.jones"),
        ("sent", "received", "duty.worker"),
        ("received", "acknowledged", "team.lead"),
        ("acknowledged", "accepted", "team.manager"),
    ]
    child = session.scalars(select(TransferChild).where(TransferChild.transfer_id == tid)).one()
    assert child.decided_by_user == "team.manager"

    audited = {
        e.action: e.acting_user
        for e in session.scalars(select(AuditEvent).where(AuditEvent.transfer_id == tid))
    }
    assert audited["transfer.sent"] == "sw.jones"
    assert audited["transfer.received"] == "duty.worker"
    assert audited["transfer.acknowledged"] == "team.lead"
    assert audited["child.accepted"] == "team.manager"


def test_only_the_receivers_first_read_marks_the_transfer_received(
    parties: Parties, session: Session
) -> None:
    tid = parties.send()["id"]

    by_sender = parties.get(tid, parties.sender)
    assert by_sender["status"] == "sent"
    assert by_sender["received_at"] is None
    listed = parties.client.get("/v1/inbox", headers=bearer(parties.receiver)).json()
    assert [t["status"] for t in listed["items"] if t["id"] == tid] == ["sent"]

    first = parties.get(tid)
    assert first["status"] == "received"
    assert first["received_at"] is not None
    again = parties.get(tid)
    assert again["status"] == "received"
    assert again["received_at"] == first["received_at"]
    assert parties.get(tid, parties.sender)["received_at"] == first["received_at"]
    assert [t[1] for t in transitions(session, tid)] == ["sent", "received"]


# -- refused steps -------------------------------------------------------------------------------


def test_accepting_or_declining_before_acknowledging_is_refused(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.get(tid)
    assert_conflict(parties.accept(tid), "received")
    assert_conflict(parties.decline(tid), "received")
    after = parties.get(tid)
    assert after["status"] == "received"
    assert after["children"][0]["status"] == "pending"


def test_acknowledging_twice_is_refused(parties: Parties) -> None:
    tid = parties.send()["id"]
    first = parties.acknowledge(tid)
    second = parties.post(f"/v1/transfers/{tid}/acknowledge", parties.receiver)
    body = assert_conflict(second, "acknowledged")
    assert "acknowledged" in body["detail"]
    assert parties.get(tid)["acknowledged_at"] == first["acknowledged_at"]


def test_the_sender_cannot_acknowledge_or_decide(parties: Parties) -> None:
    tid = parties.send()["id"]
    assert_conflict(parties.post(f"/v1/transfers/{tid}/acknowledge", parties.sender), "sent")
    parties.acknowledge(tid)
    decided = parties.post(
        f"/v1/transfers/{tid}/children/1/accept",
        parties.sender,
        {"receiver_child_id": "X", "transfer_in_conference_date": "2026-12-08"},
    )
    assert_conflict(decided, "acknowledged")
    assert parties.get(tid)["status"] == "acknowledged"


def test_the_receiver_cannot_withdraw_or_update(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.get(tid)
    withdrawn = parties.post(f"/v1/transfers/{tid}/withdraw", parties.receiver, {"reason": "No."})
    assert_conflict(withdrawn, "received")
    updated = parties.client.post(
        f"/v1/transfers/{tid}/updates",
        json={"records": [example()]},
        headers=idempotent(parties.receiver),
    )
    assert_conflict(updated, "received")
    assert parties.get(tid)["status"] == "received"


def test_withdrawing_after_acceptance_is_refused(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.acknowledge(tid)
    assert parties.accept(tid).status_code == 200
    response = parties.post(
        f"/v1/transfers/{tid}/withdraw", parties.sender, {"reason": "Family moved back."}
    )
    assert_conflict(response, "accepted")
    assert parties.get(tid, parties.sender)["status"] == "accepted"


def test_a_closed_transfer_takes_no_more_steps(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.acknowledge(tid)
    withdrawn = parties.post(
        f"/v1/transfers/{tid}/withdraw", parties.sender, {"reason": "Family stayed in Camden."}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert_conflict(parties.post(f"/v1/transfers/{tid}/acknowledge", parties.receiver), "withdrawn")
    assert_conflict(parties.accept(tid), "withdrawn")
    again = parties.post(f"/v1/transfers/{tid}/withdraw", parties.sender, {"reason": "Again."})
    assert_conflict(again, "withdrawn")
    updated = parties.client.post(
        f"/v1/transfers/{tid}/updates",
        json={"records": [example()]},
        headers=idempotent(parties.sender),
    )
    assert_conflict(updated, "withdrawn")


def test_an_outsider_cannot_see_or_move_a_transfer(parties: Parties) -> None:
    tid = parties.send()["id"]
    for method, path, body in [
        ("GET", f"/v1/transfers/{tid}", None),
        ("POST", f"/v1/transfers/{tid}/acknowledge", None),
        ("POST", f"/v1/transfers/{tid}/withdraw", {"reason": "Not ours."}),
        (
            "POST",
            f"/v1/transfers/{tid}/children/1/accept",
            {"receiver_child_id": "X", "transfer_in_conference_date": "2026-12-08"},
        ),
    ]:
        response = parties.client.request(method, path, json=body, headers=bearer(parties.outsider))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "transfer-not-found"
    assert parties.get(tid, parties.sender)["status"] == "sent"


# -- sibling groups ------------------------------------------------------------------------------


def test_a_sibling_group_accepted_in_part_is_partially_accepted(parties: Parties) -> None:
    sent = parties.send(sibling_group())
    tid = sent["id"]
    assert [c["status"] for c in sent["children"]] == ["pending"] * 3
    parties.acknowledge(tid)

    first = parties.accept(tid, 1, "CB-1")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "acknowledged"
    assert first.json()["closed_at"] is None
    declined = parties.decline(tid, 2, "Lives with father in Camden.")
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "acknowledged"
    last = parties.accept(tid, 3, "CB-3")
    assert last.status_code == 200, last.text

    done = last.json()
    assert done["status"] == "partially_accepted"
    assert done["closed_at"] is not None
    assert [(c["position"], c["status"]) for c in done["children"]] == [
        (1, "accepted"),
        (2, "declined"),
        (3, "accepted"),
    ]
    assert done["children"][0]["receiver_child_id"] == "CB-1"
    assert done["children"][1]["decline_reason"] == "Lives with father in Camden."
    assert done["children"][1]["receiver_child_id"] is None
    assert parties.get(tid, parties.sender)["status"] == "partially_accepted"


def test_a_sibling_group_declined_for_every_child_is_declined(parties: Parties) -> None:
    tid = parties.send(sibling_group())["id"]
    parties.acknowledge(tid)
    for position in (1, 2, 3):
        response = parties.decline(tid, position, f"Child {position} not resident.")
        assert response.status_code == 200, response.text
    done = parties.get(tid, parties.sender)
    assert done["status"] == "declined"
    assert [c["decline_reason"] for c in done["children"]] == [
        "Child 1 not resident.",
        "Child 2 not resident.",
        "Child 3 not resident.",
    ]


def test_each_child_is_decided_once(parties: Parties) -> None:
    tid = parties.send(sibling_group())["id"]
    parties.acknowledge(tid)
    assert parties.accept(tid, 1, "CB-1").status_code == 200

    body = assert_conflict(parties.accept(tid, 1, "CB-1-again"), "acknowledged")
    assert "already accepted" in body["detail"]
    assert_conflict(parties.decline(tid, 1), "acknowledged")
    missing = parties.accept(tid, 4)
    assert missing.status_code == 404
    assert missing.json()["code"] == "transfer-not-found"

    after = parties.get(tid)
    assert after["children"][0]["receiver_child_id"] == "CB-1"
    assert [c["status"] for c in after["children"]] == ["accepted", "pending", "pending"]


def test_a_decision_needs_its_fields(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.acknowledge(tid)
    no_date = parties.post(
        f"/v1/transfers/{tid}/children/1/accept", parties.receiver, {"receiver_child_id": "X"}
    )
    assert no_date.status_code == 422
    assert no_date.json()["code"] == "request-invalid"
    no_reason = parties.post(f"/v1/transfers/{tid}/children/1/decline", parties.receiver, {})
    assert no_reason.status_code == 422
    assert parties.get(tid)["children"][0]["status"] == "pending"


# -- withdrawing and updating --------------------------------------------------------------------


def test_the_sender_withdraws_with_a_reason(parties: Parties, session: Session) -> None:
    tid = parties.send()["id"]
    parties.acknowledge(tid)
    response = parties.post(
        f"/v1/transfers/{tid}/withdraw",
        parties.sender,
        {"reason": "The family did not move after all."},
        user="sw.jones",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "withdrawn"
    assert body["withdrawn_reason"] == "The family did not move after all."
    assert body["closed_at"] is not None
    assert parties.get(tid)["withdrawn_reason"] == "The family did not move after all."
    assert transitions(session, tid)[-1] == ("acknowledged", "withdrawn", "sw.jones")
    inbox = parties.client.get("/v1/inbox", headers=bearer(parties.receiver)).json()
    assert tid not in [t["id"] for t in inbox["items"]]

    missing = parties.send()["id"]
    no_reason = parties.post(f"/v1/transfers/{missing}/withdraw", parties.sender, {})
    assert no_reason.status_code == 422
    assert parties.get(missing, parties.sender)["status"] == "sent"


def test_an_update_supersedes_the_transfer_and_keeps_its_clock(
    parties: Parties, session: Session
) -> None:
    old = parties.send()
    tid = old["id"]
    parties.get(tid)
    acked = parties.acknowledge(tid)

    updated_record = example()
    updated_record["summary"]["text"] = "Updated after the core group on 3 November."
    key = "update-of-" + tid
    body = {"records": [updated_record], "note": "Core group notes added."}
    response = parties.client.post(
        f"/v1/transfers/{tid}/updates",
        json=body,
        headers=idempotent(parties.sender, key, **{"X-Acting-User": "sw.jones"}),
    )
    assert response.status_code == 201, response.text
    newer = response.json()
    assert newer["id"] != tid
    assert response.headers["location"] == f"/v1/transfers/{newer['id']}"
    assert newer["supersedes"] == tid
    assert newer["superseded_by"] is None
    assert newer["status"] == "acknowledged"
    for kept in (
        "received_at",
        "acknowledged_at",
        "acknowledgement_due",
        "transfer_in_conference_due",
        "conference_clock_started",
    ):
        assert newer[kept] == acked[kept], kept
    assert newer["conference_clock_started"] is True
    assert newer["created_by_user"] == "sw.jones"

    replay = parties.client.post(
        f"/v1/transfers/{tid}/updates", json=body, headers=idempotent(parties.sender, key)
    )
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == newer["id"]

    superseded = parties.get(tid)
    assert superseded["status"] == "superseded"
    assert superseded["superseded_by"] == newer["id"]
    assert superseded["closed_at"] is not None
    assert transitions(session, tid)[-1] == ("acknowledged", "superseded", "sw.jones")

    record = parties.client.get(
        f"/v1/transfers/{newer['id']}/record", headers=bearer(parties.receiver)
    ).json()
    assert record["records"][0]["summary"]["text"] == updated_record["summary"]["text"]

    again = parties.client.post(
        f"/v1/transfers/{tid}/updates", json=body, headers=idempotent(parties.sender)
    )
    assert_conflict(again, "superseded")
    sent = parties.client.get(
        "/v1/transfers", params={"box": "sent"}, headers=bearer(parties.sender)
    ).json()
    assert sorted(t["id"] for t in sent["items"]) == sorted([tid, newer["id"]])

    accepted = parties.accept(newer["id"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"


def test_an_update_needs_an_idempotency_key_and_valid_records(parties: Parties) -> None:
    tid = parties.send()["id"]
    no_key = parties.client.post(
        f"/v1/transfers/{tid}/updates",
        json={"records": [example()]},
        headers=bearer(parties.sender),
    )
    assert no_key.status_code == 400
    assert no_key.json()["code"] == "idempotency-key-missing"
    broken = example()
    broken["child"]["birth_date"] = "not a date"
    invalid = parties.client.post(
        f"/v1/transfers/{tid}/updates",
        json={"records": [broken]},
        headers=idempotent(parties.sender),
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "records-invalid"
    assert parties.get(tid, parties.sender)["status"] == "sent"


# -- the statutory clock on the transfer ---------------------------------------------------------


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The n-th working day after ``day`` in England (weekends and bank holidays skipped)."""
    bank = holidays.country_holidays("GB", subdiv="ENG", years=range(day.year, day.year + 2))
    while n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in bank:
            n -= 1
    return day


def test_the_clock_fields_before_and_after_acknowledgement(parties: Parties) -> None:
    sent = parties.send()
    tid = sent["id"]
    sent_day = when(sent["created_at"]).astimezone(LONDON).date()
    ack_due = when(sent["acknowledgement_due"]).astimezone(LONDON)
    assert ack_due.date() == working_days_after(sent_day, 1)
    assert (ack_due.hour, ack_due.minute, ack_due.second) == (23, 59, 59)
    assert sent["clock_start"] == "acknowledgement"
    assert sent["conference_clock_started"] is False
    # Not started: the latest the conference can be due, if acknowledged on time.
    assert sent["transfer_in_conference_due"] == working_days_after(ack_due.date(), 15).isoformat()
    assert sent["working_days_left"] == 16
    assert sent["overdue"] == {"acknowledgement": False, "transfer_in_conference": False}

    received = parties.get(tid)
    assert received["conference_clock_started"] is False
    assert received["acknowledgement_due"] == sent["acknowledgement_due"]

    acked = parties.acknowledge(tid)
    ack_day = when(acked["acknowledged_at"]).astimezone(LONDON).date()
    assert acked["conference_clock_started"] is True
    assert acked["transfer_in_conference_due"] == working_days_after(ack_day, 15).isoformat()
    assert acked["working_days_left"] == 15
    assert acked["acknowledgement_due"] == sent["acknowledgement_due"]
    assert acked["overdue"] == {"acknowledgement": False, "transfer_in_conference": False}


# -- the record in each format -------------------------------------------------------------------


def test_the_record_in_canonical_cin_census_and_dfe_api_formats(parties: Parties) -> None:
    tid = parties.send()["id"]
    parties.acknowledge(tid)
    headers = bearer(parties.receiver)

    canonical = parties.client.get(f"/v1/transfers/{tid}/record", headers=headers)
    assert canonical.status_code == 200, canonical.text
    assert canonical.headers["content-type"].startswith("application/json")
    records = canonical.json()["records"]
    assert canonical.json()["transfer_id"] == tid
    assert len(records) == 1
    confidential = [a for a in records[0]["child"]["addresses"] if a.get("confidential")]
    assert [a["postcode"] for a in confidential] == ["CB4 9ZZ"]

    xml = parties.client.get(f"/v1/transfers/{tid}/record?format=cin-census", headers=headers)
    assert xml.status_code == 200, xml.text
    assert xml.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(xml.content)
    assert root.tag == "Message"
    assert root.findtext("Children/Child/ChildIdentifiers/LAchildID") == "CAM100234567"

    jsonl = parties.client.get(f"/v1/transfers/{tid}/record?format=dfe-csc-api", headers=headers)
    assert jsonl.status_code == 200, jsonl.text
    assert jsonl.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in jsonl.content.decode("utf-8").splitlines() if line]
    assert [line["la_child_id"] for line in lines] == ["CAM100234567"]
    assert lines[0]["child_details"]["postcode"] is None
    assert b"CB4 9ZZ" not in jsonl.content
    assert b"CB49ZZ" not in jsonl.content
    assert int(jsonl.headers["x-exchange-warnings"]) >= 1

    unknown = parties.client.get(f"/v1/transfers/{tid}/record?format=annex-a", headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "request-invalid"


def test_the_sender_reads_the_record_without_marking_it_received(parties: Parties) -> None:
    tid = parties.send()["id"]
    response = parties.client.get(f"/v1/transfers/{tid}/record", headers=bearer(parties.sender))
    assert response.status_code == 200
    assert parties.get(tid, parties.sender)["status"] == "sent"
    outsider = parties.client.get(f"/v1/transfers/{tid}/record", headers=bearer(parties.outsider))
    assert outsider.status_code == 404


# -- a raw export --------------------------------------------------------------------------------

CIN_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <CollectionDetails>
      <Collection>CIN</Collection>
      <Year>2026</Year>
      <ReferenceDate>2026-03-31</ReferenceDate>
    </CollectionDetails>
    <Source>
      <SourceLevel>L</SourceLevel>
      <LEA>202</LEA>
      <SoftwareCode>Fictional CMS</SoftwareCode>
      <Release>1.0</Release>
      <SerialNo>001</SerialNo>
      <DateTime>2026-04-02T09:30:00</DateTime>
    </Source>
  </Header>
  <Children>
    <Child>
      <ChildIdentifiers>
        <LAchildID>RAW0001</LAchildID>
        <UPN>C202000000001</UPN>
        <PersonBirthDate>2015-04-12</PersonBirthDate>
        <Sex>F</Sex>
      </ChildIdentifiers>
      <ChildCharacteristics>
        <Ethnicity>WBRI</Ethnicity>
        <Ethnicity>WIRI</Ethnicity>
      </ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2025-06-01</CINreferralDate>
        <ReferralSource>2A</ReferralSource>
        <PrimaryNeedCode>N1</PrimaryNeedCode>
        <ChildProtectionPlans>
          <CPPstartDate>2025-07-10</CPPstartDate>
          <InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse>
          <LatestCategoryOfAbuse>NEG</LatestCategoryOfAbuse>
          <NumberOfPreviousCPP>0</NumberOfPreviousCPP>
        </ChildProtectionPlans>
      </CINdetails>
    </Child>
  </Children>
</Message>
"""


def export_body(content: bytes, adapter: str = "cin-census") -> Json:
    return {
        "to_authority": "873",
        "reason": "The family moved to Cambridgeshire.",
        "legal_basis": "Children Act 1989 s47",
        "export": {
            "adapter": adapter,
            "files": [{"name": "cin.xml", "content_base64": base64.b64encode(content).decode()}],
        },
    }


def test_a_raw_export_is_converted_and_its_warnings_returned(parties: Parties) -> None:
    response = parties.client.post(
        "/v1/transfers", json=export_body(CIN_EXPORT), headers=idempotent(parties.sender)
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert len(sent["children"]) == 1
    warnings = sent["problems"]
    assert warnings, "the repeated Ethnicity element should be reported"
    assert {p["severity"] for p in warnings} == {"warning"}
    assert "element-repeated" in {p["code"] for p in warnings}

    record = parties.client.get(
        f"/v1/transfers/{sent['id']}/record", headers=bearer(parties.receiver)
    ).json()["records"][0]
    ids = {i["system"]: i["value"] for i in record["child"]["identifiers"]}
    assert ids["la_child_id"] == "RAW0001"
    assert record["child"]["ethnicity"] == "WBRI"
    assert record["episodes"][0]["cp_plans"][0]["start_date"] == "2025-07-10"
    assert parties.get(sent["id"])["problems"] == warnings


def test_an_unreadable_export_is_refused(parties: Parties) -> None:
    for body in (
        export_body(b"this is not xml"),
        export_body(CIN_EXPORT, adapter="no-such-adapter"),
    ):
        response = parties.client.post(
            "/v1/transfers", json=body, headers=idempotent(parties.sender)
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "export-unreadable"
    listed = parties.client.get("/v1/transfers", headers=bearer(parties.sender)).json()
    assert listed["items"] == []


def test_an_export_with_errors_is_refused_with_every_problem_located(parties: Parties) -> None:
    wrong_upn = CIN_EXPORT.replace(b"C202000000001", b"A202000000001")
    response = parties.client.post(
        "/v1/transfers", json=export_body(wrong_upn), headers=idempotent(parties.sender)
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "records-invalid"
    by_code = {p["code"]: p for p in body["problems"]}
    assert by_code["upn-check-letter"]["severity"] == "error"
    assert by_code["upn-check-letter"]["location"]["file"] == "cin.xml"
    assert by_code["element-repeated"]["severity"] == "warning"
