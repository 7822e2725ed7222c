"""Backtest of the visit planner: each past month's plan against today's practice ranking.

On past month-ends with observed labels, each commune's plan (same capacity, same random share)
and the practice ranking are compared by the trouble each would have found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from serving.planner import select_visits


@dataclass
class BacktestResult:
    """Trouble found by the plan and by the practice ranking at the same capacity."""

    months: list[str]
    communes: int
    visits: int
    plan_found: int
    practice_found: int
    random_visits: int
    random_found: int
    households: int
    troubled: int
    by_month: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain values (for reports)."""
        return asdict(self)


def backtest(
    rows: pd.DataFrame,
    capacity_per_day: int,
    days: int,
    random_share: float = 0.10,
    sort: str = "risk",
    seed: int = 0,
) -> BacktestResult:
    """Replay past months: each commune's plan against today's practice, same capacity.

    Args:
        rows: Feature-table rows of past month-ends with observed labels: ``as_of``,
            ``commune_id``, ``household_id``, ``probability`` (the model's score), ``exposure``
            (for ``sort="exposure"``), ``practice`` (the practice ranking's score: most arrears
            first) and ``label`` (trouble within 12 months, 0/1).
        capacity_per_day: Visits per commune per day.
        days: Days per commune and month.
        random_share: The plan's random share.
        sort: The plan's ranking.
        seed: Seed of the random draws and of the practice ranking's tie-breaking.

    Returns:
        Households visited with trouble in the next 12 months, for the plan and for practice
        (whose many ties are broken at random, as an officer working down the list would).
    """
    rng = np.random.default_rng(seed)
    capacity = capacity_per_day * days
    by_month = []
    totals = dict.fromkeys(("visits", "plan", "practice", "rv", "rf", "n", "t"), 0)
    for (as_of, _commune), part in rows.groupby(["as_of", "commune_id"], sort=True):
        part = part.reset_index(drop=True)
        chosen = select_visits(part, capacity, sort, random_share, int(rng.integers(2**31)))
        order = rng.permutation(len(part))
        shuffled = part.iloc[order]
        practice = shuffled.sort_values("practice", ascending=False, kind="stable").head(
            len(chosen)
        )
        rand = chosen["selection"] == "random"
        found = {
            "month": str(pd.Timestamp(as_of).date())[:7],
            "visits": len(chosen),
            "plan": int(chosen["label"].sum()),
            "practice": int(practice["label"].sum()),
            "rv": int(rand.sum()),
            "rf": int(chosen.loc[rand, "label"].sum()),
            "n": len(part),
            "t": int(part["label"].sum()),
        }
        for k in totals:
            totals[k] += found[k]
        by_month.append(found)
    months = sorted({m["month"] for m in by_month})
    monthly = (
        pd.DataFrame(by_month).groupby("month").sum(numeric_only=True).reset_index()
        if by_month
        else pd.DataFrame()
    )
    return BacktestResult(
        months=months,
        communes=int(rows["commune_id"].nunique()),
        visits=totals["visits"],
        plan_found=totals["plan"],
        practice_found=totals["practice"],
        random_visits=totals["rv"],
        random_found=totals["rf"],
        households=totals["n"],
        troubled=totals["t"],
        by_month=monthly.to_dict("records"),
    )
