"""The web pages' app on a filled database, and signing in, for the page tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from tests.support.served import Served, filled_sqlite_copy, write_places
from tests.support.web_session import post_login, sign_in, sign_out


def web_client(served: Served, folder: Path) -> Iterator[TestClient]:
    """The real app (lifespan run) on a copy of the filled SQLite database, with the data
    folder's places under ``folder``; for a module-scoped fixture to ``yield from``."""
    url = filled_sqlite_copy(served, folder)
    state = write_places(served, folder / "state")
    with TestClient(create_app(served.settings(url, state_dir=state))) as client:
        yield client


def login(client: TestClient, served: Served, role: str) -> None:
    """Sign in with ``role``'s key as a browser does; the session cookie is HttpOnly, strict and
    scoped to the pages, holds neither the key nor appears in the redirect; the client then sends
    the session's CSRF token with every form."""
    sign_out(client)
    r = post_login(client, served.keys[role])
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert served.keys[role] not in r.headers["location"] and served.keys[role] not in cookie
    sign_in(client, served.keys[role])
