"""Online feature store: each household's latest history features, in the service's database.

``materialize`` computes, as of one date (by default the day after the last closed month), the
borrower-history and group/village/commune features of every current member household, and of
every group for a new member without history, and replaces the store's rows in one transaction.
At request time :func:`assemble_application` combines a stored row with an application's own
fields through :func:`features.build.feature_rows`'s application code, so a served feature vector
equals the batch application-view row for the same household, date and loan.

Feature values are stored as JSON (floats round-trip exactly); SQLite by default, PostgreSQL
through the same SQLAlchemy code.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.application import application_vector
from features.build import PLACE, commune_tables, feature_rows
from features.catalog import CATALOG_VERSION, all_feature_names, feature_dtypes_for
from features.pit import as_ns
from vbsp_state.schema import metadata, online_features

logger = logging.getLogger(__name__)

NEW_MEMBER = "__new_member__"
"""Household id used for a group's "new member without history" row."""


def default_as_of(export_date: str | pd.Timestamp) -> pd.Timestamp:
    """The day after the last closed month of an export."""
    end = pd.Timestamp(export_date)
    last_closed = (
        end.to_period("M")
        if end == end.to_period("M").end_time.normalize()
        else end.to_period("M") - 1
    )
    return (last_closed + 1).to_timestamp()


def _encode(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def store_snapshots(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Current members at ``as_of`` and one new-member row per group."""
    hh = tables["households"]
    joined = as_ns(hh["joined_date"]) < as_of
    left = as_ns(hh["left_date"])
    current = hh[joined & (left.isna() | (left >= as_of))]
    members = current[["household_id", *PLACE]].assign(entity_type="household")
    groups = tables["groups"][PLACE].assign(household_id=NEW_MEMBER, entity_type="group")
    snaps = pd.concat([members, groups], ignore_index=True)
    return snaps.assign(as_of=as_of)


def compute_store_rows(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """Portfolio-view features of every store entity at ``as_of``, commune by commune."""
    pieces = []
    for cid in sorted(tables["communes"]["commune_id"]):
        t = commune_tables(tables, cid)
        snaps = store_snapshots(t, as_of)
        if snaps.empty:
            continue
        feats = feature_rows(t, snaps, "portfolio")
        feats = feats.drop(columns=["household_id", "as_of", "commune_id"])
        workers = snaps["household_id"].map(t["households"].set_index("household_id")["workers"])
        pieces.append(
            pd.concat(
                [snaps.reset_index(drop=True), workers.rename("_store_workers"), feats], axis=1
            )
        )
    return pd.concat(pieces, ignore_index=True)


def materialize(
    tables: Mapping[str, pd.DataFrame], engine: Engine, as_of: str | pd.Timestamp
) -> int:
    """Replace the online store's rows with features as of ``as_of``; return rows written."""
    as_of = pd.Timestamp(as_of).normalize()
    rows = compute_store_rows(tables, as_of)
    names = all_feature_names("portfolio")
    now = datetime.now(UTC).replace(tzinfo=None)
    records = []
    for rec in rows.to_dict("records"):
        is_group = rec["entity_type"] == "group"
        records.append(
            {
                "entity_type": rec["entity_type"],
                "entity_id": rec["group_id"] if is_group else rec["household_id"],
                "group_id": rec["group_id"],
                "village_id": rec["village_id"],
                "commune_id": rec["commune_id"],
                "workers": None
                if is_group or pd.isna(rec["_store_workers"])
                else int(rec["_store_workers"]),
                "as_of": as_of.date(),
                "feature_set_version": CATALOG_VERSION,
                "features": json.dumps({n: _encode(rec[n]) for n in names}, allow_nan=False),
                "materialized_at": now,
            }
        )
    metadata.create_all(engine, tables=[online_features], checkfirst=True)
    with engine.begin() as conn:
        conn.execute(online_features.delete())
        conn.execute(online_features.insert(), records)
    logger.info(
        "materialized %d rows as of %s (feature set %s)",
        len(records),
        as_of.date(),
        CATALOG_VERSION,
    )
    return len(records)


def fetch(
    engine: Engine, household_id: str | None = None, group_id: str | None = None
) -> dict | None:
    """The stored row of a household, or of a group's new member; ``None`` if absent."""
    if household_id is not None:
        where = (online_features.c.entity_type == "household") & (
            online_features.c.entity_id == household_id
        )
    elif group_id is not None:
        where = (online_features.c.entity_type == "group") & (
            online_features.c.entity_id == group_id
        )
    else:
        raise ValueError("give a household_id or a group_id")
    with engine.connect() as conn:
        row = conn.execute(sa.select(online_features).where(where)).mappings().first()
    return dict(row) if row else None


def assemble_vector(
    stored: Mapping[str, object], application: Mapping[str, object]
) -> dict[str, object]:
    """An application's feature vector as plain values, from a stored row and its own fields.

    The service's fast path: the stored history features are decoded as they were written and the
    application features come from :func:`features.application.application_vector` (the formulas
    of the batch view). Categorical values are strings or ``None``; numbers are floats or ints.

    Args:
        stored: A row from :func:`fetch` (``features`` as stored JSON, or already decoded).
        application: ``program``, ``purpose``, ``amount``, ``term_months``, ``grace_months``.
    """
    return complete_vector(stored, application_part(stored, application))


def complete_vector(stored: Mapping[str, object], part: Mapping[str, object]) -> dict[str, object]:
    """A stored row's features updated with an application's :func:`application_part`."""
    vector = dict(stored_features(stored))
    vector.update(part)
    return vector


def stored_features(stored: Mapping[str, object]) -> Mapping[str, object]:
    """A stored row's history features (``features`` as stored JSON, or already decoded)."""
    feats = stored["features"]
    return feats if isinstance(feats, Mapping) else json.loads(str(feats))


def application_part(
    stored: Mapping[str, object], application: Mapping[str, object]
) -> dict[str, object]:
    """The application features of an application scored from a stored row (its workers and
    history features: the burden of the loan, :mod:`features.application_burden`).

    :func:`assemble_vector` is the stored features updated with these.
    """
    workers = stored["workers"] if stored["entity_type"] == "household" else None
    return application_vector(
        application, None if workers is None else float(workers), stored_features(stored)
    )


def vector_frame(vectors: list[Mapping[str, object]], view: str = "application") -> pd.DataFrame:
    """Feature vectors as a frame with the view's columns in catalog order and dtypes."""
    names = all_feature_names(view)
    frame = pd.DataFrame([[v.get(n) for n in names] for v in vectors], columns=names)
    for name, dtype in feature_dtypes_for(view).items():
        col = frame[name]
        if not isinstance(dtype, pd.CategoricalDtype) and dtype != "bool":
            col = col.astype("float64") if col.isna().any() else col
        frame[name] = col.astype(dtype)
    return frame


def assemble_application(
    stored: Mapping[str, object], application: Mapping[str, object]
) -> pd.DataFrame:
    """One application-view feature row (a frame) from a stored row and the application's fields."""
    return vector_frame([assemble_vector(stored, application)])
