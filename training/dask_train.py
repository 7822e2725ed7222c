"""Distributed training: the same model, its booster fitted by ``lightgbm.dask`` on a Dask cluster.

``vbsp-risk train --engine dask --scheduler ADDRESS|local`` runs :func:`run_training_dask`: the
whole of :func:`training.pipeline.run_training` — split, pooling, calibration, challenger,
evaluation, backtests, MLflow run and registration — with one step swapped: every booster fit
(the main model and each backtest refit) is :func:`fit_lightgbm_dask` instead of
:func:`training.fit.fit_lightgbm`. Same parameters (:func:`training.fit.lightgbm_params`), same
monotone constraints and native categoricals (the frame of :func:`training.fit.model_frame`,
whose declared categories are identical in every partition), same early-stopping rule.

LightGBM's data-parallel learner keeps an identical model on every worker after each round.
Early stopping is therefore computed by a callback that every worker runs on the whole
validation window (sent once with the task): the workers see the same model and the same rows,
reach the same decision at the same round, and stop together — LightGBM's own
``early_stopping`` would look at each worker's share of the validation rows and could stop the
workers at different rounds.

The result is an ordinary :class:`lightgbm.Booster` (trimmed to its best round), saved by
:class:`training.scorer.Scorer` in the usual three files: the service loads it as before.
Numbers differ slightly from the local engine (rows are binned and bagged per worker), so the
tests compare metrics within a tolerance, not bit for bit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.fit import EARLY_STOPPING_ROUNDS, MAX_ROUNDS

if TYPE_CHECKING:
    from training.pipeline import TrainingRun

logger = logging.getLogger(__name__)

LOGLOSS_EPS = 1e-15  # LightGBM's binary_logloss clips probabilities the same way


def booster_matrix(x: pd.DataFrame) -> np.ndarray:
    """A model frame as LightGBM sees it: categorical codes (missing as NaN) and floats."""
    out = np.empty(x.shape, dtype="float64")
    for j, name in enumerate(x.columns):
        col = x[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy(dtype="float64")
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
    return out


def logloss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log loss (LightGBM's ``binary_logloss``)."""
    p = np.clip(p, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class ValidationStopping:
    """Early stopping on the whole validation window, identical on every worker.

    After each round the new tree's raw scores on the validation matrix are added to a running
    sum (the first tree carries LightGBM's starting average), the log loss is recorded, and
    training stops once ``patience`` rounds pass without a new best — or at the last round —
    with the best round as LightGBM's ``best_iteration``. Deterministic: the same model and rows
    give the same decision on every worker.
    """

    order = 30
    before_iteration = False

    def __init__(self, x_valid: np.ndarray, y_valid: np.ndarray, patience: int) -> None:
        self.x = np.asarray(x_valid, dtype="float64")
        self.y = np.asarray(y_valid, dtype="float64")
        self.patience = patience
        self.raw = np.zeros(len(self.y))
        self.losses: list[float] = []

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        it = env.iteration - env.begin_iteration
        self.raw += env.model.predict(
            self.x, raw_score=True, start_iteration=it, num_iteration=1, num_threads=1
        )
        self.losses.append(logloss(self.y, 1.0 / (1.0 + np.exp(-self.raw))))
        best = int(np.argmin(self.losses))
        if it - best >= self.patience or env.iteration == env.end_iteration - 1:
            score = [("valid", "binary_logloss", self.losses[best], False)]
            raise lgb.callback.EarlyStopException(best, score)


def _dask_frame(x: pd.DataFrame, parts: int) -> Any:
    import dask.dataframe as dd

    return dd.from_pandas(x.reset_index(drop=True), npartitions=parts, sort=True)


def fit_lightgbm_dask(
    client: Any,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    constraints: list[int],
    max_rounds: int = MAX_ROUNDS,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
) -> tuple[lgb.Booster, dict[str, Any]]:
    """:func:`training.fit.fit_lightgbm` with the booster trained by ``DaskLGBMClassifier``.

    The training rows are split into one partition per worker; ``num_threads`` is left to
    ``lightgbm.dask`` (each worker's thread count).

    Returns:
        The booster (trimmed to its best round) and ``{"num_boost_round", "valid_logloss",
        "valid_auc", "engine", "dask_workers"}``.
    """
    from lightgbm.dask import DaskLGBMClassifier

    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    p = {**params, "monotone_constraints": constraints}
    p.pop("num_threads", None)
    x_valid_m = booster_matrix(x_valid)
    y_valid = np.asarray(y_valid, dtype="float64")
    callbacks = []
    if early_stopping_rounds > 0:
        callbacks.append(ValidationStopping(x_valid_m, y_valid, early_stopping_rounds))
    x = _dask_frame(x_train, workers)
    y = _dask_frame(pd.Series(np.asarray(y_train), name="label").to_frame(), workers)["label"]
    model = DaskLGBMClassifier(client=client, n_estimators=max_rounds, **p)
    with warnings.catch_warnings():  # lightgbm.dask sets each worker's threads itself
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(x, y, categorical_feature="auto", callbacks=callbacks or None)
    booster = model.booster_
    best = int(booster.best_iteration) or booster.current_iteration()
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    raw = booster.predict(x_valid_m, num_threads=1)
    info = {
        "num_boost_round": best,
        "valid_logloss": logloss(y_valid, raw),
        "valid_auc": float(roc_auc_score(y_valid, raw)) if len(set(y_valid)) == 2 else np.nan,
        "engine": "dask",
        "dask_workers": workers,
    }
    logger.info("lightgbm.dask on %d workers: %d rounds, valid %s", workers, best, info)
    return booster, info


@contextlib.contextmanager
def dask_fitting(client: Any) -> Iterator[None]:
    """Within the block, :func:`training.train.train_view` fits its boosters on ``client``."""
    from training import train

    original = train.fit_lightgbm
    train.fit_lightgbm = functools.partial(fit_lightgbm_dask, client)
    try:
        yield
    finally:
        train.fit_lightgbm = original


@contextlib.contextmanager
def dask_client(scheduler: str = "local", n_workers: int | None = None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster (``local``)."""
    from features.engine import DaskEngine

    engine = DaskEngine(scheduler, n_workers=n_workers)
    try:
        yield engine.client
    finally:
        engine.close()


def run_training_dask(
    features_path: Path,
    *args: Any,
    scheduler: str = "local",
    client: Any = None,
    **kwargs: Any,
) -> TrainingRun:
    """:func:`training.pipeline.run_training` with its boosters fitted on a Dask cluster.

    Args:
        features_path: Parquet feature table.
        *args: Further positional arguments of ``run_training``.
        scheduler: Scheduler address (``tcp://host:8786``) or ``local`` (a LocalCluster).
        client: An existing ``distributed.Client`` (``scheduler`` is then ignored).
        **kwargs: Keyword arguments of ``run_training``.
    """
    from training.pipeline import run_training

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(scheduler))
        stack.enter_context(dask_fitting(client))
        out = run_training(features_path, *args, **kwargs)
        _tag_run(out.run_id, client)
    return out


def _tag_run(run_id: str, client: Any) -> None:
    """Record on the MLflow run that the booster was trained on Dask, and where."""
    import mlflow

    try:
        info = client.scheduler_info(n_workers=-1)
        tags = {
            "engine": "dask",
            "dask_scheduler": str(client.scheduler.address),
            "dask_workers": str(len(info["workers"])),
        }
        tracker = mlflow.MlflowClient()
        for key, value in tags.items():
            tracker.set_tag(run_id, key, value)
    except Exception as err:  # a tag is not worth failing a registered training for
        logger.warning("could not tag run %s with the Dask engine: %s", run_id, err)
