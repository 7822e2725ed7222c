"""Files that explain a training run: plots, tables and the model card.

Everything is written with matplotlib's Agg backend (no display needed):

* ``reliability.png`` / ``reliability.csv`` — observed against predicted trouble rate by decile;
* ``capture.png`` — share of trouble found against share of households visited each month;
* ``importance.png`` — LightGBM gain importance (top 25);
* ``shap_summary.png`` — mean |SHAP value| per feature, from ``pred_contrib=True``;
* ``backtest.csv`` — metrics per backtest window and ranking;
* ``model_card.md`` — intended use, data, label, split, metrics with intervals, limitations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from training.evaluate import RankingEvaluator, period_cells
from training.rankings import DISPLAY_NAMES, ORACLE, PRACTICE, RANDOM, STATE_ORACLE

logger = logging.getLogger(__name__)

FAIRNESS_PENDING = (
    "## Fairness\nNot computed for this card (the training pipeline, `training/pipeline.py`, "
    "replaces this section with the fairness report of `training/fairness.py`)."
)
"""The model card's fairness section until :func:`with_fairness` fills it in."""

CAPTURE_GRID = np.array([0, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 75, 100], dtype=float)


def _saved(fig: Any, path: Path) -> Path:
    """Write a chart the way every chart of the report is written, and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def reliability_plot(table: pd.DataFrame, path: Path) -> Path:
    """Reliability diagram of every ranking in ``table`` (see ``reliability_table``)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = float(max(table["mean_predicted"].max(), table["observed_hi"].max(), 0.01)) * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="perfect")
    for name, part in table.groupby("ranker", sort=False):
        # A clustered bootstrap interval need not contain the point estimate of a thin bin:
        # the bar is drawn to the interval's side only (matplotlib refuses negative lengths).
        err = [
            (part["observed_rate"] - part["observed_lo"]).clip(lower=0),
            (part["observed_hi"] - part["observed_rate"]).clip(lower=0),
        ]
        ax.errorbar(
            part["mean_predicted"],
            part["observed_rate"],
            yerr=err,
            marker="o",
            ms=4,
            capsize=2,
            label=str(name),
        )
    ax.set_xlabel("mean predicted probability (decile)")
    ax.set_ylabel("observed trouble rate (95% Wilson)")
    ax.set_title("Reliability on the test window")
    ax.legend(fontsize=8)
    return _saved(fig, path)


def capture_curve(
    frame: pd.DataFrame,
    score: np.ndarray,
    label: str = "label",
    period: np.ndarray | None = None,
) -> np.ndarray:
    """Capture (recall) when visiting each :data:`CAPTURE_GRID` % of households every month.

    ``period``: the rows' month codes (:func:`training.evaluate.period_cells`), when the caller
    has them already (one plot draws every ranking's curve on the same rows)."""
    y = frame[label].astype("int64").to_numpy()
    if period is None:
        period, _cell = period_cells(frame)
    ev = RankingEvaluator(y, score, period, period, 1, False)
    months = ev.grouping("period")
    visits = months.visits(*months.sums(np.ones(len(y))))
    total = max(float(y.sum()), 1.0)
    return np.array([visits.take(k / 100.0, True)[0] / total for k in CAPTURE_GRID])


def capture_plot(frame: pd.DataFrame, rankers: list[str], path: Path, label: str = "label") -> Path:
    """Lift / capture chart: share of trouble found against share of households visited."""
    fig, ax = plt.subplots(figsize=(6, 5))
    period, _cell = period_cells(frame)
    for name in rankers:
        ax.plot(
            CAPTURE_GRID,
            capture_curve(frame, frame[name].to_numpy("float64"), label, period),
            marker=".",
            label=name,
        )
    ax.set_xlabel("households visited each month (% of portfolio, highest score first)")
    ax.set_ylabel("share of trouble found (capture)")
    ax.set_xlim(0, 50)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title("Capture of trouble on the test window")
    ax.legend(fontsize=8)
    return _saved(fig, path)


def _barh(values: pd.Series, title: str, xlabel: str, path: Path) -> Path:
    values = values.sort_values(ascending=True).tail(25)
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.28 * len(values) + 1)))
    ax.barh(values.index.astype(str), values.to_numpy())
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _saved(fig, path)


def importance(booster: Any) -> pd.Series:
    """Total gain of each feature."""
    gain = booster.feature_importance(importance_type="gain")
    return pd.Series(gain, index=booster.feature_name(), dtype="float64").sort_values(
        ascending=False
    )


def importance_plot(booster: Any, path: Path) -> Path:
    """Bar chart of the gain importance."""
    return _barh(importance(booster), "LightGBM feature importance", "total gain", path)


def shap_values(booster: Any, x: pd.DataFrame) -> pd.Series:
    """Mean |SHAP value| (raw-score scale) per feature, from LightGBM's ``pred_contrib``."""
    contrib = np.asarray(booster.predict(x, pred_contrib=True))
    names = list(x.columns)
    return pd.Series(np.abs(contrib[:, : len(names)]).mean(axis=0), index=names).sort_values(
        ascending=False
    )


