"""Household contacts (head's name, hamlet): loaded from an optional table, stored encrypted,
shown on pages only to users of the household's commune.

Names let an inspector find a household in the village, but they are personal data: each row is
sealed with AES-256-GCM under a key derived (HKDF-SHA256) from ``VBSP_RISK_PII_KEY``, with the
household id as associated data so a sealed row cannot be moved to another household. Only a key
explicitly limited to the household's commune sees it (district-wide keys do not); the API, the
logs, the audit rows and the models never read this table. ``vbsp-risk contacts purge`` deletes
every row.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pandera.errors as pa_errors
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Engine

from features.contract import OPTIONAL_TABLES
from serving.auth import ApiClient
from vbsp_state.schema import household_contacts

logger = logging.getLogger(__name__)
SPEC = OPTIONAL_TABLES["household_contacts"]
_INFO = b"vbsp-risk household_contacts v1"


class ContactsError(ValueError):
    """The contacts table or the key is unusable; the message says what and where."""


def cipher(pii_key_hex: str | None) -> AESGCM:
    """The AES-GCM cipher of the contacts, derived from the PII key (hex)."""
    if not pii_key_hex:
        raise ContactsError("VBSP_RISK_PII_KEY is not set: contacts are stored only encrypted")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(hkdf.derive(bytes.fromhex(pii_key_hex)))


def seal(aes: AESGCM, household_id: str, contact: dict) -> bytes:
    """Nonce + ciphertext + tag of one household's contact."""
    nonce = os.urandom(12)
    data = json.dumps(contact, ensure_ascii=False).encode()
    return nonce + aes.encrypt(nonce, data, household_id.encode())


def unseal(aes: AESGCM, household_id: str, sealed: bytes) -> dict:
    """The contact of a sealed row (fails on another key or another household's row)."""
    return json.loads(aes.decrypt(sealed[:12], sealed[12:], household_id.encode()))


def read_table(folder: Path) -> pd.DataFrame:
    """``household_contacts.csv`` or ``.parquet`` of a data folder, as text columns."""
    for path in (folder / "household_contacts.parquet", folder / "household_contacts.csv"):
        if path.is_file():
            if path.suffix == ".csv":
                return pd.read_csv(path, dtype=str, keep_default_na=False).replace({"": None})
            return pd.read_parquet(path)
    raise ContactsError(
        f"table 'household_contacts': no household_contacts.csv or .parquet in {folder}"
    )


def validate(table: pd.DataFrame, households: pd.DataFrame | None) -> list[str]:
    """Every failure as ``household_contacts row N, column C: rule (value withheld)``.

    Values are never echoed: they are names. ``households`` (``household_id``, ``commune_id``)
    checks that each row is a known household of the stated commune.
    """
    problems: list[str] = []
    try:
        SPEC.model.validate(table, lazy=True)
    except pa_errors.SchemaErrors as err:
        for case in err.failure_cases.to_dict("records"):
            row = case.get("index")
            where = (
                f"row {int(row) + 2}" if isinstance(row, (int, float)) and row == row else "table"
            )
            problems.append(
                f"household_contacts {where}, column {case.get('column')}: {case.get('check')}"
            )
    if households is not None and {"household_id", "commune_id"} <= set(table.columns):
        known = dict(zip(households["household_id"], households["commune_id"], strict=True))
        for i, (h, c) in enumerate(zip(table["household_id"], table["commune_id"], strict=True)):
            if h not in known:
                problems.append(
                    f"household_contacts row {i + 2}, column household_id: "
                    "not a household of the export (foreign key to households)"
                )
            elif known[h] != c:
                problems.append(
                    f"household_contacts row {i + 2}, column commune_id: "
                    "differs from the household's commune in households"
                )
    return problems


def load(engine: Engine, aes: AESGCM, table: pd.DataFrame) -> int:
    """Replace the stored contacts by ``table`` (validated), sealed; return the rows stored."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "household_id": r["household_id"],
            "commune_id": r["commune_id"],
            "loaded_at": now,
            "sealed": seal(
                aes,
                r["household_id"],
                {"head_name": r["head_name"], "hamlet": r.get("hamlet") or None},
            ),
        }
        for r in table.to_dict("records")
    ]
    with engine.begin() as conn:
        conn.execute(household_contacts.delete())
        if rows:
            conn.execute(household_contacts.insert(), rows)
    logger.info("household contacts loaded: %d rows (encrypted)", len(rows))
    return len(rows)


def purge(engine: Engine) -> int:
    """Delete every stored contact; return how many there were."""
    with engine.begin() as conn:
        n = conn.execute(household_contacts.delete()).rowcount
    logger.info("household contacts purged: %d rows", n)
    return int(n or 0)


def for_client(
    engine: Engine, pii_key_hex: str | None, client: ApiClient | None, household_ids: Iterable[str]
) -> dict[str, dict]:
    """Contacts of the households that ``client``'s key is explicitly limited to the commune of.

    District-wide keys (no commune list) and keys of other communes get nothing; so does every
    caller when no PII key is configured or no contact is stored.
    """
    ids = sorted(set(household_ids))
    if client is None or client.communes is None or not ids or not pii_key_hex:
        return {}
    t = household_contacts
    q = sa.select(t.c.household_id, t.c.sealed).where(
        t.c.household_id.in_(ids) & t.c.commune_id.in_(sorted(client.communes))
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    if not rows:
        return {}
    aes = cipher(pii_key_hex)
    out = {}
    for household_id, sealed in rows:
        try:
            out[household_id] = unseal(aes, household_id, bytes(sealed))
        except Exception:  # another key, or a tampered row: shown as absent, never as text
            logger.warning("a household contact could not be decrypted (wrong PII key?)")
    return out


def pii_hex(settings: object) -> str | None:
    """The configured PII key (hex) of the service's settings, or ``None``."""
    key = getattr(settings, "pii_key", None)
    return key.get_secret_value() if key is not None else None
