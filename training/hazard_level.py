"""The model's level with the luck of the coming year's hazards integrated out.

Why. A model takes its level from the validation window's realised trouble rate. That rate holds
the natural hazards and epidemics that struck in the 12 months after each snapshot, which nobody
knew at ``as_of``: one severe storm season puts a window's trouble rate a quarter above what the
households' state implied, one calm year a sixth below (the simulator's state oracle measures
both, ``docs/measurements.md``). A model calibrated on such a window carries that luck into the
next year, and the gate refuses it for a level it could not have known.

How. The bank records every hazard (``hazard_events``: commune, start, severity), so once a
window's labels are complete, so is the list of hazards that struck in its horizon. For each row,
:func:`horizon_exposure` sums the hazards that started in its commune within its label horizon,
each weighted by its severity and by how much of its decaying pressure falls in the horizon.
:func:`fit_hazard_level` then

1. estimates the exposure's effect ``beta`` beside the logit of the model's probability: on the
   validation window, which the booster has not seen, when it holds enough exposed positives,
   else (a calm validation year) on the training window,
2. finds the shift ``c`` that makes the validation rows' mean probability, at their realised
   exposure, equal their trouble rate, and
3. keeps the exposure of every (commune, month) of the history up to the validation window's end
   (its quantiles, the "climatology").

A served probability is the calibrated probability integrated over that climatology,
``mean_k sigmoid(logit p + c + beta * h_k)`` (:func:`integrate`): the hazards of the coming year
are averaged over, as the state oracle averages them, not guessed. Nothing after the validation
window's horizon is read, so the test window stays unseen. Skipped, with the reason, when the
table has no ``commune_id``, no hazard table is given, or the training window shows no positive
effect of exposure.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from sklearn.linear_model import LogisticRegression

from training.split import month_number

logger = logging.getLogger(__name__)

DECAY = 0.75
"""Monthly decay of a hazard's pressure (as :data:`features.context.HAZARD_DECAY`)."""
QUANTILES = 50
"""Points of the exposure climatology a probability is integrated over."""
MIN_EXPOSED_POSITIVES = 100
"""Fewest training positives with some exposure for ``beta`` to be estimated."""
FIT_ROWS = 200_000
"""Training rows sampled (seeded) for the ``beta`` regression."""
EXPOSURE_COLUMN = "horizon_hazard_exposure"
"""Column of a stored test window holding each row's realised :func:`horizon_exposure`, so the
champion gate can judge the calibration at the hazards that did strike (:func:`at_exposure`)."""


@dataclass(frozen=True)
class HazardLevel:
    """Shift, effect and climatology of :func:`fit_hazard_level` (stored in the calibrator)."""

    shift: float
    beta: float
    exposure: tuple[float, ...]

    def to_params(self) -> dict[str, object]:
        """JSON-ready form (``calibrator.json``'s ``hazard`` entry)."""
        return {"shift": self.shift, "beta": self.beta, "exposure": list(self.exposure)}


def horizon_exposure(rows: pd.DataFrame, hazards: pd.DataFrame, horizon: int) -> np.ndarray:
    """Exposure of each row's commune to the hazards that started within its label horizon.

    A hazard of severity ``s`` starting ``k`` months after ``as_of``'s month (``0 <= k <
    horizon``) adds ``s`` times the mean over the horizon's months of its decaying pressure,
    ``s * (1 - DECAY ** (horizon - k)) / (1 - DECAY) / horizon``.

    Args:
        rows: ``commune_id`` and ``as_of`` (not changed).
        hazards: ``commune_id``, ``start_date`` and ``severity`` (the bank's ``hazard_events``).
        horizon: Label horizon in months.

    Returns:
        One exposure per row (0 where nothing struck).
    """
    keys = pd.DataFrame(
        {"commune_id": rows["commune_id"].astype(str).to_numpy(), "m": month_number(rows["as_of"])}
    )
    pairs = keys.drop_duplicates().reset_index(drop=True)
    per_pair = _pair_exposure(pairs, hazards, horizon)
    pos = pd.MultiIndex.from_frame(pairs).get_indexer(pd.MultiIndex.from_frame(keys))
    return per_pair[pos]


