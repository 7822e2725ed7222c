"""``vbsp-risk contacts load DIR`` / ``contacts purge``: checked, stored encrypted, never printed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from typer.testing import CliRunner

from serving import contacts
from tests.support.served import PII_KEY
from vbsp_risk.cli import app
from vbsp_state.engine import make_engine
from vbsp_state.schema import household_contacts

runner = CliRunner()
NAME = "Lò Văn Canary-Xq"


def _folder(tmp_path: Path, rows: list[dict]) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "household_contacts.csv", index=False)
    return folder


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    url = f"sqlite:///{(tmp_path / 'service.db').as_posix()}"
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", url)
    monkeypatch.setenv("VBSP_RISK_PII_KEY", PII_KEY)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
    return make_engine(url)


def test_load_seals_rows_and_purge_removes_them(tmp_path: Path, env: sa.Engine) -> None:
    rows = [{"household_id": "H1", "commune_id": "C01", "head_name": NAME, "hamlet": "Xóm 3"}]
    r = runner.invoke(app, ["contacts", "load", str(_folder(tmp_path, rows))])
    assert r.exit_code == 0, r.output
    assert "1 household contacts stored encrypted" in r.output and NAME not in r.output
    with env.connect() as conn:
        ((hid, sealed),) = conn.execute(
            sa.select(household_contacts.c.household_id, household_contacts.c.sealed)
        ).all()
    assert hid == "H1" and NAME.encode() not in bytes(sealed)
    assert contacts.unseal(contacts.cipher(PII_KEY), "H1", bytes(sealed))["head_name"] == NAME
    with pytest.raises(InvalidTag):  # a row moved to another household does not open
        contacts.unseal(contacts.cipher(PII_KEY), "H2", bytes(sealed))
    r = runner.invoke(app, ["contacts", "purge"])
    assert r.exit_code == 0 and "1 household contacts deleted" in r.output
    with env.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(household_contacts)).scalar_one()
            == 0
        )


def test_bad_rows_are_named_and_nothing_is_stored(tmp_path: Path, env: sa.Engine) -> None:
    rows = [
        {"household_id": "H1", "commune_id": "C01", "head_name": NAME, "hamlet": ""},
        {"household_id": "H1", "commune_id": "C01", "head_name": "x" * 81, "hamlet": ""},
    ]
    r = runner.invoke(app, ["contacts", "load", str(_folder(tmp_path, rows))])
    assert r.exit_code == 1
    assert "household_contacts row" in r.output and "head_name" in r.output
    assert "household_id" in r.output  # the duplicate household
    assert NAME not in r.output and "x" * 81 not in r.output
    assert "nothing was stored" in r.output


def test_without_the_pii_key_nothing_is_stored(
    tmp_path: Path, env: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VBSP_RISK_PII_KEY")
    rows = [{"household_id": "H1", "commune_id": "C01", "head_name": NAME, "hamlet": ""}]
    r = runner.invoke(app, ["contacts", "load", str(_folder(tmp_path, rows))])
    assert r.exit_code == 1 and "VBSP_RISK_PII_KEY" in r.output
