"""``/v1/inspections/plans`` and ``/v1/inspections/visits``: monthly visit plans and outcomes.

A plan is built from the served portfolio champion's latest scores of the commune
(:mod:`serving.planner`) and stored by :mod:`serving.plan_store`; each visit records its score,
model version, selection reason and selection probability, and outcomes entered against visits
become labels.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam

from serving import clock, plan_store
from serving.auth import ApiClient
from serving.bulkhead import heavy
from serving.deps import Context, Services, context, require, services
from serving.plan_schemas import (  # noqa: F401 (the models' home was this module)
    MONTH_PATTERN,
    TEXT_PATTERN,
    Outcome,
    OutcomeIn,
    Plan,
    PlanIn,
    PlanSummary,
    Visit,
)
from serving.plan_service import create_plan, plan_body, save_outcome, visible_plan
from serving.routers.applications import IdempotencyKey
from serving.schemas import errors
from serving.strict_json import StrictJsonRoute

router = APIRouter(prefix="/v1/inspections", tags=["inspection plans"], route_class=StrictJsonRoute)


@router.post("/plans", response_model=Plan, status_code=201, responses=errors(404, 409, 413, 415))
@heavy
def post_plan(
    body: PlanIn,
    ctx: Context = Depends(context("visits:write", "portfolio")),
    today: dt.date = Depends(clock.today),
) -> dict:
    """Plan a commune's visits for a month: households by risk or expected exposure (plus a
    random share drawn from the rest of the portfolio), grouped by village and group, on the
    days around the commune's transaction day, at most ``capacity_per_day`` visits a day.
    A month's plan exists once; ``replace`` redraws it while no outcome is recorded. Only the
    current month or the next can be planned (422 otherwise)."""
    return create_plan(ctx.svc, ctx.client, ctx.model, body, today)


@router.get("/plans", response_model=list[PlanSummary], responses=errors())
@heavy
def get_plans(
    commune_id: str | None = Query(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    month: str | None = Query(None, pattern=MONTH_PATTERN),
    client: ApiClient = Depends(require("inspections:read")),
    svc: Services = Depends(services),
) -> list[dict]:
    """Plans of the communes the key may see, newest month first (403 for a commune outside
    the key's, as the priorities answer)."""
    if commune_id is not None and not client.can_see_commune(commune_id):
        raise HTTPException(403, "commune_id: outside this key's communes")
    rows = plan_store.list_plans(svc.engine, client.communes, commune_id, month)
    return [{**r, "model": {"name": r["model_name"], "version": r["model_version"]}} for r in rows]


@router.get("/plans/{plan_id}", response_model=Plan, responses=errors(404))
@heavy
def get_plan(
    plan_id: str = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    client: ApiClient = Depends(require("inspections:read")),
    svc: Services = Depends(services),
) -> dict:
    """A plan with its visits by day, village and group, and the outcomes recorded."""
    return plan_body(visible_plan(svc, client, plan_id))


@router.put(
    "/visits/{visit_id}/outcome", response_model=Outcome, responses=errors(404, 409, 413, 415)
)
def put_outcome(
    body: OutcomeIn,
    visit_id: str = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    client: ApiClient = Depends(require("visits:write")),
    svc: Services = Depends(services),
    idempotency_key: str | None = IdempotencyKey,
    today: dt.date = Depends(clock.today),
) -> dict:
    """Record (or correct) what the inspector found on a visit; it becomes a label, with the
    visit's selection probability. Not before the visit's date (409); present and migrated
    together must be confirmed (422). A retry with the same ``Idempotency-Key`` answers the
    first outcome and writes nothing."""
    return save_outcome(svc, client, visit_id, body, today, idempotency_key)
