"""``vbsp-risk serve``: the scoring API."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer

from vbsp_risk import options

if TYPE_CHECKING:
    from serving.settings import ServiceSettings

console = options.console()
logger = logging.getLogger(__name__)


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the database schema before serving."
    ),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Worker processes."),
) -> None:
    """Serve the scoring API (configuration from the environment; see the README)."""
    from serving.settings import ServiceSettings

    settings = ServiceSettings()  # fail fast on bad configuration, before binding the port
    serve(settings, host=host, port=port, migrate=migrate, workers=workers)


def serve(settings: ServiceSettings, *, host: str, port: int, migrate: bool, workers: int) -> None:
    """Serve the scoring API with ``settings`` (a ``ServiceSettings``).

    One worker serves exactly these settings (so a caller can add values, e.g. ``vbsp-risk run``
    its simulator's PII key, without writing the environment); worker processes read their own
    from the environment.
    """
    import uvicorn

    from serving.app import create_app
    from serving.readiness import views_line
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import upgrade

    settings = settings.with_listen_origins(host, port)

    if migrate:
        revision = upgrade(make_engine(settings.db_url))
        console.print(f"database {settings.db_url.split('@')[-1]} at revision {revision}")
    console.print(
        f"serving on http://{host}:{port}  (pages: http://{host}:{port}/ , API docs: http://{host}:{port}/docs; Ctrl-C stops)"
    )
    if not settings.public_origins:
        console.print(
            "[yellow]no VBSP_RISK_PUBLIC_ORIGINS[/]: page forms only from loopback origins"
        )
    options = dict(
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # request lines carry household ids in paths; metrics count requests
        timeout_graceful_shutdown=20,
    )
    if workers > 1:  # each worker logs the views it serves
        _serve_workers(uvicorn.Config("serving.app:create_app", factory=True, **options))
        return
    app = create_app(settings)

    def started() -> None:
        console.print(views_line(app.state.services))

    server = _graceful_server_class(started)(uvicorn.Config(app, **options))
    server.run()
    if not server.started:
        raise typer.Exit(3)  # the app did not start (its error is logged above)


def _serve_workers(config: object) -> None:
    """uvicorn's worker processes on one listening socket with ``TCP_NODELAY`` set.

    The workers get the socket from the supervisor, and asyncio does not turn Nagle's algorithm
    off on connections accepted from an inherited socket: an answer's header and body, written
    separately, then waited for the client's delayed ACK (docs/measurements.md gives the cost).
    On Linux accepted connections inherit ``TCP_NODELAY`` from the listener.
    """
    import socket

    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()  # type: ignore[attr-defined]
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()  # type: ignore[arg-type]


def _graceful_server_class(on_started: Callable[[], None] | None = None) -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, exiting 0 after a graceful stop on SIGTERM or Ctrl-C.

        uvicorn finishes the requests in flight, runs the app's shutdown (which writes the queued
        audit rows), then raises the signal again so the process dies by it (exit -15). A stop
        that completed cleanly exits 0 here, so a supervisor can tell it from a crash.
        """

        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_started is not None:  # after the lifespan loaded the models
                on_started()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                if self._captured_signals:
                    logger.info("stopped on signal %s", self._captured_signals[-1])
                self._captured_signals.clear()

    return GracefulServer


def register(app: typer.Typer) -> None:
    """Attach the commands to the root CLI."""
    app.command("serve")(serve_cmd)
