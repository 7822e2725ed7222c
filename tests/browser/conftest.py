"""A real uvicorn server with the served small district, and a headless Chromium driving it.

The server runs in a thread of the test process on a free loopback port (one per session); the
browser is Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright — no browser is downloaded. Without Playwright or Chromium the tests are skipped with
the reason. Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from serving import clock
from serving.app import create_app
from tests.support.browser import ARTIFACTS, CHROMIUM, LiveServer, browser_today
from tests.support.served import Served, filled_sqlite_copy, write_places
from vbsp_state.engine import make_engine
from vbsp_state.schema import online_features


@pytest.fixture(scope="session")
def live_server(
    served: Served,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """uvicorn serving the real app on 127.0.0.1:<free port>, stopped after the session."""
    import uvicorn

    folder = tmp_path_factory.mktemp("browser")
    url = filled_sqlite_copy(served, folder)
    engine = make_engine(url)
    with engine.connect() as conn:
        household = conn.execute(
            sa.select(online_features.c.entity_id)
            .where(online_features.c.entity_type == "household")
            .order_by(online_features.c.entity_id)
            .limit(1)
        ).scalar_one()
    state = write_places(served, folder / "state")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # the pages' forms are accepted from the origin the browser is given, and only from it
    origin = f"http://127.0.0.1:{port}"
    app = create_app(served.settings(url, state_dir=state, public_origins=(origin,)))
    # "Today" is the last day of the scores' month: fresh scores, a plan for this month whose
    # visits have all taken place (outcomes may be recorded).
    app.dependency_overrides[clock.today] = lambda: browser_today(served)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", served, str(household), engine)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright (skips when either is missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does it)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh browser context (no cookies) at 1280 px; closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
