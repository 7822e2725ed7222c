"""Issue 20, item 5: every refusal and admin action on record, without personal data or keys.

Probe: 401, 403 and the commune-scoped 404s on plans, visits and households wrote no log line and
no row; audit rows carried no role; admin reloads were not recorded.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from serving.web import i18n
from tests.support.served import Served, headers
from tests.support.small_plans import small_plan
from tests.support.web_session import sign_in, sign_out


def _event(engine: Engine, response: httpx.Response, timeout: float = 10.0) -> dict:
    """The security event of the answered request (rows are written in the background)."""
    rid = response.headers["x-request-id"]
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            row = (
                conn.execute(
                    sa.text("SELECT * FROM security_events WHERE request_id = :r"), {"r": rid}
                )
                .mappings()
                .first()
            )
        if row is not None or time.monotonic() > deadline:
            assert row is not None, f"no security event for {response.request.url.path}"
            return dict(row)
        time.sleep(0.05)


def _plan(api: TestClient, served: Served) -> str:
    month = clock.plannable_months(clock.today())[0]
    return small_plan(api, served, month, transaction_day=10)["plan_id"]


def test_refusals_and_admin_actions_are_logged_and_stored(
    api: TestClient, api_db: Engine, served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    plan = _plan(api, served)
    visit = api.get(f"/v1/inspections/plans/{plan}", headers=headers(served, "data")).json()
    visit_id, hid = visit["visit_list"][0]["visit_id"], visit["visit_list"][0]["household_id"]
    outcome = {"use_of_funds": "correct", "borrower_present": True, "migrated": False}
    cases = [  # (response, status, route, client, role, reason words)
        (api.get("/v1/models"), 401, "/v1/models", None, None, "no valid API key"),
        (
            api.get("/v1/models", headers={"X-API-Key": "vbsp_not-a-key"}),
            401,
            "/v1/models",
            None,
            None,
            "no valid API key",
        ),
        (
            api.get("/v1/inspections/priorities", headers=headers(served, "officer")),
            403,
            "/v1/inspections/priorities",
            "test-officer",
            "officer",
            "inspections:read",
        ),
        (
            api.get(
                "/v1/inspections/plans",
                params={"commune_id": served.communes[0]},
                headers=headers(served, "inspector_other"),
            ),
            403,
            "/v1/inspections/plans",
            "test-inspector-other",
            "inspector",
            "commune_id",
        ),
        (
            api.get(f"/v1/inspections/plans/{plan}", headers=headers(served, "inspector_other")),
            404,
            "/v1/inspections/plans/{plan_id}",
            "test-inspector-other",
            "inspector",
            "plan outside",
        ),
        (
            api.put(
                f"/v1/inspections/visits/{visit_id}/outcome",
                json=outcome,
                headers=headers(served, "inspector_other"),
            ),
            404,
            "/v1/inspections/visits/{visit_id}/outcome",
            "test-inspector-other",
            "inspector",
            "visit outside",
        ),
        (
            api.get(f"/v1/households/{hid}/risk", headers=headers(served, "officer_other")),
            404,
            "/v1/households/{household_id}/risk",
            "test-officer-other",
            "officer",
            "household outside",
        ),
        (
            api.post("/v1/admin/reload", headers=headers(served, "admin")),
            200,
            "/v1/admin/reload",
            "test-admin",
            "admin",
            "reload",
        ),
    ]
    for response, status, route, client, role, words in cases:
        assert response.status_code == status, (route, response.text)
        row = _event(api_db, response)
        assert (row["status"], row["route"], row["client_id"], row["role"]) == (
            status,
            route,
            client,
            role,
        ), row
        assert words in row["reason"] and row["kind"] == ("admin" if status == 200 else "refusal")
        lines = [r.getMessage() for r in caplog.records if r.name == "serving.security_log"]
        assert any(
            f" {status} " in line
            and f" {route} " in line
            and f"client={client or '-'} role={role or '-'}" in line
            for line in lines
        ), (route, lines)
    # An unknown plan (not scoped) is an ordinary 404, not a refusal.
    missing = api.get("/v1/inspections/plans/no-such-plan", headers=headers(served, "data"))
    assert missing.status_code == 404
    with api_db.connect() as conn:
        text = " ".join(
            str(v) for r in conn.execute(sa.text("SELECT * FROM security_events")) for v in r
        )
        assert (
            conn.execute(
                sa.text("SELECT COUNT(*) FROM security_events WHERE request_id = :r"),
                {"r": missing.headers["x-request-id"]},
            ).scalar_one()
            == 0
        )
    logs = caplog.text
    for key in served.keys.values():  # no key, nor the raw path's identifiers
        assert key not in text and key not in logs
        assert key.removeprefix("vbsp_") not in text
    assert "vbsp_not-a-key" not in text and "vbsp_not-a-key" not in logs
    assert plan not in text and hid not in text and visit_id not in text


def test_a_page_refused_to_a_role_is_on_record(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    sign_in(api, served.keys["officer"])
    r = api.get("/ui/priorities")
    sign_out(api)
    assert r.status_code == 403
    row = _event(api_db, r)
    assert (row["route"], row["client_id"], row["role"]) == (
        "/ui/priorities",
        "test-officer",
        "officer",
    ) and "inspections:read" in row["reason"]


def test_a_page_without_a_session_is_on_record_as_401(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    sign_out(api)
    api.cookies.update({"vbsp_session": "vbsp_forged"})
    r = api.get("/ui/priorities", follow_redirects=False)
    sign_out(api)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    row = _event(api_db, r)
    assert (row["status"], row["route"], row["client_id"]) == (401, "/ui/priorities", None)
    assert "vbsp_forged" not in str(row)


def test_pages_outside_the_sessions_communes_are_on_record_as_the_api_is(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    """The plan and household pages answer a record of another commune as unknown (404, the
    same page as for a plan that does not exist) and put the refusal on record."""
    plan = _plan(api, served)
    hid = api.get(f"/v1/inspections/plans/{plan}", headers=headers(served, "data")).json()[
        "visit_list"
    ][0]["household_id"]
    cases = [  # (role's key, path, route, reason words)
        ("inspector_other", f"/ui/plans/{plan}", "/ui/plans/{plan_id}", "plan outside"),
        (
            "officer_other",
            f"/ui/households/{hid}",
            "/ui/households/{household_id}",
            "household outside",
        ),
    ]
    for role, path, route, words in cases:
        sign_in(api, served.keys[role])
        r = api.get(path)
        unknown = api.get(path.rsplit("/", 1)[0] + "/NOPE0000")  # does not exist: same answer
        sign_out(api)
        assert r.status_code == unknown.status_code == 404, (path, r.text)
        message = i18n.text("not_found", i18n.DEFAULT_LANG)
        assert message in r.text and message in unknown.text
        row = _event(api_db, r)
        assert (row["status"], row["route"], row["role"]) == (404, route, role.split("_")[0])
        assert words in row["reason"] and row["kind"] == "refusal"
        with api_db.connect() as conn:
            none = conn.execute(
                sa.text("SELECT COUNT(*) FROM security_events WHERE request_id = :r"),
                {"r": unknown.headers["x-request-id"]},
            ).scalar_one()
        assert none == 0  # an unknown record is an ordinary 404
