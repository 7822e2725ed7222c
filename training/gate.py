"""The champion gate's arithmetic and its decision record.

:func:`gate_checks` turns the candidate's and the champion's scores on the candidate's test
window into the gate's checks and figures, with the paired, household-clustered bootstrap of
:func:`paired_bootstrap`; :class:`GateDecision` is what is recorded. The rule itself, and the
moving and recording of the alias, are in :mod:`training.registry`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from training import GATE_N_BOOT
from training.evaluate import CAPACITY_NOT_COMPUTED

SLOPE_RANGE = (0.8, 1.2)
RATE_TOLERANCE = 0.20
GATE_METRICS = ("roc_auc", "capture_at_capacity")
CAPACITY_SATURATED = 0.9
"""Share of the window's rows visited at capacity from which capture at capacity is not compared."""
PROBABILITY_METRICS = ("calibration_slope", "calibration_intercept", "predicted_rate", "brier")
GATE_SEED = 42
DEFAULT_CAPACITY = 5

GATE_RULE_MD = f"""## Champion gate

This model carries the registry alias `champion` only if the gate passed (or the data team
forced it; forced moves are recorded). The gate re-scores the candidate and the current champion
on the candidate's test window, which must be the newest, and requires:

* ROC AUC and capture at capacity: the 95 % paired, household-clustered bootstrap interval
  ({GATE_N_BOOT} replicates) of the difference candidate − champion lies above zero (with no champion
  yet: candidate − a random ranking). When the capacity visits 90 % or more of the window's
  rows, only ROC AUC decides.
* Calibration on the window: slope within [{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}] and predicted trouble
  rate within {RATE_TOLERANCE:.0%} of the observed rate. A model whose level averages the coming
  year's hazards over the history's (a `hazard` level in its calibrator) is judged at the hazards
  that struck the window: a calm or stormy window is luck nobody knew at `as_of`, and a rule that
  refused the simulator's state oracle would be judging the weather. The served figures are
  recorded beside them.

Every decision (who, when, from, to, why, forced) is recorded as `gate.*` tags on the model
version and its run, as a `gate` run in MLflow, and in the service's `model_alias_history` table.
"""
"""The gate rule as a model-card section (appended to each run's ``model_card.md``)."""


@dataclass
class GateDecision:
    """One decision of the gate, as recorded.

    Attributes:
        model_name: Registered model.
        candidate_version: Version asked for.
        from_version: Champion before (``None``: there was none).
        to_version: Champion after (``from_version`` when refused).
        action: ``promoted``, ``refused`` or ``unchanged`` (already the champion).
        forced: Whether ``force`` was used.
        gate_passed: The gate's own verdict (``None`` if it could not be evaluated).
        actor: Who asked.
        reason: Why they asked (free text).
        summary: Why the gate decided so (human readable, one line per check).
        checks: Check name → passed.
        figures: The numbers behind the checks.
        decided_at: UTC time of the decision.
        gate_run_id: The MLflow run recording it.
    """

    model_name: str
    candidate_version: str
    from_version: str | None
    to_version: str | None
    action: str
    forced: bool
    gate_passed: bool | None
    actor: str
    reason: str
    summary: str
    checks: dict[str, bool] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    decided_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    gate_run_id: str | None = None

    @property
    def promoted(self) -> bool:
        """Whether the alias moved to the candidate."""
        return self.action == "promoted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy."""
        d = asdict(self)
        d["decided_at"] = self.decided_at.isoformat()
        d["promoted"] = self.promoted
        return d


