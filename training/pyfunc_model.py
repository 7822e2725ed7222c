"""The scorer as an MLflow pyfunc model: feature frame in, calibrated probability out.

The model's artifacts are the three files of a :class:`training.scorer.Scorer`
(``booster.txt``, ``calibrator.json``, ``features.json``); :class:`ScorerModel` loads them with
:meth:`Scorer.load` and predicts with :meth:`Scorer.predict_proba`, so
``mlflow.pyfunc.load_model("models:/overdue-risk-application@champion").predict(frame)`` gives
exactly the service's probabilities.

The model is logged *from code* (this file is the model's code, no pickle); loading it needs the
project installed (``training.scorer``) and LightGBM, as the service does.

Input signature — serving's types: categorical features are **string** columns (values from the
declared category set, null allowed), booleans **boolean**, integer counts **long**, everything
else **double**. :func:`to_model_input` turns a feature table (pandas ``category``/``Int64``
columns) into that shape. Output: one ``double`` column, the calibrated probability of trouble.
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from training.scorer import DIGEST_TAG, Scorer, file_digests

logger = logging.getLogger(__name__)

ARTIFACT_KEYS = {
    "booster": "booster.txt",
    "calibrator": "calibrator.json",
    "features": "features.json",
}
MODEL_NAME = "model"
"""Name of the logged model within a run."""
REQUIREMENTS = ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")


def default_model_name(view: str) -> str:
    """Registered model name of a view: ``overdue-risk-portfolio`` / ``overdue-risk-application``."""
    return f"overdue-risk-{view}"


class ScorerModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of a :class:`Scorer` (booster + calibrator + feature specification)."""

    scorer: Scorer | None = None

    def load_context(self, context: Any) -> None:
        """Load the scorer from the model's three artifact files."""
        paths = {ARTIFACT_KEYS[k]: Path(v) for k, v in context.artifacts.items()}
        folders = {p.parent for p in paths.values()}
        if len(folders) == 1:
            self.scorer = Scorer.load(folders.pop())
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, path in paths.items():
                shutil.copy(path, Path(tmp) / name)
            self.scorer = Scorer.load(Path(tmp))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> np.ndarray:
        """Calibrated probabilities of trouble, one per row of ``model_input``."""
        if self.scorer is None:
            self.load_context(context)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return np.asarray(self.scorer.predict_proba(frame), dtype="float64")


def column_types(frame: pd.DataFrame, scorer: Scorer) -> dict[str, str]:
    """MLflow type of each model feature: ``string``, ``boolean``, ``long`` or ``double``.

    Args:
        frame: A feature table with the model's columns (their dtypes decide long vs double).
        scorer: The scorer (its categorical features are strings whatever the frame says).
    """
    types: dict[str, str] = {}
    for name in scorer.names:
        dtype = frame[name].dtype if name in frame.columns else np.dtype("float64")
        if name in scorer.categorical:
            types[name] = "string"
        elif pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
            types[name] = "boolean"
        elif pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
            types[name] = "long"
        else:
            types[name] = "double"
    return types


def input_schema(types: Mapping[str, str]) -> Schema:
    """The input schema of :func:`column_types`."""
    return Schema([ColSpec(t, name) for name, t in types.items()])


def schema_types(model: Any) -> dict[str, str]:
    """Column types of a loaded pyfunc model's input schema (``{}`` without a signature)."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return {}
    return {c.name: getattr(c.type, "name", str(c.type)) for c in schema.inputs}


def to_model_input(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """The frame as serving sends it: model columns only, cast to the signature's types.

    Categoricals become object columns of strings with ``None`` for nulls, booleans ``bool``,
    longs ``int64`` and the rest ``float64``.

    Raises:
        KeyError: If a model column is missing.
    """
    missing = [n for n in types if n not in frame.columns]
    if missing:
        raise KeyError(f"feature columns missing: {missing}")
    out = {}
    for name, kind in types.items():
        s = frame[name]
        if kind == "string":
            obj = s.astype("object")
            out[name] = obj.where(s.notna(), None).map(lambda v: v if v is None else str(v))
        elif kind == "boolean":
            out[name] = s.astype("bool")
        elif kind == "long":
            out[name] = s.astype("int64")
        else:
            out[name] = s.astype("float64")
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def _requirements() -> list[str]:
    reqs = []
    for dist in REQUIREMENTS:
        try:
            reqs.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            reqs.append(dist)
    return reqs


def log_scorer_model(
    scorer: Scorer,
    example: pd.DataFrame,
    registered_model_name: str | None = None,
    name: str = MODEL_NAME,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Log the scorer as a pyfunc model in the active run, and register it (with the SHA-256
    of its files as the version's ``sha256.<file>`` tags).

    Args:
        scorer: The trained scorer.
        example: Feature rows (e.g. the test window); their dtypes fix the signature and the first
            rows become the input example.
        registered_model_name: Register under this name (``None``: log only).
        name: Name of the logged model in the run.
        metadata: Stored in the MLmodel file (view, label, catalog version ...).

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version`` ...).
    """
    types = column_types(example, scorer)
    signature = ModelSignature(
        inputs=input_schema(types), outputs=Schema([ColSpec("double", "p_trouble")])
    )
    input_example = to_model_input(example.head(5), types)
    with tempfile.TemporaryDirectory() as tmp:
        folder = scorer.save(Path(tmp) / "scorer")
        artifacts = {key: str(folder / file) for key, file in ARTIFACT_KEYS.items()}
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).resolve()),
            artifacts=artifacts,
            signature=signature,
            input_example=input_example,
            registered_model_name=registered_model_name,
            pip_requirements=_requirements(),
            metadata=dict(metadata or {}),
        )
        if registered_model_name:
            client = mlflow.MlflowClient()
            for file, digest in file_digests(folder).items():
                client.set_model_version_tag(
                    registered_model_name, str(info.registered_model_version),
                    DIGEST_TAG + file, digest,
                )  # fmt: skip
    logger.info(
        "logged model %s%s",
        info.model_uri,
        f" as {registered_model_name} v{info.registered_model_version}"
        if registered_model_name
        else "",
    )
    return info


mlflow.models.set_model(ScorerModel())
