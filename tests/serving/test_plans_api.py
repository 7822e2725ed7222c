"""``/v1/inspections/plans`` and visit outcomes on the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from serving.app import create_app
from tests.support.served import (
    Served,
    first_day,
    headers,
    last_day,
    month_start,
    set_today,
    write_places,
)
from vbsp_state.schema import plan_visits, visit_outcomes


@pytest.fixture(scope="module")
def plans_api(
    served: Served, api_db: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The real app on the filled database, with the data folder's communes and villages."""
    state = write_places(served, tmp_path_factory.mktemp("plans-state"))
    url = api_db.url.render_as_string(hide_password=False)
    with TestClient(create_app(served.settings(url, state_dir=state))) as client:
        yield client


def _plan(client: TestClient, served: Served, role: str = "inspector", **body: object) -> object:
    """POST a plan; "today" is the first day of its month (which may therefore be planned)."""
    payload = {
        "commune_id": served.communes[0],
        "month": month_start(served, 1),
        "capacity_per_day": 6,
        "days": 3,
        "random_share": 0.1,
        "seed": 5,
        **body,
    }
    if isinstance(payload["month"], str) and len(payload["month"]) == 7:
        set_today(client, first_day(payload["month"]))
    return client.post("/v1/inspections/plans", json=payload, headers=headers(served, role))


def test_plan_is_built_stored_and_listed(
    plans_api: TestClient, served: Served, api_db: Engine
) -> None:
    r = _plan(plans_api, served)
    assert r.status_code == 201, r.text
    plan = r.json()
    visits = plan["visit_list"]
    day = int(
        served.tables["communes"].set_index("commune_id").loc[served.communes[0], "transaction_day"]
    )
    assert plan["params"]["transaction_day"] == day
    assert len(visits) == plan["visits"] == 18
    per_day: dict[str, int] = {}
    for v in visits:
        per_day[v["visit_date"]] = per_day.get(v["visit_date"], 0) + 1
    assert len(per_day) <= 3 and max(per_day.values()) <= 6
    month = month_start(served, 1)
    assert date(int(month[:4]), int(month[5:7]), day).isoformat() in per_day
    rand = [v for v in visits if v["selection"] == "random"]
    assert len(rand) == 2 and all(0 < v["selection_probability"] < 1 for v in rand)
    assert all(v["model_version"] == served.versions["portfolio"] for v in visits)
    assert all(v["probability"] is not None and v["reason_vi"] and v["reason_en"] for v in visits)
    assert plan["model"] == {
        "name": "overdue-risk-portfolio",
        "version": served.versions["portfolio"],
    }
    listed = plans_api.get("/v1/inspections/plans", headers=headers(served, "inspector")).json()
    assert [p["plan_id"] for p in listed] == [plan["plan_id"]]
    got = plans_api.get(f"/v1/inspections/plans/{plan['plan_id']}", headers=headers(served, "data"))
    assert got.json()["visit_list"] == visits
    with api_db.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(plan_visits)).scalar_one()
    assert stored == 18
    # A month has one plan: asking again is a conflict; replace redraws it.
    assert _plan(plans_api, served).status_code == 409
    again = _plan(plans_api, served, replace=True, seed=6)
    assert again.status_code == 201 and again.json()["plan_id"] != plan["plan_id"]


