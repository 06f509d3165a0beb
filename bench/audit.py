"""The audit log at scale, on PostgreSQL (issue 5): verify 1,000,000 events, query them with each
auditor's filter, and measure what the audit write adds to a transfer creation.

Steps, in a fresh database (dropped and created again; `exchange db upgrade` builds the schema):

1. load: 1,000,000 chained events (the chain computed here with exchange.audit.chain, exactly as
   the service computes it; COPY in batches), with realistic values: ~150 authorities, 2,000
   acting users, 100,000 children by pseudonym (NHS number for most, LA child id for all, so
   ~1.3 million audit_child_refs rows), transfers of ~8 events each, auditors' look-ups and
   refused attempts;
2. verify: exchange.audit.verify.verify_chain over the whole log, with one worker process per CPU
   as `exchange audit verify` runs it -> events/s (target >= 100,000); then in one process alone;
3. queries: exchange.audit.queries.page_events (a first page of 100, newest first, as
   GET /v1/audit/events runs it) for each filter, with a fresh random value each run, and the
   10th page (following next_cursor) of two broad filters -> p50/p95 (target p95 < 100 ms); the
   plan of any filter over target is printed;
4. write cost: transfer creations through exchange.transfers.service (validation, sealing with
   AES-GCM, commit), with the audit write and with record_event replaced by a no-op, interleaved
   in the same run -> the audit write's share (target < 20%).

Usage:
    python bench/audit.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/exchange_audit_bench]
                          [--events 1000000] [--runs 50] [--transfers 300] [--keep] [--reuse]

--keep leaves the database in place; --reuse runs verify and the write cost again on a kept one
(no load, no queries: the queries need the load's world).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/exchange_audit_bench"
START = dt.datetime(2024, 11, 25, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=730)
AUTHORITIES, USERS, CHILDREN = 150, 2_000, 100_000
BATCH = 50_000
IN_FLIGHT = 5_000  # transfers open at once: each one's ~9 events spread over about a month

GIVEN = [
    "alex",
    "sam",
    "jo",
    "chris",
    "pat",
    "kim",
    "lee",
    "ash",
    "robin",
    "jamie",
    "casey",
    "drew",
    "morgan",
    "taylor",
    "jordan",
]
FAMILY = [
    "smith",
    "jones",
    "taylor",
    "brown",
    "williams",
    "wilson",
    "johnson",
    "davies",
    "patel",
    "wright",
    "khan",
    "evans",
]
LEGAL_BASIS = (
    "Children Act 1989 s47; Working Together to Safeguard Children",
    "Children Act 1989 s17; Working Together to Safeguard Children",
)
# What happens to a transfer after it is sent, and which side does it.
LIFECYCLE = (
    ("transfer.received", "to"),
    ("record.read", "to"),
    ("transfer.acknowledged", "to"),
    ("message.question", "to"),
    ("message.answer", "from"),
    ("document.added", "from"),
    ("document.read", "to"),
    ("child.accepted", "to"),
)
EVENT_COLUMNS = (
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_authority",
    "counterpart_authority",
    "client_id",
    "role",
    "acting_user",
    "transfer_id",
    "request_id",
    "source_address",
    "purpose",
    "child_refs",
    "details",
    "prev_hash",
    "hash",
)


def configure(url: str) -> None:
    """Settings for this process (before anything reads them): the bench database and
    throwaway keys, so no key file is written."""
    os.environ["EXCHANGE_DATABASE_URL"] = url
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    os.environ.setdefault("EXCHANGE_ENCRYPTION_KEYS", f"bench-1:{key}")
    os.environ.setdefault("EXCHANGE_PSEUDONYM_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("EXCHANGE_AUDIT_SIGNING_KEY", base64.b64encode(os.urandom(32)).decode())
    os.environ.setdefault("EXCHANGE_LOG_LEVEL", "WARNING")


def fresh_database(url: str) -> None:
    """Drop and create the bench database, then build it with `exchange db upgrade`."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    exchange = Path(sys.executable).parent / "exchange"
    subprocess.run([str(exchange), "db", "upgrade"], check=True, env=os.environ, cwd=ROOT)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


# --- 1. load ----------------------------------------------------------------------------------


@dataclass
class World:
    """Who and what the events are about."""

    authorities: list[str]
    clients: dict[str, list[str]]
    auditors: list[tuple[str, str | None]]  # (client id, authority or None for national)
    users: dict[str, list[str]]
    child_home: list[str]
    child_refs: list[list[str]]
    transfers: list[str]


