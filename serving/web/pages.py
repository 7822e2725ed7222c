"""Web pages for inspectors, loan officers and the data team, served by the scoring service.

Server-rendered Jinja2 templates with a little JavaScript of our own (charts drawn as inline SVG,
the print button); styles and scripts are files under ``static/`` served at ``/static`` — no
CDN, the pages work offline.

Sign-in. The pages use the same API keys as the JSON API, but only once: ``/ui/login`` takes the
key in a POST body and starts a server-side session (:mod:`serving.web_sessions`); the browser
keeps only the session's random id in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to
``/ui``. The session ends at its absolute expiry, after the idle timeout, on ``/ui/logout`` (on
the server, not only in the browser) and when the key is deactivated or changed. Every page
checks the session and the role's permission like the API does (:func:`serving.auth.allowed`)
and shows only the communes the key may see. Every form post (the sign-in form too) carries the
session's CSRF token and must come from one of the service's own origins
(:mod:`serving.web.guard`).

Language: Vietnamese by default; ``/ui/lang/en`` or ``/ui/lang/vi`` switches (a cookie).
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving import web_sessions
from serving.auth import allowed
from serving.deps import Services
from serving.web import application_page, i18n, model_page, plan_pages, portfolio_pages
from serving.web.guard import PRE_COOKIE, SESSION_COOKIE, session_times, signed_in
from serving.web.render import (
    LANG_COOKIE,
    NAV,
    Page,
    form_fields,
    landing,
    lang_of,
    render,
    safe_next,
)

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


# --- sign-in, language -----------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    """The service's front door: the priorities page (or the login form first)."""
    return RedirectResponse("/ui/priorities", 303)


@router.get("/ui")
@router.get("/ui/")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/priorities", 303)


@router.get("/ui/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, safe_next(next, ""), None)


def _login_page(request: Request, nxt: str, error: str | None, status: int = 200) -> HTMLResponse:
    """The sign-in form with its token, bound to a random pre-session cookie (set here when the
    browser has none): a sign-in posted from another site cannot carry it."""
    svc: Services = request.app.state.services
    page = Page(request, svc, None, lang_of(request))
    pre = request.cookies.get(PRE_COOKIE) or ""
    fresh = not 20 <= len(pre) <= 100
    pre = secrets.token_urlsafe(32) if fresh else pre
    token = web_sessions.csrf_token(pre, "login")
    response = render(page, "login.html", status, next=nxt, error=error, csrf=token)
    if fresh:
        _cookie(response, request, PRE_COOKIE, pre)
    return response


def _cookie(response: Response, request: Request, name: str, value: str) -> None:
    """An ``HttpOnly``, ``SameSite=Strict`` cookie for the pages only (secure over HTTPS)."""
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, httponly=True, samesite="strict", path="/ui", secure=secure)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await form_fields(request, signing_in=True)
    svc: Services = request.app.state.services
    key = form.get("api_key", "").strip()
    client = svc.clients.get(key) if key and len(key) < 200 else None
    if client is None:
        nxt = safe_next(form.get("next"), "")
        error = i18n.text("bad_key", lang_of(request))
        return _login_page(request, nxt, error, 401)
    target = safe_next(form.get("next"), landing(client))
    for path, _, perm in NAV:  # a page the role may not see: its own first page instead
        if target.startswith(path) and not allowed(client.role, perm):
            target = landing(client)
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a second sign-in in this browser replaces the first session
        web_sessions.revoke(svc.engine, old)
    session_id = web_sessions.create(svc.engine, client.client_id, session_times(svc))
    logger.info("web session started for %s", client.client_id)
    response = RedirectResponse(target, 303)
    _cookie(response, request, SESSION_COOKIE, session_id)
    response.delete_cookie(PRE_COOKIE, path="/ui")
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session on the server (the cookie alone could be replayed), then drop it; a
    session already over needs no token (there is nothing left to end)."""
    svc: Services = request.app.state.services
    if signed_in(request) is not None:
        await form_fields(request)
        web_sessions.revoke(svc.engine, request.cookies.get(SESSION_COOKIE, ""))
        logger.info("web session ended by logout")
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


@router.get("/ui/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(safe_next(next, "/ui/priorities"), 303)
    if code in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", path="/", max_age=365 * 86400)
    return response


for _pages in (portfolio_pages, plan_pages, application_page, model_page):  # in this order
    router.include_router(_pages.router)


@router.get("/ui/{rest:path}")
def page_missing(request: Request, rest: str) -> HTMLResponse:
    """A friendly 404 for a page that does not exist (the path asked for is not repeated).

    Declared last so that every real page matches first; a page router added elsewhere must be
    included before this one.
    """
    svc: Services = request.app.state.services
    page = Page(request, svc, signed_in(request), lang_of(request))
    return render(
        page,
        "message.html",
        404,
        title=page.t("page_missing"),
        message=page.t("page_missing"),
        home=True,
    )
