"""Migration 0003 on a database written before it: its stated rules for old rows.

Old digests are re-keyed (HMAC of the old hex), old idempotency keys become their HMACs, and of
duplicate plans for one commune and month the earliest is kept, the others' outcome visits moved
to it and their other visits dropped; afterwards the database refuses a second plan.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from tests.support.canaries import (
    NATIONAL_IDS,
    find_in_files,
    find_in_text,
    sqlite_files,
    table_text,
)
from vbsp_state import digests
from vbsp_state.migrate import alembic_config, upgrade
from vbsp_state.schema import (
    inspection_plans,
    outcome_submissions,
    plan_visits,
    score_audit,
    visit_outcomes,
)

PII = hashlib.sha256(b"trust-migration").hexdigest()
CANARY = NATIONAL_IDS[0]
OLD_AUDIT = (
    "score_id",
    "created_at",
    "endpoint",
    "client_id",
    "idempotency_key",
    "request_sha256",
    "household_id",
    "group_id",
    "commune_id",
    "model_name",
    "model_version",
    "feature_as_of",
    "probability",
    "band",
    "request",
    "response",
)
COLS, PARAMS = ", ".join(OLD_AUDIT), ", ".join(f":{c}" for c in OLD_AUDIT)


def _at_0002(engine: Engine) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002_offline_contacts")


def _old_rows(engine: Engine) -> dict[str, str]:
    """Rows as the service wrote them before 0003; the unkeyed digests, by row."""
    request = json.dumps({"apps": [{"national_id": CANARY}], "explain": True}, sort_keys=True)
    old = {
        "score": hashlib.sha256(request.encode()).hexdigest(),
        "outcome": hashlib.sha256(b'{"visit_id": "v1"}').hexdigest(),
    }
    t0 = datetime(2026, 8, 1)
    audit = {
        "score_id": "s1",
        "created_at": t0,
        "endpoint": "score",
        "client_id": "c",
        "idempotency_key": CANARY,
        "request_sha256": old["score"],
        "household_id": "H1",
        "group_id": "G1",
        "commune_id": "C08",
        "model_name": "m",
        "model_version": "1",
        "feature_as_of": None,
        "probability": 0.1,
        "band": "low",
        "request": "{}",
        "response": "{}",
    }
    plans = [
        {
            "plan_id": p,
            "commune_id": "C08",
            "month": "2026-08",
            "params": "{}",
            "status": "draft",
            "created_at": datetime(2026, 8, 1, h),
        }
        for p, h in (("p-late", 9), ("p-first", 8), ("p-third", 10))
    ]
    visit = {
        "group_id": "G1",
        "village_id": "V1",
        "visit_date": date(2026, 8, 10),
        "selection": "risk",
        "selection_probability": 1.0,
    }
    visits = [
        {**visit, "visit_id": v, "plan_id": p, "household_id": h}
        for v, p, h in (
            ("v1", "p-late", "H1"),
            ("v2", "p-late", "H2"),
            ("v3", "p-first", "H3"),
            ("v4", "p-third", "H4"),
        )
    ]
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO score_audit ({COLS}) VALUES ({PARAMS})"), audit)
        conn.execute(
            sa.text(
                "INSERT INTO inspection_plans (plan_id, commune_id, month, params, status, "
                "created_at) VALUES (:plan_id, :commune_id, :month, :params, :status, :created_at)"
            ),
            plans,
        )
        conn.execute(plan_visits.insert(), visits)
        conn.execute(
            visit_outcomes.insert(),
            {
                "visit_id": "v1",
                "recorded_at": t0,
                "recorded_by": "c",
                "use_of_funds": "correct",
                "borrower_present": True,
                "migrated": False,
                "notes": None,
            },
        )
        conn.execute(
            outcome_submissions.insert(),
            {
                "client_id": "c",
                "idempotency_key": f"outbox-{CANARY}",
                "visit_id": "v1",
                "request_sha256": old["outcome"],
                "created_at": t0,
                "response": "{}",
            },
        )
    return old


def test_0003_rekeys_old_digests_and_keys_and_keeps_one_plan_per_month(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VBSP_RISK_PII_KEY", PII)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
    _at_0002(engine)
    old = _old_rows(engine)
    upgrade(engine)
    secret = digests.derive_key(bytes.fromhex(PII))
    with engine.connect() as conn:
        audit = conn.execute(sa.select(score_audit)).mappings().one()
        sub = conn.execute(sa.select(outcome_submissions)).mappings().one()
        plans = conn.execute(sa.select(inspection_plans.c.plan_id)).scalars().all()
        visits = dict(conn.execute(sa.select(plan_visits.c.visit_id, plan_visits.c.plan_id)).all())
        outcomes = conn.execute(sa.select(visit_outcomes.c.visit_id)).scalars().all()
    assert audit["request_sha256"] == digests.legacy(secret, old["score"]) != old["score"]
    assert audit["idempotency_key"] == digests.idempotency_key(secret, CANARY)
    assert audit["role"] is None  # unknown for rows written before the column
    assert sub["request_sha256"] == digests.legacy(secret, old["outcome"])
    assert sub["idempotency_key"] == digests.idempotency_key(secret, f"outbox-{CANARY}")
    assert find_in_text(table_text(engine), "tables", [CANARY]) == []
    if engine.dialect.name == "sqlite":  # nor in free pages or the WAL
        assert find_in_files(sqlite_files(engine), [CANARY, old["score"], old["outcome"]]) == []
    # The earliest plan is kept; the later ones' visit with an outcome (a label) is moved to
    # it, their visits without one are gone with them.
    assert plans == ["p-first"]
    assert visits == {"v1": "p-first", "v3": "p-first"} and outcomes == ["v1"]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO inspection_plans (plan_id, commune_id, month, params, status) "
                "VALUES ('p-new', 'C08', '2026-08', '{}', 'draft')"
            )
        )


def test_0003_without_a_pii_key_keys_with_the_state_folders_own_secret(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VBSP_RISK_PII_KEY", raising=False)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
    _at_0002(engine)
    old = _old_rows(engine)
    upgrade(engine)
    key_file = tmp_path / "state" / digests.KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = bytes.fromhex(key_file.read_text())
    with engine.connect() as conn:
        digest = conn.execute(sa.select(score_audit.c.request_sha256)).scalar_one()
    assert digest == digests.legacy(secret, old["score"])
