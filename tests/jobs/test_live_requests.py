"""The service as it runs, with its own sessions (not the one the API tests share): requests that
stream their response, and more requests at once than may use the database at once, all finish."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture
def one_place(service: Any, tmp_path: Path) -> Any:
    """A second service on the same database that lets one request use it at a time."""

    class OnePlace(type(service)):  # type: ignore[misc]
        @property
        def env(self) -> dict[str, str]:
            return {**super().env, "EXCHANGE_MAX_ACTIVE_REQUESTS": "1"}

    running = OnePlace(tmp_path / "one-place", service.database_url)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_audit_exports_and_other_requests_at_once_all_finish(service: Any, one_place: Any) -> None:
    auditor = service.create_token(None, role="auditor")

    def get(path: str, token: str) -> httpx.Response:
        return httpx.get(
            f"{one_place.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    with ThreadPoolExecutor(16) as pool:
        exports = [
            pool.submit(get, "/v1/audit/events/export?format=csv", auditor) for _ in range(6)
        ]
        inboxes = [pool.submit(get, "/v1/inbox", service.token) for _ in range(6)]
        exported, listed = [f.result() for f in exports], [f.result() for f in inboxes]

    for export in exported:
        assert export.status_code == 200, export.text[:300]
        assert export.headers["content-type"].startswith("text/csv")
        assert export.text.splitlines()[0].startswith("seq,")
    assert [inbox.status_code for inbox in listed] == [200] * 6
    # Each export is on record, read back by an auditor.
    events = get("/v1/audit/events?action=audit.exported&limit=100", auditor).json()
    assert len(events["items"]) >= 6
