"""Point-in-time context features: the savings-and-loan group, the village and the commune.

:func:`group_features` and :func:`area_features` take the raw tables of the data contract and a
frame of snapshots with ``as_of``, ``group_id``, ``village_id``, ``commune_id`` and
``household_id`` (null for a new member without history), and compute
:data:`features.catalog.GROUP_FEATURES` and :data:`features.catalog.AREA_FEATURES` from events
dated **strictly before** ``as_of`` only.

Everything is computed once per distinct ``(group, as_of)`` or ``(commune, as_of)`` and then joined
to the snapshots, never per snapshot row, so ~840k month-end snapshots cost about as much as the
~22k group-months behind them. The "other members" features (the group's on-time share, arrears
and extension rates) are group totals over the members at ``as_of`` minus the snapshot
household's own contribution; a snapshot household that is not a member of that group at
``as_of`` (a new member, an unknown or null ``household_id``) has nothing to subtract.

Point-in-time rules, per table:

* ``households``: a household is a member at ``as_of`` when ``joined_date < as_of`` and it has no
  ``left_date < as_of``. ``group_id`` is a static attribute of the export.
* ``group_leaders``: only ``start_date`` is read; the current leader is the term that started
  last before ``as_of`` and a change is any term after the group's first. ``end_date`` is never
  read (it may lie after ``as_of``).
* ``group_ratings``: ratings dated before ``as_of``.
* ``hazard_events``: an event counts from its ``start_date`` (``start_date < as_of``); an event that
  started before ``as_of`` and ends after it counts as started. ``end_date`` is never read.
* ``interest``: sessions dated before ``as_of``; ``debt_events``: extensions dated before it;
  ``inspections``: visits dated before it.
* ``loans``: the district's typical loan reads loans disbursed before ``as_of``
  (``disbursement_date < as_of``), every household's.
* ``groups``, ``villages``, ``communes``: static attributes (organisation, distances, flags);
  ``groups.founded_date`` gives the group's age.

``protected_attributes`` is never read. Inputs are never modified; there is no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features import domain
from features.catalog import (
    FINDINGS,
    MONEY_SCALE,
    TYPICAL_LOAN_MIN_LOANS,
    feature_dtypes,
    feature_names,
)
from features.history import select_tables
from features.pit import (
    ROW,
    add_months,
    count_before,
    count_in_window,
    last_before,
    lookup,
    months_between,
)

logger = logging.getLogger(__name__)

HH = "household_id"
PLACE: tuple[str, ...] = ("group_id", "village_id", "commune_id")

GROUP_TABLES: tuple[str, ...] = (
    "groups",
    "group_leaders",
    "group_ratings",
    "households",
    "loans",
    "interest",
    "debt_events",
    "inspections",
)
"""The only tables :func:`group_features` reads."""

AREA_TABLES: tuple[str, ...] = ("communes", "villages", "hazard_events", "interest", "loans")
"""The only tables :func:`area_features` reads."""

_COLUMNS: dict[str, list[str]] = {
    "groups": ["group_id", "commune_id", "organisation", "founded_date"],
    "group_leaders": ["group_id", "start_date"],
    "group_ratings": ["group_id", "rating_date", "rating"],
    "households": [
        "household_id",
        "group_id",
        "village_id",
        "commune_id",
        "joined_date",
        "left_date",
    ],
    "loans": ["loan_id", "household_id", "amount", "disbursement_date"],
    "interest": ["loan_id", "commune_id", "session_date", "arrears_after"],
    "debt_events": ["household_id", "event_date", "event_type"],
    "communes": ["commune_id", "is_difficult", "is_border", "is_remote", "distance_km"],
    "villages": ["village_id", "commune_id", "distance_km"],
    "hazard_events": ["commune_id", "start_date", "severity"],
    "inspections": ["household_id", "inspection_date", "use_of_funds", "group_records_ok"],
}
_DATES: dict[str, list[str]] = {
    "groups": ["founded_date"],
    "group_leaders": ["start_date"],
    "group_ratings": ["rating_date"],
    "households": ["joined_date", "left_date"],
    "interest": ["session_date"],
    "loans": ["disbursement_date"],
    "debt_events": ["event_date"],
    "hazard_events": ["start_date"],
    "inspections": ["inspection_date"],
}
_RATING_RANK = {r: i for i, r in enumerate(domain.GROUP_RATINGS)}  # 0 best ... 3 weak
_NONE = "none"
_NO_GROUP: dict[str, object] = {
    "group_members": 0,
    "group_leader_changes_24m": 0,
    "group_rating": _NONE,
    "group_rating_dropped": False,
}
"""Values for a snapshot without a group (others are missing)."""
_NO_PART = "\x00none"


def _select(tables: Mapping[str, pd.DataFrame], names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Narrow copies of the named tables (see :func:`features.history.select_tables`)."""
    return select_tables(tables, names, _COLUMNS, _DATES)