def _pair_exposure(pairs: pd.DataFrame, hazards: pd.DataFrame, horizon: int) -> np.ndarray:
    """:func:`horizon_exposure` of distinct (``commune_id``, month number ``m``) pairs."""
    hz = pd.DataFrame(
        {
            "commune_id": hazards["commune_id"].astype(str).to_numpy(),
            "start": month_number(hazards["start_date"]),
            "severity": hazards["severity"].to_numpy("float64"),
        }
    )
    hit = pairs.reset_index(drop=True).reset_index().merge(hz, on="commune_id", how="inner")
    k = (hit["start"] - hit["m"]).to_numpy()
    inside = (k >= 0) & (k < horizon)
    weight = hit["severity"].to_numpy() * (1 - DECAY ** (horizon - k)) / (1 - DECAY) / horizon
    return np.bincount(
        hit["index"].to_numpy()[inside], weights=weight[inside], minlength=len(pairs)
    )


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped to [1e-9, 1 - 1e-9] (the scorer's and the level's)."""
    p = np.clip(np.asarray(p, dtype="float64"), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def integrate(p: np.ndarray, level: dict) -> np.ndarray:
    """Calibrated probabilities integrated over the exposure climatology (see the module)."""
    z = logit(p)[:, None] + level["shift"] + level["beta"] * np.asarray(level["exposure"])[None, :]
    return (1.0 / (1.0 + np.exp(-z))).mean(axis=1)


def at_exposure(p: np.ndarray, level: dict, exposure: np.ndarray) -> np.ndarray:
    """Calibrated probabilities at a realised exposure instead of the climatology.

    Why: a served probability averages the coming year's hazards over the history's
    (:func:`integrate`), so after a calm year it lies above the realised trouble rate and after a
    stormy one below it, however right the model is; even the simulator's state oracle misses a
    calm test window's rate by an eighth. Given the hazards that did strike, the model's own
    claim is ``sigmoid(logit p + shift + beta * h)``: the champion gate checks that.
    """
    z = logit(p) + level["shift"] + level["beta"] * np.asarray(exposure, dtype="float64")
    return 1.0 / (1.0 + np.exp(-z))


def integrate_one(p: float, level: dict) -> float:
    """:func:`integrate` for one probability, with scalar arithmetic (a request's path)."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    z = math.log(p / (1 - p)) + level["shift"]
    beta, hs = level["beta"], level["exposure"]
    return sum(1.0 / (1.0 + math.exp(-(z + beta * h))) for h in hs) / len(hs)


def _offset_logistic(z: np.ndarray, h: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``(c, beta)`` of ``P(y) = sigmoid(z + c + beta * h)`` (``z`` fixed)."""

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        q = 1.0 / (1.0 + np.exp(-(z + w[0] + w[1] * h)))
        q = np.clip(q, 1e-12, 1 - 1e-12)
        r = q - y
        nll = -float(np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
        return nll, np.array([r.mean(), (r * h).mean()])

    w = minimize(loss, np.zeros(2), jac=True, method="BFGS").x
    return float(w[0]), float(w[1])


def fit_hazard_level(
    raw_train: Callable[[], np.ndarray],
    y_train: np.ndarray,
    h_train: np.ndarray,
    p_valid: np.ndarray,
    y_valid: np.ndarray,
    h_valid: np.ndarray,
    climate: np.ndarray,
    seed: int,
) -> tuple[HazardLevel | None, str]:
    """Shift and effect of the horizon's hazard exposure, and the climatology to integrate over.

    The effect ``beta`` is estimated on the validation rows, beside the logit of their
    calibrated probability, when they hold at least :data:`MIN_EXPOSED_POSITIVES` exposed
    positives: the booster has not seen them, so its score cannot have absorbed the hazards.
    Otherwise (a calm validation year) on the training rows, beside the logit of the booster's
    raw probability; there the booster's commune-level features can absorb part of the effect,
    so this estimate is the smaller one. The shift ``c`` always comes from the validation rows.

    Args:
        raw_train: The booster's raw probabilities of the training rows (called only when
            the effect must come from the training window: predicting them all takes time).
        y_train: Their labels.
        h_train: Their :func:`horizon_exposure`.
        p_valid: The calibrated probabilities of the validation rows whose trouble rate sets
            the level.
        y_valid: Their labels.
        h_valid: Their exposure.
        climate: Exposure of every (commune, month) up to the validation window's end.
        seed: Seed of the training-row sample.

    Returns:
        The level (``None`` when skipped) and a sentence saying what was done and why.
    """
    y_train = np.asarray(y_train, dtype="float64")
    y_valid = np.asarray(y_valid, dtype="float64")
    h_valid = np.asarray(h_valid, dtype="float64")
    rate = float(np.mean(y_valid))
    if len(climate) == 0 or rate <= 0 or rate >= 1:
        return None, "hazard level not applied: no history or one class in the validation rows"
    zv = logit(p_valid)
    valid_exposed = int(y_valid[h_valid > 0].sum())
    if valid_exposed >= MIN_EXPOSED_POSITIVES and np.ptp(h_valid) > 0:
        shift, beta = _offset_logistic(zv, h_valid, y_valid)
        source = f"the validation window ({valid_exposed} exposed positives)"
    else:
        train_exposed = int(y_train[np.asarray(h_train) > 0].sum())
        if train_exposed < MIN_EXPOSED_POSITIVES:
            return None, (
                f"hazard level not applied: {valid_exposed} validation and {train_exposed} "
                f"training positives with hazard exposure in their horizon (fewer than "
                f"{MIN_EXPOSED_POSITIVES})"
            )
        take = np.arange(len(y_train))
        if len(take) > FIT_ROWS:
            rng = np.random.default_rng(seed)
            take = np.sort(rng.choice(len(take), FIT_ROWS, replace=False))
        x = np.c_[logit(raw_train()[take]), np.asarray(h_train)[take]]
        beta = float(LogisticRegression(C=1e6, max_iter=1000).fit(x, y_train[take]).coef_[0][1])
        shift = float("nan")
        source = f"the training window ({train_exposed} exposed positives; calm validation year)"
    if not np.isfinite(beta) or beta <= 0:
        return None, (
            f"hazard level not applied: {source} shows no positive effect of the horizon's "
            f"hazard exposure (beta {beta:+.3f})"
        )
    if not np.isfinite(shift):

        def gap(c: float) -> float:
            return float(np.mean(1.0 / (1.0 + np.exp(-(zv + c + beta * h_valid))))) - rate

        shift = float(brentq(gap, -10.0, 10.0))
    qs = np.quantile(climate, (np.arange(QUANTILES) + 0.5) / QUANTILES)
    level = HazardLevel(shift, beta, tuple(float(q) for q in qs))
    reason = (
        f"hazard level: the validation rows' realised exposure to hazards in their horizon "
        f"(mean {np.mean(h_valid):.3f}) against the history's (mean {np.mean(climate):.3f}); "
        f"effect {beta:+.3f} per unit, estimated on {source}, shift {shift:+.3f}; "
        f"probabilities integrated over {QUANTILES} points of the history's exposure"
    )
    return level, reason


@dataclass(frozen=True)
class HazardInputs:
    """What the trainer needs to take the hazards' luck out of a model's level.

    Attributes:
        hazards: The bank's ``hazard_events`` (``commune_id``, ``start_date``, ``severity``).
        horizon: Label horizon in months.
    """

    hazards: pd.DataFrame
    horizon: int

    def exposure(self, rows: pd.DataFrame) -> np.ndarray:
        """:func:`horizon_exposure` of ``rows``."""
        return horizon_exposure(rows, self.hazards, self.horizon)

    def of_training(self, own: pd.DataFrame, extra: pd.DataFrame | None) -> np.ndarray:
        """Exposure of the training rows in the trainer's order: pooled rows first."""
        parts = [extra] if extra is not None and len(extra) else []
        return np.concatenate([self.exposure(p) for p in (*parts, own)])

    def climate(self, history: pd.DataFrame) -> np.ndarray:
        """Exposure of each distinct (commune, month) of ``history``."""
        pairs = pd.DataFrame(
            {
                "commune_id": history["commune_id"].astype(str).to_numpy(),
                "m": month_number(history["as_of"]),
            }
        ).drop_duplicates()
        return _pair_exposure(pairs, self.hazards, self.horizon)


def hazard_inputs(
    table: pd.DataFrame, hazards: pd.DataFrame | None, horizon: int
) -> tuple[HazardInputs | None, str]:
    """The trainer's :class:`HazardInputs`, or ``None`` and why the level stays as calibrated."""
    if hazards is None:
        return None, "hazard level not applied: no hazard table (hazard_events) was given"
    if "commune_id" not in table.columns:
        return None, "hazard level not applied: the table has no commune_id"
    missing = {"commune_id", "start_date", "severity"} - set(hazards.columns)
    if missing:
        return None, f"hazard level not applied: hazard_events lacks {sorted(missing)}"
    return HazardInputs(hazards[["commune_id", "start_date", "severity"]].copy(), horizon), ""
