"""Monotone constraints checked on the validation window, not assumed (``--monotone``).

The catalog declares the direction in which risk should move with each feature
(:attr:`features.catalog.Feature.direction`), and LightGBM can be held to it. A constraint that
matches the data costs nothing and keeps the score explainable ("more arrears, never less
risk"); one that is wrong for the data at hand (a brought-in table, another district, a catalog
direction that was a guess) can cost real accuracy — on one real repayment data set the
catalog's constraints cost 0.02 AUC and put LightGBM below its own logistic challenger. So the
trainer has three modes:

* ``catalog`` — every catalog direction is a constraint (what the trainer did before);
* ``off`` — no constraint at all;
* ``auto`` (default) — each *group* of catalog constraints is tested: a group is kept only when
  dropping it gains less than :data:`TOLERANCE` of validation ROC AUC over the fit with every
  constraint. A group is one catalog quantity over its windows (``interest_ontime_share_3m`` …
  ``_24m`` is one group), since its windows carry one direction and should stand or fall
  together.

How ``auto`` tests ~40 groups within the training time budget: adaptive group testing. The fit
with every constraint is compared first with the fit with *none*; when dropping all of them
gains less than the tolerance, every group is kept after two fits (the usual case when the
catalog suits the data). Otherwise the set is halved and each half tested the same way, down to
single groups, so a wrong group is found and measured alone in about ``2 log2(groups)`` fits
instead of one fit per group (a fit per group took ~5 s on a 20,000-row sample on the shared
2-core host: 40 groups would cost more than the whole 3-minute budget). A group's recorded cost
is that of the smallest set it was tested in (``tested_with`` groups; 1 = measured alone). This
assumes a set that gains nothing when dropped holds no member that would gain on its own — true
when constraints' costs do not cancel out, which a set of *right* constraints cannot do.

Every mode records, per group, its features, direction, the validation AUC cost of keeping it
(AUC without it − AUC with it; ``auto`` only; ``tested_with`` > 1: the cost of the set it was
tested in) and whether it was kept, in the model card and as
MLflow metrics ``monotone.<group>.auc_cost``. Features outside the catalog (extra columns of a
brought-in table) and categorical features are never constrained: there is no declared
direction to hold them to.

The test fits of ``auto`` run locally on a seeded sample of at most :data:`SAMPLE_ROWS` training
rows, for a fixed number of rounds found by early stopping on the all-constraints fit of the
same sample: the fits differ only in their constraints, so their AUCs are compared on the same
rows and rounds (a paired comparison), and the whole test stays within the training time
budget. The validation and test windows are the trainer's; only the validation window decides,
so the test window's metrics stay honest.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.evaluate import roc_auc
from training.fit import train_watching_validation

logger = logging.getLogger(__name__)

MODES = ("catalog", "auto", "off")
DEFAULT_MODE = "auto"
TOLERANCE = 0.005
"""Validation ROC AUC a group of constraints may cost and still be kept (``auto``).

