"""Transfer jobs under real faults: the job killed, the service restarted, the database gone.

Every fault is really done to real processes: SIGKILL to the job, SIGKILL and a restart of the
service on the same port, PostgreSQL's connections cut by a proxy. Whatever happens, the
receiving authority ends with exactly one transfer per record, counted in the service's database.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

ON_POSTGRES = (
    make_url(os.environ.get("EXCHANGE_TEST_DATABASE_URL") or "sqlite://").get_backend_name()
    == "postgresql"
)
JOB_SECONDS = 240.0


def sending_args(
    path: Path, *extra: str, batch_size: int = 10, concurrency: int = 2
) -> tuple[str, ...]:
    """`job run` of a CIN census to West Northamptonshire, in batches of 10, two at a time."""
    return (
        "run",
        "--adapter",
        "cin-census",
        "--input",
        str(path),
        "--to",
        "941",
        "--batch-size",
        str(batch_size),
        "--concurrency",
        str(concurrency),
        *extra,
    )


def wait_until(condition: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def finish(process: subprocess.Popen[bytes], timeout: float = JOB_SECONDS) -> tuple[int, str]:
    """Wait for a job process; its exit code and what it printed on stderr."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"the job did not finish within {timeout:.0f} s:\n{err.decode()}")
    return process.returncode, err.decode(errors="replace")


def exactly_once(service: Any, ids: list[str], receiver: str = "941") -> None:
    """Every child in ``ids`` arrived exactly once, at ``receiver``, and no other with its prefix."""
    prefix = ids[0][:4]
    arrived = {k: n for k, n in service.transfers().items() if k[0].startswith(prefix)}
    duplicated = sorted(k for k, n in arrived.items() if n > 1)
    missing = sorted(set(ids) - {child for child, _ in arrived})
    assert not duplicated, f"sent more than once: {duplicated[:10]}"
    assert not missing, f"never arrived: {missing[:10]}"
    assert arrived == {(child, receiver): 1 for child in ids}


def test_a_job_killed_at_random_points_then_resumed_sends_every_record_exactly_once(
    service: Any, jobs: Any, census: Any
) -> None:
    ids = [f"JOBK{i:03d}" for i in range(1, 301)]
    path = census.clean("caseload.xml", ids)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills: list[str] = []

    process = jobs.start(*sending_args(path))
    wait_until(lambda: jobs.directories(), timeout=120, what="the job's folder")
    [directory] = jobs.directories()
    sent_before = 0
    for run in range(4):
        if run:
            process = jobs.start("resume", directory.name)

        # A random point: after 1 to 100 more records are sent (a third of the census at most,
        # so the first run is always cut short however fast the job is), then up to 50 ms more.
        def sent_more(
            process: subprocess.Popen[bytes] = process,
            floor: int = sent_before + rng.randint(1, 100),
        ) -> bool:
            return (
                process.poll() is not None or jobs.journal_counts(directory).get("sent", 0) >= floor
            )

        wait_until(sent_more, timeout=120, what="the job to send")
        time.sleep(rng.uniform(0.0, 0.05))
        if process.poll() is not None:
            process.communicate()
            kills.append(f"run {run + 1} finished before the kill ({process.returncode})")
            break
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        counts = jobs.journal_counts(directory)
        sent_before = counts.get("sent", 0)
        kills.append(f"run {run + 1} killed with {counts}")
    story = f"seed {seed}: " + "; ".join(kills)
    assert kills[0].startswith("run 1 killed"), story

    for _ in range(5):
        resumed = jobs.run("resume", directory.name, timeout=JOB_SECONDS)
        if resumed.returncode == 0:
            break
        assert resumed.returncode == 3, f"{story}\n{resumed.output}"
    assert resumed.returncode == 0, f"{story}\n{resumed.output}"

    assert jobs.journal_counts(directory) == {"sent": len(ids)}, story
    exactly_once(service, ids)
    assert jobs.report(directory) == []


def test_the_service_restarted_mid_job_is_waited_for_and_nothing_is_sent_twice(
    service: Any, jobs: Any, census: Any
) -> None:
    ids = [f"JOBR{i:03d}" for i in range(1, 101)]
    path = census.clean("restart.xml", ids)

    process = jobs.start(*sending_args(path))
    try:
        wait_until(lambda: jobs.directories(), timeout=120, what="the job's folder")
        [directory] = jobs.directories()
        wait_until(
            lambda: (
                process.poll() is not None or jobs.journal_counts(directory).get("sent", 0) >= 20
            ),
            timeout=120,
            what="20 records sent",
        )
        service.kill()
        at_kill = jobs.journal_counts(directory)
        time.sleep(2)
        assert process.poll() is None, "the job stopped while the service was down"
    finally:
        service.start()

    code, err = finish(process)

    assert at_kill.get("sent", 0) < len(ids), f"the job had finished before the kill: {at_kill}"
    assert code == 0, err
    assert jobs.journal_counts(directory) == {"sent": len(ids)}
    exactly_once(service, ids)


