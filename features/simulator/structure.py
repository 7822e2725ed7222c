"""The district's fixed structure: communes, villages and groups.

These tables are small (one row per commune/village/group) and are drawn up front for the whole
district; hazard events are drawn in :mod:`features.simulator.disasters`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import domain
from features.simulator.config import COMMUNES_PER_HH, GROUPS_PER_HH, VILLAGES_PER_HH, SimConfig


def month_index(start: str, end: str) -> pd.DatetimeIndex:
    """First days of every simulated month."""
    return pd.date_range(
        pd.Period(start, "M").start_time, pd.Period(end, "M").start_time, freq="MS"
    )


def _split(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` items into ``parts`` sizes ≥ 1, roughly equal with noise."""
    w = rng.gamma(6.0, size=parts)
    return 1 + rng.multinomial(total - parts, w / w.sum())


FIRST_FOUNDED = pd.Timestamp("2003-06-01")
"""Earliest founding date of a group (VBSP's first year), for any start from 2007-01 on."""
FOUNDING_DAYS = 365 * 12
"""Groups are founded over at most twelve years from VBSP's first year (to 2015-05)."""
FOUNDED_BEFORE_START = 7
"""Months before the start by which the youngest group is founded, so that every group (and its
first leader) exists when the simulated months begin."""
SHORTEST_FOUNDING_YEARS = 3
"""For a start before 2007-01, the founding window moves back to keep at least this many years."""


def founding_window(start: str) -> tuple[pd.Timestamp, int]:
    """First founding date and length in days of the window groups are founded in.

    Groups were founded from VBSP's first year (2003-06) over twelve years (to 2015-05); a
    start before mid-2015 ends the window seven months before the start, and a start before
    2007-01 moves it back so that it still spans three years.
    """
    before_start = pd.Period(start, "M").start_time - pd.DateOffset(months=FOUNDED_BEFORE_START)
    last = min(FIRST_FOUNDED + pd.Timedelta(days=FOUNDING_DAYS), before_start)
    first = min(FIRST_FOUNDED, last - pd.DateOffset(years=SHORTEST_FOUNDING_YEARS))
    return first, int((last - first).days)


def build_structure(cfg: SimConfig) -> dict[str, pd.DataFrame]:
    """Draw communes, villages and groups for a district of ``cfg.households`` borrowers.

    Returns:
        ``communes``, ``villages`` and ``groups`` tables of the contract, plus the internal
        column ``groups.leader_weak_p`` is *not* included: leader quality is drawn later.
    """
    rng = np.random.default_rng([cfg.seed, 0])
    n = cfg.households
    n_c = max(1, round(n * COMMUNES_PER_HH))
    n_v = max(n_c, round(n * VILLAGES_PER_HH))
    n_g = max(n_v, round(n * GROUPS_PER_HH))
    width = max(2, len(str(n_c)))
    commune_ids = [f"C{i + 1:0{width}d}" for i in range(n_c)]
    days = rng.choice(np.arange(5, 26), size=n_c, replace=n_c > 21)
    remote = rng.random(n_c) < 0.45
    communes = pd.DataFrame(
        {
            "commune_id": commune_ids,
            "name": [f"Xã {i + 1}" for i in range(n_c)],
            "transaction_day": days.astype("int64"),
            "is_difficult": rng.random(n_c) < 0.75,
            "is_border": rng.random(n_c) < 0.2,
            "is_remote": remote,
            "distance_km": np.round(
                np.where(remote, rng.uniform(25, 70, n_c), rng.uniform(2, 30, n_c)), 1
            ),
        }
    )
    v_per_c = _split(n_v, n_c, rng)
    v_commune = np.repeat(commune_ids, v_per_c)
    village_ids = [
        f"{c}-V{k + 1:02d}" for c, m in zip(commune_ids, v_per_c, strict=True) for k in range(m)
    ]
    villages = pd.DataFrame(
        {
            "village_id": village_ids,
            "commune_id": v_commune,
            "name": [f"Thôn {v.split('-V')[1]}" for v in village_ids],
            "distance_km": np.round(rng.gamma(2.0, 3.0, n_v), 1),
        }
    )
    g_per_v = _split(n_g, n_v, rng)
    g_village = np.repeat(village_ids, g_per_v)
    g_commune = np.repeat(v_commune, g_per_v)
    group_ids = [
        f"{v}-G{k + 1}" for v, m in zip(village_ids, g_per_v, strict=True) for k in range(m)
    ]
    first, span = founding_window(cfg.start)
    founded = first + pd.to_timedelta(rng.integers(0, span, n_g), unit="D")
    groups = pd.DataFrame(
        {
            "group_id": group_ids,
            "village_id": g_village,
            "commune_id": g_commune,
            "organisation": rng.choice(
                domain.ORGANISATIONS, size=n_g, p=domain.ORGANISATION_SHARES
            ),
            "founded_date": founded.normalize(),
        }
    )
    return {"communes": communes, "villages": villages, "groups": groups}
