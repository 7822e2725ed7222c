"""Monthly inspection visit plans: whom to visit, on which day, in which village, and why.

The first part is pure (no I/O): :func:`plan_dates` picks the days of the month around the
commune's transaction day, :func:`select_visits` chooses households by risk or expected exposure
plus a random share drawn from the rest of the portfolio, :func:`schedule` puts the visits on the
days so that a village's (and a group's) visits fall on one day, and :func:`backtest` compares
the plan's selection with today's practice ranking on past months. The second part reads the
scores and stores plans, visits and outcomes in the service database.

Selection probabilities. A targeted visit is chosen with probability 1 (given the scores); a
random visit is one of ``n_random`` drawn uniformly without replacement from the ``pool``
households not targeted, so its inclusion probability is ``n_random / pool``. Outcomes of random
visits weighted by ``1 / selection_probability`` estimate the commune's rates without the bias of
targeted selection (Horvitz–Thompson).
"""

from __future__ import annotations

import calendar
import json
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving.db.schema import inspection_plans, plan_visits, portfolio_scores, visit_outcomes

logger = logging.getLogger(__name__)

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
                {"kind": r["selection"], "rank": int(r["rank"]),
                 "texts_en": _texts(r.get("reasons"), "en"),
                 "texts_vi": _texts(r.get("reasons"), "vi")}
            )  # fmt: skip
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
    by = {"en": {"risk": "risk", "exposure": "expected exposure"},
          "vi": {"risk": "rủi ro", "exposure": "dư nợ có thể mất"}}[lang]  # fmt: skip
    head = (
        f"Hạng {reason.get('rank')} theo {by.get(str(reason.get('kind')), '')}"
        if lang == "vi"
        else f"Rank {reason.get('rank')} by {by.get(str(reason.get('kind')), '')}"
    )
    texts = reason.get(f"texts_{lang}") or []
    return head + (": " + "; ".join(map(str, texts)) if texts else "")


# --- backtest -------------------------------------------------------------------------------


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


# --- storage --------------------------------------------------------------------------------

CANDIDATE_COLUMNS = ("household_id", "group_id", "village_id", "probability", "band",
                     "outstanding", "exposure", "reasons")  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def load_candidates(
    engine: Engine, model_name: str, version: str, commune_id: str
) -> tuple[date | None, pd.DataFrame]:
    """The commune's households at the latest month scored by the model version."""
    t = portfolio_scores
    cond = (
        (t.c.model_name == model_name)
        & (t.c.model_version == version)
        & (t.c.commune_id == commune_id)
    )
    with engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(t.c.as_of)).where(cond)).scalar()
        if latest is None:
            return None, pd.DataFrame(columns=CANDIDATE_COLUMNS)
        rows = conn.execute(
            sa.select(*[t.c[c] for c in CANDIDATE_COLUMNS]).where(cond & (t.c.as_of == latest))
        ).all()
    return pd.Timestamp(latest).date(), pd.DataFrame.from_records(rows, columns=CANDIDATE_COLUMNS)


def find_plan(engine: Engine, commune_id: str, month: str) -> str | None:
    """The id of the commune's plan for the month, if any."""
    t = inspection_plans
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.c.plan_id)
            .where((t.c.commune_id == commune_id) & (t.c.month == month))
            .order_by(t.c.created_at.desc())
        ).scalar()


def outcomes_count(engine: Engine, plan_id: str) -> int:
    """Outcomes recorded against the plan's visits."""
    v, o = plan_visits, visit_outcomes
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(o.join(v, o.c.visit_id == v.c.visit_id))
            .where(v.c.plan_id == plan_id)
        ).scalar_one()


def delete_plan(engine: Engine, plan_id: str) -> None:
    """Remove a plan and its visits (only plans without outcomes: outcomes are labels)."""
    if outcomes_count(engine, plan_id):
        raise ValueError(f"plan {plan_id} has recorded outcomes; it is kept")
    with engine.begin() as conn:
        conn.execute(plan_visits.delete().where(plan_visits.c.plan_id == plan_id))
        conn.execute(inspection_plans.delete().where(inspection_plans.c.plan_id == plan_id))


def save_plan(
    engine: Engine,
    commune_id: str,
    request: PlanRequest,
    visits: pd.DataFrame,
    model_name: str,
    model_version: str,
    created_by: str,
    extra_params: Mapping[str, object] | None = None,
) -> str:
    """Store a plan and its visits in one transaction; return the plan's id."""
    plan_id = str(uuid.uuid4())
    params = {**asdict(request), **dict(extra_params or {})}
    plan = {
        "plan_id": plan_id, "commune_id": commune_id, "month": request.month,
        "created_at": _now(), "created_by": created_by, "model_name": model_name,
        "model_version": model_version, "params": json.dumps(params, default=str),
        "status": "draft",
    }  # fmt: skip
    rows = [
        {
            "visit_id": str(uuid.uuid4()),
            "plan_id": plan_id,
            "household_id": r["household_id"],
            "group_id": r["group_id"],
            "village_id": r["village_id"],
            "visit_date": r["visit_date"],
            "selection": r["selection"],
            "selection_probability": float(r["selection_probability"]),
            "probability": None if pd.isna(r["probability"]) else float(r["probability"]),
            "model_version": model_version,
            "reason": json.dumps(r["reason"], ensure_ascii=False),
        }  # fmt: skip
        for r in visits.to_dict("records")
    ]
    with engine.begin() as conn:
        conn.execute(inspection_plans.insert(), plan)
        if rows:
            conn.execute(plan_visits.insert(), rows)
    return plan_id


