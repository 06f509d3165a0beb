"""Endpoints that commit in their own worker thread: what succeeded is kept, what failed is not."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from exchange.audit.models import AuditEvent
from exchange.audit.service import record_event
from exchange.db import SessionDep, committing, get_session, run_committing


def _app(connection: Connection, threads: dict[str, int]) -> FastAPI:
    app = FastAPI()

    def _session() -> Iterator[Session]:
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
            threads["boundary_in_transaction"] = int(session.in_transaction())

    app.dependency_overrides[get_session] = _session

    @app.post("/kept")
    @committing
    def kept(session: SessionDep) -> dict[str, int]:
        record_event(session, action="test.kept", actor=None)
        threads["endpoint"] = threading.get_ident()
        return {"ok": 1}

    @app.post("/refused")
    @committing
    def refused(session: SessionDep) -> dict[str, int]:
        record_event(session, action="test.refused", actor=None)
        raise ValueError("refused after writing")

    @app.post("/read-first")
    async def read_first(session: SessionDep) -> dict[str, int]:
        def work() -> dict[str, int]:
            record_event(session, action="test.read-first", actor=None)
            return {"ok": 1}

        return await run_committing(session, work)

    return app


def _count(connection: Connection, action: str) -> int:
    return connection.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    ).scalar_one()


def test_a_successful_request_is_committed_before_the_boundary(connection: Connection) -> None:
    threads: dict[str, int] = {}
    with TestClient(_app(connection, threads)) as client:
        assert client.post("/kept").json() == {"ok": 1}
        assert client.post("/read-first").json() == {"ok": 1}
    assert _count(connection, "test.kept") == 1
    assert _count(connection, "test.read-first") == 1
    # The endpoint's own thread committed: the request boundary found nothing left to commit.
    assert threads["boundary_in_transaction"] == 0
    assert threads["endpoint"] != threading.get_ident()


def test_a_request_that_fails_after_writing_leaves_nothing(connection: Connection) -> None:
    with TestClient(_app(connection, {}), raise_server_exceptions=False) as client:
        assert client.post("/refused").status_code == 500
    assert _count(connection, "test.refused") == 0
