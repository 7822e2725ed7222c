"""One training, end to end: feature table → model → MLflow run → registry → (gate).

:func:`run_training` is what ``vbsp-risk train`` and the monthly routine
(:func:`training.retrain.retrain`, which ``make run`` runs too) call for each view.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from features.catalog import VIEWS
from training import N_BOOT, boot_replicates, tracking
from training.gate import GateDecision
from training.monotone import DEFAULT_MODE, TOLERANCE
from training.pyfunc_model import log_scorer_model, model_name_for
from training.training_table import read_training_table

logger = logging.getLogger(__name__)


def read_feature_table(path: Path, label: str) -> pd.DataFrame:
    """Read a Parquet feature table and check it follows the contract.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a readable Parquet file.
        features.feature_table.FeatureTableError: If it breaks the contract.
    """
    from features.feature_table import require_feature_table

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"feature table {path} does not exist")
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise ValueError(f"{path} is not a readable Parquet feature table: {err}") from err
    require_feature_table(table, label)
    return table


TRUTH_COLUMNS = ("household_id", "month", "p_trouble", "in_trouble")
"""The columns of ``truth/`` the clairvoyant oracle uses (:func:`training.rankings.oracle_proba`);
the state oracle's column is read too when the simulator wrote it
(:func:`training.rankings.state_oracle_proba`)."""


def read_truth(truth_dir: Path | None) -> pd.DataFrame | None:
    """The simulator's ``truth/`` (true monthly probabilities; the oracle's columns) or ``None``.

    Raises:
        FileNotFoundError: If the folder is given but does not exist.
    """
    if truth_dir is None:
        return None
    truth_dir = Path(truth_dir)
    if not truth_dir.exists():
        raise FileNotFoundError(f"truth folder {truth_dir} does not exist")
    import pyarrow.dataset as ds

    from training.rankings import STATE_COLUMN

    names = set(ds.dataset(truth_dir, format="parquet").schema.names)
    extra = [STATE_COLUMN] if STATE_COLUMN in names else []
    return pd.read_parquet(truth_dir, columns=[*TRUTH_COLUMNS, *extra])


def _append_gate_rule(artifacts: dict[str, Path]) -> None:
    """Add the champion gate's rule to the model card written by the trainer."""
    from training.gate import GATE_RULE_MD

    card = artifacts.get("model_card.md")
    if card is not None and Path(card).is_file():
        text = Path(card).read_text(encoding="utf-8").rstrip("\n")
        Path(card).write_text(f"{text}\n\n{GATE_RULE_MD}", encoding="utf-8")


def _fairness(
    result: Any,
    table: pd.DataFrame,
    data_dir: Path | None,
    out: Path,
    capacity: int,
    n_boot: int,
    seed: int,
) -> tuple[dict[str, float], str]:
    """Fairness report of the test window: files into the run's artifacts, section into the
    model card; returns the metrics to log and the note on what it could not cover
    (``training/fairness.py``; "" when complete)."""
    from training import fairness
    from training.report import with_fairness

    minority = fairness.read_minority_status(data_dir)
    n_boot = boot_replicates(len(result.test_frame), n_boot)  # the evaluation's row budget
    frame = fairness.fairness_frame(result.test_frame, table, minority)
    report = fairness.fairness_report(frame, capacity=capacity, n_boot=n_boot, seed=seed)
    note = fairness.missing_note(table, minority)
    if note:
        logger.info("%s", note)
    files = fairness.write(report, out / "fairness", capacity, n_boot)
    result.artifacts.update(files)
    card = result.artifacts.get("model_card.md")
    if card is not None and Path(card).is_file():
        text = Path(card).read_text(encoding="utf-8")
        if report.empty:
            section = f"## Fairness\n{note}"
        else:
            section = fairness.markdown(report, capacity, n_boot) + (f"\n\n{note}" if note else "")
        Path(card).write_text(with_fairness(text, section), encoding="utf-8")
    return fairness.metric_dict(report), note


def _protected_dir(explicit: Path | None, truth_dir: Path | None) -> Path | None:
    """Where the protected attributes are: given, beside ``truth/``, or the state's data folder."""
    from vbsp_state.settings import get_state

    for cand in (explicit, Path(truth_dir).parent if truth_dir else None, get_state().data_dir):
        if cand is not None and any(Path(cand).glob("protected_attributes*")):
            return Path(cand)
    return None


def data_dir_of(explicit: Path | None, truth_dir: Path | None) -> Path | None:
    """The data folder with the bank's ``loans``: given, beside ``truth/``, or the state's."""
    from vbsp_state.settings import get_state

    def candidates() -> Iterator[Path | None]:
        yield explicit
        yield Path(truth_dir).parent if truth_dir else None
        yield get_state().data_dir  # read last: a given folder needs no valid settings

    for cand in candidates():
        if cand is not None and any(Path(cand).glob("loans*")):
            return Path(cand)
    return None


