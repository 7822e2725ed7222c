"""Signing in to the web pages from a TestClient, as a browser does.

A browser opens the sign-in form (which sets the pre-session cookie and carries its token), posts
it with its ``Origin``, then posts every later form with the session's CSRF token. These helpers
do the same, and make the client send ``Origin`` and the session's token (``X-CSRF-Token``) with
every request until :func:`sign_out`.
"""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from serving import web_sessions
from serving.web.guard import SESSION_COOKIE

ORIGIN = "http://testserver"  # the TestClient's base URL; listed in Served.settings' origins
TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def login_token(client: TestClient) -> str:
    """Open the sign-in form and return its token (the pre-session cookie is kept)."""
    page = client.get("/ui/login")
    match = TOKEN.search(page.text)
    assert page.status_code == 200 and match, page.text[:300]
    return match.group(1)


def post_login(client: TestClient, key: str, **form: str) -> httpx.Response:
    """Post the sign-in form with ``key`` (and e.g. ``next``), without following the redirect."""
    data = {"api_key": key, "csrf": login_token(client), **form}
    return client.post("/ui/login", data=data, headers={"Origin": ORIGIN}, follow_redirects=False)


def sign_in(client: TestClient, key: str) -> str:
    """Sign in with ``key`` (a fresh browser: cookies cleared) and return the session's CSRF
    token, which the client sends from now on with its ``Origin``."""
    sign_out(client)
    r = post_login(client, key)
    assert r.status_code == 303, r.text
    token = web_sessions.csrf_token(client.cookies[SESSION_COOKIE])
    client.headers.update({"Origin": ORIGIN, "X-CSRF-Token": token})
    return token


def sign_out(client: TestClient) -> None:
    """Forget the session in the client (the server's row is left as it is)."""
    client.cookies.clear()
    for name in ("Origin", "X-CSRF-Token"):
        client.headers.pop(name, None)
