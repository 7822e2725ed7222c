"""A root Typer app holding one command module, for tests of that module alone."""

from __future__ import annotations

from collections.abc import Callable

import typer


def sub_app(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """A root app with a no-op callback (so sub-command groups keep their names) and the
    commands that ``register`` adds."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Root."""

    register(app)
    return app
