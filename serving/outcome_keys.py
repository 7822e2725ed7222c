"""Idempotent outcome posts: a client-made key is stored with the outcome it recorded.

An inspector's phone queues outcomes while offline and sends them when the connection returns
(``serving/web/static/outbox.js``); a send whose answer was lost is sent again. Recording an
outcome is an upsert per visit, so a resend would not add a row, but it would overwrite a
correction made in between and move ``recorded_at``. With the key stored in the same transaction
as the outcome, the second post answers exactly as the first and writes nothing.

Neither the key nor what was asked is stored as sent: the key (a clerk may type an ID there) is
stored as its HMAC and the request (notes are free text) as an HMAC digest, both under the
server's digest secret (:mod:`vbsp_state.digests`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vbsp_state import digests
from vbsp_state.schema import outcome_submissions

KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"


def form_key(form: dict[str, str]) -> str | None:
    """The outbox's ``submission_id`` of a page's outcome form, if well-formed (else none)."""
    key = form.get("submission_id", "")
    return key if re.fullmatch(KEY_PATTERN, key) else None


class KeyReusedError(ValueError):
    """The key was already used for another visit or other answers."""


def asked_text(visit_id: str, fields: dict) -> bytes:
    """Canonical JSON of what was asked (visit and answers), to tell a resend from a reuse."""
    text = json.dumps({"visit_id": visit_id, **fields}, sort_keys=True, ensure_ascii=False)
    return text.encode()


def digest(secret: bytes, asked: bytes) -> str:
    """HMAC-SHA256 of :func:`asked_text` under the digest secret (what is stored)."""
    return digests.keyed(secret, asked)


def replay(conn: Connection, client_id: str, key: str, secret: bytes, asked: bytes) -> dict | None:
    """The outcome first answered for this client's key, or ``None`` for a new key.

    Raises:
        KeyReusedError: The key was stored for a different request.
    """
    t = outcome_submissions
    row = conn.execute(
        sa.select(t.c.request_sha256, t.c.response).where(
            (t.c.client_id == client_id)
            & (t.c.idempotency_key == digests.idempotency_key(secret, key))
        )
    ).first()
    if row is None:
        return None
    if not digests.matches(secret, row[0], digest(secret, asked), asked):
        raise KeyReusedError("Idempotency-Key was already used for another outcome")
    stored = json.loads(row[1])
    stored["recorded_at"] = datetime.fromisoformat(stored["recorded_at"])
    return stored


def remember(
    conn: Connection,
    client_id: str,
    key: str,
    visit_id: str,
    secret: bytes,
    asked: bytes,
    outcome: dict,
) -> None:
    """Store the key's HMAC with the outcome it recorded (same transaction as the outcome)."""
    conn.execute(
        outcome_submissions.insert(),
        {
            "client_id": client_id,
            "idempotency_key": digests.idempotency_key(secret, key),
            "visit_id": visit_id,
            "request_sha256": digest(secret, asked),
            "created_at": outcome["recorded_at"],
            "response": json.dumps(outcome, default=str, ensure_ascii=False),
        },
    )