def gate_checks(
    frame: pd.DataFrame,
    label: str,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    capacity: int = DEFAULT_CAPACITY,
    n_boot: int = GATE_N_BOOT,
    seed: int = GATE_SEED,
    at_hazards: np.ndarray | None = None,
) -> tuple[dict[str, bool], dict[str, float], list[str]]:
    """Evaluate the gate's rule (module docstring) on one test window.

    Args:
        frame: The test window (``household_id``, ``as_of``, optional ``commune_id``, label).
        label: Label column.
        candidate: Candidate's calibrated probabilities, one per row.
        champion: Champion's probabilities on the same rows (``None``: no champion, compare with
            a random ranking).
        capacity: Visits per commune per month.
        n_boot: Bootstrap replicates.
        seed: Seed of the household draws.
        at_hazards: The candidate's probabilities at each row's realised hazard exposure
            (:func:`training.hazard_level.at_exposure`; ``None``: the model has no hazard level).
            Given, the calibration checks judge these; the served figures are recorded too.

    Returns:
        ``(checks, figures, lines)``: check → passed, the numbers, one explanation per check.
    """
    frame = frame.reset_index(drop=True)
    rival = "champion" if champion is not None else "random"
    scores = {
        "candidate": np.asarray(candidate, dtype="float64"),
        rival: np.asarray(champion, dtype="float64")
        if champion is not None
        else np.zeros(len(frame)),  # all tied = a random order's expected value
    }
    res = paired_bootstrap(frame, label, scores, capacity, n_boot, seed)
    gap = res[f"gap_candidate_vs_{rival}"]
    cand = res["candidate"]
    figures: dict[str, float] = {"rows": float(len(frame)), "positives": float(frame[label].sum())}
    for m in (*GATE_METRICS, *PROBABILITY_METRICS, "observed_rate"):
        figures[f"candidate.{m}"] = float(cand[m])
    for m in GATE_METRICS:
        figures[f"{rival}.{m}"] = float(res[rival][m])
    checks: dict[str, bool] = {}
    lines: list[str] = []
    for m in GATE_METRICS:
        d, lo, hi = gap[m], gap.get(f"{m}_lo", math.nan), gap.get(f"{m}_hi", math.nan)
        figures.update({f"diff.{m}": d, f"diff.{m}_lo": lo, f"diff.{m}_hi": hi})
        if m == "capture_at_capacity" and "commune_id" not in frame.columns:
            lines.append(
                f"N/A capture_at_capacity: {CAPACITY_NOT_COMPUTED}; the decision rests on ROC AUC"
            )
            continue
        if (
            m == "capture_at_capacity"
            and cand.get("visits_at_capacity_share", 0) >= CAPACITY_SATURATED
        ):
            lines.append(
                f"N/A capture_at_capacity: the capacity visits {cand['visits_at_capacity_share']:.0%} of the "
                "window's rows, so rankings can hardly differ on it; the decision rests on ROC AUC"
            )
            continue
        ok = bool(np.isfinite(lo) and lo > 0)
        checks[f"beats_{rival}_{m}"] = ok
        lines.append(
            f"{'PASS' if ok else 'FAIL'} {m}: candidate {cand[m]:.3f} vs {rival} "
            f"{res[rival][m]:.3f}, difference {d:+.3f} (95% paired bootstrap {lo:+.3f} .. {hi:+.3f};"
            " lower bound must be > 0)"
        )
    served_slope = float(cand.get("calibration_slope", math.nan))
    served_pred, obs = float(cand["predicted_rate"]), float(cand["observed_rate"])
    slope, pred, where, served = served_slope, served_pred, "", ("", "")
    if at_hazards is not None:  # the same metric definitions as the served figures'
        from training.evaluate import RankingEvaluator, period_cells

        y = frame[label].astype("int64").to_numpy()
        p = np.asarray(at_hazards, dtype="float64")
        at = RankingEvaluator(y, p, *period_cells(frame), capacity, is_proba=True).metrics(top_k=())
        slope, pred = float(at["calibration_slope"]), float(at["predicted_rate"])
        figures["candidate.calibration_slope_at_hazards"] = slope
        figures["candidate.predicted_rate_at_hazards"] = pred
        figures["candidate.rate_error_served"] = _rel(served_pred, obs)
        where = " at the window's realised hazards"
        served = (
            f"; served {served_slope:.3f}",
            f"; served {served_pred:.4f}, averaged over the history's hazards, "
            f"{_rel(served_pred, obs):+.1%}",
        )
    ok = bool(SLOPE_RANGE[0] <= slope <= SLOPE_RANGE[1])
    checks["calibration_slope"] = ok
    lines.append(
        f"{'PASS' if ok else 'FAIL'} calibration slope {slope:.3f}{where} "
        f"(must be within [{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}]{served[0]})"
    )
    rel = _rel(pred, obs)
    figures["candidate.rate_error"] = rel
    ok = bool(abs(rel) <= RATE_TOLERANCE)
    checks["calibration_rate"] = ok
    lines.append(
        f"{'PASS' if ok else 'FAIL'} predicted rate {pred:.4f}{where} vs observed {obs:.4f} "
        f"({rel:+.1%}; must be within ±{RATE_TOLERANCE:.0%}{served[1]})"
    )
    return checks, figures, lines


