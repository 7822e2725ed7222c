"""Train one view's model on a feature table and evaluate it honestly.

:func:`train_view` is the modelling core the CLI and the MLflow layer build on:

1. keep rows with an observed label and split them by time (train / validation / test with
   label-horizon gaps; windows of 24 months instead of 12 when 12 would hold too few positives),
   or by household when the table spans too few months (:mod:`training.split`);
2. optionally add a *pool* of history rows from another view (the portfolio view's monthly
   snapshots, for the application model) to the training window — see :func:`pool_rows`;
3. fit LightGBM with monotone constraints and native categoricals, stop early and calibrate on
   the validation window, and fit the logistic-regression challenger (:mod:`training.fit`);
4. score the test window with the model, the challenger, today's practice rankings, a random
   ranking and — on simulated data — the state and clairvoyant oracles (:mod:`training.rankings`),
   and compute every metric with clustered bootstrap intervals (:mod:`training.evaluate`);
5. repeat steps 3–4 (point estimates) on each rolling backtest window;
6. write plots, tables, ``metrics.json`` and the model card (:mod:`training.report`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.catalog import CATALOG_VERSION, LABELS
from features.feature_table import require_feature_table
from training import report
from training.evaluate import (
    CAPACITY_NOT_COMPUTED,
    N_BOOT,
    evaluate_rankings,
    reliability_table,
)
from training.fit import (
    LEVEL_MONTHS,
    LOGISTIC_MAX_ROWS,
    RARE_EVENT_HANDLING,
    feature_spec,
    fit_calibrator,
    fit_lightgbm,
    fit_logistic,
    level_rows,
    lightgbm_params,
    model_frame,
    monotone_constraints,
)
from training.hazard_level import EXPOSURE_COLUMN, HazardInputs, fit_hazard_level, hazard_inputs
from training.monotone import (
    DEFAULT_MODE,
    MODES,
    TOLERANCE,
    MonotoneChoice,
    choose_constraints,
)
from training.rankings import (
    ORACLE,
    PRACTICE,
    RANDOM,
    STATE_ORACLE,
    STATE_ORACLE_MISSING,
    oracle_proba,
    practice_scores,
    state_oracle_proba,
)
from training.scorer import Scorer
from training.split import (
    Split,
    SplitInfo,
    label_gap_months,
    labelled,
    make_split,
    month_number,
    require_positives,
    window_months,
)
from training.todays_money import MoneyScale

__all__ = ["SplitInfo", "TrainResult", "train_view"]

logger = logging.getLogger(__name__)

MODELS = ("lightgbm", "logistic")
BACKTEST_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ks",
    "calibration_slope",
    "calibration_intercept",
    "precision_top10",
    "capture_top10",
    "capture_at_capacity",
    "predicted_rate",
    "observed_rate",
)
SHAP_ROWS = 5000
BACKTEST_WINDOWS = 3
"""Backtest windows, the main one included (each extra window is one more pair of fits)."""
ORACLE_NOT_REPORTED = ("calibration_slope", "calibration_intercept")
"""Oracle metrics left out: the oracle is 1.0 for households already in a trouble episode at the
snapshot (certain by construction), which drags a logistic calibration slope far below 1
(~0.3 on the portfolio view) although the oracle is the true probability."""
ORACLE_NOTE = (
    "The oracle's calibration slope and intercept are not reported: its probability is 1.0 for "
    "households already in a trouble episode at the snapshot, a certainty the logistic fit "
    "y ~ a + b·logit(p) turns into a slope far below 1; its Brier score and predicted rate are kept."
)


STATE_LABEL = "trouble_12m"
"""The label the simulator's state oracle is a probability of."""
STATE_ORACLE_NOTE = (
    "The state oracle is the simulator's probability of trouble in the 12 months from as_of given "
    "the full hidden state at as_of (future shocks, stress and hazards integrated out): what "
    "perfect knowledge of today achieves. The model's gap to it is what better features could "
    "still recover; the clairvoyant oracle also knows the realised future, so the gap between the "
    "two oracles is what no model can know. Application rows dated inside a month use the state "
    "at the start of their month."
)


