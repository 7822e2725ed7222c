"""Portfolio scores: each current household's monthly risk, written for priorities and history.

``score_frame`` scores portfolio-view feature rows with the served model (the same numpy path as
the API) and attaches reasons; ``write_scores`` replaces a model version's rows for those months.
The batch command (``vbsp-risk score``) scores the last months of the portfolio feature table; the
service scores the online store's households when it loads a portfolio model with no scores yet.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from serving.bands import BAND_NAMES, BANDS
from serving.model_store import LoadedModel
from serving.reasons import top_reasons
from vbsp_state.schema import online_features, portfolio_scores

logger = logging.getLogger(__name__)

KEYS = ("household_id", "as_of", "commune_id", "village_id", "group_id")


def fast_matrix(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """:meth:`LoadedModel.matrix_from_frame` column by column without per-row Python.

    Same numbers (tested equal): categoricals as the model's codes (unknown or missing as NaN),
    booleans as 0/1, numbers as float64, non-finite values as NaN.
    """
    money = model.scorer.money
    if money is not None:  # money in today's money, as the scorer reads it
        frame = money.frame(frame)
    x = np.empty((len(frame), len(model.names)))
    for j, name in enumerate(model.names):
        col = frame[name]
        codes = model.codes.get(name)
        if codes is not None:
            cat = pd.Categorical(col)
            lut = np.array([codes.get(c, np.nan) for c in cat.categories] + [np.nan], "float64")
            x[:, j] = lut[np.where(cat.codes < 0, len(lut) - 1, cat.codes)]
        elif pd.api.types.is_numeric_dtype(col.dtype) or col.dtype == bool:
            x[:, j] = col.to_numpy(dtype="float64", na_value=np.nan)
        else:
            x[:, j] = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
    x[~np.isfinite(x)] = np.nan
    return x


def bands(p: np.ndarray) -> np.ndarray:
    """:func:`serving.bands.band` of each probability (object array of band names).

    Raises:
        ValueError: If a probability is outside [0, 1] or not a number.
    """
    p = np.asarray(p, dtype="float64")
    bad = ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        raise ValueError(f"probability {p[bad][0]!r} is outside [0, 1]")
    lower = np.array([lo for _, lo in BANDS])
    return np.array(BAND_NAMES, dtype=object)[np.searchsorted(lower, p, side="right") - 1]


def _dates(as_of: pd.Series) -> np.ndarray:
    """``as_of`` as ``datetime.date`` objects (one conversion per distinct date)."""
    values = pd.to_datetime(as_of).to_numpy()
    uniq, inverse = np.unique(values, return_inverse=True)
    dates = [None if pd.isna(u) else pd.Timestamp(u).date() for u in uniq]
    return np.array(dates, dtype=object)[inverse]


def score_frame(model: LoadedModel, frame: pd.DataFrame, explain: bool = True) -> pd.DataFrame:
    """Probability, band, exposure and reasons of each portfolio-view row.

    Args:
        model: A portfolio-view model.
        frame: Rows with :data:`KEYS` and the model's features.
        explain: Attach the top reasons (costs one contribution pass).

    Returns:
        A new frame: the keys, ``probability``, ``band``, ``outstanding``, ``exposure``,
        ``reasons`` (JSON text), ``model_name`` and ``model_version``.
    """
    x = fast_matrix(model, frame)
    p = model.predict(x)
    outstanding = pd.to_numeric(frame["outstanding_principal"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    out = pd.DataFrame({k: frame[k].reset_index(drop=True) for k in KEYS})
    out["as_of"] = _dates(frame["as_of"])
    out["probability"] = p
    out["band"] = bands(p)
    out["outstanding"] = outstanding
    out["exposure"] = p * outstanding
    if explain:
        contrib = model.contributions(x)
        rows = frame[list(model.names)].to_dict("records")
        out["reasons"] = [
            json.dumps(top_reasons(model.names, contrib[i], rows[i]), ensure_ascii=False)
            for i in range(len(rows))
        ]
    else:
        out["reasons"] = "[]"
    out["model_name"] = model.name
    out["model_version"] = model.version
    return out


def write_scores(engine: Engine, scores: pd.DataFrame) -> int:
    """Replace the rows of the same model version and months with ``scores``; return rows."""
    if scores.empty:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    records = [
        {
            **{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()},
            "scored_at": now,
        }
        for rec in scores.to_dict("records")
    ]
    t = portfolio_scores
    with engine.begin() as conn:
        for (name, version), part in scores.groupby(["model_name", "model_version"]):
            conn.execute(
                t.delete().where(
                    (t.c.model_name == name)
                    & (t.c.model_version == version)
                    & t.c.as_of.in_(sorted(set(part["as_of"])))
                )
            )
        conn.execute(t.insert(), records)
    logger.info("wrote %d portfolio scores", len(records))
    return len(records)


def online_frame(engine: Engine) -> pd.DataFrame:
    """The online store's household rows as a portfolio-view frame (keys + features)."""
    t = online_features
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.entity_type == "household")).mappings().all()
    if not rows:
        return pd.DataFrame(columns=list(KEYS))
    feats = pd.DataFrame([json.loads(r["features"]) for r in rows])
    keys = pd.DataFrame(
        {
            "household_id": [r["entity_id"] for r in rows],
            "as_of": [r["as_of"] for r in rows],
            "commune_id": [r["commune_id"] for r in rows],
            "village_id": [r["village_id"] for r in rows],
            "group_id": [r["group_id"] for r in rows],
        }
    )
    return pd.concat([keys, feats], axis=1)


def has_scores(engine: Engine, model: LoadedModel) -> bool:
    """Whether the model version has portfolio scores for the online store's as_of."""
    with engine.connect() as conn:
        as_of = conn.execute(sa.select(sa.func.max(online_features.c.as_of))).scalar()
        if as_of is None:
            return True  # nothing to score
        t = portfolio_scores
        n = conn.execute(
            sa.select(sa.func.count())
            .select_from(t)
            .where(
                (t.c.model_name == model.name)
                & (t.c.model_version == model.version)
                & (t.c.as_of == as_of)
            )
        ).scalar()
    return bool(n)


def score_online_store(engine: Engine, model: LoadedModel) -> int:
    """Score every household of the online store with ``model`` and write the scores."""
    frame = online_frame(engine)
    if frame.empty:
        return 0
    return write_scores(engine, score_frame(model, frame))


def feature_table_months(
    frame: pd.DataFrame, months: int, households: pd.DataFrame
) -> pd.DataFrame:
    """The rows of the last ``months`` snapshot dates of a portfolio feature table, with each
    household's group and village (from the ``households`` table) for the priorities.

    Raises:
        ValueError: If a row's household is not in ``households``.
    """
    dates = sorted(pd.to_datetime(frame["as_of"]).unique())[-months:]
    rows = frame[pd.to_datetime(frame["as_of"]).isin(dates)]
    places = households[["household_id", "group_id", "village_id"]]
    out = rows.drop(columns=["group_id", "village_id"], errors="ignore").merge(
        places, on="household_id", how="left", validate="many_to_one"
    )
    missing = out["group_id"].isna()
    if missing.any():
        first = out.loc[missing, "household_id"].iloc[0]
        raise ValueError(
            f"feature table: {int(missing.sum())} rows of households absent from the households "
            f"table (first: {first})"
        )
    return out
