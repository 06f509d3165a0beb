"""Sending batches to the exchange over HTTP, with retries that respect the server.

Outcomes are kept apart: a batch that reached the server has per-item results (a rejected
item is reported and the job carries on); 429, 5xx and connection failures are retried with
exponential backoff and jitter (Retry-After honoured); 401/403 stop the job, since every
further request would fail the same way.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Item:
    """One transfer of a batch: its Idempotency-Key and its request body, already JSON."""

    idempotency_key: str
    transfer_json: str


def encode_batch(items: list[Item]) -> bytes:
    """The body of POST /v1/transfers/batch (the items' bodies are spliced in as they are)."""
    parts = [
        f'{{"idempotency_key":{json.dumps(item.idempotency_key)},"transfer":{item.transfer_json}}}'
        for item in items
    ]
    return ('{"items":[' + ",".join(parts) + "]}").encode("utf-8")


class JobFatal(Exception):
    """The job cannot go on (authentication refused, or the server says the batch is wrong)."""


class GaveUp(Exception):
    """Retries ran out of time; the job can be resumed later."""


@dataclass
class RetryPolicy:
    """How long and how often to retry."""

    base_seconds: float = 0.5
    max_seconds: float = 30.0
    give_up_after_seconds: float = 900.0


@dataclass
class BatchSender:
    """Posts batches of transfers to POST /v1/transfers/batch."""

    server: str
    token: str
    acting_user: str | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    on_retry: Callable[[str, float], None] | None = None

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "exchange-job"}
        if self.acting_user:
            headers["X-Acting-User"] = self.acting_user
        self.client = httpx.Client(
            base_url=self.server.rstrip("/"), headers=headers, timeout=self.timeout
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def send(self, items: list[Item]) -> list[dict[str, Any]]:
        """The per-item results of one batch, retrying until the server answers."""
        content = encode_batch(items)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            reason = ""
            try:
                response = self.client.post(
                    "/v1/transfers/batch",
                    content=content,
                    headers={"Content-Type": "application/json"},
                )
            except httpx.TransportError as exc:
                reason = f"connection: {type(exc).__name__}"
            else:
                if response.status_code == 200:
                    results: list[dict[str, Any]] = orjson.loads(response.content)["results"]
                    return results
                if response.status_code in (401, 403):
                    raise JobFatal(
                        f"the exchange refused the token ({response.status_code}): {_detail(response)}"
                    )
                if response.status_code not in RETRIABLE_STATUS:
                    raise JobFatal(
                        f"the exchange refused the batch ({response.status_code}): {_detail(response)}"
                    )
                reason = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            if time.monotonic() - started > self.policy.give_up_after_seconds:
                raise GaveUp(f"gave up after {attempt} attempts ({reason})")
            if wait is None:
                cap = min(self.policy.max_seconds, self.policy.base_seconds * 2 ** (attempt - 1))
                wait = random.uniform(cap / 2, cap)  # noqa: S311 - jitter, not security
            if self.on_retry is not None:
                self.on_retry(reason, wait)
            self.sleep(wait)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value and value.strip().isdigit():
        return min(float(value), 300.0)
    return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail") or body)[:300]
