"""Visit plans in the service database: candidates from the portfolio scores, plans, visits and
outcomes, and the places (communes' transaction days and names) of the data folder."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving.planner import PlanRequest
from serving.priorities import NOW_COLUMNS
from vbsp_state.schema import inspection_plans, plan_visits, portfolio_scores, visit_outcomes

logger = logging.getLogger(__name__)

CANDIDATE_COLUMNS = NOW_COLUMNS
"""A plan's candidates: the latest scores, as the priorities read them."""


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


def _scalar(bind: Engine | sa.Connection, q: sa.Select) -> object:
    """``q``'s value, on the caller's transaction when given one."""
    if isinstance(bind, sa.Connection):
        return bind.execute(q).scalar()
    with bind.connect() as conn:
        return conn.execute(q).scalar()


class PlanExistsError(ValueError):
    """The commune already has a plan for the month (``plan_id`` names it)."""

    def __init__(self, plan_id: str | None) -> None:
        super().__init__(f"the commune already has plan {plan_id} for this month")
        self.plan_id = plan_id


def find_plan(engine: Engine | sa.Connection, commune_id: str, month: str) -> str | None:
    """The id of the commune's plan for the month, if any (one: the table's unique index)."""
    t = inspection_plans
    q = sa.select(t.c.plan_id).where((t.c.commune_id == commune_id) & (t.c.month == month))
    found = _scalar(engine, q)
    return None if found is None else str(found)


def outcomes_count(engine: Engine | sa.Connection, plan_id: str) -> int:
    """Outcomes recorded against the plan's visits."""
    v, o = plan_visits, visit_outcomes
    q = (
        sa.select(sa.func.count())
        .select_from(o.join(v, o.c.visit_id == v.c.visit_id))
        .where(v.c.plan_id == plan_id)
    )
    return int(_scalar(engine, q) or 0)


def _delete_plan(conn: sa.Connection, plan_id: str) -> None:
    if outcomes_count(conn, plan_id):
        raise ValueError(f"plan {plan_id} has recorded outcomes; it is kept")
    conn.execute(plan_visits.delete().where(plan_visits.c.plan_id == plan_id))
    conn.execute(inspection_plans.delete().where(inspection_plans.c.plan_id == plan_id))


def delete_plan(engine: Engine, plan_id: str) -> None:
    """Remove a plan and its visits (only plans without outcomes: outcomes are labels)."""
    with engine.begin() as conn:
        _delete_plan(conn, plan_id)


def save_plan(
    engine: Engine,
    commune_id: str,
    request: PlanRequest,
    visits: pd.DataFrame,
    model_name: str,
    model_version: str,
    created_by: str,
    extra_params: Mapping[str, object] | None = None,
    replace: bool = False,
) -> str:
    """Store a plan and its visits in one transaction; return the plan's id.

    The month's existing plan is replaced (``replace``, only while it has no outcome) in the same
    transaction. Of concurrent creates for one commune and month, the unique index lets one
    commit; the others fail here, however they interleave.

    Raises:
        PlanExistsError: The month has a plan (and ``replace`` is false, or another create won).
        ValueError: The plan to replace has recorded outcomes.
    """
    plan_id = str(uuid.uuid4())
    params = {**asdict(request), **dict(extra_params or {})}
    plan = {
        "plan_id": plan_id,
        "commune_id": commune_id,
        "month": request.month,
        "created_at": _now(),
        "created_by": created_by,
        "model_name": model_name,
        "model_version": model_version,
        "params": json.dumps(params, default=str),
        "status": "draft",
    }
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
        }
        for r in visits.to_dict("records")
    ]
    try:
        with engine.begin() as conn:
            existing = find_plan(conn, commune_id, request.month)
            if existing is not None:
                if not replace:
                    raise PlanExistsError(existing)
                _delete_plan(conn, existing)
            conn.execute(inspection_plans.insert(), plan)
            if rows:
                conn.execute(plan_visits.insert(), rows)
    except sa.exc.IntegrityError:  # a concurrent create committed first
        raise PlanExistsError(find_plan(engine, commune_id, request.month)) from None
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
        .select_from(
            p.outerjoin(v, v.c.plan_id == p.c.plan_id).outerjoin(o, o.c.visit_id == v.c.visit_id)
        )
        .group_by(*p.c)
        .order_by(p.c.month.desc(), p.c.commune_id, p.c.created_at.desc())
    )
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
        visits = (
            conn.execute(
                sa.select(v, *[c.label(f"outcome_{c.name}") for c in o.c if c.name != "visit_id"])
                .select_from(v.outerjoin(o, o.c.visit_id == v.c.visit_id))
                .where(v.c.plan_id == plan_id)
                .order_by(v.c.visit_date, v.c.village_id, v.c.group_id, v.c.visit_id)
            )
            .mappings()
            .all()
        )
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


def read_optional(folder: Path, names: Sequence[str], without: str) -> dict | None:
    """Tables of a data folder the service can do without: ``None`` when one is absent, or
    damaged (logged with what is wrong and ``without``, what the service does instead)."""
    from features.storage import MissingTableError, UnreadableFileError, read_raw

    try:
        return {name: read_raw(folder, name) for name in names}
    except (MissingTableError, OSError):
        return None
    except UnreadableFileError as err:
        logger.warning("%s of %s not read (%s): %s", ", ".join(names), folder, without, err)
        return None


def read_places(data_dir: Path) -> Places:
    """The communes and villages tables of a data folder.

    Empty :class:`Places` (plans fall back to the default transaction day, ids instead of names)
    when they are absent or damaged; a damaged file is logged with what is wrong with it.
    """
    tables = read_optional(data_dir, ("communes", "villages"), "plans use default days and ids")
    if tables is None:
        return Places()
    communes, villages = tables["communes"], tables["villages"]
    return Places(
        {
            str(c): int(d)
            for c, d in zip(communes["commune_id"], communes["transaction_day"], strict=True)
        },
        {str(c): str(n) for c, n in zip(communes["commune_id"], communes["name"], strict=True)},
        {str(v): str(n) for v, n in zip(villages["village_id"], villages["name"], strict=True)},
    )
