"""Web pages for inspectors, loan officers and the data team, served by the scoring service.

Server-rendered Jinja2 templates with a little JavaScript of our own (charts drawn as inline SVG,
the print button); styles and scripts are files under ``static/`` served at ``/static`` — no
CDN, the pages work offline.

Sign-in. The pages use the same API keys as the JSON API. ``/ui/login`` takes the key in a POST
body and keeps it in an ``HttpOnly``, ``SameSite=Strict`` session cookie scoped to ``/ui`` (never
in a URL, never readable by scripts, never logged: uvicorn's access log is off and the service
logs no request bodies); ``/ui/logout`` clears it. Every page checks the key and the role's
permission like the API does (:func:`serving.auth.allowed`) and shows only the communes the key
may see. Forms post to the pages themselves; a POST whose ``Origin`` is another site is refused.

Language: Vietnamese by default; ``/ui/lang/en`` or ``/ui/lang/vi`` switches (a cookie).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.auth import allowed
from serving.deps import Services
from serving.web import application_page, i18n, model_page, plan_pages, portfolio_pages
from serving.web.render import (
    KEY_COOKIE,
    LANG_COOKIE,
    NAV,
    Page,
    form_fields,
    landing,
    lang_of,
    render,
    safe_next,
)

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
    svc: Services = request.app.state.services
    page = Page(request, svc, None, lang_of(request))
    return render(page, "login.html", next=safe_next(next, ""), error=None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await form_fields(request)
    svc: Services = request.app.state.services
    key = form.get("api_key", "").strip()
    client = svc.clients.get(key) if key and len(key) < 200 else None
    if client is None:
        page = Page(request, svc, None, lang_of(request))
        nxt = safe_next(form.get("next"), "")
        return render(page, "login.html", 401, next=nxt, error=i18n.text("bad_key", page.lang))
    target = safe_next(form.get("next"), landing(client))
    for path, _, perm in NAV:  # a page the role may not see: its own first page instead
        if target.startswith(path) and not allowed(client.role, perm):
            target = landing(client)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        KEY_COOKIE, key, httponly=True, samesite="strict", path="/ui",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    await form_fields(request)
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(KEY_COOKIE, path="/ui")
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
    key = request.cookies.get(KEY_COOKIE)
    page = Page(request, svc, svc.clients.get(key) if key else None, lang_of(request))
    return render(page, "message.html", 404, title=page.t("page_missing"),
                  message=page.t("page_missing"), home=True)  # fmt: skip