def pool_with_data_loan_terms(pool: pd.DataFrame, data_dir: Path | None) -> pd.DataFrame:
    """The application model's pool with each snapshot's main-loan terms in the application
    columns (:mod:`features.application_pool`; chosen by measurement, README "Application
    model"); as it is, with a warning, when no data folder with ``loans`` is found."""
    from features import storage
    from features.application_pool import pool_with_loan_terms
    from features.feature_table import feature_columns
    from training.training_table import compact

    if data_dir is None:
        logger.warning(
            "no data folder with loans found: the pool's application fields stay "
            "empty, so the booster cannot learn from them (give --data)"
        )
        return pool
    loans = storage.read_raw(data_dir, "loans")
    households = storage.read_raw(data_dir, "households")
    out = pool_with_loan_terms(pool, loans, households)
    return compact(out, feature_columns(out))


def hazard_events(data_dir: Path | None) -> pd.DataFrame | None:
    """The bank's ``hazard_events`` of the data folder, for the hazard level
    (:mod:`training.hazard_level`); ``None`` (logged) when the folder has none."""
    if data_dir is None or not any(Path(data_dir).glob("hazard_events*")):
        logger.info("no hazard_events in the data folder: the hazard level is not applied")
        return None
    from features import storage

    return storage.read_raw(data_dir, "hazard_events")


def disbursement_dates(table: pd.DataFrame, data_dir: Path | None) -> pd.Series | None:
    """Pay-out date by ``loan_id`` of the table's loans (application rows), for the state
    oracle (:func:`training.rankings.state_oracle_proba`); ``None`` without loans to look up."""
    if "loan_id" not in table.columns or data_dir is None:
        return None
    from features import storage

    loans = storage.read_raw(data_dir, "loans")[["loan_id", "disbursement_date"]]
    return loans.set_index("loan_id")["disbursement_date"]


NOT_ASKED = "the gate was not asked (--promote not given)"


@dataclass
class TrainingRun:
    """What :func:`run_training` did: the MLflow run, the registered version, the gate's answer.

    Attributes:
        run_id: The training run.
        experiment_id: Its experiment (one per view).
        model_name: The registered model it became a version of.
        model_version: That version.
        metrics: The trainer's test-window metrics, by ranking (``lightgbm``, ``practice`` ...).
        split: The trainer's split (windows, kind, reason).
        tracking_uri: The MLflow store written to.
        params: The trainer's parameters, with its stage timings.
        scorer: The registered model's scorer (its files).
        promoted: Whether the gate moved the champion alias to this version.
        reason: The gate's summary, or why it did not run.
        decision: The gate's decision, or ``None`` when it was not asked.
        seconds: Wall time of the whole training.
    """

    run_id: str
    experiment_id: str
    model_name: str
    model_version: str
    metrics: dict[str, Any]
    split: Any
    tracking_uri: str
    params: dict[str, Any]
    scorer: Any
    promoted: bool = False
    reason: str = NOT_ASKED
    decision: GateDecision | None = None
    seconds: float = 0.0


