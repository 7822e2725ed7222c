"""Read models over the portfolio scores: a household's risk history, and inspection priorities.

A member is *rising* when its probability grew by at least :data:`RISE_ABS` (absolute) and by
:data:`RISE_REL` (relative) over the last 3 months; a group is *rising together* when at least
:data:`GROUP_RISING_SHARE` of its members, and at least :data:`GROUP_RISING_MIN` of them, are
rising. Both compare scores of the same model version, so a new champion does not look like a
change in the households.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.numbers import finite_or_none
from vbsp_state.schema import portfolio_scores

RISE_ABS = 0.01
RISE_REL = 0.25
GROUP_RISING_SHARE = 0.5
GROUP_RISING_MIN = 2


def household_scores(engine: Engine, model_name: str, household_id: str) -> pd.DataFrame:
    """All portfolio scores of a household by one registered model, oldest first.

    When several versions scored a month, the latest scoring of that month is kept.
    """
    t = portfolio_scores
    q = (
        sa.select(t)
        .where((t.c.household_id == household_id) & (t.c.model_name == model_name))
        .order_by(t.c.as_of, t.c.scored_at)
    )
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(q).mappings().all())
    if rows.empty:
        return rows
    return rows.drop_duplicates("as_of", keep="last").reset_index(drop=True)


NOW_COLUMNS = (
    "household_id",
    "group_id",
    "village_id",
    "probability",
    "band",
    "outstanding",
    "exposure",
    "reasons",
)


def _scores(
    engine: Engine, model_name: str, version: str, where: sa.ColumnElement
) -> tuple[date | None, pd.DataFrame, pd.Series]:
    """Latest scored month, its rows, and the probabilities of 3 months earlier."""
    t = portfolio_scores
    cond = (t.c.model_name == model_name) & (t.c.model_version == version) & where
    with engine.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(t.c.as_of)).where(cond)).scalar()
        if latest is None:
            return None, pd.DataFrame(columns=NOW_COLUMNS), pd.Series(dtype="float64")
        latest = pd.Timestamp(latest).date()
        earlier = (pd.Timestamp(latest) - pd.DateOffset(months=3)).date()
        now = conn.execute(
            sa.select(*[t.c[c] for c in NOW_COLUMNS]).where(cond & (t.c.as_of == latest))
        ).all()
        before = conn.execute(
            sa.select(t.c.household_id, t.c.probability).where(cond & (t.c.as_of == earlier))
        ).all()
    now_frame = pd.DataFrame(list(map(tuple, now)), columns=NOW_COLUMNS)  # rows as tuples: fast
    before_p = pd.Series({h: p for h, p in before}, dtype="float64")
    return latest, now_frame, before_p


def _group_summaries(now: pd.DataFrame) -> pd.DataFrame:
    """Members, mean probability, mean 3-month change (NaN skipped) and rising members of each
    group and village, from one pass of sums: a pandas named aggregation was slower
    (docs/measurements.md)."""
    codes, uniques = pd.MultiIndex.from_arrays([now["group_id"], now["village_id"]]).factorize(
        sort=True
    )
    n = len(uniques)
    change = now["change_3m"].to_numpy(dtype="float64")
    known = ~np.isnan(change)
    members = np.bincount(codes, minlength=n)
    n_change = np.bincount(codes, known, n)
    change_sum = np.bincount(codes, np.where(known, change, 0.0), n)
    return pd.DataFrame(
        {
            "group_id": uniques.get_level_values(0),
            "village_id": uniques.get_level_values(1),
            "members": members,
            "mean_probability": np.bincount(codes, now["probability"].to_numpy("float64"), n)
            / members,
            "mean_change_3m": np.divide(
                change_sum, n_change, out=np.full(n, np.nan), where=n_change > 0
            ),
            "rising_members": np.bincount(codes, now["rising"].to_numpy(bool), n).astype("int64"),
        }
    )


def priorities(
    engine: Engine,
    model_name: str,
    version: str,
    commune_id: str | None = None,
    village_id: str | None = None,
    group_id: str | None = None,
    communes: frozenset[str] | None = None,
    sort: str = "risk",
    limit: int | None = None,
) -> tuple[date | None, pd.DataFrame, pd.DataFrame]:
    """Ranked households and group summaries at the latest scored month.

    Args:
        engine: The service database.
        model_name: Registered portfolio model.
        version: Its served version.
        commune_id: Filter by commune (optional).
        village_id: Filter by village (optional).
        group_id: Filter by group (optional).
        communes: Communes the caller may see (``None``: all).
        sort: ``risk`` (probability) or ``exposure`` (probability × outstanding).
        limit: Keep the first ``limit`` households (groups always cover every household).

    Returns:
        ``(as_of, households, groups)``: households ranked (with ``change_3m``), groups with
        ``members``, ``mean_probability``, ``mean_change_3m``, ``rising_members`` and
        ``rising_together``, rising groups first.
    """
    t = portfolio_scores
    where = sa.true()
    for col, value in (
        ("commune_id", commune_id),
        ("village_id", village_id),
        ("group_id", group_id),
    ):
        if value is not None:
            where = where & (t.c[col] == value)
    if communes is not None:
        where = where & t.c.commune_id.in_(sorted(communes))
    latest, now, before = _scores(engine, model_name, version, where)
    if latest is None:
        return None, now, pd.DataFrame()
    now = now.set_index("household_id")
    prev = before.reindex(now.index)
    now["change_3m"] = now["probability"] - prev
    now["rising"] = (now["change_3m"] >= RISE_ABS) & (now["change_3m"] >= RISE_REL * prev)
    key = "exposure" if sort == "exposure" else "probability"
    ranked = now.reset_index().sort_values(
        [key, "probability", "household_id"], ascending=[False, False, True], na_position="last"
    )
    if limit is not None:
        ranked = ranked.head(limit)
    ranked["reasons"] = ranked["reasons"].map(orjson.loads)  # only the rows answered
    groups = _group_summaries(now)
    groups["rising_together"] = (groups["rising_members"] >= GROUP_RISING_MIN) & (
        groups["rising_members"] >= GROUP_RISING_SHARE * groups["members"]
    )
    groups = groups.sort_values(
        ["rising_together", "mean_change_3m", "group_id"],
        ascending=[False, False, True],
        na_position="last",
    )
    return latest, ranked.reset_index(drop=True), groups.reset_index(drop=True)


def household_rows(ranked: pd.DataFrame) -> list[dict]:
    """Households of a ranking from :func:`priorities` as plain rows, NaN figures as ``None``.

    ``rank`` is the row's place in the whole ranking (its index + 1), so a page that filters the
    ranking by village, group or band still shows each household's place in the commune.
    """
    return [
        {
            "rank": int(rank) + 1,
            "household_id": r["household_id"],
            "group_id": r["group_id"],
            "village_id": r["village_id"],
            "probability": r["probability"],
            "band": r["band"],
            "outstanding": finite_or_none(r["outstanding"]),
            "exposure": finite_or_none(r["exposure"]),
            "change_3m": finite_or_none(r["change_3m"]),
            "reasons": r["reasons"],
        }
        for rank, r in zip(ranked.index, ranked.to_dict("records"), strict=True)
    ]


def group_rows(groups: pd.DataFrame) -> list[dict]:
    """Group summaries from :func:`priorities` as plain rows (counts as ``int``, NaN as ``None``)."""
    return [
        {
            **g,
            "mean_change_3m": finite_or_none(g["mean_change_3m"]),
            "members": int(g["members"]),
            "rising_members": int(g["rising_members"]),
            "rising_together": bool(g["rising_together"]),
        }
        for g in groups.to_dict("records")
    ]
