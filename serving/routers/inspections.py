"""``/v1/inspections``: whom to visit first, by risk or by expected exposure."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from serving.bulkhead import heavy
from serving.deps import Context, context
from serving.priorities import group_rows, household_rows, priorities
from serving.schemas import Priorities, errors

router = APIRouter(prefix="/v1/inspections", tags=["inspections"])


def _id_query(what: str) -> object:
    return Query(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description=what)


@router.get("/priorities", response_model=Priorities, responses=errors(404))
@heavy  # off the event loop, in the heavy reads' own threads (serving.bulkhead)
def inspection_priorities(
    commune_id: str | None = _id_query("Commune (default: every commune the key may see)"),
    village_id: str | None = _id_query("Village"),
    group_id: str | None = _id_query("Savings-and-loan group"),
    sort: Literal["risk", "exposure"] = Query(
        "risk", description="risk or probability × outstanding"
    ),
    limit: int = Query(50, ge=1, le=2000),
    ctx: Context = Depends(context("inspections:read", "portfolio")),
) -> Response:
    """Households ranked for visits at the latest scored month, with their reasons, and the
    groups whose members' risk is rising together (rising groups first)."""
    svc, client, model = ctx.svc, ctx.client, ctx.model
    if commune_id is not None and not client.can_see_commune(commune_id):
        raise HTTPException(403, "commune_id: outside this key's communes")
    as_of, ranked, groups = priorities(
        svc.engine,
        model.name,
        model.version,
        commune_id,
        village_id,
        group_id,
        client.communes,
        sort,
        limit,
    )
    if as_of is None:
        raise HTTPException(404, "commune_id, village_id, group_id: no portfolio scores here")
    body = {
        "commune_id": commune_id,
        "as_of": as_of.isoformat(),
        "model": {"name": model.name, "version": model.version},
        "sort": sort,
        "total": int(groups["members"].sum()),
        "households": household_rows(ranked),
        "groups": group_rows(groups),
    }
    # Built to the response model above; returned as is, since validating a whole commune's
    # list again costs more than computing it. orjson: a whole commune's answer (~1 MB with the
    # reasons' texts) is written an order of magnitude faster than by the json module
    # (docs/measurements.md).
    return Response(orjson.dumps(body), media_type="application/json")
