"""Stylized facts of a simulated district beside the ranges the literature supports.

Pure functions over the bank's tables and ``truth/``. An *onset* is a month in which a borrower
starts a trouble episode (``truth.in_trouble`` false this month and true the next); the facts
measure how onsets cluster by group, calendar month, loan age, burden, past trouble, ratings,
leader changes and disasters, and how much principal the office extends. ``docs/simulator.md``
gives each fact's range and its source; ``benchmarks/bench_realism.py`` prints the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom


@dataclass(frozen=True)
class Fact:
    """A stylized fact and its plausible range (see ``docs/simulator.md`` for sources)."""

    name: str
    low: float
    high: float
    description: str


FACTS = [
    Fact("group_variance_ratio", 1.5, 10.0, "variance of group-year trouble rates / binomial"),
    Fact("intra_group_correlation", 0.01, 0.2, "ICC of yearly trouble within groups"),
    Fact(
        "collective_default_ratio",
        2.0,
        12.0,
        "group-years above independence's 95th percentile / expected",
    ),
    Fact("onset_month_max_min", 1.3, 3.5, "highest / lowest monthly onset rate by calendar month"),
    Fact("lean_tet_vs_harvest", 1.1, 3.0, "onsets in Tết and lean months / harvest months"),
    Fact("early_vs_seasoned_loan", 1.2, 4.0, "onset rate, loan age 0-11 / 36-59 months"),
    Fact("first_vs_repeat_borrower", 1.05, 3.0, "onset rate, first loan / after a repaid loan"),
    Fact(
        "burden_top_vs_bottom_quintile",
        1.2,
        5.0,
        "onset rate, top / bottom quintile of amount per worker",
    ),
    Fact(
        "persistence_ratio",
        1.5,
        10.0,
        "P(trouble next year | trouble) / P(trouble next year | none)",
    ),
    Fact(
        "rating_drop_effect",
        1.2,
        8.0,
        "onsets in 12 months after a drop from good / groups staying good",
    ),
    Fact(
        "leader_change_effect",
        0.2,
        1.0,
        "onsets 12 months after a leader change / 12 months before",
    ),
    Fact(
        "disaster_impact",
        2.0,
        25.0,
        "onsets 0-2 months after a severe event / 12 months before, hit commune",
    ),
    Fact("disaster_recovery", 0.5, 1.7, "onsets 12-23 months after / 12 months before"),
    Fact(
        "extension_share", 0.005, 0.55, "principal extended / principal falling due, last 3 years"
    ),
]


def onsets(truth: pd.DataFrame) -> pd.DataFrame:
    """Borrower-months at risk (not in an episode) with ``onset`` (starts one this month)."""
    t = truth[["household_id", "month", "in_trouble"]].sort_values(["household_id", "month"])
    nxt = t.groupby("household_id")["in_trouble"].shift(-1)
    gap = t.groupby("household_id")["month"].shift(-1) - t["month"]
    ok = ~t["in_trouble"].to_numpy(bool) & nxt.notna().to_numpy() & (gap.dt.days <= 31).to_numpy()
    out = t.loc[ok, ["household_id", "month"]].copy()
    out["onset"] = nxt[ok].astype(bool).to_numpy()
    return out.reset_index(drop=True)


def _rate_ratio(y: pd.Series, a: np.ndarray, b: np.ndarray) -> float:
    ya, yb = y[a], y[b]
    return float(ya.mean() / yb.mean()) if len(ya) and len(yb) and yb.mean() > 0 else float("nan")


def _group_facts(on: pd.DataFrame) -> dict[str, float]:
    year = (
        on.assign(year=on["month"].dt.year)
        .groupby(["group_id", "year", "household_id"])["onset"]
        .max()
    )
    g = year.groupby(["group_id", "year"]).agg(["sum", "count"]).reset_index()
    g = g[g["count"] >= 5]
    p = g.groupby("year")["sum"].transform("sum") / g.groupby("year")["count"].transform("sum")
    rate = g["sum"] / g["count"]
    ratio = float(((rate - p) ** 2).sum() / (p * (1 - p) / g["count"]).sum())
    icc = (ratio - 1) / max(float(g["count"].mean()) - 1, 1.0)
    # a collective default: more members in trouble than independence gives 5 % of the time
    k = binom.ppf(0.95, g["count"], p) + 1
    expected = binom.sf(k - 1, g["count"], p).mean()
    collective = float((g["sum"] >= k).mean() / expected) if expected > 0 else float("nan")
    hy = year.reset_index()
    nxt = hy.assign(year=hy["year"] - 1).rename(columns={"onset": "next"})
    pair = hy.merge(nxt, on=["group_id", "household_id", "year"])
    persistence = _rate_ratio(pair["next"], pair["onset"].to_numpy(), ~pair["onset"].to_numpy())
    return {
        "group_variance_ratio": ratio,
        "intra_group_correlation": icc,
        "collective_default_ratio": collective,
        "persistence_ratio": persistence,
    }


def _calendar_facts(on: pd.DataFrame) -> dict[str, float]:
    by = on.groupby(on["month"].dt.month)["onset"].mean()
    lean = on["month"].dt.month.isin([1, 2, 3, 4, 7, 8]).to_numpy()
    harvest = on["month"].dt.month.isin([5, 6, 9]).to_numpy()
    return {
        "onset_month_max_min": float(by.max() / by.min()) if by.min() > 0 else float("nan"),
        "lean_tet_vs_harvest": _rate_ratio(on["onset"], lean, harvest),
    }


def _loan_facts(
    on: pd.DataFrame, loans: pd.DataFrame, households: pd.DataFrame
) -> dict[str, float]:
    ln = loans.sort_values("disbursement_date")[
        ["household_id", "disbursement_date", "amount", "loan_id"]
    ]
    ln = ln.assign(n_before=ln.groupby("household_id").cumcount())
    ln = ln.merge(households[["household_id", "workers"]], on="household_id")
    ln["per_worker"] = ln["amount"] / ln["workers"].clip(lower=1)
    m = pd.merge_asof(
        on.sort_values("month"),
        ln.sort_values("disbursement_date"),
        left_on="month",
        right_on="disbursement_date",
        by="household_id",
        allow_exact_matches=False,
    )
    m = m[m["disbursement_date"].notna()]
    age = (m["month"] - m["disbursement_date"]).dt.days / 30.44
    q = pd.qcut(m["per_worker"].rank(method="first"), 5, labels=False)
    return {
        "early_vs_seasoned_loan": _rate_ratio(
            m["onset"], (age < 12).to_numpy(), ((age >= 36) & (age < 60)).to_numpy()
        ),
        "first_vs_repeat_borrower": _rate_ratio(
            m["onset"], (m["n_before"] == 0).to_numpy(), (m["n_before"] >= 1).to_numpy()
        ),
        "burden_top_vs_bottom_quintile": _rate_ratio(
            m["onset"], (q == 4).to_numpy(), (q == 0).to_numpy()
        ),
    }


def _window_rate(on: pd.DataFrame, key: str, events: pd.DataFrame, lo: int, hi: int) -> pd.Series:
    """Onset indicator of rows within months ``[lo, hi)`` of an event of their ``key``."""
    e = events[[key, "date"]].drop_duplicates()
    m = on.merge(e, on=key)
    d = (m["month"].dt.year - m["date"].dt.year) * 12 + m["month"].dt.month - m["date"].dt.month
    return m.loc[(d >= lo) & (d < hi), "onset"]


def _event_facts(on: pd.DataFrame, t: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    r = t["group_ratings"].sort_values(["group_id", "rating_date"])
    prev = r.groupby("group_id")["rating"].shift(1)
    drop = r[(prev == "good") & (r["rating"] != "good")].rename(columns={"rating_date": "date"})
    stay = r[(prev == "good") & (r["rating"] == "good")].rename(columns={"rating_date": "date"})
    after_drop = _window_rate(on, "group_id", drop, 1, 13).mean()
    after_stay = _window_rate(on, "group_id", stay, 1, 13).mean()
    lead = t["group_leaders"].sort_values("start_date")
    change = lead[lead.duplicated("group_id")].rename(columns={"start_date": "date"})
    after = _window_rate(on, "group_id", change, 0, 12).mean()
    before = _window_rate(on, "group_id", change, -12, 0).mean()
    hz = t["hazard_events"]
    severe = hz[hz["severity"] == 3].rename(columns={"start_date": "date"})
    facts = {
        "rating_drop_effect": after_drop / after_stay if after_stay else float("nan"),
        "leader_change_effect": after / before if before else float("nan"),
    }
    before = _window_rate(on, "commune_id", severe, -12, 0).mean()
    for name, lo, hi in (("disaster_impact", 0, 3), ("disaster_recovery", 12, 24)):
        hit = _window_rate(on, "commune_id", severe, lo, hi).mean()
        facts[name] = hit / before if before else float("nan")
    return facts


def _extension_share(t: Mapping[str, pd.DataFrame]) -> float:
    inst, ev = t["installments"], t["debt_events"]
    end = inst["due_date"].max() if len(inst) else pd.Timestamp("today")
    end = min(end, ev["event_date"].max()) if len(ev) else end
    lo = end - pd.DateOffset(years=3)
    due = inst.loc[(inst["due_date"] > lo) & (inst["due_date"] <= end), "principal_due"].sum()
    ext = ev.loc[(ev["event_type"] == "extension") & (ev["event_date"] > lo), "amount"].sum()
    return float(ext / due) if due else float("nan")


def realism_report(tables: Mapping[str, pd.DataFrame], truth: pd.DataFrame) -> pd.DataFrame:
    """Every :data:`FACTS` entry with its value and whether it lies in its range.

    Args:
        tables: Bank tables (households, loans, installments, debt_events, group_ratings,
            group_leaders, hazard_events).
        truth: The simulator's ``truth/`` (household_id, month, in_trouble).
    """
    hh = tables["households"][["household_id", "group_id", "commune_id"]]
    on = onsets(truth).merge(hh, on="household_id")
    values = {
        **_group_facts(on),
        **_calendar_facts(on),
        **_loan_facts(on, tables["loans"], tables["households"]),
        **_event_facts(on, tables),
        "extension_share": _extension_share(tables),
    }
    rows = [
        (f.name, values[f.name], f.low, f.high, f.low <= values[f.name] <= f.high, f.description)
        for f in FACTS
    ]
    return pd.DataFrame(rows, columns=["fact", "value", "low", "high", "in_range", "description"])
