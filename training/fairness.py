"""Fairness report of a model on its test window: group-level figures only.

For each dimension — ethnic-minority status, commune remoteness, poverty status, program and
entrusted organisation — and each of its groups, on the test window:

* ``rows``, ``households``, ``observed_rate`` (trouble within the horizon);
* for the **visit plan** (the ``capacity`` highest scores of each commune and month, the rule of
  the capacity metric): ``selection_rate`` (share of the group's rows selected), ``precision``
  (share of the selected in trouble) and ``capture`` (share of the group's trouble selected);
* for the **score**: ``mean_predicted`` against ``observed_rate`` and their ratio
  ``calibration_ratio`` (1 = calibrated in the large for that group);
* ``selection_ratio``: the group's selection rate over the whole window's.

Every figure has a 95 % percentile interval from a bootstrap that resamples households (a
household's monthly rows stay together), with a fixed seed, so the same inputs give the same
numbers. Ethnicity is read from ``protected_attributes`` here only, reduced at once to the
boolean ``is_ethnic_minority``; no household-level value leaves this module, and groups with
fewer than :data:`MIN_HOUSEHOLDS` households are reported without figures.

Why not fairlearn's ``MetricFrame``: it resamples rows, not households, and the visit plan's
selection is a ranking within commune and month rather than a per-row prediction; the
grouped arithmetic is a few lines of pandas (``docs/monitoring.md``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training import FAIRNESS_N_BOOT

logger = logging.getLogger(__name__)

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "ethnic_minority": ("is_ethnic_minority",),
    "commune_remoteness": ("commune_is_remote",),
    "poverty_status": ("poverty_status",),
    "program": ("main_program", "app_program"),
    "organisation": ("group_organisation",),
}
"""Dimension → candidate columns (first present wins)."""
METRICS = (
    "selection_rate",
    "precision",
    "capture",
    "observed_rate",
    "mean_predicted",
    "calibration_ratio",
    "selection_ratio",
)
REPORT_COLUMNS = ("dimension", "group", "households", "rows", "metric", "value", "lo", "hi")
MIN_HOUSEHOLDS = 20
SEED = 42


def read_minority_status(data_dir: Path | None) -> pd.DataFrame | None:
    """``household_id`` → ``is_ethnic_minority`` from the data folder's protected attributes.

    Only the boolean leaves this function; ``None`` if the folder or table is absent.
    """
    if data_dir is None:
        return None
    from features import storage

    try:
        raw = storage.read_raw(Path(data_dir), "protected_attributes")
    except (FileNotFoundError, OSError):
        return None
    if "is_ethnic_minority" not in raw.columns:
        return None
    out = raw[["household_id", "is_ethnic_minority"]].drop_duplicates("household_id")
    return out.assign(is_ethnic_minority=out["is_ethnic_minority"].astype(bool))


def visit_plan(frame: pd.DataFrame, score: str, capacity: int) -> np.ndarray:
    """Whether each row is among the ``capacity`` highest scores of its commune and month."""
    month = pd.to_datetime(frame["as_of"]).dt.to_period("M").astype(str)
    cell = (frame["commune_id"].astype(str) + "|" + month) if "commune_id" in frame else month
    order = frame.assign(_cell=cell.to_numpy(), _s=frame[score].to_numpy())
    # ties broken by household id so the plan is deterministic
    order = order.sort_values(["_cell", "_s", "household_id"], ascending=[True, False, True])
    rank = order.groupby("_cell", sort=False).cumcount()
    return (rank < capacity).reindex(frame.index).to_numpy()


def _group_figures(y: np.ndarray, p: np.ndarray, sel: np.ndarray, overall_sel: float) -> dict:
    n = len(y)
    pos, chosen = y.sum(), sel.sum()
    obs = pos / n if n else math.nan
    pred = p.mean() if n else math.nan
    sel_rate = chosen / n if n else math.nan
    return {
        "selection_rate": sel_rate,
        "precision": (y[sel].sum() / chosen) if chosen else math.nan,
        "capture": (y[sel].sum() / pos) if pos else math.nan,
        "observed_rate": obs,
        "mean_predicted": pred,
        "calibration_ratio": pred / obs if obs else math.nan,
        "selection_ratio": sel_rate / overall_sel if overall_sel else math.nan,
    }


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b``, NaN where ``b`` is 0 (as :func:`_group_figures`' ``if`` tests)."""
    return np.divide(a, b, out=np.full(len(a), math.nan), where=b != 0)


