"""Test database and app: SQLite by default, PostgreSQL when EXCHANGE_TEST_DATABASE_URL is set.

The schema is built by the real migrations (down and up again, so downgrades are exercised);
each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

TEST_DATABASE_URL = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
# Fixed test secrets (never used anywhere else): the suite must not write key files.
TEST_KEYS = "test-k1:" + "A" * 43 + "="
os.environ["EXCHANGE_ENCRYPTION_KEYS"] = TEST_KEYS
os.environ["EXCHANGE_PSEUDONYM_KEY"] = "test-pseudonym-key"
os.environ["EXCHANGE_AUDIT_SIGNING_KEY"] = "B" * 43 + "="


def pytest_report_header(config: pytest.Config) -> str:
    url = make_url(TEST_DATABASE_URL) if TEST_DATABASE_URL else None
    return f"database: {url.get_backend_name() if url else 'sqlite (temporary file)'}"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except Exception as exc:
        pytest.exit(
            f"EXCHANGE_TEST_DATABASE_URL is set but the database cannot be used: {exc}",
            returncode=3,
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database with the authority registry loaded."""
    if TEST_DATABASE_URL:
        url = TEST_DATABASE_URL
        if make_url(url).get_backend_name() == "postgresql":
            _reset_postgres(url)
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('db')) / 'exchange.db'}"
    os.environ["EXCHANGE_DATABASE_URL"] = url
    from exchange.config import get_settings

    get_settings.cache_clear()
    from exchange import keys

    keys.reset()
    from exchange.app import setup_database
    from exchange.db.migrate import downgrade, upgrade

    upgrade(url)
    downgrade(url)
    setup_database(get_settings())
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Engine:
    from exchange.db import get_engine

    return get_engine(database_url)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the test's transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def app(session: Session) -> FastAPI:
    from exchange.app import create_app
    from exchange.audit.service import Actor, record_event
    from exchange.authorities.auth import DeniedWriter, get_denied_writer
    from exchange.config import get_settings
    from exchange.db import get_session

    application = create_app(get_settings())

    def _session() -> Iterator[Session]:
        yield session
        session.flush()

    def _denied() -> Iterator[DeniedWriter]:
        # Kept in the test's transaction (the service writes them in a transaction of their own).
        def write(
            actor: Actor, action: str, details: dict[str, str], transfer_id: str | None = None
        ) -> None:
            with session.begin_nested():
                record_event(
                    session,
                    action=action,
                    actor=actor,
                    outcome="denied",
                    transfer_id=transfer_id,
                    details=details,
                )

        yield write

    application.dependency_overrides[get_session] = _session
    application.dependency_overrides[get_denied_writer] = _denied
    return application


@pytest.fixture
def make_client(session: Session) -> Callable[..., str]:
    """Create an API client in the test's transaction; returns its bearer token."""
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client

    def make(
        role: str = "authority", authority: str | None = "202", name: str = "test client"
    ) -> str:
        body = ClientCreate(name=name, role=Role(role), authority=authority)
        return create_client(session, body, actor=None).token

    return make


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
