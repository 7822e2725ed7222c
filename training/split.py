"""Train / validation / test splits that respect time and the label horizon.

A row's label looks at ``[as_of, as_of + horizon)``. Two windows may only follow each other
when every label of the earlier one is fully observed before the later one starts, so a row
of the earlier window with snapshot ``a`` must satisfy ``a + horizon <= start of the next
window``. With monthly snapshots and a 12-month horizon that leaves 11 snapshot months unused
between two windows ("the gap"). Snapshots dated inside a month (the application view's
``as_of`` is the application day) need one month more: an application of 15 March 2021 has a
label looking up to 14 March 2022, so it may not train a model whose validation window starts on
1 March 2022; for such tables the windows are laid out with a gap of ``horizon + 1`` months
(:func:`label_gap_months`).

The time split puts the newest ``test_months`` labelled snapshot months in the test window, the
``valid_months`` before the gap in the validation window (early stopping and calibration) and
everything before the next gap in the training window. The rolling backtest repeats the same
layout with the test window moved back by ``step_months`` at a time, as long as at least
``min_train_months`` of training snapshots remain.

A table with too few labelled months for that layout (one snapshot, as external data sets
often are) is split by household instead: households are shuffled with a seed inside two strata
(any positive row or none) and dealt 60/20/20 into train/valid/test, so no household is on both
sides and each part has about the same share of households with trouble.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")
MIN_WINDOW_POSITIVES = 200
"""Fewest positives the newest ``months`` window should hold before windows are lengthened."""
MIN_POSITIVES = 3
"""Fewest positives (and negatives) each of the train, validation and test windows must hold.

A floor for *can be trained and measured*, not for *can be trusted*: with one class in a window
scikit-learn stops with a message that does not name the label, and with one or two positives
the calibration shift, the early-stopping loss and a test AUC rest on one or two cases (every
bootstrap interval degenerates). Above the floor, how far to trust the figures is what their
intervals say (the small simulated district's application view trains with 4 validation
positives and reports intervals wide enough to show it). Under it the trainer stops with
:class:`TooFewPositivesError`, naming the label and every window's counts."""


class TooFewPositivesError(ValueError):
    """A window of the split holds too few positives (or negatives) of the label to train on."""


def require_positives(split: Split, label: str, minimum: int = MIN_POSITIVES) -> None:
    """Raise :class:`TooFewPositivesError` unless every window holds ``minimum`` positives and
    ``minimum`` negatives of ``label``.

    The message names the label, the split kind and the counts of every window, so the data team
    sees at once whether the label is too rare overall or only in one window.
    """
    w = split.info.windows
    short = [
        p
        for p in PARTS
        if w[p]["positives"] < minimum or w[p]["rows"] - w[p]["positives"] < minimum
    ]
    if short:
        counts = ", ".join(
            f"{p} {w[p]['positives']} positive(s) of {w[p]['rows']} rows" for p in PARTS
        )
        raise TooFewPositivesError(
            f"label '{label}' has fewer than {minimum} positives (or negatives) in the "
            f"{'/'.join(short)} window(s) of the {split.info.kind} split: {counts}; at least "
            f"{minimum} of each class are needed in every window (training.split.MIN_POSITIVES)"
        )


@dataclass
class SplitInfo:
    """What split a run used, why, and what each window holds.

    Attributes:
        kind: ``"time"`` or ``"household"``.
        reason: Why this kind was chosen (human readable).
        horizon_months: Label horizon used for the gaps.
        windows: ``"train"``, ``"valid"``, ``"test"`` → ``{"start", "end"`` (ISO dates of the
            first and last snapshot), ``"months"``, ``"rows"``, ``"positives"``, ``"households"``,
            ``"label_rate"}``.
        cutoffs: Test-window starts of the rolling backtest, newest first (ISO dates; the
            first is the main test window). Empty for a household split.
        null_label_rows: Rows dropped because their label is not yet observed.
        params: Window lengths and seed that produced the split.
    """

    kind: str
    reason: str
    horizon_months: int
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    cutoffs: list[str] = field(default_factory=list)
    null_label_rows: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return asdict(self)


