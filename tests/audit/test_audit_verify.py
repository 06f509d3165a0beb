"""The verifier's quick paths (issue 5) agree with the chain's own serialisation: events holding
awkward text verify as written, the same edits are found however the log is split into ranges,
and a hash forged over a near-canonical serialisation is never accepted.

On PostgreSQL the verifier reads ranges as COPY text and builds the canonical bytes from it; on
SQLite from typed rows. Both must give exactly chain.canonical's bytes. Raw edits get past the
append-only triggers as in test_tamper.py; everything is rolled back after each test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from exchange.audit.chain import CHAINED_FIELDS, canonical, canonical_values, event_hash
from exchange.audit.models import AuditChildRef, AuditEvent, AuditHead
from exchange.audit.service import Actor, la_child_pseudonym, nhs_pseudonym, record_event
from exchange.audit.verify import verify_chain

EVENTS = AuditEvent.__table__
CAMDEN, CAMBRIDGESHIRE = "E09000007", "E10000003"
# Text a member of staff, a client or a legal basis might carry, and the characters that
# serialisations most often get wrong. PostgreSQL text cannot hold NUL, so there is none.
AWKWARD_TEXT = [
    'She said "no" \\ twice',
    "tab\there, newline\nthere, return\r, backspace\b, form feed\f",
    "vertical\x0btab and \x01 \x1f unit separator",
    "\\v and \\N and \\t written out, not control characters",
    "\\N",
    "null",
    "ends with a backslash \\",
    "Zoë Brontë \u2013 naïve café; 社会福祉; emoji 🧒🏽; line\u2028separator",
    "del \x7f and nbsp\xa0",
    '{"json": "inside", "n": 1}',
    "",
]


def bypass_append_only(session: Session) -> None:
    """Let this transaction change audit rows, as the database owner could (rolled back after)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for table in ("audit_events", "audit_child_refs"):
            for action in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def seed(session: Session, count: int = 7) -> list[int]:
    """Append ``count`` ordinary events; returns their sequence numbers."""
    actor = Actor(
        client_id=str(uuid.uuid4()),
        authority=CAMDEN,
        role="authority",
        acting_user="sw.jones",
        request_id=uuid.uuid4().hex,
        source_address="10.20.30.40",
    )
    transfer_id = str(uuid.uuid4())
    seqs = [
        record_event(
            session,
            action="record.read",
            actor=actor,
            transfer_id=transfer_id,
            counterpart_authority=CAMBRIDGESHIRE,
            purpose="Children Act 1989 s47",
            child_refs=[nhs_pseudonym("9434765919")] if i % 3 else [],
            details={"n": i},
        ).seq
        for i in range(count)
    ]
    session.flush()
    return seqs


def seed_awkward(session: Session) -> list[int]:
    """One event per awkward text, in every free-text place an event has, at awkward times."""
    times = [
        dt.datetime(2021, 6, 1, 12, 0, 0, 0, tzinfo=dt.UTC),  # no microseconds
        dt.datetime(2021, 6, 1, 13, 0, 0, 500_000, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),  # a three-digit year
        dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(1000, 1, 1, tzinfo=dt.UTC),
    ]
    seqs = []
    for i, value in enumerate(AWKWARD_TEXT):
        seqs.append(
            record_event(
                session,
                action="record.read",
                actor=Actor(
                    client_id=value[:36] or None,
                    authority=CAMDEN,
                    role="authority",
                    acting_user=value,
                    request_id=value[:128],
                    source_address=value[:64],
                ),
                transfer_id=value[:36],
                purpose=value,
                child_refs=[nhs_pseudonym("9434765919")],
                details={"note": value, "i": i},
                occurred_at=times[i % len(times)],
            ).seq
        )
    session.flush()
    return seqs


def stored(session: Session, seq: int) -> dict[str, Any]:
    return dict(session.execute(select(EVENTS).where(EVENTS.c.seq == seq)).one()._mapping)


# --- the serialisation ---------------------------------------------------------------------------


def values_of(fields: dict[str, Any]) -> list[Any]:
    return [fields.get(name) for name in CHAINED_FIELDS]


@pytest.mark.parametrize("value", [*AWKWARD_TEXT, None])
def test_the_quick_serialisation_is_the_canonical_one_for_awkward_text(value: str | None) -> None:
    fields = dict.fromkeys(CHAINED_FIELDS, value)
    fields |= {"seq": 12, "occurred_at": dt.datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=dt.UTC)}

    assert canonical_values(values_of(fields)) == canonical(fields)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(2024, 3, 31, 1, 30, 0, 123, tzinfo=dt.timezone(dt.timedelta(hours=-9))),
        dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
        dt.datetime(999, 1, 1, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        None,
    ],
)
def test_the_quick_serialisation_is_the_canonical_one_for_awkward_times(
    moment: dt.datetime | None,
) -> None:
    fields = dict.fromkeys(CHAINED_FIELDS, "x") | {"seq": 1, "occurred_at": moment}

    assert canonical_values(values_of(fields)) == canonical(fields)