def _rel(pred: float, obs: float) -> float:
    """Relative error of a predicted rate (infinite when nothing was observed)."""
    return pred / obs - 1 if obs > 0 else math.inf


def paired_bootstrap(
    frame: pd.DataFrame,
    label: str,
    scores: dict[str, np.ndarray],
    capacity: int,
    n_boot: int,
    seed: int = GATE_SEED,
) -> dict[str, dict[str, float]]:
    """Gate metrics of two rankings and the paired, household-clustered bootstrap of a − b.

    Metric definitions are the trainer's (:class:`training.evaluate.RankingEvaluator`: ties
    count one half, visits are taken per commune and month). Each replicate draws the window's
    households with replacement and weighs their rows by the draw count; both rankings see the
    same draws. Only :data:`GATE_METRICS` are bootstrapped; the first ranking also gets its
    point probability figures (:data:`PROBABILITY_METRICS`).

    Args:
        frame: Rows with ``household_id``, ``as_of``, optional ``commune_id`` and ``label``.
        label: Label column (0/1).
        scores: Exactly two rankings, candidate first.
        capacity: Visits per commune per month.
        n_boot: Replicates.
        seed: Seed of the draws.

    Returns:
        ``{a: metrics, b: metrics, "gap_<a>_vs_<b>": {metric, metric_lo, metric_hi}}``.
    """
    from training.evaluate import RankingEvaluator, codes, period_cells

    (a, sa_), (b, sb_) = scores.items()
    y = frame[label].astype("int64").to_numpy()
    period, cell = period_cells(frame)
    ev = {
        a: RankingEvaluator(y, sa_, period, cell, capacity, is_proba=True),
        b: RankingEvaluator(y, sb_, period, cell, capacity, is_proba=False),
    }
    out = {name: e.metrics(top_k=()) for name, e in ev.items()}
    gap = {m: out[a][m] - out[b][m] for m in GATE_METRICS}
    hh = codes(frame["household_id"])
    n_hh = int(hh.max()) + 1 if len(hh) else 0
    rng = np.random.default_rng(seed)
    fast = {
        name: RankingEvaluator(y, s, period, cell, capacity, is_proba=False)
        for name, s in ((a, sa_), (b, sb_))
    }
    reps = np.full((n_boot, len(GATE_METRICS)), np.nan)
    for i in range(n_boot):
        w = np.bincount(rng.integers(0, n_hh, n_hh), minlength=n_hh).astype("float64")[hh]
        ma, mb = fast[a].metrics(w, top_k=()), fast[b].metrics(w, top_k=())
        reps[i] = [ma[m] - mb[m] for m in GATE_METRICS]
    for j, m in enumerate(GATE_METRICS):
        vals = reps[:, j][np.isfinite(reps[:, j])]
        lo, hi = np.percentile(vals, [2.5, 97.5]) if vals.size else (math.nan, math.nan)
        gap[f"{m}_lo"], gap[f"{m}_hi"] = float(lo), float(hi)
    out[f"gap_{a}_vs_{b}"] = gap
    return out
