"""Monthly inspection visit plans: whom to visit, on which day, in which village, and why.

Pure (no I/O): :func:`plan_dates` picks the days of the month around the commune's transaction
day, :func:`select_visits` chooses households by risk or expected exposure plus a random share
drawn from the rest of the portfolio, and :func:`schedule` puts the visits on the days so that a
village's (and a group's) visits fall on one day. :mod:`serving.plan_backtest` compares the
plan's selection with today's practice ranking on past months; :mod:`serving.plan_store` reads
the scores and stores plans, visits and outcomes in the service database.

Selection probabilities. A targeted visit is chosen with probability 1 (given the scores); a
random visit is one of ``n_random`` drawn uniformly without replacement from the ``pool``
households not targeted, so its inclusion probability is ``n_random / pool``. Outcomes of random
visits weighted by ``1 / selection_probability`` estimate the commune's rates without the bias of
targeted selection (Horvitz–Thompson).
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

SORTS = ("risk", "exposure")
USE_OF_FUNDS = ("correct", "partial", "misuse", "unknown")
"""Use of funds found on a visit: the data contract's values, plus ``unknown`` (not checked)."""
SUNDAY = 6


@dataclass(frozen=True)
class PlanRequest:
    """What an inspector asks for: one commune's visits in one month.

    Attributes:
        month: ``YYYY-MM``.
        transaction_day: Day of month of the commune's transaction session.
        capacity_per_day: Visits one inspection team makes in the commune in a day.
        days: Days available in the commune this month.
        sort: ``risk`` (probability) or ``exposure`` (probability × outstanding).
        random_share: Share of the visits drawn at random from the rest of the portfolio.
        seed: Seed of the random draw (recorded, so a plan can be redrawn identically).
    """

    month: str
    transaction_day: int
    capacity_per_day: int = 8
    days: int = 3
    sort: str = "risk"
    random_share: float = 0.10
    seed: int = 0

    def __post_init__(self) -> None:
        _month_bounds(self.month)
        if not 1 <= self.transaction_day <= 31:
            raise ValueError(f"transaction_day must be a day of month, got {self.transaction_day}")
        if self.capacity_per_day < 1 or self.days < 1:
            raise ValueError("capacity_per_day and days must be at least 1")
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}, got {self.sort!r}")
        if not 0.0 <= self.random_share <= 1.0:
            raise ValueError(f"random_share must be in [0, 1], got {self.random_share}")

    @property
    def capacity(self) -> int:
        """Visits the month allows in the commune."""
        return self.capacity_per_day * self.days


def _month_bounds(month: str) -> tuple[int, int, int]:
    try:
        year, mon = (int(p) for p in month.split("-"))
        last = calendar.monthrange(year, mon)[1]
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"month must be YYYY-MM, got {month!r}") from None
    if len(month) != 7:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return year, mon, last


def plan_dates(month: str, transaction_day: int, days: int) -> list[date]:
    """The days of the month the commune is visited, most useful first.

    The transaction day comes first (group leaders and members gather at the commune point, so
    the inspector meets groups there), then the days nearest to it, alternately before and
    after; Sundays are skipped, except a transaction day falling on one.

    Raises:
        ValueError: The month has fewer such days than ``days``.
    """
    year, mon, last = _month_bounds(month)
    anchor = min(transaction_day, last)
    out = [date(year, mon, anchor)]
    for step in range(1, last):
        for d in (anchor - step, anchor + step):
            if len(out) < days and 1 <= d <= last and date(year, mon, d).weekday() != SUNDAY:
                out.append(date(year, mon, d))
    if len(out) < days:
        raise ValueError(f"{month} has only {len(out)} working days around the transaction day")
    return out


def _rank_key(frame: pd.DataFrame, sort: str) -> pd.Series:
    key = frame["exposure"] if sort == "exposure" else frame["probability"]
    return pd.to_numeric(key, errors="coerce")