def test_values_the_service_never_writes_are_still_serialised_as_canonical_does() -> None:
    fields = dict.fromkeys(CHAINED_FIELDS)
    fields |= {"seq": True, "role": 3.5, "details": ["a", {"b": 2}], "purpose": 10**30}

    assert canonical_values(values_of(fields)) == canonical(fields)


@given(
    st.lists(st.none() | st.text(st.characters(exclude_categories=["Cs"])), min_size=13),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.datetimes(dt.datetime(2, 1, 1), dt.datetime(9998, 12, 31), timezones=st.timezones()),
)
def test_the_quick_serialisation_is_the_canonical_one_for_any_text(
    texts: list[str | None], seq: int, moment: dt.datetime
) -> None:
    text_fields = [n for n in CHAINED_FIELDS if n not in ("seq", "occurred_at")]
    fields: dict[str, Any] = dict(zip(text_fields, texts, strict=False))
    fields |= {"seq": seq, "occurred_at": moment}

    assert canonical_values(values_of(fields)) == canonical(fields)


# --- awkward events verify, and their edits are found ---------------------------------------------


@pytest.mark.parametrize("batch", [50_000, 3])
def test_events_holding_awkward_text_and_times_verify(session: Session, batch: int) -> None:
    seqs = seed(session, 2) + seed_awkward(session) + seed(session, 2)

    result = verify_chain(session, batch=batch)

    assert result.ok, result
    assert result.events == result.head_seq >= seqs[-1]


@pytest.mark.parametrize("index", range(len(AWKWARD_TEXT)))
def test_an_edit_to_an_awkward_event_is_found(session: Session, index: int) -> None:
    seqs = seed_awkward(session)
    seed(session, 2)
    bypass_append_only(session)
    # One character fewer: the smallest change a careless or careful editor could make.
    original = AWKWARD_TEXT[index]
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[index])
        .values(purpose=original[1:] if original else "x")
    )
    session.expire_all()

    result = verify_chain(session)

    assert not result.ok
    assert result.broken_seq == seqs[index]
    assert "changed" in (result.reason or "")


# --- a hash over a near-canonical serialisation is refused ----------------------------------------


def near_canonical(fields: dict[str, Any], how: str) -> bytes:
    """The event's bytes as a careless serialiser would write them (not as canonical does)."""
    exact = canonical(fields)
    if how == "raw control character":
        return exact.replace(b"\\u0001", b"\x01")
    if how == "vertical tab as \\v":
        return exact.replace(b"\\u000b", b"\\v")
    if how == "year padded to four digits":
        moment = fields["occurred_at"].astimezone(dt.UTC)
        return canonical(fields | {"occurred_at": moment.isoformat()[:-6] + ".000000Z"})
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "value", "moment"),
    [
        ("raw control character", "start\x01end", None),
        ("vertical tab as \\v", "start\x0bend", None),
        ("year padded to four digits", "plain", dt.datetime(999, 5, 1, tzinfo=dt.UTC)),
    ],
)
def test_a_hash_over_a_near_canonical_serialisation_is_refused(
    session: Session, how: str, value: str, moment: dt.datetime | None
) -> None:
    seed(session, 3)
    last = record_event(
        session,
        action="record.read",
        actor=Actor(client_id=None, authority=CAMDEN, role="authority"),
        purpose=value,
        occurred_at=moment,
    )
    session.flush()
    bypass_append_only(session)
    row = stored(session, last.seq)
    fields = {name: row[name] for name in CHAINED_FIELDS}
    if near_canonical(fields, how) == canonical(fields):
        pytest.skip(f"this platform's canonical form already has the {how}")
    # The forger rewrites the last event's hash and the head to match their own serialisation.
    forged = hashlib.sha256(
        row["prev_hash"].encode() + b"\n" + near_canonical(fields, how)
    ).hexdigest()
    session.execute(update(EVENTS).where(EVENTS.c.seq == last.seq).values(hash=forged))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=forged))
    session.expire_all()

    result = verify_chain(session)

    assert not result.ok
    assert result.broken_seq == last.seq
    assert "changed" in (result.reason or "")


# --- the same verdict whatever the ranges ---------------------------------------------------------


def edit(session: Session, seqs: list[int]) -> None:
    session.execute(
        text("UPDATE audit_events SET acting_user = 'someone.else' WHERE seq = :s"), {"s": seqs[4]}
    )


def delete(session: Session, seqs: list[int]) -> None:
    session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seqs[3]})


def relink(session: Session, seqs: list[int]) -> None:
    row = stored(session, seqs[2]) | {"acting_user": "someone.else"}
    fields = {name: row[name] for name in CHAINED_FIELDS}
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seqs[2])
        .values(acting_user="someone.else", hash=event_hash(row["prev_hash"], fields))
    )


def forge_index_row(session: Session, seqs: list[int]) -> None:
    session.execute(insert(AuditChildRef).values(event_seq=seqs[0], ref="nhs:forged"))


