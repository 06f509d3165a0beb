"""`exchange clients`, `exchange keys` and `exchange retention`: running the service."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from exchange.config import get_settings

console = Console(stderr=True)
clients_app = typer.Typer(help="API clients and their tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
retention_app = typer.Typer(
    help="Purging case content after its retention period.", no_args_is_help=True
)


@clients_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who the client is, e.g. 'Camden LCS'.")],
    role: Annotated[str, typer.Option(help="authority, auditor or admin.")],
    authority: Annotated[str | None, typer.Option(help="DfE or GSS code (authority role).")] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Expiry of the token.")] = None,
) -> None:
    """Create an API client and print its token (shown this once)."""
    from exchange.authorities.auth import Role
    from exchange.authorities.clients import ClientCreate, create_client
    from exchange.db import session_scope
    from exchange.errors import ExchangeError

    try:
        body = ClientCreate(
            name=name, role=Role(role), authority=authority, expires_in_days=expires_in_days
        )
        with session_scope() as session:
            issued = create_client(session, body, actor=None)
    except (ValueError, ExchangeError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"client {issued.client.id} ({issued.client.role.value}, {issued.client.authority or 'national'})"
    )
    console.print("token (shown once; store it in the client's secret store):")
    print(issued.token)


@clients_app.command("list")
def list_clients() -> None:
    """Every API client (never their tokens)."""
    from exchange.authorities.clients import client_out
    from exchange.authorities.clients import list_clients as all_clients
    from exchange.db import session_scope

    table = Table(
        "id", "name", "role", "authority", "token starts", "created", "expires", "revoked"
    )
    with session_scope() as session:
        for client in all_clients(session):
            out = client_out(client)
            table.add_row(
                out.id,
                out.name,
                out.role.value,
                out.authority or "-",
                out.token_prefix,
                f"{out.created_at:%Y-%m-%d}",
                f"{out.expires_at:%Y-%m-%d}" if out.expires_at else "-",
                f"{out.revoked_at:%Y-%m-%d %H:%M}" if out.revoked_at else "-",
            )
    Console().print(table)


@clients_app.command("revoke")
def revoke(client_id: str) -> None:
    """Revoke a client: its tokens stop working at once."""
    from exchange.authorities.clients import revoke_client
    from exchange.db import session_scope
    from exchange.errors import ExchangeError

    try:
        with session_scope() as session:
            revoke_client(session, client_id, actor=None)
    except ExchangeError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"client {client_id} revoked")


@clients_app.command("rotate")
def rotate(client_id: str) -> None:
    """Issue a new token; the old one keeps working for the grace period only."""
    from exchange.authorities.clients import rotate_client
    from exchange.db import session_scope
    from exchange.errors import ExchangeError

    try:
        with session_scope() as session:
            issued = rotate_client(session, client_id, actor=None)
    except ExchangeError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    minutes = get_settings().token_rotation_grace_minutes
    console.print(f"new token (the old one works for {minutes} more minutes):")
    print(issued.token)


@keys_app.command("generate")
def generate(
    key_id: Annotated[str, typer.Argument(help="An id for the new key, e.g. 2026-11.")],
) -> None:
    """Print a new key entry to put first in EXCHANGE_ENCRYPTION_KEYS."""
    from exchange.crypto import Keyring

    print(Keyring.generate_key_line(key_id))


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Re-wrap every stored data key under the active (first) key; old keys can then be retired."""
    from exchange.db import session_scope
    from exchange.keys import get_keyring
    from exchange.vault.service import rewrap_all

    ring = get_keyring()
    with session_scope() as session:
        count = rewrap_all(session, ring)
    console.print(f"{count} blob(s) re-wrapped under key {ring.active_key_id}")


@retention_app.command("run")
def run(
    days: Annotated[int | None, typer.Option(help="Override EXCHANGE_RETENTION_DAYS.")] = None,
) -> None:
    """Purge the case content of transfers closed longer ago than the retention period."""
    from exchange.db import session_scope
    from exchange.transfers.retention import run_retention

    period = get_settings().retention_days if days is None else days
    with session_scope() as session:
        report = run_retention(session, days=period)
    console.print(
        f"retention ({period} days): {report.transfers} transfer(s) purged: {report.records} record(s), "
        f"{report.documents} document(s), {report.messages} message(s); "
        f"{report.idempotency_keys} expired idempotency key(s) forgotten. Metadata and the audit log are kept."
    )


def register(app: typer.Typer) -> None:
    """Add the service-running commands to the main command line."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(keys_app, name="keys")
    app.add_typer(retention_app, name="retention")
