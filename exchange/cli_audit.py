"""`exchange audit` and `exchange report`: the log's integrity and reports, from the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)
audit_app = typer.Typer(help="The audit log: verify it, sign checkpoints.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Also prove the log extends this checkpoint."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes checking ranges side by side on PostgreSQL (0: one per CPU).",
        ),
    ] = 0,
) -> None:
    """Recompute the hash chain; exit 1 and name the first broken event if it does not hold."""
    import os

    from exchange.audit.checkpoint import CheckpointError, verify_checkpoint
    from exchange.audit.verify import verify_chain
    from exchange.db import session_scope

    with session_scope() as session:
        try:
            if checkpoint is not None:
                result = verify_checkpoint(session, json.loads(checkpoint.read_text()))
            else:
                result = verify_chain(session, workers=workers or os.cpu_count() or 1)
        except (CheckpointError, ValueError) as exc:
            console.print(f"[red]checkpoint not valid:[/] {exc}")
            raise typer.Exit(1) from exc
    if result.ok:
        extra = (
            f"; it extends the checkpoint at event {json.loads(checkpoint.read_text())['head_seq']}"
            if checkpoint
            else ""
        )
        console.print(
            f"[green]intact[/]: {result.events} events, head {result.head_hash[:16]}…{extra}"
        )
        return
    console.print(f"[red]broken at event {result.broken_seq}[/]: {result.reason}")
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Sign a statement of the log's length and head hash (Ed25519) to hand to an outside party."""
    from exchange.audit.checkpoint import CheckpointError, make_checkpoint
    from exchange.db import session_scope

    try:
        with session_scope() as session:
            body = make_checkpoint(session)
    except CheckpointError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    text = json.dumps(body, indent=2) + "\n"
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        console.print(f"checkpoint at event {body['head_seq']} written to {out}")


def register(app: typer.Typer) -> None:
    """Add the audit commands to the main command line."""
    app.add_typer(audit_app, name="audit")

    @app.command("report")
    def report(
        name: Annotated[str, typer.Argument(help="timeliness, activity, volumes or overdue.")],
        output_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
        authority: Annotated[
            str | None, typer.Option(help="Only this authority (DfE or GSS code).")
        ] = None,
        since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    ) -> None:
        """A report for managers and auditors, as CSV or JSON on stdout."""
        from exchange.audit.endpoints import build_report
        from exchange.audit.reports import REPORTS, as_csv
        from exchange.authorities.repository import get_authority
        from exchange.db import session_scope

        if name not in REPORTS or output_format not in ("csv", "json"):
            console.print(f"[red]report is one of {', '.join(REPORTS)}; --format csv or json[/]")
            raise typer.Exit(2)
        start = dt.date.fromisoformat(since) if since else None
        with session_scope() as session:
            scope = None
            if authority:
                row = get_authority(session, authority)
                if row is None:
                    console.print(f"[red]no authority has the code {authority!r}[/]")
                    raise typer.Exit(2)
                scope = row.gss_code
            rows = build_report(session, name, authority=scope, since=start)
        print(as_csv(rows) if output_format == "csv" else json.dumps(rows, indent=2, default=str))
