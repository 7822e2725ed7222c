"""Issue 20, items 2 and 7: one plan per commune and month, even under concurrent creates, and
the plans list refuses a foreign commune as the priorities do.

Probe: six concurrent ``POST /v1/inspections/plans`` for C08 2026-08 gave six 201s, six plans and
144 visits for the same 24 households; ``replace`` then left all six.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from tests.support.served import Served, headers

PLANS = "/v1/inspections/plans"
RACERS = 6


def _race(api: TestClient, served: Served, body: dict) -> list[httpx.Response]:
    """``RACERS`` posts of ``body`` released together."""
    start = threading.Barrier(RACERS)

    def post(_: int) -> httpx.Response:
        start.wait()
        return api.post(PLANS, json=body, headers=headers(served, "data"))

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(post, range(RACERS)))


def _plans(engine: Engine, commune: str, month: str) -> tuple[list[str], int]:
    """The commune-month's plans and the visits not belonging to any plan."""
    with engine.connect() as conn:
        plans = (
            conn.execute(
                sa.text(
                    "SELECT plan_id FROM inspection_plans WHERE commune_id = :c AND month = :m"
                ),
                {"c": commune, "m": month},
            )
            .scalars()
            .all()
        )
        orphans = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM plan_visits WHERE plan_id NOT IN "
                "(SELECT plan_id FROM inspection_plans)"
            )
        ).scalar_one()
    return list(plans), orphans


def test_concurrent_creates_give_one_201_and_409s_naming_the_plan(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    commune, month = served.communes[0], clock.plannable_months(clock.today())[1]
    body = {"commune_id": commune, "month": month, "transaction_day": 10, "days": 2}
    answers = _race(api, served, body)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * (RACERS - 1), [r.text for r in answers]
    created = next(r for r in answers if r.status_code == 201).json()["plan_id"]
    for r in answers:
        if r.status_code == 409:
            assert f"already has plan {created}" in r.json()["detail"], r.text
    assert _plans(api_db, commune, month) == ([created], 0)
    # Concurrent replaces: each one that succeeds replaces the plan in one transaction; one
    # plan is left, with its visits, and no visit of a replaced plan.
    answers = _race(api, served, {**body, "replace": True})
    assert {r.status_code for r in answers} <= {201, 409} and 201 in {
        r.status_code for r in answers
    }, [r.text for r in answers]
    plans, orphans = _plans(api_db, commune, month)
    assert len(plans) == 1 and plans[0] != created and orphans == 0
    final = api.get(f"{PLANS}/{plans[0]}", headers=headers(served, "data")).json()
    assert final["visits"] == len(final["visit_list"]) > 0


def test_plans_list_refuses_a_foreign_commune_as_priorities_do(
    api: TestClient, served: Served
) -> None:
    foreign = {"commune_id": served.communes[0]}
    h = headers(served, "inspector_other")  # limited to a commune the district does not have
    plans = api.get(PLANS, params=foreign, headers=h)
    priorities = api.get("/v1/inspections/priorities", params=foreign, headers=h)
    assert plans.status_code == priorities.status_code == 403
    assert "commune_id" in plans.json()["detail"]
    own = api.get(PLANS, params=foreign, headers=headers(served, "inspector"))
    assert own.status_code == 200 and own.json()  # the plans of the race test above