def list_plans(
    engine: Engine,
    communes: frozenset[str] | None,
    commune_id: str | None = None,
    month: str | None = None,
) -> list[dict]:
    """Plans (newest month first) with their visit and outcome counts."""
    p, v, o = inspection_plans, plan_visits, visit_outcomes
    visits = sa.func.count(v.c.visit_id)
    q = (
        sa.select(p, visits.label("visits"), sa.func.count(o.c.visit_id).label("outcomes"))
        .select_from(p.outerjoin(v, v.c.plan_id == p.c.plan_id).outerjoin(
            o, o.c.visit_id == v.c.visit_id))
        .group_by(*p.c)
        .order_by(p.c.month.desc(), p.c.commune_id, p.c.created_at.desc())
    )  # fmt: skip
    if communes is not None:
        q = q.where(p.c.commune_id.in_(sorted(communes)))
    if commune_id is not None:
        q = q.where(p.c.commune_id == commune_id)
    if month is not None:
        q = q.where(p.c.month == month)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**dict(r), "params": json.loads(r["params"])} for r in rows]


def get_plan(engine: Engine, plan_id: str) -> dict | None:
    """A plan with its visits (by date, village, group) and each visit's outcome or ``None``."""
    p, v, o = inspection_plans, plan_visits, visit_outcomes
    with engine.connect() as conn:
        plan = conn.execute(sa.select(p).where(p.c.plan_id == plan_id)).mappings().first()
        if plan is None:
            return None
        visits = conn.execute(
            sa.select(v, *[c.label(f"outcome_{c.name}") for c in o.c if c.name != "visit_id"])
            .select_from(v.outerjoin(o, o.c.visit_id == v.c.visit_id))
            .where(v.c.plan_id == plan_id)
            .order_by(v.c.visit_date, v.c.village_id, v.c.group_id, v.c.visit_id)
        ).mappings().all()  # fmt: skip
    out = []
    for r in visits:
        visit = {c.name: r[c.name] for c in v.c if c.name != "plan_id"}
        visit["reason"] = json.loads(visit["reason"]) if visit["reason"] else None
        visit["outcome"] = (
            None
            if r["outcome_recorded_at"] is None
            else {c.name: r[f"outcome_{c.name}"] for c in o.c if c.name != "visit_id"}
        )
        out.append(visit)
    return {**dict(plan), "params": json.loads(plan["params"]), "visits": out}


def visit_plan(engine: Engine, visit_id: str) -> tuple[str, str] | None:
    """``(plan_id, commune_id)`` of a visit, or ``None``."""
    v, p = plan_visits, inspection_plans
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(v.c.plan_id, p.c.commune_id)
            .select_from(v.join(p, p.c.plan_id == v.c.plan_id))
            .where(v.c.visit_id == visit_id)
        ).first()
    return None if row is None else (row[0], row[1])


def record_outcome(
    engine: Engine,
    visit_id: str,
    use_of_funds: str,
    borrower_present: bool,
    migrated: bool,
    notes: str | None,
    recorded_by: str,
) -> dict:
    """Record (or correct) what the inspector found on a visit; return the stored outcome."""
    if use_of_funds not in USE_OF_FUNDS:
        raise ValueError(f"use_of_funds must be one of {USE_OF_FUNDS}")
    row = {
        "visit_id": visit_id, "recorded_at": _now(), "recorded_by": recorded_by,
        "use_of_funds": use_of_funds, "borrower_present": bool(borrower_present),
        "migrated": bool(migrated), "notes": notes or None,
    }  # fmt: skip
    o = visit_outcomes
    with engine.begin() as conn:
        done = conn.execute(
            o.update().where(o.c.visit_id == visit_id), {k: v for k, v in row.items() if k != "visit_id"}
        ).rowcount  # fmt: skip
        if not done:
            conn.execute(o.insert(), row)
    return {k: v for k, v in row.items() if k != "visit_id"}


def last_visits(engine: Engine, household_ids: Sequence[str]) -> dict[str, date]:
    """Date of each household's last visit with a recorded outcome."""
    if not len(household_ids):
        return {}
    v, o = plan_visits, visit_outcomes
    q = (
        sa.select(v.c.household_id, sa.func.max(v.c.visit_date))
        .select_from(v.join(o, o.c.visit_id == v.c.visit_id))
        .where(v.c.household_id.in_(list(household_ids)))
        .group_by(v.c.household_id)
    )
    with engine.connect() as conn:
        return {
            h: (d if isinstance(d, date) else pd.Timestamp(d).date()) for h, d in conn.execute(q)
        }


@dataclass(frozen=True)
class Places:
    """Communes' transaction days and names, villages' names (places, never persons)."""

    transaction_days: Mapping[str, int] = field(default_factory=dict)
    commune_names: Mapping[str, str] = field(default_factory=dict)
    village_names: Mapping[str, str] = field(default_factory=dict)


def read_places(data_dir: Path) -> Places:
    """The communes and villages tables of a data folder.

    Empty :class:`Places` (plans fall back to the default transaction day, ids instead of names)
    when they are absent or damaged; a damaged file is logged with what is wrong with it.
    """
    from features.storage import MissingTableError, UnreadableFileError, read_raw

    try:
        communes = read_raw(data_dir, "communes")
        villages = read_raw(data_dir, "villages")
    except (MissingTableError, OSError):
        return Places()
    except UnreadableFileError as err:
        logger.warning("places of %s not read (plans use default days and ids): %s", data_dir, err)
        return Places()
    return Places(
        {str(c): int(d) for c, d in zip(communes["commune_id"], communes["transaction_day"], strict=True)},
        {str(c): str(n) for c, n in zip(communes["commune_id"], communes["name"], strict=True)},
        {str(v): str(n) for v, n in zip(villages["village_id"], villages["name"], strict=True)},
    )  # fmt: skip
