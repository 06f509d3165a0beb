"""Load on the transfer API over PostgreSQL: throughput and latency per operation, with
GET /healthz measured in the same run as the ceiling.

What it does, in order (everything on 127.0.0.1, everything bounded, the server stopped at the end):

1. drops and creates the database ``exchange_bench`` and runs ``exchange db upgrade`` on it;
2. creates API clients for Camden (202, the sender) and Cambridgeshire (873, the receiver);
3. with ``--seed-transfers N``, bulk-inserts N transfers to Cambridgeshire by SQL (one small sealed
   record blob shared by all; ``--seed-open-percent`` of them still in the inbox), so the inbox is
   measured against a large table;
4. starts ``exchange serve --workers W`` as a subprocess on a free port and waits for /readyz;
5. from a separate process, C concurrent clients (asyncio; each client its own httpx.AsyncClient,
   or with ``--client raw`` a bare HTTP/1.1 connection) run one phase per operation, each bounded
   by time and by count: GET /healthz, create (POST /v1/transfers with an Idempotency-Key and the
   example record), list the inbox (with all C clients, then with one client alone), read a
   transfer, read its record, acknowledge, accept;
6. prints, per operation: requests, errors, requests/s, p50/p95/p99 latency in ms, the ratio to
   /healthz, the load process's CPU share, and the CPU time per request of the server (its worker
   processes) and of PostgreSQL (the processes named ``postgres``, when the database server runs
   on this machine), both from /proc.

Targets (issue 4): >= 300 creations/s with p99 < 150 ms at 32 clients; inbox p99 < 50 ms with
1 million transfers in the database. Usage:

    python bench/api_load.py [--workers 2] [--concurrency 32] [--phase-seconds 3]
                             [--client httpx|raw] [--seed-transfers 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import math
import multiprocessing
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from _server import free_port, start_server, stop_server, wait_ready

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "schemas" / "examples" / "cp-plan-child.json"
SENDER, RECEIVER = "202", "873"  # the example record is Camden's; Cambridgeshire receives it
SEED_BATCH = 100_000
PHASES = ("healthz", "create", "inbox", "inbox-solo", "read", "record", "acknowledge", "accept")


# --- setting up: database, clients, seed rows, server ---------------------------------------------


def bench_environment(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    """The settings the server and this script share (fresh keys: nothing is written to ./data)."""
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return {
        "EXCHANGE_DATABASE_URL": database_url(args),
        "EXCHANGE_ENCRYPTION_KEYS": f"bench:{key}",
        "EXCHANGE_PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "EXCHANGE_DATA_DIR": str(data_dir),
        "EXCHANGE_LOG_LEVEL": "WARNING",
        "EXCHANGE_MIGRATE_ON_START": "false",
    }


def database_url(args: argparse.Namespace) -> str:
    from sqlalchemy.engine import make_url

    return make_url(args.admin_url).set(database=args.database).render_as_string(False)


def recreate_database(args: argparse.Namespace) -> None:
    """DROP and CREATE the bench database (never any other)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{args.database}"'))
    engine.dispose()


def exchange_command() -> list[str]:
    """The `exchange` command line, run by this interpreter (no dependency on the script's path)."""
    return [sys.executable, "-c", "import sys; from exchange.cli import app; app()"]


def create_clients() -> tuple[str, str]:
    """Tokens of an authority client for the sender and one for the receiver."""
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.db import session_scope

    with session_scope() as session:
        tokens = [
            create_client(
                session,
                ClientCreate(name=f"bench {code}", role=Role.AUTHORITY, authority=code),
                actor=None,
            ).token
            for code in (SENDER, RECEIVER)
        ]
    return tokens[0], tokens[1]


