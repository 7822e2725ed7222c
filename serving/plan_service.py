"""Plan operations shared by the ``/v1/inspections`` plan routes and the plan pages.

A plan is built from the served portfolio champion's latest scores of the commune
(:mod:`serving.planner`) and stored by :mod:`serving.plan_store`; outcomes entered against its
visits become labels (:mod:`serving.outcome_store`). The routers and the pages are thin: both
call these functions, so a plan drawn from a page is the plan the API would draw.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from pathlib import Path

from fastapi import HTTPException

from serving import clock, outcome_keys, outcome_store, plan_store, planner
from serving.auth import ApiClient
from serving.deps import Services
from serving.model_store import LoadedModel
from serving.plan_schemas import OutcomeIn, PlanIn
from serving.security_log import ScopedNotFoundError


class PlanExistsError(HTTPException):
    """409: the commune already has a plan for the month (``plan_id`` names it, for a link)."""

    def __init__(self, plan_id: str) -> None:
        super().__init__(
            409, f"commune_id, month: the commune already has plan {plan_id} for this month"
        )
        self.plan_id = plan_id


class MonthNotPlannableError(HTTPException):
    """422: a plan for a month other than the current or the next one."""

    def __init__(self, month: str, allowed: tuple[str, str]) -> None:
        super().__init__(
            422,
            f"month: {month} cannot be planned; a plan is drawn for the current month "
            f"({allowed[0]}) or the next ({allowed[1]})",
        )
        self.month, self.allowed = month, allowed


class VisitNotYetError(HTTPException):
    """409: an outcome for a visit dated after today (what was found cannot be known yet)."""

    def __init__(self, visit_date: dt.date) -> None:
        super().__init__(
            409,
            f"visit_id: the visit is dated {visit_date.isoformat()}; its outcome can be "
            "recorded from that day on",
        )
        self.visit_date = visit_date


_places_lock = threading.Lock()
_places_cache: dict[Path, tuple[float, plan_store.Places]] = {}


def places(svc: Services) -> plan_store.Places:
    """Transaction days and place names from the state's data folder (cached by mtime)."""
    folder = svc.settings.state_dir / "data" / "district"
    marker = folder / "communes.parquet"
    try:
        stamp = (
            marker.stat().st_mtime if marker.exists() else (folder / "communes.csv").stat().st_mtime
        )
    except OSError:
        return plan_store.Places()
    hit = _places_cache.get(folder)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = plan_store.read_places(folder)
    with _places_lock:
        _places_cache[folder] = (stamp, value)
    return value


def _visit(v: dict) -> dict:
    return {
        **v,
        "reason_en": planner.reason_text(v["reason"], "en"),
        "reason_vi": planner.reason_text(v["reason"], "vi"),
    }


def plan_body(plan: dict) -> dict:
    """A stored plan as the API answers it."""
    visits = plan["visits"]
    return {
        "plan_id": plan["plan_id"],
        "commune_id": plan["commune_id"],
        "month": plan["month"],
        "status": plan["status"],
        "created_at": plan["created_at"],
        "created_by": plan["created_by"],
        "model": {"name": plan["model_name"], "version": plan["model_version"]},
        "params": plan["params"],
        "visits": len(visits),
        "outcomes": sum(v["outcome"] is not None for v in visits),
        "visit_list": [_visit(v) for v in visits],
    }


def create_plan(
    svc: Services, client: ApiClient, model: LoadedModel, body: PlanIn, today: dt.date
) -> dict:
    """Build and store a plan.

    Raises:
        HTTPException: 403 commune outside the key, 422 a month other than ``today``'s or the
            next, 404 no scores, 409 plan exists or unknown transaction day, 422 too few days.
    """
    if not client.can_see_commune(body.commune_id):
        raise HTTPException(403, "commune_id: outside this key's communes")
    allowed = clock.plannable_months(today)
    if body.month not in allowed:
        raise MonthNotPlannableError(body.month, allowed)
    as_of, candidates = plan_store.load_candidates(
        svc.engine, model.name, model.version, body.commune_id
    )
    if as_of is None or candidates.empty:
        raise HTTPException(404, "commune_id: no portfolio scores for this commune")
    day = body.transaction_day or places(svc).transaction_days.get(body.commune_id)
    if day is None:  # the request is valid; the service's data lacks the day (state: 409)
        raise HTTPException(
            409, "transaction_day: the commune's transaction day is unknown; give transaction_day"
        )
    existing = plan_store.find_plan(svc.engine, body.commune_id, body.month)
    if existing is not None and not body.replace:  # early answer; save_plan decides for sure
        raise PlanExistsError(existing)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    try:
        request = planner.PlanRequest(
            month=body.month,
            transaction_day=day,
            capacity_per_day=body.capacity_per_day,
            days=body.days,
            sort=body.sort,
            random_share=body.random_share,
            seed=seed,
        )
        visits = planner.build_plan(candidates, request)
        dates = planner.plan_dates(body.month, day, body.days)
    except ValueError as err:
        raise HTTPException(422, str(err)) from None
    n_random = int((visits["selection"] == "random").sum())
    try:  # one transaction: replace and insert; a concurrent create makes this a 409
        plan_id = plan_store.save_plan(
            svc.engine,
            body.commune_id,
            request,
            visits,
            model.name,
            model.version,
            client.client_id,
            {
                "scores_as_of": as_of.isoformat(),
                "households": len(candidates),
                "random_visits": n_random,
                "dates": [d.isoformat() for d in sorted(dates)],
            },
            replace=body.replace,
        )
    except plan_store.PlanExistsError as err:
        raise PlanExistsError(err.plan_id or "(just created)") from None
    except ValueError as err:
        raise HTTPException(409, str(err)) from None
    plan = plan_store.get_plan(svc.engine, plan_id)
    assert plan is not None
    return plan_body(plan)


def visible_plan(svc: Services, client: ApiClient, plan_id: str) -> dict:
    """A plan the caller may see (else 404, as for an unknown plan)."""
    plan = plan_store.get_plan(svc.engine, plan_id)
    if plan is None:
        raise HTTPException(404, "plan_id: unknown plan")
    if not client.can_see_commune(plan["commune_id"]):  # answered as unknown, logged as refused
        raise ScopedNotFoundError("plan_id: unknown plan", "plan outside the key's communes")
    return plan


def save_outcome(
    svc: Services,
    client: ApiClient,
    visit_id: str,
    body: OutcomeIn,
    today: dt.date,
    key: str | None = None,
) -> dict:
    """Record a visit's outcome (404 for a visit the caller may not see, 409 before its date); a
    resend with the same ``key`` answers the first outcome and writes nothing (422 if the key was
    used for another outcome)."""
    found = outcome_store.visit_plan(svc.engine, visit_id)
    if found is None:
        raise HTTPException(404, "visit_id: unknown visit")
    if not client.can_see_commune(found[1]):  # answered as unknown, logged as refused
        raise ScopedNotFoundError("visit_id: unknown visit", "visit outside the key's communes")
    visit_date = outcome_store.visit_date(svc.engine, visit_id)
    if visit_date is not None and visit_date > today:
        raise VisitNotYetError(visit_date)
    try:
        return outcome_store.record_outcome(
            svc.engine,
            visit_id,
            body.use_of_funds,
            body.borrower_present,
            body.migrated,
            body.notes,
            client.client_id,
            key,
            secret=svc.digest_key,
        )
    except outcome_keys.KeyReusedError as err:
        raise HTTPException(422, str(err)) from None
