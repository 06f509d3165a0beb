"""Engines and sessions. A request commits once, at its end (in the endpoint's worker thread, see
:func:`committing`, or else at the request boundary); a CLI command commits when it is done."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from exchange.config import get_settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # read-only checks (readiness) must not wait for the write lock
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@functools.cache
def get_engine(url: str | None = None) -> Engine:
    """The engine for a database URL (default: the configured one), created once per URL."""
    url = url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Every request writes (reads are audited), so SQLite transactions take the write lock
        # when they begin: no transaction can read, then find it may not write.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # At least as many pooled connections as requests may use the database at once (see
    # _turn); the overflow serves work outside requests (refusals audited on their own).
    size = max(10, get_settings().max_active_requests)
    return create_engine(url, pool_pre_ping=True, pool_size=size, max_overflow=10)


@functools.cache
def _session_factory(url: str | None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = _session_factory(url)()
    try:
        yield session
    except BaseException:
        _end(session, commit=False)
        raise
    _end(session, commit=True)


async def get_session() -> AsyncIterator[Session]:
    """Request-scoped session: the request boundary commits, or rolls back on error.

    Opening a session does no I/O (it connects on first use), so it happens on the event loop;
    the end (commit or rollback, then returning the connection) is one hop to a worker thread.
    On SQLite, which has one writer at a time and whose transactions take the write lock when
    they begin, a process's requests take turns: a request holding the lock never waits for a
    worker thread that another request, waiting for that lock, has taken. On PostgreSQL a few
    requests use the database at once (see _turn).
    """
    factory = _session_factory(None)
    sqlite = factory.kw["bind"].dialect.name == "sqlite"
    turn = _turn(1 if sqlite else get_settings().max_active_requests)
    await turn.acquire()
    try:
        session = factory()
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    functools.partial(_end, session, commit=False),
                    limiter=anyio.CapacityLimiter(1),
                )
            raise
        if not session.in_transaction():
            session.close()  # committed by the endpoint itself (see committing): no I/O left
            return
        with anyio.CancelScope(shield=True):
            # A limiter of its own: the transaction may hold the audit chain's head, which the
            # requests filling the shared thread pool are waiting for.
            await anyio.to_thread.run_sync(
                functools.partial(_end, session, commit=True), limiter=anyio.CapacityLimiter(1)
            )
    finally:
        turn.release()


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _turn(places: int) -> anyio.Semaphore:
    """The places among this process's requests that use the database at once.

    SQLite has one: its transactions take the write lock when they begin, so a request holding
    it never waits for a worker thread that another request, waiting for that lock, has taken.

    PostgreSQL has a few (``max_active_requests``). Each such request works in worker threads
    that share the interpreter's lock. With dozens at once, a thread whose query has returned
    waits behind all the others for the lock, holding its transaction (and, at the end, the
    audit chain's head, which every request needs) all that time: measured with 32 clients,
    four at a time per process served half again as many creations as forty, with a p99 under
    half. The rest wait here, on the event loop, holding nothing. A request keeps its place
    (and its connection) to its end, reading its body included, and uses one session (a
    streaming endpoint authenticates in its own session); there are no more places than pooled
    connections, so a request holding a connection never waits for a place held by one that
    waits for a connection. In front of the service, a proxy that buffers request bodies (as
    nginx does by default) keeps slow uploads from holding places.
    """
    loop = asyncio.get_running_loop()
    turn = _TURNS.get(loop)
    if turn is None:
        turn = _TURNS[loop] = anyio.Semaphore(places)
    return turn


P = ParamSpec("P")
R = TypeVar("R")


def committing(endpoint: Callable[P, R]) -> Callable[P, R]:
    """A sync endpoint (taking ``session``) that commits in its own worker thread as it returns.

    An audited request holds the audit chain's head from its event to its commit. Committed at
    the request boundary, that commit waits for the event loop to come back to the request and
    for a thread to run it in, behind every other request of the process: the head, which every
    request needs, is held that long. Committed here, it is held for one round trip. The commit
    still comes before the response; if the endpoint raises, nothing is committed and the
    boundary rolls back.
    """

    @functools.wraps(endpoint)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        result = endpoint(*args, **kwargs)
        session = kwargs["session"]
        assert isinstance(session, Session)
        session.commit()
        return result

    return run


async def run_committing(session: Session, work: Callable[[], R]) -> R:
    """``work()`` in a worker thread, then the session's commit in the same thread (see
    :func:`committing`): for endpoints that read the request's body first, on the event loop."""

    def run() -> R:
        result = work()
        session.commit()
        return result

    return await anyio.to_thread.run_sync(run)


def _end(session: Session, *, commit: bool) -> None:
    """Commit (or roll back), then close: a failed commit is rolled back by the close."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function": the transaction commits before the response is sent, so a client never
# sees a success whose commit later fails.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# For streamed responses: the session lives until the response has been sent. The endpoint
# commits what it wrote (its audit event) before it starts streaming.
StreamingSessionDep = Annotated[Session, Depends(get_session, scope="request")]
