"""Issue 20, items 3 and 7: personal data kept out of notes and pages, and stricter bodies.

Probes: notes accepted "Chủ hộ …, CCCD 079912345678, dân tộc Vân Kiều"; the application page
echoed an ID or a name typed into the household field; 0.001 and 40000000.5 VND were scored;
duplicate JSON keys were accepted (the last one winning); a body without ``Content-Type`` got a
misleading 422; a 64 KB body of unknown keys got a 272 KB error; ``service.db`` was 0644.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from tests.support.canaries import NATIONAL_IDS
from tests.support.served import Served, count_audit, headers, last_day, set_today
from tests.support.small_plans import small_plan
from tests.support.web_session import sign_in, sign_out
from vbsp_state.engine import make_engine

SCORE = "/v1/applications/score"
APP = {"program": "poor_household", "purpose": "livestock", "amount": 40_000_000, "term_months": 36}
CANARY = NATIONAL_IDS[4]
NOTES = [f"Chủ hộ vắng, CCCD {CANARY}", "gọi 0905.123.456 để hẹn", "số 001 203 004 005"]


def _household(engine: Engine, commune: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT entity_id FROM online_features WHERE entity_type = 'household' "
                "AND commune_id = :c ORDER BY entity_id LIMIT 1"
            ),
            {"c": commune},
        ).scalar_one()


def _login(api: TestClient, served: Served, role: str) -> None:
    sign_in(api, served.keys[role])  # a browser's session, its Origin and its forms' token


def _visit(api: TestClient, served: Served) -> str:
    month = clock.month_of(clock.today())
    set_today(api, last_day(month))
    return small_plan(api, served, month)["visit_list"][0]["visit_id"]


def test_notes_with_id_like_numbers_are_refused_saying_why_and_not_echoed(
    api: TestClient, served: Served
) -> None:
    visit = _visit(api, served)
    url = f"/v1/inspections/visits/{visit}/outcome"
    answer = {"use_of_funds": "correct", "borrower_present": True, "migrated": False}
    for notes in NOTES:
        r = api.put(url, json={**answer, "notes": notes}, headers=headers(served, "data"))
        assert r.status_code == 422, (notes, r.text)
        assert "notes" in r.text and "ID or phone number" in r.text
        assert notes.split()[-1] not in r.text
    fine = "vay 40.000.000 đồng, nuôi 2 con bò ngày 12-10-2026"
    r = api.put(url, json={**answer, "notes": fine}, headers=headers(served, "data"))
    assert r.status_code == 200 and r.json()["notes"] == fine
    _login(api, served, "data")
    page = api.post(
        f"/ui/visits/{visit}/outcome",
        data={
            "use_of_funds": "correct",
            "borrower_present": "yes",
            "migrated": "no",
            "notes": NOTES[0],
        },
    )
    assert page.status_code == 422 and "giống số CCCD hoặc số điện thoại" in page.text
    assert CANARY not in page.text
    sign_out(api)
    api.app.dependency_overrides.clear()  # type: ignore[attr-defined]


@pytest.mark.parametrize("typed", [CANARY, "Nguyễn Văn An", "H-not-a-household"])
def test_application_page_never_echoes_an_unknown_household_field(
    api: TestClient, served: Served, typed: str
) -> None:
    _login(api, served, "officer")
    form = {
        "identity": "household",
        "household_id": typed,
        "program": "poor_household",
        "purpose": "livestock",
        "amount": "40.000.000",
        "term_months": "36",
    }
    r = api.post("/ui/application", data=form)
    assert r.status_code in (404, 422), r.text
    assert typed not in r.text and "Nguyễn" not in r.text
    sign_out(api)


def test_amounts_are_whole_dong(api: TestClient, api_db: Engine, served: Served) -> None:
    hid = _household(api_db, served.communes[0])
    before = count_audit(api_db)
    for amount in (40_000_000.5, 0.001, 1.5):
        r = api.post(
            SCORE,
            json={**APP, "household_id": hid, "amount": amount},
            headers=headers(served, "data"),
        )
        assert r.status_code == 422 and "amount" in r.text, (amount, r.text)
    assert count_audit(api_db) == before
    ok = api.post(
        SCORE,
        json={**APP, "household_id": hid, "amount": 40_000_000.0},
        headers=headers(served, "data"),
    )
    assert ok.status_code == 200, ok.text


def test_duplicate_json_keys_are_refused_naming_the_key(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    first, other = (_household(api_db, c) for c in (served.communes[-1], served.communes[0]))
    json_h = {**headers(served, "data"), "content-type": "application/json"}
    body = json.dumps({**APP, "household_id": first})[:-1] + f', "household_id": "{other}"}}'
    before = count_audit(api_db)
    r = api.post(SCORE, content=body, headers=json_h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.household_id" and "duplicate" in r.text
    assert first not in r.text and other not in r.text and count_audit(api_db) == before
    plan = (
        f'{{"commune_id": "{served.communes[0]}", "commune_id": "{served.communes[-1]}", '
        f'"month": "{clock.month_of(clock.today())}"}}'
    )
    r = api.post("/v1/inspections/plans", content=plan, headers=json_h)
    assert r.status_code == 422 and "commune_id" in r.json()["errors"][0]["field"]
    nested = json.dumps({"applications": [{**APP, "household_id": first}]})
    nested = nested.replace('"term_months": 36', '"term_months": 36, "term_months": 12')
    r = api.post("/v1/applications/score-batch", content=nested, headers=json_h)
    assert r.status_code == 422 and "term_months" in r.text


def test_a_body_without_a_json_content_type_is_415(api: TestClient, served: Served) -> None:
    body = json.dumps({**APP, "household_id": "H1"}).encode()
    for extra in ({}, {"content-type": "text/plain"}):
        r = api.post(SCORE, content=body, headers={**headers(served, "data"), **extra})
        assert r.status_code == 415, (extra, r.text)
        assert "application/json" in r.json()["detail"]


def test_an_error_about_thousands_of_unknown_keys_stays_small(
    api: TestClient, served: Served
) -> None:
    unknown = {f"k{i:04d}": 1 for i in range(5000)}
    body = json.dumps({**APP, "household_id": "H1", **unknown}).encode()
    assert 60_000 < len(body) <= 64 * 1024, len(body)
    r = api.post(
        SCORE, content=body, headers={**headers(served, "data"), "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert len(r.content) < 4_096, len(r.content)
    assert len(r.json()["errors"]) == 20 and r.json()["more_errors"] == 5000 - 20


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "service.db"
        engine = make_engine(f"sqlite:///{db.as_posix()}")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x TEXT)"))
            conn.execute(sa.text("INSERT INTO t VALUES ('a')"))
        with engine.connect() as conn:  # a reader keeps the WAL and shared memory open
            conn.execute(sa.text("SELECT * FROM t")).all()
            files = [db, db.with_name("service.db-wal"), db.with_name("service.db-shm")]
            assert [_mode(f) for f in files] == [0o600] * 3
        engine.dispose()
        loose = tmp_path / "old.db"
        loose.touch(mode=0o644)
        make_engine(f"sqlite:///{loose.as_posix()}").dispose()
        assert _mode(loose) == 0o600  # a file made by an earlier version is tightened
    finally:
        os.umask(old)
