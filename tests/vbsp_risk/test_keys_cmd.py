"""``vbsp-risk keys`` through the Typer runner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from serving.auth import hash_key, read_keys_file
from tests.support.cli_app import state_cli
from vbsp_risk.keys_cmd import register

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    return state_cli(register, tmp_path / "state", monkeypatch)


def issued_key(output: str) -> str:
    keys = re.findall(r"vbsp_[A-Za-z0-9_-]{43}", output)
    assert len(keys) == 1, output
    return keys[0]


def test_create_prints_the_key_once_and_stores_its_hash(cli: typer.Typer, tmp_path: Path) -> None:
    args = ["keys", "create", "--client-id", "officer-1", "--role", "officer"]
    result = runner.invoke(cli, [*args, "--commune", "C02", "--commune", "C01"])
    assert result.exit_code == 0, result.output
    key = issued_key(result.output)
    assert "will not be shown again" in result.output
    path = tmp_path / "state" / "api_keys.json"  # the default keys file
    assert key not in path.read_text(encoding="utf-8")
    [(client, digest)] = read_keys_file(path)
    assert (client.client_id, client.role, client.communes) == (
        "officer-1",
        "officer",
        frozenset({"C01", "C02"}),
    )
    assert digest == hash_key(key)


def test_list_shows_clients_but_never_hashes(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    runner.invoke(
        cli, ["keys", "create", "--client-id", "a", "--role", "data", "--keys-file", str(path)]
    )
    runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--client-id",
            "b",
            "--role",
            "inspector",
            "--keys-file",
            str(path),
            "--commune",
            "C03",
        ],
    )
    result = runner.invoke(cli, ["keys", "list", "--keys-file", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 client(s)" in result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "data" in lines["a"] and "all" in lines["a"]
    assert "inspector" in lines["b"] and "C03" in lines["b"]
    for _, digest in read_keys_file(path):
        assert digest not in result.output and digest[:12] not in result.output


def test_create_refuses_an_unknown_role_and_duplicates(cli: typer.Typer, tmp_path: Path) -> None:
    path = str(tmp_path / "keys.json")
    result = runner.invoke(
        cli, ["keys", "create", "--client-id", "x", "--role", "root", "--keys-file", path]
    )
    assert result.exit_code == 2
    assert "unknown role 'root'" in result.output
    assert not re.search(r"vbsp_[A-Za-z0-9_-]{43}", result.output)
    ok = runner.invoke(
        cli, ["keys", "create", "--client-id", "x", "--role", "admin", "--keys-file", path]
    )
    assert ok.exit_code == 0
    again = runner.invoke(
        cli, ["keys", "create", "--client-id", "x", "--role", "admin", "--keys-file", path]
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_list_without_a_keys_file(cli: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["keys", "list", "--keys-file", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "no keys file" in result.output
