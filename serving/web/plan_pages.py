"""Pages of the monthly visit plans: the list, a new plan, a plan's visits and their outcomes."""

from __future__ import annotations

import functools
from datetime import date

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving import (
    clock,
    contacts,
    household_finding,
    outcome_keys,
    outcome_store,
    plan_service,
    plan_store,
    planner,
)
from serving.bulkhead import heavy, run_heavy
from serving.plan_schemas import ID_LIKE, OutcomeIn, PlanIn
from serving.web import i18n, messages
from serving.web.render import (
    Page,
    form_fields,
    form_number,
    not_found,
    page_for,
    render,
    valid_id,
    visible_communes,
)

router = APIRouter(include_in_schema=False)


@router.get("/ui/plans")
@heavy  # off the event loop, in the heavy reads' threads (serving.bulkhead)
def plans_page(
    request: Request, commune_id: str | None = None, today: date = Depends(clock.today)
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    return _plans(page, commune_id, errors=[], form={}, today=today)


def _plan_error(err: HTTPException, lang: str) -> dict:
    """The create-plan refusal as a sentence (with a link to the plan that already exists)."""
    if isinstance(err, plan_service.PlanExistsError):
        return {
            "text": messages.plan_text("exists", lang),
            "href": f"/ui/plans/{err.plan_id}",
            "link": messages.plan_text("open_existing", lang),
        }
    if isinstance(err, plan_service.MonthNotPlannableError):
        a, b = (i18n.month(m, lang) for m in err.allowed)
        return {"text": messages.plan_text("month", lang, a=a, b=b)}
    detail = str(err.detail)
    key = {403: "scope", 404: "no_scores"}.get(err.status_code)
    if key is None:
        key = "tx_day" if "transaction_day" in detail else ("kept" if "kept" in detail else "days")
    return {"text": messages.plan_text(key, lang)}


def _plans(
    page: Page,
    commune_id: str | None,
    errors: list[dict],
    form: dict,
    today: date,
    status: int = 200,
) -> HTMLResponse:
    svc = page.svc
    model = svc.holder.get("portfolio")
    communes = visible_communes(page, model.name, model.version) if model else []
    commune_id = valid_id(commune_id)
    listing = plan_store.list_plans(svc.engine, page.client.communes, commune_id)  # type: ignore[union-attr]
    months = clock.plannable_months(today)
    defaults = {
        "commune_id": commune_id or (communes[0] if communes else ""),
        "month": months[1],
        "capacity_per_day": "8",
        "days": "3",
        "sort": "risk",
        "random_share": "10",
    }
    return render(
        page,
        "plans.html",
        status,
        plans=listing,
        communes=communes,
        errors=errors,
        form={**defaults, **form},
        commune_names=plan_service.places(svc).commune_names,
        months=months,
    )


@router.post("/ui/plans")
async def plans_create(request: Request, today: date = Depends(clock.today)) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    form = await form_fields(request)
    model = page.svc.holder.get("portfolio")
    errors: list[dict] = []
    try:
        share = float(form.get("random_share", "10").replace(",", ".")) / 100
        body = PlanIn(
            commune_id=form.get("commune_id", ""),
            month=form.get("month", ""),
            capacity_per_day=form_number(form.get("capacity_per_day", "8")),
            days=form_number(form.get("days", "3")),
            sort=form.get("sort", "risk"),
            random_share=share,
            replace=form.get("replace") == "on",
        )
    except ValidationError as err:
        errors = [{"text": m} for m in messages.validation_messages(err, page.lang)]
    except ValueError:
        errors = [{"text": messages.plan_text("share", page.lang)}]
    if not errors and model is None:
        errors = [{"text": page.t("no_model")}]
    if errors:
        return _plans(page, form.get("commune_id"), errors, form, today, 422)
    try:
        plan = await run_heavy(
            functools.partial(plan_service.create_plan, page.svc, page.client, model, body, today)
        )
    except HTTPException as err:
        error = _plan_error(err, page.lang)
        return _plans(page, form.get("commune_id"), [error], form, today, err.status_code)
    return RedirectResponse(f"/ui/plans/{plan['plan_id']}", 303)


@router.get("/ui/plans/{plan_id}")
@heavy
def plan_page(
    request: Request, plan_id: str, saved: str | None = None, today: date = Depends(clock.today)
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    pid = valid_id(plan_id)
    plan = plan_store.get_plan(page.svc.engine, pid) if pid else None
    if plan is None:
        return not_found(page, "plan_title")
    if not page.client.can_see_commune(plan["commune_id"]):  # type: ignore[union-attr]
        return not_found(page, "plan_title", "plan outside the session's communes")
    return _plan_view(page, plan, today, saved=valid_id(saved))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else pd.Timestamp(value).date()  # type: ignore[arg-type]


def _plan_view(
    page: Page,
    plan: dict,
    today: date,
    saved: str | None = None,
    failed: dict | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The plan by day and village; ``failed`` is a refused outcome (visit, errors, form)."""
    places = plan_service.places(page.svc)
    tx_day = plan["params"].get("transaction_day")
    days: list[dict] = []
    for v in plan["visits"]:
        d = _as_date(v["visit_date"])
        if not days or days[-1]["date"] != d:
            days.append({"date": d, "transaction_day": d.day == tx_day, "villages": []})
        villages = days[-1]["villages"]
        if not villages or villages[-1]["village_id"] != v["village_id"]:
            villages.append({"village_id": v["village_id"], "visits": []})
        villages[-1]["visits"].append({**v, "open": d <= today})
    # The day shown first on a phone: the one being worked on (a refused or saved outcome's),
    # else today's, else the next one to come, else the last.
    focus = (failed or {}).get("visit_id") or saved
    current = next(
        (
            i
            for i, d in enumerate(days)
            for vg in d["villages"]
            for v in vg["visits"]
            if v["visit_id"] == focus
        ),
        None,
    )
    if current is None:
        current = next((i for i, d in enumerate(days) if d["date"] >= today), len(days) - 1)
    scores_as_of = plan["params"].get("scores_as_of")
    n_random = sum(v["selection"] == "random" for v in plan["visits"])
    return render(
        page,
        "plan.html",
        status,
        plan=plan,
        days=days,
        n_random=n_random,
        saved=saved,
        outcomes=sum(v["outcome"] is not None for v in plan["visits"]),
        commune_names=places.commune_names,
        village_names=places.village_names,
        uses=planner.USE_OF_FUNDS,
        current_day=max(current, 0),
        failed=failed or {},
        fresh=clock.freshness(scores_as_of, today) if scores_as_of else None,
        today=today,
        contacts=contacts.for_client(
            page.svc.engine,
            contacts.pii_hex(page.svc.settings),
            page.client,
            (v["household_id"] for v in plan["visits"]),
        ),
        finding=household_finding.finding(page.svc.settings.state_dir / "data" / "district"),
    )


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


@router.post("/ui/visits/{visit_id}/outcome")
async def outcome_save(
    request: Request, visit_id: str, today: date = Depends(clock.today)
) -> Response:
    page = page_for(request)
    if not isinstance(page, Page):
        return page
    form = await form_fields(request)
    vid = valid_id(visit_id)
    found = outcome_store.visit_plan(page.svc.engine, vid) if vid else None
    if found is None:
        return not_found(page, "outcome")
    if not page.client.can_see_commune(found[1]):  # type: ignore[union-attr]
        return not_found(page, "outcome", "visit outside the session's communes")
    # Nothing is pre-ticked: each answer must be chosen (a missing one is a missing field).
    fields = {
        "use_of_funds": form.get("use_of_funds") or None,
        "borrower_present": _yes_no(form.get("borrower_present")),
        "migrated": _yes_no(form.get("migrated")),
        "confirm_present_and_migrated": form.get("confirm") == "on",
        "notes": form.get("notes", "").strip() or None,
    }
    errors: list[str] = []
    status = 422
    key = outcome_keys.form_key(form)  # set by outbox.js: a resend from the outbox writes once
    try:
        body = OutcomeIn(**{k: v for k, v in fields.items() if v is not None})
        plan_service.save_outcome(page.svc, page.client, vid, body, today, key)  # type: ignore[arg-type]
    except ValidationError as err:
        errors = messages.validation_messages(err, page.lang)
    except plan_service.VisitNotYetError as err:
        errors, status = [messages.visit_not_yet(err.visit_date, page.lang)], 409
    if errors:
        plan = plan_store.get_plan(page.svc.engine, found[0])
        # notes holding an ID-like number are not shown again (the number is the problem)
        shown = {k: v for k, v in form.items() if k != "notes" or not ID_LIKE.search(v)}
        failed = {"visit_id": vid, "errors": errors, "form": shown}
        return _plan_view(page, plan, today, failed=failed, status=status)  # type: ignore[arg-type]
    return RedirectResponse(f"/ui/plans/{found[0]}?saved={vid}#v-{vid}", 303)