SEED_SQL = """
WITH seeded AS (
    INSERT INTO transfers (
        id, from_authority, to_authority, status, reason, legal_basis, urgency, created_at,
        created_by_client, received_at, acknowledged_at, decided_at, closed_at,
        acknowledgement_due, conference_due, conference_clock_started
    )
    SELECT
        gen_random_uuid()::text,
        (CAST(:senders AS text[]))[1 + s.g % :sender_count],
        :receiver,
        s.status,
        'Seeded for the inbox benchmark.',
        'Children Act 1989 s47',
        'routine',
        s.at,
        'bench-seed',
        CASE WHEN s.status <> 'sent' THEN s.at + interval '1 hour' END,
        CASE WHEN s.status IN ('acknowledged', 'accepted') THEN s.at + interval '1 day' END,
        CASE WHEN s.status = 'accepted' THEN s.at + interval '10 days' END,
        CASE WHEN s.status = 'accepted' THEN s.at + interval '10 days' END,
        s.at + interval '1 day',
        CAST(s.at + interval '22 days' AS date),
        s.status IN ('acknowledged', 'accepted')
    FROM (
        SELECT
            g,
            now() - interval '1 hour' - make_interval(secs => (g * 7919) % 94608000) AS at,
            CASE WHEN g % 100 < :open_percent
                 THEN (ARRAY['sent', 'received', 'acknowledged'])[1 + g % 3]
                 ELSE 'accepted' END AS status
        FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
    ) AS s
    RETURNING id, status
)
INSERT INTO transfer_children (
    id, transfer_id, position, status, record_blob_id, nhs_ref, la_child_ref, problems_json
)
SELECT gen_random_uuid()::text, seeded.id, 1,
       CASE WHEN seeded.status = 'accepted' THEN 'accepted' ELSE 'pending' END,
       :blob_id, 'nhs:' || md5(seeded.id), 'la:' || md5('la' || seeded.id), '[]'
FROM seeded
"""


def seed_transfers(count: int, open_percent: int) -> float:
    """Insert ``count`` transfers to the receiver straight into the tables; returns seconds."""
    from sqlalchemy import select, text

    from exchange.authorities.models import AuthorityRow
    from exchange.authorities.repository import get_authority
    from exchange.db import get_engine, session_scope
    from exchange.vault.service import seal

    started = time.perf_counter()
    record = {
        "provenance": {"source_authority": SENDER},
        "child": {
            "identifiers": [{"system": "la_child_id", "value": "SEED1", "issuer": SENDER}],
            "birth_date": "2019-05-04",
        },
    }
    with session_scope() as session:
        receiver = get_authority(session, RECEIVER)
        assert receiver is not None
        senders = list(
            session.scalars(
                select(AuthorityRow.gss_code).where(
                    AuthorityRow.end_date.is_(None), AuthorityRow.gss_code != receiver.gss_code
                )
            )
        )
        blob = seal(session, "record", json.dumps(record).encode())
        session.flush()
        blob_id, receiver_gss = blob.id, receiver.gss_code
    for first in range(1, count + 1, SEED_BATCH):
        last = min(first + SEED_BATCH - 1, count)
        with session_scope() as session:
            session.execute(text("SET LOCAL synchronous_commit = off"))
            session.execute(
                text(SEED_SQL),
                {
                    "senders": senders,
                    "sender_count": len(senders),
                    "receiver": receiver_gss,
                    "open_percent": open_percent,
                    "first": first,
                    "last": last,
                    "blob_id": blob_id,
                },
            )
        print(f"  seeded {last:,} / {count:,} transfers ({time.perf_counter() - started:.0f} s)")
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) transfers, transfer_children"))
    return time.perf_counter() - started


# --- the load, in its own process -----------------------------------------------------------------

Reply = tuple[int, bytes]


class HttpxClient:
    """One simulated client: its own httpx.AsyncClient and keep-alive connection.

    One client object per simulated client, not one shared pool: a single AsyncClient shared by
    32 tasks spends its time in the pool's bookkeeping and caps the load far below the server.
    """

    def __init__(self, base_url: str) -> None:
        import httpx

        self._client = httpx.AsyncClient(base_url=base_url, timeout=60)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        response = await self._client.request(method, path, headers=headers, content=body)
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


class RawClient:
    """One simulated client speaking plain HTTP/1.1 on a keep-alive asyncio connection.

    Far less client CPU per request than httpx, so the ceiling measured is the server's. Like
    any keep-alive client, it opens a new connection rather than reuse one left idle longer than
    the server keeps it (uvicorn closes an idle connection after 5 s).
    """

    IDLE_SECONDS = 4.0

    def __init__(self, base_url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0.0

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Reply:
        if time.monotonic() - self._used > self.IDLE_SECONDS:
            await self.close()
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}:{self._port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (h.partition(":") for h in header_lines if h)
        }
        if fields.get("transfer-encoding", "").lower() == "chunked":
            content = b""
            while size := int((await self._reader.readuntil(b"\r\n")).strip(), 16):
                content += await self._reader.readexactly(size + 2)
                content = content[:-2]
            await self._reader.readuntil(b"\r\n")
        else:
            content = await self._reader.readexactly(int(fields.get("content-length", "0")))
        self._used = time.monotonic()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), content

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None


