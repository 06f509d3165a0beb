"""The service's own work per transfer sent, in this process, against validating the record alone.

What a sending endpoint does once the request is in (exchange.transfers.sending.send): check and
seal each record, write the transfers, their claims and audit events, commit. Measured on
PostgreSQL without HTTP, so the figures are the service's code and PostgreSQL's, nothing else:

- validate: each record validated as the service validates it (the floor: sending must do it);
- batched: ``send`` for batches of 100 (a transfer job's requests);
- single: ``send`` for one transfer at a time (POST /v1/transfers), a transaction each.

CPU per transfer of this process and of PostgreSQL's backends, the median of the rounds, and the
ratios to validation. Usage:
    python bench/sending.py [--records 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from job import environment, generate, postgres_cpu, recreate_database  # the job bench's

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "exchange_bench_sending"
SENDER, RECEIVER = "202", "873"


def setup(scratch: Path) -> None:
    """Settings (the job bench's), a fresh migrated database and its authority register."""
    url = recreate_database(ADMIN_URL, DATABASE)
    os.environ.update(environment(url, scratch))
    from exchange.app import setup_database
    from exchange.config import get_settings

    setup_database(get_settings())


def records(count: int, scratch: Path) -> list[dict[str, Any]]:
    """Canonical records of a synthetic CIN census, as JSON objects."""
    from exchange.adapters import Source, get_adapter

    census = scratch / "cin.xml"
    generate(count, census)
    read = get_adapter("cin-census")().read(Source.from_path(census))
    return [r.record.model_dump(mode="json", exclude_none=True) for r in read if r.record]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as scratch:
        setup(Path(scratch))
        import orjson
        from sqlalchemy import select

        from exchange.authorities.auth import Principal, Role
        from exchange.authorities.clients import ClientCreate, create_client
        from exchange.authorities.models import ApiClient
        from exchange.canonical.validation import validate_document
        from exchange.db import session_scope
        from exchange.transfers import idempotency, sending

        with session_scope() as session:
            client_id = create_client(
                session,
                ClientCreate(name="bench", role=Role.AUTHORITY, authority=SENDER),
                actor=None,
            ).client.id
            authority = session.scalar(
                select(ApiClient.authority_gss).where(ApiClient.id == client_id)
            )
        principal = Principal(
            client_id=client_id,
            client_name="bench",
            role=Role.AUTHORITY,
            authority=authority,
            acting_user=None,
            request_id=None,
            source_address="127.0.0.1",
        )
        documents = records(args.records, Path(scratch))

        def items(chunk: list[dict[str, Any]]) -> list[sending.SendItem]:
            made = []
            for record in chunk:
                body = {"to_authority": RECEIVER, "reason": "bench", "legal_basis": "bench"}
                body["records"] = [record]
                raw = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
                fingerprint = idempotency.request_hash("POST", "/v1/transfers", raw)
                made.append(sending.SendItem(str(uuid.uuid4()), fingerprint, body))
            return made

        def validate() -> None:
            for record in documents:
                assert validate_document(record).record is not None

        def send_in(size: int) -> Callable[[], None]:
            def run() -> None:
                for start in range(0, len(documents), size):
                    with session_scope() as session:
                        results = sending.send(
                            session, principal, items(documents[start : start + size])
                        )
                        assert all(r.status == 201 for r in results)

            return run

        ways = {"validate": validate, "batched": send_in(100), "single": send_in(1)}
        send_in(100)()  # warm-up: statements prepared, caches filled
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():  # interleaved, so a slow moment hits every way
                cpu, database = time.process_time(), postgres_cpu(DATABASE)
                way()
                measured[name].append(
                    (
                        (time.process_time() - cpu) * 1000 / len(documents),
                        (postgres_cpu(DATABASE) - database) * 1000 / len(documents),
                    )
                )

    floor = statistics.median(c for c, _ in measured["validate"])
    print(f"{len(documents):,} CIN records, {args.rounds} rounds; ms of CPU per transfer (median)")
    print(f"{'':<10} {'this process':>13} {'PostgreSQL':>11} {'process vs validate':>20}")
    for name, figures in measured.items():
        cpu = statistics.median(c for c, _ in figures)
        database = statistics.median(d for _, d in figures)
        print(f"{name:<10} {cpu:>13.3f} {database:>11.3f} {cpu / floor:>19.2f}x")


if __name__ == "__main__":
    main()
