"""Model fitting: the LightGBM scorer, its calibration, and the logistic-regression challenger.

Rare events. Trouble is rare (a few % of snapshots a year; ``overdue_12m`` far rarer). The
booster is trained on the natural class balance — no ``scale_pos_weight``/``is_unbalance``,
no resampling — because reweighting inflates every probability and makes the calibrator undo
a large, data-dependent distortion. Instead the rarity is handled by regularisation that counts
positives: ``min_sum_hessian_in_leaf`` (the sum of ``p (1 - p)`` in a leaf, about the number of
expected positives when ``p`` is small) grows with the training positives, so no leaf is fitted
to a handful of cases; row and feature subsampling and an L2 penalty add to that. Early stopping
watches the validation log loss (a proper scoring rule; AUC on a few hundred positives is too
noisy to stop on) and the calibrator fitted on the same validation window corrects what is left.

Calibration, chosen by the number of positives in the validation window:

* at least :data:`ISOTONIC_MIN_POSITIVES`: isotonic regression (flexible, needs many positives
  to be stable);
* fewer: Platt scaling on the raw logit (slope and intercept) when the window shows that the
  booster's slope is off — the Platt slope's 95 % interval (from the fit's Fisher information)
  excludes 1 and the window holds at least :data:`SLOPE_MIN_POSITIVES` positives; else
  intercept-only recalibration (the raw logit shifted so that the mean predicted probability
  equals the validation window's trouble rate; slope kept at 1). With a few hundred positives
  an estimated slope is noisy (±0.13 on the default district's application view), and
  re-estimating a slope the booster already has right only adds that noise; but a booster that
  early stopping halted after a few dozen rounds can be under-dispersed by more than the noise
  (application view, 2011-start district: slope 1.36 ± 0.13 on the validation window, 1.22,
  1.43 and 1.42 on the three test windows), and then the estimate is worth its noise. The level
  drifts between years and is what a small window estimates well. Stored as ``platt`` (with
  ``a = 1`` for intercept only; the scorer's file format is unchanged).

A Platt fit with a non-positive slope would invert the ranking, so it falls back to the
intercept-only recalibration and says so. When the validation window is longer than a year (the application
view's 24 months), a parametric calibrator takes its level from the window's latest
:data:`LEVEL_MONTHS` months only (:func:`_recent_level`): the trouble rate drifts between years.

Determinism. ``seed``, ``deterministic=True``, a fixed ``num_threads`` and ``force_col_wise``
make retraining on the same data reproduce the same booster bit for bit.
"""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from features.catalog import FEATURES_BY_NAME, model_inputs
from features.feature_table import feature_columns
from training.evaluate import calibration_fit, calibration_slope_se, roc_auc
from training.scorer import Calibrator, Scorer
from training.todays_money import MoneyScale

logger = logging.getLogger(__name__)

NUM_THREADS = 1
"""Threads of every fit. Two were tried on the shared 2-core host (load average 10–16): the
portfolio view's 200-round fit took 184 s against 170 s for 701 rounds on one thread, and the
``auto`` test fits 288 s against 23 s — OpenMP threads spin while they wait for a core, so on a
busy host a second thread costs far more than it gives."""
ISOTONIC_MIN_POSITIVES = 1000
SLOPE_MIN_POSITIVES = 100
"""Fewest validation positives to test the booster's slope on (:func:`fit_calibrator`)."""
SLOPE_Z = 1.96
"""A Platt slope further than this many standard errors from 1 replaces the booster's own."""
MAX_ROUNDS = 2000
LEARNING_RATE = 0.1
"""Step of each boosting round. 0.05 needed ~700 rounds on the default district's portfolio
view, and with two backtest refits of as many rounds per view training both views took far over
the 3-minute budget; 0.1 halves the rounds (``benchmarks/bench_training.py`` measures it)."""
EARLY_STOPPING_ROUNDS = 50
LOGISTIC_MAX_ROWS = 80_000
LEVEL_MONTHS = 12
"""Latest validation months a parametric calibrator takes its level from (:func:`fit_calibrator`)."""
LEVEL_MIN_POSITIVES = 100
"""Fewest positives those months must hold for the level to be taken from them alone."""
CLIP_SD = 5.0
RARE_EVENT_HANDLING = (
    "natural class balance (no reweighting, no resampling) so raw probabilities stay close to "
    "calibrated; min_sum_hessian_in_leaf scaled to the training positives so every leaf holds "
    "several expected positives; bagging, feature subsampling and L2; early stopping on the "
    "validation log loss; calibration fitted on the validation window"
)


