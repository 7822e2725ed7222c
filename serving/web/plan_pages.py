"""Pages of the monthly visit plans: the list, a new plan, a plan's visits and their outcomes."""

from __future__ import annotations

from datetime import date

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving import contacts, household_finding, outcome_keys, plan_store, planner
from serving.routers import plans
from serving.web.render import (
    Page,
    form_fields,
    form_number,
    page_for,
    render,
    valid_id,
    visible_communes,
)

router = APIRouter(include_in_schema=False)


def _next_month() -> str:
    today = date.today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


@router.get("/ui/plans")
def plans_page(request: Request, commune_id: str | None = None) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    return _plans(page, commune_id, errors=[], form={})


def _plans(page: Page, commune_id: str | None, errors: list[str], form: dict,
           status: int = 200) -> HTMLResponse:  # fmt: skip
    svc = page.svc
    model = svc.holder.get("portfolio")
    communes = visible_communes(page, model.name, model.version) if model else []
    commune_id = valid_id(commune_id)
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
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    form = await form_fields(request)
    model = page.svc.holder.get("portfolio")
    errors: list[str] = []
    try:
        share = float(form.get("random_share", "10").replace(",", ".")) / 100
        body = plans.PlanIn(
            commune_id=form.get("commune_id", ""), month=form.get("month", ""),
            capacity_per_day=form_number(form.get("capacity_per_day", "8")),
            days=form_number(form.get("days", "3")),
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
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    pid = valid_id(plan_id)
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
        page, "plan.html", plan=plan, days=days, n_random=n_random, saved=valid_id(saved),
        outcomes=sum(v["outcome"] is not None for v in plan["visits"]),
        commune_names=places.commune_names, village_names=places.village_names,
        uses=planner.USE_OF_FUNDS, contacts=contacts.for_client(
            page.svc.engine, contacts.pii_hex(page.svc.settings), page.client,
            (v["household_id"] for v in plan["visits"])),
        finding=household_finding.finding(page.svc.settings.state_dir / "data" / "district"),
    )  # fmt: skip


@router.post("/ui/visits/{visit_id}/outcome")
async def outcome_save(request: Request, visit_id: str) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    form = await form_fields(request)
    vid = valid_id(visit_id)
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
    key = outcome_keys.form_key(form)  # set by outbox.js: a resend from the outbox writes once
    plans.save_outcome(page.svc, page.client, vid, body, key)  # type: ignore[arg-type]
    return RedirectResponse(f"/ui/plans/{found[0]}?saved={vid}#v-{vid}", 303)
