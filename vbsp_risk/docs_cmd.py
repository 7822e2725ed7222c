"""CLI command ``docs``: regenerate the contract documents from the code.

``docs/data-contract.md`` and ``docs/feature-table.md`` are rendered from the schemas, so they
cannot drift from what validation and the feature builder enforce.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from vbsp_risk import options

logger = logging.getLogger(__name__)
console = options.console()


def docs_cmd(
    out: Path = typer.Option(Path("docs"), "--out", help="Documentation folder."),
) -> None:
    """Regenerate docs/data-contract.md and docs/feature-table.md from the code."""
    from features.contract_docs import write_contract_docs
    from features.feature_table import DOC_NAME, render_feature_table_doc

    path = write_contract_docs(out)
    console.print(f"[green]wrote[/] {path}")
    path = Path(out) / DOC_NAME
    path.write_text(render_feature_table_doc(), encoding="utf-8")
    console.print(f"[green]wrote[/] {path}")


def register(app: typer.Typer) -> None:
    """Add ``docs`` to the CLI."""
    app.command("docs")(docs_cmd)
