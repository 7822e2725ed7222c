"""Test-window metrics with clustered bootstrap intervals, for models and rankings alike.

Every metric takes row weights, so a bootstrap replicate is just another weight vector: the
households of the test window are drawn with replacement (a *clustered* bootstrap — a household
contributes up to 12 strongly correlated monthly rows, so resampling rows would understate the
uncertainty) and each row gets its household's draw count as weight. The same draws are used for
every ranking, so differences between rankings (``gap_*``) get paired intervals. Intervals are
the 2.5 and 97.5 percentiles of ``n_boot`` replicates.

A replicate is computed from the draw itself rather than from its row weights
(:meth:`RankingEvaluator.replicate`): block sums gather the households' draw counts, the visit
lists are read from prefix sums, the linear probability metrics are dot products with
per-household sums, and the calibration fit starts from the point estimate and skips undrawn
rows. It gives what ``metrics(w)`` gives for the same draw — the rank metrics exactly, the others
to rounding (``tests/training/test_evaluate_fast.py``) — at a fraction of the cost: the
bootstrap was the largest stage of training.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from training import BOOT_ROW_BUDGET, MIN_BOOT, N_BOOT, boot_replicates

logger = logging.getLogger(__name__)

TOP_K = (1, 2, 5, 10)
EPS = 1e-6
GAP_METRICS = ("roc_auc", "pr_auc", "capture_top10", "capture_at_capacity")
PROBABILITY_METRICS = (
    "brier",
    "log_loss",
    "calibration_intercept",
    "calibration_slope",
    "predicted_rate",
)
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


@dataclass
class _Grouping:
    """One ordering of the rows, cut into blocks of tied scores (within groups for a visit list).

    Attributes:
        order: Row of each sorted position.
        block: Block of each sorted position.
        n_block: Number of blocks.
        pos: Sorted positions of the trouble rows (a block's trouble weight sums only these).
        start_idx: First block of each block's group (visit lists only).
        grp_code: Group code of each block (visit lists only).
        household: Household code of each sorted position (set by
            :meth:`RankingEvaluator.cluster`).
    """

    order: np.ndarray
    block: np.ndarray
    n_block: int
    pos: np.ndarray
    start_idx: np.ndarray | None = None
    grp_code: np.ndarray | None = None
    household: np.ndarray | None = None

    def sums(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weight and trouble weight of each block for row weights ``w``."""
        wo = w[self.order]
        return self._sums(wo, wo[self.pos])

    def sums_of_draw(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`sums` for the weights ``counts[household]`` of a clustered draw."""
        hh = self.household
        assert hh is not None, "RankingEvaluator.cluster was not called"
        return self._sums(counts[hh], counts[hh[self.pos]])

    def _sums(self, wo: np.ndarray, wo_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Sums of the same terms in the same order as a bincount over every row (a trouble-free
        # row adds an exact 0.0), so the block sums are bit for bit those of the full bincount.
        if self.n_block == len(wo):  # no ties: each position is its own block
            W = wo.astype("float64", copy=True)
            P = np.zeros(self.n_block)
            P[self.pos] = wo_pos
            return W, P
        W = np.bincount(self.block, weights=wo, minlength=self.n_block)
        P = np.bincount(self.block[self.pos], weights=wo_pos, minlength=self.n_block)
        return W, P

    def visits(self, W: np.ndarray, P: np.ndarray) -> _Visits:
        """The visit list of these block sums, for any budget."""
        return _Visits(W, P, self)

    @cached_property
    def first(self) -> np.ndarray:
        """First block of each group, in block order (visit lists only)."""
        assert self.start_idx is not None
        return np.unique(self.start_idx)

    @cached_property
    def end(self) -> np.ndarray:
        """One past the last block of each group."""
        return np.r_[self.first[1:], self.n_block]


@dataclass
class _Visits:
    """Block sums of one visit list, from which every budget's visits are read.

    Attributes:
        W: Weight of each block.
        P: Trouble weight of each block.
        grouping: The blocks' grouping (a visit list is taken in each of its groups).
    """

    W: np.ndarray
    P: np.ndarray
    grouping: _Grouping
    _before: np.ndarray | None = None
    _group_weight: np.ndarray | None = None
    _prefix: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, budget: float, relative: bool) -> tuple[float, float]:
        """``(caught, visited)`` trouble and rows when each group visits ``budget`` weight
        (``relative``: that share of the group's weight); a block cut by the budget is taken
        in proportion."""
        W, g = self.W, self.grouping
        if self._before is None:
            cw = np.cumsum(W)
            self._before = cw - W - (cw[g.start_idx] - W[g.start_idx])
        if relative:
            if self._group_weight is None:
                self._group_weight = np.bincount(g.grp_code, weights=W)[g.grp_code]
            B = budget * self._group_weight
        else:
            B = budget
        taken = np.clip(B - self._before, 0.0, W)
        frac = np.divide(taken, W, out=np.zeros_like(W), where=W > 0)
        return float((self.P * frac).sum()), float(taken.sum())

    def take_cut(self, budget: float, relative: bool) -> tuple[float, float]:
        """:meth:`take` from prefix sums: each group's visits are its blocks before the one the
        budget cuts, found by binary search, plus the cut block's share. Equal to :meth:`take`
        up to the order in which the cut blocks' shares are added (rounding)."""
        W, P, first, end = self.W, self.P, self.grouping.first, self.grouping.end
        if self._prefix is None:
            zero = np.zeros(1)
            self._prefix = (
                np.concatenate([zero, np.cumsum(W)]),
                np.concatenate([zero, np.cumsum(P)]),
            )
        cw, cp = self._prefix
        base = cw[first]
        B = budget * (cw[end] - base) if relative else np.full(len(first), budget)
        cut = np.minimum(np.searchsorted(cw[1:], base + B, side="right"), end)
        full_w, full_p = cw[cut] - base, cp[cut] - cp[first]
        inside = cut < end
        j = cut[inside]
        w_j = W[j]
        taken = np.clip(B[inside] - full_w[inside], 0.0, w_j)
        frac = np.divide(taken, w_j, out=np.zeros_like(w_j), where=w_j > 0)
        caught = float(full_p.sum() + (P[j] * frac).sum())
        return caught, float(full_w.sum() + taken.sum())


@dataclass
class _Draw:
    """One clustered bootstrap replicate: what every ranking shares of its household draw.

    Attributes:
        counts: Draws of each household.
        w: Weight of each row (its household's draws).
        sel: Rows drawn at least once (a calibration fit skips the others: weight 0).
        y_sel: Their labels.
        positives: Weighted trouble rows.
        total: Weighted rows.
    """

    counts: np.ndarray
    w: np.ndarray
    sel: np.ndarray
    y_sel: np.ndarray
    positives: float
    total: float

    @classmethod
    def of(cls, counts: np.ndarray, household: np.ndarray, y: np.ndarray) -> _Draw:
        """The draw ``counts`` of rows with household codes ``household`` and labels ``y``."""
        w = counts[household]
        sel = np.flatnonzero(w)
        return cls(counts, w, sel, y[sel], float((w * y).sum()), float(w.sum()))


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
        order = np.argsort(-self.s, kind="stable")
        block = _blocks([self.s[order]])
        self.groupings = {"rank": self._grouping(order, block)}
        self._group_keys = {"period": np.asarray(period), "cell": np.asarray(cell)}
        self.start = np.array([0.0, 1.0])
        self._household: np.ndarray | None = None
        self._household_sums: np.ndarray | None = None
        if is_proba:
            self.z = _logit(self.s)
            self.p = np.clip(self.s, EPS, 1 - EPS)
            self.ll = self.y * np.log(self.p) + (1 - self.y) * np.log(1 - self.p)

    def grouping(self, name: str) -> _Grouping:
        """The ordering ``rank`` (by score), or ``period`` / ``cell`` (by group, then score),
        built on first use: the rank metrics alone (:func:`roc_auc`) need neither group."""
        if name not in self.groupings:
            g = self._group_keys[name]
            order = np.lexsort((-self.s, g))
            blk = _blocks([g[order], self.s[order]])
            n_blk = int(blk[-1]) + 1 if len(blk) else 0
            first_pos = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]]) if len(blk) else blk
            blk_group = g[order][first_pos]
            grp_start = np.r_[True, blk_group[1:] != blk_group[:-1]] if n_blk else blk_group
            # index of the first block of each block's group
            start_idx = np.maximum.accumulate(np.where(grp_start, np.arange(n_blk), 0))
            _, grp_code = np.unique(blk_group, return_inverse=True)
            self.groupings[name] = self._grouping(order, blk, start_idx, grp_code)
            if self._household is not None:
                self.groupings[name].household = self._household[order]
        return self.groupings[name]

    def _grouping(
        self,
        order: np.ndarray,
        block: np.ndarray,
        start_idx: np.ndarray | None = None,
        grp_code: np.ndarray | None = None,
    ) -> _Grouping:
        n_block = int(block[-1]) + 1 if len(block) else 0
        pos = np.flatnonzero(self.y[order] != 0)
        return _Grouping(order, block, n_block, pos, start_idx, grp_code)

    def cluster(self, household: np.ndarray) -> None:
        """Prepare :meth:`replicate` for draws of the households ``household`` (codes 0..n-1)."""
        household = np.asarray(household, dtype="int64")
        self._household = household
        for g in self.groupings.values():
            g.household = household[g.order]
        if self.is_proba:
            # per household: squared error, log-likelihood, score, and the gradient and Hessian
            # terms of the calibration fit at the point estimate (a replicate's first step)
            n_hh = int(household.max()) + 1 if len(household) else 0
            mu = _sigmoid(self.start[0] + self.start[1] * self.z)
            r, v = self.y - mu, mu * (1 - mu)
            terms = ((self.s - self.y) ** 2, self.ll, self.s, r, r * self.z, v, v * self.z)
            self._household_sums = np.stack(
                [np.bincount(household, weights=t, minlength=n_hh) for t in terms]
                + [np.bincount(household, weights=v * self.z * self.z, minlength=n_hh)],
                axis=1,
            )

    def _top(self, grouping: str, w: np.ndarray, budget: float, relative: bool) -> tuple:
        """``(caught, visited)`` when each group of ``grouping`` visits ``budget``."""
        g = self.grouping(grouping)
        return g.visits(*g.sums(w)).take(budget, relative)

    def metrics(self, w: np.ndarray | None = None, top_k: Sequence[int] = TOP_K) -> dict:
        """All metrics for row weights ``w`` (default: 1 per row)."""
        first = w is None
        w = np.ones_like(self.y) if w is None else np.asarray(w, dtype="float64")
        P, total = float((w * self.y).sum()), float(w.sum())
        out = self._ranking_metrics(lambda name: self.grouping(name).sums(w), P, total, top_k)
        if self.is_proba:
            out["brier"] = float((w * (self.s - self.y) ** 2).sum() / total)
            out["log_loss"] = float(-(w * self.ll).sum() / total)
            a, b = calibration_fit(self.y, self.z, w, start=self.start)
            if first and np.isfinite(a) and np.isfinite(b):
                self.start = np.array([a, b])  # bootstrap replicates start from the estimate
            out["calibration_intercept"], out["calibration_slope"] = a, b
            out["predicted_rate"] = float((w * self.s).sum() / total)
        else:
            out.update(dict.fromkeys(PROBABILITY_METRICS, float("nan")))
        return out

    def replicate(self, draw: _Draw, top_k: Sequence[int] = TOP_K) -> dict:
        """:meth:`metrics` of a clustered bootstrap draw (after :meth:`cluster`).

        Equal to ``metrics(draw.w)``, but cheaper: block sums are gathered from the household
        counts, the Brier score, log loss and predicted rate are dot products with per-household
        sums, and the calibration fit skips undrawn rows and starts from the point estimate
        (:func:`calibration_refit`). Rank metrics are sums of whole draw counts, so they equal
        ``metrics(draw.w)`` exactly; the probability metrics to rounding.
        """
        P, total = draw.positives, draw.total
        out = self._ranking_metrics(
            lambda name: self.grouping(name).sums_of_draw(draw.counts), P, total, top_k, cut=True
        )
        if self.is_proba:
            assert self._household_sums is not None, "RankingEvaluator.cluster was not called"
            sq, ll, s, g0, g1, h00, h01, h11 = draw.counts @ self._household_sums
            out["brier"] = float(sq / total)
            out["log_loss"] = float(-ll / total)
            try:
                first = np.linalg.solve(np.array([[h00, h01], [h01, h11]]), np.array([g0, g1]))
            except np.linalg.LinAlgError:
                first = None
            sel = draw.sel
            a, b = calibration_refit(
                draw.y_sel, self.z[sel], draw.w[sel], self.start, first_step=first
            )
            out["calibration_intercept"], out["calibration_slope"] = a, b
            out["predicted_rate"] = float(s / total)
        else:
            out.update(dict.fromkeys(PROBABILITY_METRICS, float("nan")))
        return out

    def rank_metrics(self, w: np.ndarray | None = None) -> dict[str, float]:
        """``observed_rate``, ``roc_auc``, ``pr_auc`` and ``ks`` for row weights ``w``."""
        w = np.ones_like(self.y) if w is None else np.asarray(w, dtype="float64")
        return self._rank_metrics(
            *self.groupings["rank"].sums(w), P=float((w * self.y).sum()), total=float(w.sum())
        )

    @staticmethod
    def _rank_metrics(W: np.ndarray, pos_b: np.ndarray, P: float, total: float) -> dict[str, float]:
        """Metrics of the ranking's order from its blocks' weight and trouble weight."""
        N = total - P
        out: dict[str, float] = {"observed_rate": P / total if total else float("nan")}
        neg_b = W - pos_b
        cpos, cneg = np.cumsum(pos_b), np.cumsum(neg_b)
        if P > 0 and N > 0:
            out["roc_auc"] = float((pos_b * (N - cneg) + 0.5 * pos_b * neg_b).sum() / (P * N))
            prec = np.divide(cpos, cpos + cneg, out=np.zeros_like(cpos), where=(cpos + cneg) > 0)
            out["pr_auc"] = float((pos_b / P * prec).sum())
            out["ks"] = float(np.max(np.abs(cpos / P - cneg / N)))
        else:
            out["roc_auc"] = out["pr_auc"] = out["ks"] = float("nan")
        return out

    def _ranking_metrics(
        self,
        sums: Callable[[str], tuple[np.ndarray, np.ndarray]],
        P: float,
        total: float,
        top_k: Sequence[int],
        cut: bool = False,
    ) -> dict[str, float]:
        """Rank and visit metrics from the block sums (weight, trouble weight) ``sums(grouping)``
        (``cut``: visit lists read from prefix sums, :meth:`_Visits.take_cut`)."""
        out = self._rank_metrics(*sums("rank"), P, total)
        if top_k:
            period = self.grouping("period").visits(*sums("period"))
            take = period.take_cut if cut else period.take
            for k in top_k:
                caught, visited = take(k / 100.0, relative=True)
                out[f"precision_top{k}"] = caught / visited if visited else float("nan")
                out[f"capture_top{k}"] = caught / P if P else float("nan")
        cells = self.grouping("cell").visits(*sums("cell"))
        caught, visited = (cells.take_cut if cut else cells.take)(float(self.capacity), False)
        out["precision_at_capacity"] = caught / visited if visited else float("nan")
        out["capture_at_capacity"] = caught / P if P else float("nan")
        out["visits_at_capacity_share"] = visited / total if total else float("nan")
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
        h = _information(z, w * mu * (1 - mu))
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


