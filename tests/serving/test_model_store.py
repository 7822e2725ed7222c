"""Model lifecycle: numpy scoring equals the scorer's pandas path; reload swaps atomically and
keeps the old model when the new one cannot be loaded; a truncated or corrupt booster file is
refused before LightGBM (which would abort the process) reads it, and a file that is not the one
registered is refused even when LightGBM would read it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from serving.model_checks import (
    BoosterFileError,
    check_booster,
    check_digests,
    check_structure,
    probe_parse,
)
from serving.model_store import ModelHolder, ModelLoadError, load_registered
from tests.support.model_files import change_a_leaf
from tests.support.served import Served
from training.scorer import file_digests

NAMES = {"portfolio": "overdue-risk-portfolio", "application": "overdue-risk-application"}


@pytest.fixture()
def registry_copy(served: Served, tmp_path: Path) -> str:
    """A copy of the served MLflow store (artifacts shared, read-only use)."""
    db = tmp_path / "mlflow.db"
    shutil.copy(served.folder / "mlflow.db", db)
    return f"sqlite:///{db.as_posix()}"


def _vectors(frame: pd.DataFrame, names: list[str]) -> list[dict]:
    """Feature vectors as the service holds them: every model input (the money scale too)."""
    rows = frame[names].astype("object").to_dict("records")
    return [
        {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
        for r in rows
    ]


@pytest.mark.parametrize("view", sorted(NAMES))
def test_numpy_scoring_equals_the_scorer_on_feature_rows(served: Served, view: str) -> None:
    model = load_registered(served.tracking_uri, NAMES[view], "champion")
    table = pd.read_parquet(served.features[view]).tail(300)
    expected = model.scorer.predict_proba(table)
    np.testing.assert_array_equal(model.predict(model.matrix_from_frame(table)), expected)
    np.testing.assert_array_equal(
        model.predict(model.matrix(_vectors(table, model.scorer.inputs))), expected
    )
    contrib = model.contributions(model.matrix_from_frame(table))
    raw = model.scorer.booster.predict(model.matrix_from_frame(table), raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-9)


def test_a_hazard_level_scores_alike_on_the_one_row_and_the_batch_paths(served: Served) -> None:
    from dataclasses import replace

    from serving.model_checks import smoke_check
    from serving.model_store import from_scorer

    champion = load_registered(served.tracking_uri, NAMES["application"], "champion")
    level = {"shift": -0.2, "beta": 0.6, "exposure": [0.0, 0.0, 0.1, 0.5, 2.0]}
    scorer = replace(
        champion.scorer, calibrator=champion.scorer.calibrator.with_params(hazard=level)
    )
    model = from_scorer(scorer, "hazard-level", "1")
    table = pd.read_parquet(served.features["application"]).tail(40)
    smoke_check(model, table[model.scorer.inputs].head(3))
    batch = model.predict(model.matrix_from_frame(table))
    np.testing.assert_allclose(batch, scorer.predict_proba(table), rtol=0, atol=1e-12)
    vectors = _vectors(table, model.scorer.inputs)
    one = [model.predict(model.matrix([v]))[0] for v in vectors[:10]]  # the request's path
    np.testing.assert_allclose(one, batch[:10], rtol=1e-12, atol=1e-15)
    assert not np.allclose(batch, champion.predict(champion.matrix_from_frame(table)))


def test_unknown_category_scores_like_missing(served: Served) -> None:
    model = load_registered(served.tracking_uri, NAMES["application"], "champion")
    vec = _vectors(pd.read_parquet(served.features["application"]).tail(1), model.scorer.inputs)[0]
    unknown = model.predict(model.matrix([{**vec, "main_program": "not-a-program"}]))
    missing = model.predict(model.matrix([{**vec, "main_program": None}]))
    assert unknown[0] == missing[0]


def test_reload_swaps_to_a_new_champion_and_keeps_the_old_when_the_new_is_broken(
    registry_copy: str, tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri=registry_copy, registry_uri=registry_copy)
    holder = ModelHolder()
    assert holder.reload(registry_copy, NAMES, "champion") == {
        "portfolio": "loaded v1",
        "application": "loaded v1",
    }
    old = holder.get("application")
    v1 = client.get_model_version(NAMES["application"], "1")
    files = client.get_model_version_download_uri(NAMES["application"], "1")
    v2 = client.create_model_version(NAMES["application"], files, v1.run_id)
    client.set_registered_model_alias(NAMES["application"], "champion", v2.version)
    report = holder.reload(registry_copy, NAMES, "champion")
    assert report == {"portfolio": "unchanged v1", "application": f"loaded v{v2.version}"}
    assert holder.get("application").version == str(v2.version)
    assert old.version == "1"  # a request holding the old model still has a whole model
    broken_dir = tmp_path / "broken"
    shutil.copytree(Path(files.removeprefix("file://")), broken_dir)
    (broken_dir / "artifacts" / "booster.txt").write_text("tree\nversion=v4\nnot a model")
    v3 = client.create_model_version(NAMES["application"], broken_dir.as_uri(), v1.run_id)
    client.set_registered_model_alias(NAMES["application"], "champion", v3.version)
    report = holder.reload(registry_copy, NAMES, "champion")
    assert report["application"].startswith("failed")
    assert holder.get("application").version == str(v2.version)
    client.delete_registered_model_alias(NAMES["application"], "champion")
    with pytest.raises(ModelLoadError, match="cannot resolve"):
        load_registered(registry_copy, NAMES["application"], "champion")


@pytest.fixture(scope="module")
def booster_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small LightGBM model text, as the training writes it (trees, parameters, trailer)."""
    import lightgbm as lgb

    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=8,
    )
    path = tmp_path_factory.mktemp("booster") / "booster.txt"
    booster.save_model(str(path))
    return path


