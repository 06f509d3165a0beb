"""A few requests use the database at once per process (PostgreSQL); the rest wait their turn."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from exchange.config import get_settings
from exchange.db.session import _turn


@pytest.fixture
def places(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("EXCHANGE_MAX_ACTIVE_REQUESTS", "2")
    get_settings.cache_clear()
    yield 2
    get_settings.cache_clear()


def test_requests_past_the_limit_wait_and_every_one_finishes(places: int) -> None:
    active, most, finished = 0, 0, 0

    async def request() -> None:
        nonlocal active, most, finished
        async with _turn(get_settings().max_active_requests):
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