def drop_index_row(session: Session, seqs: list[int]) -> None:
    session.execute(text("DELETE FROM audit_child_refs WHERE event_seq = :s"), {"s": seqs[5]})


def index_row_for_no_event(session: Session, seqs: list[int]) -> None:
    session.execute(insert(AuditChildRef).values(event_seq=seqs[-1] + 3, ref="nhs:ghost"))


def index_row_before_the_log(session: Session, seqs: list[int]) -> None:
    session.execute(insert(AuditChildRef).values(event_seq=0, ref="nhs:ghost"))


def append_past_head(session: Session, seqs: list[int]) -> None:
    last = stored(session, seqs[-1])
    forged = {name: last[name] for name in CHAINED_FIELDS} | {"seq": seqs[-1] + 1}
    session.execute(
        insert(EVENTS).values(
            **forged, prev_hash=last["hash"], hash=event_hash(last["hash"], forged)
        )
    )


def cut_tail(session: Session, seqs: list[int]) -> None:
    session.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": seqs[-2]})


TAMPERING = [
    edit,
    delete,
    relink,
    forge_index_row,
    drop_index_row,
    index_row_for_no_event,
    index_row_before_the_log,
    append_past_head,
    cut_tail,
]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__)
def test_each_break_is_named_the_same_however_the_log_is_read_in_ranges(
    session: Session, tamper: Any
) -> None:
    seqs = seed(session, 8)
    bypass_append_only(session)
    tamper(session, seqs)
    session.expire_all()

    whole = verify_chain(session)
    in_ranges = [verify_chain(session, batch=batch) for batch in (1, 2, 3, 5)]

    assert not whole.ok, whole
    assert whole.broken_seq is not None
    assert in_ranges == [whole] * len(in_ranges)


def test_a_checkpointed_prefix_verifies_in_ranges(session: Session) -> None:
    seqs = seed(session, 6)

    prefix = verify_chain(session, up_to_seq=seqs[3], batch=2)

    assert prefix.ok, prefix
    assert prefix.events == seqs[3]


# --- events appended while verifying --------------------------------------------------------------


def read_head_then_append(session: Session, appended: int) -> AuditHead:
    """Read the head as verify_chain does first, then append ``appended`` events as the service
    would meanwhile; the session keeps the head as it was read (while the caller holds it)."""
    seqs = seed(session, 3)
    head = session.get(AuditHead, 1)
    assert head is not None
    as_read = (head.seq, head.hash)
    seed(session, appended)
    set_committed_value(head, "seq", as_read[0])
    set_committed_value(head, "hash", as_read[1])
    assert as_read[0] == seqs[-1]
    return head


def test_events_appended_while_verifying_are_not_taken_for_forgeries(session: Session) -> None:
    head = read_head_then_append(session, 2)

    result = verify_chain(session, batch=2)

    assert result.ok, result
    assert (result.events, result.head_seq) == (head.seq, head.seq)


def test_a_forgery_past_the_head_that_moved_on_meanwhile_is_still_named(session: Session) -> None:
    head = read_head_then_append(session, 2)
    moved_to = head.seq + 2
    last = stored(session, moved_to)
    forged = {name: last[name] for name in CHAINED_FIELDS} | {"seq": moved_to + 1}
    session.execute(
        insert(EVENTS).values(
            **forged, prev_hash=last["hash"], hash=event_hash(last["hash"], forged)
        )
    )

    result = verify_chain(session)

    assert not result.ok
    assert result.broken_seq == moved_to + 1
    assert f"beyond the head ({moved_to})" in (result.reason or "")


# --- an event's children named in another order than its index rows ------------------------------


@pytest.mark.parametrize("index_changed", [False, True])
def test_children_named_in_another_order_than_the_index_are_compared_as_a_set(
    session: Session, index_changed: bool
) -> None:
    seed(session, 3)
    refs = sorted(
        [
            nhs_pseudonym("9434765919"),
            la_child_pseudonym(CAMDEN, "C-7"),
            la_child_pseudonym(CAMDEN, "C-8"),
        ]
    )
    last = record_event(
        session,
        action="record.read",
        actor=Actor(client_id=None, authority=CAMDEN, role="authority"),
        child_refs=refs,
    )
    session.flush()
    bypass_append_only(session)
    # The event names them in reverse (the service writes them sorted), hashed as it names them.
    row = stored(session, last.seq) | {"child_refs": " ".join(reversed(refs))}
    digest = event_hash(row["prev_hash"], {name: row[name] for name in CHAINED_FIELDS})
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == last.seq)
        .values(child_refs=row["child_refs"], hash=digest)
    )
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest))
    if index_changed:
        session.execute(
            update(AuditChildRef)
            .where(AuditChildRef.event_seq == last.seq, AuditChildRef.ref == refs[0])
            .values(ref=la_child_pseudonym(CAMDEN, "C-9"))
        )
    session.expire_all()

    result = verify_chain(session)

    if index_changed:
        assert not result.ok
        assert result.broken_seq == last.seq
        assert "child index" in (result.reason or "")
    else:
        assert result.ok, result
