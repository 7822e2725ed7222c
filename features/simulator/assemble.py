"""Turn one commune's simulated books into the contract's tables (and ``truth``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import domain
from features.simulator.lending import PROGRAM_CODES
from features.simulator.records import NONE, Recorder

if TYPE_CHECKING:
    from features.simulator.households import Households as CommuneSim  # no import cycle

LOAN_STATUS = {0: "active", 1: "closed", 3: "frozen", 4: "written_off"}
INST_STATUS = np.array(["pending", "paid", "overdue", "frozen", "written_off"])


def _dates(
    rec: Recorder, t: np.ndarray, day: int | None = None, null: int | None = None
) -> pd.Series:
    d = pd.Series(rec.date(t, day).astype("datetime64[ns]"))
    if null is not None:
        d = d.where(np.asarray(t) != null)
    return d


def assemble(rec: Recorder, sim: CommuneSim) -> dict[str, pd.DataFrame]:
    """Build every commune-level table from ``rec`` and the commune's household state."""
    c = rec.commune_id
    hh_id = sim.hh_id
    groups = sim.groups
    out: dict[str, pd.DataFrame] = {}
    out["households"] = pd.DataFrame(
        {
            "household_id": hh_id,
            "commune_id": c,
            "village_id": groups["village_id"].to_numpy()[sim.g],
            "group_id": groups["group_id"].to_numpy()[sim.g],
            "joined_date": _dates(rec, sim.join_m, 1),
            "left_date": _dates(rec, sim.left_m, null=-1),
            "household_size": sim.size.astype("int64"),
            "workers": sim.workers.astype("int64"),
            "member_no": sim.member_no,
        }
    )
    out["protected_attributes"] = pd.DataFrame(
        {
            "household_id": hh_id,
            "commune_id": c,
            "ethnicity": sim.ethnicity,
            "is_ethnic_minority": sim.minority,
        }
    )
    pov = np.array(rec.poverty_rows, dtype=np.int64).reshape(-1, 3)
    out["poverty_status"] = (
        pd.DataFrame(
            {
                "household_id": hh_id[pov[:, 0]],
                "commune_id": c,
                "effective_date": _dates(rec, pov[:, 1], 1),
                "status": np.array(domain.POVERTY_STATUSES)[pov[:, 2]],
            }
        )
        .drop_duplicates(["household_id", "effective_date"], keep="last")
        .reset_index(drop=True)
    )
    L, inst = rec.loans, rec.inst
    loan_ids = np.array([f"{c}-L{i + 1:06d}" for i in range(L.n)])
    overdue_loans = np.zeros(L.n, dtype=bool)
    overdue_loans[inst["loan"][inst["status"] == 2]] = True
    status = np.array([LOAN_STATUS[s] for s in L["status"]], dtype=object)
    status[(L["status"] == 0) & overdue_loans] = "overdue"
    disb = _dates(rec, L["disb"])
    out["loans"] = pd.DataFrame(
        {
            "loan_id": loan_ids,
            "household_id": hh_id[L["hh"]],
            "commune_id": c,
            "program": np.array(PROGRAM_CODES)[L["prog"]],
            "purpose": np.array(domain.PURPOSES)[L["purpose"]],
            "amount": L["amount"],
            "rate_pct": L["rate"],
            "term_months": L["term"],
            "grace_months": L["grace"],
            "application_date": disb - pd.to_timedelta(L["lag"], unit="D"),
            "disbursement_date": disb,
            "maturity_date": _dates(rec, L["disb"] + L["term"]),
            "status": status,
            "closed_date": _dates(rec, L["closed"], null=-1),
        }
    )
    out["installments"] = pd.DataFrame(
        {
            "loan_id": loan_ids[inst["loan"]],
            "commune_id": c,
            "installment_no": inst["no"],
            "due_date": _dates(rec, inst["due"]),
            "current_due_date": _dates(rec, inst["cur"]),
            "principal_due": inst["amt"],
            "principal_paid": inst["paid"],
            "paid_date": _dates(rec, inst["paid_m"], null=NONE),
            "status": INST_STATUS[inst["status"]],
        }
    )
    ir = rec.interest_rows
    out["interest"] = pd.DataFrame(
        {
            "loan_id": loan_ids[ir["loan"]],
            "commune_id": c,
            "session_date": _dates(rec, ir["t"]),
            "interest_due": ir["due"],
            "interest_paid": ir["paid"],
            "arrears_after": ir["arrears"],
        }
    )
    sr = rec.saving_rows
    out["savings"] = pd.DataFrame(
        {
            "txn_id": [f"{c}-S{i + 1:08d}" for i in range(sr.n)],
            "household_id": hh_id[sr["hh"]],
            "commune_id": c,
            "txn_date": _dates(rec, sr["t"]),
            "txn_type": np.array(domain.SAVINGS_TXN_TYPES)[sr["kind"]],
            "amount": sr["amount"],
            "balance_after": sr["balance"],
        }
    )
    er = rec.event_rows
    out["debt_events"] = pd.DataFrame(
        {
            "event_id": [f"{c}-E{i + 1:07d}" for i in range(er.n)],
            "loan_id": loan_ids[er["loan"]],
            "household_id": hh_id[L["hh"][er["loan"]]],
            "commune_id": c,
            "event_date": _dates(rec, er["t"]),
            "event_type": np.array(domain.DEBT_EVENT_TYPES)[er["kind"]],
            "cause": np.array(domain.DEBT_CAUSES)[er["cause"]],
            "installment_no": er["inst"],
            "amount": er["amount"],
            "new_due_date": _dates(rec, er["new_due"], null=-1),
        }
    )
    ins = pd.DataFrame(
        rec.inspection_rows,
        columns=[
            "h",
            "loan",
            "t",
            "selection",
            "use_of_funds",
            "borrower_present",
            "migrated",
            "group_records_ok",
        ],
    )
    out["inspections"] = pd.DataFrame(
        {
            "inspection_id": [f"{c}-I{i + 1:06d}" for i in range(len(ins))],
            "household_id": hh_id[ins["h"].to_numpy(dtype=np.int64)],
            "loan_id": loan_ids[ins["loan"].to_numpy(dtype=np.int64)]
            if len(ins)
            else np.array([], dtype=object),
            "commune_id": c,
            "inspection_date": _dates(rec, ins["t"].to_numpy(dtype=np.int64)),
            "selection": ins["selection"].astype(object),
            "use_of_funds": ins["use_of_funds"].astype(object),
            "borrower_present": ins["borrower_present"].astype(bool),
            "migrated": ins["migrated"].astype(bool),
            "group_records_ok": ins["group_records_ok"].astype(bool),
        }
    )
    rating_frames = [
        pd.DataFrame(
            {
                "group_id": groups["group_id"].to_numpy(),
                "rating_date": pd.Timestamp(rec.date(t + 1, 1)) - pd.Timedelta(days=1),
                "rating": rating,
                "interest_collection_rate": np.round(coll, 4),
                "overdue_ratio": np.round(ratio, 5),
            }
        )
        for t, _, rating, coll, ratio in rec.rating_rows
    ]
    out["group_ratings"] = pd.concat(rating_frames, ignore_index=True) if rating_frames else None
    lr = rec.leader_rows
    out["group_leaders"] = pd.DataFrame(
        {
            "group_id": groups["group_id"].to_numpy()[[r[0] for r in lr]],
            "start_date": pd.to_datetime([r[1] for r in lr]),
            "end_date": pd.to_datetime([r[2] for r in lr]),
            "leader_id": hh_id[[r[3] for r in lr]],
        }
    )
    tr = rec.truth_rows
    out["truth"] = pd.DataFrame(
        {
            "household_id": hh_id[tr["hh"]],
            "commune_id": c,
            "month": _dates(rec, tr["t"], 1),
            "p_trouble": tr["p"],
            "in_trouble": tr["in_ep"],
            "p_trouble_12m_state": tr["p12"],
        }
    )
    return out