def run_training(
    features_path: Path,
    label: str = "trouble_12m",
    *,
    view: str = "portfolio",
    model_name: str | None = None,
    seed: int = 42,
    promote: bool = False,
    truth_dir: Path | None = None,
    capacity: int = 5,
    n_boot: int = N_BOOT,
    actor: str | None = None,
    reason: str = "",
    db_url: str | None = None,
    pool_features: Path | None = None,
    data_dir: Path | None = None,
    train_months: int | None = None,
    monotone: str = DEFAULT_MODE,
    monotone_tolerance: float = TOLERANCE,
) -> TrainingRun:
    """Train one view on a feature table, log the run, register the model, optionally gate it.

    Args:
        features_path: Parquet feature table (feature-table contract).
        label: Label column.
        view: ``portfolio`` or ``application``.
        model_name: Registered model name (default: ``overdue-risk-<view>`` for the project's
            own table, the file's stem for a brought-in one; see
            :func:`training.pyfunc_model.model_name_for`).
        seed: Seed of the split, the models and the bootstrap.
        promote: Run the champion gate on the new version.
        truth_dir: Simulator ``truth/`` folder (adds the oracle ranking).
        capacity: Visits per commune per month (capture at capacity).
        n_boot: Bootstrap replicates of the metrics' intervals.
        actor: Who trains (recorded by the gate).
        reason: Why (recorded by the gate).
        db_url: The service's database for the gate's audit (default: state settings).
        pool_features: Another Parquet feature table with the same label whose older rows join
            the training window (the portfolio view for the application model; see
            :data:`training.train.POOL_NOTE`). Its file hash is logged. For the application
            view each pool row gets its current main loan's terms in the application columns
            (:mod:`features.application_pool`), read from ``data_dir``'s ``loans``.
        data_dir: The data folder whose ``protected_attributes`` feed the fairness report
            (default: beside ``truth_dir``, else the state's data folder; without one the
            report leaves the ethnic dimension out).
        train_months: Train on the latest that many snapshot months of the training window
            (:func:`training.train.train_view`; ``None``: all, the default).
        monotone: ``catalog``, ``auto`` or ``off`` (:mod:`training.monotone`).
        monotone_tolerance: Validation AUC a group of constraints may cost and still be kept.

    The table is read by :func:`training.training_table.read_training_table`: the contract is
    checked on each row group as stored, and the training frame holds only the columns training
    uses, with numeric features as float32 (see ``docs/scale.md``).

    Returns:
        The :class:`TrainingRun`.

    Raises:
        FileNotFoundError: If the feature table or the truth folder is missing.
        ValueError: For a bad view, an unreadable table or one breaking the contract.
    """
    from training.train import train_view

    if view not in VIEWS:
        raise ValueError(f"view must be one of {list(VIEWS)}, not {view!r}")
    started = time.perf_counter()
    features_path = Path(features_path)
    if truth_dir is not None and not Path(truth_dir).exists():
        raise FileNotFoundError(f"truth folder {truth_dir} does not exist")
    table = read_training_table(features_path, label)
    model_name = model_name or model_name_for(table, view, features_path)
    pool = read_training_table(Path(pool_features), label) if pool_features is not None else None
    loans_dir = data_dir_of(data_dir, truth_dir)  # the bank's loans: pool terms, pay-out dates
    if pool is not None and view == "application":
        pool = pool_with_data_loan_terms(pool, loans_dir)
    uri = tracking.configure()
    experiment_id = tracking.ensure_experiment(tracking.experiment_name(view), uri)
    with tempfile.TemporaryDirectory(prefix="vbsp-train-") as tmp:
        result = train_view(
            table,
            label,
            view,
            Path(tmp),
            seed=seed,
            truth=read_truth(truth_dir),
            disbursed=disbursement_dates(table, loans_dir) if truth_dir else None,
            capacity_per_commune_month=capacity,
            n_boot=n_boot,
            pool=pool,
            pool_source=f"{Path(pool_features).stem} feature table" if pool_features else "",
            train_months=train_months,
            contract_checked=True,
            monotone=monotone,
            monotone_tolerance=monotone_tolerance,
            hazards=hazard_events(loans_dir),
        )
        _append_gate_rule(result.artifacts)
        fairness_metrics, fairness_note = _fairness(
            result, table, _protected_dir(data_dir, truth_dir), Path(tmp), capacity, n_boot, seed
        )
        run_name = f"{view} {label} seed {seed}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            tracking.log_training(
                result,
                table=table,
                label=label,
                view=view,
                seed=seed,
                features_path=features_path,
                extra_params={
                    "capacity_per_commune_month": capacity,
                    "n_boot": n_boot,
                    "truth": str(truth_dir) if truth_dir else "",
                    "train_months": train_months if train_months is not None else "all",
                    "training_dtypes": "real features float32, counts int8/int16",
                    "pool_features": str(pool_features) if pool_features else "",
                    "pool_sha256": tracking.file_sha256(Path(pool_features))
                    if pool_features
                    else "",
                },
            )
            mlflow.log_metrics(fairness_metrics)
            if result.monotone is not None:
                mlflow.log_metrics(
                    {tracking.metric_key(k): v for k, v in result.monotone.metrics().items()}
                )
            mlflow.set_tag("fairness.note", fairness_note or "complete")
            info = log_scorer_model(
                result.scorer,
                tracking.test_window_rows(table, result.test_frame, result.scorer.inputs, label),
                registered_model_name=model_name,
                metadata={"view": view, "label": label, "run_id": run.info.run_id},
            )
            run_id = run.info.run_id
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in {"view": view, "label": label, "run_id": run_id}.items():
        client.set_model_version_tag(model_name, version, key, value)
    out = TrainingRun(
        run_id=run_id,
        experiment_id=experiment_id,
        model_name=model_name,
        model_version=version,
        metrics=result.metrics,
        split=result.split,
        tracking_uri=uri,
        params=result.params,
        scorer=result.scorer,
    )
    if promote:
        from training.registry import promote as gate

        decision = gate(
            model_name,
            version,
            reason=reason or f"train --promote ({features_path.name}, seed {seed})",
            actor=actor,
            db_url=db_url,
        )
        out.promoted, out.reason, out.decision = decision.promoted, decision.summary, decision
    out.seconds = time.perf_counter() - started
    logger.info("trained %s v%s (run %s) in %.1f s", model_name, version, run_id, out.seconds)
    return out