About the noise of a paired AUC difference between two fits that differ in one group of
constraints on a validation window of a few hundred positives (the application view's); a real
misfit is several times larger (0.02 on the data set that motivated the check). Set it with
``vbsp-risk train --monotone-tolerance``."""
SAMPLE_ROWS = 40_000
"""Most training rows the test fits of ``auto`` use (seeded sample; see the module docstring)."""

MAX_ROUNDS = 300
"""Most rounds of the test fits: they compare constraint sets with one another on the same rows
and rounds, so they need not reach the model's own round count (a portfolio test fit that ran
to ~680 rounds made ``auto`` cost twenty minutes)."""
_WINDOW = re.compile(r"_\d+m$")


@dataclass
class MonotoneChoice:
    """The constraints a model is fitted with, and why.

    Attributes:
        mode: ``catalog``, ``auto`` or ``off``.
        constraints: Constraint per model feature (+1, -1 or 0), in model order.
        groups: Group → ``{"features", "direction", "auc_cost", "tested_with", "kept"}``;
            ``auc_cost`` is validation AUC without the constraints of the set of
            ``tested_with`` groups the group was last tested in, minus AUC with every
            constraint (``None`` unless tested by ``auto``).
        tolerance: The tolerance ``auto`` used.
        base_auc: Validation AUC of the all-constraints test fit (``auto`` only).
        rounds: Rounds of the test fits (``auto`` only).
        sample_rows: Training rows of the test fits (``auto`` only).
    """

    mode: str
    constraints: list[int]
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    tolerance: float = TOLERANCE
    base_auc: float | None = None
    rounds: int | None = None
    sample_rows: int | None = None

    def metrics(self) -> dict[str, float]:
        """``monotone.<group>.auc_cost`` and ``.kept`` of every tested group (for MLflow)."""
        out: dict[str, float] = {}
        for name, g in self.groups.items():
            if g["auc_cost"] is not None:
                out[f"monotone.{name}.auc_cost"] = float(g["auc_cost"])
            out[f"monotone.{name}.kept"] = float(g["kept"])
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly record (the run's parameters)."""
        dropped = [n for n, g in self.groups.items() if not g["kept"]]
        return {
            "mode": self.mode,
            "tolerance": self.tolerance,
            "base_auc": self.base_auc,
            "rounds": self.rounds,
            "sample_rows": self.sample_rows,
            "dropped": dropped,
            "groups": len(self.groups),
        }

    def markdown(self) -> str:
        """The model card's section on the constraints."""
        kept = sum(g["kept"] for g in self.groups.values())
        head = {
            "catalog": "every catalog direction is a constraint (`--monotone catalog`)",
            "off": "no constraint (`--monotone off`)",
            "auto": (
                f"each group tested on the validation window (`--monotone auto`): kept when "
                f"dropping it gains less than {self.tolerance:.3f} ROC AUC; test fits on "
                f"{self.sample_rows:,} sampled training rows, {self.rounds} rounds, AUC with "
                f"every constraint {self.base_auc:.4f}"
                if self.mode == "auto" and self.base_auc is not None
                else "each group tested on the validation window (`--monotone auto`)"
            ),
        }[self.mode]
        lines = [
            "## Monotone constraints",
            f"{head}. {kept} of {len(self.groups)} catalog groups kept; features outside the "
            "catalog and categorical features are unconstrained.",
        ]
        if self.groups:
            lines += [
                "",
                "| group | features | direction | AUC cost of keeping it | kept |",
                "|---|---|---|---|---|",
            ]
            for name, g in self.groups.items():
                cost = "—" if g["auc_cost"] is None else f"{g['auc_cost']:+.4f}"
                if g["tested_with"] > 1:
                    cost += f" (with {g['tested_with']} groups)"
                lines.append(
                    f"| {name} | {', '.join(g['features'])} | {g['direction']:+d} | "
                    f"{cost} | {'yes' if g['kept'] else 'no'} |"
                )
        return "\n".join(lines)


def constraint_groups(names: list[str], constraints: list[int]) -> dict[str, list[int]]:
    """Group → positions of its constrained features (a catalog quantity over its windows)."""
    groups: dict[str, list[int]] = {}
    for i, (name, c) in enumerate(zip(names, constraints, strict=True)):
        if c != 0:
            groups.setdefault(_WINDOW.sub("", name), []).append(i)
    return groups


def _fit_auc(
    dtrain: lgb.Dataset,
    dvalid: lgb.Dataset,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    constraints: list[int],
    rounds: int,
    stop: bool,
) -> tuple[float, int]:
    p = {**params, "monotone_constraints": constraints}
    if stop:  # only the first fit looks at the validation set each round (to find the rounds)
        # Early stopping watches the first metric only (the log loss): a validation AUC each
        # round (a sort of the window) would be computed for nothing.
        p["metric"] = _first_metric(params)
        booster = train_watching_validation(p, dtrain, dvalid, rounds, patience=50)
    else:
        booster = lgb.train(p, dtrain, num_boost_round=rounds)
    best = int(booster.best_iteration or 0) or rounds
    return roc_auc(y_valid, booster.predict(x_valid, num_iteration=best)), best


