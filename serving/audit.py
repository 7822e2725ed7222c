"""The score audit log: every score the service answers is written before it is answered.

Rows name the client, the exact model version and the feature date, and hold the validated
non-personal application fields and the response body (so a retried request with the same
``Idempotency-Key`` gets the same answer and writes nothing new). National IDs are never stored:
the request digest is an HMAC (server secret, :mod:`vbsp_state.digests`) of the request with the
national ID already replaced by the household's pseudonym, and the idempotency key is stored as
its HMAC too, so neither can be reversed by hashing candidate IDs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from features.domain import pseudonym
from vbsp_state import digests
from vbsp_state.schema import score_audit


class _ScoreIds:
    """Time-ordered UUIDs (version 7, RFC 9562): the millisecond, then 74 random bits.

    Time-ordered so that the audit log's primary-key index grows at its end: random (version 4)
    ids put each new row on a random page of an index that grows forever, and a commit of eight
    rows wrote eight index pages instead of one or two (a third more time per commit). The
    random bits come from a buffer of ``os.urandom`` bytes refilled 256 ids at a time:
    ``uuid.uuid4()`` asks the kernel on every call, and that system call released the GIL to
    another thread while the event loop waited to get it back.
    """

    def __init__(self, per_refill: int = 256) -> None:
        self._size = 10 * per_refill
        self._buf = b""
        self._at = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._at >= len(self._buf):
                self._buf, self._at = os.urandom(self._size), 0
            raw = self._buf[self._at : self._at + 10]
            self._at += 10
        return uuid7_text(time.time_ns() // 1_000_000, raw)


def uuid7_text(unix_ms: int, random10: bytes) -> str:
    """The text of the version 7 UUID of ``unix_ms`` with ten random bytes (74 bits used)."""
    h = f"{unix_ms & 0xFFFF_FFFF_FFFF:012x}{random10.hex()}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


new_score_id = _ScoreIds()
"""A fresh score id (time-ordered UUID, version 7)."""


def _canonical(payload: Mapping[str, object]) -> bytes:
    # keys sorted, no spaces: the bytes ``json.dumps(payload, sort_keys=True, separators=(",",
    # ":"))`` gives for every request that can be scored, written by orjson at a fraction of the cost
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)


def request_digest(key: bytes, payload: Mapping[str, object]) -> str:
    """HMAC-SHA256 (server secret ``key``) of a request body's canonical JSON.

    ``payload`` must already be free of national IDs (:func:`without_national_id`): the digest is
    stored, and a keyed digest of a pseudonym reveals nothing without the secret.
    """
    return digests.keyed(key, _canonical(payload))


def same_request(
    key: bytes, stored: str, digest: str, raw_payload: Mapping[str, object] | None = None
) -> bool:
    """Whether a stored digest is this request's; ``raw_payload`` (as sent, in memory only)
    also matches a digest written before migration 0003 (re-keyed there)."""
    raw = None if raw_payload is None else _canonical(raw_payload)
    return digests.matches(key, stored, digest, raw)


def as_digested_before_0003(
    apps: Sequence[Mapping[str, object]], explain: bool, what_if: bool
) -> dict[str, object]:
    """A request as it was digested before migration 0003 (national ID in, amounts as floats),
    to recognise a retry of a request first answered then; never stored."""
    raw = {"apps": [{**a, "amount": float(a["amount"])} for a in apps], "explain": explain}  # type: ignore[arg-type]
    return {**raw, "what_if": True} if what_if else raw


def without_national_id(app: Mapping[str, object], pii_key: bytes | None) -> dict[str, object]:
    """An application's JSON with its national ID replaced by the household's pseudonym.

    Raises:
        ValueError: A national ID without a pseudonym key (the caller answers 409 before).
    """
    out = dict(app)
    national_id = out.pop("national_id", None)
    if national_id is not None:
        if pii_key is None:
            raise ValueError("national_id given but no pseudonym key configured")
        out["household_id"] = pseudonym(str(national_id), pii_key)
    return out


def stored_keys(key: bytes, raw_keys: Sequence[str]) -> list[str]:
    """What is stored for the caller's idempotency keys (their HMACs)."""
    return [digests.idempotency_key(key, k) for k in raw_keys]


def replay(engine: Engine, client_id: str, keys: Sequence[str]) -> list[Mapping] | None:
    """Stored rows for idempotency keys, in order; ``None`` unless every key has its row."""
    t = score_audit
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.idempotency_key, t.c.request_sha256, t.c.response).where(
                (t.c.client_id == client_id) & t.c.idempotency_key.in_(list(keys))
            )
        ).mappings()
        found = {r["idempotency_key"]: dict(r) for r in rows}
    if not keys or any(k not in found for k in keys):
        return None
    return [found[k] for k in keys]


def audit_row(
    *,
    score_id: str,
    endpoint: str,
    client_id: str,
    role: str | None = None,
    idempotency_key: str | None,
    digest: str,
    stored: Mapping[str, object],
    model_name: str,
    model_version: str,
    probability: float,
    band: str,
    request: Mapping[str, object],
    response: Mapping[str, object],
) -> dict[str, object]:
    """One ``score_audit`` row."""
    is_household = stored.get("entity_type") == "household"
    return {
        "score_id": score_id,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
        "endpoint": endpoint,
        "client_id": client_id,
        "role": role,
        "idempotency_key": idempotency_key,
        "request_sha256": digest,
        "household_id": stored["entity_id"] if is_household else None,
        "group_id": stored.get("group_id"),
        "commune_id": stored.get("commune_id"),
        "model_name": model_name,
        "model_version": model_version,
        "feature_as_of": stored.get("as_of"),
        "probability": probability,
        "band": band,
        "request": orjson.dumps(request, default=str).decode(),
        "response": orjson.dumps(response, default=str).decode(),
    }


def write(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert audit rows on an open transaction (the caller commits before answering)."""
    conn.execute(score_audit.insert(), list(rows))
