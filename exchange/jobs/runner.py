"""Running a transfer job: read the export, route and send each record once, report the rest.

The export is streamed through its adapter; records go out in batches, several batches in
flight at once. Every record's fate is journalled as soon as it is known, and a record is
always sent with the same idempotency key (derived from the job and its position), so a job
resumed after a crash sends what is left and never anything twice.
"""

from __future__ import annotations

import concurrent.futures as futures
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from exchange.adapters import InputUnreadable, ReadResult, Source, get_adapter
from exchange.adapters.base import locate
from exchange.canonical import ChildRecord, Severity
from exchange.canonical.model import SourceLocation
from exchange.jobs import journal as j
from exchange.jobs.journal import Journal, idempotency_key
from exchange.jobs.routing import Router
from exchange.jobs.sender import BatchSender, GaveUp, Item, JobFatal

JOURNAL_NAME = "journal.sqlite"
PROGRESS_SECONDS = 0.25  # how often the progress bar's counts are read from the journal


@dataclass
class JobParams:
    """What a job was asked to do (kept in the journal so it can be resumed)."""

    adapter: str
    input: str
    from_authority: str | None
    to_authority: str | None
    routing: str | None
    server: str
    token_env: str
    dry_run: bool = False
    batch_size: int = 50
    concurrency: int = 4
    reason: str = "Transfer of the case to the authority now responsible."
    legal_basis: str = "Children Act 1989; Working Together to Safeguard Children"
    acting_user: str | None = None
    adapter_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobOutcome:
    """How a run ended."""

    job_id: str
    directory: Path
    outcome: str  # completed | interrupted | fatal
    counts: dict[str, int]
    message: str = ""
    fatal_problem: dict[str, Any] | None = None


@dataclass
class Progress:
    """Callbacks for the progress bar."""

    bytes_read: Callable[[int], None] = lambda n: None
    counts: Callable[[dict[str, int]], None] = lambda c: None
    note: Callable[[str], None] = lambda text: None


def new_job_dir(jobs_dir: Path) -> tuple[str, Path]:
    """A fresh job id and its folder."""
    job_id = uuid.uuid4().hex[:12]
    directory = jobs_dir / job_id
    directory.mkdir(parents=True, exist_ok=False)
    return job_id, directory


def _record_key(result: ReadResult) -> str | None:
    return result.key


def _problem_fields(
    problems: list[Any],
) -> tuple[str | None, str | None, str | None, dict[str, Any] | None]:
    worst = next(
        (p for p in problems if p.severity != Severity.WARNING), problems[0] if problems else None
    )
    if worst is None:
        return None, None, None, None
    location = worst.location.model_dump(exclude_none=True) if worst.location else None
    if worst.pointer:
        location = {**(location or {}), "pointer": worst.pointer}
    return worst.code, worst.message, worst.fix, location


def _body(record: ChildRecord, to_authority: str, params: JobParams) -> str:
    """The transfer's request body as JSON: the record serialised straight to JSON, spliced into
    the object with the transfer's other fields (no dict of the record is ever built)."""
    head = _head(to_authority, params.reason, params.legal_basis)
    return f'{head},"records":[{record.model_dump_json(exclude_none=True)}]}}'


@lru_cache(maxsize=1024)
def _head(to_authority: str, reason: str, legal_basis: str) -> str:
    """The body's other fields, as JSON without its closing brace (the same for every record
    sent to one authority)."""
    fields = {"to_authority": to_authority, "reason": reason, "legal_basis": legal_basis}
    return json.dumps(fields)[:-1]


