"""Option types and checks shared by the command modules, declared once.

The views come from :data:`features.catalog.VIEWS` (a view added there is a choice of every
command at once); a month is checked the same way by every command that takes one.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum

import typer
from rich.console import Console

from features.catalog import VIEWS

PIPE_WIDTH = 132
"""Columns of the commands' tables when the output is not a terminal (a log file, a pipe, CI):
rich's default of 80 cuts the metrics tables' intervals to "(0.70–…"."""


def console() -> Console:
    """The commands' console: the terminal's own width, or :data:`PIPE_WIDTH` columns when the
    output is redirected and ``$COLUMNS`` does not say otherwise."""
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


View = StrEnum("View", {view: view for view in VIEWS})
"""Feature-table views (the catalog's), as a command-line choice."""


class EngineName(StrEnum):
    """Where batch work runs: ``local`` in this process, ``dask`` on a Dask cluster."""

    local = "local"
    dask = "dask"


MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_option(value: str | None) -> str | None:
    """Typer callback: ``YYYY-MM`` (a real month, zero-padded) or ``None``.

    Raises:
        typer.BadParameter: Naming the value and the expected form.
    """
    if value is not None and not MONTH.match(value):
        raise typer.BadParameter(f"'{value}' is not a month YYYY-MM")
    return value