def _fill_state(state: np.ndarray) -> tuple[np.ndarray, str]:
    """The state oracle with rows that have no truth row (e.g. a first loan's application, made
    before the household was a borrower the simulator tracked) set to the mean of the others:
    an uninformed guess, so the ceiling is a lower bound there, and a note saying how many."""
    missing = np.isnan(state)
    if not missing.any():
        return state, ""
    fill = float(np.nanmean(state)) if (~missing).any() else 0.0
    note = (
        f"{int(missing.sum()):,} of {len(state):,} rows had no truth row for their month (not yet "
        f"a borrower the simulator tracked): the state oracle gives them the mean {fill:.4f}."
    )
    return np.where(missing, fill, state), note


def _drop_oracle_calibration(metrics: dict[str, dict[str, float]]) -> None:
    m = metrics.get(ORACLE)
    if m is None:
        return
    for key in ORACLE_NOT_REPORTED:
        for suffix in ("", "_lo", "_hi"):
            if key + suffix in m:
                m[key + suffix] = float("nan")


STAGES = (
    "prepare",
    "monotone",
    "fit_lightgbm",
    "calibrate",
    "fit_logistic",
    "evaluate",
    "backtest",
    "report",
)
"""Stages whose wall and CPU time ``train_view`` records in ``params["stage_seconds"]`` and
``params["stage_cpu_seconds"]``."""


class _Timer:
    """Wall and CPU seconds per stage (``with timer("stage"): ...`` adds to that stage).

    CPU seconds are the process's (:func:`time.process_time`): on a shared host wall seconds
    grow with the others' load, CPU seconds much less, so a change is judged on those.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._stage = ""

    def __call__(self, stage: str) -> _Timer:
        self._stage = stage
        return self

    def __enter__(self) -> None:
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        stage = self._stage
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (time.perf_counter() - self._t0)
        self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + (
            time.process_time() - self._c0
        )


@dataclass
class TrainResult:
    """Everything a training run produced.

    Attributes:
        scorer: LightGBM booster + calibrator + feature spec.
        baseline: Fitted scikit-learn pipeline; ``baseline.predict_proba(df[features])[:, 1]``.
        split: Which split was used, why, and what each window holds.
        metrics: Ranking → metric → value on the test window, with ``_lo``/``_hi`` bootstrap
            bounds; rankings ``lightgbm``, ``logistic``, practice rankings, ``random``,
            ``state_oracle`` and ``oracle`` (the clairvoyant one; when truth was given) and
            ``gap_<a>_vs_<b>`` paired differences (``lightgbm`` against every other ranking but
            ``random``, both oracles included).
        backtest: One row per (backtest window, ranking) with point metrics.
        test_frame: Test rows: keys, ``label`` and one score column per ranking.
        artifacts: File name → path of the files written into ``out_dir``.
        params: LightGBM parameters, rounds, calibration, seed, label, view, features ...
        monotone: The monotone constraints chosen and the AUC cost of each group
            (:mod:`training.monotone`).
    """

    scorer: Scorer
    baseline: Any
    split: SplitInfo
    metrics: dict[str, dict[str, float]]
    backtest: pd.DataFrame
    test_frame: pd.DataFrame
    artifacts: dict[str, Path] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    monotone: MonotoneChoice | None = None


@dataclass
class Pool:
    """History rows from another view that may join the training window (see :func:`pool_rows`).

    Attributes:
        rows: Labelled rows with every model feature (absent ones as missing values).
        months: Calendar month number of each row's ``as_of``.
        gap: Label gap of the pool's snapshots (:func:`training.split.label_gap_months`).
        source: What the rows are (recorded with the run).
    """

    rows: pd.DataFrame
    months: np.ndarray
    gap: int
    source: str


POOL_NOTE = (
    "The application view has one row per application (about 2,400 a year, ~120 positives), "
    "too few for a booster; the same households' monthly portfolio snapshots carry the same "
    "history, group, commune and hazard features with the same label definition. Portfolio rows "
    "whose label horizon ends before the validation window starts join the training window (the "
    "application's own fields are missing on them, which LightGBM routes natively); early "
    "stopping, calibration and every metric use application rows only. The logistic challenger "
    "is trained on the same pooled rows, so the comparison measures the model, not the data."
)


def make_pool(pool: pd.DataFrame, label: str, names: list[str], horizon: int, source: str) -> Pool:
    """Labelled pool rows restricted to the model's features (missing ones added as NaN)."""
    rows, _ = labelled(pool, label)
    keep = [c for c in ("household_id", "as_of", "commune_id") if c in rows.columns]
    cols = {c: rows[c] for c in keep}
    for n in names:
        cols[n] = rows[n] if n in rows.columns else pd.Series(np.nan, index=rows.index)
    cols[label] = rows[label]
    out = pd.DataFrame(cols)
    return Pool(out, month_number(out["as_of"]), label_gap_months(out["as_of"], horizon), source)


