"""Test-window metrics with clustered bootstrap intervals, for models and rankings alike.

Every metric takes row weights, so a bootstrap replicate is just another weight vector: the
households of the test window are drawn with replacement (a *clustered* bootstrap — a household
contributes up to 12 strongly correlated monthly rows, so resampling rows would understate the
uncertainty) and each row gets its household's draw count as weight. The same draws are used for
every ranking, so differences between rankings (``gap_*``) get paired intervals. Intervals are
the 2.5 and 97.5 percentiles of ``n_boot`` replicates.

Ties are common in practice rankings; each metric gives tied rows their expected value under a
random order: ROC AUC counts a tied positive/negative pair as one half, PR AUC (average
precision) treats a tie block as one threshold (as scikit-learn does), and a visit list that
cuts through a tie block takes the same fraction of each of its rows.

Visit metrics:

* ``precision_top{k}`` / ``capture_top{k}`` — within each snapshot month, visit the top ``k`` %
  of the households (by weight); precision = trouble among visited, capture (recall) = share of
  all trouble rows found, both pooled over the months of the window;
* ``precision_at_capacity`` / ``capture_at_capacity`` — within each (commune, snapshot month)
  visit the ``capacity`` highest-ranked households.

Probability metrics (``brier``, ``log_loss``, ``calibration_slope``, ``calibration_intercept``,
``predicted_rate``) are computed only for rankings that are probabilities. Calibration slope
and intercept are the coefficients of the logistic regression ``y ~ a + b * logit(p)``
(perfect calibration: slope 1, intercept 0).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from training import BOOT_ROW_BUDGET, MIN_BOOT, N_BOOT, boot_replicates

logger = logging.getLogger(__name__)

TOP_K = (1, 2, 5, 10)
EPS = 1e-6
GAP_METRICS = ("roc_auc", "pr_auc", "capture_top10", "capture_at_capacity")
CAPACITY_METRICS = ("precision_at_capacity", "capture_at_capacity", "visits_at_capacity_share")
CAPACITY_NOT_COMPUTED = (
    "not computed: the table has no commune_id column, and capacity is a number of visits per "
    "commune and month (an officer's days at one commune's transaction point); a district-wide "
    "figure would be a different metric under the same name"
)
"""Why the capacity metrics are missing from a table without ``commune_id``."""


def _without_capacity(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``metrics`` with every capacity metric (and its bounds) set to NaN: not computed."""
    for m in metrics.values():
        for key in CAPACITY_METRICS:
            for suffix in ("", "_lo", "_hi"):
                if key + suffix in m:
                    m[key + suffix] = float("nan")
    return metrics


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _blocks(keys: Sequence[np.ndarray]) -> np.ndarray:
    """Block id of each (already sorted) position: a new block wherever any key changes."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.cumsum(change) - 1


class RankingEvaluator:
    """Precomputed orderings of one ranking on one set of rows; metrics for any row weights.

    Args:
        y: 0/1 labels.
        score: Ranking score (higher = riskier); probabilities when ``is_proba``.
        period: Integer code of each row's snapshot month (top-k % is taken per month).
        cell: Integer code of each row's (commune, month) cell (capacity is per cell).
        capacity: Visits per cell.
        is_proba: Whether ``score`` is a probability (enables probability metrics).
    """

    def __init__(
        self,
        y: np.ndarray,
        score: np.ndarray,
        period: np.ndarray,
        cell: np.ndarray,
        capacity: int,
        is_proba: bool,
    ) -> None:
        self.y = np.asarray(y, dtype="float64")
        self.s = np.asarray(score, dtype="float64")
        if np.isnan(self.s).any():
            raise ValueError("scores contain NaN")
        self.is_proba = is_proba
        self.capacity = capacity
        # global order, descending score
        self.order = np.argsort(-self.s, kind="stable")
        self.block = _blocks([self.s[self.order]])
        self.n_block = int(self.block[-1]) + 1 if len(self.block) else 0
        self.groupings = {}
        for name, g in (("period", period), ("cell", cell)):
            g = np.asarray(g)
            order = np.lexsort((-self.s, g))
            blk = _blocks([g[order], self.s[order]])
            n_blk = int(blk[-1]) + 1 if len(blk) else 0
            first_pos = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]]) if len(blk) else blk
            blk_group = g[order][first_pos]
            grp_start = np.r_[True, blk_group[1:] != blk_group[:-1]] if n_blk else blk_group
            # index of the first block of each block's group
            start_idx = np.maximum.accumulate(np.where(grp_start, np.arange(n_blk), 0))
            _, grp_code = np.unique(blk_group, return_inverse=True)
            self.groupings[name] = (order, blk, n_blk, start_idx, grp_code, self.y[order])
        self.y_sorted = self.y[self.order]
        self.start = np.array([0.0, 1.0])
        if is_proba:
            self.z = _logit(self.s)
            self.p = np.clip(self.s, EPS, 1 - EPS)

    def _top(self, grouping: str, w: np.ndarray, budget: float, relative: bool) -> tuple:
        order, blk, n_blk, start_idx, grp_code, y_sorted = self.groupings[grouping]
        wo = w[order]
        W = np.bincount(blk, weights=wo, minlength=n_blk)
        P = np.bincount(blk, weights=wo * y_sorted, minlength=n_blk)
        cw = np.cumsum(W)
        before = cw - W - (cw[start_idx] - W[start_idx])
        if relative:
            gw = np.bincount(grp_code, weights=W)
            B = budget * gw[grp_code]
        else:
            B = budget
        taken = np.clip(B - before, 0.0, W)
        frac = np.divide(taken, W, out=np.zeros_like(W), where=W > 0)
        caught = float((P * frac).sum())
        visited = float(taken.sum())
        return caught, visited

    def metrics(self, w: np.ndarray | None = None, top_k: Sequence[int] = TOP_K) -> dict:
        """All metrics for row weights ``w`` (default: 1 per row)."""
        first = w is None
        w = np.ones_like(self.y) if w is None else np.asarray(w, dtype="float64")
        wy = w * self.y
        P, total = float(wy.sum()), float(w.sum())
        N = total - P
        out: dict[str, float] = {"observed_rate": P / total if total else float("nan")}
        wo = w[self.order]
        pos_b = np.bincount(self.block, weights=wo * self.y_sorted, minlength=self.n_block)
        neg_b = np.bincount(self.block, weights=wo, minlength=self.n_block) - pos_b
        cpos, cneg = np.cumsum(pos_b), np.cumsum(neg_b)
        if P > 0 and N > 0:
            out["roc_auc"] = float((pos_b * (N - cneg) + 0.5 * pos_b * neg_b).sum() / (P * N))
            prec = np.divide(cpos, cpos + cneg, out=np.zeros_like(cpos), where=(cpos + cneg) > 0)
            out["pr_auc"] = float((pos_b / P * prec).sum())
            out["ks"] = float(np.max(np.abs(cpos / P - cneg / N)))
        else:
            out["roc_auc"] = out["pr_auc"] = out["ks"] = float("nan")
        for k in top_k:
            caught, visited = self._top("period", w, k / 100.0, relative=True)
            out[f"precision_top{k}"] = caught / visited if visited else float("nan")
            out[f"capture_top{k}"] = caught / P if P else float("nan")
        caught, visited = self._top("cell", w, float(self.capacity), relative=False)
        out["precision_at_capacity"] = caught / visited if visited else float("nan")
        out["capture_at_capacity"] = caught / P if P else float("nan")
        out["visits_at_capacity_share"] = visited / total if total else float("nan")
        if self.is_proba:
            out["brier"] = float((w * (self.s - self.y) ** 2).sum() / total)
            ll = self.y * np.log(self.p) + (1 - self.y) * np.log(1 - self.p)
            out["log_loss"] = float(-(w * ll).sum() / total)
            a, b = calibration_fit(self.y, self.z, w, start=self.start)
            if first and np.isfinite(a) and np.isfinite(b):
                self.start = np.array([a, b])  # bootstrap replicates start from the estimate
            out["calibration_intercept"], out["calibration_slope"] = a, b
            out["predicted_rate"] = float((w * self.s).sum() / total)
        else:
            for key in ("brier", "log_loss", "calibration_intercept", "calibration_slope"):
                out[key] = float("nan")
            out["predicted_rate"] = float("nan")
        return out


def calibration_fit(
    y: np.ndarray,
    z: np.ndarray,
    w: np.ndarray | None = None,
    iters: int = 50,
    start: np.ndarray | None = None,
) -> tuple[float, float]:
    """Intercept and slope of the weighted logistic regression ``y ~ a + b * z`` (Newton).

    Args:
        y: 0/1 outcomes.
        z: Logits of the predicted probabilities.
        w: Row weights.
        iters: Most Newton steps.
        start: Starting ``(intercept, slope)`` (default ``(0, 1)``).

    Returns:
        ``(intercept, slope)``; NaN when the fit is undefined (one class only).
    """
    y = np.asarray(y, dtype="float64")
    z = np.asarray(z, dtype="float64")
    w = np.ones_like(y) if w is None else np.asarray(w, dtype="float64")
    if (w * y).sum() <= 0 or (w * (1 - y)).sum() <= 0:
        return float("nan"), float("nan")

    def loglik(b: np.ndarray) -> float:
        eta = b[0] + b[1] * z
        return float((w * (y * eta - np.logaddexp(0.0, eta))).sum())

    beta = np.array([0.0, 1.0]) if start is None else np.asarray(start, dtype="float64").copy()
    current = loglik(beta)
    for _ in range(iters):
        eta = np.clip(beta[0] + beta[1] * z, -35, 35)
        mu = 1.0 / (1.0 + np.exp(-eta))
        r = w * (y - mu)
        g = np.array([r.sum(), (r * z).sum()])
        v = w * mu * (1 - mu)
        h = np.array([[v.sum(), (v * z).sum()], [(v * z).sum(), (v * z * z).sum()]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return float("nan"), float("nan")
        for _ in range(30):  # step halving keeps Newton from overshooting
            new = loglik(beta + step)
            if new >= current - 1e-12:
                break
            step = step / 2
        beta, current = beta + step, new
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def roc_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC with ties counted as one half."""
    n = len(y)
    return _single(y, score, w, np.zeros(n), np.zeros(n), 1, False)["roc_auc"]


