"""Training at province scale: the compact training table and ``--train-months``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.feature_table import FeatureTableError, require_feature_table
from training.train import train_view
from training.training_table import read_training_table


def test_compact_table_keeps_values_and_checks_every_row_group(
    small_training_data: tuple[Path, Path], tmp_path: Path
) -> None:
    path, _truth = small_training_data
    stored = pd.read_parquet(path)
    table = read_training_table(path, "trouble_12m")
    assert "overdue_12m" not in table.columns  # other labels stay on disk
    assert len(table) == len(stored)
    for name in table.columns:
        before, after = stored[name], table[name]
        if pd.api.types.is_float_dtype(before.dtype):
            assert after.dtype == "float32", name
            np.testing.assert_allclose(
                after.to_numpy("float64"), before.to_numpy("float64"), rtol=1e-7, err_msg=name
            )
        elif isinstance(before.dtype, np.dtype) and pd.api.types.is_integer_dtype(before.dtype):
            assert after.dtype in ("int8", "int16"), name
            assert (after.to_numpy("int64") == before.to_numpy()).all(), name
        else:
            assert after.dtype == before.dtype, name
            pd.testing.assert_series_equal(after, before, check_names=False)
    assert table.memory_usage(deep=True).sum() < 0.7 * stored.memory_usage(deep=True).sum()

    bad = stored.copy()
    bad["trouble_12m"] = bad["trouble_12m"].astype("Int64")
    bad.loc[bad.index[-1], "trouble_12m"] = 2  # a value the contract forbids, in the last group
    bad_path = tmp_path / "bad.parquet"
    pq.write_table(
        pa.Table.from_pandas(bad, preserve_index=False), bad_path, row_group_size=len(bad) // 3 + 1
    )
    with pytest.raises(FeatureTableError, match=r"bad.parquet row group 2: label trouble_12m"):
        read_training_table(bad_path, "trouble_12m")
    with pytest.raises(FeatureTableError):
        require_feature_table(table, "trouble_12m")  # compact dtypes are not the contract's


def test_train_months_trains_on_the_latest_months_only(
    small_training_data: tuple[Path, Path], tmp_path: Path
) -> None:
    table = read_training_table(small_training_data[0], "trouble_12m")
    r = train_view(
        table,
        "trouble_12m",
        "portfolio",
        tmp_path,
        n_boot=0,
        train_months=12,
        contract_checked=True,
    )
    used, window = r.params["train_rows_used"], r.split.windows["train"]
    assert used["end"] == window["end"]
    start = pd.Timestamp(window["end"]) - pd.DateOffset(months=11)
    assert used["start"] == start.strftime("%Y-%m-%d")
    assert 0 < used["rows"] < used["window_rows"] == window["rows"]
    assert r.params["train_months"] == 12
    assert r.split.windows["valid"]["rows"] > 0  # validation and test windows untouched
    with pytest.raises(ValueError, match="train_months"):
        train_view(
            table, "trouble_12m", "portfolio", tmp_path, train_months=0, contract_checked=True
        )
