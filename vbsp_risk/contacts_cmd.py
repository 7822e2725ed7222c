"""CLI sub-commands ``contacts load DIR`` and ``contacts purge``: the optional household contacts
(head's name, hamlet) in the service's database, encrypted with ``VBSP_RISK_PII_KEY``.

Messages name the table, row and column of a bad value but never print the value: it may be a
name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from vbsp_risk import options

logger = logging.getLogger(__name__)
console = options.console()
err_console = Console(stderr=True)
contacts_app = typer.Typer(
    help="Household contacts (head's name, hamlet) for the pages, stored encrypted.",
    no_args_is_help=True,
)


def _engine():
    from serving.settings import ServiceSettings
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import upgrade

    settings = ServiceSettings()
    engine = make_engine(settings.db_url)
    upgrade(engine)
    return settings, engine


def _households(folder: Path):
    from features.storage import MissingTableError, read_raw

    try:
        return read_raw(folder, "households")[["household_id", "commune_id"]]
    except MissingTableError:
        return None


@contacts_app.command("load")
def load_cmd(
    folder: Path = typer.Argument(..., help="Folder with household_contacts.csv or .parquet."),
) -> None:
    """Check the contacts table (against the folder's households when present) and replace the
    stored contacts with it, each row encrypted; nothing is stored if any row fails."""
    from serving import contacts

    try:
        table = contacts.read_table(folder)
        households = _households(folder)
        problems = contacts.validate(table, households)
        if problems:
            for p in problems[:50]:
                err_console.print(f"[red]error:[/] {p}")
            err_console.print(f"{len(problems)} problem(s); nothing was stored")
            raise typer.Exit(1)
        settings, engine = _engine()
        aes = contacts.cipher(contacts.pii_hex(settings))
        n = contacts.load(engine, aes, table)
    except contacts.ContactsError as err:
        err_console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from None
    engine.dispose()
    checked = "checked against households" if households is not None else "no households table"
    console.print(f"{n} household contacts stored encrypted ({checked})")


@contacts_app.command("purge")
def purge_cmd() -> None:
    """Delete every stored household contact."""
    from serving import contacts

    _, engine = _engine()
    n = contacts.purge(engine)
    engine.dispose()
    console.print(f"{n} household contacts deleted")


def register(app: typer.Typer) -> None:
    """Add ``contacts`` to the CLI."""
    app.add_typer(contacts_app, name="contacts")
