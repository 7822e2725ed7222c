"""Drift statistics of the monitor: the population stability index (PSI) of a feature between two
windows, and the drift table of every feature, district-wide or commune by commune.

Numeric features are cut at the reference's deciles, "months since" features at fixed recency
bins (so ageing past a year is not a shift), categories and booleans by value; missing values are
a bin of their own. Group and area features (one value per group or village and month) are
compared on those units, and also by the shift of their mean in reference standard deviations.
:mod:`training.monitor` turns the table into alerts. Pure pandas/numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
PSI_FLOOR = 1e-4
"""Smallest bin share used in the PSI's logarithm (an empty bin would make it infinite)."""
MISSING = "<missing>"
RECENCY_EDGES = (1.5, 3.5, 6.5, 12.5)
"""Bins of ``months_since_*`` features: 0–1, 2–3, 4–6, 7–12, more than 12 months (and never)."""


def psi_band(value: float) -> str:
    """``stable`` (< 0.1), ``moderate`` (0.1–0.25) or ``major`` (≥ 0.25); ``n/a`` if not finite."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value < PSI_MODERATE:
        return "stable"
    return "moderate" if value < PSI_MAJOR else "major"


def _kind(series: pd.Series, name: str) -> str:
    if name.startswith("months_since"):
        return "recency"
    if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object:
        return "categorical"
    if pd.api.types.is_bool_dtype(series.dtype):
        return "categorical"
    if pd.api.types.is_string_dtype(series.dtype):
        return "categorical"
    return "numeric"


def bin_labels(reference: pd.Series, current: pd.Series, name: str = "", bins: int = 10):
    """Bin labels of both samples (reference deciles, recency bins, or the values themselves)."""
    kind = _kind(reference, name)
    if kind == "categorical":

        def cut(s: pd.Series) -> pd.Series:
            return s.astype("object").where(s.notna(), MISSING).astype(str)

        return cut(reference), cut(current)
    ref = pd.to_numeric(reference, errors="coerce").astype("float64")
    cur = pd.to_numeric(current, errors="coerce").astype("float64")
    if kind == "recency":
        edges = np.asarray(RECENCY_EDGES)
    else:
        finite = ref[np.isfinite(ref)]
        qs = np.linspace(0, 1, bins + 1)[1:]  # the maximum is an edge: values above it get a bin
        edges = np.unique(np.quantile(finite, qs)) if len(finite) else np.array([])

    def cut(s: pd.Series) -> pd.Series:
        idx = np.searchsorted(edges, s.to_numpy(), side="left").astype(str)
        return pd.Series(np.where(s.isna().to_numpy(), MISSING, idx), index=s.index)

    return cut(ref), cut(cur)


def psi_from_labels(ref: pd.Series, cur: pd.Series) -> float:
    """PSI = Σ (c − r) · ln(c / r) over the union of bins (shares floored at 1e-4)."""
    if len(ref) == 0 or len(cur) == 0:
        return math.nan
    r = ref.value_counts(normalize=True)
    c = cur.value_counts(normalize=True)
    idx = r.index.union(c.index)
    r = r.reindex(idx, fill_value=0.0).clip(lower=PSI_FLOOR).to_numpy()
    c = c.reindex(idx, fill_value=0.0).clip(lower=PSI_FLOOR).to_numpy()
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: pd.Series, current: pd.Series, name: str = "", bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (see module docstring)."""
    ref, cur = bin_labels(pd.Series(reference), pd.Series(current), name, bins)
    return psi_from_labels(ref, cur)


def _missing(s: pd.Series) -> float:
    return float(s.isna().mean()) if len(s) else math.nan


def unit_levels(columns: Sequence[str]) -> dict[str, str]:
    """``household``, ``group`` or ``area`` for each column (group and area from the catalog)."""
    from features.catalog import AREA_FEATURES, GROUP_FEATURES

    group = {f.name for f in GROUP_FEATURES}
    area = {f.name for f in AREA_FEATURES}
    return {c: "group" if c in group else "area" if c in area else "household" for c in columns}


