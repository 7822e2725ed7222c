"""Group, village and commune features: hand-made district, no leakage, reference loop, catalog."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import domain, storage
from features.catalog import (
    AREA_FEATURES,
    CATALOG_VERSION,
    CONTEXT_FEATURES,
    FEATURE_SETS,
    GROUP_FEATURES,
    TYPICAL_LOAN_MIN_LOANS,
    all_feature_names,
    feature_dtypes,
    feature_dtypes_for,
    feature_names,
)
from features.context import (
    area_features,
    context_features,
    district_typical_loan,
    group_features,
)
from features.contract import TABLES
from features.simulator import SimConfig, simulate
from features.snapshots import portfolio_snapshots
from tests.support.history_tables import (
    assert_no_leakage,
    assert_pure,
    assert_row,
    far_future,
    in_nanoseconds,
)

D = pd.Timestamp
NAN = math.nan


def _frame(name: str, rows: list[tuple]) -> pd.DataFrame:
    """A contract table from tuples in contract column order (dates as ms, like Parquet)."""
    cols = list(TABLES[name].columns)
    # optional trailing columns (e.g. households.member_no) may be left out, as an export may
    df = pd.DataFrame(rows, columns=cols[: len(rows[0])] if rows else cols)
    for c in df.columns:
        if c.endswith("_date"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[ms]")
    return df


def _sessions(loan: str, commune: str, months: list[str], late: set[str]) -> list[tuple]:
    return [
        (loan, commune, f"{m}-20", 100, 0 if m in late else 100, 100 if m in late else 0)
        for m in months
    ]


MONTHS_2023 = [f"2023-{m:02d}" for m in range(1, 13)]


def context_tables() -> dict[str, pd.DataFrame]:
    """Group G1 (commune C1): A, B, E members at 2024-01-01, C left, D joins on 2024-01-01.

    Group G2 (commune C2) has the single member F. A has two loans (LA arrears 2023-03 and
    2023-11, LA2 arrears 2023-08), B has sessions from 2023-07 with arrears in 2023-12 and an
    extension in 2023-09; C (left 2023-06-15) had arrears and an extension in early 2023.
    """
    t: dict[str, pd.DataFrame] = {}
    t["communes"] = _frame(
        "communes",
        [
            ("C1", "Xã Một", 20, True, False, True, 12.5),
            ("C2", "Xã Hai", 20, False, True, False, 40.0),
        ],
    )
    t["villages"] = _frame("villages", [("V1", "C1", "Thôn A", 2.0), ("V2", "C2", "Bản B", 5.5)])
    t["groups"] = _frame(
        "groups",
        [
            ("G1", "V1", "C1", "womens_union", "2015-03-10"),
            ("G2", "V2", "C2", "farmers_association", "2020-05-20"),
        ],
    )
    t["group_leaders"] = _frame(
        "group_leaders",
        [
            ("G1", "2015-03-10", "2022-06-30", "A"),
            ("G1", "2022-07-01", "2023-09-30", "B"),
            ("G1", "2023-10-01", None, "E"),
            ("G2", "2020-05-20", None, "F"),
        ],
    )
    t["group_ratings"] = _frame(
        "group_ratings",
        [
            ("G1", "2022-06-30", "good", 1.0, 0.0),
            ("G1", "2022-12-31", "fair", 0.95, 0.0),
            ("G1", "2023-06-30", "fair", 0.95, 0.0),
            ("G1", "2023-12-31", "fair", 0.95, 0.0),
            ("G2", "2023-06-30", "average", 0.9, 0.0),
            ("G2", "2023-12-31", "good", 1.0, 0.0),
        ],
    )
    t["households"] = _frame(
        "households",
        [
            ("A", "C1", "V1", "G1", "2019-01-10", None, 5, 2),
            ("B", "C1", "V1", "G1", "2021-03-01", None, 4, 2),
            ("C", "C1", "V1", "G1", "2022-01-01", "2023-06-15", 3, 1),
            ("D", "C1", "V1", "G1", "2024-01-01", None, 3, 1),
            ("E", "C1", "V1", "G1", "2023-12-31", None, 2, 1),
            ("F", "C2", "V2", "G2", "2021-01-01", None, 4, 2),
        ],
    )
    t["protected_attributes"] = _frame(
        "protected_attributes",
        [(h, c, "x", True) for h, c in zip("ABCDEF", ["C1"] * 5 + ["C2"], strict=True)],
    )

    def loan(lid: str, hh: str, c: str, disb: str) -> tuple:
        return (
            lid,
            hh,
            c,
            "poor_household",
            "crops",
            10_000_000,
            6.6,
            36,
            0,
            disb,
            disb,
            "2026-01-01",
            "active",
            None,
        )

    t["loans"] = _frame(
        "loans",
        [
            loan("LA", "A", "C1", "2022-12-05"),
            loan("LA2", "A", "C1", "2022-12-05"),
            loan("LB", "B", "C1", "2023-06-05"),
            loan("LC", "C", "C1", "2022-12-05"),
            loan("LF", "F", "C2", "2023-06-05"),
        ],
    )
    t["installments"] = _frame("installments", [])
    t["interest"] = _frame(
        "interest",
        _sessions("LA", "C1", [*MONTHS_2023, "2024-01"], {"2023-03", "2023-11", "2024-01"})
        + _sessions("LA2", "C1", MONTHS_2023, {"2023-08"})
        + _sessions("LB", "C1", MONTHS_2023[6:], {"2023-12"})
        + _sessions("LC", "C1", MONTHS_2023[:5], {"2023-02"})
        + _sessions("LF", "C2", MONTHS_2023[6:], set()),
    )
    t["savings"] = _frame("savings", [])

    def ext(i: int, lid: str, hh: str, d: str) -> tuple:
        return (f"E{i}", lid, hh, "C1", d, "extension", "illness", 1, 1, "2025-01-01")

    t["debt_events"] = _frame(
        "debt_events",
        [
            ext(1, "LA", "A", "2022-12-20"),  # before the 12-month window of 2024-01-01
            ext(2, "LB", "B", "2023-09-20"),
            ext(3, "LC", "C", "2023-04-20"),  # C has left by 2024-01-01
            ext(4, "LA", "A", "2024-01-01"),  # on as_of: excluded
        ],
    )
    t["hazard_events"] = _frame(
        "hazard_events",
        [
            ("Z1", "C1", "flood", "2023-09-15", "2023-09-20", 2),
            ("Z2", "C1", "typhoon", "2023-12-20", "2024-01-10", 1),  # still going on at as_of
            ("Z3", "C1", "landslide", "2024-01-01", "2024-01-02", 3),  # starts on as_of
            ("Z4", "C1", "drought", "2022-11-05", "2022-12-31", 3),  # > 12 months before
        ],
    )
    t["inspections"] = _frame(
        "inspections",
        [
            ("I1", "A", "LA", "C1", "2023-05-01", "routine", "misuse", True, False, False),
            ("I2", "B", "LB", "C1", "2023-08-01", "random", "correct", True, False, True),
            ("I3", "C", "LC", "C1", "2022-06-01", "routine", "partial", True, False, True),
            ("I4", "B", "LB", "C1", "2021-12-15", "routine", "correct", True, False, True),
            ("I5", "A", "LA", "C1", "2024-01-01", "routine", "misuse", True, False, False),
        ],
    )  # I4 is older than 24 months at 2024-01-01, I5 is on it
    t["poverty_status"] = _frame("poverty_status", [])
    assert set(t) == set(TABLES)
    return t


JAN = D("2024-01-01")
SNAPS = pd.DataFrame(
    {
        "household_id": ["A", "B", None, "D", "C", "F", "A", "F", "Q"],
        "as_of": [JAN, JAN, JAN, JAN, JAN, JAN, D("2023-10-01"), D("2023-06-01"), JAN],
        "group_id": ["G1", "G1", "G1", "G1", "G1", "G2", "G1", "G2", "GX"],
        "village_id": ["V1", "V1", "V1", "V1", "V1", "V2", "V1", "V2", "VX"],
        "commune_id": ["C1", "C1", "C1", "C1", "C1", "C2", "C1", "C2", "C2"],
    }
)

G1_STATIC = {
    "group_inspection_findings_share_24m": 2 / 3,  # I1 misuse, I3 partial (C has left), I2
    "group_records_mismatch_share_24m": 1 / 3,  # I1
    "group_members": 3,  # A, B, E (C left, D joins on as_of)
    "group_age_months": 106,
    "group_organisation": "womens_union",
    "group_leader_tenure_months": 3,
    "group_leader_changes_24m": 2,
    "group_rating": "fair",
    "group_rating_dropped": True,
    "group_months_since_rating_change": 13,
}
# other members of G1 at 2024-01-01: A (6m: 6 sessions, 4 on time; 12m: 12, 9; arrears),
# B (6 sessions, 5 on time, arrears, extension 2023-09), E (no session)
NEW_MEMBER_G1 = {
    **G1_STATIC,
    "group_ontime_share_6m": 9 / 12,
    "group_ontime_share_12m": 14 / 18,
    "group_arrears_rate_6m": 1.0,
    "group_arrears_rate_12m": 1.0,
    "group_extension_rate_12m": 0.5,
}
EXPECTED_GROUP = [
    {
        **G1_STATIC,
        "group_ontime_share_6m": 5 / 6,
        "group_ontime_share_12m": 5 / 6,
        "group_arrears_rate_6m": 1.0,
        "group_arrears_rate_12m": 1.0,
        "group_extension_rate_12m": 1.0,
    },
    {
        **G1_STATIC,
        "group_ontime_share_6m": 4 / 6,
        "group_ontime_share_12m": 9 / 12,
        "group_arrears_rate_6m": 1.0,
        "group_arrears_rate_12m": 1.0,
        "group_extension_rate_12m": 0.0,
    },
    NEW_MEMBER_G1,  # household_id null
    NEW_MEMBER_G1,  # D joins on as_of: not yet a member, nothing to exclude
    NEW_MEMBER_G1,  # C left before as_of
    {
        "group_members": 1,
        "group_age_months": 44,
        "group_organisation": "farmers_association",
        "group_leader_tenure_months": 44,
        "group_leader_changes_24m": 0,
        "group_rating": "good",
        "group_rating_dropped": False,  # the last change was a rise
        "group_months_since_rating_change": 1,
        "group_inspection_findings_share_24m": NAN,  # nobody in G2 was inspected
        "group_ontime_share_6m": NAN,  # F is alone
        "group_ontime_share_12m": NAN,
        "group_arrears_rate_6m": NAN,
        "group_arrears_rate_12m": NAN,
        "group_extension_rate_12m": NAN,
    },
    {  # A at 2023-10-01: leader E starts on as_of, so B (2022-07-01) still leads
        "group_members": 2,  # A and B (C left 2023-06-15, E joins 2023-12-31)
        "group_leader_tenure_months": 15,
        "group_leader_changes_24m": 1,
        "group_rating": "fair",
        "group_rating_dropped": True,
        "group_months_since_rating_change": 10,
        "group_inspection_findings_share_24m": 2 / 4,  # I1, I3 of I1..I4
        "group_records_mismatch_share_24m": 1 / 4,
        # others: B, sessions 2023-07..09 all on time; C has left
        "group_ontime_share_6m": 1.0,
        "group_arrears_rate_2m": 0.0,
        "group_arrears_rate_12m": 0.0,
        "group_extension_rate_12m": 1.0,
    },
    {  # F at 2023-06-01: no rating yet
        "group_rating": "none",
        "group_rating_dropped": False,
        "group_months_since_rating_change": NAN,
        "group_members": 1,
    },
    {  # unknown group
        "group_members": 0,
        "group_age_months": NAN,
        "group_organisation": NAN,
        "group_leader_tenure_months": NAN,
        "group_leader_changes_24m": 0,
        "group_rating": "none",
        "group_rating_dropped": False,
        "group_ontime_share_12m": NAN,
    },
]

C1_JAN = {
    "commune_is_difficult": True,
    "commune_is_border": False,
    "commune_is_remote": True,
    "commune_distance_km": 12.5,
    "village_distance_km": 2.0,
    "hazards_3m": 1,  # Z2 (started 2023-12-20, ends after as_of); Z3 starts on as_of
    "hazards_12m": 2,  # Z1, Z2; Z4 is older
    "hazard_max_severity_12m": 2,
    "months_since_hazard": 1,
    # Z2 (severity 1, 1 month old), Z1 (2, 4 months), Z4 (3, 14 months); Z3 starts on as_of
    "hazard_pressure": 1 * 0.75 + 2 * 0.75**4 + 3 * 0.75**14,
    # loan sessions 2023-10..12: LA, LA2, LB → 9, late LA 11 and LB 12; 2023-07..09: LA2 08
    "commune_arrears_share_3m": 2 / 9,
    "commune_arrears_trend_3m": 2 / 9 - 1 / 9,
    "district_typical_loan": 10_000_000.0,  # every loan is 10 M
}
C2_JAN = {
    "commune_is_difficult": False,
    "commune_is_border": True,
    "commune_is_remote": False,
    "commune_distance_km": 40.0,
    "hazards_3m": 0,
    "hazards_12m": 0,
    "hazard_max_severity_12m": 0,
    "months_since_hazard": NAN,
    "hazard_pressure": 0.0,
    "commune_arrears_share_3m": 0.0,
    "commune_arrears_trend_3m": 0.0,
    "district_typical_loan": 10_000_000.0,
}


@pytest.fixture(scope="module")
def tiny() -> dict[str, pd.DataFrame]:
    return context_tables()


def test_catalog_sets_and_views() -> None:
    assert CATALOG_VERSION
    assert CONTEXT_FEATURES == GROUP_FEATURES + AREA_FEATURES
    assert feature_names() == feature_names("borrower")  # history.py's default
    portfolio = all_feature_names("portfolio")
    assert portfolio == feature_names("borrower") + feature_names("context")
    assert all_feature_names("application") == portfolio + feature_names("application")
    assert len(set(all_feature_names("application"))) == len(all_feature_names("application"))
    assert list(feature_dtypes_for("portfolio")) == portfolio
    for features in FEATURE_SETS.values():
        for f in features:
            assert f.description_en and f.description_vi and f.unit and f.sources
            assert "protected_attributes" not in f.sources and "rate_pct" not in f.name
    with pytest.raises(ValueError, match="view"):
        all_feature_names("borrower")
    with pytest.raises(ValueError, match="unknown"):
        feature_names("nope")


def test_hand_computed_group_features(tiny: dict[str, pd.DataFrame]) -> None:
    out = group_features(tiny, SNAPS)
    assert list(out.columns[5:]) == feature_names("group")
    assert out["household_id"].isna().tolist() == SNAPS["household_id"].isna().tolist()
    for name, dtype in feature_dtypes("group").items():
        assert out[name].dtype == dtype, name
    for i, want in enumerate(EXPECTED_GROUP):
        assert_row(out.iloc[i], want, f"row {i}")
    assert out["group_rating"].cat.categories.tolist() == [*domain.GROUP_RATINGS, "none"]


def test_hand_computed_area_features(tiny: dict[str, pd.DataFrame]) -> None:
    out = area_features(tiny, SNAPS)
    assert list(out.columns[5:]) == feature_names("area")
    for name, dtype in feature_dtypes("area").items():
        assert out[name].dtype == dtype, name
    for i in range(5):
        assert_row(out.iloc[i], C1_JAN, f"row {i}")
    assert_row(out.iloc[5], {**C2_JAN, "village_distance_km": 5.5})
    assert_row(out.iloc[8], {**C2_JAN, "village_distance_km": NAN})  # unknown village
    # C1 at 2023-10-01: Z1 in the last 3 months, Z4 (2022-11-05, severity 3) in the last 12;
    # loan sessions 2023-07..09: LA, LA2, LB → 9, LA2 08 late; 2023-04..06: LA, LA2, LC (04, 05)
    # → 8, none late
    assert_row(
        out.iloc[6],
        {
            "hazards_3m": 1,
            "hazards_12m": 2,
            "hazard_max_severity_12m": 3,
            "months_since_hazard": 1,
            "commune_arrears_share_3m": 1 / 9,
            "commune_arrears_trend_3m": 1 / 9,
        },
    )


def test_district_typical_loan_is_the_median_of_the_past_year_or_of_the_latest_loans() -> None:
    n = TYPICAL_LOAN_MIN_LOANS
    # 40 loans in 2023 (1 M .. 40 M, one a week from January), then nothing until one on as_of
    dates = [*pd.date_range("2023-01-02", periods=40, freq="7D"), D("2024-06-01"), pd.NaT]
    amounts = [*(1e6 * np.arange(1, 41)), 999e6, 555e6]
    loans = pd.DataFrame({"amount": amounts, "disbursement_date": dates})
    before = loans.copy()
    as_of = np.array(["2023-01-01", "2024-01-01", "2024-06-01", "2024-06-02"], "datetime64[ns]")
    got = district_typical_loan(loans, as_of)
    pd.testing.assert_frame_equal(loans, before)  # inputs untouched
    assert math.isnan(got[0])  # nothing disbursed before
    assert got[1] == 20.5e6  # all 40 fall in the 12 months before 2024-01-01
    # 2024-06-01: 18 loans (from 2023-06-05) are inside the 12 months, fewer than n:
    # the latest n before as_of (11 M .. 40 M); the loan paid out on as_of is not read
    assert got[2] == np.median(1e6 * np.arange(41 - n, 41))
    assert got[3] == np.median([*(1e6 * np.arange(42 - n, 41)), 999e6])  # now it is
    assert district_typical_loan(loans, np.array([], "datetime64[ns]")).shape == (0,)


def test_place_filled_from_households_and_new_member(tiny: dict[str, pd.DataFrame]) -> None:
    only_hh = SNAPS.loc[[0, 1, 5], ["household_id", "as_of"]]
    full = context_features(tiny, SNAPS.loc[[0, 1, 5]])
    pd.testing.assert_frame_equal(context_features(tiny, only_hh), full)
    new = pd.DataFrame({"as_of": [JAN], "group_id": ["G1"], "village_id": ["V1"]})
    got = context_features(tiny, new)  # commune taken from the village
    assert_row(got.iloc[0], {**NEW_MEMBER_G1, **C1_JAN})
    assert pd.isna(got.iloc[0]["household_id"])
    with pytest.raises(ValueError, match="unknown commune"):
        area_features(tiny, pd.DataFrame({"as_of": [JAN], "commune_id": ["C9"]}))


def test_inputs_untouched_and_protected_attributes_unused(tiny: dict[str, pd.DataFrame]) -> None:
    assert_pure(group_features, tiny, SNAPS)
    out = assert_pure(context_features, tiny, SNAPS, by_commune=False)
    shuffled = SNAPS.sample(frac=1.0, random_state=1)
    again = context_features(tiny, shuffled)
    pd.testing.assert_frame_equal(again, out.iloc[shuffled.index].reset_index(drop=True))


# --- simulated district -----------------------------------------------------------------


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out: Path = tmp_path_factory.mktemp("context-district")
    simulate(out, SimConfig(households=1200, seed=7, start="2021-01", end="2024-12"))
    return {n: storage.read_raw(out, n) for n in TABLES}


@pytest.fixture(scope="module")
def sample(district: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Portfolio snapshots at 5 month-ends plus, per month, a new member of 3 groups and a
    household that joins its group later (place given explicitly)."""
    hh = district["households"]
    place = hh[["household_id", "group_id", "village_id", "commune_id"]]
    snaps = portfolio_snapshots(district, "2021-06", "2024-11").merge(place, on="household_id")
    rng = np.random.default_rng(3)
    as_ofs = rng.choice(snaps["as_of"].unique(), size=5, replace=False)
    picked = snaps[snaps["as_of"].isin(as_ofs)]
    picked = picked.groupby("as_of", group_keys=False).sample(n=30, random_state=4)
    extra = []
    for as_of in as_ofs:
        groups = district["groups"].sample(n=3, random_state=int(rng.integers(1000)))
        extra.append(groups[["group_id", "village_id", "commune_id"]].assign(as_of=as_of))
        later = hh[hh["joined_date"] >= as_of].head(2)
        extra.append(
            later[["household_id", "group_id", "village_id", "commune_id"]].assign(as_of=as_of)
        )
    return pd.concat([picked, *extra], ignore_index=True)


