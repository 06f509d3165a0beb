"""The `exchange` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from exchange.config import get_settings

app = typer.Typer(
    help="The exchange: move child protection cases between local authorities.",
    no_args_is_help=True,
)
db_app = typer.Typer(
    help="The database: migrations and the authority registry.", no_args_is_help=True
)
schema_app = typer.Typer(help="Generated files: JSON Schema and OpenAPI.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")
console = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Apply migrations and load the registry first.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP service. With several workers on Linux, each listens on a socket of its own, so
    the kernel shares connections between them evenly."""
    from exchange.api.observability import configure_logging
    from exchange.app import setup_database
    from exchange.serving import serve as run_service

    settings = get_settings()
    if migrate or (settings.migrate_on_start and workers > 1):
        # Once, before any worker starts: several workers migrating one database at once race.
        setup_database(settings)
        os.environ["EXCHANGE_MIGRATE_ON_START"] = "false"  # (the workers' settings)
    console.print(f"exchange on http://{host}:{port} (API docs at /docs), database: {_safe_url()}")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    code = run_service(
        "exchange.app:main_app",
        host=host,
        port=port,
        workers=workers,
        options={"access_log": False, "log_config": None},
    )
    if code:
        raise typer.Exit(code)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration and load the shipped authority registry."""
    from exchange.app import setup_database

    setup_database(get_settings())
    console.print(f"[green]Database at the current schema[/] ({_safe_url()}).")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree."""
    from exchange.db.migrate import check, upgrade

    upgrade()
    check()
    console.print("[green]Models and migrations agree.[/]")


@app.command("authorities")
def list_authorities(
    current: Annotated[bool, typer.Option("--current", help="Only current authorities.")] = False,
) -> None:
    """List the authorities of the shipped registry."""
    from exchange.authorities import load_registry

    table = Table("DfE", "GSS", "Name", "Ends")
    for authority in load_registry():
        if current and not authority.is_current:
            continue
        table.add_row(
            authority.dfe_code or "",
            authority.gss_code,
            authority.name,
            str(authority.end_date or ""),
        )
    Console().print(table)


@schema_app.command("generate")
def schema_generate(
    check: Annotated[
        bool, typer.Option("--check", help="Do not write; fail if the files differ.")
    ] = False,
) -> None:
    """Write schemas/child-record.v1.json and openapi.yaml from the code (or check them)."""
    from exchange.generated import generated_files

    stale = []
    for path, content in generated_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != content:
            stale.append(path)
            if not check:
                path.write_text(content, encoding="utf-8")
    if check and stale:
        for path in stale:
            console.print(f"[red]{path.name} is out of date[/]: run `exchange schema generate`.")
        raise typer.Exit(1)
    console.print(
        "[green]Generated files are current.[/]" if not stale else f"Wrote {len(stale)} file(s)."
    )


@app.command("validate-record")
def validate_record(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A canonical record (JSON).")
    ],
) -> None:
    """Validate a canonical record file and print its problems."""
    from exchange.adapters import default_rule_context
    from exchange.canonical import validate_document

    try:
        document = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        console.print(f"[red]{path}: not JSON[/]: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(document, dict):
        console.print(f"[red]{path}: not a JSON object[/]")
        raise typer.Exit(2)
    report = validate_document(document, default_rule_context())
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(
            f"[{colour}]{problem.severity}[/] {problem.code} {problem.pointer}: {problem.message} {problem.fix}"
        )
    console.print("[green]valid[/]" if report.valid else "[red]not valid[/]")
    sys.exit(0 if report.valid else 1)


def _register_export_commands() -> None:
    from exchange.cli_adapters import register

    register(app)


_register_export_commands()


def _register_admin_commands() -> None:
    from exchange.cli_admin import register

    register(app)


_register_admin_commands()


def _register_audit_commands() -> None:
    from exchange.cli_audit import register

    register(app)


_register_audit_commands()


def _register_job_commands() -> None:
    from exchange.cli_jobs import register

    register(app)


_register_job_commands()