def test_a_whole_booster_passes_and_every_cut_is_refused_before_lightgbm_reads_it(
    booster_file: Path, tmp_path: Path
) -> None:
    check_booster(booster_file)
    data = booster_file.read_bytes()
    for cut in [*np.linspace(0.02, 0.98, 25), 0.995, 0.999]:
        cut_file = tmp_path / "cut.txt"
        cut_file.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(BoosterFileError, match="truncated or corrupt"):
            check_structure(cut_file)


def test_a_booster_that_crashes_lightgbm_is_an_error_not_a_crash(
    booster_file: Path, tmp_path: Path
) -> None:
    data = bytearray(booster_file.read_bytes())
    start, end = data.index(b"Tree=0"), data.index(b"end of trees")
    for i in range(start + 50, end - 50, max(1, (end - start) // 30)):
        data[i] = ord("X")  # same length: the structure check cannot see it
    broken = tmp_path / "booster.txt"
    broken.write_bytes(bytes(data))
    check_structure(broken)
    with pytest.raises(BoosterFileError, match="corrupt"):
        probe_parse(broken)


def test_application_matrix_equals_the_matrix_of_assembled_vectors(served: Served) -> None:
    import json

    from features.catalog import APPLICATION_FEATURES
    from features.online_store import application_part, assemble_vector

    model = load_registered(served.tracking_uri, NAMES["application"], "champion")
    table = pd.read_parquet(served.features["application"]).tail(40)
    history = [
        {k: v for k, v in vec.items() if k not in APPLICATION_FEATURES}
        for vec in _vectors(table, model.scorer.inputs)
    ]
    categorical = next(iter(model.codes))
    numeric = next(n for n in model.names if n not in model.codes and n not in APPLICATION_FEATURES)
    history[0] = {**history[0], categorical: "not-a-category", numeric: math.inf}
    history[1] = {**history[1], categorical: None, numeric: None}
    stored = [
        {
            "entity_type": "household" if i % 3 else "group",
            "workers": i % 4 or None,
            "features": json.dumps(h) if i % 5 == 0 else h,
        }
        for i, h in enumerate(history)
    ]
    fields = [
        {"program": p, "purpose": "livestock", "amount": a, "term_months": 36, "grace_months": 0}
        for p, a in [("poor_household", 40e6), ("student", 1e6), ("no-such-program", math.nan)]
    ]

    def both(apps: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        parts = [application_part(s, f) for s, f in zip(stored, apps, strict=True)]
        cached = model.application_matrix(stored, parts)
        plain = model.matrix([assemble_vector(s, f) for s, f in zip(stored, apps, strict=True)])
        return cached, plain

    for k in range(3):  # the same stored rows again (from the cache), other applications
        cached, plain = both([fields[(i + k) % 3] for i in range(len(stored))])
        np.testing.assert_array_equal(cached, plain)
    changed = {**stored[2], "features": {**history[2], numeric: 12345.0}}  # a new row object
    stored[2] = changed
    cached, plain = both([fields[0]] * len(stored))
    np.testing.assert_array_equal(cached, plain)
    assert cached[2, model.names.index(numeric)] == 12345.0


def test_files_are_checked_against_their_registered_digests(
    booster_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    shutil.copy(booster_file, folder / "booster.txt")
    (folder / "calibrator.json").write_text('{"method": "none"}')
    tags = {f"sha256.{f}": d for f, d in file_digests(folder).items()} | {"view": "x"}
    assert check_digests(tags, folder) is True
    assert check_digests({"view": "x"}, folder) is False  # nothing registered to check against

    change_a_leaf(folder)
    check_booster(folder / "booster.txt")  # LightGBM reads the edit: only the digest sees it
    with pytest.raises(ModelLoadError, match="booster.txt differs from the file registered"):
        check_digests(tags, folder)
    (folder / "booster.txt").unlink()
    with pytest.raises(ModelLoadError, match="booster.txt is missing"):
        check_digests(tags, folder)