@dataclass
class Split:
    """Row positions (into the labelled table) of each window plus the :class:`SplitInfo`."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    info: SplitInfo

    def part(self, name: str) -> np.ndarray:
        """Positions of ``train``, ``valid`` or ``test``."""
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]


def month_number(as_of: pd.Series) -> np.ndarray:
    """Calendar month index (year * 12 + month - 1) of each snapshot."""
    d = pd.to_datetime(as_of)
    return (d.dt.year * 12 + d.dt.month - 1).to_numpy(dtype="int64")


def label_gap_months(as_of: pd.Series, horizon: int) -> int:
    """Months between the snapshot months of two windows so that no label overlaps the next window.

    ``horizon`` when every snapshot is the first day of a month (``a + horizon`` is then the
    first day of a month, at most the next window's start); ``horizon + 1`` as soon as one
    snapshot is dated later in its month (its label then runs into month ``m + horizon``).
    """
    d = pd.to_datetime(as_of)
    return horizon + int(bool((d.dt.day != 1).any()))


def window_months(
    table: pd.DataFrame,
    label: str,
    horizon: int = 12,
    base: int = 12,
    longest: int = 24,
    min_train_months: int = 12,
    min_positives: int = MIN_WINDOW_POSITIVES,
) -> tuple[int, str]:
    """Length of the validation and test windows, chosen by the positives they would hold.

    ``base`` months when the newest ``base`` labelled months hold at least ``min_positives``
    positives; else the shortest multiple of ``base`` up to ``longest`` that does (or
    ``longest``), as long as the table still spans a time split with such windows. A test
    window of ~100 positives gives a ROC AUC interval about 0.13 wide, too wide to tell a model
    from today's practice; two years of applications double the positives (and the validation
    window's, which calibration and early stopping use) at the price of older training rows.

    Returns:
        ``(months, reason)``.
    """
    months = month_number(table["as_of"])
    if not len(months):
        return base, "empty table"
    y = table[label].astype("int64").to_numpy()
    last, first = int(months.max()), int(months.min())
    gap = label_gap_months(table["as_of"], horizon)
    chosen = base
    for m in range(base, longest + 1, base):
        chosen = m
        if int(y[months > last - m].sum()) >= min_positives:
            break
    while chosen > base and last - first + 1 < min_train_months + 2 * chosen + 2 * (gap - 1):
        chosen -= base
    pos = int(y[months > last - chosen].sum())
    if chosen == base:
        return base, f"the newest {base} months hold {pos} positives"
    return chosen, (
        f"the newest {base} months hold {int(y[months > last - base].sum())} positives "
        f"(< {min_positives}): validation and test windows of {chosen} months ({pos} positives)"
    )


def labelled(table: pd.DataFrame, label: str) -> tuple[pd.DataFrame, int]:
    """Rows with an observed label (index reset) and how many were dropped."""
    keep = table[label].notna().to_numpy()
    out = table.loc[keep].reset_index(drop=True)
    return out, int((~keep).sum())


def _describe(table: pd.DataFrame, label: str, pos: np.ndarray) -> dict[str, Any]:
    part = table.iloc[pos]
    y = part[label].astype("int64")
    months = part["as_of"]
    return {
        "start": months.min().strftime("%Y-%m-%d") if len(part) else None,
        "end": months.max().strftime("%Y-%m-%d") if len(part) else None,
        "months": int(months.nunique()),
        "rows": len(part),
        "positives": int(y.sum()),
        "households": int(part["household_id"].nunique()),
        "label_rate": float(y.mean()) if len(part) else float("nan"),
    }


def time_windows(
    months: np.ndarray,
    test_start: int,
    horizon: int,
    valid_months: int,
    test_months: int,
) -> dict[str, tuple[int, int]]:
    """Inclusive month ranges of the three windows for a test window starting at ``test_start``.

    Args:
        months: Month numbers of the labelled rows (only their minimum is used).
        test_start: Month number of the first test snapshot.
        horizon: Gap in months: the label horizon (one more for snapshots dated inside a
            month, :func:`label_gap_months`).
        valid_months: Length of the validation window.
        test_months: Length of the test window.

    Returns:
        ``{"train": (first, last), "valid": (first, last), "test": (first, last)}``.
    """
    test_end = test_start + test_months - 1
    valid_end = test_start - horizon  # a + horizon <= test_start
    valid_start = valid_end - valid_months + 1
    train_end = valid_start - horizon
    return {
        "train": (int(months.min()), train_end),
        "valid": (valid_start, valid_end),
        "test": (test_start, test_end),
    }


def _positions(months: np.ndarray, rng: tuple[int, int]) -> np.ndarray:
    return np.flatnonzero((months >= rng[0]) & (months <= rng[1]))


def make_split(
    table: pd.DataFrame,
    label: str,
    horizon: int = 12,
    valid_months: int = 12,
    test_months: int = 12,
    min_train_months: int = 12,
    step_months: int = 6,
    max_windows: int = 4,
    seed: int = 42,
    null_label_rows: int = 0,
) -> tuple[Split, list[Split]]:
    """Split a labelled table by time if it spans enough months, else by household.

    Args:
        table: Rows with an observed label only (see :func:`labelled`), index 0..n-1.
        label: Label column.
        horizon: Label horizon in months (gap between windows).
        valid_months: Validation window length.
        test_months: Test window length.
        min_train_months: Fewest training snapshot months for a time split (and per backtest
            window).
        step_months: How far each backtest window moves back.
        max_windows: Most backtest windows (the main one included).
        seed: Seed of the household split.
        null_label_rows: Rows dropped before (recorded in :class:`SplitInfo`).

    Returns:
        The main split and the backtest splits (newest first; the first is the main split).
    """
    if table[label].isna().any():
        raise ValueError("make_split expects rows with an observed label only")
    months = month_number(table["as_of"])
    params = {
        "valid_months": valid_months,
        "test_months": test_months,
        "min_train_months": min_train_months,
        "step_months": step_months,
        "seed": seed,
    }
    n_months = int(np.unique(months).size)
    gap = label_gap_months(table["as_of"], horizon)
    params["gap_months"] = gap
    needed = min_train_months + valid_months + test_months + 2 * (gap - 1)
    span = int(months.max() - months.min() + 1) if len(months) else 0
    if span >= needed:
        last = int(months.max())
        splits: list[Split] = []
        for k in range(max_windows):
            test_start = last - test_months + 1 - k * step_months
            w = time_windows(months, test_start, gap, valid_months, test_months)
            if w["train"][1] - w["train"][0] + 1 < min_train_months:
                break
            pos = {name: _positions(months, rng) for name, rng in w.items()}
            if any(table[label].iloc[p].sum() == 0 for p in pos.values()):
                logger.warning("backtest window starting %d has a part without positives", k)
                if k:
                    break
            info = SplitInfo(
                kind="time",
                reason=(
                    f"{n_months} labelled snapshot months ({span} calendar months) are enough for "
                    f"train >= {min_train_months} + valid {valid_months} + test {test_months} "
                    f"months with {gap - 1}-month gaps (label horizon {horizon}"
                    + (
                        ", snapshots dated inside a month: one month more)"
                        if gap > horizon
                        else ")"
                    )
                ),
                horizon_months=horizon,
                windows={name: _describe(table, label, p) for name, p in pos.items()},
                null_label_rows=null_label_rows,
                params={**params, "window": k},
            )
            splits.append(Split(pos["train"], pos["valid"], pos["test"], info))
        cutoffs = [s.info.windows["test"]["start"] for s in splits]
        for s in splits:
            s.info.cutoffs = cutoffs
        logger.info("time split: %s; backtest cut-offs %s", splits[0].info.windows, cutoffs)
        return splits[0], splits
    reason = (
        f"only {n_months} labelled snapshot month(s) spanning {span} calendar month(s); a time "
        f"split needs {needed} (train {min_train_months} + valid {valid_months} + test "
        f"{test_months} + two {gap - 1}-month label gaps), so households are split instead "
        "(stratified by any trouble, 60/20/20, no household on two sides)"
    )
    split = household_split(table, label, seed)
    split.info.reason = reason
    split.info.horizon_months = horizon
    split.info.null_label_rows = null_label_rows
    split.info.params = {**params, "fractions": [0.6, 0.2, 0.2]}
    logger.info("household split: %s", reason)
    return split, [split]


def household_split(
    table: pd.DataFrame, label: str, seed: int = 42, fractions: tuple[float, float] = (0.6, 0.2)
) -> Split:
    """Deal households into train/valid/test, stratified by whether they have any positive row.

    Args:
        table: Labelled rows, index 0..n-1.
        label: Label column.
        seed: Shuffle seed.
        fractions: Shares of train and valid (test gets the rest).
    """
    hh = table["household_id"].astype(str).to_numpy()
    y = table[label].astype("int64").to_numpy()
    any_pos = pd.Series(y, index=hh).groupby(level=0, sort=True).max()
    rng = np.random.default_rng(seed)
    assign: dict[str, str] = {}
    for stratum in (0, 1):
        ids = any_pos.index[any_pos.to_numpy() == stratum].to_numpy()
        ids = ids[rng.permutation(ids.size)]
        n_train = round(ids.size * fractions[0])
        n_valid = round(ids.size * fractions[1])
        for i, h in enumerate(ids):
            assign[h] = "train" if i < n_train else "valid" if i < n_train + n_valid else "test"
    part = np.array([assign[h] for h in hh])
    pos = {name: np.flatnonzero(part == name) for name in PARTS}
    info = SplitInfo(
        kind="household",
        reason="",
        horizon_months=0,
        windows={name: _describe(table, label, p) for name, p in pos.items()},
    )
    return Split(pos["train"], pos["valid"], pos["test"], info)
