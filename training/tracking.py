"""MLflow tracking: where runs go, and what one training run logs.

The embedded default is a local SQLite tracking store and model registry,
``sqlite:///<state>/mlflow/mlflow.db``, with artifacts under ``<state>/mlflow/artifacts``
(``<state>`` is ``$VBSP_RISK_STATE_DIR``). ``MLFLOW_TRACKING_URI`` overrides it, so a team can
point at a shared MLflow server; with a SQLite URI the artifacts go next to the database file,
with a server they go where the server puts them.

One experiment per view (``overdue-risk-portfolio``, ``overdue-risk-application``). One run per
training logs:

* parameters (the trainer's, the label, view, seed) and the split (kind, reason, windows);
* the data fingerprint — SHA-256 of the feature-table file (or of the frame), row and household
  counts, labelled rows, label rate and ``as_of`` ranges;
* the feature list and the catalog version;
* every metric of every ranker with its interval, as ``<ranker>.<metric>`` (e.g.
  ``lightgbm.roc_auc_lo``), the per-window backtest as stepped metrics
  ``backtest.<ranker>.<metric>`` and each feature's mean absolute SHAP value
  (``shap_mean_abs.<feature>``);
* the trainer's artifacts (plots, backtest table, model card, metrics.json) and the test window
  (``gate/test_window.parquet``) so the champion gate can re-score any model on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from training.hazard_level import EXPOSURE_COLUMN
from vbsp_state import settings
from vbsp_state.registry_names import PREFIX
from vbsp_state.settings import get_state

logger = logging.getLogger(__name__)

EXPERIMENT_PREFIX = PREFIX
TEST_WINDOW_ARTIFACT = "gate/test_window.parquet"
"""Run artifact holding the test window (keys, label and features) for the champion gate."""
PARAM_MAX = 6000
_METRIC_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")


def default_tracking_uri(state_dir: Path | None = None) -> str:
    """The embedded store: ``sqlite:///<state>/mlflow/mlflow.db`` (absolute path)."""
    return settings.default_tracking_uri(get_state().state_dir if state_dir is None else state_dir)


def tracking_uri(state_dir: Path | None = None) -> str:
    """The configured tracking URI (``$MLFLOW_TRACKING_URI`` / ``$VBSP_RISK_TRACKING_URI``), else
    the embedded SQLite store of ``state_dir`` (default: the state folder)."""
    return get_state(state_dir).mlflow_uri


def artifact_root(uri: str) -> str | None:
    """Where experiments created here keep artifacts: next to a SQLite store, else the server's.

    Args:
        uri: A tracking URI.

    Returns:
        A ``file://`` URI for SQLite stores, ``None`` (server default) otherwise.
    """
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.resolve().parent / "artifacts").as_uri()
    return None


def configure(state_dir: Path | None = None) -> str:
    """Point MLflow (tracking and registry) at the store; create the local folder if needed.

    Returns:
        The tracking URI in use.
    """
    uri = tracking_uri(state_dir)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    logger.debug("MLflow tracking store: %s", uri)
    return uri


def experiment_name(view: str) -> str:
    """The experiment of a view (``overdue-risk-<view>``)."""
    return f"{EXPERIMENT_PREFIX}-{view}"


def ensure_experiment(name: str, uri: str | None = None) -> str:
    """The id of experiment ``name``, created (with the local artifact root) if absent."""
    uri = uri or mlflow.get_tracking_uri()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root(uri))


# --- what a run logs -------------------------------------------------------------------------


