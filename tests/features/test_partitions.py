"""Commune-by-commune loading gives the same feature table as the whole folder, in less memory.

``two_communes`` is the session's two-commune district (``tests/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features import partitions, storage
from features.build import build_feature_table, partitioned_feature_table
from features.validation import ContractViolation, load_tables
from vbsp_risk.cli import app


def test_folder_is_partitioned_in_several_communes(two_communes: Path) -> None:
    assert partitions.is_partitioned(two_communes)
    assert partitions.commune_ids(two_communes) == ["C01", "C02"]


@pytest.mark.parametrize("view", ["portfolio", "application"])
def test_streamed_pieces_equal_the_whole_folder_table(two_communes: Path, view: str) -> None:
    pieces, export = partitioned_feature_table(two_communes, view)
    streamed = pd.concat([p for _cid, p in pieces if p is not None], ignore_index=True)
    whole = build_feature_table(load_tables(two_communes), view, export)
    pd.testing.assert_frame_equal(streamed, whole)


def test_each_commune_view_is_complete_and_valid(two_communes: Path) -> None:
    seen = {cid: t for cid, t in partitions.iter_communes(two_communes)}
    whole = load_tables(two_communes)
    assert sum(len(t["loans"]) for t in seen.values()) == len(whole["loans"])
    for cid, t in seen.items():
        assert (t["households"]["commune_id"] == cid).all()
        assert set(t["group_leaders"]["group_id"]) <= set(
            t["groups"].loc[t["groups"]["commune_id"] == cid, "group_id"]
        )


def test_a_broken_commune_is_reported_and_no_table_is_left(
    two_communes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))  # its validation report
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(two_communes, broken)
    part = broken / "loans" / "part-C02.parquet"
    loans = storage.read_raw(broken, "loans")
    bad = loans[loans["commune_id"] == "C02"].copy()
    bad.loc[bad.index[0], "amount"] = -5
    pq.write_table(pq.read_table(part).set_column(5, "amount", [bad["amount"].to_numpy()]), part)
    with pytest.raises(ContractViolation) as info:
        pieces, _ = partitioned_feature_table(broken, "portfolio")
        list(pieces)
    assert set(info.value.report.frame["rule"]) >= {"range"}
    out = tmp_path / "f.parquet"
    res = CliRunner().invoke(app, ["features", "--data", str(broken), "--out", str(out)])
    assert res.exit_code == 1
    assert not out.exists()
    assert (tmp_path / "state" / "reports" / "validation-report.json").is_file()
