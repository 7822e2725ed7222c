"""Keyed digests (HMAC-SHA256) of what callers send, so nothing stored can be reversed by guessing.

An unkeyed SHA-256 of a request holding a 12-digit citizen ID is reversed by hashing the 10¹²
candidates; an ``Idempotency-Key`` a clerk typed as an ID would be stored verbatim. The audit and
outcome tables therefore keep only HMACs under a server secret: a guess cannot be checked without
the secret, and equal requests still give equal digests (what idempotent replays compare).

The secret is derived (HKDF-SHA256, its own purpose label) from ``VBSP_RISK_PII_KEY``, so no new
mandatory secret: the pseudonym, the contacts cipher and the digests each get an independent key.
Without a PII key (national IDs are then refused anyway) a random secret is created once in the
state folder (``digest.key``, mode 0600) and kept, so replays still match after a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vbsp_state.settings import StateSettings

logger = logging.getLogger(__name__)

PURPOSE = b"vbsp-risk request digests v1"
KEY_FILE = "digest.key"


def derive_key(pii_key: bytes) -> bytes:
    """The digest secret of a PII key (independent of the pseudonym's and the cipher's keys)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(pii_key)


def _state_key(path: Path) -> bytes:
    """The state folder's random secret, created (0600) on first use.

    Written to a private temporary file and linked into place, so a second process (another
    worker starting at the same moment) either creates it or reads it whole, never half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(os.urandom(32).hex())
        try:
            os.link(tmp, path)
            logger.warning(
                "no VBSP_RISK_PII_KEY: request digests keyed by a new secret in %s", path
            )
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink()
    key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(key) < 16:
        raise ValueError(f"{path}: the digest secret must be at least 16 bytes (hex)")
    return key


def digest_key(state: StateSettings) -> bytes:
    """The server secret of the digests: from the PII key, else the state folder's own."""
    if state.pii_key is not None:
        return derive_key(bytes.fromhex(state.pii_key.get_secret_value()))
    return _state_key(state.state_dir / KEY_FILE)


def keyed(key: bytes, data: bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` (64 characters, the width of the old SHA-256 columns)."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def idempotency_key(key: bytes, raw: str) -> str:
    """What is stored for a caller's ``Idempotency-Key`` (the key itself never is)."""
    return keyed(key, b"idempotency:" + raw.encode())


def legacy(key: bytes, sha256_hex: str) -> str:
    """What migration 0003 stores for an unkeyed digest written before it.

    The old digests cannot be recomputed (their inputs were not stored), so each is re-keyed:
    HMAC of the old hex. A replay of a request first answered before the upgrade still matches
    (:func:`matches` computes the old digest in memory, never stores it).
    """
    return keyed(key, b"legacy:" + sha256_hex.encode())


def matches(key: bytes, stored: str, digest: str, legacy_payload: bytes | None = None) -> bool:
    """Whether a stored digest is this request's (its HMAC, or the re-keyed pre-0003 digest)."""
    if hmac.compare_digest(stored, digest):
        return True
    if legacy_payload is None:
        return False
    return hmac.compare_digest(stored, legacy(key, hashlib.sha256(legacy_payload).hexdigest()))
