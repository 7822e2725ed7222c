"""CLI sub-command ``keys``: issue and list the scoring service's API keys.

Keys are written to the keys file (default ``$VBSP_RISK_STATE_DIR/api_keys.json``) as SHA-256
hashes only; the service loads the file into its database when it starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vbsp_risk import options
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)
console = options.console()
err_console = Console(stderr=True)
KEYS_FILE_NAME = "api_keys.json"

keys_app = typer.Typer(help="Issue and list the scoring service's API keys.", no_args_is_help=True)

_KEYS_FILE_HELP = f"API keys file (default: $VBSP_RISK_STATE_DIR/{KEYS_FILE_NAME})."


def _keys_file(path: Path | None) -> Path:
    return path if path is not None else get_state().state_dir / KEYS_FILE_NAME


@keys_app.command("create")
def create_cmd(
    client_id: str = typer.Option(..., "--client-id", help="Who the key is for (unique)."),
    role: str = typer.Option(..., "--role", help="officer, inspector, data or admin."),
    communes: list[str] = typer.Option(
        None, "--commune", help="A commune the client may see (repeat; default: all communes)."
    ),
    keys_file: Path = typer.Option(None, "--keys-file", help=_KEYS_FILE_HELP),
) -> None:
    """Issue a key for a new client; the key is printed once and never stored."""
    from serving.auth import add_client

    path = _keys_file(keys_file)
    try:
        key = add_client(path, client_id, role, communes or None)
    except ValueError as err:
        err_console.print(f"[red]error[/]: {err}", soft_wrap=True)
        raise typer.Exit(2) from None
    scope = ", ".join(sorted(set(communes))) if communes else "all communes"
    console.print(f"client [bold]{client_id}[/] ({role}, {scope}) added to {path}", soft_wrap=True)
    console.print(key, soft_wrap=True, highlight=False, markup=False)
    console.print(
        "[yellow]this key will not be shown again[/]: only its hash is stored. "
        "Restart the service to load it.",
        soft_wrap=True,
    )


@keys_app.command("list")
def list_cmd(
    keys_file: Path = typer.Option(None, "--keys-file", help=_KEYS_FILE_HELP),
) -> None:
    """List the clients of the keys file (never their keys or hashes)."""
    from serving.auth import read_keys_file

    path = _keys_file(keys_file)
    if not path.is_file():
        err_console.print(f"[red]error[/]: no keys file at {path}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        clients = read_keys_file(path)
    except ValueError as err:
        err_console.print(f"[red]error[/]: {err}", soft_wrap=True)
        raise typer.Exit(2) from None
    table = Table(title=f"{len(clients)} client(s) in {path}")
    for col in ("client", "role", "communes"):
        table.add_column(col, overflow="fold")
    for client, _ in clients:
        communes = "all" if client.communes is None else ", ".join(sorted(client.communes))
        table.add_row(client.client_id, client.role, communes)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` sub-command to the root CLI."""
    app.add_typer(keys_app, name="keys")