def figures_by_group(
    codes: np.ndarray,
    n_groups: int,
    y: np.ndarray,
    p: np.ndarray,
    sel: np.ndarray,
    overall_sel: float,
) -> dict[str, np.ndarray]:
    """:func:`_group_figures` of every group at once (``codes`` in ``0..n_groups-1``), plus
    ``rows`` per group; one pass of sums, so a bootstrap replicate costs no sort."""
    n = np.bincount(codes, minlength=n_groups).astype("float64")
    pos = np.bincount(codes, y, n_groups)
    chosen = np.bincount(codes, sel, n_groups)
    hits = np.bincount(codes, y * sel, n_groups)
    obs, sel_rate = _div(pos, n), _div(chosen, n)
    pred = _div(np.bincount(codes, p, n_groups), n)
    ratio = sel_rate / overall_sel if overall_sel else np.full(n_groups, math.nan)
    return {
        "rows": n,
        "selection_rate": sel_rate,
        "precision": _div(hits, chosen),
        "capture": _div(hits, pos),
        "observed_rate": obs,
        "mean_predicted": pred,
        "calibration_ratio": _div(pred, obs),
        "selection_ratio": ratio,
    }


def fairness_frame(
    test_frame: pd.DataFrame,
    table: pd.DataFrame,
    minority: pd.DataFrame | None,
    score: str = "lightgbm",
    label: str = "label",
) -> pd.DataFrame:
    """The test window's keys, label and score with one column per fairness dimension."""
    keys = [k for k in ("household_id", "as_of", "loan_id") if k in test_frame and k in table]
    dims = {}
    for dim, candidates in DIMENSIONS.items():
        col = next((c for c in candidates if c in table.columns), None)
        if col is not None:
            dims[dim] = col
    cols = list(dict.fromkeys([*keys, *dims.values()]))
    right = table[cols].assign(as_of=pd.to_datetime(table["as_of"]))
    left = test_frame.assign(as_of=pd.to_datetime(test_frame["as_of"]))
    base = [c for c in ("household_id", "as_of", "loan_id", "commune_id") if c in left]
    out = left[[*base, label, score]].merge(right, on=keys, how="left")
    out = out.rename(columns={label: "label", score: "score"})
    for dim, col in dims.items():
        out[dim] = out[col].astype("object").where(out[col].notna(), "unknown").astype(str)
    if minority is not None:
        flag = out["household_id"].map(minority.set_index("household_id")["is_ethnic_minority"])
        out["ethnic_minority"] = np.where(
            flag.isna(), "unknown", np.where(flag.fillna(False), "ethnic minority", "Kinh")
        )
    keep = ["household_id", "as_of", "label", "score"] + (
        ["commune_id"] if "commune_id" in out else []
    )
    return out[keep + [d for d in DIMENSIONS if d in out.columns]].reset_index(drop=True)


def fairness_report(
    frame: pd.DataFrame,
    capacity: int = 5,
    n_boot: int = FAIRNESS_N_BOOT,
    seed: int = SEED,
) -> pd.DataFrame:
    """Group-level fairness figures with clustered bootstrap intervals (see module docstring).

    The figures read only the per-row frame, so the join that builds it is done once by the
    caller (``fairness_report(fairness_frame(...))``) and its inputs are not passed through.

    Args:
        frame: :func:`fairness_frame` of the test window (not modified).
        capacity: Visits per commune and month of the visit plan.
        n_boot: Bootstrap replicates (0: point figures only).
        seed: Seed of the household draws.

    Returns:
        Long frame: ``dimension``, ``group``, ``households``, ``rows``, ``metric``, ``value``,
        ``lo``, ``hi``.
    """
    y = frame["label"].astype("float64").to_numpy()
    p = frame["score"].astype("float64").to_numpy()
    sel = np.asarray(visit_plan(frame, "score", capacity), dtype=bool)
    dims = [d for d in DIMENSIONS if d in frame.columns]
    coded = {dim: pd.factorize(frame[dim].to_numpy()) for dim in dims}
    hh_codes, hh_index = pd.factorize(frame["household_id"])
    n_hh = len(hh_index)
    if n_boot:  # each household's rows, as one sorted index and offsets
        order = np.argsort(hh_codes, kind="stable")
        starts = np.searchsorted(hh_codes[order], np.arange(n_hh + 1))

    def figures(idx: np.ndarray) -> dict[tuple[str, str], dict[str, float]]:
        y_i, p_i, sel_i = y[idx], p[idx], sel[idx]  # gathered once for every dimension
        overall = sel_i.mean() if len(idx) else math.nan
        out = {}
        for dim, (codes, labels) in coded.items():
            table = figures_by_group(codes[idx], len(labels), y_i, p_i, sel_i, overall)
            for g in np.flatnonzero(table["rows"]):  # groups present in this draw
                out[(dim, str(labels[g]))] = {m: float(table[m][g]) for m in METRICS}
        return out

    point = figures(np.arange(len(frame)))
    rng = np.random.default_rng(seed)
    boots: dict[tuple[str, str], list[dict[str, float]]] = {k: [] for k in point}
    for _ in range(n_boot):
        pick = rng.integers(0, n_hh, n_hh)
        idx = np.concatenate([order[starts[h] : starts[h + 1]] for h in pick])
        for k, v in figures(idx).items():
            if k in boots:
                boots[k].append(v)
    records = []
    for (dim, group), values in point.items():
        member = frame[dim].to_numpy() == group
        households = int(frame.loc[member, "household_id"].nunique())
        small = households < MIN_HOUSEHOLDS
        for metric in METRICS:
            v = values[metric]
            draws = np.array([b[metric] for b in boots[(dim, group)]], dtype="float64")
            draws = draws[np.isfinite(draws)]
            lo, hi = np.percentile(draws, [2.5, 97.5]) if len(draws) >= 10 else (math.nan,) * 2
            records.append(
                {
                    "dimension": dim,
                    "group": group,
                    "households": households,
                    "rows": int(member.sum()),
                    "metric": metric,
                    "value": math.nan if small else float(v),
                    "lo": math.nan if small else float(lo),
                    "hi": math.nan if small else float(hi),
                }
            )
    if not records:  # no dimension in the table and no protected attributes: nothing to report
        return pd.DataFrame(columns=REPORT_COLUMNS)
    out = pd.DataFrame(records).sort_values(["dimension", "group", "metric"], kind="stable")
    return out.reset_index(drop=True)


