"""Issue 20, item 1: no citizen ID can be recovered from what the service stores or logs.

Probe: a score by ``national_id`` stored an unkeyed SHA-256 over JSON holding the ID (one hash
per candidate ID recovers it), and an ``Idempotency-Key`` shaped like an ID was stored verbatim.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from tests.support.canaries import (
    NATIONAL_IDS,
    find_in_files,
    find_in_text,
    planted,
    sqlite_files,
    table_text,
)
from tests.support.served import PII_KEY, Served, headers, last_day, set_today
from tests.support.small_plans import small_plan

SCORE, BATCH = "/v1/applications/score", "/v1/applications/score-batch"
APP = {"program": "poor_household", "purpose": "livestock", "amount": 40_000_000, "term_months": 36}
SCORED_IDS = NATIONAL_IDS[4:6]


def _household(engine: Engine) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT entity_id FROM online_features WHERE entity_type = 'household' "
                    "ORDER BY entity_id LIMIT 1"
                )
            )
            .mappings()
            .one()
        )


def _canonical(payload: object) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()


def _stored(engine: Engine, score_ids: list[str]) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text(
                    "SELECT score_id, household_id, idempotency_key, request_sha256, role "
                    "FROM score_audit WHERE score_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": score_ids},
            ).mappings()
        ]


def test_canary_ids_scored_and_used_as_keys_are_nowhere_in_the_database_or_logs(
    api: TestClient, api_db: Engine, served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    like = _household(api_db)
    aliases = [planted(api_db, n, bytes.fromhex(PII_KEY), like) for n in SCORED_IDS]
    one = {**APP, "national_id": SCORED_IDS[0]}
    key = {**headers(served, "officer_all"), "Idempotency-Key": SCORED_IDS[0]}
    first = api.post(SCORE, json=one, headers=key)
    assert first.status_code == 200, first.text
    again = api.post(SCORE, json=one, headers=key)  # the replay finds the keyed key and digest
    assert again.json()["score_id"] == first.json()["score_id"]
    other = api.post(SCORE, json={**one, "amount": 30_000_000}, headers=key)
    assert other.status_code == 422 and "already used" in other.text
    batch = {"applications": [{**APP, "national_id": n} for n in SCORED_IDS]}
    bkey = {**headers(served, "data"), "Idempotency-Key": f"cccd-{SCORED_IDS[1]}"}
    scored = api.post(BATCH, json=batch, headers=bkey)
    assert scored.status_code == 200, scored.text
    ids = [first.json()["score_id"]] + [s["score_id"] for s in scored.json()["scores"]]
    rows = {r["score_id"]: r for r in _stored(api_db, ids)}
    assert [rows[i]["household_id"] for i in ids] == [aliases[0], *aliases]
    assert [rows[i]["role"] for i in ids] == ["officer", "data", "data"]
    for r in rows.values():  # keys stored as 64-hex HMACs, never as sent
        assert len(r["idempotency_key"]) == 64 and "cccd" not in r["idempotency_key"]
    # The stored digest is not the unkeyed SHA-256 of the request, as sent or pseudonymised:
    # hashing candidate IDs cannot find it.
    sent = {
        "apps": [
            {**one, "household_id": None, "group_id": None, "village_id": None, "grace_months": 0}
        ],
        "explain": True,
    }
    pseudonymised = {
        "apps": [
            {k: v for k, v in sent["apps"][0].items() if k != "national_id"}
            | {"household_id": aliases[0]}
        ],
        "explain": True,
    }
    for payload in (sent, pseudonymised):
        assert rows[ids[0]]["request_sha256"] != hashlib.sha256(_canonical(payload)).hexdigest()
    logs = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    found = find_in_text(table_text(api_db), "tables") + find_in_text(logs, "logs")
    if api_db.dialect.name == "sqlite":
        files = sqlite_files(api_db)
        assert files[0].stat().st_size > 100_000 and files[1].is_file()  # the scan reads data
        found += find_in_files(files)
    assert found == []


def test_an_id_shaped_outcome_key_and_id_free_outcome_are_stored_keyed(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    """The outbox's key of an outcome is stored as its HMAC too."""
    month = clock.month_of(clock.today())
    set_today(api, last_day(month))  # every visit of the month can have its outcome
    h = headers(served, "data")
    visit = small_plan(api, served, month, commune=-1)["visit_list"][0]["visit_id"]
    answer = {"use_of_funds": "correct", "borrower_present": True, "migrated": False}
    key = {**h, "Idempotency-Key": SCORED_IDS[0]}
    r = api.put(f"/v1/inspections/visits/{visit}/outcome", json=answer, headers=key)
    assert r.status_code == 200, r.text
    again = api.put(f"/v1/inspections/visits/{visit}/outcome", json=answer, headers=key)
    assert again.json()["recorded_at"] == r.json()["recorded_at"]  # replayed, not rewritten
    reused = api.put(
        f"/v1/inspections/visits/{visit}/outcome",
        json={**answer, "use_of_funds": "misuse"},
        headers=key,
    )
    assert reused.status_code == 422
    with api_db.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT idempotency_key, request_sha256 FROM outcome_submissions "
                "WHERE visit_id = :v"
            ),
            {"v": visit},
        ).one()
    assert stored[0] != SCORED_IDS[0] and len(stored[0]) == 64
    assert find_in_text(table_text(api_db), "tables") == []
    api.app.dependency_overrides.clear()  # type: ignore[attr-defined]
