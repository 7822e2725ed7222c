"""Does the model's level drift against the truth from year to year, and why?

The champion gate judges a candidate's predicted trouble rate on one test year. When it refuses
one (seed 37's portfolio view: +25.6 % at the window's hazards), two explanations compete: the
world's level moves between years more than the gate's ±20 % allows (then even perfect knowledge
of today would be refused: the rule judges luck), or the model's level drifts against the world
(then the features are to blame). This script separates them on a finished
``vbsp-risk run --no-serve`` state folder (simulated data: it needs ``truth/``):

``years``
    For each ``as_of`` year: the observed rate, the mean of the model's served probability and of
    the simulator's state oracle, and the logit gap ``logit(oracle) - logit(model)`` (the model's
    drift against the truth; flat when the features carry every trend of the world).
``gate``
    The rate check at the window's hazards for every yearly window at the run's offsets
    (validation window 23 months before the test window), once for the model and once for the
    state oracle: ``sigmoid(logit p + c + beta * h)`` with ``(c, beta)`` fitted on the
    validation window, its mean against the test window's rate. Counts the years each fails.
``attribution``
    Mean SHAP contribution of every feature by ``as_of`` year (a seeded sample of rows), and the
    features whose contribution moved most between two years.
``ablation``
    Retrains the view as the run does (``train_view``) on the table as it is, with money in
    today's money (every VND feature divided by the median amount the district disbursed in the
    12 months before ``as_of``: bank-known, point-in-time; the trainer now does this for loan
    money only, :mod:`training.todays_money`), with the hazard-history features out
    (``hazards_12m``, ``hazard_max_severity_12m``, ``months_since_hazard``), and with both;
    prints each test AUC and gate lines. A features-5 table only (a features-6 table has the
    scale, and the trainer already does both on it).

Usage::

    python benchmarks/level_drift.py years --state STATE
    python benchmarks/level_drift.py gate --state STATE
    python benchmarks/level_drift.py attribution --state STATE --from 2022 --to 2024
    python benchmarks/level_drift.py ablation --state STATE --seed 42
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

LABEL = "trouble_12m"
MONEY = (
    "outstanding_principal",
    "amount_per_worker",
    "repaid_amount",
    "savings_balance",
    "savings_deposit_mean_12m",
)
HAZARD_HISTORY = ("hazards_12m", "hazard_max_severity_12m", "months_since_hazard")
VALID_LAG_MONTHS = 23
"""Months from the validation window's start to the test window's (the run's split)."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _table(state: Path, view: str) -> pd.DataFrame:
    from training.training_table import read_training_table

    t = read_training_table(state / "features" / f"{view}.parquet", LABEL)
    return t[t[LABEL].notna()].reset_index(drop=True)


def _model(state: Path, view: str):  # an MLflow pyfunc
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(state / 'mlflow' / 'mlflow.db').resolve()}")
    name = f"overdue-risk-{view}"
    versions = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    latest = max(int(v.version) for v in versions)  # the candidate, refused or not
    return mlflow.pyfunc.load_model(f"models:/{name}/{latest}")


def scored(state: Path, view: str) -> pd.DataFrame:
    """Labelled rows with the model's served probability ``p`` and the state oracle's ``ps``."""
    from training.pipeline import read_truth

    t = _table(state, view)
    p = np.asarray(_model(state, view).predict(t.drop(columns=[LABEL]))).reshape(-1)
    truth = read_truth(state / "data" / "district" / "truth")
    month = truth["month"].dt.to_period("M")
    truth = truth.assign(m=month)[["household_id", "m", "p_trouble_12m_state"]]
    keys = t[["household_id"]].assign(m=pd.to_datetime(t["as_of"]).dt.to_period("M"))
    j = keys.merge(truth.drop_duplicates(["household_id", "m"]), how="left")
    return t[["household_id", "as_of", "commune_id"]].assign(
        y=t[LABEL].astype("float64").to_numpy(), p=p, ps=j["p_trouble_12m_state"].to_numpy()
    )