def feature_spec(table: pd.DataFrame) -> tuple[list[str], dict[str, list[str]]]:
    """Model features of a feature table and the category set of each categorical one.

    Catalog features use the catalog's categories; extra categorical columns their dtype's.
    Catalog features kept out of the model (:attr:`features.catalog.Feature.kept_out`) are not
    model features.
    """
    names = model_inputs(feature_columns(table))
    categorical: dict[str, list[str]] = {}
    for name in names:
        declared = FEATURES_BY_NAME.get(name)
        if declared is not None and declared.kind == "categorical":
            categorical[name] = [str(c) for c in declared.categories]
        elif isinstance(table[name].dtype, pd.CategoricalDtype):
            categorical[name] = [str(c) for c in table[name].dtype.categories]
    return names, categorical


def monotone_constraints(names: list[str], categorical: dict[str, list[str]]) -> list[int]:
    """The catalog's risk direction of each feature (0 for categorical and unknown features)."""
    out = []
    for name in names:
        declared = FEATURES_BY_NAME.get(name)
        if name in categorical or declared is None or declared.kind == "categorical":
            out.append(0)
        else:
            out.append(int(declared.direction))
    return out


def model_frame(
    df: pd.DataFrame,
    names: list[str],
    categorical: dict[str, list[str]],
    money: MoneyScale | None = None,
) -> pd.DataFrame:
    """The booster's input frame, built exactly as :meth:`training.scorer.Scorer.frame` does."""
    meta = {"money": money.to_params()} if money is not None else {}
    return Scorer(None, Calibrator(), names, categorical, meta).frame(df)  # type: ignore[arg-type]