def run_job(
    job_id: str,
    directory: Path,
    params: JobParams,
    *,
    token: str | None,
    router: Router,
    progress: Progress | None = None,
    retry_failed: bool = False,
    sender_factory: Callable[[JobParams, str], BatchSender] | None = None,
) -> JobOutcome:
    """Run (or resume) a job until every record has a fate, or until it must stop."""
    watch = progress or Progress()
    journal = Journal(directory / JOURNAL_NAME)
    journal.start(job_id, params.__dict__)
    done = journal.fates()
    finished = {
        n
        for n, status in done.items()
        if status in j.FINAL and not (retry_failed and status == j.FAILED)
    }
    adapter_cls = get_adapter(params.adapter)
    adapter = adapter_cls(**params.adapter_options) if params.adapter_options else adapter_cls()
    source = Source.from_path(params.input).with_progress(watch.bytes_read)
    sender: BatchSender | None = None
    if not params.dry_run:
        if not token:
            raise JobFatal(f"no token: set the environment variable {params.token_env}")
        sender = (sender_factory or _default_sender)(params, token)
    outcome = "completed"
    message = ""
    fatal_problem: dict[str, Any] | None = None
    pool = futures.ThreadPoolExecutor(max_workers=max(1, params.concurrency))
    in_flight: dict[
        futures.Future[list[dict[str, Any]]], list[tuple[int, str | None, str, str]]
    ] = {}
    batch: list[tuple[int, str | None, str, str, str]] = []
    # Where each in-flight record starts in the export, made into a location only for one the
    # server refuses. (Keeping each ReadResult instead kept its record alive until the answer:
    # a third more of the job's CPU, in garbage collection.)
    location_of: dict[int, SourceLocation | Callable[[], SourceLocation] | None] = {}
    shown = 0.0  # when the progress bar's counts were last read from the journal

    def settle(block: bool) -> None:
        nonlocal shown
        if not in_flight:
            return
        ready, _ = futures.wait(
            list(in_flight),
            return_when=futures.FIRST_COMPLETED if block else futures.ALL_COMPLETED,
            timeout=None if block else 0,
        )
        for future in ready:
            items = in_flight.pop(future)
            results = future.result()  # raises JobFatal / GaveUp
            with journal.batch():
                for (n, record_key, key, to), result in zip(items, results, strict=True):
                    if result["status"] in (200, 201):
                        location_of.pop(n, None)
                        journal.record(
                            n,
                            key=key,
                            record_key=record_key,
                            status=j.SENT,
                            to_authority=to,
                            transfer_id=result["transfer"]["id"],
                        )
                    elif result["status"] == 409:
                        location_of.pop(n, None)  # sent again on resume, read again there
                        journal.record(
                            n,
                            key=key,
                            record_key=record_key,
                            status=j.PENDING,
                            to_authority=to,
                            code="idempotency-in-progress",
                            message="The exchange was still processing this record; resume to settle it.",
                        )
                    else:
                        problem = result.get("problem") or {}
                        problems = problem.get("problems") or []
                        # Where the record is in the export, and where in it the problem is.
                        found = locate(location_of.pop(n, None))
                        location = found.model_dump(exclude_none=True) if found else None
                        if problems:
                            first = problems[0]
                            location = {
                                **(location or {}),
                                **(first.get("location") or {}),
                                **({"pointer": first["pointer"]} if first.get("pointer") else {}),
                            }
                        journal.record(
                            n,
                            key=key,
                            record_key=record_key,
                            status=j.FAILED,
                            to_authority=to,
                            code=problem.get("code"),
                            message=problem.get("detail"),
                            fix=problem.get("fix"),
                            location=location,
                            problems=problems,
                        )
            # A count of the whole journal: at most a few times a second, not after every batch.
            if time.monotonic() - shown >= PROGRESS_SECONDS:
                shown = time.monotonic()
                watch.counts(journal.counts())

    noted: list[dict[str, Any]] = []  # fates known here (not sent): written a batch at a time

    def note(n: int, **fate: Any) -> None:
        noted.append({"n": n, **fate})
        if len(noted) >= params.batch_size:
            write_noted()

    def write_noted() -> None:
        # Losing these to a crash costs nothing: a resumed job reads and checks them again.
        with journal.batch():
            for fate in noted:
                journal.record(**fate)
        noted.clear()

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        items = [Item(key, body) for (_, _, key, _, body) in batch]
        marks = [(n, record_key, key, to) for (n, record_key, key, to, _) in batch]
        with journal.batch():
            for n, record_key, key, to in marks:
                journal.record(
                    n,
                    key=key,
                    record_key=record_key,
                    status=j.PENDING,
                    to_authority=to,
                    attempt=True,
                )
        assert sender is not None
        while len(in_flight) >= params.concurrency:
            settle(block=True)
        in_flight[pool.submit(sender.send, items)] = marks
        batch = []

    try:
        for n, result in enumerate(adapter.read(source), 1):
            if n in finished:
                continue
            key = idempotency_key(job_id, n)
            record_key = _record_key(result)
            if result.record is None or result.has_errors:
                code, text, fix, location = _problem_fields(result.problems)
                note(
                    n,
                    key=key,
                    record_key=record_key,
                    status=j.SKIPPED if result.record is None else j.FAILED,
                    code=code,
                    message=text,
                    fix=fix,
                    location=location,
                    problems=[
                        p.model_dump(mode="json", exclude_none=True) for p in result.problems
                    ],
                )
                continue
            route = router.route(result.record)
            if route.to_authority is None:
                note(
                    n,
                    key=key,
                    record_key=record_key,
                    status=j.FAILED,
                    code="no-route",
                    message=f"No receiving authority for this record: {route.reason}.",
                    fix="Add the child's id or postcode to the routing file, or give a default.",
                    location=result.location.model_dump(exclude_none=True)
                    if result.location
                    else None,
                )
                continue
            if params.dry_run:
                note(
                    n,
                    key=key,
                    record_key=record_key,
                    status=j.VALID,
                    to_authority=route.to_authority,
                )
                continue
            location_of[n] = result.where
            batch.append(
                (
                    n,
                    record_key,
                    key,
                    route.to_authority,
                    _body(result.record, route.to_authority, params),
                )
            )
            if len(batch) >= params.batch_size:
                flush()
                settle(block=False)
        flush()
        while in_flight:
            settle(block=True)
    except InputUnreadable as exc:
        outcome = "fatal"
        fatal_problem = exc.problem.model_dump(mode="json", exclude_none=True)
        message = f"the input cannot be read: {exc.problem.message}"
    except JobFatal as exc:
        outcome, message = "fatal", str(exc)
    except GaveUp as exc:
        outcome, message = (
            "interrupted",
            f"{exc}; run `exchange job resume {job_id}` when the exchange is back",
        )
    except KeyboardInterrupt:
        outcome, message = "interrupted", f"stopped; run `exchange job resume {job_id}` to finish"
    finally:
        write_noted()
        pool.shutdown(wait=outcome == "completed", cancel_futures=outcome != "completed")
        if sender is not None:
            sender.close()
        counts = journal.counts()
        watch.counts(counts)
        if outcome == "completed" and counts.get(j.PENDING):
            outcome = "interrupted"
            message = (
                f"{counts[j.PENDING]} record(s) still pending; run `exchange job resume {job_id}`"
            )
        journal.finish(outcome)
        journal.close()
    return JobOutcome(job_id, directory, outcome, counts, message, fatal_problem)


def _default_sender(params: JobParams, token: str) -> BatchSender:
    return BatchSender(server=params.server, token=token, acting_user=params.acting_user)


def load_params(directory: Path) -> tuple[str, JobParams]:
    """A job's id and parameters, from its journal."""
    journal = Journal(directory / JOURNAL_NAME)
    try:
        job_id, params, _ = journal.job()
    finally:
        journal.close()
    return job_id, JobParams(**params)


def records_not_sent(directory: Path) -> Iterator[j.Fate]:
    """The journal's records that were not sent."""
    journal = Journal(directory / JOURNAL_NAME)
    try:
        yield from journal.not_sent()
    finally:
        journal.close()