def years(rows: pd.DataFrame) -> pd.DataFrame:
    """Observed rate, model and state oracle by ``as_of`` year, with the logit gaps."""
    r = rows.dropna(subset=["ps"])
    r = r.assign(year=pd.to_datetime(r["as_of"]).dt.year, gap=_logit(r["ps"]) - _logit(r["p"]))
    out = r.groupby("year").agg(
        rows=("y", "size"),
        observed=("y", "mean"),
        model=("p", "mean"),
        oracle=("ps", "mean"),
        oracle_minus_model=("gap", "mean"),
    )
    out["observed_minus_model"] = _logit(out["observed"]) - _logit(out["model"])
    out["observed_minus_oracle"] = _logit(out["observed"]) - _logit(out["oracle"])
    return out


def gate_years(rows: pd.DataFrame, state: Path, test_start: str, tolerance: float) -> pd.DataFrame:
    """The gate's rate check at the hazards on every yearly window, for the model and the oracle."""
    from scipy.optimize import brentq

    from training.hazard_level import MIN_EXPOSED_POSITIVES, _offset_logistic, horizon_exposure

    hazards = pd.read_parquet(state / "data" / "district" / "hazard_events.parquet")
    rows = rows.dropna(subset=["ps"]).reset_index(drop=True)
    h = horizon_exposure(rows, hazards, 12)
    month = pd.to_datetime(rows["as_of"]).dt.to_period("M")
    y = rows["y"].to_numpy()
    first = pd.Period(test_start, "M")
    out = []
    for k in range(20):
        test = first - 12 * k
        val = test - VALID_LAG_MONTHS
        w = ((month >= test) & (month <= test + 11)).to_numpy()
        v = ((month >= val) & (month <= val + 11)).to_numpy()
        if v.sum() < 1000 or y[v].sum() < 50:
            break
        row = {"test": str(test), "observed": y[w].mean(), "exposure": h[w].mean()}
        before = (month < val).to_numpy()
        for name, col in (("model", "p"), ("oracle", "ps")):
            z = _logit(rows[col].to_numpy())
            if int(((h[v] > 0) & (y[v] > 0)).sum()) >= MIN_EXPOSED_POSITIVES:
                c, beta = _offset_logistic(z[v], h[v], y[v])
            else:  # a calm validation year: the effect from the years before, as the trainer does
                beta = _offset_logistic(z[before], h[before], y[before])[1]
                zv, rate = z[v] + beta * h[v], y[v].mean()
                c = brentq(
                    lambda c, zv=zv, rate=rate: np.mean(1 / (1 + np.exp(-(zv + c)))) - rate, -20, 20
                )
            pred = float(np.mean(1 / (1 + np.exp(-(z[w] + c + beta * h[w])))))
            row[f"{name}_error"] = pred / y[w].mean() - 1
            row[f"{name}_beta"] = beta
        out.append(row)
    frame = pd.DataFrame(out)
    for name in ("model", "oracle"):
        frame[f"{name}_fails"] = frame[f"{name}_error"].abs() > tolerance
    return frame


def attribution(state: Path, view: str, a: int, b: int, n: int = 200_000) -> pd.DataFrame:
    """Mean SHAP contribution by ``as_of`` year; rows ordered by the change from ``a`` to ``b``."""
    t = _table(state, view)
    scorer = _model(state, view).unwrap_python_model().scorer
    pick = np.sort(np.random.default_rng(0).choice(len(t), min(n, len(t)), replace=False))
    t = t.iloc[pick].reset_index(drop=True)
    contrib = scorer.booster.predict(scorer.frame(t), pred_contrib=True)
    c = pd.DataFrame(contrib, columns=[*scorer.names, "expected"])
    by_year = c.groupby(pd.to_datetime(t["as_of"]).dt.year.to_numpy()).mean().T
    by_year["change"] = by_year[b] - by_year[a]
    return by_year.sort_values("change", key=np.abs, ascending=False)


def todays_money(table: pd.DataFrame, loans: pd.DataFrame) -> pd.DataFrame:
    """Every money feature of :data:`MONEY` over the district's typical loan at ``as_of``
    (:func:`features.context.district_typical_loan`, as the catalog computes it)."""
    from features.context import district_typical_loan

    paid = loans.assign(disbursement_date=pd.to_datetime(loans["disbursement_date"]))
    as_of = pd.to_datetime(table["as_of"]).to_numpy(dtype="datetime64[ns]")
    s = district_typical_loan(paid, as_of)
    return table.assign(**{c: table[c].astype("float64") / s for c in MONEY if c in table})