def frame_sha256(df: pd.DataFrame) -> str:
    """A content hash of a frame (values, column names and dtypes; not the index)."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_fingerprint(df: pd.DataFrame, label: str, path: Path | None = None) -> dict[str, Any]:
    """What the model was trained on, in a few comparable numbers.

    Args:
        df: The feature table.
        label: The label column trained on.
        path: The Parquet file it was read from (hashed as bytes when given).

    Returns:
        ``sha256`` (file, or frame when no path), ``frame_sha256``, row/household counts,
        labelled rows, positives, label rate and the ``as_of`` range of all and of labelled rows.
    """
    y = df[label]
    labelled = y.notna()
    as_of = pd.to_datetime(df["as_of"])
    fp: dict[str, Any] = {
        "frame_sha256": frame_sha256(df),
        "rows": len(df),
        "households": int(df["household_id"].nunique()),
        "labelled_rows": int(labelled.sum()),
        "positives": int(y[labelled].astype("int64").sum()),
        "label_rate": float(y[labelled].astype("float64").mean()) if labelled.any() else math.nan,
        "as_of_min": str(as_of.min().date()) if len(df) else "",
        "as_of_max": str(as_of.max().date()) if len(df) else "",
        "labelled_as_of_max": str(as_of[labelled].max().date()) if labelled.any() else "",
    }
    fp["sha256"] = file_sha256(path) if path is not None else fp["frame_sha256"]
    if path is not None:
        fp["path"] = str(Path(path).resolve())
    return fp


def metric_key(name: str) -> str:
    """An MLflow-valid metric or parameter key (alphanumerics, ``_ - . /`` and spaces)."""
    return _METRIC_BAD.sub("_", str(name))[:250]


def flatten_metrics(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``{ranker: {metric: value}}`` → ``{"ranker.metric": value}``.

    Non-numbers and non-finite values (metrics that do not apply, such as the calibration of a
    practice ranking, or cannot be computed) are left out.
    """
    out: dict[str, float] = {}
    for ranker, values in metrics.items():
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                continue
            if not math.isfinite(float(value)):  # not applicable (e.g. calibration of a rank)
                continue
            out[metric_key(f"{ranker}.{name}")] = float(value)
    return out


def _plain(value: Any) -> Any:
    """JSON-able version of a value (dataclasses, paths, timestamps, numpy scalars)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, pd.Timestamp, pd.Period)):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Parameters → ``{"a.b": "value"}`` strings within MLflow's length limit.

    One level of nesting (up to 30 entries) is flattened into dotted keys; deeper or larger
    values are stored as JSON.
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        name = metric_key(f"{prefix}{key}")
        if isinstance(value, Mapping) and 0 < len(value) <= 30 and not prefix:
            out.update(flatten_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(_plain(value), sort_keys=True)
        out[name] = text[:PARAM_MAX]
    return out


def backtest_metrics(backtest: pd.DataFrame) -> list[tuple[str, float, int]]:
    """Per-window backtest rows as ``(key, value, step)`` stepped metrics.

    A long table (one row per window and ranker, with a ``ranker`` column) gives
    ``backtest.<ranker>.<metric>``; a wide one gives ``backtest.<metric>``. The step is the
    window's position in time order.
    """
    if backtest is None or backtest.empty:
        return []
    window_col = next((c for c in ("window", "cutoff", "test_start") if c in backtest), None)
    windows = list(dict.fromkeys(backtest[window_col])) if window_col else None
    numeric = [
        c
        for c in backtest.columns
        if pd.api.types.is_numeric_dtype(backtest[c])
        and not pd.api.types.is_bool_dtype(backtest[c])
        and c != window_col
    ]
    out: list[tuple[str, float, int]] = []
    for i, (_, row) in enumerate(backtest.iterrows()):
        step = windows.index(row[window_col]) if windows else i
        head = f"backtest.{row['ranker']}" if "ranker" in backtest else "backtest"
        for c in numeric:
            v = row[c]
            if pd.notna(v):
                out.append((metric_key(f"{head}.{c}"), float(v), int(step)))
    return out


def log_training(
    result: Any,
    *,
    table: pd.DataFrame,
    label: str,
    view: str,
    seed: int,
    features_path: Path | None = None,
    extra_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Log a training result into the active run (see the module docstring for the contents).

    Args:
        result: A :class:`training.train.TrainResult`.
        table: The feature table trained on.
        label: Label column.
        view: ``portfolio`` or ``application``.
        seed: Random seed of the training.
        features_path: The Parquet file of the table (hashed, and recorded as a tag).
        extra_params: More parameters to log (e.g. capacity, bootstrap replicates).

    Returns:
        The data fingerprint that was logged.

    Raises:
        RuntimeError: If no run is active.
    """
    from features.catalog import CATALOG_VERSION

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_training needs an active MLflow run")
    scorer = result.scorer
    fp = data_fingerprint(table, label, features_path)
    split = _plain(result.split)
    model_params = dict(result.params or {})
    shap = model_params.pop("shap_mean_abs", None) or {}
    params = {
        "label": label,
        "view": view,
        "seed": seed,
        "catalog_version": CATALOG_VERSION,
        "n_features": len(scorer.names),
        **dict(extra_params or {}),
        **{f"model.{k}": v for k, v in model_params.items()},
    }
    mlflow.log_params(flatten_params(params))
    mlflow.log_params(flatten_params({f"data.{k}": v for k, v in fp.items()}))
    mlflow.log_params(flatten_params({"split": split}))
    mlflow.set_tags(
        {
            "view": view,
            "label": label,
            "catalog_version": CATALOG_VERSION,
            "data.sha256": fp["sha256"],
            "split.kind": str(split.get("kind", "")),
            "split.reason": str(split.get("reason", ""))[:5000],
            "features_path": fp.get("path", ""),
        }
    )
    mlflow.log_metrics(flatten_metrics(result.metrics))
    mlflow.log_metrics(flatten_metrics({"shap_mean_abs": shap}))
    now = int(time.time() * 1000)
    stepped = [Metric(k, v, now, step) for k, v, step in backtest_metrics(result.backtest)]
    if stepped:
        MlflowClient().log_batch(run.info.run_id, metrics=stepped, synchronous=True)
    mlflow.log_dict(
        {
            "names": list(scorer.names),
            "categorical": dict(scorer.categorical),
            "catalog_version": CATALOG_VERSION,
        },
        "features.json",
    )
    mlflow.log_dict(_plain(fp), "data_fingerprint.json")
    mlflow.log_dict(split, "split.json")
    mlflow.log_dict(_plain(result.metrics), "metrics_all.json")
    for name, path in dict(result.artifacts or {}).items():
        path = Path(path)
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=f"training/{name}")
        elif path.is_file():
            mlflow.log_artifact(str(path), artifact_path="training")
        else:
            logger.warning("artifact %s (%s) does not exist; not logged", name, path)
    window = test_window_rows(table, result.test_frame, scorer.inputs, label)
    log_test_window(window)
    return fp


