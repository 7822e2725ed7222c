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

import json
import logging
import math
import tempfile
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from features import domain
from features.catalog import CATEGORY_LABELS
from features.online_store import online_features
from serving import plan_store, planner
from serving.auth import ApiClient, allowed
from serving.bands import BAND_NAMES, BANDS
from serving.db.schema import portfolio_scores
from serving.deps import Context, Services
from serving.priorities import household_scores, priorities
from serving.request_id import REQUEST_ID
from serving.routers import applications, plans
from serving.schemas import ApplicationIn
from serving.scoring import ApplicationRejectedError, UnknownEntityError
from serving.web import i18n

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
KEY_COOKIE, LANG_COOKIE = "vbsp_key", "vbsp_lang"
_ID = r"^[A-Za-z0-9_.-]{1,64}$"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Every page route and the permission it needs (None: no sign-in: the login form, language and
# redirects, which show no data). A page route missing here is refused to everybody (tests check
# the table against the app's routes).
PAGES: dict[tuple[str, str], str | None] = {
    ("GET", "/"): None, ("GET", "/ui"): None, ("GET", "/ui/"): None,
    ("GET", "/ui/login"): None, ("POST", "/ui/login"): None, ("POST", "/ui/logout"): None,
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
}  # fmt: skip
NOBODY = "nobody"  # a permission no role has
NAV = (  # (path, text key, permission)
    ("/ui/priorities", "nav_priorities", "inspections:read"),
    ("/ui/plans", "nav_plans", "inspections:read"),
    ("/ui/application", "nav_application", "applications:score"),
    ("/ui/model", "nav_model", "models:read"),
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


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, i18n.DEFAULT_LANG)
    return lang if lang in i18n.LANGS else i18n.DEFAULT_LANG


def _page(request: Request) -> Page | Response:
    """The signed-in page context, or the response to send instead (login or 403).

    The permission is the route's in :data:`PAGES`; a route missing there is refused.
    """
    route = getattr(request.scope.get("route"), "path", "")
    permission = PAGES.get((request.method, route)) or NOBODY
    svc: Services = request.app.state.services
    key = request.cookies.get(KEY_COOKIE)
    client = svc.clients.get(key) if key else None
    page = Page(request, svc, client, _lang(request))
    if client is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?{urlencode({'next': here})}", 303)
    if permission is not None and not page.can(permission):
        return render(page, "message.html", 403, title=page.t("denied"), message=page.t("denied"))
    return page


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
        t=page.t, lang=lang, client=page.client, can=page.can, here=quote(here, safe=""),
        path=page.request.url.path, nav=[(p, k) for p, k, perm in NAV if page.can(perm)],
        vnd=lambda a: i18n.vnd(a, lang), pct=lambda v, d=1, s=False: i18n.pct(v, lang, d, s),
        day=lambda d, w=False: i18n.day(d, lang, w), month=lambda m: i18n.month(m, lang),
        band_name=lambda b: i18n.band_name(b, lang), url_with=url_with,
        reason_text=lambda r: planner.reason_text(r, lang),
        request_id=REQUEST_ID.get() if status >= 400 else None, **ctx,
    )  # fmt: skip
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (on top of the SameSite=Strict cookie)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def _form(request: Request) -> dict[str, str]:
    if not _same_origin(request):
        raise HTTPException(403, "cross-site form post refused")
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=50))


def _safe_next(target: str | None, fallback: str) -> str:
    if target and target.startswith("/ui/") and "//" not in target and "\\" not in target:
        return target
    return fallback


def _landing(client: ApiClient) -> str:
    for path, _, perm in NAV:
        if allowed(client.role, perm):
            return path
    return "/ui/model"


def _form_number(text: object) -> object:
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