def pool_rows(data: pd.DataFrame, split: Split, pool: Pool | None) -> np.ndarray:
    """Positions of the pool rows allowed into ``split``'s training window.

    A pool row may train the model only if its label horizon ends before the validation window's
    first snapshot (the same gap rule as the split's own windows) and its snapshot is not after
    the training window's last month. None for a household split (households would cross sides).
    """
    if pool is None or split.info.kind != "time" or not len(split.valid):
        return np.array([], dtype="int64")
    valid_start = int(month_number(data["as_of"].iloc[split.valid]).min())
    train_end = int(month_number(data["as_of"].iloc[split.train]).max())
    last = min(train_end, valid_start - pool.gap)
    return np.flatnonzero(pool.months <= last)


@dataclass
class _Fitted:
    scorer: Scorer
    baseline: Any
    info: dict[str, Any]
    monotone: MonotoneChoice | None = None


def _fit(
    data: pd.DataFrame,
    label: str,
    split: Split,
    names: list[str],
    categorical: dict[str, list[str]],
    seed: int,
    meta: dict[str, Any],
    timer: _Timer,
    num_boost_round: int | None = None,
    pool: Pool | None = None,
    train_months: int | None = None,
    monotone: str | list[int] = DEFAULT_MODE,
    tolerance: float = TOLERANCE,
    hazards: HazardInputs | None = None,
) -> _Fitted:
    """Fit booster, calibrator and challenger on one split.

    ``num_boost_round`` given (backtest refits): exactly that many rounds, no early stopping,
    so a backtest window measures the main model's recipe rather than a new search. ``pool``
    given: its allowed rows (:func:`pool_rows`) join the training window of both models.
    ``train_months`` given: only the latest that many snapshot months of the training window
    train the models (:func:`recent_rows`). ``monotone``: a mode of :mod:`training.monotone`
    (chosen on this split's validation window, within ``tolerance``), or the constraints
    themselves (backtest refits reuse the main model's). ``hazards`` given: the calibrated level
    takes the coming year's hazards out (:mod:`training.hazard_level`).
    """
    money = MoneyScale.from_params(meta.get("money"))
    inputs = MoneyScale.inputs(names, money)
    with timer("prepare"):
        own = recent_rows(data, split, train_months)
        train = data.iloc[own]
        pooled = pool_rows(data, split, pool)
        pool_info: dict[str, Any] = {}
        if pool is not None:
            extra = pool.rows.iloc[pooled]
            pool_info = {
                "source": pool.source,
                "rows": len(extra),
                "positives": int(extra[label].astype("int64").sum()) if len(extra) else 0,
                "start": extra["as_of"].min().strftime("%Y-%m-%d") if len(extra) else None,
                "end": extra["as_of"].max().strftime("%Y-%m-%d") if len(extra) else None,
                "own_rows": len(train),
            }
            if len(extra):
                train = pd.concat(
                    [extra[[*inputs, label]], train[[*inputs, label]]], ignore_index=True
                )
        exposure = (
            hazards.of_training(
                data.iloc[own], pool.rows.iloc[pooled] if pool is not None else None
            )
            if hazards is not None
            else None
        )
        y_train = train[label].astype("int64").to_numpy()
        y_valid = data[label].iloc[split.valid].astype("int64").to_numpy()
        params = lightgbm_params(seed, int(y_train.sum()), len(y_train))
        catalog = monotone_constraints(names, categorical)
        x_train = model_frame(train, names, categorical, money)
        x_valid = model_frame(data.iloc[split.valid], names, categorical, money)
        logit_rows, logit_y = logistic_sample(train, y_train, seed)
        used = _describe_used(data, label, own, split, train_months)
        del train  # only the model frame and the challenger's sample are needed from here
    choice = None
    if isinstance(monotone, str):
        with timer("monotone"):
            choice = choose_constraints(
                monotone,
                names,
                catalog,
                x_train,
                y_train,
                x_valid,
                y_valid,
                params,
                seed,
                tolerance,
            )
        constraints = choice.constraints
    else:
        constraints = list(monotone)
    with timer("fit_lightgbm"):
        if num_boost_round is None:
            booster, info = fit_lightgbm(x_train, y_train, x_valid, y_valid, params, constraints)
        else:
            booster, info = fit_lightgbm(
                x_train,
                y_train,
                x_valid,
                y_valid,
                params,
                constraints,
                max_rounds=num_boost_round,
                early_stopping_rounds=0,
            )
    with timer("calibrate"):
        hazard_info: dict[str, float] | str = "not applied"
        recent = latest_months(data, split.valid, LEVEL_MONTHS)
        raw_valid = booster.predict(x_valid)
        calibrator, reason = fit_calibrator(raw_valid, y_valid, recent)
        if hazards is not None:
            valid = data.iloc[split.valid]
            rows = level_rows(calibrator, y_valid, recent)
            history = data[data["as_of"] <= valid["as_of"].max()]
            level, why = fit_hazard_level(
                lambda: booster.predict(x_train),
                y_train,
                exposure,
                calibrator(raw_valid)[rows],
                y_valid[rows],
                hazards.exposure(valid)[rows],
                hazards.climate(history),
                seed,
            )
            reason = f"{reason}; {why}"
            if level is not None:
                calibrator = calibrator.with_params(hazard=level.to_params())
                hazard_info = {"beta": level.beta, "shift": level.shift}
    scorer = Scorer(
        booster, calibrator, list(names), dict(categorical), {**meta, "calibration_reason": reason}
    )
    with timer("fit_logistic"):
        baseline = fit_logistic(
            challenger_rows(logit_rows, names, money), logit_y, names, categorical, seed
        )
    info = {
        **info,
        "lightgbm_params": params,
        "monotone_constraints": dict(zip(names, constraints, strict=True)),
        "calibration_method": calibrator.method,
        "calibration_reason": reason,
        "hazard_level": hazard_info,
        "train_end": split.info.windows["train"]["end"],
        "train_rows_used": used,
        "pool": pool_info,
    }
    return _Fitted(scorer, baseline, info, choice)


