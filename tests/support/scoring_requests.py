"""Application bodies and a household with reasons, for the scoring and what-if tests."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.online_store import assemble_vector, fetch
from serving.model_store import load_registered
from tests.support.served import Served
from vbsp_state.registry_names import APPLICATION_MODEL, CHAMPION


def riskiest_household(api_db: Engine, served: Served, commune: str) -> dict:
    """The stored household of ``commune`` that the application champion scores highest.

    Its score is above the model's average, so some features push it up: it has reasons. (A
    household with a clean record may have none, and on the small test district the champion may
    be a single tree.)
    """
    model = load_registered(served.tracking_uri, APPLICATION_MODEL, CHAMPION)
    with api_db.connect() as conn:
        ids = conn.execute(
            sa.text(
                "SELECT entity_id FROM online_features "
                "WHERE entity_type = 'household' AND commune_id = :c ORDER BY entity_id"
            ),
            {"c": commune},
        ).scalars()
        rows = [fetch(api_db, household_id=h) for h in list(ids)]
    fields = {k: v for k, v in application("").items() if k != "household_id"}
    probs = model.predict(model.matrix([assemble_vector(r, fields) for r in rows]))
    assert probs.max() > probs.min(), "the champion scores every household alike"
    return rows[int(np.argmax(probs))]


def application(hid: str, **extra: object) -> dict:
    """A valid application of household ``hid`` (``extra`` overrides the defaults)."""
    body = {
        "household_id": hid,
        "program": "poor_household",
        "purpose": "livestock",
        "amount": 40_000_000,
        "term_months": 36,
        "grace_months": 0,
    }
    body.update(extra)
    return body