def ablation(state: Path, view: str, seed: int, n_boot: int) -> None:
    """Retrain the view as it is, in today's money, without hazard history, and with both."""
    from features.catalog import MONEY_SCALE
    from training.gate import gate_checks
    from training.hazard_level import EXPOSURE_COLUMN
    from training.pipeline import hazard_events, read_truth
    from training.train import train_view
    from training.training_table import read_training_table

    data = state / "data" / "district"
    table = read_training_table(state / "features" / f"{view}.parquet", LABEL)
    if MONEY_SCALE in table.columns:
        raise SystemExit(
            f"ablation: this feature table has {MONEY_SCALE} (features-6 or later), so the trainer "
            "already reads its loan money in today's money and keeps the hazard history out; the "
            "ablation compares against a features-5 table (a state folder of main 2ffed27)"
        )
    loans = pd.read_parquet(data / "loans", columns=["amount", "disbursement_date"])
    deflated = todays_money(table, loans)
    variants = {
        "as is": table,
        "today's money": deflated,
        "no hazard history": table.drop(columns=list(HAZARD_HISTORY)),
        "both": deflated.drop(columns=list(HAZARD_HISTORY)),
    }
    truth, hazards = read_truth(data / "truth"), hazard_events(data)
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, t) in enumerate(variants.items()):
            r = train_view(
                t,
                LABEL,
                view,
                Path(tmp) / str(k),
                seed=seed,
                truth=truth,
                n_boot=n_boot,
                hazards=hazards,
                contract_checked=True,
            )
            f = r.test_frame
            rows = f[["household_id", "as_of"]].merge(t, on=["household_id", "as_of"], how="left")
            at = r.scorer.predict_proba_at(rows, f[EXPOSURE_COLUMN].to_numpy())
            _, _, lines = gate_checks(f, "label", f["lightgbm"].to_numpy(), None, at_hazards=at)
            m = r.metrics
            print(
                f"{name}: AUC {m['lightgbm']['roc_auc']:.3f} "
                f"({m['lightgbm']['roc_auc_lo']:.3f}-{m['lightgbm']['roc_auc_hi']:.3f}), "
                f"logistic {m['logistic']['roc_auc']:.3f}, state oracle "
                f"{m['state_oracle']['roc_auc']:.3f}",
                flush=True,
            )
            for line in lines:
                if "rate" in line or "slope" in line:
                    print("   ", line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("years", "gate", "attribution", "ablation"):
        p = sub.add_parser(cmd)
        p.add_argument("--state", type=Path, required=True, help="a `vbsp-risk run` state folder")
        p.add_argument("--view", default="portfolio", choices=("portfolio", "application"))
        if cmd == "gate":
            p.add_argument("--test-start", default="2024-02")
            p.add_argument("--tolerance", type=float, default=0.20)
        if cmd == "attribution":
            p.add_argument("--from", dest="a", type=int, default=2022)
            p.add_argument("--to", dest="b", type=int, default=2024)
        if cmd == "ablation":
            p.add_argument("--seed", type=int, default=42, help="training seed (the run's)")
            p.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if args.cmd == "ablation":
        ablation(args.state, args.view, args.seed, args.n_boot)
        return
    if args.cmd == "attribution":
        out = attribution(args.state, args.view, args.a, args.b)
        print(out[[args.a, args.b, "change"]].head(15).round(3).to_string())
        print(f"total change {out['change'].sum():+.3f}")
        return
    rows = scored(args.state, args.view)
    if args.cmd == "years":
        print(years(rows).round(3).to_string())
        return
    frame = gate_years(rows, args.state, args.test_start, args.tolerance)
    print(frame.round(3).to_string())
    for name in ("model", "oracle"):
        err = np.log1p(frame[f"{name}_error"])
        print(
            f"{name}: fails ±{args.tolerance:.0%} in {int(frame[f'{name}_fails'].sum())} of "
            f"{len(frame)} yearly windows; sd of the log rate error {err.std():.3f}"
        )


if __name__ == "__main__":
    main()
