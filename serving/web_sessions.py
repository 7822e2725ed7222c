"""Server-side sessions of the web pages (data layer; the cookie and the form checks are in
:mod:`serving.web.render`).

A sign-in creates a session: the browser gets a random id (256 bits) in an ``HttpOnly`` cookie,
the ``web_sessions`` table keeps only its SHA-256 (random ids, like API keys, need no salt). The
API key never leaves the sign-in request, so a stolen cookie is not a stolen key, and the server
can end a session: at its absolute expiry, after the idle timeout, on logout, and when the
client's key is deactivated or changed (:func:`serving.auth.sync_clients`). A session is also
refused as soon as its client is inactive.

The CSRF token of a session's forms is an HMAC keyed by the session id (:func:`csrf_token`):
another site cannot read the cookie, so it cannot compute the token, and every worker process
(and a restarted service) computes the same token without a shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving.auth import ApiClient
from vbsp_state.schema import api_clients, web_sessions

logger = logging.getLogger(__name__)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute a session
MAX_ID_LENGTH = 100


@dataclass(frozen=True)
class SessionTimes:
    """How long a session may last in all, and without a request."""

    max_age: timedelta
    idle: timedelta


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def id_hash(session_id: str) -> str:
    """What the table stores of a session id."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(secret: str, purpose: str = "session") -> str:
    """The forms' token for a session id (or a sign-in form's pre-session cookie)."""
    message = f"vbsp-risk csrf v1 {purpose}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def token_matches(secret: str | None, token: str | None, purpose: str = "session") -> bool:
    """Whether ``token`` is the token of ``secret`` (constant time; ``False`` when either is
    missing)."""
    if not secret or not token:
        return False
    return hmac.compare_digest(token.encode(), csrf_token(secret, purpose).encode())


def create(engine: Engine, client_id: str, times: SessionTimes) -> str:
    """A new session of ``client_id``; returns its id (shown to the browser only)."""
    session_id = secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            web_sessions.insert(),
            {
                "id_hash": id_hash(session_id),
                "client_id": client_id,
                "created_at": now,
                "last_seen_at": now,
                "expires_at": now + times.max_age,
                "revoked_at": None,
            },
        )
    return session_id


def client_of(engine: Engine, session_id: str, times: SessionTimes) -> ApiClient | None:
    """The client of a live session, or ``None`` (unknown, expired, idle, revoked, or its client
    inactive). Marks the session as seen (at most once a minute)."""
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return None
    s, c, now, digest = web_sessions, api_clients, _now(), id_hash(session_id)
    q = (
        sa.select(c.c.client_id, c.c.role, c.c.communes, s.c.last_seen_at)
        .join(c, c.c.client_id == s.c.client_id)
        .where(s.c.id_hash == digest, s.c.revoked_at.is_(None), c.c.active.is_(True))
        .where(s.c.expires_at > now, s.c.last_seen_at > now - times.idle)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(s.update().where(s.c.id_hash == digest), {"last_seen_at": now})
    communes = None if row.communes is None else frozenset(json.loads(row.communes))
    return ApiClient(row.client_id, row.role, communes)


def revoke(engine: Engine, session_id: str) -> bool:
    """End one session (logout); whether a live one was ended."""
    if not session_id or len(session_id) > MAX_ID_LENGTH:
        return False
    s = web_sessions
    with engine.begin() as conn:
        done = conn.execute(
            s.update().where(s.c.id_hash == id_hash(session_id), s.c.revoked_at.is_(None)),
            {"revoked_at": _now()},
        ).rowcount
    return bool(done)


def purge(engine: Engine, older_than: timedelta = timedelta(days=30)) -> int:
    """Delete sessions that ended more than ``older_than`` ago (keeps the table small)."""
    s, cutoff = web_sessions, _now() - older_than
    with engine.begin() as conn:
        return conn.execute(
            s.delete().where(
                sa.or_(s.c.expires_at < cutoff, s.c.revoked_at < cutoff, s.c.last_seen_at < cutoff)
            )
        ).rowcount
