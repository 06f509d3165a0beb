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
import multiprocessing
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import compress
from operator import methodcaller
from select import select as wait_for
from typing import Any

import psycopg
from psycopg import errors, pq, sql
from sqlalchemy import Select, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

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
# chain._plain gives, for years 1000 to 9999 only (\N otherwise: the column is never NULL). An
# event outside that is never vouched for, even if its hash matches these bytes (a hash forged
# over a near-canonical text must not pass): it, and any event whose checks do not hold, sends
# the whole range to the exact checks. The child index comes joined in the order the database
# reads it (sorting each event's rows would cost the database a third more): usually the order
# the event names them in, compared as a whole chunk; otherwise event by event, in any order.

_SORTED_FIELDS = sorted(CHAINED_FIELDS)
_STAMP = 5 + _SORTED_FIELDS.index("occurred_at")
_SORTED_CHILD_REFS = 5 + _SORTED_FIELDS.index("child_refs")
_COLUMNS_PER_LINE = 5 + len(_SORTED_FIELDS) + 1


def _seq_in(column: str, lo: int | None, hi: int) -> sql.Composable:
    upper = sql.SQL("{} <= {}").format(sql.SQL(column), sql.Literal(hi))
    if lo is None:
        return upper
    return sql.SQL("{} > {} AND {}").format(sql.SQL(column), sql.Literal(lo), upper)


# seq, prev_hash, hash, the event's refs and their count, the chained fields in key order, and
# an empty last column that the line's newline ends.
_QUICK_EVENTS = sql.SQL(
    "COPY (SELECT e.seq, e.prev_hash, e.hash, r.refs, r.n, {columns}, '' FROM audit_events e "
    "LEFT JOIN (SELECT event_seq, string_agg(ref, ' ') AS refs, "
    "count(*) AS n FROM audit_child_refs WHERE {refs_in} GROUP BY event_seq) r "
    "ON r.event_seq = e.seq WHERE {events_in} ORDER BY e.seq) TO STDOUT"
)
_QUICK_COLUMNS = sql.SQL(", ").join(
    sql.SQL(
        "CASE WHEN e.occurred_at >= '1000-01-01 00:00:00+00' "
        "AND e.occurred_at < '10000-01-01 00:00:00+00' "
        "THEN to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
    )
    if name == "occurred_at"
    else sql.Identifier("e", name)
    for name in _SORTED_FIELDS
)
_COUNT_REFS = sql.SQL("SELECT count(*) FROM audit_child_refs WHERE {}")
_PREV_HASH = "SELECT prev_hash FROM audit_events WHERE seq = %s"
# Every slot quoted but seq's; a NULL (\N) becomes null after formatting. A " inside a value is
# escaped first, so '"\N"' can only be a whole NULL value.
_TEMPLATE = (
    "{" + ",".join(f'"{f}":' + ("%s" if f == "seq" else '"%s"') for f in _SORTED_FIELDS) + "}"
).encode()
_CONTROLS = bytes(range(0x00, 0x09)) + bytes(range(0x0A, 0x20))  # all but tab, the separator
_NULL = b"\\N"
_LINES_AT_ONCE = 1024
_PER_LINE = _COLUMNS_PER_LINE - 1  # tabs a line holds
# The hash before an event and its canonical bytes, and which columns of a chunk fill them.
_COVERED = b"%s\n" + _TEMPLATE + b"\0"
_COVERED_COLUMNS = ([0, 1, 0, 0, 0] + [1] * len(_SORTED_FIELDS)) * _LINES_AT_ONCE
_HEX = methodcaller("hexdigest")


@dataclass(frozen=True, slots=True)
class Vouched:
    """A range that holds: the prev_hash of its first event, the seq after its last, the last
    event's hash, and how many events it has."""

    first_prev: str
    expected: int
    last: str
    count: int


