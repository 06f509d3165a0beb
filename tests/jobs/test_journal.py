"""The job journal: fates written in a batch reach the file together when the batch ends, or not at
all if it fails; the same record written twice keeps its attempts and its latest state."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.jobs import journal as j
from exchange.jobs.journal import Journal


def reopened(path: Path) -> Journal:
    """The file as another process would read it."""
    return Journal(path)


def test_a_batch_reaches_the_file_when_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    with journal.batch():
        for n in range(1, 4):
            journal.record(n, key=f"k{n}", record_key=None, status=j.PENDING, attempt=True)
        assert reopened(path).fates() == {}  # nothing yet: written when the batch ends
    assert reopened(path).fates() == {1: j.PENDING, 2: j.PENDING, 3: j.PENDING}


def test_a_batch_that_fails_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.record(1, key="k1", record_key=None, status=j.PENDING, attempt=True)

    def stopped_midway() -> None:
        with journal.batch():
            journal.record(1, key="k1", record_key=None, status=j.SENT, transfer_id="t-1")
            journal.record(2, key="k2", record_key=None, status=j.VALID)
            raise RuntimeError("the job stopped")

    with pytest.raises(RuntimeError):
        stopped_midway()

    assert reopened(path).fates() == {1: j.PENDING}
    journal.record(2, key="k2", record_key=None, status=j.VALID)  # usable afterwards
    assert reopened(path).fates() == {1: j.PENDING, 2: j.VALID}


def test_writing_a_record_again_keeps_its_attempts_and_latest_state(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    for _ in range(2):
        with journal.batch():
            journal.record(7, key="k7", record_key="B1", status=j.PENDING, attempt=True)
    with journal.batch():
        journal.record(
            7,
            key="k7",
            record_key="B1",
            status=j.FAILED,
            code="record-invalid",
            problems=[{"code": "8500", "pointer": "/child"}],
        )

    [fate] = list(reopened(path).not_sent())
    assert (fate.n, fate.status, fate.attempts, fate.code) == (7, j.FAILED, 2, "record-invalid")
    assert fate.problems == [{"code": "8500", "pointer": "/child"}]