def _units(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """One row per (commune, month, value of ``cols``): group-months or village-months."""
    return frame[["commune_id", "as_of", *cols]].drop_duplicates()


def _unit_values(s: pd.Series, name: str) -> np.ndarray:
    x = pd.to_numeric(s.astype("object").where(s.notna(), np.nan), errors="coerce")
    x = x.astype("float64")
    if name.startswith("months_since"):  # "more than a year or never" is one value
        x = x.fillna(RECENCY_EDGES[-1] + 0.5).clip(upper=RECENCY_EDGES[-1] + 0.5)
    return x.to_numpy()


def mean_shift(reference: np.ndarray, current: np.ndarray) -> float:
    """|mean(current) − mean(reference)| in reference standard deviations (inf if it was constant)."""
    ref, cur = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if len(ref) < 2 or len(cur) == 0:
        return math.nan
    diff = abs(float(cur.mean()) - float(ref.mean()))
    sd = float(ref.std(ddof=1))
    if sd <= 1e-12:
        return 0.0 if diff <= 1e-12 else math.inf
    return diff / sd


def _one(
    col: str,
    level: str,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    pre: pd.DataFrame | None,
    level_cols: dict[str, list[str]],
    bins: int,
) -> dict[str, Any]:
    if level != "household":
        cols = level_cols[level]
        ref, cur = _units(ref, cols), _units(cur, cols)
        pre = _units(pre, cols) if pre is not None else None
    out: dict[str, Any] = {"feature": col, "level": level}
    out["psi"] = psi(ref[col], cur[col], col, bins) if len(ref) and len(cur) else math.nan
    out["psi_preceding"] = (
        psi(pre[col], cur[col], col, bins)
        if pre is not None and len(pre) and len(cur)
        else math.nan
    )
    if level != "household" and _kind(cur[col], col) != "categorical":
        values = _unit_values(cur[col], col)
        out["shift_sd"] = mean_shift(_unit_values(ref[col], col), values)
        out["shift_sd_preceding"] = (
            mean_shift(_unit_values(pre[col], col), values) if pre is not None else math.nan
        )
    else:
        out["shift_sd"] = out["shift_sd_preceding"] = math.nan
    out["band"] = psi_band(out["psi"])
    out["band_preceding"] = psi_band(out["psi_preceding"])
    out["reference_rows"], out["current_rows"] = len(ref), len(cur)
    out["preceding_rows"] = 0 if pre is None else len(pre)
    out["reference_missing"], out["current_missing"] = _missing(ref[col]), _missing(cur[col])
    out["preceding_missing"] = _missing(pre[col]) if pre is not None else math.nan
    out["categorical"] = _kind(cur[col], col) == "categorical"
    return out


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    preceding: pd.DataFrame | None = None,
    by: str | None = None,
    bins: int = 10,
) -> pd.DataFrame:
    """PSI of each column, current vs reference (and vs preceding), district-wide or per ``by``.

    Household features and the score are compared row by row. Group and area features hold one
    value per group or village and month, repeated on every member's row, so they are compared
    on those units (one row per commune, month and value) and also by the shift of their mean
    in reference standard deviations (``shift_sd``): a commune has too few units for a PSI.

    Returns:
        One row per (scope, column): ``scope`` (``district`` or the ``by`` value), ``feature``,
        ``level``, ``psi``, ``band``, ``psi_preceding``, ``band_preceding``, ``shift_sd``,
        ``shift_sd_preceding``, row (unit) counts and missing shares.
    """
    levels = unit_levels(columns)
    level_cols = {lv: [c for c in columns if levels[c] == lv] for lv in ("group", "area")}
    groups: list[tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame | None]]
    if by is None:
        groups = [("district", reference, current, preceding)]
    else:
        groups = []
        for key in sorted(set(current[by].dropna().astype(str))):
            groups.append(
                (
                    key,
                    reference[reference[by].astype(str) == key],
                    current[current[by].astype(str) == key],
                    None if preceding is None else preceding[preceding[by].astype(str) == key],
                )
            )
    rows = []
    for scope, ref, cur, pre in groups:
        for col in columns:
            rows.append({"scope": scope, **_one(col, levels[col], ref, cur, pre, level_cols, bins)})
    return pd.DataFrame(rows)