def _valid_id(value: str | None) -> str | None:
    import re

    return value if value and re.fullmatch(_ID, value) else None


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
    page = Page(request, svc, None, _lang(request))
    return render(page, "login.html", next=_safe_next(next, ""), error=None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    svc: Services = request.app.state.services
    key = form.get("api_key", "").strip()
    client = svc.clients.get(key) if key and len(key) < 200 else None
    if client is None:
        page = Page(request, svc, None, _lang(request))
        nxt = _safe_next(form.get("next"), "")
        return render(page, "login.html", 401, next=nxt, error=i18n.text("bad_key", page.lang))
    target = _safe_next(form.get("next"), _landing(client))
    for path, _, perm in NAV:  # a page the role may not see: its own first page instead
        if target.startswith(path) and not allowed(client.role, perm):
            target = _landing(client)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        KEY_COOKIE, key, httponly=True, samesite="strict", path="/ui",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(KEY_COOKIE, path="/ui")
    return response


@router.get("/ui/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next, "/ui/priorities"), 303)
    if code in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", path="/", max_age=365 * 86400)
    return response


# --- priorities ------------------------------------------------------------------------------


def _visible_communes(page: Page, model_name: str, version: str) -> list[str]:
    t = portfolio_scores
    q = sa.select(t.c.commune_id).where(
        (t.c.model_name == model_name) & (t.c.model_version == version)
    )
    with page.svc.engine.connect() as conn:
        communes = sorted({r[0] for r in conn.execute(q.distinct())})
    return [c for c in communes if page.client is None or page.client.can_see_commune(c)]


def _trend(engine: sa.Engine, model_name: str, version: str, commune_id: str) -> dict:
    t = portfolio_scores
    q = (
        sa.select(t.c.as_of, t.c.band, sa.func.count(), sa.func.avg(t.c.probability))
        .where((t.c.model_name == model_name) & (t.c.model_version == version)
               & (t.c.commune_id == commune_id))
        .group_by(t.c.as_of, t.c.band)
        .order_by(t.c.as_of)
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    months: dict[str, dict] = {}
    for as_of, band, n, mean in rows:
        m = months.setdefault(str(as_of)[:10], {"counts": dict.fromkeys(BAND_NAMES, 0), "sum": 0.0})
        m["counts"][band] = int(n)
        m["sum"] += float(mean) * int(n)
    out = []
    for as_of, m in sorted(months.items()):
        total = sum(m["counts"].values())
        out.append({"as_of": as_of, "counts": m["counts"], "total": total,
                    "mean": m["sum"] / total if total else None})  # fmt: skip
    return {"months": out, "bands": list(BAND_NAMES)}


def _num(x: object) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


@router.get("/ui/priorities")
def priorities_page(
    request: Request,
    commune_id: str | None = None,
    village_id: str | None = None,
    group_id: str | None = None,
    band: str | None = None,
    sort: str = "risk",
    rising: str | None = None,
    limit: int = 50,
) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    svc, lang = page.svc, page.lang
    model = svc.holder.get("portfolio")
    if model is None:
        return render(page, "message.html", 503, title=page.t("nav_priorities"),
                      message=page.t("no_model"))  # fmt: skip
    communes = _visible_communes(page, model.name, model.version)
    commune_id = _valid_id(commune_id)
    if commune_id not in communes:
        commune_id = communes[0] if communes else None
    sort = sort if sort in ("risk", "exposure") else "risk"
    limit = min(max(limit, 1), 500)
    places = plans.places(svc)
    ctx: dict[str, Any] = {
        "communes": communes, "commune_id": commune_id, "village_id": None, "group_id": None,
        "band": band if band in BAND_NAMES else None, "sort": sort, "rising": bool(rising),
        "limit": limit, "villages": [], "groups_all": [], "rows": [], "groups": [],
        "as_of": None, "model": model, "total": 0, "shown_of": 0, "chart": None,
        "commune_names": places.commune_names, "village_names": places.village_names,
        "bands": BAND_NAMES,
        "chart_labels": {"bands": list(BAND_NAMES), "lang": lang,
                         "band_names": [i18n.band_name(b, lang) for b in BAND_NAMES]},
    }  # fmt: skip
    ctx["query"] = {"commune_id": commune_id, "band": ctx["band"], "sort": sort,
                    "rising": "1" if rising else None, "limit": str(limit)}  # fmt: skip
    if commune_id is None:
        return render(page, "priorities.html", **ctx)
    as_of, ranked, groups = priorities(svc.engine, model.name, model.version, commune_id, sort=sort)
    if as_of is None:
        return render(page, "priorities.html", **ctx)
    ctx["villages"] = sorted(ranked["village_id"].unique())
    village_id = _valid_id(village_id)
    village_id = village_id if village_id in ctx["villages"] else None
    sel = ranked if village_id is None else ranked[ranked["village_id"] == village_id]
    ctx["groups_all"] = sorted(sel["group_id"].unique())
    group_id = _valid_id(group_id)
    group_id = group_id if group_id in ctx["groups_all"] else None
    if group_id is not None:
        sel = sel[sel["group_id"] == group_id]
    if ctx["band"]:
        sel = sel[sel["band"] == ctx["band"]]
    if rising:
        sel = sel[sel["rising"]]
    shown = sel.head(limit)
    seen = plan_store.last_visits(svc.engine, list(shown["household_id"]))
    rows = []
    for rank, r in zip(shown.index, shown.to_dict("records"), strict=True):
        rows.append({
            "rank": int(rank) + 1, "household_id": r["household_id"], "group_id": r["group_id"],
            "village_id": r["village_id"], "probability": r["probability"], "band": r["band"],
            "change_3m": _num(r["change_3m"]), "rising": bool(r["rising"]),
            "outstanding": _num(r["outstanding"]), "exposure": _num(r["exposure"]),
            "reasons": [x[f"text_{lang}"] for x in r["reasons"][:3]],
            "last_visit": seen.get(r["household_id"]),
        })  # fmt: skip
    gsel = groups
    if village_id is not None:
        gsel = gsel[gsel["village_id"] == village_id]
    ctx.update(
        village_id=village_id, group_id=group_id, rows=rows, as_of=as_of,
        total=len(ranked), shown_of=len(sel),
        groups=[{**g, "mean_change_3m": _num(g["mean_change_3m"])}
                for g in gsel.head(30).to_dict("records")],
        chart=_trend(svc.engine, model.name, model.version, commune_id),
    )  # fmt: skip
    return render(page, "priorities.html", **ctx)


# --- household -------------------------------------------------------------------------------


def _household_visits(engine: sa.Engine, household_id: str) -> list[dict]:
    from serving.db.schema import inspection_plans, plan_visits, visit_outcomes

    v, o, p = plan_visits, visit_outcomes, inspection_plans
    q = (
        sa.select(v.c.visit_date, v.c.selection, v.c.plan_id, p.c.month, o.c.use_of_funds,
                  o.c.borrower_present, o.c.migrated, o.c.recorded_at)
        .select_from(v.join(p, p.c.plan_id == v.c.plan_id).outerjoin(o, o.c.visit_id == v.c.visit_id))
        .where(v.c.household_id == household_id)
        .order_by(v.c.visit_date.desc())
    )  # fmt: skip
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


@router.get("/ui/households/{household_id}")
def household_page(request: Request, household_id: str) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    svc = page.svc
    hid = _valid_id(household_id)
    rows = (
        household_scores(svc.engine, svc.settings.portfolio_model, hid) if hid else pd.DataFrame()
    )
    if rows.empty or not page.client.can_see_commune(str(rows["commune_id"].iloc[-1])):  # type: ignore[union-attr]
        return render(page, "message.html", 404, title=page.t("household_title"),
                      message=page.t("not_found"))  # fmt: skip
    rows = rows.tail(svc.settings.history_months)
    last = rows.iloc[-1]
    history = [{"as_of": str(r["as_of"])[:10], "probability": float(r["probability"]),
                "band": r["band"], "version": r["model_version"]}
               for r in rows.to_dict("records")]  # fmt: skip
    places = plans.places(svc)
    return render(
        page, "household.html", household_id=hid, commune_id=last["commune_id"],
        village_id=last["village_id"], group_id=last["group_id"],
        probability=float(last["probability"]), band=last["band"],
        outstanding=_num(last["outstanding"]), reasons=json.loads(last["reasons"]),
        history=history, chart={"history": history},
        visits=_household_visits(svc.engine, hid) if page.can("inspections:read") else [],
        commune_names=places.commune_names, village_names=places.village_names,
        as_of=last["as_of"],
    )  # fmt: skip


# --- plans -----------------------------------------------------------------------------------


def _next_month() -> str:
    today = date.today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


@router.get("/ui/plans")
def plans_page(request: Request, commune_id: str | None = None) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    return _plans(page, commune_id, errors=[], form={})


def _plans(page: Page, commune_id: str | None, errors: list[str], form: dict,
           status: int = 200) -> HTMLResponse:  # fmt: skip
    svc = page.svc
    model = svc.holder.get("portfolio")
    communes = _visible_communes(page, model.name, model.version) if model else []
    commune_id = _valid_id(commune_id)
    listing = plan_store.list_plans(svc.engine, page.client.communes, commune_id)  # type: ignore[union-attr]
    defaults = {"commune_id": commune_id or (communes[0] if communes else ""),
                "month": _next_month(), "capacity_per_day": "8", "days": "3", "sort": "risk",
                "random_share": "10"}  # fmt: skip
    return render(
        page, "plans.html", status, plans=listing, communes=communes, errors=errors,
        form={**defaults, **form}, commune_names=plans.places(svc).commune_names,
    )  # fmt: skip


@router.post("/ui/plans")
async def plans_create(request: Request) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    form = await _form(request)
    model = page.svc.holder.get("portfolio")
    errors: list[str] = []
    try:
        share = float(form.get("random_share", "10").replace(",", ".")) / 100
        body = plans.PlanIn(
            commune_id=form.get("commune_id", ""), month=form.get("month", ""),
            capacity_per_day=_form_number(form.get("capacity_per_day", "8")),
            days=_form_number(form.get("days", "3")),
            sort=form.get("sort", "risk"), random_share=share,
            replace=form.get("replace") == "on",
        )  # fmt: skip
    except ValidationError as err:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
    except ValueError:
        errors = ["random_share: must be a number"]
    if not errors and model is None:
        errors = [page.t("no_model")]
    if errors:
        return _plans(page, form.get("commune_id"), errors, form, 422)
    from anyio import to_thread

    try:
        plan = await to_thread.run_sync(plans.create_plan, page.svc, page.client, model, body)
    except HTTPException as err:
        return _plans(page, form.get("commune_id"), [str(err.detail)], form, err.status_code)
    return RedirectResponse(f"/ui/plans/{plan['plan_id']}", 303)


@router.get("/ui/plans/{plan_id}")
def plan_page(request: Request, plan_id: str, saved: str | None = None) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    pid = _valid_id(plan_id)
    plan = plan_store.get_plan(page.svc.engine, pid) if pid else None
    if plan is None or not page.client.can_see_commune(plan["commune_id"]):  # type: ignore[union-attr]
        return render(page, "message.html", 404, title=page.t("plan_title"),
                      message=page.t("not_found"))  # fmt: skip
    places = plans.places(page.svc)
    tx_day = plan["params"].get("transaction_day")
    days: list[dict] = []
    for v in plan["visits"]:
        d = (
            v["visit_date"]
            if isinstance(v["visit_date"], date)
            else pd.Timestamp(v["visit_date"]).date()
        )
        if not days or days[-1]["date"] != d:
            days.append({"date": d, "transaction_day": d.day == tx_day, "villages": []})
        villages = days[-1]["villages"]
        if not villages or villages[-1]["village_id"] != v["village_id"]:
            villages.append({"village_id": v["village_id"], "visits": []})
        villages[-1]["visits"].append(v)
    n_random = sum(v["selection"] == "random" for v in plan["visits"])
    return render(
        page, "plan.html", plan=plan, days=days, n_random=n_random, saved=_valid_id(saved),
        outcomes=sum(v["outcome"] is not None for v in plan["visits"]),
        commune_names=places.commune_names, village_names=places.village_names,
        uses=planner.USE_OF_FUNDS,
    )  # fmt: skip


@router.post("/ui/visits/{visit_id}/outcome")
async def outcome_save(request: Request, visit_id: str) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    form = await _form(request)
    vid = _valid_id(visit_id)
    found = plan_store.visit_plan(page.svc.engine, vid) if vid else None
    if found is None or not page.client.can_see_commune(found[1]):  # type: ignore[union-attr]
        return render(page, "message.html", 404, title=page.t("outcome"),
                      message=page.t("not_found"))  # fmt: skip
    try:
        body = plans.OutcomeIn(
            use_of_funds=form.get("use_of_funds", ""),
            borrower_present=form.get("borrower_present") == "on",
            migrated=form.get("migrated") == "on",
            notes=form.get("notes", "").strip() or None,
        )
    except ValidationError as err:
        msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return render(page, "message.html", 422, title=page.t("outcome"), message=msg)
    plans.save_outcome(page.svc, page.client, vid, body)  # type: ignore[arg-type]
    return RedirectResponse(f"/ui/plans/{found[0]}?saved={vid}#v-{vid}", 303)


# --- application check -----------------------------------------------------------------------


def _groups_for(page: Page) -> list[dict]:
    t = online_features
    q = sa.select(t.c.entity_id, t.c.village_id, t.c.commune_id).where(t.c.entity_type == "group")
    with page.svc.engine.connect() as conn:
        rows = conn.execute(q.order_by(t.c.entity_id)).all()
    return [{"group_id": g, "village_id": v, "commune_id": c} for g, v, c in rows
            if page.client is not None and page.client.can_see_commune(c)]  # fmt: skip


def _application_ctx(page: Page) -> dict:
    labels = CATEGORY_LABELS.get("app_purpose", {})
    return {
        "programs": [
            {"code": p.code, "label": p.label_vi if page.lang == "vi" else p.label_en,
             "cap": p.cap_vnd, "term": p.max_term_months}
            for p in domain.PROGRAMS.values()
        ],
        "purposes": [(p, i18n.pair(labels[p][::-1], page.lang) if p in labels else p)
                     for p in domain.PURPOSES],
        "groups": _groups_for(page),
    }  # fmt: skip


@router.get("/ui/application")
def application_page(request: Request, household_id: str | None = None) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    lookup = None
    hid = _valid_id(household_id)
    if hid:
        stored = page.svc.online.get(household_id=hid)
        if stored is not None and page.client.can_see_commune(str(stored["commune_id"])):  # type: ignore[union-attr]
            rows = household_scores(page.svc.engine, page.svc.settings.portfolio_model, hid)
            lookup = {"household_id": hid, "commune_id": stored["commune_id"],
                      "village_id": stored["village_id"], "group_id": stored["group_id"],
                      "band": None if rows.empty else rows["band"].iloc[-1],
                      "outstanding": None if rows.empty else _num(rows["outstanding"].iloc[-1])}  # fmt: skip
        else:
            lookup = {}
    # An id that found nothing is not shown back (it may be a mistyped citizen ID or a name).
    form = {"identity": "household", "household_id": hid if lookup else "", "program": "poor_household",
            "purpose": "livestock", "amount": "", "term_months": "36", "grace_months": "0"}  # fmt: skip
    return render(page, "application.html", form=form, result=None, errors=[], lookup=lookup,
                  places=plans.places(page.svc), **_application_ctx(page))  # fmt: skip


def _app_fields(form: dict[str, str]) -> dict[str, object]:
    fields: dict[str, object] = {
        "program": form.get("program", ""), "purpose": form.get("purpose", ""),
        "amount": _form_number(form.get("amount", "").replace(".", "").replace(",", "")
                               .replace(" ", "").replace("₫", "") or None),
        "term_months": _form_number(form.get("term_months") or None),
        "grace_months": _form_number(form.get("grace_months") or 0),
    }  # fmt: skip
    identity = form.get("identity", "household")
    if identity == "national":
        fields["national_id"] = form.get("national_id", "").strip() or None
    elif identity == "new":
        group = form.get("group_id", "")
        fields["group_id"] = group or None
        fields["village_id"] = form.get(f"village_of_{group}") or form.get("village_id") or None
    else:
        fields["household_id"] = form.get("household_id", "").strip() or None
    return fields


@router.post("/ui/application")
async def application_score(request: Request) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    form = await _form(request)
    if form.get("identity") == "new" and form.get("group_id"):
        g = next((g for g in _groups_for(page) if g["group_id"] == form["group_id"]), None)
        if g is not None:
            form["village_id"] = g["village_id"]
    errors: list[dict] = []
    result = None
    status = 200
    try:
        app = ApplicationIn(**_app_fields(form))
        model = page.svc.holder.get("application")
        if model is None:
            raise HTTPException(503, page.t("no_model"))
        ctx = Context(page.svc, page.client, model)  # type: ignore[arg-type]
        result = (await applications._score(ctx, [app], True, None, "score"))[0]
    except ValidationError as err:  # the API's 422 wording (serving.app._invalid)
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ())) or "body",
                   "message": e.get("msg", "")} for e in err.errors()]  # fmt: skip
        status = 422
    except ApplicationRejectedError as err:
        errors = [{"field": "body", "message": p} for p in err.problems]
        status = 422
    except UnknownEntityError as err:
        errors = [{"field": "household", "message": str(err)}]
        status = 404
    except HTTPException as err:
        errors = [{"field": "", "message": str(err.detail)}]
        status = err.status_code
    shown = {k: v for k, v in form.items() if k != "national_id"}  # never echoed back
    return render(page, "application.html", status, form=shown, result=result, errors=errors,
                  lookup=None, places=plans.places(page.svc), **_application_ctx(page))  # fmt: skip


