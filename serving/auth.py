"""API keys and roles of the scoring service (data layer; the FastAPI dependency is in ``deps``).

The JSON keys file holds only SHA-256 hashes of keys (:func:`add_client` shows a new key once).
At start the service copies it into ``api_clients`` (:func:`sync_clients`) and authenticates a
request by its key's hash (:func:`lookup`, cached a few seconds by :class:`ClientCache`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vbsp_state.schema import api_clients, web_sessions

logger = logging.getLogger(__name__)

ROLES = ("officer", "inspector", "data", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "applications:score": frozenset({"officer", "data"}),
    "households:read": frozenset({"officer", "inspector", "data"}),
    "inspections:read": frozenset({"inspector", "data"}),
    "visits:write": frozenset({"inspector", "data"}),
    "models:read": frozenset({"officer", "inspector", "data", "admin"}),
    "admin:reload": frozenset({"data", "admin"}),
    "fairness:read": frozenset({"data"}),
    "clients:manage": frozenset({"admin"}),
}
FIELDS = ("client_id", "role", "communes", "key_sha256")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` (unknown permissions are allowed to nobody)."""
    return role in PERMISSIONS.get(permission, frozenset())


@dataclass(frozen=True)
class ApiClient:
    """An authenticated caller: who, in which role, for which communes (``None``: all)."""

    client_id: str
    role: str
    communes: frozenset[str] | None

    def can_see_commune(self, commune_id: str) -> bool:
        """Whether the caller may see data of ``commune_id``."""
        return self.communes is None or commune_id in self.communes