def _first_metric(params: dict[str, Any]) -> Any:
    """The metric early stopping watches (``first_metric_only``): the first of a list."""
    metric = params.get("metric", "")
    return metric[0] if isinstance(metric, list | tuple) and metric else metric


def choose_constraints(
    mode: str,
    names: list[str],
    catalog: list[int],
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: dict[str, Any],
    seed: int = 42,
    tolerance: float = TOLERANCE,
    sample_rows: int = SAMPLE_ROWS,
    max_rounds: int = MAX_ROUNDS,
) -> MonotoneChoice:
    """The constraints to fit with under ``mode`` (see the module docstring).

    Args:
        mode: ``catalog``, ``auto`` or ``off``.
        names: Model features, in model order.
        catalog: The catalog's constraint per feature (:func:`training.fit.monotone_constraints`).
        x_train: Training frame (:func:`training.fit.model_frame`).
        y_train: Training labels.
        x_valid: Validation frame.
        y_valid: Validation labels.
        params: LightGBM parameters of the model.
        seed: Seed of the training-row sample.
        tolerance: Validation AUC a group may cost and still be kept.
        sample_rows: Most training rows of the test fits.
        max_rounds: Most rounds of the all-constraints test fit.

    Raises:
        ValueError: For an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"monotone mode must be one of {list(MODES)}, not {mode!r}")
    positions = constraint_groups(names, catalog)
    groups = {
        g: {
            "features": [names[i] for i in pos],
            "direction": int(catalog[pos[0]]),
            "auc_cost": None,
            "tested_with": 0,
            "kept": mode != "off",
        }
        for g, pos in positions.items()
    }
    if mode == "off":
        return MonotoneChoice(mode, [0] * len(names), groups, tolerance)
    if mode == "catalog" or not positions:
        return MonotoneChoice(mode, list(catalog), groups, tolerance)
    rng = np.random.default_rng(seed)
    n = min(sample_rows, len(x_train))
    pick = np.sort(rng.choice(len(x_train), n, replace=False))
    dtrain = lgb.Dataset(
        x_train.iloc[pick],
        label=np.asarray(y_train)[pick],
        categorical_feature="auto",
        free_raw_data=False,
    )
    dvalid = lgb.Dataset(x_valid, label=y_valid, reference=dtrain)
    base_auc, rounds = _fit_auc(
        dtrain, dvalid, x_valid, y_valid, params, list(catalog), max_rounds, stop=True
    )

    def gain(names_: list[str]) -> float:
        drop = {i for g in names_ for i in positions[g]}
        trial = [0 if i in drop else c for i, c in enumerate(catalog)]
        return (
            _fit_auc(dtrain, dvalid, x_valid, y_valid, params, trial, rounds, False)[0] - base_auc
        )

    pending = [list(positions)]
    while pending:  # adaptive group testing: halve a set only when dropping it gains enough
        tested = pending.pop()
        cost = gain(tested)
        for g in tested:
            groups[g]["auc_cost"], groups[g]["tested_with"] = float(cost), len(tested)
        if cost < tolerance:
            continue
        if len(tested) == 1:
            groups[tested[0]]["kept"] = False
            logger.info("monotone: %s dropped (costs %.4f AUC >= %.4f)", tested[0], cost, tolerance)
            continue
        half = len(tested) // 2
        pending += [tested[half:], tested[:half]]
    final = [
        0 if g and not groups[g]["kept"] else c
        for g, c in zip(_group_of(names, positions), catalog, strict=True)
    ]
    return MonotoneChoice(mode, final, groups, tolerance, float(base_auc), rounds, n)


def _group_of(names: list[str], positions: dict[str, list[int]]) -> list[str]:
    """The group of each feature ("" for an unconstrained one)."""
    out = [""] * len(names)
    for g, pos in positions.items():
        for i in pos:
            out[i] = g
    return out
