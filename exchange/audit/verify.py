"""Verifying the chain: every event recomputed, the first broken one named.

Detects an edited event (its hash no longer matches), a deleted or inserted event (the
sequence has a gap or a duplicate, or an event's prev_hash is not its predecessor's hash), a
reordering (hashes no longer link), and a cut-off tail (the head records a later event).

The log is read in ranges of sequence numbers up to the head as it was when verifying began, so
events the service appends meanwhile are not mistaken for forgeries; an event beyond the head is
looked for last, against the head as it is then. Each range is checked exactly, from typed rows,
event by event. On PostgreSQL (psycopg) a quick pass over COPY text comes first and can only
vouch for a whole range or hand it to the exact checks: it never names a break itself. Every
hash is recomputed here, never by the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from exchange.audit.chain import CHAINED_FIELDS, GENESIS_HASH, canonical_values
from exchange.audit.models import AuditChildRef, AuditEvent, AuditHead


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The chain's state: intact, or where and how it is broken."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None


# One event as the checks need it: its seq, stored prev_hash and hash, canonical bytes (None when
# no event the service wrote could hold its values), and the children it names (None: not text).
Row = tuple[int, str | None, str | None, bytes | None, list[str] | None]
# Rows of the child index, grouped by event, in event order.
RefGroups = list[tuple[int, list[str]]]

_COLUMNS = [getattr(AuditEvent, name) for name in CHAINED_FIELDS] + [
    AuditEvent.prev_hash,
    AuditEvent.hash,
]
_CHILD_REFS = CHAINED_FIELDS.index("child_refs")


def _row(values: Any) -> Row:
    chained = values[: len(CHAINED_FIELDS)]
    try:
        body: bytes | None = canonical_values(chained)
    except (TypeError, ValueError):
        body = None  # a value of a type the service never writes
    child_refs = chained[_CHILD_REFS]
    named = (
        []
        if child_refs is None or child_refs == ""
        else child_refs.split()
        if isinstance(child_refs, str)
        else None
    )
    return chained[0], values[-2], values[-1], body, named


def _in_range(column: Any, lo: int | None, hi: int) -> list[Any]:
    return [column <= hi] if lo is None else [column > lo, column <= hi]


def _events(session: Session, lo: int | None, hi: int, batch: int) -> Generator[Row, None, None]:
    query = select(*_COLUMNS).where(*_in_range(AuditEvent.seq, lo, hi)).order_by(AuditEvent.seq)
    result = session.execute(query.execution_options(yield_per=batch))
    try:
        for values in result:
            yield _row(values)
    finally:
        result.close()


def _refs(session: Session, lo: int | None, hi: int) -> RefGroups:
    query = (
        select(AuditChildRef.event_seq, AuditChildRef.ref)
        .where(*_in_range(AuditChildRef.event_seq, lo, hi))
        .order_by(AuditChildRef.event_seq)
    )
    return _grouped((int(seq), str(ref)) for seq, ref in session.execute(query))


def _grouped(pairs: Iterable[tuple[int, str]]) -> RefGroups:
    groups: RefGroups = []
    for seq, ref in pairs:
        if groups and groups[-1][0] == seq:
            groups[-1][1].append(ref)
        else:
            groups.append((seq, [ref]))
    return groups


class _Chain:
    """The exact checks, event by event in seq order, carried across ranges."""

    def __init__(self, head_seq: int, head_hash: str, *, against_head: bool) -> None:
        self.head_seq, self.head_hash, self.against_head = head_seq, head_hash, against_head
        self.expected, self.previous, self.count = 1, GENESIS_HASH, 0
        self.refs: RefGroups = []
        self.next_ref = 0

    def broken(self, count: int, seq: int, reason: str) -> VerifyResult:
        """Broken at ``seq``, after ``count`` events that held."""
        return VerifyResult(False, count, self.head_seq, self.head_hash, seq, reason)

    @property
    def refs_pending(self) -> bool:
        """Whether child-index rows read so far name events not reached yet."""
        return self.next_ref < len(self.refs)

    def add_refs(self, groups: RefGroups) -> None:
        self.refs = self.refs[self.next_ref :] + groups
        self.next_ref = 0

    def feed(self, rows: Iterable[Row]) -> VerifyResult | None:
        """Check these events, the next in the log; the first broken one, if any."""
        head_seq = self.head_seq if self.against_head else None
        refs, next_ref = self.refs, self.next_ref
        ref_seq = refs[next_ref][0] if next_ref < len(refs) else None
        expected, previous, count = self.expected, self.previous, self.count
        try:
            for seq, stored_prev, stored_hash, body, named in rows:
                if seq != expected:
                    if seq > expected:
                        return self.broken(
                            count, expected, f"event {expected} is missing (found {seq} next)"
                        )
                    return self.broken(count, seq, f"event {seq} appears twice")
                if head_seq is not None and seq > head_seq:
                    return self.broken(
                        count,
                        seq,
                        f"event {seq} is beyond the head ({head_seq}): it was added outside "
                        "the service",
                    )
                if stored_prev != previous:
                    return self.broken(
                        count, seq, "does not follow the event before it (prev_hash differs)"
                    )
                if body is None or (
                    hashlib.sha256(previous.encode("ascii") + b"\n" + body).hexdigest()
                    != stored_hash
                ):
                    return self.broken(count, seq, "its content was changed (hash does not match)")
                indexed: list[str] = []
                if ref_seq is not None and ref_seq <= seq:
                    if ref_seq < seq:
                        return self.broken(
                            count,
                            ref_seq,
                            f"the child index has a row for event {ref_seq} that the event "
                            "does not name",
                        )
                    indexed = refs[next_ref][1]
                    next_ref += 1
                    ref_seq = refs[next_ref][0] if next_ref < len(refs) else None
                # Compared as multisets: the database's order of refs is its collation's.
                if named != indexed and (named is None or sorted(named) != sorted(indexed)):
                    return self.broken(
                        count, seq, "the child index does not match the children the event names"
                    )
                previous = stored_hash
                expected += 1
                count += 1
        finally:
            self.expected, self.previous, self.count = expected, previous, count
            self.next_ref = next_ref
        return None

    def finish(self) -> VerifyResult:
        """After the last event: the head agrees, and the child index names no other event."""
        count = self.count
        if self.against_head:
            if count < self.head_seq:
                return self.broken(
                    count,
                    count + 1,
                    f"the log ends at event {count} but the head records event "
                    f"{self.head_seq}: events were removed",
                )
            if self.previous != self.head_hash:
                return self.broken(
                    count, count, f"event {count} does not match the head's hash: it was rewritten"
                )
        if self.refs_pending:
            seq = self.refs[self.next_ref][0]
            return self.broken(
                count, seq, f"the child index names event {seq}, which is not in the log"
            )
        return VerifyResult(True, count, self.head_seq, self.head_hash)


# --- the quick pass (PostgreSQL through psycopg) ------------------------------------------------
#
# A range arrives as COPY text, each event with its child-index rows joined on. In COPY text a
# value is its UTF-8 with \ doubled and \b \f \n \r \t \v as escapes, other control characters
# as they are, NULL as \N. Canonical JSON (json.dumps, ensure_ascii=False) writes a string as its
# UTF-8 with " and \ escaped, \b \f \n \r \t the same way, other control characters as \u00XX.
# So when no value holds \v or another control character, an event's canonical bytes are its
# COPY text with " escaped, laid into the key order; the time comes as text in the form
# chain._plain gives for years 1000 to 9999. An event outside that is never vouched for, even if
# its hash matches these bytes (a hash forged over a near-canonical text must not pass): it, and
# any event whose checks do not hold, sends the whole range to the exact checks.

_SORTED_FIELDS = sorted(CHAINED_FIELDS)
_STAMP = 5 + _SORTED_FIELDS.index("occurred_at")
_SORTED_CHILD_REFS = 5 + _SORTED_FIELDS.index("child_refs")
# seq, prev_hash, hash, the event's refs and their count, the chained fields in key order, and
# an empty last column that the line's newline ends.
_QUICK_EVENTS = sql.SQL(
    "COPY (SELECT e.seq, e.prev_hash, e.hash, r.refs, r.n, {}, '' FROM audit_events e "
    "LEFT JOIN (SELECT event_seq, string_agg(ref, ' ') AS refs, count(*) AS n "
    "FROM audit_child_refs WHERE (%(lo)s::bigint IS NULL OR event_seq > %(lo)s) "
    "AND event_seq <= %(hi)s GROUP BY event_seq) r ON r.event_seq = e.seq "
    "WHERE (%(lo)s::bigint IS NULL OR e.seq > %(lo)s) AND e.seq <= %(hi)s "
    "ORDER BY e.seq) TO STDOUT"
).format(
    sql.SQL(", ").join(
        sql.SQL("to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"BC')")
        if name == "occurred_at"
        else sql.Identifier("e", name)
        for name in _SORTED_FIELDS
    )
)
# Every slot quoted but seq's; a NULL (\N) becomes null after formatting. A " inside a value is
# escaped first, so '"\N"' can only be a whole NULL value.
_TEMPLATE = (
    "{" + ",".join(f'"{f}":' + ("%s" if f == "seq" else '"%s"') for f in _SORTED_FIELDS) + "}"
).encode()
_CONTROLS = bytes(range(0x00, 0x09)) + bytes(range(0x0A, 0x20))  # all but tab, the separator
_NULL = b"\\N"


def _quick(
    session: Session, lo: int | None, hi: int, expected: int, previous: str
) -> tuple[int, str, int] | None:
    """If every event of the range holds after ``expected``-1 whose hash is ``previous``, with
    its children indexed and no index row for any other event: the next expected seq, the last
    hash and the events checked. Otherwise None, for the exact checks."""
    indexed_rows = session.scalar(
        select(func.count())
        .select_from(AuditChildRef)
        .where(*_in_range(AuditChildRef.event_seq, lo, hi))
    )
    sha256 = hashlib.sha256
    first, last = expected, previous.encode("ascii")
    joined_rows = 0
    sure = True
    connection: Any = session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(_QUICK_EVENTS, {"lo": lo, "hi": hi}) as copy:
        # A COPY cannot be cut short without failing the transaction: once unsure, read on.
        read = copy.read
        while block := read():
            if not sure:
                continue
            line = bytes(block)
            # " is escaped in the whole line: in seq, hashes and refs it can only spoil a match.
            fields = line.replace(b'"', b'\\"').split(b"\t")
            seq, prev_hash, stored_hash, refs, n = fields[:5]
            stamp, child_refs = fields[_STAMP], fields[_SORTED_CHILD_REFS]
            fields[_STAMP] = stamp[:-2]
            if not (
                len(fields) == 21
                and fields[20] == b"\n"
                and int(seq) == expected
                and prev_hash == last
                and len(stamp) == 29
                and stamp[0] != 0x30  # no year before 1000
                and stamp.endswith(b"AD")
                and b"\\v" not in line
                and len(line.translate(None, _CONTROLS)) == len(line) - 1
                and sha256(
                    last + b"\n" + (_TEMPLATE % tuple(fields[5:20])).replace(b'"\\N"', b"null")
                )
                .hexdigest()
                .encode()
                == stored_hash
                and b"\\" not in child_refs
                and child_refs.isascii()
            ):
                sure = False
                continue
            named = child_refs.split()
            if refs == _NULL:
                sure = not named
            else:
                # No ref holds a space when splitting gives as many as there are rows.
                index, indexed_here = refs.split(b" "), int(n)
                joined_rows += indexed_here
                sure = len(index) == indexed_here and (
                    named == index or sorted(named) == sorted(index)
                )
            expected += 1
            last = stored_hash
    if not sure or joined_rows != indexed_rows:
        return None
    return expected, last.decode("ascii"), expected - first


def _can_quick(session: Session) -> bool:
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    connection: Any = session.connection().connection.driver_connection
    return bool(connection.info.encoding == "utf-8")


# --- the whole log ------------------------------------------------------------------------------


def _range_end(session: Session, lo: int | None, bound: int, batch: int) -> int:
    query = select(AuditEvent.seq).where(*_in_range(AuditEvent.seq, lo, bound))
    end = session.scalar(query.order_by(AuditEvent.seq).offset(batch - 1).limit(1))
    return bound if end is None else int(end)


def _beyond(session: Session, bound: int) -> tuple[int | None, list[Row], RefGroups]:
    """The first event beyond both ``bound`` and the head as it is now, with that head; and the
    first child-index row beyond both (each read in one statement, so at one moment)."""
    now = func.coalesce(select(AuditHead.seq).where(AuditHead.id == 1).scalar_subquery(), 0)
    event: Select[Any] = (
        select(*_COLUMNS, now)
        .where(AuditEvent.seq > bound, AuditEvent.seq > now)
        .order_by(AuditEvent.seq)
        .limit(1)
    )
    found = session.execute(event).first()
    ref = session.execute(
        select(AuditChildRef.event_seq, AuditChildRef.ref)
        .where(AuditChildRef.event_seq > bound, AuditChildRef.event_seq > now)
        .order_by(AuditChildRef.event_seq)
        .limit(1)
    ).first()
    groups = [(int(ref[0]), [str(ref[1])])] if ref is not None else []
    if found is None:
        return None, [], groups
    return int(found[-1]), [_row(found[:-1])], groups


def verify_chain(
    session: Session, *, up_to_seq: int | None = None, batch: int = 50_000
) -> VerifyResult:
    """Recompute every event's hash in order; stop at the first that does not hold.

    The index of children by pseudonym (audit_child_refs) is derived from the events and is
    checked against them too: a row removed or added there would hide or forge a look-up.
    """
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    chain = _Chain(head_seq, head_hash, against_head=up_to_seq is None)
    bound = head_seq if up_to_seq is None else up_to_seq
    quick = _can_quick(session)
    lo: int | None = None
    while True:
        hi = _range_end(session, lo, bound, batch)
        vouched = (
            _quick(session, lo, hi, chain.expected, chain.previous)
            if quick and not chain.refs_pending
            else None
        )
        if vouched is not None:
            chain.expected, chain.previous, checked = vouched
            chain.count += checked
        else:
            chain.add_refs(_refs(session, lo, hi))
            rows = _events(session, lo, hi, batch)
            try:
                broken = chain.feed(rows)
            finally:
                rows.close()
            if broken is not None:
                return broken
        if hi >= bound:
            break
        lo = hi
    if up_to_seq is None:
        head_now, beyond, refs = _beyond(session, bound)
        chain.add_refs(refs)
        if beyond and head_now != head_seq:
            seq = beyond[0][0]
            return chain.broken(
                chain.count,
                seq,
                f"event {seq} is beyond the head ({head_now}): it was added outside the service",
            )
        broken = chain.feed(beyond)
        if broken is not None:
            return broken
    return chain.finish()
