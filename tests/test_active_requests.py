"""A few requests use the database at once per process (PostgreSQL); the rest wait their turn,
and a request reading its body gives its place up meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from exchange.config import get_settings
from exchange.db.session import _active_turn, reading_body


@pytest.fixture
def places(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("EXCHANGE_MAX_ACTIVE_REQUESTS", "2")
    get_settings.cache_clear()
    yield 2
    get_settings.cache_clear()


def _request() -> Any:
    return SimpleNamespace(state=SimpleNamespace())


def test_requests_past_the_limit_wait_and_every_one_finishes(places: int) -> None:
    active, most, finished = 0, 0, 0

    async def request() -> None:
        nonlocal active, most, finished
        turn = _active_turn()
        async with turn:
            active += 1
            most = max(most, active)
            await anyio.sleep(0.01)
            active -= 1
        finished += 1

    async def main() -> None:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                for _ in range(12):
                    group.start_soon(request)

    anyio.run(main)
    assert (most, finished) == (places, 12)


def test_a_request_reading_its_body_lets_others_use_the_database(places: int) -> None:
    events: list[str] = []

    async def main() -> None:
        turn = _active_turn()
        uploaded = anyio.Event()

        async def slow_upload() -> None:
            request = _request()
            request.state.database_turn = turn
            async with turn:  # as get_session takes it
                events.append("upload: authenticated")
                async with reading_body(request):
                    await uploaded.wait()  # a slow client still sending
                events.append("upload: body read")

        async def quick() -> None:
            async with turn:
                events.append("quick: done")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                for _ in range(places):
                    group.start_soon(slow_upload)
                await anyio.sleep(0.05)
                group.start_soon(quick)  # every place is taken by an upload
                await anyio.sleep(0.05)
                events.append("uploads finish")
                uploaded.set()

    anyio.run(main)
    assert events.index("quick: done") < events.index("uploads finish")
    assert events.count("upload: body read") == places


def test_without_a_place_reading_the_body_changes_nothing() -> None:
    async def main() -> str:
        async with reading_body(_request()):
            return "read"

    assert anyio.run(main) == "read"
