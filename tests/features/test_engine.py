"""The Dask engine gives the same feature tables, store rows and scores as the local engine.

One ``LocalCluster`` (2 single-threaded worker processes) serves the whole module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features import storage
from features.build import FeatureWindow, write_feature_table
from features.engine import (
    DaskEngine,
    LocalEngine,
    make_engine,
    partitioned_pieces,
    table_pieces,
)
from features.simulator import SimConfig, simulate
from features.validation import ContractViolation
from serving.batch_score import ScoreOptions, score_frame, score_parquet, write_score_parts
from tests.support.cli_app import features_cli
from vbsp_risk.cli import app
from vbsp_state.schema import online_features

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[DaskEngine]:
    """A LocalCluster with 2 worker processes, 1 thread each (as CI runs it)."""
    engine = DaskEngine("local", n_workers=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def three_communes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A district of three communes over one year (so results cross partitions)."""
    out = tmp_path_factory.mktemp("three-communes")
    simulate(out, SimConfig(households=1700, seed=5, start="2024-01", end="2024-12"))
    return out


@pytest.fixture(scope="module")
def three_portfolio(three_communes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three communes' portfolio table, written by the local engine (one row group each)."""
    pieces, _ = partitioned_pieces(three_communes, "portfolio", LocalEngine())
    path = tmp_path_factory.mktemp("three-portfolio") / "portfolio.parquet"
    write_feature_table(pieces, path)
    return path


def _concat(pieces: Iterator[tuple[str, pd.DataFrame | None]]) -> pd.DataFrame:
    return pd.concat([p for _cid, p in pieces if p is not None], ignore_index=True)


def test_engines_are_chosen_by_name() -> None:
    assert isinstance(make_engine("local"), LocalEngine)
    with pytest.raises(ValueError, match="engine must be one of"):
        make_engine("spark")


def test_dask_map_keeps_order_and_window(dask_engine: DaskEngine) -> None:
    out = list(dask_engine.map(pow, range(23), 2))
    assert out == [i**2 for i in range(23)]


def test_small_district_features_are_identical(
    dask_engine: DaskEngine, small_district: Path
) -> None:
    local, export = partitioned_pieces(small_district, "portfolio", LocalEngine())
    dask, dask_export = partitioned_pieces(small_district, "portfolio", dask_engine)
    assert export == dask_export
    pd.testing.assert_frame_equal(_concat(dask), _concat(local))


def test_features_cli_on_an_existing_scheduler_writes_the_same_file(
    dask_engine: DaskEngine, three_communes: Path, three_portfolio: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dask.parquet"
    result = features_cli(
        three_communes, out, "--engine", "dask", "--scheduler", dask_engine.client.scheduler.address
    )
    assert result.exit_code == 0, result.output
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # one per commune, in order
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(three_portfolio))


def test_pieces_from_tables_in_memory_are_identical(
    dask_engine: DaskEngine, three_communes: Path, three_portfolio: Path
) -> None:
    from features.validation import load_tables

    pieces = list(table_pieces(load_tables(three_communes), "portfolio", "2024-12-31", dask_engine))
    assert [c for c, _ in pieces] == ["C01", "C02", "C03"]
    pd.testing.assert_frame_equal(_concat(iter(pieces)), pd.read_parquet(three_portfolio))


def test_month_range_is_checked_as_locally(dask_engine: DaskEngine, three_communes: Path) -> None:
    with pytest.raises(ValueError, match="after the export month"):
        partitioned_pieces(
            three_communes, "portfolio", dask_engine, FeatureWindow(end_month="2031-01")
        )


def test_a_broken_commune_raises_its_report_on_dask(
    dask_engine: DaskEngine, three_communes: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(three_communes, broken)
    loans = storage.read_raw(broken, "loans")
    bad = loans[loans["commune_id"] == "C02"].copy()
    bad.loc[bad.index[0], "amount"] = -5
    storage.write_part(bad, broken, "loans", "C02")
    pieces, _ = partitioned_pieces(broken, "portfolio", dask_engine)
    with pytest.raises(ContractViolation) as err:
        list(pieces)
    assert "amount" in set(err.value.report.frame["column"])


def test_materialize_cli_writes_the_same_store(
    dask_engine: DaskEngine, three_communes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stored(engine_args: list[str], name: str) -> pd.DataFrame:
        url = f"sqlite:///{(tmp_path / f'{name}.db').as_posix()}"
        monkeypatch.setenv("VBSP_RISK_DATABASE_URL", url)
        monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
        result = CliRunner().invoke(
            app, ["materialize", "--data", str(three_communes), *engine_args]
        )
        assert result.exit_code == 0, result.output
        with sa.create_engine(url).connect() as conn:
            rows = pd.read_sql(sa.select(online_features), conn)
        return rows.drop(columns="materialized_at").sort_values(["entity_type", "entity_id"])

    local = stored([], "local")
    dask = stored(["--engine", "dask", "--scheduler", dask_engine.client.scheduler.address], "d")
    pd.testing.assert_frame_equal(dask.reset_index(drop=True), local.reset_index(drop=True))
    assert len(local) > 1500


def test_features_cli_reports_an_unreachable_scheduler(
    three_communes: Path, tmp_path: Path
) -> None:
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = features_cli(
            three_communes,
            tmp_path / "x.parquet",
            "--engine",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",
        )
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler" in result.output


@pytest.fixture(scope="module")
def scored_setup(
    three_communes: Path, three_portfolio: Path
) -> tuple[object, pd.DataFrame, Path, pd.DataFrame]:
    """A small portfolio model, the feature table (in memory and written by commune) and the
    households table."""
    from serving.model_store import from_scorer
    from training.fit import feature_spec, lightgbm_params, model_frame, monotone_constraints
    from training.scorer import Calibrator, Scorer

    path = three_portfolio
    table = pd.read_parquet(path)
    names, categorical = feature_spec(table)
    # the three communes' year has no observed label yet: any target with splits will do
    target = (table["outstanding_principal"] > table["outstanding_principal"].median()).astype(int)
    params = {**lightgbm_params(1, 100, len(table)), "min_data_in_leaf": 50}
    params["monotone_constraints"] = monotone_constraints(names, categorical)
    x = model_frame(table, names, categorical)
    booster = lgb.train(params, lgb.Dataset(x, target), 20)
    scorer = Scorer(
        booster,
        Calibrator("platt", {"a": 1.0, "b": -0.1}),
        names,
        categorical,
        {"view": "portfolio", "label": "trouble_12m"},
    )
    model = from_scorer(scorer, "test-portfolio", "1")
    households = storage.read_raw(three_communes, "households")
    return model, table, path, households


def test_scores_are_identical(
    dask_engine: DaskEngine, scored_setup: tuple[object, pd.DataFrame, Path, pd.DataFrame]
) -> None:
    from serving.portfolio import feature_table_months
    from serving.portfolio import score_frame as whole_score

    model, table, path, households = scored_setup
    frame = feature_table_months(table, 3, households)
    expected = whole_score(model, frame, explain=True)  # type: ignore[arg-type]
    shuffled = frame.sample(frac=1.0, random_state=3)  # communes interleaved: order kept
    pd.testing.assert_frame_equal(
        score_frame(model, shuffled, dask_engine),  # type: ignore[arg-type]
        whole_score(model, shuffled, explain=True).reset_index(drop=True),  # type: ignore[arg-type]
    )
    from_file = score_parquet(model, path, dask_engine, ScoreOptions(3, households))  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(from_file, expected)
    probability = score_parquet(model, path, dask_engine, ScoreOptions(3, explain=None))  # type: ignore[arg-type]
    assert list(probability.columns) == ["household_id", "as_of", "commune_id", "probability"]
    assert probability["probability"].tolist() == expected["probability"].tolist()
    local = score_parquet(model, path, LocalEngine(), ScoreOptions(3, households, explain=False))  # type: ignore[arg-type]
    lean = whole_score(model, frame, explain=False)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(local, lean)


def test_batch_matrix_and_bands_are_the_service_s(
    scored_setup: tuple[object, pd.DataFrame, Path, pd.DataFrame],
) -> None:
    import numpy as np

    from serving.bands import band
    from serving.portfolio import bands, fast_matrix

    model, table, _path, _households = scored_setup
    frame = table.head(400).copy()
    cat = next(iter(model.codes))  # type: ignore[attr-defined]
    frame[cat] = frame[cat].astype("object")
    frame.loc[frame.index[:3], cat] = ["no-such-category", None, np.nan]
    num = next(n for n in model.names if n not in model.codes)  # type: ignore[attr-defined]
    frame[num] = frame[num].astype("float64")
    frame.loc[frame.index[3:5], num] = [np.inf, np.nan]
    expected = model.matrix_from_frame(frame)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(fast_matrix(model, frame), expected)  # type: ignore[arg-type]
    p = np.array([0.0, 0.0499, 0.05, 0.1, 0.19999, 0.2, 1.0])
    assert bands(p).tolist() == [band(v) for v in p]
    with pytest.raises(ValueError, match="outside"):
        bands(np.array([0.1, np.nan]))


def test_workers_write_the_same_scores_per_commune(
    dask_engine: DaskEngine,
    scored_setup: tuple[object, pd.DataFrame, Path, pd.DataFrame],
    tmp_path: Path,
) -> None:
    model, table, path, households = scored_setup
    expected = score_parquet(model, path, LocalEngine(), ScoreOptions(2, households, explain=False))  # type: ignore[arg-type]
    parts = write_score_parts(
        model,  # type: ignore[arg-type]
        path,
        tmp_path / "scores",
        dask_engine,
        ScoreOptions(2, households, explain=False),
    )
    communes = sorted(table["commune_id"].astype(str).unique())
    assert [p.name for p in parts] == [f"part-{c}" for c in communes]
    assert sum(p.rows for p in parts) == len(expected)
    written = pd.concat(
        [pd.read_parquet(tmp_path / "scores" / f"{p.name}.parquet") for p in parts],
        ignore_index=True,
    )
    pd.testing.assert_series_equal(written["probability"], expected["probability"])
    assert written["household_id"].tolist() == expected["household_id"].tolist()
    assert written["band"].tolist() == expected["band"].tolist()