def shap_plot(values: pd.Series, path: Path) -> Path:
    """Bar chart of mean |SHAP value|."""
    return _barh(values, "SHAP summary (mean |contribution|)", "mean |SHAP| (log-odds)", path)


def _fmt(m: dict[str, float], key: str, pct: bool = False) -> str:
    v = m.get(key, float("nan"))
    if v is None or not np.isfinite(v):
        return "—"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{f(v)} [{f(lo)}, {f(hi)}]"
    return f(v)


def _markdown(df: pd.DataFrame) -> str:
    head = [str(df.index.name or "")] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx), *(f"{v:.3f}" for v in row)]) + " |")
    return "\n".join(lines)


RANKING_ORDER = ("lightgbm", "logistic", *PRACTICE, RANDOM, STATE_ORACLE, ORACLE)
"""Order of the rankings in every table: the model, its challenger, today's practice, random,
then the two ceilings (achievable with today's full state, then clairvoyant)."""


def display_name(name: str) -> str:
    """A ranking's name in tables (the oracles spelled out, see :data:`DISPLAY_NAMES`)."""
    return DISPLAY_NAMES.get(name, name)


def ranking_rows(
    metrics: dict[str, dict[str, float]],
    cell: Callable[[dict[str, float], str], str],
    keys: Sequence[str],
) -> list[tuple[str, list[str], str | None]]:
    """The rows of the model-vs-rankings table: ``(name, cells, style)``.

    One row per ranking in :data:`RANKING_ORDER` (others after), then the paired gap of the
    model to each oracle present ("gap to state oracle", "gap to clairvoyant oracle"), so the
    terminal (``vbsp-risk train`` / ``run``) and the model card show the same figures.
    ``cell(metrics_of_row, key)`` formats one value with its interval; style is ``bold`` for the
    model, ``dim`` for the gaps.
    """
    names = [n for n in RANKING_ORDER if n in metrics]
    names += [n for n in metrics if n not in names and not n.startswith("gap_")]
    rows = [
        (display_name(n), [cell(metrics[n], k) for k in keys], "bold" if n == "lightgbm" else None)
        for n in names
    ]
    for oracle in (STATE_ORACLE, ORACLE):
        gap = metrics.get(f"gap_lightgbm_vs_{oracle}")
        if gap:
            rows.append((f"gap to {display_name(oracle)}", [cell(gap, k) for k in keys], "dim"))
    return rows


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """Markdown table of the headline metrics of each ranking."""
    cols = [
        ("ROC AUC", "roc_auc", False),
        ("PR AUC", "pr_auc", False),
        ("capture top 10%", "capture_top10", True),
        ("capture at capacity", "capture_at_capacity", True),
        ("precision top 1%", "precision_top1", True),
        ("Brier", "brier", False),
        ("cal. slope", "calibration_slope", False),
    ]
    pct = {k for _, k, p in cols if p}
    lines = ["| ranking | " + " | ".join(c[0] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    plain = {n: m for n, m in metrics.items() if not n.startswith("gap_")}
    for name, cells, _ in ranking_rows(
        plain, lambda m, k: _fmt(m, k, k in pct), [k for _, k, _ in cols]
    ):
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    gaps = [n for n in metrics if n.startswith("gap_")]
    if gaps:
        lines += [
            "",
            "| difference (paired bootstrap) | ROC AUC | PR AUC | capture top 10% | "
            "capture at capacity |",
            "|---|---|---|---|---|",
        ]
        for n in gaps:
            m = metrics[n]
            a, b = n.removeprefix("gap_").split("_vs_", 1)
            lines.append(
                f"| {display_name(a)} − {display_name(b)} | {_fmt(m, 'roc_auc')} | "
                f"{_fmt(m, 'pr_auc')} | {_fmt(m, 'capture_top10', True)} | "
                f"{_fmt(m, 'capture_at_capacity', True)} |"
            )
    return "\n".join(lines)


_ROW_MEANING = {
    "portfolio": "one row per household and monthly snapshot (`as_of`)",
    "application": "one row per loan application (`as_of` = the application day)",
}


def _pool_section(params: dict[str, Any]) -> str:
    pool = params.get("pool") or {}
    if not pool:
        return ""
    return (
        f"\n**Pooled training rows.** {params.get('pool_note', '')} This run: {pool['rows']:,} "
        f"rows of the {pool['source']} ({pool['positives']:,} positives, snapshots "
        f"{pool['start']} … {pool['end']}) joined the {pool['own_rows']:,} own training rows.\n"
    )


def _capacity_note(params: dict[str, Any]) -> str:
    note = params.get("capacity_note")
    return f"Capture and precision at capacity: {note}.\n" if note else ""


def model_card(
    *,
    label: str,
    label_description: str,
    view: str,
    split: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    backtest: pd.DataFrame,
    top_features: list[str],
    capacity: int,
    n_boot: int,
    monotone: str = "",
) -> str:
    """The model card (Markdown); ``monotone`` is the constraints' section
    (:meth:`training.monotone.MonotoneChoice.markdown`)."""
    w = split["windows"]
    rows = "\n".join(
        f"| {p} | {w[p]['start']} … {w[p]['end']} | {w[p]['months']} | {w[p]['rows']} | "
        f"{w[p]['households']} | {w[p]['positives']} | {100 * w[p]['label_rate']:.2f}% |"
        for p in ("train", "valid", "test")
    )
    lgbm = metrics.get("lightgbm", {})
    bt = ""
    if len(backtest):
        pivot = backtest.pivot_table(index="test_start", columns="ranker", values="roc_auc")
        bt = _markdown(pivot.sort_index(ascending=False).round(3))
    return f"""# Model card — overdue-risk-{view} (`{label}`)

## Intended use
Rank the district office's borrower households by their probability of trouble within the
label horizon, so credit officers and the mass organisations choose whom to visit first each
month (at most {capacity} visits per commune per month in the capacity metric). The score is a
calibrated probability; it supports, never replaces, the officer's judgement and the group's
peer review. It is not a credit-approval rule and must not be used to deny policy credit.

## Data
Feature table, `{view}` view: {_ROW_MEANING.get(view, _ROW_MEANING["portfolio"])}; every
feature uses only events before `as_of`. {split["null_label_rows"]} rows whose horizon is not yet
observed were excluded. Features ({len(params["features"])}): catalog features with their
declared types; ethnicity and anything derived from it are never features.
{_pool_section(params)}
## Label
`{label}` — {label_description}

## Split
**{split["kind"]}** split — {split["reason"]}.

| part | snapshots | months | rows | households | positives | rate |
|---|---|---|---|---|---|---|
{rows}

Window length: {params.get("window_months", 12)} months ({params.get("window_months_reason", "")}).
Backtest test-window starts: {", ".join(split["cutoffs"]) or "—"}.

## Model
LightGBM binary, {params["num_boost_round"]} rounds (early stopping on the validation log
loss), monotone constraints from the catalog's risk directions as checked below, native
categorical features,
seed {params["seed"]}. Rare events: {params["rare_event_handling"]}.
Calibration: {params["calibration_reason"]}.
Challenger: logistic regression (signed log, median imputation + missing indicators,
standardisation clipped to ±5 sd, one-hot categories, C=0.1; at most
{params.get("logistic_max_rows", "all"):,} sampled training rows) on the same split.

Top features (SHAP): {", ".join(top_features[:10])}.

{monotone}

## Metrics on the test window
Intervals: 95% percentile intervals from {n_boot} bootstrap replicates that resample households
(clustered: a household's monthly rows stay together). Top k% = the k% highest-ranked households
of each snapshot month; capacity = {capacity} households per commune per month. Practice
rankings are not probabilities (no Brier/calibration). Predicted trouble rate
{_fmt(lgbm, "predicted_rate", True)} against observed {_fmt(lgbm, "observed_rate", True)}.

{metrics_table(metrics)}
{params.get("state_oracle_note", "")}
{params.get("oracle_note", "")}
{_capacity_note(params)}

### Backtest (ROC AUC per test window)
{bt}

## Limitations
- Trained on snapshots that end {params.get("train_end", "?")}; the newest labels are at least a
  horizon old when the model is used, and drift (new programmes, disasters) is not modelled.
- Part of the risk comes from shocks (disasters, illness, migration) that no history reveals;
  on simulated data the gap to the state oracle shows what better features could still recover
  and the gap between the state and the clairvoyant oracle what nobody can know at `as_of`.
- Visit outcomes are labels only for visited households; targeted visits bias future labels,
  so keep a share of random visits.
- Monthly snapshots of one household are correlated; intervals account for that by resampling
  households, not rows.

{FAIRNESS_PENDING}
"""


def with_fairness(card: str, section: str) -> str:
    """The card with its fairness section replaced by ``section`` (appended if absent)."""
    if FAIRNESS_PENDING in card:
        return card.replace(FAIRNESS_PENDING, section.rstrip("\n"))
    return f"{card.rstrip()}\n\n{section.rstrip()}\n"


def write_report(
    out_dir: Path,
    *,
    booster: Any,
    shap: pd.Series,
    test_frame: pd.DataFrame,
    rankers: list[str],
    reliability: pd.DataFrame,
    backtest: pd.DataFrame,
    card: str,
) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns name → path (``metrics.json`` excluded)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arts = {
        "reliability.png": reliability_plot(reliability, out / "reliability.png"),
        "capture.png": capture_plot(test_frame, rankers, out / "capture.png"),
        "importance.png": importance_plot(booster, out / "importance.png"),
        "shap_summary.png": shap_plot(shap, out / "shap_summary.png"),
    }
    backtest.to_csv(out / "backtest.csv", index=False)
    reliability.to_csv(out / "reliability.csv", index=False)
    (out / "model_card.md").write_text(card)
    arts["backtest.csv"] = out / "backtest.csv"
    arts["reliability.csv"] = out / "reliability.csv"
    arts["model_card.md"] = out / "model_card.md"
    logger.info("report written to %s", out)
    return arts
