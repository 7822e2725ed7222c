"""A one-day, two-visit plan made through the API, for tests that need a visit or a plan."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.served import Served, headers


def small_plan(
    api: TestClient, served: Served, month: str, *, transaction_day: int = 1, commune: int = 0
) -> dict:
    """Create (replacing) a plan of one day and two visits for ``served.communes[commune]``.

    Returns:
        The created plan as the API answers it (``plan_id``, ``visit_list`` …).
    """
    r = api.post(
        "/v1/inspections/plans",
        headers=headers(served, "data"),
        json={
            "commune_id": served.communes[commune],
            "month": month,
            "transaction_day": transaction_day,
            "days": 1,
            "capacity_per_day": 2,
            "replace": True,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()