def test_ctrl_c_stops_the_job_which_resume_then_finishes(
    service: Any, jobs: Any, census: Any
) -> None:
    ids = [f"JOBI{i:03d}" for i in range(1, 151)]
    path = census.clean("interrupted.xml", ids)

    # One record a request, one at a time: the job is still running when Ctrl-C comes.
    process = jobs.start(*sending_args(path, batch_size=1, concurrency=1))
    wait_until(lambda: jobs.directories(), timeout=120, what="the job's folder")
    [directory] = jobs.directories()
    wait_until(
        lambda: process.poll() is not None or jobs.journal_counts(directory).get("sent", 0) >= 10,
        timeout=120,
        what="10 records sent",
    )
    process.send_signal(signal.SIGINT)
    code, err = finish(process)

    assert code == 3, err
    assert f"exchange job resume {directory.name}" in err
    assert jobs.journal_counts(directory).get("sent", 0) < len(ids)
    status = jobs.run("status", directory.name)
    assert "interrupted" in status.stderr, status.output

    resumed = jobs.run("resume", directory.name)
    assert resumed.returncode == 0, resumed.output
    exactly_once(service, ids)


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="cuts PostgreSQL's connections: runs when EXCHANGE_TEST_DATABASE_URL is PostgreSQL "
    "(the CI's PostgreSQL pass)",
)
def test_postgresql_going_away_mid_job_is_waited_for_and_nothing_is_sent_twice(
    proxied_service: Any, postgres_proxy: Any, jobs: Any, census: Any
) -> None:
    jobs.service = proxied_service
    ids = [f"JOBP{i:03d}" for i in range(1, 151)]
    path = census.clean("outage.xml", ids)

    process = jobs.start(*sending_args(path))
    try:
        wait_until(lambda: jobs.directories(), timeout=120, what="the job's folder")
        [directory] = jobs.directories()
        wait_until(
            lambda: (
                process.poll() is not None or jobs.journal_counts(directory).get("sent", 0) >= 20
            ),
            timeout=120,
            what="20 records sent",
        )
        postgres_proxy.cut()
        at_cut = jobs.journal_counts(directory)
        time.sleep(3)
        assert process.poll() is None, "the job stopped while the database was away"
    finally:
        postgres_proxy.start()

    code, err = finish(process)

    assert at_cut.get("sent", 0) < len(ids), f"the job had finished before the cut: {at_cut}"
    assert code == 0, f"{err}\n{proxied_service.tail()}"
    assert jobs.journal_counts(directory) == {"sent": len(ids)}
    exactly_once(proxied_service, ids)


def test_records_the_exchange_refuses_are_reported_and_the_job_carries_on(
    service: Any, jobs: Any, census: Any, tmp_path: Path
) -> None:
    ids = [f"JOBX{i:02d}" for i in range(1, 13)]
    path = census.clean("refused.xml", ids)
    routing = tmp_path / "routing.yaml"
    refused = {
        "JOBX03": "928",  # Northamptonshire, abolished in 2021
        "JOBX07": "301",  # the sender itself
        "JOBX10": "999",  # no such authority
    }
    routing.write_text(
        "by_la_child_id:\n"
        + "".join(f'  {child}: "{to}"\n' for child, to in refused.items())
        + 'default: "941"\n'
    )
    args = ("run", "--adapter", "cin-census", "--input", str(path), "--routing", str(routing))

    run = jobs.run(*args, "--batch-size", "4")

    assert run.returncode == 1, run.output
    assert jobs.journal_counts(run.directory) == {"sent": 9, "failed": 3}
    rows = jobs.report(run.directory)
    assert [(r["record"], r["to_authority"], r["code"], r["status"]) for r in rows] == [
        (child, to, "receiving-authority-invalid", "failed") for child, to in refused.items()
    ]
    northamptonshire = rows[0]
    assert "abolished" in northamptonshire["message"]
    assert "North Northamptonshire" in northamptonshire["message"]
    assert "West Northamptonshire" in northamptonshire["message"]
    assert all(r["fix"] for r in rows)
    exactly_once(service, [i for i in ids if i not in refused])

    # Retrying the refused records changes nothing: they are refused again, nothing is doubled.
    again = jobs.run("resume", run.directory.name, "--retry-failed")
    assert again.returncode == 1, again.output
    assert [r["record"] for r in jobs.report(run.directory)] == list(refused)
    assert {r["attempts"] for r in jobs.report(run.directory)} == {"2"}
    exactly_once(service, [i for i in ids if i not in refused])