def _context_future(tables: dict[str, pd.DataFrame], sample: pd.DataFrame) -> dict:
    """Far-future rows in the context tables (and the borrower tables, via ``far_future``)."""
    out = far_future(tables, sample["household_id"].dropna())
    far = pd.Timestamp("2099-06-24")
    groups = tables["groups"]
    hz = tables["hazard_events"]
    add_hz = pd.DataFrame(
        {
            "event_id": "HZFAR" + tables["communes"]["commune_id"],
            "commune_id": tables["communes"]["commune_id"],
            "hazard_type": "flood",
            "start_date": far,
            "end_date": far,
            "severity": 3,
        }
    )
    out["hazard_events"] = pd.concat([hz, add_hz[hz.columns]], ignore_index=True)
    gl = tables["group_leaders"]
    new_leaders = groups[["group_id"]].assign(start_date=far, end_date=pd.NaT, leader_id="HFAR")
    out["group_leaders"] = pd.concat([gl, new_leaders[gl.columns]], ignore_index=True)
    gr = tables["group_ratings"]
    weak = groups[["group_id"]].assign(
        rating_date=far, rating="weak", interest_collection_rate=0.1, overdue_ratio=0.5
    )
    out["group_ratings"] = pd.concat([gr, weak[gr.columns]], ignore_index=True)
    hh = tables["households"]
    joiners = hh.drop_duplicates("group_id").assign(
        household_id=lambda d: d["household_id"] + "FAR", joined_date=far, left_date=pd.NaT
    )
    hh = hh.assign(left_date=hh["left_date"].fillna(far))  # everyone leaves in 2099
    out["households"] = pd.concat([hh, joiners], ignore_index=True)
    return out


