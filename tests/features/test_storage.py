"""Reading and writing the bank's tables: CSV as text, Parquet typed, parts by commune."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import storage
from tests.support.tiny_district import tiny_district, write_parquet


def test_csv_is_read_as_text_with_empty_cells_null(tmp_path: Path) -> None:
    (tmp_path / "villages.csv").write_text(
        "village_id,commune_id,name,distance_km\nV1,C1,NA,2.50\nV2,C2,,007\n", encoding="utf-8"
    )
    df = storage.read_raw(tmp_path, "villages")
    assert all(str(t) == "str" for t in df.dtypes)
    assert df["name"].tolist()[0] == "NA"  # only an empty cell is null
    assert pd.isna(df.loc[1, "name"])
    assert df["distance_km"].tolist() == ["2.50", "007"]  # nothing coerced


def test_parquet_parts_are_typed_and_concatenated_in_name_order(tmp_path: Path) -> None:
    t = tiny_district()
    write_parquet(t, tmp_path)
    assert [c for c, _ in storage.iter_commune_parts(tmp_path, "loans")] == ["C1", "C2"]
    loans = storage.read_raw(tmp_path, "loans")
    assert loans["loan_id"].tolist() == ["L1", "L2"]
    assert loans["amount"].dtype == "int64" and loans["rate_pct"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(loans["disbursement_date"])
    assert loans["closed_date"].isna().tolist() == [False, True]
    communes = storage.read_raw(tmp_path, "communes")
    assert communes["is_border"].dtype == bool
    assert list(storage.iter_commune_parts(tmp_path, "communes")) == []


def test_table_paths_prefer_parts_then_parquet_then_csv(tmp_path: Path) -> None:
    t = tiny_district()
    storage.write_csv(t["communes"], tmp_path / "communes.csv")
    assert storage.table_paths(tmp_path, "communes") == [tmp_path / "communes.csv"]
    storage.write_part(t["communes"], tmp_path, "communes", None)
    assert storage.table_paths(tmp_path, "communes") == [tmp_path / "communes.parquet"]
    storage.write_part(t["communes"], tmp_path, "communes", "C1")
    assert storage.table_paths(tmp_path, "communes") == [tmp_path / "communes/part-C1.parquet"]
    assert storage.table_paths(tmp_path, "loans") == []


def test_missing_table_raises(tmp_path: Path) -> None:
    with pytest.raises(storage.MissingTableError, match="table 'loans'"):
        storage.read_raw(tmp_path, "loans")


def test_write_csv_writes_iso_dates_and_empty_nulls(tmp_path: Path) -> None:
    path = tmp_path / "group_leaders.csv"
    storage.write_csv(tiny_district()["group_leaders"], path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "group_id,start_date,end_date,leader_id"
    assert lines[1:3] == ["G1,2018-01-01,2020-12-31,H1", "G1,2021-01-01,,H2"]


def test_parquet_writing_is_deterministic(tmp_path: Path) -> None:
    a = storage.write_part(tiny_district()["loans"], tmp_path / "a", "loans", None)
    b = storage.write_part(tiny_district()["loans"], tmp_path / "b", "loans", None)
    assert a.read_bytes() == b.read_bytes()


def test_manifest_round_trip(tmp_path: Path) -> None:
    assert storage.read_manifest(tmp_path) == {}
    storage.write_manifest(tmp_path, {"seed": 1, "export_date": "2024-12-31"})
    assert storage.read_manifest(tmp_path) == {"export_date": "2024-12-31", "seed": 1}
    assert (tmp_path / "manifest.json").read_text(encoding="utf-8").startswith('{\n  "export_date"')
