"""`exchange job run|resume|status`: bulk, resumable transfers for integration engineers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from exchange.jobs.journal import Fate
from exchange.jobs.runner import Progress as Hooks

console = Console(stderr=True)
job_app = typer.Typer(help="Transfer jobs: send a whole export, resumably.", no_args_is_help=True)
DEFAULT_TOKEN_ENV = "EXCHANGE_TOKEN"  # noqa: S105 - the name of a variable, not a secret
EXIT = {"completed": 0, "interrupted": 3, "fatal": 2}


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Hooks]:

    if not console.is_terminal:
        yield Hooks()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("job", total=total, counts="")
        yield Hooks(
            bytes_read=lambda n: bar.advance(task, n),
            counts=lambda c: bar.update(
                task, counts=" ".join(f"{k} {v}" for k, v in sorted(c.items()))
            ),
        )


def _run(directory: Path, job_id: str, *, retry_failed: bool) -> None:
    from exchange.adapters import Source
    from exchange.jobs.report import write_reports
    from exchange.jobs.routing import Router, RoutingError
    from exchange.jobs.runner import load_params, records_not_sent, run_job
    from exchange.jobs.sender import JobFatal

    _, params = load_params(directory)
    try:
        router = (
            Router.load(Path(params.routing))
            if params.routing
            else Router(fixed=params.to_authority)
        )
    except RoutingError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    token = os.environ.get(params.token_env)
    size = Source.from_path(params.input).size
    try:
        with _progress(size) as hooks:
            outcome = run_job(
                job_id,
                directory,
                params,
                token=token,
                router=router,
                progress=hooks,
                retry_failed=retry_failed,
            )
    except JobFatal as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    fates = list(records_not_sent(directory))
    csv_path, html_path = write_reports(directory, outcome, params, fates)
    _summary(outcome.job_id, outcome.outcome, outcome.counts, outcome.message, fates[:10])
    console.print(f"report: {html_path} and {csv_path}")
    code = EXIT[outcome.outcome]
    if code == 0 and fates:
        code = 1
    raise typer.Exit(code)


def _summary(
    job_id: str, outcome: str, counts: dict[str, int], message: str, first: list[Fate]
) -> None:
    colour = {"completed": "green", "interrupted": "yellow", "fatal": "red"}[outcome]
    console.print(f"job {job_id}: [{colour}]{outcome}[/]" + (f" ({message})" if message else ""))
    table = Table("sent", "valid (dry run)", "failed", "skipped", "pending")
    table.add_row(
        *(str(counts.get(k, 0)) for k in ("sent", "valid", "failed", "skipped", "pending"))
    )
    console.print(table)
    if first:
        problems = Table("#", "record", "code", "where", "fix")
        for fate in first:
            loc = fate.location or {}
            where = " ".join(
                (
                    f"line {loc[k]}"
                    if k == "line"
                    else f"row {loc[k]}"
                    if k == "row"
                    else str(loc[k])
                )
                for k in ("file", "line", "row", "column", "element", "pointer")
                if loc.get(k)
            )
            problems.add_row(
                str(fate.n), fate.record_key or "", fate.code or "", where, fate.fix or ""
            )
        console.print(problems)


@job_app.command("run")
def run(
    adapter: Annotated[str, typer.Option(help="Adapter reading the export.")],
    input_path: Annotated[
        Path, typer.Option("--input", exists=True, help="Export file or folder.")
    ],
    from_authority: Annotated[
        str | None, typer.Option("--from", help="Sending authority (DfE/GSS code).")
    ] = None,
    to_authority: Annotated[
        str | None, typer.Option("--to", help="Receiving authority for every record.")
    ] = None,
    routing: Annotated[
        Path | None, typer.Option(exists=True, help="Routing file (per-record receiver).")
    ] = None,
    server: Annotated[str, typer.Option(help="The exchange's base URL.")] = "http://127.0.0.1:8000",
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the API token.")
    ] = DEFAULT_TOKEN_ENV,
    dry_run: Annotated[bool, typer.Option(help="Convert and validate only; send nothing.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=200)] = 50,
    concurrency: Annotated[int, typer.Option(min=1, max=32)] = 4,
    jobs_dir: Annotated[Path, typer.Option(help="Where job folders (journal, reports) go.")] = Path(
        "jobs"
    ),
    acting_user: Annotated[str | None, typer.Option(help="Recorded as X-Acting-User.")] = None,
    reason: Annotated[str | None, typer.Option(help="Reason sent with every transfer.")] = None,
    legal_basis: Annotated[
        str | None, typer.Option(help="Legal basis sent with every transfer.")
    ] = None,
) -> None:
    """Send every record of an export; journalled, resumable, with a report of what was not sent.

    Exit code 0: all sent; 1: some records not sent (see the report); 2: cannot run (input
    unreadable, token refused); 3: interrupted (resume with `exchange job resume JOB`).
    """
    from exchange.jobs.runner import JobParams, new_job_dir

    if (to_authority is None) == (routing is None):
        console.print("[red]give --to LA or --routing FILE (one of them)[/]")
        raise typer.Exit(2)
    params = JobParams(
        adapter=adapter,
        input=str(input_path.resolve()),
        from_authority=from_authority,
        to_authority=to_authority,
        routing=str(routing.resolve()) if routing else None,
        server=server,
        token_env=token_env,
        dry_run=dry_run,
        batch_size=batch_size,
        concurrency=concurrency,
        acting_user=acting_user,
        adapter_options={"source_authority": from_authority}
        if from_authority and _takes_authority(adapter)
        else {},
    )
    if reason:
        params.reason = reason
    if legal_basis:
        params.legal_basis = legal_basis
    job_id, directory = new_job_dir(jobs_dir)
    from exchange.jobs.journal import Journal

    journal = Journal(directory / "journal.sqlite")
    journal.start(job_id, params.__dict__)
    journal.close()
    console.print(f"job {job_id} in {directory}")
    _run(directory, job_id, retry_failed=False)


def _takes_authority(adapter: str) -> bool:
    import inspect

    from exchange.adapters import get_adapter

    return "source_authority" in inspect.signature(get_adapter(adapter).__init__).parameters


def _directory(job: str, jobs_dir: Path) -> Path:
    directory = Path(job) if Path(job).is_dir() else jobs_dir / job
    if not (directory / "journal.sqlite").exists():
        console.print(f"[red]no job {job!r} in {jobs_dir}[/]")
        raise typer.Exit(2)
    return directory


@job_app.command("resume")
def resume(
    job: Annotated[str, typer.Argument(help="The job id (or its folder).")],
    jobs_dir: Annotated[Path, typer.Option()] = Path("jobs"),
    retry_failed: Annotated[
        bool, typer.Option(help="Also retry records the exchange rejected.")
    ] = False,
) -> None:
    """Finish a job: send what was not sent; nothing already sent is sent again."""
    from exchange.jobs.runner import load_params

    directory = _directory(job, jobs_dir)
    job_id, _ = load_params(directory)
    _run(directory, job_id, retry_failed=retry_failed)


@job_app.command("status")
def status(
    job: Annotated[str, typer.Argument(help="The job id (or its folder).")],
    jobs_dir: Annotated[Path, typer.Option()] = Path("jobs"),
) -> None:
    """How far a job got."""
    from exchange.jobs.journal import Journal

    directory = _directory(job, jobs_dir)
    journal = Journal(directory / "journal.sqlite")
    try:
        job_id, params, outcome = journal.job()
        counts = journal.counts()
        first = list(journal.not_sent())[:10]
    finally:
        journal.close()
    console.print(
        f"input {params['input']} ({params['adapter']}), last run: {outcome or 'running or never finished'}"
    )
    _summary(job_id, outcome if outcome in EXIT else "interrupted", counts, "", first)


def register(app: typer.Typer) -> None:
    """Add the job commands."""
    app.add_typer(job_app, name="job")