# --- model -----------------------------------------------------------------------------------

_run_cache: dict[str, dict] = {}
_run_lock = threading.Lock()


def _run_info(tracking_uri: str, run_id: str) -> dict:
    """Key metrics and the model card of a training run (cached: runs do not change)."""
    hit = _run_cache.get(run_id)
    if hit is not None:
        return hit
    info: dict = {"metrics": {}, "card": None}
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        metrics = client.get_run(run_id).data.metrics
        info["metrics"] = {
            ranker: {m: metrics.get(f"{ranker}.{m}") for m in i18n.METRICS}
            for ranker in i18n.RANKERS
            if any(f"{ranker}.{m}" in metrics for m in i18n.METRICS)
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "training/model_card.md", tmp)
            info["card"] = Path(path).read_text(encoding="utf-8")
    except Exception as err:  # the page still shows what it has
        logger.warning("model page: run %s unreadable: %s", run_id, type(err).__name__)
    with _run_lock:
        _run_cache[run_id] = info
    return info


@router.get("/ui/model")
def model_page(request: Request) -> Response:
    page = _page(request)
    if not isinstance(page, Page):
        return page
    from training.registry import alias_history_frame

    svc = page.svc
    views = []
    for view, m in sorted(svc.holder.all().items()):
        info = _run_info(svc.tracking_uri, m.run_id) if m.run_id else {"metrics": {}, "card": None}
        views.append({"view": view, "model": m, **info})
    try:
        history = alias_history_frame(svc.engine).tail(50).iloc[::-1].to_dict("records")
    except Exception as err:
        logger.warning("model page: alias history unreadable: %s", type(err).__name__)
        history = []
    return render(page, "model.html", views=views, history=history, rankers=i18n.RANKERS,
                  metric_names=i18n.METRICS, pair=lambda p: i18n.pair(p, page.lang),
                  bands=BANDS)  # fmt: skip