def lightgbm_params(seed: int, train_positives: int, train_rows: int = 0) -> dict[str, Any]:
    """LightGBM parameters (see the module docstring for the rare-event choices).

    Shallow trees with large leaves: on the default district's portfolio view, 7 leaves with
    at least 1,000 rows each beat 31 leaves with 50 rows on the validation ROC AUC of all three
    backtest windows (0.654/0.637/0.649 against 0.651/0.635/0.643), chosen on validation
    windows only, never on a test window. ``min_data_in_leaf`` is ``train_rows / 400`` clipped
    to [50, 1000], so a small table (the application view) keeps leaves it can fill.
    """
    return {
        "objective": "binary",
        "metric": ["binary_logloss", "auc"],
        "first_metric_only": True,
        "learning_rate": LEARNING_RATE,
        "num_leaves": 7 if train_positives >= 2000 else 15,
        "min_data_in_leaf": int(np.clip(train_rows // 400, 50, 1000)),
        "min_sum_hessian_in_leaf": float(np.clip(train_positives / 200.0, 1.0, 10.0)),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 63,
        "max_cat_to_onehot": 8,
        "cat_smooth": 10.0,
        "monotone_constraints_method": "intermediate",
        "seed": seed,
        "deterministic": True,
        "num_threads": NUM_THREADS,
        "force_col_wise": True,
        "verbose": -1,
    }


def fit_lightgbm(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    constraints: list[int],
    max_rounds: int = MAX_ROUNDS,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
) -> tuple[lgb.Booster, dict[str, Any]]:
    """Train the booster with early stopping on the validation window.

    Args:
        x_train: Training frame (from :func:`model_frame`).
        y_train: Training labels.
        x_valid: Validation frame.
        y_valid: Validation labels.
        params: LightGBM parameters.
        constraints: Monotone constraint per column.
        max_rounds: Most boosting rounds.
        early_stopping_rounds: Patience; 0 trains exactly ``max_rounds`` rounds (backtest refits
            reuse the main model's number of rounds this way).

    Returns:
        The booster (trimmed to its best iteration) and ``{"num_boost_round", "valid_logloss",
        "valid_auc"}``.
    """
    p = {**params, "monotone_constraints": constraints}
    dtrain = lgb.Dataset(x_train, label=y_train, categorical_feature="auto", free_raw_data=False)
    if early_stopping_rounds <= 0:
        return _fit_rounds(p, dtrain, x_valid, y_valid, max_rounds)
    dvalid = lgb.Dataset(x_valid, label=y_valid, reference=dtrain)
    evals: dict[str, Any] = {}
    booster = train_watching_validation(
        p, dtrain, dvalid, max_rounds, early_stopping_rounds, [lgb.record_evaluation(evals)]
    )
    best = int(booster.best_iteration) or max_rounds
    if best < booster.current_iteration():
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    info = {
        "num_boost_round": best,
        "valid_logloss": float(evals["valid"]["binary_logloss"][best - 1]),
        "valid_auc": float(evals["valid"]["auc"][best - 1]),
    }
    logger.info("lightgbm: %d rounds, valid %s", best, info)
    return booster, info


def train_watching_validation(
    params: dict[str, Any],
    dtrain: lgb.Dataset,
    dvalid: lgb.Dataset,
    max_rounds: int,
    patience: int,
    callbacks: list[Any] | None = None,
) -> lgb.Booster:
    """``lgb.train`` evaluated on the validation set each round, stopped by its first metric.

    Args:
        params: LightGBM parameters (with the monotone constraints).
        dtrain: Training set.
        dvalid: Validation set (``valid`` in the evaluations).
        max_rounds: Most boosting rounds.
        patience: Rounds without a better first metric before stopping; 0 trains
            ``max_rounds`` rounds.
        callbacks: More callbacks (e.g. ``lgb.record_evaluation``).
    """
    callbacks = list(callbacks or [])
    if patience > 0:
        callbacks.insert(0, lgb.early_stopping(patience, first_metric_only=True, verbose=False))
    return lgb.train(
        params,
        dtrain,
        num_boost_round=max_rounds,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=callbacks,
    )


def _fit_rounds(
    params: dict[str, Any],
    dtrain: lgb.Dataset,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    rounds: int,
) -> tuple[lgb.Booster, dict[str, Any]]:
    """:func:`fit_lightgbm` of exactly ``rounds`` rounds (a backtest refit).

    Nothing reads the validation window while boosting, so it is scored once at the end
    instead of after every round (its log loss and AUC are the last round's, as LightGBM's
    own metrics would give them to rounding); the booster is the same.
    """
    booster = lgb.train(params, dtrain, num_boost_round=rounds)
    raw = booster.predict(x_valid)
    y = np.asarray(y_valid, dtype="float64")
    p = np.clip(raw, 1e-15, 1 - 1e-15)
    info = {
        "num_boost_round": rounds,
        "valid_logloss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "valid_auc": roc_auc(y, raw),
    }
    logger.info("lightgbm: %d rounds (fixed), valid %s", rounds, info)
    return booster, info


def fit_calibrator(
    raw: np.ndarray, y: np.ndarray, recent: np.ndarray | None = None
) -> tuple[Calibrator, str]:
    """Calibration of raw booster probabilities on the validation window.

    Args:
        raw: Raw booster probabilities of the validation rows.
        y: Their labels.
        recent: Mask of the validation rows of its latest :data:`LEVEL_MONTHS` months (``None``:
            all). A parametric calibrator (intercept only, Platt) takes its *level* from these
            rows when they hold at least :data:`LEVEL_MIN_POSITIVES` positives (see
            :func:`_recent_level`); isotonic regression uses every row.

    Returns:
        The calibrator and the reason for its method.
    """
    y = np.asarray(y, dtype="float64")
    raw = np.asarray(raw, dtype="float64")
    cal, reason = _calibrate(raw, y)
    return _recent_level(cal, reason, raw, y, recent)


def level_rows(cal: Calibrator, y: np.ndarray, recent: np.ndarray | None) -> np.ndarray:
    """Mask of the validation rows a calibrator's level comes from: the latest
    :data:`LEVEL_MONTHS` months for a parametric calibrator when they hold at least
    :data:`LEVEL_MIN_POSITIVES` positives and both classes (:func:`_recent_level`), else all."""
    y = np.asarray(y)
    if recent is None or cal.method != "platt":
        return np.ones(len(y), dtype=bool)
    recent = np.asarray(recent, dtype=bool)
    n_pos = int(y[recent].sum())
    if n_pos < LEVEL_MIN_POSITIVES or n_pos == int(recent.sum()):
        return np.ones(len(y), dtype=bool)
    return recent


def _recent_level(
    cal: Calibrator, reason: str, raw: np.ndarray, y: np.ndarray, recent: np.ndarray | None
) -> tuple[Calibrator, str]:
    """Re-estimate a parametric calibrator's intercept on the validation window's latest months.

    The trouble rate drifts between years far more than the booster's ranking does: on the
    default district's application view the 24-month validation window 2020–2021 (replayed
    disasters) holds 13.9 % trouble, its latest 12 months 11.0 %, and the test window 2023–2024
    8.2 %; a level taken from the whole window predicted 0.111 on the test window (+35 %). The
    latest labelled year is the best estimate of the level a model deployed today will meet, so
    the intercept is shifted (slope kept) until the mean probability of those rows equals their
    trouble rate. The portfolio view's 12-month window is all "latest", so nothing changes there.
    """
    rows = level_rows(cal, y, recent)
    if rows.all():
        return cal, reason
    recent = rows
    n_pos = int(y[recent].sum())
    a, b = float(cal.params["a"]), float(cal.params["b"])
    z = np.log(np.clip(raw, 1e-9, 1 - 1e-9) / (1 - np.clip(raw, 1e-9, 1 - 1e-9)))
    shift = _intercept_shift(a * z[recent] + b, y[recent])
    level = (
        f"; level re-estimated on the validation window's latest {LEVEL_MONTHS} months "
        f"({int(recent.sum())} rows, {n_pos} positives, trouble rate {y[recent].mean():.4f} "
        f"against {y.mean():.4f} on the whole window): intercept {b:+.3f} -> {b + shift:+.3f}"
    )
    return Calibrator("platt", {"a": a, "b": b + shift}), reason + level


def _calibrate(raw: np.ndarray, y: np.ndarray) -> tuple[Calibrator, str]:
    """The calibrator of :func:`fit_calibrator` fitted on every validation row."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return Calibrator("none"), "validation window has one class only: no calibration"
    if n_pos >= ISOTONIC_MIN_POSITIVES:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(raw, y)
        x_thr = [float(v) for v in iso.X_thresholds_]
        y_thr = [float(v) for v in iso.y_thresholds_]
        reason = (
            f"isotonic: {n_pos} validation positives >= {ISOTONIC_MIN_POSITIVES}, enough for a "
            "stable non-parametric fit"
        )
        return Calibrator("isotonic", {"x": x_thr, "y": y_thr}), reason
    z = np.log(np.clip(raw, 1e-9, 1 - 1e-9) / (1 - np.clip(raw, 1e-9, 1 - 1e-9)))
    if n_pos >= SLOPE_MIN_POSITIVES:
        b, a = calibration_fit(y, z)
        se = calibration_slope_se(z, b, a)
        if np.isfinite(a) and a > 0 and abs(a - 1) > SLOPE_Z * se:
            reason = (
                f"platt: {n_pos} validation positives < {ISOTONIC_MIN_POSITIVES}, too few for "
                f"isotonic regression; the raw logit's slope {a:.3f} ± {se:.3f} (s.e.) is off 1 "
                f"by more than {SLOPE_Z} s.e., so a two-parameter logistic fit (a={a:.3f}, "
                f"b={b:.3f})"
            )
            return Calibrator("platt", {"a": float(a), "b": float(b)}), reason
        why = (
            f"the raw logit's slope {a:.3f} ± {se:.3f} (s.e.) is within {SLOPE_Z} s.e. of 1"
            if np.isfinite(a) and a > 0
            else f"a Platt fit had slope {a:.3f} <= 0"
        )
    else:
        why = f"{n_pos} validation positives < {SLOPE_MIN_POSITIVES}, too few to test a slope"
    b = _intercept_shift(z, y)
    reason = (
        f"intercept only: {why}; the raw logit is shifted so that the mean probability equals "
        f"the validation trouble rate {y.mean():.4f} (shift {b:+.3f}, slope kept at 1)"
    )
    return Calibrator("platt", {"a": 1.0, "b": float(b)}), reason


def _intercept_shift(z: np.ndarray, y: np.ndarray) -> float:
    """The shift ``b`` with ``mean(sigmoid(z + b)) == mean(y)`` (Newton steps; monotone in ``b``)."""
    target = float(y.sum())
    b = float(np.log(y.mean() / (1 - y.mean())) - np.log(np.mean(np.exp(z)))) if len(z) else 0.0
    b = float(np.clip(b, -20.0, 20.0))
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z + b)))
        grad = float(p.sum()) - target
        hess = float((p * (1.0 - p)).sum())
        if hess <= 0:
            break
        step = grad / hess
        b -= step
        if abs(step) < 1e-10:
            break
    return b


def _as_float(x: Any) -> Any:
    v = np.asarray(x, dtype="float64")
    return np.sign(v) * np.log1p(np.abs(v))


def _clip(x: Any) -> Any:
    return np.clip(x, -CLIP_SD, CLIP_SD)


def _as_text(x: Any) -> Any:
    return pd.DataFrame(x).astype("object").where(pd.DataFrame(x).notna(), "missing").astype(str)


def fit_logistic(
    df: pd.DataFrame,
    y: np.ndarray,
    names: list[str],
    categorical: dict[str, list[str]],
    seed: int = 42,
    max_rows: int = LOGISTIC_MAX_ROWS,
) -> Pipeline:
    """The challenger: logistic regression on imputed, standardised numerics and one-hot categories.

    Numerics are put on a signed log scale (amounts in VND are heavy-tailed), imputed with the
    training median plus a missing indicator, standardised and clipped to +-5 standard
    deviations, so a feature that was almost constant in the training window cannot push a
    later snapshot's probability to 0 or 1.

    Args:
        df: Training rows (raw feature-table columns).
        y: Labels.
        names: Feature columns.
        categorical: Categorical features.
        seed: Seed of the row sample.
        max_rows: Larger training windows are fitted on a seeded random sample of this many
            rows (ample for about a hundred coefficients, and it keeps training fast).

    Returns:
        A fitted pipeline; ``predict_proba(df[names])[:, 1]`` gives probabilities.
    """
    numeric = [n for n in names if n not in categorical]
    cats = [n for n in names if n in categorical]
    num_pipe = Pipeline(
        [
            ("float", FunctionTransformer(_as_float)),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
            ("clip", FunctionTransformer(_clip)),
        ]
    )
    cat_pipe = Pipeline(
        [
            ("text", FunctionTransformer(_as_text)),
            (
                "onehot",
                OneHotEncoder(
                    categories=[[*categorical[c], "missing"] for c in cats], handle_unknown="ignore"
                ),
            ),
        ]
    )
    prep = ColumnTransformer([("num", num_pipe, numeric), ("cat", cat_pipe, cats)])
    pipe = Pipeline(
        [
            ("prep", prep),
            ("model", LogisticRegression(C=0.1, solver="newton-cholesky", max_iter=100)),
        ]
    )
    y = np.asarray(y, dtype="int64")
    if len(df) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(df), max_rows, replace=False))
        df, y = df.iloc[keep], y[keep]
    pipe.fit(df[names], y)
    return pipe
