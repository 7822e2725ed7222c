"""Monitoring of a champion: drift, label maturity, back-test and alerts.

What :func:`monitor` compares (``docs/monitoring.md`` explains the choices):

* **Drift** — the population stability index (PSI) of every model feature and of the score,
  between the champion's training window (the *reference*) and the most recent months (the
  *current* window), district-wide and commune by commune. Bands: < 0.1 stable, 0.1–0.25
  moderate, ≥ 0.25 major. Numeric features are cut at the reference's deciles, "months since"
  features at fixed recency bins (so ageing past a year is not a shift), categories and booleans
  by value; missing values are a bin of their own (a program code the champion never saw becomes
  a missing ``main_program``, so it shows as a jump of that bin).
* **Sudden shift** — the same PSI between the current window and the months just before it
  (the *preceding* window). The district grows (loan sizes ≈ +12 %/year) and its groups age, so
  a champion trained years ago sees "major" drift on money and tenure features without anything
  having happened; that gradual drift is reported (retrain) but only a shift that is major
  against *both* the training window and the preceding months raises an alert.
* **Label maturity** — which snapshot months have their 12-month outcome observed yet.
* **Back-test** — realized against predicted trouble by score band and month, and by commune and
  month, on the matured months after the champion's training window; a cell alerts when its
  realized trouble is ≥ 1.5 × the predicted and the excess is ≥ 3 binomial standard deviations.
* **Alerts** — rows of :attr:`MonitorReport.alerts`, each naming a scope (district or commune),
  a kind (``feature_drift``, ``score_drift``, ``backtest``), the feature and the figures;
  :func:`record_alerts` stores them as ``service_events`` (kind ``monitor_alert``) in the
  service's database.

The PSI and the drift table are in :mod:`training.drift`. Pure pandas/numpy; nothing here reads
protected attributes.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.pit import add_months
from training.drift import PSI_MAJOR, drift_table
from vbsp_state.registry_names import CHAMPION, MONITORING_EXPERIMENT, PORTFOLIO_MODEL

logger = logging.getLogger(__name__)

BANDS = (
    ("low", 0.0, 0.05),
    ("medium", 0.05, 0.10),
    ("high", 0.10, 0.20),
    ("very high", 0.20, 1.01),
)
"""Score bands of the service (``serving/bands.py``): low < 5 % ≤ medium < 10 % ≤ high < 20 %."""
EVENT_KIND = "monitor_alert"


@dataclass(frozen=True)
class MonitorConfig:
    """Thresholds of the monitor.

    Attributes:
        current_months: Length of the current window (the newest snapshot months).
        preceding_months: Length of the window just before it (sudden-shift check).
        psi_alert: PSI from which a drift alert is raised (against both references).
        min_rows: Fewest rows a window (district or commune) needs to be judged.
        backtest_months: Matured months the back-test alert looks at (the newest ones).
        backtest_ratio: Realized / predicted trouble from which a back-test alert is raised ...
        backtest_z: ... when the excess is also this many standard deviations (binomial or,
            when larger, clustered by savings group: :func:`backtest_table`).
        backtest_min_expected: Fewest predicted positives a back-test cell needs.
        bins: Quantile bins of numeric features.
        shift_sd_alert: Mean shift (in reference standard deviations) of a group or area feature
            from which an alert is raised (against both references).
        min_units: Fewest group/village-months the current window needs to be judged.
        unseen_share_alert: Rise of the missing share of a categorical feature (a code outside
            the champion's category set is read as missing) from which an alert is raised.
    """

    current_months: int = 3
    preceding_months: int = 12
    psi_alert: float = PSI_MAJOR
    min_rows: int = 200
    backtest_months: int = 12
    backtest_ratio: float = 1.5
    backtest_z: float = 3.0
    backtest_min_expected: float = 5.0
    bins: int = 10
    shift_sd_alert: float = 4.0
    unseen_share_alert: float = 0.02
    min_units: int = 3


def label_maturity(
    table: pd.DataFrame, label: str, export_date: str | pd.Timestamp, horizon_months: int = 12
) -> pd.DataFrame:
    """Per snapshot month: rows, labelled rows, the day its horizon closes and whether it has."""
    export = pd.Timestamp(export_date).normalize()
    as_of = pd.to_datetime(table["as_of"])
    g = pd.DataFrame({"as_of": as_of, "known": table[label].notna()}).groupby("as_of")
    out = g.agg(rows=("known", "size"), labelled=("known", "sum")).reset_index()
    closes = add_months(out["as_of"].to_numpy("datetime64[ns]"), horizon_months)
    out["outcome_known_from"] = pd.to_datetime(closes)
    out["matured"] = out["outcome_known_from"] - pd.Timedelta(days=1) <= export
    out["labelled_share"] = out["labelled"] / out["rows"].clip(lower=1)
    return out


def score_band(p: np.ndarray | pd.Series) -> np.ndarray:
    """The service's risk band of each probability."""
    p = np.asarray(p, dtype="float64")
    out = np.full(len(p), BANDS[-1][0], dtype=object)
    for name, lo, hi in reversed(BANDS):
        out[(p >= lo) & (p < hi)] = name
    return out


def _z(observed: float, expected: float, var: float) -> float:
    return (observed - expected) / math.sqrt(var) if var > 0 else math.nan


def backtest_table(frame: pd.DataFrame, label: str, by: Sequence[str]) -> pd.DataFrame:
    """Realized vs predicted trouble grouped by ``by`` (``frame`` has ``score`` and ``label``).

    The excess's ``z`` divides by the larger of two variances: the binomial one (members
    independent) and, when ``frame`` has ``group_id``, the cluster-robust one (the squared
    residuals of each savings group summed). Members of a group share a leader, a village's
    weather and each other's troubles, so a cell of a few groups varies more than the binomial
    says; a binomial ``z`` alone would alert on that ordinary clustering.
    """
    y = frame[label].astype("float64")
    p = frame["score"].astype("float64")
    work = frame[list(by)].assign(y=y, p=p, v=p * (1 - p))
    g = work.groupby(list(by), observed=True, sort=True)
    out = g.agg(
        rows=("y", "size"), positives=("y", "sum"), expected=("p", "sum"), variance=("v", "sum")
    ).reset_index()
    if "group_id" in frame.columns:
        keys = [*by, "group_id"]
        per_group = (
            work.assign(group_id=frame["group_id"], r=y - p)
            .groupby(keys, observed=True)["r"]
            .sum()
            .pow(2)
            .groupby(level=list(range(len(by))), observed=True)
            .sum()
            .rename("clustered")
            .reset_index()
        )
        out = out.merge(per_group, on=list(by), how="left")
        out["variance"] = np.maximum(out["variance"], out["clustered"].fillna(0.0))
        out = out.drop(columns="clustered")
    out["realized_rate"] = out["positives"] / out["rows"]
    out["predicted_rate"] = out["expected"] / out["rows"]
    out["ratio"] = out["positives"] / out["expected"].where(out["expected"] > 0)
    out["z"] = [
        _z(o, e, v)
        for o, e, v in zip(out["positives"], out["expected"], out["variance"], strict=True)
    ]
    return out.drop(columns="variance")


@dataclass
class MonitorReport:
    """What :func:`monitor` found.

    Attributes:
        windows: ``reference``, ``preceding``, ``current`` and ``backtest`` month ranges.
        drift: PSI per feature (and ``score``) district-wide.
        drift_by_commune: The same per commune.
        maturity: :func:`label_maturity`.
        backtest: Realized vs predicted by month and score band (matured months after training).
        backtest_by_commune: Realized vs predicted per commune and month over the back-test
            alert window (the newest matured months).
        alerts: One row per alert (``kind``, ``scope``, ``feature``, ``value``, ``message``).
        model: Name, version and training window of the monitored model.
    """

    windows: dict[str, Any]
    drift: pd.DataFrame
    drift_by_commune: pd.DataFrame
    maturity: pd.DataFrame
    backtest: pd.DataFrame
    backtest_by_commune: pd.DataFrame
    alerts: pd.DataFrame
    model: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (windows, worst drifts, alert count and list)."""
        worst = self.drift.sort_values("psi", ascending=False).head(10)
        return {
            "model": self.model,
            "windows": self.windows,
            "score_psi": _finite(self.drift.loc[self.drift["feature"] == "score", "psi"]),
            "worst_drift": {r.feature: round(float(r.psi), 4) for r in worst.itertuples()},
            "alerts": len(self.alerts),
            "alert_list": self.alerts.to_dict(orient="records"),
        }

    def write(self, folder: Path) -> dict[str, Path]:
        """Write the tables (CSV) and ``monitor_summary.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for name in (
            "drift",
            "drift_by_commune",
            "maturity",
            "backtest",
            "backtest_by_commune",
            "alerts",
        ):
            path = folder / f"{name}.csv"
            getattr(self, name).to_csv(path, index=False)
            out[f"{name}.csv"] = path
        path = folder / "monitor_summary.json"
        path.write_text(json.dumps(self.summary(), indent=2, default=str, sort_keys=True))
        out["monitor_summary.json"] = path
        return out


def _finite(s: pd.Series) -> float | None:
    return float(s.iloc[0]) if len(s) and math.isfinite(float(s.iloc[0])) else None


def _month_range(months: Sequence[pd.Timestamp]) -> dict[str, Any]:
    if not len(months):
        return {"start": None, "end": None, "months": 0}
    return {"start": str(min(months).date()), "end": str(max(months).date()), "months": len(months)}


def _drift_alerts(table: pd.DataFrame, cfg: MonitorConfig) -> list[dict[str, Any]]:
    rows = []
    hh = table["level"] == "household"
    enough = (table["current_rows"] >= cfg.min_rows) & (table["reference_rows"] >= cfg.min_rows)
    enough &= table["preceding_rows"] >= cfg.min_rows
    by_psi = (
        hh & enough & (table["psi"] >= cfg.psi_alert) & (table["psi_preceding"] >= cfg.psi_alert)
    )
    units = (~hh) & (table["current_rows"] >= cfg.min_units) & (table["reference_rows"] >= 2)
    by_shift = units & (table["shift_sd"] >= cfg.shift_sd_alert)
    by_shift &= table["shift_sd_preceding"] >= cfg.shift_sd_alert
    base = table[["reference_missing", "preceding_missing"]].max(axis=1)
    by_missing = hh & enough & table["categorical"].astype(bool)
    by_missing &= (table["current_missing"] - base) >= cfg.unseen_share_alert
    for r in table[by_psi | by_shift | by_missing].itertuples():
        kind = "score_drift" if r.feature == "score" else "feature_drift"
        if by_missing[r.Index]:
            kind = "unseen_category"
            how = (
                "codes the champion never saw (read as missing) on "
                f"{100 * (r.current_missing - base[r.Index]):.1f}% more rows, PSI {r.psi:.2f}"
            )
            value = r.current_missing
        elif r.level == "household":
            how = (
                f"PSI {r.psi:.2f} against the training window and {r.psi_preceding:.2f} "
                "against the preceding months"
            )
            value = r.psi
        else:
            how = (
                f"{r.level} mean moved {r.shift_sd:.1f} sd from the training window and "
                f"{r.shift_sd_preceding:.1f} sd from the preceding months (PSI {r.psi:.2f})"
            )
            value = r.shift_sd
        rows.append(
            {
                "kind": kind,
                "scope": r.scope,
                "feature": r.feature,
                "value": round(float(value), 4) if math.isfinite(value) else 999.0,
                "message": (
                    f"{r.feature} in {r.scope}: {how} (missing {100 * r.reference_missing:.1f}% → "
                    f"{100 * r.current_missing:.1f}%)"
                ),
            }
        )
    return rows


def _backtest_alerts(table: pd.DataFrame, scope_col: str | None, cfg: MonitorConfig) -> list[dict]:
    hit = table[
        (table["expected"] >= cfg.backtest_min_expected)
        & (table["ratio"] >= cfg.backtest_ratio)
        & (table["z"] >= cfg.backtest_z)
    ]
    rows = []
    for r in hit.to_dict(orient="records"):
        scope = str(r[scope_col]) if scope_col else "district"
        rows.append(
            {
                "kind": "backtest",
                "scope": scope,
                "feature": "score",
                "month": r["month"],
                "value": round(float(r["ratio"]), 3),
                "message": (
                    f"{scope}, snapshots of {r['month']}: {int(r['positives'])} households in trouble against "
                    f"{r['expected']:.1f} predicted ({100 * r['realized_rate']:.1f}% vs "
                    f"{100 * r['predicted_rate']:.1f}%, z = {r['z']:.1f})"
                ),
            }
        )
    return rows


def monitor(
    table: pd.DataFrame,
    predict: Callable[[pd.DataFrame], np.ndarray],
    features: Sequence[str],
    train_window: tuple[str | pd.Timestamp, str | pd.Timestamp],
    export_date: str | pd.Timestamp,
    label: str = "trouble_12m",
    horizon_months: int = 12,
    config: MonitorConfig | None = None,
    model: dict[str, Any] | None = None,
) -> MonitorReport:
    """Drift, maturity, back-test and alerts of a model on a portfolio feature table.

    Args:
        table: Portfolio feature table (every snapshot month, labels where known).
        predict: Calibrated probabilities of a frame of rows (the champion's scorer).
        features: The model's features.
        train_window: First and last snapshot (``as_of``) of the champion's training window.
        export_date: Last day of the export the table was built from.
        label: Label of the back-test.
        horizon_months: The label's horizon.
        config: Thresholds (:class:`MonitorConfig`).
        model: Name/version of the model (recorded in the report).

    Raises:
        ValueError: If the table has no rows in the training window or too few months.
    """
    cfg = config or MonitorConfig()
    as_of = pd.to_datetime(table["as_of"])
    months = sorted(as_of.unique())
    start, end = (pd.Timestamp(x) for x in train_window)
    if len(months) < cfg.current_months + 1:
        raise ValueError(f"the feature table has {len(months)} months; the monitor needs more")
    current_m = months[-cfg.current_months :]
    preceding_m = months[-(cfg.current_months + cfg.preceding_months) : -cfg.current_months]
    in_ref = (as_of >= start) & (as_of <= end)
    if not in_ref.any():
        raise ValueError(
            f"no snapshots in the champion's training window {start.date()} … {end.date()}"
        )
    cols = list(features)
    scored = table.assign(score=np.asarray(predict(table), dtype="float64"))
    reference = scored[in_ref]
    current = scored[as_of.isin(current_m)]
    preceding = scored[as_of.isin(preceding_m)]
    drift = drift_table(reference, current, [*cols, "score"], preceding, None, cfg.bins)
    by_commune = drift_table(
        reference, current, [*cols, "score"], preceding, "commune_id", cfg.bins
    )

    maturity = label_maturity(table, label, export_date, horizon_months)
    matured = set(maturity.loc[maturity["matured"], "as_of"])
    bt_rows = scored[as_of.isin(matured) & (as_of > end) & scored[label].notna()].copy()
    bt_rows["month"] = pd.to_datetime(bt_rows["as_of"]).dt.strftime("%Y-%m")
    bt_rows["band"] = score_band(bt_rows["score"])
    backtest = backtest_table(bt_rows, label, ["month", "band"])
    bt_months = sorted(bt_rows["month"].unique())[-cfg.backtest_months :]
    recent_bt = bt_rows[bt_rows["month"].isin(bt_months)]
    bt_district = backtest_table(recent_bt, label, ["month"])
    bt_commune = backtest_table(recent_bt, label, ["commune_id", "month"])

    alerts = _drift_alerts(drift, cfg) + _drift_alerts(by_commune, cfg)
    alerts += _backtest_alerts(bt_district, None, cfg) + _backtest_alerts(
        bt_commune, "commune_id", cfg
    )
    alert_frame = pd.DataFrame(
        alerts, columns=["kind", "scope", "feature", "month", "value", "message"]
    )
    windows = {
        "reference": {
            "start": str(start.date()),
            "end": str(end.date()),
            "rows": int(in_ref.sum()),
        },
        "preceding": _month_range([pd.Timestamp(m) for m in preceding_m]),
        "current": _month_range([pd.Timestamp(m) for m in current_m]),
        "backtest": {
            "months": bt_months,
            "matured_until": str(max(matured).date()) if matured else None,
        },
        "export_date": str(pd.Timestamp(export_date).date()),
    }
    return MonitorReport(
        windows, drift, by_commune, maturity, backtest, bt_commune, alert_frame, dict(model or {})
    )


# --- the champion, from the registry ---------------------------------------------------------


@dataclass
class Champion:
    """The served model as the monitor needs it."""

    name: str
    version: str
    run_id: str
    scorer: Any
    train_window: tuple[str, str]
    label: str


def load_champion(model_name: str = PORTFOLIO_MODEL, alias: str = CHAMPION) -> Champion:
    """The ``alias`` version of ``model_name``: scorer and training window (MLflow configured).

    Raises:
        ValueError: If there is no such alias or its run lacks the training window.
    """
    import mlflow
    from mlflow import MlflowClient

    from training.scorer import Scorer

    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except Exception as err:
        raise ValueError(f"no {alias} for {model_name}: {err}") from err
    run = client.get_run(mv.run_id)
    windows = json.loads(run.data.params.get("split.windows", "{}") or "{}")
    train = windows.get("train") or {}
    if not train.get("start") or not train.get("end"):
        raise ValueError(f"run {mv.run_id} does not record its training window")
    with tempfile.TemporaryDirectory(prefix="vbsp-monitor-") as tmp:
        source = client.get_model_version_download_uri(model_name, str(mv.version))
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp)
        scorer = Scorer.load(Path(local) / "artifacts")
    label = run.data.tags.get("label") or run.data.params.get("label") or "trouble_12m"
    return Champion(
        model_name, str(mv.version), mv.run_id, scorer, (train["start"], train["end"]), label
    )