def select_visits(
    candidates: pd.DataFrame, capacity: int, sort: str, random_share: float, seed: int
) -> pd.DataFrame:
    """Choose the households to visit.

    Args:
        candidates: One row per household: ``household_id``, ``probability`` and (for
            ``sort="exposure"``) ``exposure``; other columns are carried along.
        capacity: Visits available.
        sort: ``risk`` or ``exposure``.
        random_share: Share of the visits drawn at random (at least that share, rounded up).
        seed: Seed of the draw.

    Returns:
        The chosen rows with ``selection`` (``risk`` / ``exposure`` / ``random``),
        ``selection_probability`` and ``rank`` (1-based order of priority: targeted by score,
        then the random visits), ordered by ``rank``.
    """
    n = min(capacity, len(candidates))
    n_random = min(n, math.ceil(random_share * n - 1e-9)) if n else 0
    ranked = candidates.assign(_key=_rank_key(candidates, sort)).sort_values(
        ["_key", "probability", "household_id"], ascending=[False, False, True], na_position="last"
    )
    targeted = ranked.head(n - n_random).drop(columns="_key")
    pool = ranked.iloc[n - n_random :].drop(columns="_key")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(pool), size=n_random, replace=False)) if n_random else []
    drawn = pool.iloc[picks]
    targeted = targeted.assign(selection=sort, selection_probability=1.0)
    drawn = drawn.assign(
        selection="random", selection_probability=n_random / len(pool) if len(pool) else 0.0
    )
    out = pd.concat([targeted, drawn], ignore_index=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def schedule(selected: pd.DataFrame, dates: Sequence[date], capacity_per_day: int) -> pd.Series:
    """The day of each visit, keeping a village's visits (else each group's) on one day.

    Villages are placed in order of their most urgent visit (lowest ``rank``), each on the first
    day (in ``dates`` order, transaction day first) that still has room for all of its visits;
    a village too large for any day is placed group by group, and a group too large for any day
    fills the days with most room left. No day gets more than ``capacity_per_day`` visits.

    Returns:
        The visit date of each row of ``selected`` (same index).

    Raises:
        ValueError: More visits than the days can hold.
    """
    if len(selected) > capacity_per_day * len(dates):
        raise ValueError(f"{len(selected)} visits do not fit {len(dates)} days")
    room = dict.fromkeys(dates, capacity_per_day)
    out = pd.Series(pd.NaT, index=selected.index, dtype="object")

    def first_fit(n: int, prefer: Iterable[date] = ()) -> date | None:
        for d in [*prefer, *dates]:
            if room[d] >= n:
                return d
        return None

    def put(index: Sequence, d: date) -> None:
        out.loc[list(index)] = d
        room[d] -= len(index)

    villages = selected.groupby("village_id", sort=False)["rank"].min().sort_values(kind="stable")
    for village in villages.index:
        rows = selected[selected["village_id"] == village]
        d = first_fit(len(rows))
        if d is not None:
            put(rows.index, d)
            continue
        used: list[date] = []
        groups = rows.groupby("group_id", sort=False)["rank"].min().sort_values(kind="stable")
        for group in groups.index:
            g = rows[rows["group_id"] == group].sort_values("rank")
            d = first_fit(len(g), used)
            if d is not None:
                put(g.index, d)
                used.append(d)
                continue
            left = list(g.index)
            while left:
                d = max(dates, key=lambda x: room[x])
                take, left = left[: room[d]], left[room[d] :]
                put(take, d)
                used.append(d)
    return out


def _texts(reasons: object, lang: str, k: int = 2) -> list[str]:
    items = json.loads(reasons) if isinstance(reasons, str) else list(reasons or [])
    return [r[f"text_{lang}"] for r in items[:k]]


def build_plan(candidates: pd.DataFrame, request: PlanRequest) -> pd.DataFrame:
    """A plan's visits: selected, scheduled, each with its selection reason.

    Args:
        candidates: The commune's households at the latest scored month (``household_id``,
            ``group_id``, ``village_id``, ``probability``, ``outstanding``, ``exposure``,
            ``reasons`` as JSON text or lists).
        request: Month, capacity, days, transaction day, ranking, random share, seed.

    Returns:
        One row per visit, ordered by date, village, group and rank: the candidate's columns,
        ``selection``, ``selection_probability``, ``rank``, ``visit_date`` and ``reason`` (a
        dict: the rank and top reasons for a targeted visit, the draw for a random one).
    """
    dates = plan_dates(request.month, request.transaction_day, request.days)
    chosen = select_visits(
        candidates, request.capacity, request.sort, request.random_share, request.seed
    )
    chosen["visit_date"] = schedule(chosen, dates, request.capacity_per_day)
    n_random = int((chosen["selection"] == "random").sum())
    pool = len(candidates) - (len(chosen) - n_random)
    reasons = []
    for r in chosen.to_dict("records"):
        if r["selection"] == "random":
            reasons.append({"kind": "random", "drawn": n_random, "pool": pool})
        else:
            reasons.append(
                {
                    "kind": r["selection"],
                    "rank": int(r["rank"]),
                    "texts_en": _texts(r.get("reasons"), "en"),
                    "texts_vi": _texts(r.get("reasons"), "vi"),
                }
            )
    chosen["reason"] = reasons
    return chosen.sort_values(["visit_date", "village_id", "group_id", "rank"]).reset_index(
        drop=True
    )


def reason_text(reason: Mapping[str, object] | None, lang: str) -> str:
    """A visit's selection reason as a sentence in ``lang`` (``en`` / ``vi``)."""
    if not reason:
        return ""
    if reason.get("kind") == "random":
        drawn, pool = reason.get("drawn"), reason.get("pool")
        if lang == "vi":
            return (
                f"Chọn ngẫu nhiên ({drawn} trong {pool} hộ còn lại) để đánh giá mô hình khách quan"
            )
        return f"Drawn at random ({drawn} of the {pool} other households) to keep evaluation honest"
    by = {
        "en": {"risk": "risk", "exposure": "expected exposure"},
        "vi": {"risk": "rủi ro", "exposure": "dư nợ có thể mất"},
    }[lang]
    head = (
        f"Hạng {reason.get('rank')} theo {by.get(str(reason.get('kind')), '')}"
        if lang == "vi"
        else f"Rank {reason.get('rank')} by {by.get(str(reason.get('kind')), '')}"
    )
    texts = reason.get(f"texts_{lang}") or []
    return head + (": " + "; ".join(map(str, texts)) if texts else "")
