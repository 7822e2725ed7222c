"""What every page shares: the templates, the sign-in and permission check, rendering with the
security headers, form helpers, and the table of page routes and their permissions."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from serving import planner
from serving.auth import ApiClient, allowed
from serving.deps import Services
from serving.request_id import REQUEST_ID
from serving.web import i18n
from serving.web.guard import SESSION_COOKIE as SESSION_COOKIE
from serving.web.guard import csrf_of, signed_in
from serving.web.guard import form_fields as form_fields
from vbsp_state.schema import portfolio_scores

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
LANG_COOKIE = "vbsp_lang"
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: under it browsers send ``Origin: null`` with the pages' own form posts,
    # which the origin check (serving/web/guard.py) must refuse; same-origin sends the real
    # origin to this site and nothing (neither referrer nor origin) to any other
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Every page route and the permission it needs (None: no sign-in: the login form, language and
# redirects, which show no data). A page route missing here is refused to everybody (tests check
# the table against the app's routes).
PAGES: dict[tuple[str, str], str | None] = {
    ("GET", "/"): None,
    ("GET", "/ui"): None,
    ("GET", "/ui/"): None,
    ("GET", "/ui/login"): None,
    ("POST", "/ui/login"): None,
    ("POST", "/ui/logout"): None,
    ("GET", "/ui/lang/{code}"): None,
    ("GET", "/ui/priorities"): "inspections:read",
    ("GET", "/ui/households/{household_id}"): "households:read",
    ("GET", "/ui/plans"): "inspections:read",
    ("POST", "/ui/plans"): "visits:write",
    ("GET", "/ui/plans/{plan_id}"): "inspections:read",
    ("POST", "/ui/visits/{visit_id}/outcome"): "visits:write",
    ("GET", "/ui/application"): "applications:score",
    ("POST", "/ui/application"): "applications:score",
    ("GET", "/ui/model"): "models:read",
    ("GET", "/ui/{rest:path}"): None,  # the friendly 404 (shows no data)
}
NOBODY = "nobody"  # a permission no role has
NAV = (  # (path, text key, permission)
    ("/ui/priorities", "nav_priorities", "inspections:read"),
    ("/ui/plans", "nav_plans", "inspections:read"),
    ("/ui/application", "nav_application", "applications:score"),
    ("/ui/model", "nav_model", "models:read"),
    ("/ui/data", "nav_data", "admin:reload"),  # issue 19: serving/web/data_page.py
)

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def static_files() -> StaticFiles:
    """The pages' CSS and JavaScript (mounted at ``/static``)."""
    return StaticFiles(directory=HERE / "static")


@dataclass
class Page:
    """Who is asking, in which language, with which services."""

    request: Request
    svc: Services
    client: ApiClient | None
    lang: str

    def t(self, key: str) -> str:
        return i18n.text(key, self.lang)

    def can(self, permission: str) -> bool:
        return self.client is not None and allowed(self.client.role, permission)


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, i18n.DEFAULT_LANG)
    return lang if lang in i18n.LANGS else i18n.DEFAULT_LANG


def page_for(request: Request) -> Page | Response:
    """The signed-in page context, or the response to send instead (login or 403).

    The permission is the route's in :data:`PAGES`; a route missing there is refused.
    """
    route = getattr(request.scope.get("route"), "path", "")
    permission = PAGES.get((request.method, route)) or NOBODY
    svc: Services = request.app.state.services
    client = signed_in(request)
    page = Page(request, svc, client, lang_of(request))
    if client is None:  # the pages' 401: on record, then to the sign-in form
        if svc.security is not None:
            svc.security.record(request, 401, "page without a valid session: sent to sign in")
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?{urlencode({'next': here})}", 303)
    if permission is not None and not page.can(permission):
        if svc.security is not None:  # on record like the API's 403s
            svc.security.record(request, 403, f"forbidden page: {permission}", client)
        return render(page, "message.html", 403, title=page.t("denied"), message=page.t("denied"))
    return page


def not_found(page: Page, title: str, outside: str | None = None) -> HTMLResponse:
    """The pages' 404, for an unknown record and for one outside the caller's communes alike
    (the answer must not tell them apart); the latter (``outside`` says what was refused) is on
    record as a refusal, as the API's :class:`serving.security_log.ScopedNotFoundError` is."""
    if outside is not None and page.svc.security is not None:
        try:
            page.svc.security.record(page.request, 404, outside, page.client)
        except Exception:  # the record must not turn the 404 into a 500
            logger.exception("security event not recorded")
    return render(page, "message.html", 404, title=page.t(title), message=page.t("not_found"))


def render(page: Page, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A template rendered for the page's language and caller."""
    lang = page.lang

    def url_with(**changes: Any) -> str:
        # From the page's own validated filters, never the raw query: it may hold anything.
        params = {k: v for k, v in (ctx.get("query") or {}).items() if v is not None}
        params.update({k: v for k, v in changes.items() if v is not None})
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
        return page.request.url.path + ("?" + urlencode(params) if params else "")

    query = {k: v for k, v in (ctx.get("query") or {}).items() if v is not None}
    here = page.request.url.path + (f"?{urlencode(query)}" if query else "")
    if status >= 400:  # an error page does not repeat the path asked for (it may hold anything)
        here = "/ui/priorities"
    html = env.get_template(template).render(
        t=page.t,
        lang=lang,
        client=page.client,
        can=page.can,
        here=quote(here, safe=""),
        path=page.request.url.path,
        nav=[(p, k) for p, k, perm in NAV if page.can(perm)],
        vnd=lambda a: i18n.vnd(a, lang),
        pct=lambda v, d=1, s=False: i18n.pct(v, lang, d, s),
        pp=lambda v: i18n.pp(v, lang),
        time_local=lambda ts: i18n.time_local(ts, lang),
        dec=lambda v, d=3: i18n.decimal(v, lang, d),
        day=lambda d, w=False: i18n.day(d, lang, w),
        month=lambda m: i18n.month(m, lang),
        band_name=lambda b: i18n.band_name(b, lang),
        url_with=url_with,
        reason_text=lambda r: planner.reason_text(r, lang),
        request_id=REQUEST_ID.get() if status >= 400 else None,
        **{"csrf": csrf_of(page.request) if page.client else "", **ctx},
    )
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def safe_next(target: str | None, fallback: str) -> str:
    if target and target.startswith("/ui/") and "//" not in target and "\\" not in target:
        return target
    return fallback


def landing(client: ApiClient) -> str:
    for path, _, perm in NAV:
        if allowed(client.role, perm):
            return path
    return "/ui/model"


def form_number(text: object) -> object:
    """A form field as a number (request models take JSON numbers only), else as typed."""
    if not isinstance(text, str):
        return text
    try:
        return int(text.strip())
    except ValueError:
        try:
            value = float(text.strip())
        except ValueError:
            return text
        return value if math.isfinite(value) else text


def valid_id(value: str | None) -> str | None:
    import re

    return value if value and re.fullmatch(ID_PATTERN, value) else None


def visible_communes(page: Page, model_name: str, version: str) -> list[str]:
    t = portfolio_scores
    q = sa.select(t.c.commune_id).where(
        (t.c.model_name == model_name) & (t.c.model_version == version)
    )
    with page.svc.engine.connect() as conn:
        communes = sorted({r[0] for r in conn.execute(q.distinct())})
    return [c for c in communes if page.client is None or page.client.can_see_commune(c)]