WINDOW_KEYS = ("household_id", "as_of", "loan_id")


def test_window_rows(
    table: pd.DataFrame, test_frame: pd.DataFrame, names: list[str], label: str
) -> pd.DataFrame:
    """The feature-table rows of the test window: keys, commune, label and the model's features.

    The rows are taken from ``table`` by the keys of ``test_frame`` (``household_id``, ``as_of``
    and ``loan_id`` when both have it), so whatever columns the trainer kept in its test frame,
    the gate gets the features exactly as the table has them; the test frame's realised hazard
    exposure (:data:`training.hazard_level.EXPOSURE_COLUMN`), when the trainer computed one,
    comes along for the gate's calibration checks.
    """
    keys = [k for k in WINDOW_KEYS if k in table.columns and k in test_frame.columns]
    cols = list(dict.fromkeys([*keys, *(c for c in ("commune_id",) if c in table), label, *names]))
    carried = [c for c in (EXPOSURE_COLUMN,) if c in test_frame.columns and c not in cols]
    picked = test_frame[[*keys, *carried]].drop_duplicates(keys)
    picked = picked.assign(as_of=pd.to_datetime(picked["as_of"]).astype(table["as_of"].dtype))
    return table[cols].merge(picked, on=keys, how="inner").reset_index(drop=True)


def log_test_window(window: pd.DataFrame) -> None:
    """Store the test window with the active run (and its range as tags) for the champion gate."""
    as_of = pd.to_datetime(window["as_of"])
    if len(window):
        mlflow.set_tags(
            {
                "test.as_of_min": str(as_of.min().date()),
                "test.as_of_max": str(as_of.max().date()),
                "test.rows": str(len(window)),
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(TEST_WINDOW_ARTIFACT).name
        window.reset_index(drop=True).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(TEST_WINDOW_ARTIFACT).parent))


def load_test_window(run_id: str) -> pd.DataFrame:
    """The test window stored with a training run.

    Raises:
        FileNotFoundError: If the run has none.
    """
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=TEST_WINDOW_ARTIFACT, dst_path=tmp
            )
        except Exception as err:  # MLflow raises several types here
            raise FileNotFoundError(f"run {run_id} has no {TEST_WINDOW_ARTIFACT}: {err}") from err
        return pd.read_parquet(local)
