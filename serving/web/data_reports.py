"""What the data-team page reads: the last ``vbsp-risk monitor`` and ``vbsp-risk fairness``
reports (``state/reports/monitor`` and ``state/reports/fairness``) and the back-test chart.

Files that are missing give ``None`` (the page says which command to run); a damaged file is
logged with its path and shown as missing, so the page never fails on a report.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

FAIRNESS_METRICS = ("selection_rate", "precision", "capture", "calibration_ratio")


@dataclass(frozen=True)
class Chart:
    """An inline SVG line chart of predicted and realized trouble by month (no script)."""

    width: int
    height: int
    predicted: str  # SVG polyline points
    realized: str
    y_ticks: list[tuple[float, float]]  # (y, value)
    x_ticks: list[tuple[float, str]]  # (x, month)


def _read(path: Path, reader) -> object | None:
    if not path.is_file():
        return None
    try:
        return reader(path)
    except (OSError, ValueError) as err:
        logger.warning("report %s unreadable (shown as missing): %s", path, err)
        return None


def monitor_report(folder: Path) -> dict | None:
    """The summary, alerts, label maturity and back-test of the last monitor run, or ``None``."""
    summary = _read(folder / "monitor_summary.json", lambda p: json.loads(p.read_text("utf-8")))
    if not isinstance(summary, dict):
        return None
    maturity = _read(folder / "maturity.csv", pd.read_csv)
    backtest = _read(folder / "backtest.csv", pd.read_csv)
    return {
        "summary": summary,
        "alerts": summary.get("alert_list") or [],
        "maturity": maturity.tail(12).iloc[::-1].to_dict("records")
        if isinstance(maturity, pd.DataFrame)
        else [],
        "chart": backtest_chart(backtest) if isinstance(backtest, pd.DataFrame) else None,
    }


def backtest_by_month(backtest: pd.DataFrame) -> pd.DataFrame:
    """Predicted and realized trouble rates by month (the bands of each month summed)."""
    g = backtest.groupby("month", sort=True)[["rows", "positives", "expected"]].sum()
    g = g[g["rows"] > 0]
    return pd.DataFrame(
        {"predicted": g["expected"] / g["rows"], "realized": g["positives"] / g["rows"]}
    )


def backtest_chart(backtest: pd.DataFrame, width: int = 640, height: int = 220) -> Chart | None:
    """The chart's geometry, computed here so the page needs no script or library."""
    if backtest.empty or not {"month", "rows", "positives", "expected"} <= set(backtest.columns):
        return None
    rates = backtest_by_month(backtest)
    if rates.empty:
        return None
    left, right, top, bottom = 48, 12, 12, 28
    top_value = max(float(rates.to_numpy().max()), 0.01) * 1.15
    n = len(rates)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / top_value)

    def points(col: str) -> str:
        return " ".join(f"{x(i):.1f},{y(float(v)):.1f}" for i, v in enumerate(rates[col]))

    step = max(1, math.ceil(n / 8))
    return Chart(
        width,
        height,
        points("predicted"),
        points("realized"),
        [(y(v), v) for v in (0.0, top_value / 2, top_value)],
        [(x(i), str(m)) for i, m in enumerate(rates.index) if i % step == 0],
    )


def fairness_summary(folder: Path) -> list[dict] | None:
    """One row per dimension and group with the main metrics and their intervals, or ``None``."""
    table = _read(folder / "fairness.csv", pd.read_csv)
    if not isinstance(table, pd.DataFrame):
        return None
    table = table[table["metric"].isin(FAIRNESS_METRICS)]
    rows: list[dict] = []
    for (dim, group), part in table.groupby(["dimension", "group"], sort=True):
        by_metric = {r["metric"]: (r["value"], r["lo"], r["hi"]) for r in part.to_dict("records")}
        rows.append(
            {
                "dimension": dim,
                "group": group,
                "households": int(part["households"].iloc[0]),
                "metrics": by_metric,
            }
        )
    return rows