def ks_statistic(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """Kolmogorov–Smirnov distance between the score distributions of positives and negatives."""
    n = len(y)
    return _single(y, score, w, np.zeros(n), np.zeros(n), 1, False)["ks"]


def capture_at_capacity(
    y: np.ndarray,
    score: np.ndarray,
    cell: np.ndarray,
    capacity: int,
    w: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(precision, capture)`` when visiting the top ``capacity`` rows of each cell."""
    out = _single(y, score, w, np.zeros(len(y)), cell, capacity, False)
    return out["precision_at_capacity"], out["capture_at_capacity"]


def capture_top_k(
    y: np.ndarray, score: np.ndarray, period: np.ndarray, k: float, w: np.ndarray | None = None
) -> tuple[float, float]:
    """``(precision, capture)`` when visiting the top ``k`` % of each period's rows."""
    ev = RankingEvaluator(y, score, period, np.zeros(len(y)), 1, False)
    caught, visited = ev._top("period", np.ones(len(y)) if w is None else w, k / 100, True)
    P = float(np.sum(y if w is None else w * np.asarray(y)))
    return caught / visited, caught / P


def _single(y, score, w, period, cell, capacity, is_proba) -> dict:
    return RankingEvaluator(y, score, period, cell, capacity, is_proba).metrics(w)


def codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes of a key column (NaN gets its own code)."""
    c, _ = pd.factorize(pd.Series(values).astype("object"), use_na_sentinel=False)
    return c.astype("int64")


def period_cells(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each row's calendar month (top-k % is per month) and (commune, month) cell
    (capacity is per commune and month). Application ``as_of`` dates are days: they are grouped
    by their calendar month, so a capacity of N visits means N a commune a month in both views."""
    month = pd.to_datetime(frame["as_of"]).dt.to_period("M").astype(str)
    period = codes(month)
    if "commune_id" not in frame.columns:
        logger.warning("no commune_id: capacity applies to the whole district per month")
        return period, period
    return period, codes(frame["commune_id"].astype(str) + "|" + month)


def evaluate_rankings(
    frame: pd.DataFrame,
    scores: Mapping[str, np.ndarray],
    probabilities: Sequence[str],
    label: str = "label",
    capacity: int = 5,
    n_boot: int = N_BOOT,
    seed: int = 42,
    gaps: Sequence[tuple[str, str]] = (),
) -> dict[str, dict[str, float]]:
    """Metrics of every ranking on the same rows, with clustered bootstrap intervals.

    Args:
        frame: Rows with ``household_id``, ``as_of``, optional ``commune_id`` and the label.
        scores: Ranking name → score per row of ``frame``.
        probabilities: Names of the rankings whose scores are probabilities.
        label: Label column of ``frame``.
        capacity: Visits per commune per snapshot month.
        n_boot: Bootstrap replicates (0: point estimates only); at most
            ``BOOT_ROW_BUDGET / len(frame)`` of them (never fewer than ``MIN_BOOT``), logged.
        seed: Seed of the household draws.
        gaps: ``(a, b)`` pairs; adds ``gap_<a>_vs_<b>`` entries holding ``a - b`` of
            :data:`GAP_METRICS` with paired intervals.

    Returns:
        Name → metric → value; with ``n_boot`` every metric also has ``_lo`` and ``_hi``.
        Without a ``commune_id`` column the capacity metrics are NaN
        (:data:`CAPACITY_NOT_COMPUTED`).
    """
    if "commune_id" not in frame.columns:
        return _without_capacity(
            _evaluate(frame, scores, probabilities, label, capacity, n_boot, seed, gaps)
        )
    return _evaluate(frame, scores, probabilities, label, capacity, n_boot, seed, gaps)


def _evaluate(
    frame: pd.DataFrame,
    scores: Mapping[str, np.ndarray],
    probabilities: Sequence[str],
    label: str,
    capacity: int,
    n_boot: int,
    seed: int,
    gaps: Sequence[tuple[str, str]],
) -> dict[str, dict[str, float]]:
    """:func:`evaluate_rankings` with capacity cells of a whole month when there is no commune."""
    y = frame[label].astype("int64").to_numpy()
    period, cell = period_cells(frame)
    evaluators = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype="float64")
        bad = np.isnan(s)
        if bad.any():
            logger.warning("%s: %d NaN score(s) ranked last", name, int(bad.sum()))
            low = float(np.nanmin(s)) - 1.0 if (~bad).any() else 0.0
            s = np.where(bad, 0.0 if name in probabilities else low, s)
        evaluators[name] = RankingEvaluator(y, s, period, cell, capacity, name in probabilities)
    point = {name: ev.metrics() for name, ev in evaluators.items()}
    gaps = [(a, b) for a, b in gaps if a in point and b in point]
    for a, b in gaps:
        point[f"gap_{a}_vs_{b}"] = {m: point[a][m] - point[b][m] for m in GAP_METRICS}
    if n_boot <= 0:
        return point
    budget = boot_replicates(len(frame), n_boot, MIN_BOOT, BOOT_ROW_BUDGET)
    if n_boot > budget:
        logger.info("bootstrap: %d replicates of %d rows (%d asked)", budget, len(frame), n_boot)
        n_boot = budget
    hh = codes(frame["household_id"])
    n_hh = int(hh.max()) + 1
    rng = np.random.default_rng(seed)
    reps: dict[str, list[dict[str, float]]] = {name: [] for name in point}
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n_hh, n_hh), minlength=n_hh).astype("float64")
        w = counts[hh]
        rep = {name: ev.metrics(w) for name, ev in evaluators.items()}
        for a, b in gaps:
            rep[f"gap_{a}_vs_{b}"] = {m: rep[a][m] - rep[b][m] for m in GAP_METRICS}
        for name, m in rep.items():
            reps[name].append(m)
    out: dict[str, dict[str, float]] = {}
    for name, m in point.items():
        df = pd.DataFrame(reps[name])
        res = dict(m)
        for key in m:
            vals = df[key].to_numpy("float64")
            vals = vals[~np.isnan(vals)]
            lo, hi = np.percentile(vals, [2.5, 97.5]) if vals.size else (np.nan, np.nan)
            res[f"{key}_lo"], res[f"{key}_hi"] = float(lo), float(hi)
        out[name] = res
    return out


def reliability_table(
    y: np.ndarray, p: np.ndarray, bins: int = 10, ranker: str = "model"
) -> pd.DataFrame:
    """Observed against predicted trouble rate in quantile bins of the predicted probability.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities.
        bins: Number of (quantile) bins.
        ranker: Name written in the ``ranker`` column.

    Returns:
        One row per bin: ``ranker``, ``bin``, ``rows``, ``positives``, ``mean_predicted``,
        ``observed_rate`` and a 95 % Wilson interval ``observed_lo`` / ``observed_hi``.
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, len(p), bins + 1).round().astype(int)
    rows = []
    for i in range(bins):
        idx = order[edges[i] : edges[i + 1]]
        if not idx.size:
            continue
        n, k = idx.size, float(y[idx].sum())
        phat = k / n
        z = 1.96
        centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        rows.append(
            {
                "ranker": ranker,
                "bin": i + 1,
                "rows": n,
                "positives": int(k),
                "mean_predicted": float(p[idx].mean()),
                "observed_rate": phat,
                "observed_lo": max(0.0, centre - half),
                "observed_hi": min(1.0, centre + half),
            }
        )
    return pd.DataFrame(rows)
