"""Issue 19 on the real app (SQLite and PostgreSQL): idempotent outcomes for the browser's
outbox, the service worker's script, offline API docs, the data-team page and its CSRF-checked
reload, and household contacts that only a user of the commune sees."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import contacts
from serving.app import create_app
from serving.web.render import SECURITY_HEADERS
from tests.support.served import PII_KEY, Served, headers, last_day, set_today, write_places
from tests.support.web_session import sign_in, sign_out
from vbsp_state.digests import derive_key, idempotency_key
from vbsp_state.schema import household_contacts, outcome_submissions, visit_outcomes

NAME = "Hà Thị Canary-Zq"  # a name that appears nowhere else


def _month(offset: int) -> str:
    """A month from now (plans may be limited to the current and next month)."""
    today = date.today()
    m = today.month - 1 + offset
    return f"{today.year + m // 12}-{m % 12 + 1:02d}"


def write_reports(state: Path) -> None:
    """A monitor and a fairness report in the files' format, as the CLI writes them."""
    mon = state / "reports" / "monitor"
    mon.mkdir(parents=True, exist_ok=True)
    alert = {
        "kind": "drift",
        "scope": "C01",
        "feature": "savings_balance",
        "month": "2025-12",
        "value": 0.4,
        "message": "PSI 0.40 of savings_balance in C01",
    }
    summary = {
        "model": {"name": "overdue-risk-portfolio", "version": "1"},
        "score_psi": 0.12,
        "alerts": 1,
        "alert_list": [alert],
        "windows": {},
    }
    (mon / "monitor_summary.json").write_text(json.dumps(summary))
    months = [f"2024-{m:02d}" for m in range(1, 7)]
    pd.DataFrame(
        {
            "month": months * 2,
            "band": ["low"] * 6 + ["high"] * 6,
            "rows": 100,
            "positives": [2, 3, 4, 3, 5, 6] * 2,
            "expected": 4.0,
        }
    ).to_csv(mon / "backtest.csv", index=False)
    pd.DataFrame(
        {
            "as_of": ["2025-01-01"],
            "rows": [500],
            "labelled": [250],
            "outcome_known_from": ["2026-01-01"],
            "matured": [False],
            "labelled_share": [0.5],
        }
    ).to_csv(mon / "maturity.csv", index=False)
    fair = state / "reports" / "fairness"
    fair.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "dimension": "poverty_status",
            "group": ["poor", "near_poor"],
            "households": [300, 200],
            "rows": [400, 250],
            "metric": "capture",
            "value": [0.61, 0.55],
            "lo": [0.5, 0.4],
            "hi": [0.7, 0.69],
        }
    ).to_csv(fair / "fairness.csv", index=False)


