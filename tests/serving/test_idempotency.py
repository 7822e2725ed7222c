"""Retried POSTs with the same ``Idempotency-Key`` write one row and get the same answer — also
when the retries arrive together — and the audit writer survives a waiter that gave up.

(A retry after a ``kill -9`` that struck after the first attempt was committed is in
``test_crash.py``.)
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit_writer import AuditWriter
from tests.support.audit_rows import made_up_row
from tests.support.live_server import SCORE, application, filled_sqlite, household_ids
from tests.support.served import PII_KEY, Served, count_audit, headers
from vbsp_state.digests import derive_key, idempotency_key
from vbsp_state.engine import make_engine
from vbsp_state.migrate import upgrade


def _rows_for(url: str, *keys: str) -> list[tuple]:
    """Audit rows of the caller's idempotency keys (stored as their HMACs)."""
    secret = derive_key(bytes.fromhex(PII_KEY))
    stored = [idempotency_key(secret, k) for k in keys]
    with sa.create_engine(url).connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT score_id, idempotency_key FROM score_audit WHERE idempotency_key IN :k"
            ).bindparams(sa.bindparam("k", expanding=True)),
            {"k": stored},
        ).all()


def test_concurrent_retries_with_one_key_write_one_row_and_answer_alike(
    served: Served, tmp_path: Path
) -> None:
    url = filled_sqlite(served, tmp_path)
    body = application(household_ids(url, 1)[0])
    batch = {"applications": [body, {**body, "amount": 20_000_000}]}
    h = {**headers(served, "data"), "Idempotency-Key": "same-key-1"}
    hb = {**headers(served, "data"), "Idempotency-Key": "same-batch-1"}
    with TestClient(create_app(served.settings(url))) as api, ThreadPoolExecutor(8) as pool:
        singles = list(pool.map(lambda _: api.post(SCORE, json=body, headers=h), range(8)))
        batches = list(
            pool.map(lambda _: api.post(SCORE + "-batch", json=batch, headers=hb), range(8))
        )
        other = api.post(SCORE, json={**body, "amount": 5_000_000}, headers=h)
    assert {r.status_code for r in singles} == {200} == {r.status_code for r in batches}
    assert len({r.text for r in singles}) == 1 and len({r.text for r in batches}) == 1
    assert [r[0] for r in _rows_for(url, "same-key-1")] == [singles[0].json()["score_id"]]
    assert sorted(r[0] for r in _rows_for(url, "same-batch-1#0", "same-batch-1#1")) == sorted(
        s["score_id"] for s in batches[0].json()["scores"]
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.text
    assert count_audit(make_engine(url)) == 3


def test_a_waiter_that_gave_up_does_not_stop_the_audit_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    engine = make_engine(f"sqlite:///{path.as_posix()}")
    upgrade(engine)
    writer = AuditWriter(engine)
    blocker = sqlite3.connect(path, timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer's first commit waits for the lock
    try:
        first = writer.submit([made_up_row()])
        time.sleep(0.3)
        gave_up = writer.submit([made_up_row()])
        assert gave_up.cancel()  # what asyncio.wrap_future does when the request is cancelled
    finally:
        blocker.rollback()
        blocker.close()
    first.result(timeout=30)
    writer.submit([made_up_row()]).result(timeout=30)  # the writer is still alive
    writer.close()
    assert count_audit(engine) == 2  # the cancelled request's row was not written
    engine.dispose()


def test_request_digests_are_keyed_digests_of_the_canonical_json() -> None:
    """Digests are HMACs (server secret) of the canonical JSON, the national ID replaced by its
    pseudonym first; a request digested before migration 0003 (unkeyed SHA-256, re-keyed by the
    migration) is still recognised, so a retry across the upgrade replays."""
    import hashlib
    import hmac
    import json

    from serving.audit import (
        as_digested_before_0003,
        request_digest,
        same_request,
        without_national_id,
    )
    from serving.schemas import ApplicationIn
    from vbsp_state.digests import legacy

    key, pii = b"k" * 32, b"p" * 32
    apps = [
        ApplicationIn(
            household_id="H00001",
            program="poor_household",
            purpose="livestock",
            amount=40_000_000,
            term_months=36,
        ),
        ApplicationIn(
            national_id="012345678901",
            program="near_poor",
            purpose="crops",
            amount=99_999_999.0,
            term_months=60,
            grace_months=6,
        ),
        ApplicationIn(
            group_id="G0001",
            village_id="V01",
            program="poor_household",
            purpose="livestock",
            amount=1,
            term_months=1,
        ),
    ]
    for chosen in ([apps[0]], apps):
        for explain in (True, False):
            dumps = [a.model_dump(mode="json") for a in chosen]
            payload = {"apps": [without_national_id(d, pii) for d in dumps], "explain": explain}
            assert "012345678901" not in json.dumps(payload)
            text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
            digest = request_digest(key, payload)
            assert digest == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
            assert digest != hashlib.sha256(text.encode()).hexdigest()
            raw = as_digested_before_0003(dumps, explain, False)
            before = json.dumps(raw, sort_keys=True, default=str, separators=(",", ":"))
            old = legacy(key, hashlib.sha256(before.encode()).hexdigest())
            assert same_request(key, old, digest, raw)
            assert not same_request(key, old, digest, {**raw, "explain": not explain})
            assert not same_request(b"x" * 32, old, digest, raw)  # another secret