def _information(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Fisher information of ``(intercept, slope)`` of a logistic fit on ``z``, with the rows'
    weights times ``p (1 - p)`` in ``v`` (the Newton steps' Hessian)."""
    return np.array([[v.sum(), (v * z).sum()], [(v * z).sum(), (v * z * z).sum()]])


def calibration_slope_se(
    z: np.ndarray, intercept: float, slope: float, w: np.ndarray | None = None
) -> float:
    """Standard error of :func:`calibration_fit`'s slope (inverse Fisher information at the
    fit); infinite when the fit is undefined or the information singular."""
    if not (np.isfinite(intercept) and np.isfinite(slope)):
        return float("inf")
    z = np.asarray(z, dtype="float64")
    w = np.ones_like(z) if w is None else np.asarray(w, dtype="float64")
    p = _sigmoid(intercept + slope * z)
    info = _information(z, w * p * (1 - p))
    det = float(np.linalg.det(info))
    return float(np.sqrt(info[0, 0] / det)) if det > 0 else float("inf")


REFIT_TOLERANCE = 1e-7
"""Newton step below which :func:`calibration_refit` stops, after taking it: Newton converges
quadratically, so the fit is then within about the square of it of the full fit's."""


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(eta))
    return np.where(eta >= 0, 1.0, e) / (1.0 + e)


def calibration_refit(
    y: np.ndarray,
    z: np.ndarray,
    w: np.ndarray,
    start: np.ndarray,
    iters: int = 50,
    tol: float = REFIT_TOLERANCE,
    first_step: np.ndarray | None = None,
) -> tuple[float, float]:
    """:func:`calibration_fit` of a bootstrap replicate, started from the point estimate.

    A replicate's fit lies close to the point estimate, where Newton converges quadratically:
    each step is about the square of the one before, so plain Newton steps are taken, without
    the log-likelihood of a step-halving check (which also made the full fit halve a last,
    tiny step up to 30 times: its gain is below the rounding of the sum). A step that is not
    at most half the one before (not converging quadratically) hands the fit to
    :func:`calibration_fit`, step halving and all, from ``start``.

    Args:
        y: 0/1 outcomes.
        z: Logits of the predicted probabilities.
        w: Positive row weights (rows of weight 0 may be left out: they add nothing).
        start: Starting ``(intercept, slope)``.
        iters: Most Newton steps.
        tol: Step size after which to stop.
        first_step: The first Newton step from ``start``, when the caller has it (a replicate
            computes it from per-household sums, :meth:`RankingEvaluator.replicate`).

    Returns:
        ``(intercept, slope)``; NaN when the fit is undefined (one class only).
    """
    wy = w * y
    if wy.sum() <= 0 or (w - wy).sum() <= 0:
        return float("nan"), float("nan")
    beta = np.asarray(start, dtype="float64").copy()
    previous = np.inf
    if first_step is not None:
        previous = float(np.max(np.abs(first_step)))
        if not np.isfinite(previous):
            return calibration_fit(y, z, w, start=start)
        beta = beta + first_step
        if previous < tol:
            return float(beta[0]), float(beta[1])
    for _ in range(iters):
        mu = _sigmoid(beta[0] + beta[1] * z)
        r = wy - w * mu
        v = w * mu * (1 - mu)
        vz = v * z
        g = np.array([r.sum(), (r * z).sum()])
        h = np.array([[v.sum(), vz.sum()], [vz.sum(), (vz * z).sum()]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return calibration_fit(y, z, w, start=start)
        size = float(np.max(np.abs(step)))
        if not size <= 0.5 * previous:  # diverging, or not yet in the quadratic phase
            return calibration_fit(y, z, w, start=start)
        beta = beta + step
        if size < tol:
            break
        previous = size
    return float(beta[0]), float(beta[1])


def roc_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC with ties counted as one half."""
    n = len(y)
    return RankingEvaluator(y, score, np.zeros(n), np.zeros(n), 1, False).rank_metrics(w)["roc_auc"]


def ks_statistic(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """Kolmogorov–Smirnov distance between the score distributions of positives and negatives."""
    n = len(y)
    return RankingEvaluator(y, score, np.zeros(n), np.zeros(n), 1, False).rank_metrics(w)["ks"]


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
    reps = _bootstrap(evaluators, gaps, codes(frame["household_id"]), n_boot, seed)
    out: dict[str, dict[str, float]] = {}
    for name, m in point.items():
        res = dict(m)
        for key in m:
            vals = reps[name][key]
            vals = vals[~np.isnan(vals)]
            lo, hi = np.percentile(vals, [2.5, 97.5]) if vals.size else (np.nan, np.nan)
            res[f"{key}_lo"], res[f"{key}_hi"] = float(lo), float(hi)
        out[name] = res
    return out


def _bootstrap(
    evaluators: Mapping[str, RankingEvaluator],
    gaps: Sequence[tuple[str, str]],
    hh: np.ndarray,
    n_boot: int,
    seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Ranking (and gap) → metric → its value in each of ``n_boot`` clustered replicates.

    Households (codes ``hh`` of the rows) are drawn with replacement, the same draws for every
    ranking; a row's weight is its household's draw count (:meth:`RankingEvaluator.replicate`).
    """
    if not evaluators:
        return {}
    n_hh = int(hh.max()) + 1
    for ev in evaluators.values():
        ev.cluster(hh)
    y = next(iter(evaluators.values())).y
    rng = np.random.default_rng(seed)
    reps: dict[str, dict[str, np.ndarray]] = {}
    for r in range(n_boot):
        counts = np.bincount(rng.integers(0, n_hh, n_hh), minlength=n_hh).astype("float64")
        draw = _Draw.of(counts, hh, y)
        rep = {name: ev.replicate(draw) for name, ev in evaluators.items()}
        for a, b in gaps:
            rep[f"gap_{a}_vs_{b}"] = {m: rep[a][m] - rep[b][m] for m in GAP_METRICS}
        for name, m in rep.items():
            into = reps.setdefault(name, {key: np.empty(n_boot) for key in m})
            for key, v in m.items():
                into[key][r] = v
    return reps


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
