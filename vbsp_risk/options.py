"""Option types and checks shared by the command modules, declared once.

The views come from :data:`features.catalog.VIEWS` (a view added there is a choice of every
command at once); a month is checked the same way by every command that takes one.
"""

from __future__ import annotations

import re
from enum import StrEnum

import typer

from features.catalog import VIEWS

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