def test_no_leakage(district: dict[str, pd.DataFrame], sample: pd.DataFrame) -> None:
    base = assert_no_leakage(context_features, district, sample, _context_future(district, sample))
    assert (base["group_members"] > 0).all()


# --- slow, obviously correct reference --------------------------------------------------


def _months(later: pd.Timestamp, earlier: pd.Timestamp) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


_RANK = {r: i for i, r in enumerate(domain.GROUP_RATINGS)}


def sessions_by_household(t: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Each household's sessions: session date → largest unpaid interest over its loans."""
    inter = t["interest"].merge(t["loans"][["loan_id", "household_id"]], on="loan_id")
    per = inter.groupby(["household_id", "session_date"])["arrears_after"].max()
    return {str(k): v.droplevel(0) for k, v in per.groupby(level=0)}


def reference_group(
    t: dict[str, pd.DataFrame], snap: pd.Series, by_hh: dict[str, pd.Series]
) -> dict:
    """Group features of one snapshot with plain filters and loops."""
    as_of, gid, me = snap["as_of"], snap["group_id"], snap["household_id"]
    r: dict = {}
    hh = t["households"]
    members = [
        h.household_id
        for h in hh[hh["group_id"] == gid].itertuples()
        if h.joined_date < as_of and not (pd.notna(h.left_date) and h.left_date < as_of)
    ]
    r["group_members"] = len(members)
    g = t["groups"].set_index("group_id").loc[gid]
    r["group_age_months"] = _months(as_of, g["founded_date"]) if g["founded_date"] < as_of else NAN
    r["group_organisation"] = g["organisation"]
    lead = t["group_leaders"][t["group_leaders"]["group_id"] == gid].sort_values("start_date")
    before = lead[lead["start_date"] < as_of]
    r["group_leader_tenure_months"] = (
        _months(as_of, before["start_date"].iloc[-1]) if len(before) else NAN
    )
    lo24 = as_of - pd.DateOffset(months=24)
    r["group_leader_changes_24m"] = int(
        (lead["start_date"].iloc[1:].between(lo24, as_of, "left")).sum()
    )
    rt = t["group_ratings"][t["group_ratings"]["group_id"] == gid].sort_values("rating_date")
    rt = rt[rt["rating_date"] < as_of]
    r["group_rating"] = rt["rating"].iloc[-1] if len(rt) else "none"
    dropped, changed_at = False, None
    ratings, dates = list(rt["rating"]), list(rt["rating_date"])
    for i in range(1, len(ratings)):
        if ratings[i] != ratings[i - 1]:
            dropped, changed_at = _RANK[ratings[i]] > _RANK[ratings[i - 1]], dates[i]
    r["group_rating_dropped"] = dropped
    r["group_months_since_rating_change"] = _months(as_of, changed_at) if changed_at else NAN
    others = [m for m in members if m != me]
    ext = t["debt_events"][t["debt_events"]["event_type"] == "extension"]
    per: dict[int, list] = {w: [0, 0, 0, 0] for w in (2, 6, 12)}  # sessions, ok, borrowers, late
    extended = 0
    for m in others:
        their = by_hh.get(m, pd.Series([], index=pd.DatetimeIndex([]), dtype="int64"))
        for w in (2, 6, 12):
            lo = as_of - pd.DateOffset(months=w)
            sess = their[(their.index >= lo) & (their.index < as_of)]
            per[w][0] += len(sess)
            per[w][1] += int((sess == 0).sum())
            per[w][2] += int(len(sess) > 0)
            per[w][3] += int(len(sess) > 0 and (sess > 0).any())
            if w == 12 and len(sess):
                e = ext[(ext["household_id"] == m) & (ext["event_date"] >= lo)]
                extended += int((e["event_date"] < as_of).any())
    for w in (2, 6, 12):
        s, ok, b, late = per[w]
        if w != 2:
            r[f"group_ontime_share_{w}m"] = ok / s if s else NAN
        r[f"group_arrears_rate_{w}m"] = late / b if b else NAN
    r["group_extension_rate_12m"] = extended / per[12][2] if per[12][2] else NAN
    ins = t["inspections"].merge(hh[["household_id", "group_id"]].drop_duplicates("household_id"))
    ins = ins[(ins["group_id"] == gid) & (ins["inspection_date"] >= lo24)]
    ins = ins[ins["inspection_date"] < as_of]
    found = ins["use_of_funds"].isin(["partial", "misuse"]).sum()
    r["group_inspection_findings_share_24m"] = found / len(ins) if len(ins) else NAN
    mismatch = (~ins["group_records_ok"].astype(bool)).sum()
    r["group_records_mismatch_share_24m"] = mismatch / len(ins) if len(ins) else NAN
    return r


def reference_area(t: dict[str, pd.DataFrame], snap: pd.Series) -> dict:
    """Area features of one snapshot with plain filters."""
    as_of, cid = snap["as_of"], snap["commune_id"]
    c = t["communes"].set_index("commune_id").loc[cid]
    r: dict = {f"commune_{k}": bool(c[k]) for k in ("is_difficult", "is_border", "is_remote")}
    r["commune_distance_km"] = c["distance_km"]
    r["village_distance_km"] = (
        t["villages"].set_index("village_id").loc[snap["village_id"], "distance_km"]
    )
    hz = t["hazard_events"]
    hz = hz[(hz["commune_id"] == cid) & (hz["start_date"] < as_of)]
    for w in (3, 12):
        r[f"hazards_{w}m"] = int((hz["start_date"] >= as_of - pd.DateOffset(months=w)).sum())
    recent = hz[hz["start_date"] >= as_of - pd.DateOffset(months=12)]
    r["hazard_max_severity_12m"] = int(recent["severity"].max()) if len(recent) else 0
    r["months_since_hazard"] = _months(as_of, hz["start_date"].max()) if len(hz) else NAN
    r["hazard_pressure"] = sum(
        e.severity * 0.75 ** _months(as_of, e.start_date)
        for e in hz.itertuples()
        if _months(as_of, e.start_date) <= 24
    )
    it = t["interest"][t["interest"]["commune_id"] == cid]
    lo3, lo6 = as_of - pd.DateOffset(months=3), as_of - pd.DateOffset(months=6)
    a = it[(it["session_date"] >= lo3) & (it["session_date"] < as_of)]
    b = it[(it["session_date"] >= lo6) & (it["session_date"] < lo3)]
    share_a = (a["arrears_after"] > 0).mean() if len(a) else NAN
    share_b = (b["arrears_after"] > 0).mean() if len(b) else NAN
    r["commune_arrears_share_3m"] = share_a
    r["commune_arrears_trend_3m"] = share_a - share_b
    paid = t["loans"].dropna(subset=["disbursement_date", "amount"])
    paid = paid[paid["disbursement_date"] < as_of].sort_values("disbursement_date", kind="stable")
    year = paid[paid["disbursement_date"] >= as_of - pd.DateOffset(months=12)]
    if len(year) < TYPICAL_LOAN_MIN_LOANS:
        year = paid.tail(TYPICAL_LOAN_MIN_LOANS)
    r["district_typical_loan"] = float(year["amount"].median()) if len(year) else NAN
    return r


def test_matches_reference_loop(district: dict[str, pd.DataFrame], sample: pd.DataFrame) -> None:
    t = in_nanoseconds(district)
    picked = (
        pd.concat([sample.iloc[:150:8], sample.tail(25)]).drop_duplicates().reset_index(drop=True)
    )
    out = context_features(district, picked)
    by_hh = sessions_by_household(t)
    for i, row in out.iterrows():
        want = {**reference_group(t, row, by_hh), **reference_area(t, row)}
        assert_row(row, want, f"snapshot {i} {row['household_id']} {row['as_of']}")
    tiny = context_tables()
    out = context_features(tiny, SNAPS.iloc[:7])
    for i, row in out.iterrows():
        want = {
            **reference_group(tiny, row, sessions_by_household(tiny)),
            **reference_area(tiny, row),
        }
        assert_row(row, want, f"tiny {i}")