def monitor_champion(
    table: pd.DataFrame,
    export_date: str | pd.Timestamp,
    model_name: str = PORTFOLIO_MODEL,
    config: MonitorConfig | None = None,
) -> MonitorReport:
    """:func:`monitor` of the registered champion on a portfolio feature table."""
    champ = load_champion(model_name)
    return monitor(
        table,
        champ.scorer.predict_proba,
        champ.scorer.names,
        champ.train_window,
        export_date,
        champ.label,
        config=config,
        model={
            "name": champ.name,
            "version": champ.version,
            "run_id": champ.run_id,
            "train_window": list(champ.train_window),
        },
    )


def log_report(report: MonitorReport, experiment: str = MONITORING_EXPERIMENT) -> str:
    """Log a report as one MLflow run (tables as artifacts, PSI and alert counts as metrics)."""
    import mlflow

    from training import tracking

    uri = mlflow.get_tracking_uri()
    exp = tracking.ensure_experiment(experiment, uri)
    name = f"monitor {report.model.get('name', '')} v{report.model.get('version', '')}"
    with mlflow.start_run(experiment_id=exp, run_name=name) as run:
        mlflow.set_tags({f"model.{k}": str(v) for k, v in report.model.items()})
        mlflow.log_params(tracking.flatten_params({"windows": report.windows}))
        district = report.drift[report.drift["psi"].notna()]
        mlflow.log_metrics(
            {tracking.metric_key(f"psi.{r.feature}"): float(r.psi) for r in district.itertuples()}
        )
        mlflow.log_metric("alerts", len(report.alerts))
        with tempfile.TemporaryDirectory() as tmp:
            report.write(Path(tmp))
            mlflow.log_artifacts(tmp, artifact_path="monitor")
        return run.info.run_id


def record_alerts(engine: Any, report: MonitorReport) -> int:
    """Store each alert as a ``service_events`` row (kind ``monitor_alert``); returns the count."""
    from vbsp_state.schema import service_events

    if report.alerts.empty:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "created_at": now,
            "kind": EVENT_KIND,
            "detail": json.dumps(
                {
                    **a,
                    "model": report.model,
                    "windows": {k: report.windows[k] for k in ("current", "export_date")},
                },
                default=str,
            ),
        }
        for a in report.alerts.to_dict(orient="records")
    ]
    with engine.begin() as conn:
        conn.execute(service_events.insert(), rows)
    return len(rows)


def stored_alerts(engine: Any) -> pd.DataFrame:
    """The monitor alerts stored in the service's database, newest first."""
    import sqlalchemy as sa

    from vbsp_state.schema import service_events

    q = sa.select(service_events).where(service_events.c.kind == EVENT_KIND)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(service_events.c.event_id.desc())).mappings().all()
    return pd.DataFrame([{**json.loads(r["detail"]), "created_at": r["created_at"]} for r in rows])
