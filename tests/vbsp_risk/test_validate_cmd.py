"""``vbsp-risk validate`` and ``vbsp-risk docs`` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.contract_docs import render_contract_docs
from tests.support.tiny_district import tiny_district, write_csv, write_parquet
from vbsp_risk.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))


def test_clean_folder_exits_0_and_writes_default_report(tmp_path: Path) -> None:
    data = write_parquet(tiny_district(), tmp_path / "data")
    result = runner.invoke(app, ["validate", str(data)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    doc = json.loads((tmp_path / "state/reports/validation-report.json").read_text("utf-8"))
    assert doc["ok"] is True and doc["failures"] == []


def test_faults_exit_1_and_report_lists_each(tmp_path: Path) -> None:
    t = tiny_district()
    t["loans"].loc[1, "purpose"] = "gambling"
    t["households"].loc[0, "household_size"] = 0
    t["interest"].loc[3, "session_date"] = t["interest"].loc[3, "session_date"].replace(year=2026)
    data = write_csv(t, tmp_path / "data")
    report = tmp_path / "out/report.json"
    result = runner.invoke(app, ["validate", str(data), "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "3 failure(s)" in result.output and "gambling" in result.output
    doc = json.loads(report.read_text("utf-8"))
    assert doc["failure_count"] == 3
    assert [
        (f["table"], f["key"], f["column"], f["rule"], f["value"]) for f in doc["failures"]
    ] == [
        ("households", "household_id=H1", "household_size", "range", "0"),
        ("loans", "loan_id=L2", "purpose", "enum", "gambling"),
        (
            "interest",
            "loan_id=L2, session_date=2026-05-10",
            "session_date",
            "future_date",
            "2026-05-10",
        ),
    ]


def test_reference_date_option(tmp_path: Path) -> None:
    data = write_parquet(tiny_district(), tmp_path / "data")
    report = tmp_path / "r.json"
    args = ["validate", str(data), "--report", str(report), "--reference-date", "2024-06-30"]
    assert runner.invoke(app, args).exit_code == 1
    assert {f["rule"] for f in json.loads(report.read_text("utf-8"))["failures"]} == {"future_date"}
    bad = runner.invoke(app, ["validate", str(data), "--reference-date", "30/06/2024"])
    assert bad.exit_code == 2


def test_quarantine_option(tmp_path: Path) -> None:
    t = tiny_district()
    t["savings"].loc[2, "amount"] = 0
    data = write_csv(t, tmp_path / "data")
    report, q = tmp_path / "r.json", tmp_path / "q"
    result = runner.invoke(
        app, ["validate", str(data), "--report", str(report), "--quarantine", str(q)]
    )
    assert result.exit_code == 1, result.output
    assert json.loads(report.read_text("utf-8"))["quarantined"] == {"savings": 1}
    assert (q / "savings.csv").exists()


def test_missing_folder_exits_2_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_docs_command_writes_the_contract(tmp_path: Path) -> None:
    result = runner.invoke(app, ["docs", "--out", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "docs/data-contract.md").read_text("utf-8") == render_contract_docs()
