"""A tiny hand-made district: every table of the contract, a few rows each, every rule satisfied.

Two communes (C1 pays on the 25th, C2 on the 10th), one village and one group in each, three
households, two loans (L1 closed, L2 active with an extended installment), reference date
2024-12-31. Rows of commune-partitioned tables are ordered by commune so that writing them
by commune and reading them back keeps their order.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

from features import storage
from features.contract import MANIFEST, TABLES

EXPORT_DATE = "2024-12-31"
_DATES = {
    "founded_date",
    "start_date",
    "end_date",
    "rating_date",
    "joined_date",
    "left_date",
    "effective_date",
    "application_date",
    "disbursement_date",
    "maturity_date",
    "closed_date",
    "due_date",
    "current_due_date",
    "paid_date",
    "session_date",
    "txn_date",
    "event_date",
    "new_due_date",
    "inspection_date",
}
N = None


def _frame(name: str, columns: str, rows: list[tuple]) -> pd.DataFrame:
    cols = columns.split()
    assert cols == TABLES[name].columns, (name, cols)
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c in _DATES:
            df[c] = pd.to_datetime(df[c], format="%Y-%m-%d").astype("datetime64[ns]")
        elif df[c].dtype == object:
            df[c] = df[c].astype("str")
    return df


def tiny_district() -> dict[str, pd.DataFrame]:
    """The tiny district, typed exactly as the contract (a fresh copy on each call)."""
    return {name: df.copy(deep=True) for name, df in _build().items()}


@cache
def _build() -> dict[str, pd.DataFrame]:
    M = 1_000_000
    t = {
        "communes": _frame(
            "communes",
            "commune_id name transaction_day is_difficult is_border is_remote distance_km",
            [
                ("C1", "Xã Một", 25, True, False, True, 12.5),
                ("C2", "Xã Hai", 10, False, True, False, 40.0),
            ],
        ),
        "villages": _frame(
            "villages",
            "village_id commune_id name distance_km",
            [("V1", "C1", "Thôn A", 2.0), ("V2", "C2", "Bản B", 5.5)],
        ),
        "groups": _frame(
            "groups",
            "group_id village_id commune_id organisation founded_date",
            [
                ("G1", "V1", "C1", "womens_union", "2015-03-01"),
                ("G2", "V2", "C2", "farmers_association", "2016-05-20"),
            ],
        ),
        "group_leaders": _frame(
            "group_leaders",
            "group_id start_date end_date leader_id",
            [
                ("G1", "2018-01-01", "2020-12-31", "H1"),
                ("G1", "2021-01-01", N, "H2"),
                ("G2", "2018-01-01", N, "H3"),
            ],
        ),
        "group_ratings": _frame(
            "group_ratings",
            "group_id rating_date rating interest_collection_rate overdue_ratio",
            [("G1", "2024-06-30", "good", 1.0, 0.0), ("G2", "2024-06-30", "fair", 0.95, 0.01)],
        ),
        "households": _frame(
            "households",
            "household_id commune_id village_id group_id joined_date left_date household_size workers member_no",
            [
                ("H1", "C1", "V1", "G1", "2018-01-15", N, 5, 2, 1),
                ("H2", "C1", "V1", "G1", "2019-04-02", N, 3, 1, 2),
                ("H3", "C2", "V2", "G2", "2018-02-10", N, 4, 2, 1),
            ],
        ),
        "protected_attributes": _frame(
            "protected_attributes",
            "household_id commune_id ethnicity is_ethnic_minority",
            [
                ("H1", "C1", "Vân Kiều", True),
                ("H2", "C1", "Kinh", False),
                ("H3", "C2", "Pa Kô", True),
            ],
        ),
        "poverty_status": _frame(
            "poverty_status",
            "household_id commune_id effective_date status",
            [
                ("H1", "C1", "2018-01-01", "poor"),
                ("H1", "C1", "2023-01-01", "near_poor"),
                ("H2", "C1", "2019-01-01", "near_poor"),
                ("H3", "C2", "2018-01-01", "poor"),
            ],
        ),
        "loans": _frame(
            "loans",
            "loan_id household_id commune_id program purpose amount rate_pct term_months "
            "grace_months application_date disbursement_date maturity_date status closed_date",
            [
                (
                    "L1",
                    "H1",
                    "C1",
                    "poor_household",
                    "livestock",
                    30 * M,
                    6.6,
                    36,
                    0,
                    "2021-01-05",
                    "2021-01-25",
                    "2024-01-25",
                    "closed",
                    "2024-01-25",
                ),
                (
                    "L2",
                    "H3",
                    "C2",
                    "clean_water",
                    "water_sanitation",
                    20 * M,
                    9.0,
                    60,
                    6,
                    "2023-03-01",
                    "2023-03-10",
                    "2028-03-10",
                    "active",
                    N,
                ),
            ],
        ),
        "installments": _frame(
            "installments",
            "loan_id commune_id installment_no due_date current_due_date principal_due "
            "principal_paid paid_date status",
            [
                ("L1", "C1", 1, "2022-01-25", "2022-01-25", 10 * M, 10 * M, "2022-01-25", "paid"),
                ("L1", "C1", 2, "2023-01-25", "2023-01-25", 10 * M, 10 * M, "2023-01-25", "paid"),
                ("L1", "C1", 3, "2024-01-25", "2024-01-25", 10 * M, 10 * M, "2024-01-25", "paid"),
                ("L2", "C2", 1, "2024-09-10", "2025-09-10", 10 * M, 0, N, "pending"),
                ("L2", "C2", 2, "2028-03-10", "2028-03-10", 10 * M, 0, N, "pending"),
            ],
        ),
        "interest": _frame(
            "interest",
            "loan_id commune_id session_date interest_due interest_paid arrears_after",
            [
                ("L1", "C1", "2021-02-25", 165_000, 165_000, 0),
                ("L1", "C1", "2021-03-25", 165_000, 100_000, 65_000),
                ("L2", "C2", "2023-04-10", 150_000, 150_000, 0),
                ("L2", "C2", "2023-05-10", 150_000, 150_000, 0),
            ],
        ),
        "savings": _frame(
            "savings",
            "txn_id household_id commune_id txn_date txn_type amount balance_after",
            [
                ("S1", "H1", "C1", "2021-02-25", "deposit", 50_000, 50_000),
                ("S2", "H1", "C1", "2021-03-25", "withdrawal", 10_000, 40_000),
                ("S3", "H3", "C2", "2023-04-10", "deposit", 20_000, 20_000),
            ],
        ),
        "debt_events": _frame(
            "debt_events",
            "event_id loan_id household_id commune_id event_date event_type cause "
            "installment_no amount new_due_date",
            [
                (
                    "E1",
                    "L2",
                    "H3",
                    "C2",
                    "2024-06-10",
                    "extension",
                    "natural_disaster",
                    1,
                    10 * M,
                    "2025-09-10",
                )
            ],
        ),
        "hazard_events": _frame(
            "hazard_events",
            "event_id commune_id hazard_type start_date end_date severity",
            [("Z1", "C2", "flood", "2024-05-01", "2024-05-10", 2)],
        ),
        "inspections": _frame(
            "inspections",
            "inspection_id household_id loan_id commune_id inspection_date selection "
            "use_of_funds borrower_present migrated group_records_ok",
            [
                ("I1", "H1", "L1", "C1", "2022-06-01", "random", "correct", True, False, True),
                ("I2", "H3", N, "C2", "2024-07-01", "routine", N, True, False, True),
            ],
        ),
    }
    assert list(t) == list(TABLES)
    return t


def write_parquet(tables: dict[str, pd.DataFrame], data_dir: Path) -> Path:
    """Write as the simulator does: commune tables by commune, the others whole."""
    for name, df in tables.items():
        if TABLES[name].by_commune:
            for cid, part in df.groupby("commune_id", sort=True):
                storage.write_part(part, data_dir, name, str(cid))
        else:
            storage.write_part(df, data_dir, name, None)
    write_manifest(data_dir)
    return data_dir


def write_csv(tables: dict[str, pd.DataFrame], data_dir: Path) -> Path:
    """Write every table as ``<table>.csv``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        storage.write_csv(df, data_dir / f"{name}.csv")
    write_manifest(data_dir)
    return data_dir


def write_manifest(data_dir: Path, export_date: str = EXPORT_DATE) -> None:
    """Write the manifest with the export date."""
    (data_dir / MANIFEST).write_text(json.dumps({"export_date": export_date}), encoding="utf-8")


def as_text(df: pd.DataFrame, column: str) -> None:
    """Turn a column into its CSV text (ISO dates, empty = null), in place, to plant bad text."""
    s = df[column]
    if pd.api.types.is_datetime64_any_dtype(s):
        df[column] = s.dt.strftime("%Y-%m-%d").astype(object)
    else:
        df[column] = (
            s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        )