def generate_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return "vbsp_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a key: keys are random tokens (:func:`generate_key`), not passwords,
    so a fast unsalted hash is right (nothing to brute-force; one indexed query finds a key)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_entry(path: Path, i: int, entry: object) -> tuple[ApiClient, str]:
    def bad(rule: str) -> ValueError:
        return ValueError(f"{path}: clients[{i}]: {rule}")

    if not isinstance(entry, dict):
        raise bad("entry must be an object")
    if missing := [n for n in FIELDS if n not in entry]:
        raise bad(f"missing field {missing[0]!r}")
    if extra := sorted(set(entry) - set(FIELDS)):
        raise bad(f"unknown field(s) {', '.join(map(repr, extra))}")
    cid, role, communes, digest = (entry[n] for n in FIELDS)
    if not isinstance(cid, str) or not 0 < len(cid) <= 64:
        raise bad("client_id must be a non-empty string of at most 64 characters")
    if role not in ROLES:
        raise bad(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    listed = isinstance(communes, list) and all(isinstance(c, str) and c for c in communes)
    if communes is not None and not (listed and communes):
        raise bad("communes must be null (all communes) or a non-empty list of commune ids")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise bad("key_sha256 must be 64 lowercase hex digits (a SHA-256 hash, not a key)")
    return ApiClient(cid, role, None if communes is None else frozenset(communes)), digest


def read_keys_file(path: str | Path) -> list[tuple[ApiClient, str]]:
    """The clients of a keys file with their key hashes.

    Raises:
        ValueError: Naming the file, the entry index and the rule broken.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("clients"), list):
        raise ValueError(f'{path}: expected an object {{"clients": [...]}}')
    out: list[tuple[ApiClient, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(doc["clients"]):
        client, digest = _check_entry(path, i, entry)
        for name, value in (("client_id", client.client_id), ("key_sha256", digest)):
            if (name, value) in seen:
                first = seen[name, value]
                raise ValueError(f"{path}: clients[{i}]: duplicate {name} (also clients[{first}])")
            seen[name, value] = i
        out.append((client, digest))
    return out


def add_client(
    path: str | Path, client_id: str, role: str, communes: Iterable[str] | None = None
) -> str:
    """Add a client to the keys file (created if absent) and return its new key, shown once.

    Only the key's hash is written, atomically, to a file readable by its owner only.

    Raises:
        ValueError: Unknown role, duplicate client id, bad communes or an invalid existing file.
    """
    path = Path(path)
    existing = read_keys_file(path) if path.exists() else []
    if client_id in {c.client_id for c, _ in existing}:
        raise ValueError(f"{path}: client_id {client_id!r} already exists")
    key = generate_key()
    entries = [
        {
            "client_id": c.client_id,
            "role": c.role,
            "communes": None if c.communes is None else sorted(c.communes),
            "key_sha256": h,
        }
        for c, h in existing
    ]
    communes = [communes] if isinstance(communes, str) else communes
    new = {
        "client_id": client_id,
        "role": role,
        "communes": None if communes is None else sorted(set(communes)),
        "key_sha256": hash_key(key),
    }
    _check_entry(path, len(entries), new)
    doc = {"clients": [*entries, new]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0o600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("added API client %s (%s) to %s", client_id, role, path)
    return key


def sync_clients(engine: Engine, clients_with_hashes: Iterable[tuple[ApiClient, str]]) -> int:
    """Make ``api_clients`` match the keys file in one transaction; return active clients.

    Clients of the file are inserted or updated (and re-activated); clients absent from the file
    are deactivated, never deleted (their id stays in the audit trail); a client renamed in the
    file keeps its key. The page sessions of a deactivated client or a changed key are ended.
    """
    t, wanted = api_clients, {c.client_id: (c, h) for c, h in clients_with_hashes}
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        rows = {r.client_id: r for r in conn.execute(sa.select(t))}
        claimed, gone = {h for _, h in wanted.values()}, 0
        for cid, row in rows.items():  # retired clients free their hash if the file reuses it
            if cid not in wanted and (row.active or row.key_hash in claimed):
                digest = hash_key(f"retired:{cid}") if row.key_hash in claimed else row.key_hash
                change = {"active": False, "key_hash": digest, "updated_at": now}
                gone += conn.execute(t.update().where(t.c.client_id == cid), change).rowcount
        ended = [c for c, r in rows.items() if c not in wanted or r.key_hash != wanted[c][1]]
        sessions = web_sessions.update().where(web_sessions.c.client_id.in_(ended))
        conn.execute(sessions.where(web_sessions.c.revoked_at.is_(None)), {"revoked_at": now})
        for cid, (client, digest) in wanted.items():
            v = {
                "key_hash": digest,
                "role": client.role,
                "active": True,
                "communes": None
                if client.communes is None
                else json.dumps(sorted(client.communes)),
            }
            row = rows.get(cid)
            if row is None:
                conn.execute(t.insert(), {**v, **stamp, "client_id": cid})
            elif any(getattr(row, name) != value for name, value in v.items()):
                conn.execute(t.update().where(t.c.client_id == cid), {**v, "updated_at": now})
    logger.info("%d active API clients, %d deactivated", len(wanted), gone)
    return len(wanted)


def lookup(engine: Engine, key: str) -> ApiClient | None:
    """The active client holding ``key``, or ``None`` (one query on the unique hash index)."""
    return _lookup_hash(engine, hash_key(key))


def _lookup_hash(engine: Engine, digest: str) -> ApiClient | None:
    t = api_clients
    q = sa.select(t.c.client_id, t.c.role, t.c.communes).where(
        t.c.key_hash == digest, t.c.active.is_(True)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        return None
    communes = None if row.communes is None else frozenset(json.loads(row.communes))
    return ApiClient(row.client_id, row.role, communes)


class ClientCache:
    """:func:`lookup` with results (also misses) kept for ``ttl`` seconds.

    A deactivated or changed client is seen at most ``ttl`` seconds late. The cache is emptied at
    ``MAX_ENTRIES`` entries, so random wrong keys cannot grow it without bound.
    """

    MAX_ENTRIES = 10_000

    def __init__(
        self, engine: Engine, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.engine, self.ttl, self._clock = engine, ttl, clock
        self._entries: dict[str, tuple[float, ApiClient | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> ApiClient | None:
        """The active client holding ``key``, or ``None``."""
        digest, now = hash_key(key), self._clock()
        hit = self._entries.get(digest)  # dict reads are atomic
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        client = _lookup_hash(self.engine, digest)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (now, client)
        return client

    def clear(self) -> None:
        """Forget every cached lookup (e.g. after :func:`sync_clients`)."""
        with self._lock:
            self._entries.clear()
