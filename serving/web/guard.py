"""The pages' cross-site guard: who a request's web session belongs to, the CSRF token of its
forms, and the checks every page form post passes (:func:`form_fields`).

Kept apart from :mod:`serving.web.render` (templates) so the rules of a form post read in one
place. The session itself (table, expiry, revocation) is :mod:`serving.web_sessions`.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

from serving import web_sessions
from serving.auth import ApiClient
from serving.deps import Services

SESSION_COOKIE, PRE_COOKIE = "vbsp_session", "vbsp_pre"
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def session_times(svc: Services) -> web_sessions.SessionTimes:
    s = svc.settings
    return web_sessions.SessionTimes(
        timedelta(seconds=s.session_max_age_seconds), timedelta(seconds=s.session_idle_seconds)
    )


def signed_in(request: Request) -> ApiClient | None:
    """The client of the request's live web session, or ``None`` (looked up once a request)."""
    if not hasattr(request.state, "web_client"):
        svc: Services = request.app.state.services
        session_id = request.cookies.get(SESSION_COOKIE, "")
        client = web_sessions.client_of(svc.engine, session_id, session_times(svc))
        request.state.web_client = client
    return request.state.web_client


def csrf_of(request: Request) -> str:
    """The CSRF token of the forms on this request's pages ("" without a live session)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    return web_sessions.csrf_token(session_id) if session_id and signed_in(request) else ""


def same_origin(request: Request) -> bool:
    """Whether a form post comes from the pages themselves, by its ``Origin``.

    ``Origin`` is required (browsers send it with every POST): missing or ``null`` (a sandboxed
    frame, a ``data:`` page) is refused. It is compared with the configured public origins, never
    with ``Host``, which the sender chooses; with none configured, only loopback origins (a
    service used on the machine itself) pass.
    """
    origin = request.headers.get("origin", "").lower()
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    allowed_origins = request.app.state.services.settings.public_origins
    if allowed_origins:
        return origin in allowed_origins
    scheme, _, host = origin.partition("://")
    return scheme == "http" and host.rsplit(":", 1)[0] in LOOPBACK


async def form_fields(request: Request, signing_in: bool = False) -> dict[str, str]:
    """A page's posted form, after the cross-site checks: the ``Origin`` (:func:`same_origin`)
    and the CSRF token of the session (or, on the sign-in form, of its pre-session cookie),
    from the form's ``csrf`` field or an ``X-CSRF-Token`` header.

    Raises:
        HTTPException: 403 naming the check that failed.
    """
    if not same_origin(request):
        raise HTTPException(403, "cross-site form post refused (Origin missing or not this site)")
    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True, max_num_fields=50))
    token = form.pop(CSRF_FIELD, None) or request.headers.get(CSRF_HEADER)
    if signing_in:
        ok = web_sessions.token_matches(request.cookies.get(PRE_COOKIE), token, "login")
    else:
        ok = signed_in(request) is not None and web_sessions.token_matches(
            request.cookies.get(SESSION_COOKIE), token
        )
    if not ok:
        # the header lets the outbox keep a queued outcome instead of losing it
        detail = "form post refused: CSRF token missing or wrong (reload the page)"
        raise HTTPException(403, detail, headers={"X-Form-Refused": "csrf"})
    return form