@pytest.fixture(scope="module")
def app19(
    served: Served, api_db: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    state = write_places(served, tmp_path_factory.mktemp("issue19-state"))
    write_reports(state)
    url = api_db.url.render_as_string(hide_password=False)
    with TestClient(create_app(served.settings(url, state_dir=state))) as client:
        set_today(client, last_day(_month(1)))  # the plan's visits are then past (outcomes open)
        yield client


@pytest.fixture(scope="module")
def plan19(app19: TestClient, served: Served) -> dict:
    body = {
        "commune_id": served.communes[0],
        "month": _month(1),
        "capacity_per_day": 4,
        "days": 2,
        "random_share": 0.1,
        "seed": 3,
        "replace": True,
    }
    r = app19.post("/v1/inspections/plans", json=body, headers=headers(served, "inspector"))
    assert r.status_code == 201, r.text
    return r.json()


def _outcomes(engine: Engine, visit_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(visit_outcomes.c.use_of_funds, visit_outcomes.c.recorded_at).where(
                visit_outcomes.c.visit_id == visit_id
            )
        ).all()


def test_a_resent_outcome_answers_as_the_first_and_never_overwrites(
    app19: TestClient, served: Served, api_db: Engine, plan19: dict
) -> None:
    visit = plan19["visit_list"][0]["visit_id"]
    url = f"/v1/inspections/visits/{visit}/outcome"
    body = {"use_of_funds": "partial", "borrower_present": True, "migrated": False, "notes": "x"}
    key = {**headers(served, "inspector"), "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = app19.put(url, json=body, headers=key)
    assert first.status_code == 200, first.text
    # A correction made online in between, then the outbox's late resend of the first post.
    fixed = app19.put(
        url, json={**body, "use_of_funds": "misuse"}, headers=headers(served, "inspector")
    )
    assert fixed.status_code == 200
    again = app19.put(url, json=body, headers=key)
    assert again.status_code == 200 and again.json() == first.json()
    rows = _outcomes(api_db, visit)
    assert len(rows) == 1 and rows[0][0] == "misuse"  # the resend wrote nothing
    # the key is stored as its HMAC under the service's digest secret (issue 20)
    stored_key = idempotency_key(derive_key(bytes.fromhex(PII_KEY)), key["Idempotency-Key"])
    with api_db.connect() as conn:
        kept = conn.execute(
            sa.select(sa.func.count())
            .select_from(outcome_submissions)
            .where(outcome_submissions.c.idempotency_key == stored_key)
        ).scalar_one()
    assert kept == 1
    reused = app19.put(url, json={**body, "notes": "other"}, headers=key)
    assert reused.status_code == 422 and "Idempotency-Key" in reused.text


def test_the_outbox_form_post_records_once(
    app19: TestClient, served: Served, api_db: Engine, plan19: dict
) -> None:
    visit = plan19["visit_list"][1]["visit_id"]
    sign_in(app19, served.keys["inspector"])
    form = {
        "use_of_funds": "correct",
        "borrower_present": "yes",
        "migrated": "no",
        "notes": "gửi lại",
        "submission_id": uuid.uuid4().hex,
    }
    try:
        for _ in range(3):
            r = app19.post(f"/ui/visits/{visit}/outcome", data=form, follow_redirects=False)
            assert r.status_code == 303, r.text
            assert len(_outcomes(api_db, visit)) == 1
        stamp = _outcomes(api_db, visit)[0][1]
        r = app19.post(f"/ui/visits/{visit}/outcome", data=form, follow_redirects=False)
        assert _outcomes(api_db, visit)[0][1] == stamp  # recorded_at of the first post
    finally:
        sign_out(app19)


def test_service_worker_script_controls_the_pages(app19: TestClient) -> None:
    r = app19.get("/ui/sw.js")
    assert r.status_code == 200
    assert r.headers["service-worker-allowed"] == "/ui/"
    assert r.headers["content-type"].startswith("text/javascript")
    assert "/ui/plans/" in r.text and "caches" in r.text


def test_api_docs_come_from_the_service_under_the_pages_csp(app19: TestClient) -> None:
    docs = app19.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    redoc = app19.get("/redoc")
    nonce = re.search(r'nonce="([^"]+)"', redoc.text).group(1)  # type: ignore[union-attr]
    assert f"'nonce-{nonce}'" in redoc.headers["content-security-policy"]
    assert nonce not in app19.get("/redoc").text  # a new nonce on every response
    for page in (docs, redoc):
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/static/") for s in sources), sources
        assert "<script>" not in page.text  # no inline script
        for s in sources:
            assert app19.get(s).status_code == 200, s


def test_data_page_shows_reports_and_reloads_only_with_its_token(
    app19: TestClient, served: Served
) -> None:
    sign_in(app19, served.keys["data"])
    app19.headers.pop("X-CSRF-Token")  # the form's own token only
    try:
        page = app19.get("/ui/data")
        assert page.status_code == 200
        assert "PSI 0.40 of savings_balance in C01" in page.text  # the alert
        assert "<polyline" in page.text and 'id="fairness"' in page.text
        assert f"v{served.versions['portfolio']}" in page.text
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)  # type: ignore[union-attr]
        for bad in ({}, {"csrf": "0" * 64}):
            r = app19.post("/ui/data/reload", data=bad)
            assert r.status_code == 403 and 'data-testid="reloaded"' not in r.text
        r = app19.post("/ui/data/reload", data={"csrf": token})
        assert r.status_code == 200 and 'data-testid="reloaded"' in r.text
        r = app19.post(
            "/ui/data/reload", data={"csrf": token}, headers={"origin": "http://evil.example"}
        )
        assert r.status_code == 403
    finally:
        sign_out(app19)
    sign_in(app19, served.keys["inspector"])
    try:
        assert app19.get("/ui/data").status_code == 403
        assert app19.post("/ui/data/reload", data={"csrf": token}).status_code == 403
    finally:
        sign_out(app19)


def test_contacts_are_sealed_and_shown_only_to_the_commune(
    app19: TestClient, served: Served, api_db: Engine, plan19: dict
) -> None:
    visit = next(v for v in plan19["visit_list"] if v["selection"] == "risk")  # a top risk
    hh = served.tables["households"].set_index("household_id")
    table = pd.DataFrame(
        {
            "household_id": [visit["household_id"]],
            "commune_id": [hh.loc[visit["household_id"], "commune_id"]],
            "head_name": [NAME],
            "hamlet": ["Xóm Canary"],
        }
    )
    assert contacts.validate(table, hh.reset_index()) == []
    assert contacts.load(api_db, contacts.cipher(PII_KEY), table) == 1
    with api_db.connect() as conn:
        sealed = conn.execute(sa.select(household_contacts.c.sealed)).scalar_one()
    assert NAME.encode() not in bytes(sealed) and b"Canary" not in bytes(sealed)
    url = f"/ui/plans/{plan19['plan_id']}"
    ranked = f"/ui/priorities?commune_id={plan19['commune_id']}&limit=200"
    try:
        sign_in(app19, served.keys["inspector"])  # scoped to the commune
        assert NAME in app19.get(url).text and NAME in app19.get(ranked).text
        for role in ("inspector_all", "data"):  # district-wide keys see no names
            sign_in(app19, served.keys[role])
            for page in (app19.get(url), app19.get(ranked)):
                assert page.status_code == 200 and NAME not in page.text
    finally:
        sign_out(app19)
    api = app19.get(
        f"/v1/inspections/plans/{plan19['plan_id']}", headers=headers(served, "inspector")
    )
    assert api.status_code == 200 and NAME not in api.text and "Canary" not in api.text
    assert contacts.purge(api_db) == 1
    sign_in(app19, served.keys["inspector"])
    try:
        assert NAME not in app19.get(url).text
    finally:
        sign_out(app19)


def test_contacts_validation_names_row_and_column_never_the_value(served: Served) -> None:
    hh = served.tables["households"]
    first = hh.iloc[0]
    table = pd.DataFrame(
        {
            "household_id": [first["household_id"], "H-unknown", first["household_id"]],
            "commune_id": [first["commune_id"], first["commune_id"], "C-x"],
            "head_name": [NAME, NAME, ""],
            "hamlet": [None, None, None],
        }
    )
    problems = contacts.validate(table, hh)
    text = "\n".join(problems)
    assert "row 3, column household_id: not a household" in text
    assert "row 4, column commune_id" in text and "column head_name" in text
    assert NAME not in text
    with pytest.raises(contacts.ContactsError, match="VBSP_RISK_PII_KEY"):
        contacts.cipher(None)


def test_member_number_and_leader_village_come_from_the_export(
    small_district: Path, tmp_path: Path
) -> None:
    from features.storage import read_raw
    from serving.household_finding import read_finding

    households = read_raw(small_district, "households")
    leaders = read_raw(small_district, "group_leaders")
    found = read_finding(small_district)
    serving_now = leaders[leaders["end_date"].isna()]
    assert set(found.leader_village) == set(serving_now["group_id"])
    g, leader = serving_now.iloc[0]["group_id"], serving_now.iloc[0]["leader_id"]
    assert found.leader_village[g] == households.set_index("household_id").loc[leader, "village_id"]
    if "member_no" not in households.columns:  # an export with the register's numbers
        households = households.assign(member_no=range(1, len(households) + 1))
    households.to_parquet(tmp_path / "households.parquet", index=False)
    leaders.to_parquet(tmp_path / "group_leaders.parquet", index=False)
    numbered = read_finding(tmp_path)
    first = households.iloc[0]
    assert numbered.member_no[first["household_id"]] == int(first["member_no"])
