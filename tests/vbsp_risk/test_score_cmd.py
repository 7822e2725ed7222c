"""``vbsp-risk score --engine local|dask``: the same scores from both engines, in the database
or written by the workers as one Parquet file per commune."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.support.served import Served
from vbsp_risk.cli import app

pytest.importorskip("distributed")

COLUMNS = (
    "household_id",
    "as_of",
    "commune_id",
    "village_id",
    "group_id",
    "probability",
    "band",
    "outstanding",
    "exposure",
    "reasons",
    "model_version",
)


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A LocalCluster with 2 single-threaded worker processes (as CI runs it)."""
    from features.engine import DaskEngine

    engine = DaskEngine("local", n_workers=2)
    yield engine.client.scheduler.address
    engine.close()


@pytest.fixture(scope="module")
def by_row_groups(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served portfolio table rewritten in 4 row groups, so the one-commune district is
    several tasks (and several row groups of one commune's file with ``--out``)."""
    table = pd.read_parquet(served.features["portfolio"]).sort_values("household_id")
    path = tmp_path_factory.mktemp("by-row-groups") / "portfolio.parquet"
    pq.write_table(
        pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=len(table) // 4 + 1
    )
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    return path


def _score(
    served: Served,
    features: Path,
    data: Path,
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
) -> tuple[int, str]:
    monkeypatch.setenv("VBSP_RISK_DATABASE_URL", f"sqlite:///{db.as_posix()}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served.tracking_uri)
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(db.parent / "state"))
    args = ["score", "--features", str(features), "--months", "3", "--data", str(data), *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _stored(db: Path) -> pd.DataFrame:
    with sa.create_engine(f"sqlite:///{db.as_posix()}").connect() as conn:
        rows = pd.read_sql(sa.text("SELECT * FROM portfolio_scores"), conn)
    return rows[list(COLUMNS)].sort_values(["household_id", "as_of"], ignore_index=True)


def test_dask_scores_are_the_local_ones(
    served: Served,
    small_district: Path,
    by_row_groups: Path,
    dask_scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out = _score(served, by_row_groups, small_district, tmp_path / "local.db", monkeypatch)
    assert code == 0, out
    code, out = _score(
        served,
        by_row_groups,
        small_district,
        tmp_path / "dask.db",
        monkeypatch,
        "--engine",
        "dask",
        "--scheduler",
        dask_scheduler,
    )
    assert code == 0, out
    local, dask = _stored(tmp_path / "local.db"), _stored(tmp_path / "dask.db")
    assert local["as_of"].nunique() == 3
    assert local["reasons"].str.len().gt(2).any()  # reasons attached
    pd.testing.assert_frame_equal(dask, local)

    code, out = _score(
        served,
        by_row_groups,
        small_district,
        tmp_path / "unused.db",
        monkeypatch,
        "--engine",
        "dask",
        "--scheduler",
        dask_scheduler,
        "--out",
        str(tmp_path / "parts"),
    )
    assert code == 0, out
    files = sorted((tmp_path / "parts").glob("part-*.parquet"))
    assert [f.stem.removeprefix("part-") for f in files] == sorted(local["commune_id"].unique())
    parts = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    parts = parts.sort_values(["household_id", "as_of"], ignore_index=True)
    assert parts["probability"].tolist() == local["probability"].tolist()
    assert parts["reasons"].tolist() == local["reasons"].tolist()


def test_missing_household_and_unreachable_scheduler_are_clear_errors(
    served: Served,
    small_district: Path,
    by_row_groups: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from features import storage

    data = tmp_path / "data"
    households = storage.read_raw(small_district, "households")
    table = pd.read_parquet(by_row_groups, columns=["household_id", "as_of"])
    gone = table.loc[table["as_of"] == table["as_of"].max(), "household_id"].iloc[0]
    (data / "households").mkdir(parents=True)
    kept = households[households["household_id"] != gone]
    kept.to_parquet(data / "households" / "part-all.parquet")
    code, out = _score(served, by_row_groups, data, tmp_path / "s.db", monkeypatch)
    assert code == 1
    assert "absent from the households table" in out
    assert "first: " in out
    # nothing listens on port 9: the same refusal after 2 s of retries instead of Dask's 30
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code, out = _score(
            served,
            by_row_groups,
            small_district,
            tmp_path / "s.db",
            monkeypatch,
            "--engine",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",
        )
    assert code == 2
    assert "cannot reach the Dask scheduler" in out
