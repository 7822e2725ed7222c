"""``run``'s last stage when the gate refused the portfolio candidate: said, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_no_portfolio_champion_skips_scoring_and_still_issues_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from serving.auth import read_keys_file
    from vbsp_risk.run_cmd import _serve_stage

    loans = tmp_path / "data" / "district" / "loans"
    loans.mkdir(parents=True)
    (loans / "part-C01.parquet").touch()  # the demo officer's commune is the first one
    _serve_stage(tmp_path, None, seed=1, port=8000, serve=False)
    out = " ".join(capsys.readouterr().out.split())
    assert "no portfolio champion" in out and "vbsp-risk promote --model-name" in out
    roles = sorted(c.role for c, _ in read_keys_file(tmp_path / "api_keys.json"))
    assert roles == ["admin", "data", "inspector", "officer"]
