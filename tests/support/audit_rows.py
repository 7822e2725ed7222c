"""A made-up audit row for the audit writers' tests."""

from __future__ import annotations

import uuid

from serving.audit import audit_row

STORED = {
    "entity_type": "household",
    "entity_id": "H1",
    "group_id": "G1",
    "commune_id": "C1",
    "as_of": None,
}


def made_up_row(idem: str | None = None, **fields: object) -> dict:
    """One ``score_audit`` row with a fresh score id (and ``idem`` as its idempotency key);
    ``fields`` override the other made-up values (``stored``, ``probability``, ...)."""
    values: dict = {
        "score_id": str(uuid.uuid4()),
        "endpoint": "score",
        "client_id": "c",
        "idempotency_key": idem,
        "digest": "d",
        "stored": STORED,
        "model_name": "m",
        "model_version": "1",
        "probability": 0.1,
        "band": "medium",
        "request": {"amount": 1},
        "response": {"ok": True},
    }
    return audit_row(**{**values, **fields})