def test_outcomes_are_recorded_corrected_and_keep_the_plan(
    plans_api: TestClient, served: Served, api_db: Engine
) -> None:
    month = month_start(served, 2)
    plan = _plan(plans_api, served, month=month).json()
    visit = plan["visit_list"][0]
    url = f"/v1/inspections/visits/{visit['visit_id']}/outcome"
    body = {"use_of_funds": "partial", "borrower_present": True, "migrated": False, "notes": "ok"}
    # Not before the visit's date: what was found cannot be known yet.
    visit_day = date.fromisoformat(visit["visit_date"])
    set_today(plans_api, date.fromordinal(visit_day.toordinal() - 1))
    early = plans_api.put(url, json=body, headers=headers(served, "inspector"))
    assert early.status_code == 409 and visit["visit_date"] in early.json()["detail"]
    set_today(plans_api, visit_day)
    r = plans_api.put(url, json=body, headers=headers(served, "inspector"))
    assert r.status_code == 200 and r.json()["recorded_by"] == "test-inspector"
    r = plans_api.put(url, json={**body, "use_of_funds": "misuse"}, headers=headers(served, "data"))
    assert r.status_code == 200
    got = plans_api.get(
        f"/v1/inspections/plans/{plan['plan_id']}", headers=headers(served, "inspector")
    ).json()
    first = next(v for v in got["visit_list"] if v["visit_id"] == visit["visit_id"])
    assert first["outcome"]["use_of_funds"] == "misuse" and got["outcomes"] == 1
    with api_db.connect() as conn:
        rows = conn.execute(sa.select(visit_outcomes.c.visit_id)).all()
    assert visit["visit_id"] in {r[0] for r in rows}
    # Outcomes are labels: the plan can no longer be replaced.
    assert _plan(plans_api, served, month=month, replace=True).status_code == 409
    set_today(plans_api, last_day(month))
    bad = plans_api.put(
        url, json={**body, "use_of_funds": "stolen"}, headers=headers(served, "inspector")
    )
    assert bad.status_code == 422
    # Present and migrated together must be confirmed.
    both = {**body, "migrated": True}
    r = plans_api.put(url, json=both, headers=headers(served, "inspector"))
    assert r.status_code == 422 and "confirm_present_and_migrated" in r.text
    r = plans_api.put(
        url,
        json={**both, "confirm_present_and_migrated": True},
        headers=headers(served, "inspector"),
    )
    assert r.status_code == 200 and r.json()["migrated"] and r.json()["borrower_present"]


def test_only_the_current_or_next_month_can_be_planned(
    plans_api: TestClient, served: Served
) -> None:
    month = month_start(served, 5)
    set_today(plans_api, last_day(month))
    for too_early_or_late in (
        clock.add_months(month, -1),
        clock.add_months(month, 2),
        "2000-01",
        "2099-12",
    ):
        r = plans_api.post(
            "/v1/inspections/plans",
            headers=headers(served, "inspector"),
            json={"commune_id": served.communes[0], "month": too_early_or_late},
        )
        assert r.status_code == 422, (too_early_or_late, r.text)
        assert month in r.json()["detail"] and clock.add_months(month, 1) in r.json()["detail"]
    nxt = plans_api.post(
        "/v1/inspections/plans",
        headers=headers(served, "inspector"),
        json={"commune_id": served.communes[0], "month": clock.add_months(month, 1)},
    )
    assert nxt.status_code == 201, nxt.text


def test_roles_scopes_and_bad_input(plans_api: TestClient, served: Served) -> None:
    m3, m4 = month_start(served, 3), month_start(served, 4)
    assert _plan(plans_api, served, role="officer", month=m3).status_code == 403
    assert _plan(plans_api, served, role="inspector_other", month=m3).status_code == 403
    r = plans_api.post(
        "/v1/inspections/plans",
        json={"commune_id": served.communes[0], "month": "2026-4"},
        headers=headers(served, "inspector"),
    )
    assert r.status_code == 422 and "month" in r.json()["detail"]
    assert _plan(plans_api, served, month=m3, random_share=0.9).status_code == 422
    assert _plan(plans_api, served, month=m3, extra=1).status_code == 422
    other = plans_api.get("/v1/inspections/plans", headers=headers(served, "inspector_other"))
    assert other.status_code == 200 and other.json() == []
    plan_id = plans_api.get("/v1/inspections/plans", headers=headers(served, "data")).json()[0][
        "plan_id"
    ]
    assert (
        plans_api.get(
            f"/v1/inspections/plans/{plan_id}", headers=headers(served, "inspector_other")
        ).status_code
        == 404
    )
    assert plans_api.get("/v1/inspections/plans").status_code == 401
    # A commune without scores (here: unknown) has nothing to plan.
    assert _plan(plans_api, served, month=m4, commune_id="C-NONE", role="data").status_code == 404
    ok = _plan(plans_api, served, month=m4, transaction_day=10)
    assert ok.status_code == 201 and ok.json()["params"]["transaction_day"] == 10
