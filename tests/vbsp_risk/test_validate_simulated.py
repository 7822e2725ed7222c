"""Acceptance: a simulated district validates clean; a copy with injected faults reports each one.

Faults are written into the simulator's own Parquet parts (one commune file per table), the way a
bad export would arrive: a wrong type, a negative amount, an orphan foreign key, a future date, a
duplicated key and an unknown program.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vbsp_risk.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))


def _edit(path: Path, edit) -> None:
    table = pq.read_table(path)
    df = table.to_pandas(date_as_object=False)
    df = edit(df)
    text = {c for c in df.columns if pd.api.types.is_string_dtype(df[c])}
    schema = pa.schema([f.with_type(pa.string()) if f.name in text else f for f in table.schema])
    pq.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), path)


def test_simulated_district_validates_clean(small_district: Path) -> None:
    result = runner.invoke(app, ["validate", str(small_district)])
    assert result.exit_code == 0, result.output


def test_injected_faults_are_each_reported(small_district: Path, tmp_path: Path) -> None:
    data = tmp_path / "faulty"
    shutil.copytree(small_district, data)
    part = "part-C01.parquet"
    loans = pq.read_table(data / "loans" / part).to_pandas()
    lid0, lid1, lid2 = loans["loan_id"].iloc[:3]

    def loans_edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[0, "amount"] = -1_000_000  # negative amount
        df.loc[1, "program"] = "casino"  # unknown program
        return df

    _edit(data / "loans" / part, loans_edit)

    def households_edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({"household_size": str})
        df.loc[0, "household_size"] = "five"  # wrong type (the column arrives as text)
        return df

    _edit(data / "households" / part, households_edit)
    hh0 = pq.read_table(data / "households" / part).column("household_id")[0].as_py()

    def savings_edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[0, "household_id"] = "H-nobody"  # orphan foreign key
        df.loc[1, "txn_date"] = pd.Timestamp("2031-01-05")  # future date
        return pd.concat([df, df.iloc[[2]]], ignore_index=True)  # duplicated key

    _edit(data / "savings" / part, savings_edit)
    sav = pq.read_table(data / "savings" / part).to_pandas()
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["validate", str(data), "--report", str(report)])
    assert result.exit_code == 1, result.output
    doc = json.loads(report.read_text("utf-8"))
    found = {(f["table"], f["key"], f["column"], f["rule"]) for f in doc["failures"]}
    expected = {
        ("loans", f"loan_id={lid0}", "amount", "range"),
        ("loans", f"loan_id={lid1}", "program", "enum"),
        ("households", f"household_id={hh0}", "household_size", "type"),
        ("savings", f"txn_id={sav['txn_id'].iloc[0]}", "household_id", "foreign_key"),
        ("savings", f"txn_id={sav['txn_id'].iloc[1]}", "txn_date", "future_date"),
        ("savings", f"txn_id={sav['txn_id'].iloc[2]}", "txn_id", "unique_key"),
    }
    missing = expected - found
    assert not missing, (missing, sorted(found)[:30])
    assert lid2 not in {k.split("=")[1] for _t, k, _c, _r in found if k}