def make_world(rng: random.Random) -> World:
    from exchange.audit.service import la_child_pseudonym, nhs_pseudonym
    from exchange.authorities import load_registry
    from exchange.canonical.identifiers import nhs_number_check_digit

    current = sorted(a.gss_code for a in load_registry() if a.is_current)
    authorities = current[:AUTHORITIES]
    users: dict[str, list[str]] = {a: [] for a in authorities}
    for n in range(USERS):
        users[authorities[n % len(authorities)]].append(
            f"{rng.choice(GIVEN)}.{rng.choice(FAMILY)}{n}"
        )
    child_home, child_refs = [], []
    for c in range(CHILDREN):
        home = authorities[c % len(authorities)]
        refs = [la_child_pseudonym(home, f"LA{c:08d}")]
        if rng.random() < 0.7:  # NHS number is often missing
            while (
                check := nhs_number_check_digit(first := f"{rng.randrange(10**8, 10**9)}")
            ) is None:
                pass
            refs.append(nhs_pseudonym(f"{first}{check}"))
        child_home.append(home)
        child_refs.append(sorted(refs))
    clients = {a: [str(uuid.uuid4()) for _ in range(2)] for a in authorities}
    auditors = [(str(uuid.uuid4()), None) for _ in range(3)] + [
        (str(uuid.uuid4()), a) for a in authorities[:40]
    ]
    return World(authorities, clients, auditors, users, child_home, child_refs, [])


def generate(
    world: World, count: int, rng: random.Random
) -> Iterator[tuple[tuple[Any, ...], list[str]]]:
    """Events in order, chained: (row in EVENT_COLUMNS order, child refs)."""
    from exchange.audit.chain import GENESIS_HASH, event_hash

    previous = GENESIS_HASH
    step = SPAN / count
    active: list[list[Any]] = []  # [transfer id, from, to, child, next lifecycle step]
    for seq in range(1, count + 1):
        occurred = START + step * seq + dt.timedelta(seconds=rng.random())
        r = rng.random()
        refs: list[str] = []
        transfer_id = counterpart = purpose = None
        outcome, role = "success", "authority"
        if r < 0.015:  # a refused attempt
            authority = rng.choice(world.authorities)
            client, user = rng.choice(world.clients[authority]), rng.choice(world.users[authority])
            action = rng.choice(("access.denied", "auth.denied"))
            outcome, details = "denied", {"reason": "token-mismatch"}
        elif r < 0.04:  # an auditor's look-up or report
            client, authority = rng.choice(world.auditors)
            role, user = "auditor", f"ig.officer{rng.randrange(60)}"
            action = rng.choice(("audit.queried", "audit.queried", "report.activity"))
            if action == "audit.queried":
                refs = rng.choice(world.child_refs)[:1]
            details = {}
        elif not active or (r < 0.16 and len(active) < IN_FLIGHT):  # a new transfer
            child = rng.randrange(CHILDREN)
            authority = world.child_home[child]
            counterpart = rng.choice(world.authorities)
            while counterpart == authority:
                counterpart = rng.choice(world.authorities)
            transfer_id = str(uuid.uuid4())
            world.transfers.append(transfer_id)
            active.append([transfer_id, authority, counterpart, child, 0])
            client, user = rng.choice(world.clients[authority]), rng.choice(world.users[authority])
            action, purpose, refs = (
                "transfer.sent",
                rng.choice(LEGAL_BASIS),
                world.child_refs[child],
            )
            details = {"children": 1, "urgency": "routine"}
        else:  # the next step of a transfer in flight
            index = rng.randrange(len(active))
            transfer = active[index]
            transfer_id, sender, receiver, child, position = transfer
            action, side = LIFECYCLE[position]
            authority, counterpart = (receiver, sender) if side == "to" else (sender, receiver)
            client, user = rng.choice(world.clients[authority]), rng.choice(world.users[authority])
            refs = (
                world.child_refs[child]
                if action not in ("message.question", "message.answer")
                else []
            )
            details = {"position": 1} if action == "child.accepted" else {}
            transfer[4] += 1
            if transfer[4] == len(LIFECYCLE):
                active[index] = active[-1]
                active.pop()
        fields = {
            "seq": seq,
            "occurred_at": occurred,
            "action": action,
            "outcome": outcome,
            "actor_authority": authority,
            "counterpart_authority": counterpart,
            "client_id": client,
            "role": role,
            "acting_user": user,
            "transfer_id": transfer_id,
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "source_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "purpose": purpose,
            "child_refs": " ".join(refs),
            "details": json.dumps(details, sort_keys=True, separators=(",", ":")),
        }
        digest = event_hash(previous, fields)
        yield (*(fields[c] for c in EVENT_COLUMNS[:-2]), previous, digest), refs
        previous = digest