def prepare_context_snapshots(
    snapshots: pd.DataFrame, households: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Normalise a snapshot frame to ``household_id``, ``as_of`` and the place columns.

    Missing place columns, and null places in rows whose household is known, are filled from
    ``households`` (a household's group, village and commune are static in the contract).

    Args:
        snapshots: ``as_of`` and some of ``household_id`` (may be null), ``group_id``,
            ``village_id``, ``commune_id``; other columns are ignored.
        households: The ``households`` table, used only to fill places.

    Returns:
        A new frame, index 0..n-1, with ``household_id`` (str, null allowed), ``as_of``
        (``datetime64[ns]``) and ``group_id``, ``village_id``, ``commune_id`` (str, null allowed).

    Raises:
        ValueError: On a missing or null ``as_of``, an ``as_of`` with a time of day, or a place
            that is missing and cannot be filled.
    """
    if "as_of" not in snapshots.columns:
        raise ValueError("snapshots lack column 'as_of'")
    n = len(snapshots)

    def text(col: str) -> pd.Series:
        if col not in snapshots.columns:
            return (
                pd.Series([None], dtype="str")
                .take(np.zeros(n, dtype="int64"))
                .reset_index(drop=True)
            )
        return snapshots[col].reset_index(drop=True).astype("str")

    out = pd.DataFrame({HH: text(HH)})
    out["as_of"] = pd.to_datetime(snapshots["as_of"]).astype("datetime64[ns]").to_numpy()
    if out["as_of"].isna().any():
        raise ValueError("snapshots have null as_of")
    if (out["as_of"] != out["as_of"].dt.normalize()).any():
        raise ValueError("as_of must be a date (no time of day)")
    pos: np.ndarray | None = None
    if households is not None:
        place_of = households[[HH, *PLACE]].drop_duplicates(HH)
    for col in PLACE:
        given = text(col)
        missing = given.isna().to_numpy()
        if households is not None and missing.any():
            if pos is None:  # the household's row, once for all place columns
                pos = pd.Index(place_of[HH]).get_indexer(out[HH])
            known = place_of[col].astype("str").reset_index(drop=True).take(np.maximum(pos, 0))
            known = known.reset_index(drop=True).where(pos >= 0)
            given = given.where(~missing, known)
        out[col] = given
    return out[[HH, "as_of", *PLACE]]


def _column(values: np.ndarray, dtype: object) -> np.ndarray | pd.Categorical:
    """A feature column in its catalog dtype (categories built straight from objects)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical(np.asarray(values, dtype=object), dtype=dtype)
    return np.asarray(values).astype(dtype)


def _feature_frame(
    snaps: pd.DataFrame, cols: Mapping[str, np.ndarray], kind: str, cells: int, per: str
) -> pd.DataFrame:
    """The snapshots' keys and places with the ``kind`` features of ``cols``, in catalog dtypes
    and order (``cells``: the ``per``-months they were computed over, for the log)."""
    out = snaps.copy()
    names = feature_names(kind)
    for name, dtype in feature_dtypes(kind).items():
        out[name] = _column(cols[name], dtype)
    logger.debug(
        "%s features: %d snapshots, %d %s-months, %d features",
        kind,
        len(out),
        cells,
        per,
        len(names),
    )
    return out[[HH, "as_of", *PLACE, *names]]


def context_features(tables: Mapping[str, pd.DataFrame], snapshots: pd.DataFrame) -> pd.DataFrame:
    """Group and area features side by side (:data:`features.catalog.CONTEXT_FEATURES`).

    Args:
        tables: Raw tables of the data contract.
        snapshots: As for :func:`group_features`.

    Returns:
        ``household_id``, ``as_of``, place columns and every context feature, in snapshot order.
    """
    g = group_features(tables, snapshots)
    a = area_features(tables, snapshots)
    g["commune_id"] = a["commune_id"]  # area_features also fills it from the village
    return pd.concat([g, a[feature_names("area")]], axis=1)


# --- group ------------------------------------------------------------------------------------


def _group_inspections(
    insp: pd.DataFrame, hh: pd.DataFrame, G: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Shares of the group's inspections in the last 24 months with a finding on the loan's use
    and with the group's records at odds with the bank's (a weak leader shows there first).

    Every inspection of a household of the group counts (the household's group is static in the
    contract), the snapshot household's own included.
    """
    group_of = hh.drop_duplicates(HH).set_index(HH)["group_id"]
    ins = insp.assign(group_id=insp[HH].map(group_of))
    ins = ins[ins["group_id"].notna()]
    lo = G.assign(lo24=add_months(G["as_of"].to_numpy(), -24))

    def count(rows: pd.DataFrame) -> np.ndarray:
        return count_in_window(lo, "lo24", "as_of", rows, "group_id", "inspection_date")

    n = count(ins)
    found = count(ins[ins["use_of_funds"].isin(FINDINGS)])
    mismatch = count(ins[~ins["group_records_ok"].astype("boolean").fillna(True).to_numpy(bool)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "group_inspection_findings_share_24m": np.where(n > 0, found / n, np.nan),
            "group_records_mismatch_share_24m": np.where(n > 0, mismatch / n, np.nan),
        }


def group_features(
    tables: Mapping[str, pd.DataFrame], snapshots: pd.DataFrame, by_commune: bool = True
) -> pd.DataFrame:
    """Savings-and-loan group features for each snapshot, from events strictly before ``as_of``.

    Args:
        tables: Raw tables of the data contract by name (typed). Only :data:`GROUP_TABLES` are
            read.
        snapshots: ``as_of`` and ``group_id`` (filled from ``households`` by ``household_id``
            when missing), ``household_id`` (null for a new member); other columns are ignored.
        by_commune: Process one commune (of the group) at a time, so memory is bounded by the
            largest commune. ``False`` processes everything at once; results are identical.

    Returns:
        A new frame, one row per snapshot in input order (index 0..n-1), with ``household_id``,
        ``as_of``, the place columns and :data:`features.catalog.GROUP_FEATURES` in catalog order
        and dtypes. An unknown or null group gives 0 members, ``none`` rating and NaN elsewhere.
    """
    t = _select(tables, GROUP_TABLES)
    hh = t["households"].drop_duplicates(HH).reset_index(drop=True)  # row = household code
    snaps = prepare_context_snapshots(snapshots, hh)
    # one row per distinct (group, as_of): everything below is computed on these
    gkey = snaps.groupby(["group_id", "as_of"], sort=True, dropna=True).ngroup().to_numpy()
    has_group = gkey >= 0
    G = (
        snaps.loc[has_group, ["group_id", "as_of"]]
        .assign(_g=gkey[has_group])
        .drop_duplicates("_g")
        .sort_values("_g")
        .reset_index(drop=True)
    )
    G[ROW] = np.arange(len(G))
    static = _group_static(t, G)
    own_key, own_stats, totals = _peer_stats(t, hh, G, by_commune)

    # join the group-month figures to the snapshots; subtract the household's own share
    g_of_snap = np.where(has_group, gkey, 0)
    snap_code = pd.Index(hh[HH]).get_indexer(snaps[HH])
    snap_key = np.where(has_group & (snap_code >= 0), g_of_snap * len(hh) + snap_code, -1)
    pos = pd.Index(own_key).get_indexer(snap_key)
    mine = (snap_key >= 0) & (pos >= 0)
    stats: dict[str, np.ndarray] = {}
    for j, c in enumerate(_STAT_COLS):
        v = np.where(has_group, totals[g_of_snap, j], 0.0)
        v[mine] -= own_stats[pos[mine], j]
        stats[c] = v

    cols: dict[str, np.ndarray] = {
        name: np.where(has_group, values[g_of_snap], _NO_GROUP.get(name, np.nan))
        for name, values in static.items()
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        for w in (6, 12):
            sess, ok = stats[f"sessions_{w}"], stats[f"ontime_{w}"]
            cols[f"group_ontime_share_{w}m"] = np.where(sess > 0, ok / sess, np.nan)
            borrowers = stats[f"borrowers_{w}"]
            cols[f"group_arrears_rate_{w}m"] = np.where(
                borrowers > 0, stats[f"arrears_{w}"] / borrowers, np.nan
            )
        # the last two months: members in trouble now (a session a month), the group's contagion
        cols["group_arrears_rate_2m"] = np.where(
            stats["borrowers_2"] > 0, stats["arrears_2"] / stats["borrowers_2"], np.nan
        )
        borrowers = stats["borrowers_12"]
        cols["group_extension_rate_12m"] = np.where(
            borrowers > 0, stats["extended_12"] / borrowers, np.nan
        )
    return _feature_frame(snaps, cols, "group", len(G), "group")


def _group_static(t: dict[str, pd.DataFrame], G: pd.DataFrame) -> dict[str, np.ndarray]:
    """Features of each group-month that do not depend on the snapshot household."""
    as_of = G["as_of"].to_numpy()
    G = G.assign(lo24=add_months(as_of, -24))
    groups = t["groups"].drop_duplicates("group_id").set_index("group_id")
    hh = t["households"]
    joined = count_before(G, "as_of", hh, "group_id", "joined_date")
    # a member leaves the count once it has both joined and left before as_of
    leavers = hh[hh["left_date"].notna()]
    leavers = leavers.assign(_gone=np.maximum(leavers["joined_date"], leavers["left_date"]))
    left = count_before(G, "as_of", leavers, "group_id", "_gone")
    founded = lookup(groups["founded_date"], G["group_id"], "datetime64[ns]")
    age = np.where(~np.isnat(founded) & (founded < as_of), months_between(as_of, founded), np.nan)

    leaders = t["group_leaders"].sort_values(["group_id", "start_date"], kind="stable")
    current = last_before(G, "as_of", leaders, "group_id", "start_date", [])
    changes = leaders[leaders.duplicated("group_id", keep="first")]
    n_changes = count_in_window(G, "lo24", "as_of", changes, "group_id", "start_date")

    ratings = t["group_ratings"]
    ratings = ratings[ratings["rating"].isin(list(_RATING_RANK))]
    last = last_before(G, "as_of", ratings, "group_id", "rating_date", ["rating"])
    r = ratings.sort_values(["group_id", "rating_date"], kind="stable")
    rank = r["rating"].map(_RATING_RANK).astype("int64")
    prev = rank.groupby(r["group_id"], sort=False).shift(1)
    moved = r.assign(_dropped=rank > prev)[prev.notna() & (prev != rank)]
    last_move = last_before(G, "as_of", moved, "group_id", "rating_date", ["_dropped"])
    dropped = last_move["_dropped"].to_numpy(dtype=object)
    rating = last["rating"].to_numpy(dtype=object)
    return {
        **_group_inspections(t["inspections"], hh, G),
        "group_members": (joined - left).astype("int64"),
        "group_age_months": age,
        "group_organisation": lookup(
            groups["organisation"]
            .astype(object)
            .where(groups["organisation"].isin(domain.ORGANISATIONS)),
            G["group_id"],
        ),
        "group_leader_tenure_months": months_between(as_of, current["_last_date"]),
        "group_leader_changes_24m": n_changes.astype("int64"),
        "group_rating": np.where(pd.isna(rating), _NONE, rating).astype(object),
        "group_rating_dropped": np.asarray(pd.Series(dropped).eq(True), dtype=bool),
        "group_months_since_rating_change": months_between(as_of, last_move["_last_date"]),
    }


_STAT_COLS = [
    "sessions_2",
    "ontime_2",
    "borrowers_2",
    "arrears_2",
    "sessions_6",
    "ontime_6",
    "borrowers_6",
    "arrears_6",
    "sessions_12",
    "ontime_12",
    "borrowers_12",
    "arrears_12",
    "extended_12",
]

_PEER_WINDOWS = (2, 6, 12)
"""Windows (months) of the other members' session figures."""

# Events are counted with sorted integer keys ``household code * _SPAN + day``: the number of a
# household's events strictly before a date is a difference of two binary searches.
_SPAN = 1 << 20
_DAY0 = np.datetime64("1900-01-01", "D")


def _day_keys(codes: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """``code * _SPAN + day`` (days since 1900, clipped to the span; the cut is at midnight)."""
    days = (np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[D]") - _DAY0).astype(
        "int64"
    )
    return codes.astype("int64") * _SPAN + np.clip(days, 0, _SPAN - 1)


class _Before:
    """Counts of each household's events dated strictly before a date."""

    def __init__(self, codes: np.ndarray, dates: np.ndarray) -> None:
        ok = (codes >= 0) & ~np.isnat(np.asarray(dates, dtype="datetime64[ns]"))
        self.keys = np.sort(_day_keys(codes[ok], dates[ok]))

    @classmethod
    def from_keys(cls, keys: np.ndarray) -> _Before:
        obj = cls.__new__(cls)
        obj.keys = np.sort(keys)
        return obj

    def count(self, codes: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """Events of household ``codes[i]`` dated before ``dates[i]`` (as float)."""
        hi = np.searchsorted(self.keys, _day_keys(codes, dates), side="left")
        lo = np.searchsorted(self.keys, codes.astype("int64") * _SPAN, side="left")
        return (hi - lo).astype("float64")


def _peer_stats(
    t: dict[str, pd.DataFrame], hh: pd.DataFrame, G: pd.DataFrame, by_commune: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-member figures of each group-month (members at ``as_of``) and their group totals.

    Args:
        t: Selected tables.
        hh: Unique households; the row number is the household code.
        G: Group-months (``_g`` = row, ``group_id``, ``as_of``).
        by_commune: Expand the members of one commune's group-months at a time.

    Returns:
        ``(own_key, own_stats, totals)``: for each member row the key ``_g * len(hh) + code``
        and its :data:`_STAT_COLS` figures (to subtract for a snapshot household), and the
        totals per group-month (``len(G)`` × columns).
    """
    n_hh = len(hh)
    hh_index = pd.Index(hh[HH])
    loans = t["loans"].drop_duplicates("loan_id")
    loan_code = hh_index.get_indexer(loans[HH])
    inter = t["interest"]
    pos = pd.Index(loans["loan_id"]).get_indexer(inter["loan_id"])
    i_code = np.where(pos >= 0, loan_code[pos], -1)
    # household sessions: a session is in arrears when any of the household's loans is
    i_ok = (i_code >= 0) & inter["session_date"].notna().to_numpy()
    key = _day_keys(i_code[i_ok], inter["session_date"].to_numpy()[i_ok])
    late = inter["arrears_after"].to_numpy()[i_ok] > 0
    order = np.argsort(key, kind="stable")
    key, late = key[order], late[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], int)
    s_key = key[first]
    s_late = np.logical_or.reduceat(late, first) if len(key) else np.array([], bool)
    sessions = _Before.from_keys(s_key)
    ontime = _Before.from_keys(s_key[~s_late])
    arrears = _Before.from_keys(s_key[s_late])
    ext = t["debt_events"][t["debt_events"]["event_type"] == "extension"]
    extensions = _Before(hh_index.get_indexer(ext[HH]), ext["event_date"].to_numpy())

    # members of each group, households sorted by group
    g_index = pd.Index(pd.unique(hh["group_id"].dropna()))
    hh_g = g_index.get_indexer(hh["group_id"])
    by_group = np.argsort(hh_g, kind="stable")
    by_group = by_group[hh_g[by_group] >= 0]
    g_start = np.searchsorted(hh_g[by_group], np.arange(len(g_index)), side="left")
    g_len = np.searchsorted(hh_g[by_group], np.arange(len(g_index)), side="right") - g_start
    G_gc = g_index.get_indexer(G["group_id"])
    joined = hh["joined_date"].to_numpy()
    left_date = hh["left_date"].to_numpy()
    cuts = {
        "as_of": G["as_of"].to_numpy(),
        **{f"lo{w}": add_months(G["as_of"].to_numpy(), -w) for w in _PEER_WINDOWS},
    }

    parts = (
        G["group_id"].map(
            t["groups"].drop_duplicates("group_id").set_index("group_id")["commune_id"]
        )
        if by_commune
        else pd.Series(_NO_PART, index=G.index)
    )
    parts = parts.fillna(_NO_PART).astype("str")
    keys: list[np.ndarray] = []
    figures: list[np.ndarray] = []
    totals = np.zeros((len(G), len(_STAT_COLS)))
    for part, g_rows in parts.groupby(parts, sort=True).indices.items():
        gc = G_gc[g_rows]
        lens = np.where(gc >= 0, g_len[np.maximum(gc, 0)], 0)
        rep = np.repeat(g_rows, lens)
        offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        code = by_group[np.repeat(g_start[np.maximum(gc, 0)], lens) + offs]
        as_of = cuts["as_of"][rep]
        left = left_date[code]
        current = (joined[code] < as_of) & (np.isnat(left) | (left >= as_of))
        rep, code = rep[current], code[current]
        at = {k: v[rep] for k, v in cuts.items()}
        stat: dict[str, np.ndarray] = {}
        n_s = {k: sessions.count(code, d) for k, d in at.items()}
        n_ok = {k: ontime.count(code, d) for k, d in at.items()}
        n_late = {k: arrears.count(code, d) for k, d in at.items()}
        for w in _PEER_WINDOWS:
            lo = f"lo{w}"
            stat[f"sessions_{w}"] = n_s["as_of"] - n_s[lo]
            stat[f"ontime_{w}"] = n_ok["as_of"] - n_ok[lo]
            stat[f"borrowers_{w}"] = (stat[f"sessions_{w}"] > 0).astype("float64")
            stat[f"arrears_{w}"] = ((n_late["as_of"] - n_late[lo]) > 0).astype("float64")
        n_ext = extensions.count(code, at["as_of"]) - extensions.count(code, at["lo12"])
        stat["extended_12"] = ((n_ext > 0) & (stat["sessions_12"] > 0)).astype("float64")
        fig = np.column_stack([stat[c] for c in _STAT_COLS])
        for j in range(len(_STAT_COLS)):
            totals[:, j] += np.bincount(rep, weights=fig[:, j], minlength=len(G))
        keys.append(rep.astype("int64") * n_hh + code)
        figures.append(fig)
        logger.debug("group features, commune %s: %d member-months", part, len(rep))
    own_key = np.concatenate(keys) if keys else np.array([], dtype="int64")
    own_stats = np.vstack(figures) if figures else np.zeros((0, len(_STAT_COLS)))
    return own_key, own_stats, totals


# --- village and commune ----------------------------------------------------------------------


def area_features(tables: Mapping[str, pd.DataFrame], snapshots: pd.DataFrame) -> pd.DataFrame:
    """Village and commune features for each snapshot, from events strictly before ``as_of``.

    Args:
        tables: Raw tables of the data contract by name (typed). Only :data:`AREA_TABLES` (and
            ``households``, to fill missing places) are read.
        snapshots: ``as_of``, ``village_id`` and ``commune_id`` (filled from ``households`` by
            ``household_id`` when missing; a null ``commune_id`` is then taken from the
            village); other columns are ignored.

    Returns:
        A new frame, one row per snapshot in input order (index 0..n-1), with ``household_id``,
        ``as_of``, the place columns and :data:`features.catalog.AREA_FEATURES` in catalog order
        and dtypes.

    Raises:
        ValueError: When a snapshot's commune is null or not in ``communes``.
    """
    t = _select(tables, AREA_TABLES)
    households = tables.get("households")
    snaps = prepare_context_snapshots(
        snapshots, None if households is None else households[[HH, *PLACE]]
    )
    village_commune = t["villages"].drop_duplicates("village_id").set_index("village_id")
    snaps["commune_id"] = snaps["commune_id"].fillna(
        pd.Series(lookup(village_commune["commune_id"].astype(object), snaps["village_id"]))
    )
    communes = t["communes"].drop_duplicates("commune_id").set_index("commune_id")
    unknown = ~snaps["commune_id"].isin(communes.index)
    if unknown.any():
        bad = sorted(snaps.loc[unknown, "commune_id"].fillna("<null>").unique().tolist())[:5]
        raise ValueError(f"{int(unknown.sum())} snapshots have an unknown commune: {bad}")

    s = snaps.assign(**{ROW: np.arange(len(snaps))})
    ckey = s.groupby(["commune_id", "as_of"], sort=True).ngroup().to_numpy()
    C = (
        s[["commune_id", "as_of"]]
        .assign(_c=ckey)
        .drop_duplicates("_c")
        .sort_values("_c")
        .reset_index(drop=True)
    )
    C[ROW] = np.arange(len(C))
    per = _commune_month(t, C)
    for flag in ("is_difficult", "is_border", "is_remote"):
        per[f"commune_{flag}"] = lookup(communes[flag], C["commune_id"], "bool")
    per["commune_distance_km"] = lookup(communes["distance_km"], C["commune_id"], "float64")
    cols: dict[str, np.ndarray] = {name: values[ckey] for name, values in per.items()}
    v_code, v_ids = pd.factorize(s["village_id"])
    v_dist = lookup(village_commune["distance_km"], pd.Series(v_ids), "float64")
    cols["village_distance_km"] = np.where(v_code >= 0, v_dist[np.maximum(v_code, 0)], np.nan)
    return _feature_frame(snaps, cols, "area", len(C), "commune")


def _commune_month(t: dict[str, pd.DataFrame], C: pd.DataFrame) -> dict[str, np.ndarray]:
    """Hazard and arrears figures of each distinct (commune, as_of)."""
    as_of = C["as_of"].to_numpy()
    C = C.assign(**{f"lo{w}": add_months(as_of, -w) for w in (3, 6, 12)})
    hz = t["hazard_events"]
    out: dict[str, np.ndarray] = {}
    for w in (3, 12):
        out[f"hazards_{w}m"] = count_in_window(
            C, f"lo{w}", "as_of", hz, "commune_id", "start_date"
        ).astype("int64")
    # max severity in [lo12, as_of): per level, whether any event of that level or worse started
    severity = np.zeros(len(C), dtype="int64")
    sev = hz["severity"].to_numpy()
    for level in (1, 2, 3):
        n = count_in_window(C, "lo12", "as_of", hz[sev >= level], "commune_id", "start_date")
        severity = np.where(n > 0, level, severity)
    out["hazard_max_severity_12m"] = severity
    last = last_before(C, "as_of", hz, "commune_id", "start_date", [])
    out["months_since_hazard"] = months_between(as_of, last["_last_date"])
    out["hazard_pressure"] = _hazard_pressure(C, hz)

    inter = t["interest"]
    late = inter[inter["arrears_after"].to_numpy() > 0]
    total = {k: count_before(C, k, inter, "commune_id", "session_date") for k in _AREA_CUTS}
    n_late = {k: count_before(C, k, late, "commune_id", "session_date") for k in _AREA_CUTS}
    with np.errstate(invalid="ignore", divide="ignore"):
        recent_n = total["as_of"] - total["lo3"]
        before_n = total["lo3"] - total["lo6"]
        recent = np.where(recent_n > 0, (n_late["as_of"] - n_late["lo3"]) / recent_n, np.nan)
        before = np.where(before_n > 0, (n_late["lo3"] - n_late["lo6"]) / before_n, np.nan)
    out["commune_arrears_share_3m"] = recent
    out["commune_arrears_trend_3m"] = recent - before
    out[MONEY_SCALE] = district_typical_loan(t["loans"], as_of)
    return out


def district_typical_loan(loans: pd.DataFrame, as_of: np.ndarray) -> np.ndarray:
    """The median amount of the loans disbursed in the 12 months before each ``as_of``, or of the
    latest :data:`~features.catalog.TYPICAL_LOAN_MIN_LOANS` disbursed before it when the 12 months
    hold fewer; NaN when none was.

    Why: loan sizes grow about 12 % a year, so the model reads money in today's money, divided
    by this (``training/todays_money.py``). Every loan of the tables counts: the tables are the
    district's.

    Args:
        loans: ``amount`` and ``disbursement_date`` (``datetime64[ns]``; NaT: never disbursed).
        as_of: Snapshot dates (``datetime64[ns]``).
    """
    paid = loans[loans["disbursement_date"].notna() & loans["amount"].notna()]
    paid = paid.sort_values("disbursement_date", kind="stable")
    dates = paid["disbursement_date"].to_numpy()
    amounts = paid["amount"].to_numpy(dtype="float64")
    distinct, back = np.unique(as_of, return_inverse=True)
    hi = np.searchsorted(dates, distinct, side="left")
    lo = np.searchsorted(dates, add_months(distinct, -12), side="left")
    lo = np.minimum(lo, np.maximum(hi - TYPICAL_LOAN_MIN_LOANS, 0))
    med = np.array(
        [np.median(amounts[a:b]) if b > a else np.nan for a, b in zip(lo, hi, strict=True)]
    )
    return med[back] if len(distinct) else np.zeros(0)


_AREA_CUTS = ("as_of", "lo3", "lo6")
HAZARD_DECAY = 0.75
"""Monthly decay of a hazard's weight after it starts (damage fades as households recover)."""


def _hazard_pressure(C: pd.DataFrame, hz: pd.DataFrame) -> np.ndarray:
    """Sum over the commune's hazards started in the 24 months before ``as_of`` of severity ×
    :data:`HAZARD_DECAY` ** (months since the start): how hard the commune is hit right now."""
    pairs = C[[ROW, "commune_id", "as_of"]].merge(
        hz[["commune_id", "start_date", "severity"]], on="commune_id", how="inner"
    )
    age = months_between(pairs["as_of"].to_numpy(), pairs["start_date"].to_numpy())
    keep = (pairs["start_date"] < pairs["as_of"]).to_numpy() & (age <= 24)
    weight = pairs["severity"].to_numpy(dtype="float64") * HAZARD_DECAY ** np.nan_to_num(age)
    return np.bincount(pairs[ROW].to_numpy()[keep], weights=weight[keep], minlength=len(C))
