"""The job journal: a SQLite file beside the job recording what became of every record.

Each record's fate is written as soon as it is known, so a job killed at any moment resumes
from the journal: what was sent is not sent again, and what was in flight is re-sent with the
same idempotency key, which the exchange answers by replaying the first response.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange.db.types import utcnow

SENT, FAILED, SKIPPED, PENDING, VALID = "sent", "failed", "skipped", "pending", "valid"
FINAL = frozenset({SENT, FAILED, SKIPPED, VALID})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (id TEXT PRIMARY KEY, params TEXT NOT NULL, created_at TEXT,
    updated_at TEXT, finished_at TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS records (
    n INTEGER PRIMARY KEY, record_key TEXT, idempotency_key TEXT NOT NULL, status TEXT NOT NULL,
    to_authority TEXT, transfer_id TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    code TEXT, message TEXT, fix TEXT, location TEXT, problems TEXT, updated_at TEXT);
"""


@dataclass(frozen=True, slots=True)
class Fate:
    """One record's state in the journal."""

    n: int
    record_key: str | None
    idempotency_key: str
    status: str
    to_authority: str | None
    transfer_id: str | None
    attempts: int
    code: str | None
    message: str | None
    fix: str | None
    location: dict[str, Any] | None
    problems: list[dict[str, Any]]


def idempotency_key(job_id: str, n: int) -> str:
    """The key a record is always sent with: derived from the job and the record's position."""
    return "job-" + hashlib.sha256(f"{job_id}:{n}".encode()).hexdigest()[:40]


class Journal:
    """The journal of one job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._batched: list[tuple[Any, ...]] | None = None

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def start(self, job_id: str, params: dict[str, Any]) -> None:
        """Record the job's parameters (once)."""
        now = utcnow().isoformat()
        self.db.execute(
            "INSERT OR IGNORE INTO job (id, params, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (job_id, json.dumps(params), now, now),
        )

    def job(self) -> tuple[str, dict[str, Any], str | None]:
        """The job's id, parameters and outcome."""
        row = self.db.execute("SELECT id, params, outcome FROM job").fetchone()
        if row is None:
            raise LookupError(f"{self.path} holds no job")
        return row[0], json.loads(row[1]), row[2]

    def finish(self, outcome: str) -> None:
        """Record how the run ended."""
        now = utcnow().isoformat()
        self.db.execute(
            "UPDATE job SET finished_at = ?, updated_at = ?, outcome = ?", (now, now, outcome)
        )

    def fates(self) -> dict[int, str]:
        """Every record's status by position."""
        return dict(self.db.execute("SELECT n, status FROM records"))

    def record(
        self,
        n: int,
        *,
        key: str,
        record_key: str | None,
        status: str,
        to_authority: str | None = None,
        transfer_id: str | None = None,
        code: str | None = None,
        message: str | None = None,
        fix: str | None = None,
        location: dict[str, Any] | None = None,
        problems: list[dict[str, Any]] | None = None,
        attempt: bool = False,
    ) -> None:
        """Write (or overwrite) one record's fate; inside :meth:`batch`, when the batch ends."""
        row = (
            n,
            record_key,
            key,
            status,
            to_authority,
            transfer_id,
            1 if attempt else 0,
            code,
            message,
            fix,
            json.dumps(location) if location else None,
            json.dumps(problems) if problems else "[]",
            utcnow().isoformat(),
        )
        if self._batched is not None:
            self._batched.append(row)
        else:
            self.db.execute(_RECORD, row)

    def batch(self) -> _Batch:
        """Group several writes in one transaction (one statement, one fsync) written when the
        block ends, or not at all if it raises."""
        return _Batch(self)

    def counts(self) -> dict[str, int]:
        """How many records are in each state."""
        return dict(self.db.execute("SELECT status, COUNT(*) FROM records GROUP BY status"))

    def not_sent(self) -> Iterator[Fate]:
        """Every record that was not sent, in export order."""
        query = "SELECT * FROM records WHERE status NOT IN ('sent', 'valid') ORDER BY n"
        for row in self.db.execute(query):
            yield Fate(
                n=row[0],
                record_key=row[1],
                idempotency_key=row[2],
                status=row[3],
                to_authority=row[4],
                transfer_id=row[5],
                attempts=row[6],
                code=row[7],
                message=row[8],
                fix=row[9],
                location=json.loads(row[10]) if row[10] else None,
                problems=json.loads(row[11] or "[]"),
            )


_RECORD = """INSERT INTO records (n, record_key, idempotency_key, status, to_authority, transfer_id,
        attempts, code, message, fix, location, problems, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(n) DO UPDATE SET status = excluded.status,
        to_authority = COALESCE(excluded.to_authority, records.to_authority),
        transfer_id = COALESCE(excluded.transfer_id, records.transfer_id),
        attempts = records.attempts + excluded.attempts,
        code = excluded.code, message = excluded.message, fix = excluded.fix,
        location = COALESCE(excluded.location, records.location),
        problems = excluded.problems, updated_at = excluded.updated_at"""


class _Batch:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __enter__(self) -> None:
        if self.journal._batched is not None:
            raise RuntimeError("journal batches do not nest")
        self.journal._batched = []

    def __exit__(self, kind: object, *rest: object) -> None:
        rows, self.journal._batched = self.journal._batched or [], None
        if kind is None and rows:
            db = self.journal.db
            db.execute("BEGIN")
            try:
                db.executemany(_RECORD, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