def load(url: str, count: int, world: World, rng: random.Random) -> tuple[float, int]:
    """COPY ``count`` events and their child refs in batches; returns (seconds, refs)."""
    from sqlalchemy import text

    from exchange.db import get_engine

    engine = get_engine(url)
    started = time.perf_counter()
    refs_total = 0
    last: tuple[Any, ...] = ()
    raw = engine.raw_connection()
    try:
        connection: Any = raw.driver_connection
        events = generate(world, count, rng)
        done = False
        while not done:
            batch, refs_batch = [], []
            for row, refs in events:
                batch.append(row)
                refs_batch.extend((row[0], ref) for ref in refs)
                if len(batch) == BATCH:
                    break
            done = len(batch) < BATCH
            if not batch:
                break
            with connection.cursor() as cursor:
                with cursor.copy(
                    f"COPY audit_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in batch:
                        copy.write_row(row)
                with cursor.copy("COPY audit_child_refs (event_seq, ref) FROM STDIN") as copy:
                    for pair in refs_batch:
                        copy.write_row(pair)
            connection.commit()
            refs_total += len(refs_batch)
            last = batch[-1]
            print(f"  loaded {last[0]:>9,} events", end="\r", flush=True)
    finally:
        raw.close()
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": last[0], "hash": last[-1]},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE audit_events"))
        connection.execute(text("VACUUM ANALYZE audit_child_refs"))
    print()
    return time.perf_counter() - started, refs_total


# --- 2. verify --------------------------------------------------------------------------------


def verify(url: str, workers: int) -> tuple[Any, float]:
    from exchange.audit.verify import verify_chain
    from exchange.db import session_scope

    with session_scope(url) as session:
        started = time.perf_counter()
        result = verify_chain(session, workers=workers)
        return result, time.perf_counter() - started


def hashing_rate(world: World, rng: random.Random, n: int = 100_000) -> float:
    """Events/s of the chain computation alone (no database), for comparison."""
    from exchange.audit.chain import CHAINED_FIELDS, event_hash

    rows = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row, _ in generate(world, n, rng)]
    started = time.perf_counter()
    previous = "0" * 64
    for row in rows:
        previous = event_hash(previous, {k: row[k] for k in CHAINED_FIELDS})
    return n / (time.perf_counter() - started)


# --- 3. queries -------------------------------------------------------------------------------


def query_cases(world: World, rng: random.Random) -> dict[str, Callable[[], Any]]:
    """Each filter, as a maker of a fresh EventFilter with random values."""
    from exchange.audit.queries import EventFilter

    actions = ["transfer.sent", "record.read", "child.accepted", "document.read", "access.denied"]
    users = [u for us in world.users.values() for u in us]
    national = list(world.authorities)

    def window(days: int) -> EventFilter:
        start = START + dt.timedelta(
            seconds=rng.randrange(int((SPAN - dt.timedelta(days=days)).total_seconds()))
        )
        return EventFilter(occurred_from=start, occurred_to=start + dt.timedelta(days=days))

    return {
        "authority": lambda: EventFilter(authority=rng.choice(national)),
        "action": lambda: EventFilter(action=rng.choice(actions)),
        "date range (1 day)": lambda: window(1),
        "date range (30 days)": lambda: window(30),
        "transfer": lambda: EventFilter(transfer_id=rng.choice(world.transfers)),
        "acting user": lambda: EventFilter(acting_user=rng.choice(users)),
        "child (NHS or LA id)": lambda: EventFilter(child_refs=rng.choice(world.child_refs)[-1:]),
        "authority + date range (30 days)": lambda: dataclasses.replace(
            window(30), authority=rng.choice(national)
        ),
        "authority's auditor + child": lambda: _scoped_child(world, rng),
        "authority's auditor + action": lambda: EventFilter(
            scope_authority=rng.choice(national), action=rng.choice(actions)
        ),
    }


def _scoped_child(world: World, rng: random.Random) -> Any:
    from exchange.audit.queries import EventFilter

    child = rng.randrange(CHILDREN)
    return EventFilter(scope_authority=world.child_home[child], child_refs=world.child_refs[child])


DEEP_PAGE = 10
DEEP_FILTERS = ("date range (30 days)", "authority")