def missing_note(table: pd.DataFrame, minority: pd.DataFrame | None) -> str:
    """What the fairness report could not cover and why ("" when every dimension is there).

    A brought-in table may lack the protected attributes (ethnicity is kept in its own table,
    beside the bank's data) and the catalog columns the other dimensions read; the report then
    says so in the model card and in MLflow rather than failing or staying silent.
    """
    parts = []
    if minority is None:
        parts.append(
            "ethnic-minority status was not checked: no protected_attributes table was "
            "found beside the data"
        )
    absent = [
        f"{dim} (column {' or '.join(cols)})"
        for dim, cols in DIMENSIONS.items()
        if dim != "ethnic_minority" and not any(c in table.columns for c in cols)
    ]
    if absent:
        parts.append("not in the table: " + ", ".join(absent))
    if not parts:
        return ""
    covered = minority is not None or len(absent) < len(DIMENSIONS) - 1
    head = "Fairness report incomplete" if covered else "Fairness report skipped"
    return f"{head}: {'; '.join(parts)}."


def _pct(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"


def _cell(r: Mapping[str, Any], pct: bool = True) -> str:
    f = _pct if pct else (lambda x: "—" if not math.isfinite(x) else f"{x:.2f}")
    if not math.isfinite(r["value"]):
        return "—"
    if math.isfinite(r["lo"]) and math.isfinite(r["hi"]):
        return f"{f(r['value'])} [{f(r['lo'])}, {f(r['hi'])}]"
    return f(r["value"])


def markdown(report: pd.DataFrame, capacity: int = 5, n_boot: int = FAIRNESS_N_BOOT) -> str:
    """The model card's fairness section (group-level figures)."""
    lines = [
        "## Fairness",
        f"Test window, by group. Visit plan = the {capacity} highest scores of each commune and "
        f"month. 95% intervals from {n_boot} bootstrap replicates resampling households (seed "
        f"{SEED}). Ethnicity is read only for this table, as ethnic-minority status, and is never "
        f"a model feature; groups under {MIN_HOUSEHOLDS} households show no figures.",
        "",
        "| dimension | group | households | selection rate | precision | capture | observed | "
        "predicted | predicted / observed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if report.empty:
        return "\n".join([*lines, "", "(no rows)"])
    wide = {(r["dimension"], r["group"], r["metric"]): r for r in report.to_dict("records")}
    groups = report[["dimension", "group", "households"]].drop_duplicates()
    for g in groups.itertuples():
        c = {m: wide[(g.dimension, g.group, m)] for m in METRICS}
        lines.append(
            f"| {g.dimension} | {g.group} | {g.households} | {_cell(c['selection_rate'])} | "
            f"{_cell(c['precision'])} | {_cell(c['capture'])} | {_cell(c['observed_rate'])} | "
            f"{_cell(c['mean_predicted'])} | {_cell(c['calibration_ratio'], False)} |"
        )
    return "\n".join(lines)


def metric_dict(report: pd.DataFrame) -> dict[str, float]:
    """``fairness.<dimension>.<group>.<metric>`` → value (finite values only), for MLflow."""
    from training.tracking import metric_key

    out = {}
    for r in report.to_dict("records"):
        if math.isfinite(r["value"]):
            out[metric_key(f"fairness.{r['dimension']}.{r['group']}.{r['metric']}")] = r["value"]
    return out


def write(
    report: pd.DataFrame, folder: Path, capacity: int = 5, n_boot: int = FAIRNESS_N_BOOT
) -> dict:
    """``fairness.csv`` and ``fairness.md`` in ``folder``; returns name → path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report.to_csv(folder / "fairness.csv", index=False)
    (folder / "fairness.md").write_text(markdown(report, capacity, n_boot) + "\n")
    return {"fairness.csv": folder / "fairness.csv", "fairness.md": folder / "fairness.md"}
