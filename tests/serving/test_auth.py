"""API keys, roles and the keys file; clients synced to the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving import auth
from serving.auth import (
    PERMISSIONS,
    ROLES,
    ApiClient,
    ClientCache,
    add_client,
    allowed,
    generate_key,
    hash_key,
    lookup,
    read_keys_file,
    sync_clients,
)
from vbsp_state.migrate import upgrade
from vbsp_state.schema import api_clients

H1, H2, H3 = (hash_key(k) for k in ("k1", "k2", "k3"))


@pytest.fixture
def db(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


def test_permissions_are_the_agreed_matrix() -> None:
    expected = {
        "applications:score": {"officer", "data"},
        "households:read": {"officer", "inspector", "data"},
        "inspections:read": {"inspector", "data"},
        "visits:write": {"inspector", "data"},
        "models:read": {"officer", "inspector", "data", "admin"},
        "admin:reload": {"data", "admin"},
        "fairness:read": {"data"},
        "clients:manage": {"admin"},
    }
    assert dict(PERMISSIONS) == expected
    assert ROLES == ("officer", "inspector", "data", "admin")
    assert allowed("officer", "applications:score")
    assert not allowed("admin", "applications:score")
    assert not allowed("data", "no:such-permission")
    assert not allowed("root", "models:read")


def test_commune_scope() -> None:
    assert ApiClient("a", "officer", None).can_see_commune("C09")
    scoped = ApiClient("b", "officer", frozenset({"C01"}))
    assert scoped.can_see_commune("C01")
    assert not scoped.can_see_commune("C02")


def test_keys_are_random_and_hashed_with_sha256() -> None:
    key = generate_key()
    assert key.startswith("vbsp_") and len(key) >= 45 and key != generate_key()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(key))
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def entry(cid: str = "a", role: str = "officer", communes: object = None, h: str = H1) -> dict:
    return {"client_id": cid, "role": role, "communes": communes, "key_sha256": h}


def write(path: Path, clients: list) -> Path:
    path.write_text(json.dumps({"clients": clients}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("second", "rule"),
    [
        (entry("b", role="boss", h=H2), "unknown role 'boss'"),
        (entry("b", h="ABC"), "key_sha256 must be 64 lowercase hex digits"),
        (entry("a", h=H2), "duplicate client_id (also clients[0])"),
        (entry("b", h=H1), "duplicate key_sha256 (also clients[0])"),
        ({"client_id": "b", "communes": None, "key_sha256": H2}, "missing field 'role'"),
        ({**entry("b", h=H2), "key": "x"}, "unknown field(s) 'key'"),
        (entry("b", communes=[], h=H2), "communes must be null"),
        (entry("", h=H2), "client_id must be a non-empty string"),
    ],
)
def test_keys_file_errors_name_file_entry_and_rule(tmp_path: Path, second: dict, rule: str) -> None:
    path = write(tmp_path / "keys.json", [entry(), second])
    with pytest.raises(ValueError) as err:
        read_keys_file(path)
    assert str(err.value).startswith(f"{path}: clients[1]: ")
    assert rule in str(err.value)


def test_keys_file_must_be_an_object_with_clients(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="a.json: not valid JSON"):
        read_keys_file(tmp_path / "a.json")
    (tmp_path / "b.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match=r'expected an object \{"clients"'):
        read_keys_file(tmp_path / "b.json")


def test_add_client_stores_only_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    k1 = add_client(path, "officer-1", "officer", ["C02", "C01"])
    k2 = add_client(path, "data-1", "data", None)
    text = path.read_text(encoding="utf-8")
    assert k1 not in text and k2 not in text
    assert hash_key(k1) in text and hash_key(k2) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_keys_file(path) == [
        (ApiClient("officer-1", "officer", frozenset({"C01", "C02"})), hash_key(k1)),
        (ApiClient("data-1", "data", None), hash_key(k2)),
    ]
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temp file left


def test_add_client_refuses_bad_clients_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    add_client(path, "a", "officer", None)
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="client_id 'a' already exists"):
        add_client(path, "a", "data", None)
    with pytest.raises(ValueError, match="unknown role 'root'"):
        add_client(path, "b", "root", None)
    assert path.read_text(encoding="utf-8") == before
    assert not (tmp_path / "new.json").exists()
    with pytest.raises(ValueError):
        add_client(tmp_path / "new.json", "c", "root", None)
    assert not (tmp_path / "new.json").exists()


def rows(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["client_id"]: dict(r) for r in conn.execute(sa.select(api_clients)).mappings()}


def test_sync_inserts_updates_and_deactivates(db: Engine) -> None:
    a = ApiClient("a", "officer", frozenset({"C01"}))
    b = ApiClient("b", "inspector", None)
    assert sync_clients(db, [(a, H1), (b, H2)]) == 2
    assert lookup(db, "k1") == a
    assert lookup(db, "k2") == b
    a2 = ApiClient("a", "data", None)
    assert sync_clients(db, [(a2, H3)]) == 1  # a: new key and role; b: removed from the file
    stored = rows(db)
    assert set(stored) == {"a", "b"}  # deactivated, not deleted
    assert stored["b"]["active"] is False and stored["a"]["active"] is True
    assert stored["a"]["communes"] is None and stored["a"]["role"] == "data"
    assert lookup(db, "k1") is None  # old key of a
    assert lookup(db, "k3") == a2
    assert lookup(db, "k2") is None  # inactive
    sync_clients(db, [(a2, H3), (b, H2)])
    assert lookup(db, "k2") == b  # back in the file: active again


def test_sync_lets_a_renamed_client_keep_its_key(db: Engine) -> None:
    sync_clients(db, [(ApiClient("a", "officer", None), H1)])
    renamed = ApiClient("officer-nguyen", "officer", None)
    assert sync_clients(db, [(renamed, H1)]) == 1
    assert lookup(db, "k1") == renamed
    assert rows(db)["a"]["active"] is False


def test_sync_is_one_transaction(db: Engine) -> None:
    sync_clients(db, [(ApiClient("a", "officer", None), H1)])
    clash = [(ApiClient("b", "officer", None), H2), (ApiClient("a", "data", None), H2)]
    with pytest.raises(sa.exc.IntegrityError):  # a cannot take b's hash
        sync_clients(db, clash)
    assert set(rows(db)) == {"a"}
    assert lookup(db, "k1") == ApiClient("a", "officer", None)


def test_lookup_rejects_wrong_keys(db: Engine) -> None:
    sync_clients(db, [(ApiClient("a", "officer", None), H1)])
    assert lookup(db, "k2") is None
    assert lookup(db, "") is None
    assert lookup(db, H1) is None  # the hash itself is not a key


def test_client_cache_keeps_lookups_for_ttl_seconds(
    db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    calls = []
    real = auth._lookup_hash
    monkeypatch.setattr(auth, "_lookup_hash", lambda e, d: calls.append(d) or real(e, d))
    a = ApiClient("a", "officer", None)
    sync_clients(db, [(a, H1)])
    cache = ClientCache(db, ttl=5.0, clock=lambda: now[0])
    assert cache.get("k1") == a and cache.get("k1") == a
    assert cache.get("nope") is None and cache.get("nope") is None
    assert len(calls) == 2
    sync_clients(db, [])
    now[0] += 4.9
    assert cache.get("k1") == a  # still cached
    now[0] += 0.2
    assert cache.get("k1") is None  # expired: deactivation seen
    cache.clear()
    cache.get("k1")
    assert len(calls) == 4