def challenger_rows(rows: pd.DataFrame, names: list[str], money: MoneyScale | None) -> pd.DataFrame:
    """The logistic challenger's input: the model's features, money read as the booster reads
    it (:mod:`training.todays_money`), so the comparison measures the learner, not the inputs."""
    if money is None:
        return rows[names]
    return money.frame(rows[[*names, money.scale]])[names]


def latest_months(data: pd.DataFrame, pos: np.ndarray, months: int) -> np.ndarray | None:
    """Mask over ``pos`` of the rows in the latest ``months`` snapshot months of ``pos``
    (``None`` when ``pos`` is empty)."""
    if not len(pos):
        return None
    m = month_number(data["as_of"].iloc[pos])
    return m > int(m.max()) - months


def recent_rows(data: pd.DataFrame, split: Split, train_months: int | None) -> np.ndarray:
    """Positions of the training window's rows of its latest ``train_months`` snapshot months
    (all of them when ``None``, or for a household split)."""
    if train_months is None or split.info.kind != "time" or not len(split.train):
        return split.train
    months = month_number(data["as_of"].iloc[split.train])
    return split.train[months > int(months.max()) - train_months]


def logistic_sample(
    train: pd.DataFrame, y: np.ndarray, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows :func:`training.fit.fit_logistic` would sample from ``train`` (same seed, same
    rows), taken early so the whole training frame need not be kept for the challenger."""
    if len(train) <= LOGISTIC_MAX_ROWS:
        return train, y
    keep = np.sort(np.random.default_rng(seed).choice(len(train), LOGISTIC_MAX_ROWS, replace=False))
    return train.iloc[keep], y[keep]


def _describe_used(
    data: pd.DataFrame, label: str, own: np.ndarray, split: Split, train_months: int | None
) -> dict[str, Any]:
    """The table's own rows that trained the models (the pool's are in ``pool``)."""
    as_of = data["as_of"].iloc[own]
    return {
        "train_months": train_months,
        "rows": len(own),
        "window_rows": len(split.train),
        "positives": int(data[label].iloc[own].astype("int64").sum()),
        "start": as_of.min().strftime("%Y-%m-%d") if len(own) else None,
        "end": as_of.max().strftime("%Y-%m-%d") if len(own) else None,
    }


def _test_frame(
    data: pd.DataFrame,
    pos: np.ndarray,
    label: str,
    fitted: _Fitted,
    names: list[str],
    oracles: dict[str, np.ndarray],
    seed: int,
    hazards: HazardInputs | None = None,
) -> pd.DataFrame:
    rows = data.iloc[pos]
    keys = [c for c in ("household_id", "as_of", "commune_id", "loan_id") if c in rows.columns]
    frame = rows[keys].reset_index(drop=True)
    frame["label"] = rows[label].astype("int64").to_numpy()
    frame["lightgbm"] = fitted.scorer.predict_proba(rows)
    challenger = challenger_rows(rows, names, fitted.scorer.money)
    frame["logistic"] = fitted.baseline.predict_proba(challenger)[:, 1]
    for name, s in practice_scores(rows, seed).items():
        frame[name] = s
    for name, values in oracles.items():
        frame[name] = values[pos]
    if hazards is not None:
        frame[EXPOSURE_COLUMN] = hazards.exposure(rows)
    return frame


def _rankers(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    names = [n for n in (*MODELS, *PRACTICE, RANDOM, STATE_ORACLE, ORACLE) if n in frame.columns]
    probas = [n for n in (*MODELS, STATE_ORACLE, ORACLE) if n in frame.columns]
    return names, probas


def _gaps(rankers: list[str]) -> list[tuple[str, str]]:
    others = [n for n in rankers if n != "lightgbm" and n != RANDOM]
    return [("lightgbm", n) for n in others]


def _enough(win: Split, label: str) -> bool:
    """Whether a backtest window holds enough positives to refit on (the main one always does,
    :func:`training.split.require_positives` checked it); a short older window is left out."""
    try:
        require_positives(win, label)
    except ValueError as err:
        logger.warning("backtest window %s left out: %s", win.info.params.get("window"), err)
        return False
    return True


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def train_view(
    table: pd.DataFrame,
    label: str,
    view: str,
    out_dir: Path,
    seed: int = 42,
    truth: pd.DataFrame | None = None,
    disbursed: pd.Series | None = None,
    capacity_per_commune_month: int = 5,
    n_boot: int = N_BOOT,
    pool: pd.DataFrame | None = None,
    pool_source: str = "portfolio view",
    train_months: int | None = None,
    contract_checked: bool = False,
    monotone: str = DEFAULT_MODE,
    monotone_tolerance: float = TOLERANCE,
    hazards: pd.DataFrame | None = None,
) -> TrainResult:
    """Train, evaluate and report one model on a feature table.

    Args:
        table: A feature table following the contract (``docs/feature-table.md``).
        label: Label column to predict (e.g. ``trouble_12m``).
        view: ``portfolio`` or ``application`` (recorded with the model).
        out_dir: Folder for the report files (created).
        seed: Seed of LightGBM, the household split, the random ranking and the bootstrap.
        truth: The simulator's ``truth/`` table, for the oracle rankings (simulated data only;
            the state oracle needs its ``p_trouble_12m_state`` column and the label
            ``trouble_12m``, else it is skipped with a note in ``params["state_oracle_note"]``).
        disbursed: Pay-out date by ``loan_id`` (the bank's ``loans``): application rows get
            the state oracle of the first state holding their loan
            (:func:`training.rankings.state_oracle_proba`).
        capacity_per_commune_month: Visits per commune and month for the capacity metrics.
        n_boot: Bootstrap replicates for the test-window intervals.
        pool: Another feature table with the same label (the portfolio view, for the
            application model) whose rows older than each validation window join the training
            window (:data:`POOL_NOTE`); ``None``: the table's own rows only.
        pool_source: What ``pool`` is (recorded).
        train_months: Train on the latest that many snapshot months of each training window
            only (validation, calibration and test windows are untouched; ``None``: all months,
            the default). Bounds memory and time on a province's ten years (see
            ``docs/scale.md``).
        monotone: ``catalog``, ``auto`` (default) or ``off``: which of the catalog's monotone
            constraints the booster is held to (:mod:`training.monotone`; chosen on the main
            split's validation window, reused by the backtest refits).
        monotone_tolerance: Validation AUC a group of constraints may cost and still be kept
            (``auto``; :data:`training.monotone.TOLERANCE`).
        hazards: The bank's ``hazard_events``: the calibrated level then takes the coming
            year's hazards out (:mod:`training.hazard_level`; needs ``commune_id``). ``None``:
            the level is the validation window's realised rate, as recorded in the reason.
        contract_checked: The table was checked against the contract as stored
            (:func:`training.training_table.read_training_table` reads compact dtypes after
            checking each row group), so it is not checked again here.

    Returns:
        The :class:`TrainResult`.

    Raises:
        features.feature_table.FeatureTableError: If ``table`` breaks the contract.
        ValueError: If no labelled rows remain.
        training.split.TooFewPositivesError: If a train, validation or test window holds fewer
            than :data:`training.split.MIN_POSITIVES` positives or negatives (a ``ValueError``).
    """
    started = time.perf_counter()
    timer = _Timer()
    timer("prepare").__enter__()
    if train_months is not None and train_months < 1:
        raise ValueError(f"train_months must be at least 1, not {train_months}")
    if monotone not in MODES:
        raise ValueError(f"monotone mode must be one of {list(MODES)}, not {monotone!r}")
    if not contract_checked:
        require_feature_table(table, label)
    definition = LABELS.get(label)
    horizon = definition.horizon_months if definition else 12
    data, n_null = labelled(table, label)
    if data.empty:
        raise ValueError(f"no rows with an observed {label}")
    names, categorical = feature_spec(data)
    money = MoneyScale.of(names, list(data.columns))
    inputs = MoneyScale.inputs(names, money)
    months, months_reason = window_months(data, label, horizon)
    split, windows = make_split(
        data,
        label,
        horizon=horizon,
        valid_months=months,
        test_months=months,
        step_months=max(6, months // 2),
        max_windows=BACKTEST_WINDOWS,
        seed=seed,
        null_label_rows=n_null,
    )
    split.info.params["window_months_reason"] = months_reason
    hazard_in, hazard_note = hazard_inputs(data, hazards, horizon)
    if hazard_in is not None and pool is not None and "commune_id" not in pool.columns:
        hazard_in, hazard_note = None, "hazard level not applied: the pool table has no commune_id"
    require_positives(split, label)
    windows = [w for w in windows if _enough(w, label)]
    pooled = make_pool(pool, label, inputs, horizon, pool_source) if pool is not None else None
    oracles: dict[str, np.ndarray] = {}
    state_note = ""
    if truth is not None:
        state = state_oracle_proba(data, truth, disbursed) if label == STATE_LABEL else None
        if state is not None:
            oracles[STATE_ORACLE], state_note = _fill_state(state)
        else:
            state_note = (
                STATE_ORACLE_MISSING
                if label == STATE_LABEL
                else (
                    f"State oracle not shown: the simulator computes it for {STATE_LABEL}, not {label}."
                )
            )
        oracles[ORACLE] = oracle_proba(data, truth, horizon)
    truth = None  # a province's truth table is large; only the oracle columns are kept
    meta = {
        "label": label,
        "view": view,
        "catalog_version": CATALOG_VERSION,
        "seed": seed,
        "split_kind": split.info.kind,
        "train_end": split.info.windows["train"]["end"],
        **({"money": money.to_params()} if money is not None else {}),
    }
    timer.__exit__()

    fitted = _fit(
        data,
        label,
        split,
        names,
        categorical,
        seed,
        meta,
        timer,
        pool=pooled,
        train_months=train_months,
        monotone=monotone,
        tolerance=monotone_tolerance,
        hazards=hazard_in,
    )
    choice = fitted.monotone
    with timer("evaluate"):
        test_frame = _test_frame(data, split.test, label, fitted, names, oracles, seed, hazard_in)
        rankers, probas = _rankers(test_frame)
        scores = {n: test_frame[n].to_numpy("float64") for n in rankers}
        metrics = evaluate_rankings(
            test_frame,
            scores,
            probas,
            "label",
            capacity_per_commune_month,
            n_boot,
            seed,
            gaps=_gaps(rankers),
        )
        _drop_oracle_calibration(metrics)

    backtest_rows = []
    rounds = int(fitted.info["num_boost_round"])
    backtest_timer = _Timer()
    for k, win in enumerate(windows):
        if k == 0:
            win_metrics, win_fit = metrics, fitted
        else:
            win_fit = _fit(
                data,
                label,
                win,
                names,
                categorical,
                seed,
                meta,
                backtest_timer,
                num_boost_round=rounds,
                pool=pooled,
                train_months=train_months,
                monotone=choice.constraints,
                hazards=hazard_in,
            )
            with backtest_timer("evaluate"):
                frame = _test_frame(data, win.test, label, win_fit, names, oracles, seed)
                win_metrics = evaluate_rankings(
                    frame,
                    {n: frame[n].to_numpy("float64") for n in rankers},
                    probas,
                    "label",
                    capacity_per_commune_month,
                    0,
                    seed,
                )
                _drop_oracle_calibration(win_metrics)
        w = win.info.windows
        for name in rankers:
            backtest_rows.append(
                {
                    "window": k,
                    "train_end": w["train"]["end"],
                    "valid_start": w["valid"]["start"],
                    "test_start": w["test"]["start"],
                    "test_end": w["test"]["end"],
                    "test_rows": w["test"]["rows"],
                    "test_positives": w["test"]["positives"],
                    "num_boost_round": win_fit.info["num_boost_round"],
                    "ranker": name,
                    **{m: win_metrics[name].get(m, float("nan")) for m in BACKTEST_METRICS},
                }
            )
    backtest = pd.DataFrame(backtest_rows)
    timer.seconds["backtest"] = sum(backtest_timer.seconds.values())
    timer.cpu_seconds["backtest"] = sum(backtest_timer.cpu_seconds.values())

    timer("report").__enter__()
    params = {
        **fitted.info,
        "seed": seed,
        "label": label,
        "view": view,
        "features": names,
        "categorical": categorical,
        "catalog_version": CATALOG_VERSION,
        "rare_event_handling": RARE_EVENT_HANDLING,
        "capacity_per_commune_month": capacity_per_commune_month,
        "n_boot": n_boot,
        "train_months": train_months,
        "logistic_max_rows": LOGISTIC_MAX_ROWS,
        "backtest_refits": (
            f"each backtest window refits LightGBM with the main model's {rounds} rounds (no early "
            "stopping), calibrates on its own validation window and refits the challenger"
        ),
        "bootstrap": "households resampled with replacement (clustered), percentile 95% intervals",
        "horizon_months": horizon,
        "window_months": months,
        "window_months_reason": months_reason,
        "pool_note": POOL_NOTE if pooled is not None else "",
        "oracle_note": ORACLE_NOTE if ORACLE in oracles else "",
        "state_oracle_note": f"{STATE_ORACLE_NOTE} {state_note}".strip()
        if STATE_ORACLE in oracles
        else state_note,
        "capacity_note": "" if "commune_id" in data.columns else CAPACITY_NOT_COMPUTED,
        "monotone": choice.summary(),
        "hazard_level_note": hazard_note,
    }

    reliability = pd.concat(
        [reliability_table(test_frame["label"], test_frame[n], 10, n) for n in probas],
        ignore_index=True,
    )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(test_frame), min(SHAP_ROWS, len(test_frame)), replace=False))
    x_shap = model_frame(data.iloc[split.test[pick]], names, categorical, fitted.scorer.money)
    shap = report.shap_values(fitted.scorer.booster, x_shap)
    params["shap_mean_abs"] = {k: float(v) for k, v in shap.items()}
    card = report.model_card(
        label=label,
        label_description=definition.description_en if definition else "(not a catalog label)",
        view=view,
        split=split.info.to_dict(),
        params=params,
        metrics=metrics,
        backtest=backtest,
        top_features=list(shap.index),
        capacity=capacity_per_commune_month,
        n_boot=n_boot,
        monotone=choice.markdown(),
    )
    out = Path(out_dir)
    artifacts = report.write_report(
        out,
        booster=fitted.scorer.booster,
        shap=shap,
        test_frame=test_frame,
        rankers=rankers,
        reliability=reliability,
        backtest=backtest,
        card=card,
    )
    timer.__exit__()
    params["stage_seconds"] = {k: round(v, 3) for k, v in timer.seconds.items()}
    params["stage_cpu_seconds"] = {k: round(v, 3) for k, v in timer.cpu_seconds.items()}
    params["backtest_stage_seconds"] = {k: round(v, 3) for k, v in backtest_timer.seconds.items()}
    params["train_seconds"] = round(time.perf_counter() - started, 2)
    doc = {"metrics": metrics, "split": split.info.to_dict(), "params": params}
    (out / "metrics.json").write_text(json.dumps(_clean(doc), indent=2, sort_keys=True))
    artifacts["metrics.json"] = out / "metrics.json"
    lg = metrics["lightgbm"]
    logger.info(
        "%s/%s: test AUC %.3f [%.3f, %.3f], capture top10 %.3f, %.1fs",
        view,
        label,
        lg["roc_auc"],
        lg.get("roc_auc_lo", np.nan),
        lg.get("roc_auc_hi", np.nan),
        lg["capture_top10"],
        params["train_seconds"],
    )
    return TrainResult(
        scorer=fitted.scorer,
        baseline=fitted.baseline,
        split=split.info,
        metrics=metrics,
        backtest=backtest,
        test_frame=test_frame,
        artifacts=artifacts,
        params=params,
        monotone=choice,
    )