def run_queries(
    url: str, world: World, rng: random.Random, runs: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Milliseconds per page, per filter (the first page, and for DEEP_FILTERS also the
    DEEP_PAGE-th, reached by following next_cursor); and each one's slowest (filter, cursor)."""
    from exchange.audit.queries import page_events
    from exchange.db import session_scope

    def cursor_to(session: Any, where: Any, page: int) -> str | None:
        cursor = None
        for _ in range(page - 1):
            _rows, cursor = page_events(session, where, limit=100, cursor=cursor)
            if cursor is None:
                break
        return cursor

    timings: dict[str, list[float]] = {}
    slowest: dict[str, Any] = {}
    with session_scope(url) as session:
        cases = [(name, make, 1) for name, make in query_cases(world, rng).items()]
        cases += [(name, make, DEEP_PAGE) for name, make, _ in cases if name in DEEP_FILTERS]
        for name, make, page in cases:
            label = name if page == 1 else f"{name}, page {page}"
            for _ in range(3):  # warm the cache
                page_events(session, make(), limit=100, cursor=None)
            samples = []
            for _ in range(runs):
                where = make()
                cursor = cursor_to(session, where, page)
                started = time.perf_counter()
                _rows, _next = page_events(session, where, limit=100, cursor=cursor)
                samples.append((time.perf_counter() - started) * 1000)
                session.expunge_all()
                if samples[-1] == max(samples):
                    slowest[label] = (where, cursor)
            timings[label] = samples
    return timings, slowest


def explain(url: str, where: Any, cursor: str | None) -> str:
    """The plan PostgreSQL runs for one page of a filter, as page_events asks for it."""
    from sqlalchemy import text

    from exchange.audit.queries import cursor_position, page_query
    from exchange.db import session_scope

    with session_scope(url) as session:
        after = cursor_position(session, where, cursor) if cursor else None
        query = page_query(where, limit=101, after=after)
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        rows = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars().all()
    return "\n".join(f"      {line}" for line in rows)


# --- 4. write cost ----------------------------------------------------------------------------


def write_cost(url: str, transfers: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Milliseconds per transfer creation, with and without the audit write, interleaved; and
    the SQL statements (round trips) one creation sends each way."""
    from sqlalchemy import event

    from exchange.audit.service import record_event
    from exchange.authorities.auth import Principal, Role
    from exchange.db import get_engine, session_scope
    from exchange.transfers import service
    from exchange.transfers.schemas import Urgency

    record = json.loads((ROOT / "schemas" / "examples" / "cp-plan-child.json").read_text())
    principal = Principal(
        client_id=str(uuid.uuid4()),
        client_name="bench",
        role=Role.AUTHORITY,
        authority="E09000007",
        acting_user="sw.bench",
        request_id=None,
        source_address="127.0.0.1",
    )

    def no_audit(*_args: Any, **_kwargs: Any) -> None:
        return None

    def create() -> tuple[float, float, float]:
        """One creation: (whole, in the transaction before commit, commit) in milliseconds."""
        started = time.perf_counter()
        with session_scope(url) as session:
            prepared = service.prepare_records(session, [record])
            service.create_transfer(
                session,
                principal,
                reason="The family moved to Cambridgeshire.",
                legal_basis=LEGAL_BASIS[0],
                urgency=Urgency.ROUTINE,
                prepared=prepared,
                receiver=service.resolve_receiver(session, principal, "873"),
            )
            stored = time.perf_counter()
        done = time.perf_counter()
        return (done - started) * 1000, (stored - started) * 1000, (done - stored) * 1000

    for _ in range(10):  # warm up: caches, connections, the registry
        create()
    statements: dict[str, int] = {}
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    for way, writer in (("with", record_event), ("without", no_audit)):
        service.record_event = writer  # type: ignore[assignment]
        sent.clear()
        event.listen(get_engine(url), "before_cursor_execute", count)
        create()
        event.remove(get_engine(url), "before_cursor_execute", count)
        statements[way] = len(sent)
    out: dict[str, list[float]] = {
        f"{part} {way}": [] for part in ("whole", "work", "commit") for way in ("with", "without")
    }
    block = 25
    for start in range(0, transfers, block):
        for audited in (True, False) if (start // block) % 2 == 0 else (False, True):
            service.record_event = record_event if audited else no_audit  # type: ignore[assignment]
            way = "with" if audited else "without"
            for _ in range(min(block, transfers - start)):
                for part, ms in zip(("whole", "work", "commit"), create(), strict=True):
                    out[f"{part} {way}"].append(ms)
    service.record_event = record_event
    return out, statements


# --- report -----------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("EXCHANGE_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--transfers", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="Keep the bench database afterwards.")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Verify and measure the write cost on a kept database (no load, no queries).",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.reuse
    configure(args.url)
    rng = random.Random(args.seed)

    print(f"database: {args.url.rsplit('@', 1)[-1]} ({'kept' if args.reuse else 'fresh'})")
    print(
        f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"({os.cpu_count()} CPUs; other work on the machine slows every figure)"
    )
    if not args.reuse:
        fresh_database(args.url)
    try:
        world = make_world(rng)
        if not args.reuse:
            print(f"load: {args.events:,} events ...")
            seconds, refs = load(args.url, args.events, world, rng)
            print(
                f"  {args.events:,} events, {refs:,} child refs, {len(world.transfers):,} "
                f"transfers, {len(world.authorities)} authorities, {USERS:,} users, "
                f"{CHILDREN:,} children in {seconds:.0f} s "
                f"({args.events / seconds:,.0f} events/s incl. hashing and COPY)"
            )

        workers = os.cpu_count() or 1
        result, seconds = verify(args.url, workers)
        rate = result.events / seconds
        print(
            "\nverify (exchange.audit.verify.verify_chain, whole log, as `exchange audit verify` "
            f"runs it: {workers} worker processes)"
        )
        print(f"  ok={result.ok} events={result.events:,} in {seconds:.2f} s")
        print(
            f"  {rate:,.0f} events/s   target >= 100,000/s: {'MET' if rate >= 100_000 else 'NOT MET'}"
        )
        alone, seconds = verify(args.url, 1)
        print(
            f"  (one process alone, as GET /v1/audit/verify runs it: ok={alone.ok}, "
            f"{alone.events / seconds:,.0f} events/s)"
        )
        print(
            f"  (hashing alone, no database: {hashing_rate(world, random.Random(1)):,.0f} events/s)"
        )

        timings: dict[str, list[float]] = {}
        slowest: dict[str, tuple[Any, str | None]] = {}
        if not args.reuse:
            print(f"\nqueries (page_events, a page of 100, newest first; {args.runs} runs each)")
            print(
                f"  {'filter':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target p95 < 100 ms"
            )
            timings, slowest = run_queries(args.url, world, rng, args.runs)
        slow = []
        for name, samples in timings.items():
            p95 = percentile(samples, 0.95)
            verdict = "MET" if p95 < 100 else "NOT MET"
            print(
                f"  {name:<34} {statistics.median(samples):>8.1f} {p95:>8.1f} "
                f"{max(samples):>8.1f}  {verdict}"
            )
            if p95 >= 100:
                slow.append(name)
        for name in slow:
            where, cursor = slowest[name]
            print(
                f"\n  plan of the slowest '{name}' query ({where}, cursor={cursor}):\n"
                f"{explain(args.url, where, cursor)}"
            )

        print(
            f"\nwrite cost ({args.transfers} transfer creations each way, with the example "
            "record, interleaved in blocks of 25)"
        )
        cost, statements = write_cost(args.url, args.transfers)
        median = {k: statistics.median(v) for k, v in cost.items()}
        print(f"  {'median ms':<48} {'with audit':>11} {'no-op':>8} {'audit':>8} {'share':>7}")
        for part, label in (
            ("whole", "transfer creation (validate, seal, store, commit)"),
            ("work", "  of which before commit"),
            ("commit", "  of which commit"),
        ):
            with_ms, without_ms = median[f"{part} with"], median[f"{part} without"]
            share = (with_ms - without_ms) / with_ms if with_ms else 0.0
            print(
                f"  {label:<48} {with_ms:>11.2f} {without_ms:>8.2f} "
                f"{with_ms - without_ms:>8.2f} {share:>7.1%}"
            )
        print(
            f"  SQL statements through SQLAlchemy per creation: {statements['with']} with the "
            f"audit write, {statements['without']} without (on PostgreSQL the rows go by COPY and the "
            "audit write's two statements straight to the driver: neither is counted here)"
        )
        share = (median["whole with"] - median["whole without"]) / median["whole with"]
        print(
            f"  the audit write's share of a transfer creation: {share:.1%} "
            f"(target < 20%: {'MET' if share < 0.20 else 'NOT MET'})"
        )
        print(
            f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            f"({os.cpu_count()} CPUs)"
        )
    finally:
        if args.keep:
            print(f"\nkept {args.url.rsplit('/', 1)[-1]}")
        else:
            from exchange.db import get_engine

            get_engine(args.url).dispose()
            drop_database(args.url)


if __name__ == "__main__":
    main()
