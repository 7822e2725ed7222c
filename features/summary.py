"""District summary from the bank's tables: the figures the office reports.

Pure functions over typed tables (see :mod:`features.validation` to load them). Used by
``make run``, by the calibration tests of the simulator and by the benchmarks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def outstanding_at(
    loans: pd.DataFrame, installments: pd.DataFrame, when: pd.Timestamp
) -> pd.Series:
    """Outstanding principal of every loan at the end of day ``when`` (frozen debt included).

    Args:
        loans: The ``loans`` table.
        installments: The ``installments`` table.
        when: The date.

    Returns:
        Outstanding VND indexed by ``loan_id`` (only loans disbursed on or before ``when``).
    """
    disbursed = loans[loans["disbursement_date"] <= when].set_index("loan_id")["amount"]
    paid = installments[installments["paid_date"].notna() & (installments["paid_date"] <= when)]
    repaid = paid.groupby("loan_id")["principal_paid"].sum()
    out = disbursed.sub(repaid.reindex(disbursed.index, fill_value=0), fill_value=0)
    return out[out > 0]


def summarize(tables: dict[str, pd.DataFrame], export_date: pd.Timestamp) -> dict[str, object]:
    """Figures of the district at ``export_date``.

    Args:
        tables: Typed tables of the contract (at least communes, villages, groups, households,
            loans, installments, interest, debt_events, group_ratings).
        export_date: The export's reference date.

    Returns:
        A flat dict of counts, money in VND, ratios and shares.
    """
    loans, inst = tables["loans"], tables["installments"]
    end = pd.Timestamp(export_date)
    out_end = outstanding_at(loans, inst, end)
    borrowers = loans.set_index("loan_id").loc[out_end.index, "household_id"].nunique()
    total = float(out_end.sum())
    overdue = inst[inst["status"] == "overdue"]
    overdue_vnd = float((overdue["principal_due"] - overdue["principal_paid"]).sum())
    years = sorted({d.year for d in loans["disbursement_date"]})
    first_year_end = pd.Timestamp(f"{max(years[0], end.year - 9)}-12-31")
    if first_year_end >= end:
        first_year_end = end - pd.DateOffset(years=1)
    span = (end - first_year_end).days / 365.25
    out_first = float(outstanding_at(loans, inst, first_year_end).sum())
    out_prev = float(outstanding_at(loans, inst, end - pd.DateOffset(years=1)).sum())
    interest = tables["interest"]
    last12 = interest[interest["session_date"] > end - pd.DateOffset(years=1)]
    due12 = float(last12["interest_due"].sum())
    paid12 = float(
        np.minimum(last12["interest_paid"], last12["interest_due"] + last12["arrears_after"]).sum()
    )
    arrears_hh = last12[last12["arrears_after"] > 0].merge(
        loans[["loan_id", "household_id"]], on="loan_id"
    )
    events = tables["debt_events"]
    ev12 = events[events["event_date"] > end - pd.DateOffset(years=1)]
    ratings = tables["group_ratings"]
    last_rating = ratings[ratings["rating_date"] == ratings["rating_date"].max()][
        "rating"
    ].value_counts(normalize=True)
    prog = (
        loans.set_index("loan_id")
        .loc[out_end.index]
        .assign(out=out_end)
        .groupby("program")["out"]
        .sum()
        / total
    )
    return {
        "export_date": end.date().isoformat(),
        "communes": len(tables["communes"]),
        "villages": len(tables["villages"]),
        "groups": len(tables["groups"]),
        "member_households": int((tables["households"]["left_date"].isna()).sum()),
        "borrower_households": int(borrowers),
        "outstanding_vnd": total,
        "outstanding_per_borrower_vnd": total / max(borrowers, 1),
        "outstanding_growth_last_year": out_prev and total / out_prev - 1,
        "outstanding_cagr": (total / out_first) ** (1 / span) - 1
        if out_first > 0
        else float("nan"),
        "cagr_from": first_year_end.date().isoformat(),
        "overdue_vnd": overdue_vnd,
        "overdue_ratio": overdue_vnd / total if total else 0.0,
        "overdue_households": int(
            overdue.merge(loans[["loan_id", "household_id"]], on="loan_id")[
                "household_id"
            ].nunique()
        ),
        "interest_collection_12m": paid12 / due12 if due12 else 1.0,
        "households_with_arrears_12m": int(arrears_hh["household_id"].nunique()),
        "extensions_12m": int((ev12["event_type"] == "extension").sum()),
        "overdue_events_12m": int((ev12["event_type"] == "overdue").sum()),
        "groups_good_share": float(last_rating.get("good", 0.0)),
        "groups_weak_share": float(last_rating.get("weak", 0.0)),
        "group_ratings": {k: round(float(v), 4) for k, v in last_rating.items()},
        "program_share_of_outstanding": {
            k: round(float(v), 4) for k, v in prog.sort_values(ascending=False).items()
        },
    }