class _Quick:
    """The quick checks over a range's COPY lines, a chunk of lines at a time, each check done
    over the whole chunk at once (in C, not line by line in Python) but the hashing."""

    def __init__(self, expected: int, previous: bytes) -> None:
        self.expected, self.last = expected, previous
        self.joined_rows = 0
        self.sure = True

    def feed(self, blocks: list[Any]) -> None:
        """Check these lines (each a COPY row with its newline), the next of the range."""
        try:
            self.sure = self.sure and self._holds(blocks)
        except ValueError:  # text where a number or a hash should be: not for this path
            self.sure = False

    def _holds(self, blocks: list[Any]) -> bool:
        n = len(blocks)
        chunk = b"".join(blocks)
        # One newline per line and no other control character; no \v escape anywhere (looked
        # for only where there is a backslash: a one-byte search is much the faster).
        if len(chunk.translate(None, _CONTROLS)) != len(chunk) - n:
            return False
        if b"\\" in chunk and b"\\v" in chunk:
            return False
        # " is escaped in the whole chunk: in seq, hashes and refs it can only spoil a match.
        # Split at tabs, the chunk is the lines' columns in a row: each line's first column
        # carries the newline that ended the line before, and the chunk ends with a newline.
        parts = chunk.replace(b'"', b'\\"').split(b"\t")
        if len(parts) != _PER_LINE * n + 1 or parts[-1] != b"\n":
            return False
        seqs = parts[0:-1:_PER_LINE]
        if b"".join(seqs).count(b"\n") != n - 1:
            return False  # so every line has its columns, no more, no fewer
        prevs, hashes = parts[1::_PER_LINE], parts[2::_PER_LINE]
        refs, counts = parts[3::_PER_LINE], parts[4::_PER_LINE]
        child_refs = parts[_SORTED_CHILD_REFS::_PER_LINE]
        if not (
            list(map(int, seqs)) == list(range(self.expected, self.expected + n))
            and prevs[0] == self.last
            and prevs[1:] == hashes[:-1]
            and _NULL not in parts[_STAMP::_PER_LINE]
        ):
            return False
        # Each event's index rows, joined in byte order, are the text it names; as many rows as
        # names (so no row holds a space; the totals are equal only if each event's are); the
        # names ASCII without escapes (split() on anything else could see other names).
        named = b"\0".join(child_refs)
        names = named.count(b" ") + n - child_refs.count(b"")
        joined = sum(map(int, b"\0".join(counts).replace(_NULL, b"0").split(b"\0")))
        if not (joined == names and b"\\" not in named and named.isascii()):
            return False
        if b"\0".join(refs).replace(_NULL, b"") != named and not _same_names(refs, child_refs):
            return False
        # What each event's hash covers, all formatted at once: the hash before it, a newline,
        # its canonical bytes; then a NUL (which text in PostgreSQL cannot hold) between events.
        covered = (
            (_COVERED * n % tuple(compress(parts, _COVERED_COLUMNS)))
            .replace(b'"\\N"', b"null")
            .split(b"\0")
        )
        computed = list(map(_HEX, map(hashlib.sha256, covered[:n])))
        if computed != list(map(bytes.decode, hashes)):
            return False
        self.expected += n
        self.last = hashes[-1]
        self.joined_rows += joined
        return True


def _same_names(refs: list[bytes], child_refs: list[bytes]) -> bool:
    """Whether each event's index rows name the children it names, in any order."""
    for indexed, named in zip(refs, child_refs, strict=True):
        if indexed == _NULL:
            if named:
                return False
        elif indexed != named and sorted(indexed.split(b" ")) != sorted(named.split(b" ")):
            return False
    return True


def _copy_out(connection: Any, statement: sql.Composable) -> Iterator[list[Any]]:
    """The rows of a COPY ... TO STDOUT, in lists of up to _LINES_AT_ONCE, all of them read.

    Read from libpq directly (psycopg.pq), blocking: psycopg's Copy.read() costs more per row
    than the checks themselves. Nothing else may be in flight on the connection.
    """
    pgconn = connection.pgconn
    encoding = connection.info.encoding
    pgconn.send_query(statement.as_bytes(connection))
    while pgconn.flush():
        wait_for([], [pgconn.socket], [])
    started = pgconn.get_result()
    finished = started is None or started.status != pq.ExecStatus.COPY_OUT
    try:
        rows: list[Any] = []
        while not finished:
            size, data = pgconn.get_copy_data(0)
            if size > 0:
                rows.append(data)
                if len(rows) == _LINES_AT_ONCE:
                    yield rows
                    rows = []
                continue
            finished = True
            if size == -2:
                raise psycopg.OperationalError(pgconn.get_error_message())
        if rows:
            yield rows
    finally:
        # Every result, so that the connection is ready for the next statement.
        while not finished:
            finished = pgconn.get_copy_data(0)[0] < 0
        failed = (
            [started] if started is not None and started.status == pq.ExecStatus.FATAL_ERROR else []
        )
        while (result := pgconn.get_result()) is not None:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                failed.append(result)
    if failed:
        raise errors.error_from_result(failed[0], encoding=encoding)


