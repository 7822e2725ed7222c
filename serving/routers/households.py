"""``/v1/households``: a household's latest portfolio score, reasons and score history."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Path

from serving.auth import ApiClient
from serving.deps import Services, require, services
from serving.priorities import household_scores
from serving.schemas import HouseholdRisk, errors
from serving.security_log import ScopedNotFoundError

router = APIRouter(prefix="/v1/households", tags=["households"])


@router.get("/{household_id}/risk", response_model=HouseholdRisk, responses=errors(404))
def household_risk(
    household_id: str = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    client: ApiClient = Depends(require("households:read")),
    svc: Services = Depends(services),
) -> dict:
    """The household's latest monthly risk score with its reasons, and the months before.

    A household outside the caller's communes is reported as unknown (404), like one that does
    not exist, so a key cannot learn which households other communes hold.
    """
    name = svc.settings.portfolio_model
    rows = household_scores(svc.engine, name, household_id)
    if rows.empty:
        raise HTTPException(404, "household_id: unknown household")
    if not client.can_see_commune(str(rows["commune_id"].iloc[-1])):  # logged as refused
        raise ScopedNotFoundError(
            "household_id: unknown household", "household outside the key's communes"
        )
    rows = rows.tail(svc.settings.history_months)
    last = rows.iloc[-1]

    def point(r: dict) -> dict:
        return {
            "as_of": r["as_of"],
            "probability": r["probability"],
            "band": r["band"],
            "model": {"name": r["model_name"], "version": r["model_version"]},
        }

    records = rows.to_dict("records")
    return {
        "household_id": household_id,
        "commune_id": last["commune_id"],
        "village_id": last["village_id"],
        "group_id": last["group_id"],
        "latest": point(records[-1]),
        "reasons": json.loads(last["reasons"]),
        "outstanding": None if last["outstanding"] != last["outstanding"] else last["outstanding"],
        "history": [point(r) for r in records],
    }