Client = HttpxClient | RawClient
Request = Callable[[Client, Any], Awaitable[tuple[bool, str | None]]]


def cpu_seconds(root: int | None) -> tuple[float, float]:
    """CPU seconds used so far by a process and its descendants, and by the processes named
    ``postgres`` (the database server, when it runs on this machine): Linux /proc, NaN elsewhere.
    """
    if root is None or not Path("/proc").is_dir():
        return math.nan, math.nan
    ticks = os.sysconf("SC_CLK_TCK")
    processes: dict[int, tuple[int, float]] = {}
    database = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        fields = rest.split()  # after "pid (name)": state, ppid, ...
        used = (int(fields[11]) + int(fields[12])) / ticks
        processes[int(entry)] = (int(fields[1]), used)
        if name == "postgres":  # with its children that have ended (cutime, cstime)
            database += used + (int(fields[13]) + int(fields[14])) / ticks
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += processes.get(pid, (0, 0.0))[1]
        pending.extend(child for child, (parent, _) in processes.items() if parent == pid)
    return total, database


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run_phase(
    name: str,
    clients: list[Client],
    work: Iterator[Any],
    request: Request,
    *,
    seconds: float,
    max_requests: int,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Each client sends requests for the items of ``work`` until time, count or items run out."""
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    cpu_started = time.process_time()
    server_cpu_started, database_cpu_started = cpu_seconds(server_pid)

    async def worker(client: Client) -> None:
        while time.perf_counter() < deadline and len(latencies) < max_requests:
            item = next(work, None)
            if item is None:
                return
            sent = time.perf_counter()
            try:
                ok, problem = await request(client, item)
            except Exception as exc:
                ok, problem = False, f"{type(exc).__name__}: {exc}"
                await client.close()  # a broken connection is not reused
            latencies.append(time.perf_counter() - sent)
            if not ok:
                errors.append(problem or "error")

    await asyncio.gather(*(worker(client) for client in clients))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    server_cpu, database_cpu = cpu_seconds(server_pid)
    server_cpu -= server_cpu_started
    database_cpu -= database_cpu_started
    ordered = sorted(latencies)
    return {
        "name": name,
        "count": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed else math.nan,
        "client_cpu": cpu / elapsed if elapsed else math.nan,
        "server_cpu_ms": server_cpu * 1000 / len(latencies) if latencies else math.nan,
        "database_cpu_ms": database_cpu * 1000 / len(latencies) if latencies else math.nan,
        "p50": percentile(ordered, 50) * 1000,
        "p95": percentile(ordered, 95) * 1000,
        "p99": percentile(ordered, 99) * 1000,
    }


async def drive_async(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The phases, one per operation, each client on its own connection."""
    seconds: float = config["phase_seconds"]
    max_requests: int = config["max_requests"]
    sender = {"Authorization": f"Bearer {config['sender']}"}
    receiver = {"Authorization": f"Bearer {config['receiver']}"}
    as_json = {"Content-Type": "application/json"}
    body = json.dumps(
        {
            "to_authority": RECEIVER,
            "reason": "The family moved to Cambridgeshire.",
            "legal_basis": "Children Act 1989 s47; Working Together to Safeguard Children",
            "urgency": "urgent",
            "records": [json.loads(EXAMPLE.read_text())],
        }
    ).encode()
    conference = (dt.date.today() + dt.timedelta(days=21)).isoformat()
    created: list[str] = []

    def expect(status: int, reply: Reply) -> tuple[bool, str | None]:
        if reply[0] == status:
            return True, None
        return False, f"{reply[0]} {reply[1][:200].decode('utf-8', 'replace')}"

    async def healthz(client: Client, _: Any) -> tuple[bool, str | None]:
        return expect(200, await client.request("GET", "/healthz", {}))

    async def create(client: Client, _: Any) -> tuple[bool, str | None]:
        headers = {**sender, **as_json, "Idempotency-Key": str(uuid.uuid4())}
        reply = await client.request("POST", "/v1/transfers", headers, body)
        if reply[0] == 201:
            created.append(json.loads(reply[1])["id"])
        return expect(201, reply)

    async def inbox(client: Client, _: Any) -> tuple[bool, str | None]:
        return expect(200, await client.request("GET", "/v1/inbox", receiver))

    async def read(client: Client, transfer_id: str) -> tuple[bool, str | None]:
        return expect(200, await client.request("GET", f"/v1/transfers/{transfer_id}", receiver))

    async def record(client: Client, transfer_id: str) -> tuple[bool, str | None]:
        path = f"/v1/transfers/{transfer_id}/record"
        return expect(200, await client.request("GET", path, receiver))

    async def acknowledge(client: Client, transfer_id: str) -> tuple[bool, str | None]:
        path = f"/v1/transfers/{transfer_id}/acknowledge"
        return expect(200, await client.request("POST", path, receiver))

    async def accept(client: Client, transfer_id: str) -> tuple[bool, str | None]:
        decision = {
            "receiver_child_id": f"CAMBS-{transfer_id[:8]}",
            "transfer_in_conference_date": conference,
        }
        path = f"/v1/transfers/{transfer_id}/children/1/accept"
        reply = await client.request(
            "POST", path, {**receiver, **as_json}, json.dumps(decision).encode()
        )
        return expect(200, reply)

    def forever() -> Iterator[int]:
        yield from range(10**12)

    kind = RawClient if config["client"] == "raw" else HttpxClient
    clients: list[Client] = [kind(config["base_url"]) for _ in range(config["concurrency"])]
    try:
        # Warm-up (not measured): every worker process imports, connects and fills its pools.
        for warm in (healthz, create, inbox):
            await run_phase(
                "warm-up",
                clients,
                forever(),
                warm,
                seconds=1.0,
                max_requests=4 * len(clients),
            )
        created.clear()
        results = []
        done: list[str] = []
        operations: list[tuple[str, Request]] = [
            ("healthz", healthz),
            ("create", create),
            ("inbox", inbox),
            ("inbox-solo", inbox),
            ("read", read),
            ("record", record),
            ("acknowledge", acknowledge),
            ("accept", accept),
        ]
        wanted = set(config["operations"])
        for name, request in operations:
            if name not in wanted:
                continue
            work = forever() if name in ("healthz", "create", "inbox", "inbox-solo") else iter(done)
            result = await run_phase(
                name,
                # The listing's own latency, without 31 other requests queued in front of it.
                clients[:1] if name == "inbox-solo" else clients,
                work,
                request,
                seconds=seconds,
                max_requests=max_requests,
                server_pid=config["server_pid"],
            )
            results.append(result)
            if name == "create":
                done = list(created)
                if not done:
                    break
            elif name == "acknowledge":
                # Accept only what was acknowledged (a phase may stop before the end of the list).
                done = done[: result["count"]]
        return results
    finally:
        for client in clients:
            await client.close()


def drive(config: dict[str, Any], results: Any) -> None:
    """Entry point of the load process (on uvloop when it is installed: less client overhead)."""
    try:
        import uvloop
    except ImportError:
        results.put(asyncio.run(drive_async(config)))
    else:
        results.put(uvloop.run(drive_async(config)))


# --- the report ----------------------------------------------------------------------------------


def report(results: list[dict[str, Any]], transfers_in_db: int, args: argparse.Namespace) -> None:
    by_name = {r["name"]: r for r in results}
    ceiling = by_name.get("healthz")
    print()
    print(
        f"{'operation':<12} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'req/s vs healthz':>17} {'p99 vs healthz':>15} "
        f"{'load CPU':>9} {'server CPU ms/req':>17} {'PostgreSQL CPU ms/req':>21}"
    )
    for r in results:
        ratio = r["rps"] / ceiling["rps"] if ceiling else math.nan
        slower = r["p99"] / ceiling["p99"] if ceiling else math.nan
        print(
            f"{r['name']:<12} {r['count']:>9,} {r['errors']:>7,} {r['rps']:>9.1f} "
            f"{r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {ratio:>16.1%} {slower:>14.1f}x "
            f"{r['client_cpu']:>9.0%} {r['server_cpu_ms']:>17.1f} {r['database_cpu_ms']:>21.1f}"
        )
        for sample in r["error_samples"]:
            print(f"{'':<12} error: {sample}")
    print()
    create, inbox, solo = by_name.get("create"), by_name.get("inbox"), by_name.get("inbox-solo")
    if create:
        print(
            f"create: {create['rps']:.0f}/s (target >= 300), p99 {create['p99']:.0f} ms "
            f"(target < 150) at {args.concurrency} clients, {args.workers} worker(s); "
            f"{create['server_cpu_ms']:.1f} ms of server CPU each, "
            f"{create['database_cpu_ms']:.1f} ms of PostgreSQL's"
        )
    if inbox and solo:
        print(
            f"inbox:  p99 {solo['p99']:.1f} ms for one client alone, {inbox['p99']:.1f} ms among "
            f"{args.concurrency}, with {transfers_in_db:,} transfers in the database "
            f"(target < 50 ms at 1,000,000)"
        )


def phases_to_run(requested: str) -> list[str]:
    """The phases asked for (comma-separated), with those they need, in their usual order."""
    wanted = {name.strip() for name in requested.split(",") if name.strip()}
    if unknown := sorted(wanted - set(PHASES)):
        sys.exit(f"--operations: unknown {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    if wanted & {"read", "record", "acknowledge", "accept"}:
        wanted.add("create")  # they work on the transfers it made
    if "accept" in wanted:
        wanted.add("acknowledge")  # only an acknowledged transfer can be accepted
    return [name for name in PHASES if name in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="A database on the server where the bench database is (re)created.",
    )
    parser.add_argument("--database", default="exchange_bench", help="Dropped and recreated.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes.")
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent clients.")
    parser.add_argument("--phase-seconds", type=float, default=3.0, help="Per operation.")
    parser.add_argument(
        "--operations",
        default=",".join(PHASES),
        help="Comma-separated phases to run, in their usual order (default: all); create also "
        "runs when a later phase needs transfers to work on.",
    )
    parser.add_argument("--max-requests", type=int, default=50_000, help="Per operation.")
    parser.add_argument("--seed-transfers", type=int, default=0, help="Rows to insert first.")
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="Keep the bench database of an earlier run (e.g. one already seeded).",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="httpx.AsyncClient per simulated client, or a bare HTTP/1.1 client (less client "
        "CPU, so a higher ceiling on a small machine).",
    )
    parser.add_argument(
        "--seed-open-percent",
        type=int,
        default=15,
        help="Share of seeded transfers still open (in the inbox); the rest are accepted.",
    )
    args = parser.parse_args()
    operations = phases_to_run(args.operations)
    if not args.database.replace("_", "").isalnum():
        sys.exit("--database must be letters, digits and _")

    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as scratch:
        env = bench_environment(args, Path(scratch))
        os.environ.update(env)  # before exchange reads its settings
        if args.reuse_database:
            print(f"database {args.database}: reusing it as it is (no drop, no create)")
        else:
            print(f"database {args.database}: recreating and migrating")
            recreate_database(args)
        subprocess.run(
            [*exchange_command(), "db", "upgrade"],
            env={**os.environ},
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        sender, receiver = create_clients()
        if args.seed_transfers:
            print(f"seeding {args.seed_transfers:,} transfers by SQL")
            took = seed_transfers(args.seed_transfers, args.seed_open_percent)
            print(f"  done in {took:.0f} s ({args.seed_transfers / took:,.0f} transfers/s)")

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = Path(scratch) / "server.log"
        server = start_server(
            exchange_command(), {**os.environ, **env}, port, args.workers, log, ROOT
        )
        try:
            wait_ready(base_url, server, log, timeout=60)
            print(
                f"server ready on {base_url} ({args.workers} workers); "
                f"{args.concurrency} {args.client} clients, {args.phase_seconds:g} s per operation"
            )
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            config = {
                "base_url": base_url,
                "sender": sender,
                "receiver": receiver,
                "concurrency": args.concurrency,
                "phase_seconds": args.phase_seconds,
                "max_requests": args.max_requests,
                "client": args.client,
                "server_pid": server.pid,
                "operations": operations,
            }
            load = context.Process(target=drive, args=(config, queue), daemon=True)
            load_before = os.getloadavg()[0]
            load.start()
            budget = 60 + args.phase_seconds * len(operations) * 3
            try:
                results = queue.get(timeout=budget)
            finally:
                load.join(timeout=10)
                if load.is_alive():
                    load.terminate()
            load_after = os.getloadavg()[0]
        finally:
            stop_server(server)

        from sqlalchemy import func, select

        from exchange.db import session_scope
        from exchange.transfers.models import Transfer

        with session_scope() as session:
            in_db = int(session.scalar(select(func.count()).select_from(Transfer)) or 0)
        report(results, in_db, args)
        print(
            f"machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.1f} before "
            f"the load, {load_after:.1f} after (the server, the load process and PostgreSQL "
            "share these CPUs; other work on the machine lowers every figure)"
        )


if __name__ == "__main__":
    main()