def _quick(connection: Any, lo: int | None, hi: int, previous: str | None) -> Vouched | None:
    """If every event of the range (lo, hi] holds, the first following ``previous`` (or, when
    None, the prev_hash the first one names), with its children indexed and no index row for
    any other event: what the range ends with. Otherwise None, for the exact checks."""
    with connection.cursor() as cursor:
        count = _COUNT_REFS.format(_seq_in("event_seq", lo, hi))
        indexed_rows = cursor.execute(count).fetchone()[0]
        if previous is None:
            found = cursor.execute(_PREV_HASH, ((lo or 0) + 1,)).fetchone()
            if found is None or not isinstance(found[0], str):
                return None
            previous = found[0]
    first = (lo or 0) + 1
    check = _Quick(first, previous.encode("ascii", "replace"))
    statement = _QUICK_EVENTS.format(
        columns=_QUICK_COLUMNS,
        refs_in=_seq_in("event_seq", lo, hi),
        events_in=_seq_in("e.seq", lo, hi),
    )
    for rows in _copy_out(connection, statement):
        if check.sure:  # once unsure, read on: a COPY cannot be cut short
            check.feed(rows)
    if not check.sure or check.joined_rows != indexed_rows:
        return None
    return Vouched(previous, check.expected, check.last.decode("ascii"), check.expected - first)


def _can_quick(session: Session) -> bool:
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    connection: Any = session.connection().connection.driver_connection
    return bool(connection.info.encoding == "utf-8")


# --- the quick pass in several processes ----------------------------------------------------------
#
# The ranges are checked side by side by worker processes, each on its own connection in a
# snapshot exported by the verifying transaction, so all of them read the log as it was at one
# moment. Each worker vouches for its ranges or not; the ranges must then link (each one's first
# prev_hash is the hash the range before it ends with). If any range is not vouched for, the
# whole log is verified again in order in this process, which names the break.

_worker: dict[str, Any] = {}  # in a worker process: its connection (and what keeps it open)


def _start_worker(url: str, snapshot: str) -> None:
    try:
        engine = create_engine(url, poolclass=NullPool)
        raw = engine.raw_connection()
        connection: Any = raw.driver_connection
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    except psycopg.Error:
        return  # its ranges go unvouched
    _worker.update(engine=engine, raw=raw, connection=connection)


def _vouch_range(bounds: tuple[int | None, int]) -> Vouched | None:
    connection = _worker.get("connection")
    if connection is None:
        return None
    try:
        return _quick(connection, *bounds, None)
    except psycopg.Error:
        return None


def _vouch_in_parallel(session: Session, bound: int, batch: int, workers: int) -> Vouched | None:
    """The whole log up to ``bound`` vouched for by worker processes, or None."""
    connection: Any = session.connection().connection.driver_connection
    snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    ranges = [(lo or None, min(lo + batch, bound)) for lo in range(0, bound, batch)]
    # fork: the workers need nothing imported again (the command line is single-threaded).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=min(workers, len(ranges)),
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(url, snapshot),
    ) as pool:
        results = list(pool.map(_vouch_range, ranges))
    previous, count = GENESIS_HASH, 0
    for (lo, hi), vouched in zip(ranges, results, strict=True):
        if vouched is None or vouched.first_prev != previous or vouched.count != hi - (lo or 0):
            return None
        previous, count = vouched.last, count + vouched.count
    return Vouched(GENESIS_HASH, count + 1, previous, count)


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
    session: Session, *, up_to_seq: int | None = None, batch: int = 50_000, workers: int = 1
) -> VerifyResult:
    """Recompute every event's hash in order; stop at the first that does not hold.

    The index of children by pseudonym (audit_child_refs) is derived from the events and is
    checked against them too: a row removed or added there would hide or forge a look-up.

    With ``workers`` > 1 on PostgreSQL, ranges are checked side by side in that many processes,
    which read the log as committed (not this session's own uncommitted changes); any doubt
    sends the whole log through the checks in this process.
    """
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    chain = _Chain(head_seq, head_hash, against_head=up_to_seq is None)
    bound = head_seq if up_to_seq is None else up_to_seq
    quick = _can_quick(session)
    lo: int | None = None
    whole = (
        _vouch_in_parallel(session, bound, batch, workers)
        # A snapshot cannot be exported from inside a savepoint.
        if quick
        and workers > 1
        and bound > batch
        and not session.connection().in_nested_transaction()
        else None
    )
    if whole is not None:
        chain.expected, chain.previous, chain.count = whole.expected, whole.last, whole.count
        lo = bound
    while lo != bound:
        hi = _range_end(session, lo, bound, batch)
        vouched = (
            _quick(session.connection().connection.driver_connection, lo, hi, chain.previous)
            if quick and not chain.refs_pending and chain.expected == (lo or 0) + 1
            else None
        )
        if vouched is not None:
            chain.expected, chain.previous = vouched.expected, vouched.last
            chain.count += vouched.count
        else:
            chain.add_refs(_refs(session, lo, hi))
            rows = _events(session, lo, hi, batch)
            try:
                broken = chain.feed(rows)
            finally:
                rows.close()
            if broken is not None:
                return broken
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
