"""The scorer as an MLflow pyfunc model: feature frame in, calibrated probability out.

The model's artifacts are the three files of a :class:`training.scorer.Scorer`
(``booster.txt``, ``calibrator.json``, ``features.json``); :class:`ScorerModel` loads them with
:meth:`Scorer.load` and predicts with :meth:`Scorer.predict_proba`, so
``mlflow.pyfunc.load_model("models:/overdue-risk-application@champion").predict(frame)`` gives
exactly the service's probabilities.

The model is logged *from code* (this file is the model's code, no pickle); loading it needs the
project installed (``training.scorer``) and LightGBM, as the service does.

Input signature — serving's types: booleans **boolean**, integer counts **long**, everything
else **double**; categorical features are declared **Any** (:class:`mlflow.types.schema.AnyType`)
and read as their string values. Not ``string``: MLflow's schema check refuses a pandas
``category`` column for a ``string`` spec ("Can not safely convert category to <U0"), so the
feature table exactly as ``vbsp-risk features`` writes it (``pd.read_parquet`` gives
``category`` columns) could not be scored; with ``Any`` a category, object or string column
passes, and :meth:`training.scorer.Scorer.frame` maps every value onto the declared category set
as before. :func:`schema_types` reports these columns as ``string`` and :func:`to_model_input`
turns a feature table into serving's shape (object columns of strings). Output: one ``double``
column, the calibrated probability of trouble.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
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
from mlflow.types.schema import AnyType

from training.scorer import DIGEST_TAG, Scorer, file_digests
from vbsp_state.registry_names import model_name

logger = logging.getLogger(__name__)

ARTIFACT_KEYS = {
    "booster": "booster.txt",
    "calibrator": "calibrator.json",
    "features": "features.json",
}
MODEL_NAME = "model"
"""Name of the logged model within a run."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
REQUIREMENTS = ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")


def model_name_for(table: pd.DataFrame, view: str, path: Path) -> str:
    """The registered model a table's training becomes a version of, when none is named.

    The project's own table (its features are exactly the view's catalog features, as
    ``vbsp-risk features`` writes them) → :func:`vbsp_state.registry_names.model_name`, the model the service and
    the champion gate use. Any other table — a data team's own, with extra or fewer columns — is
    a different data set, so it gets its own model, named after the file (its stem, characters
    outside ``A-Z a-z 0-9 . _ -`` replaced by ``-``): otherwise its runs would become new
    versions of the district's model and could even be gated against its champion.
    """
    from features.catalog import all_feature_names
    from features.feature_table import feature_columns

    if set(feature_columns(table)) == set(all_feature_names(view)):
        return model_name(view)
    stem = _UNSAFE.sub("-", Path(path).stem).strip("-.")
    return stem or model_name(view)


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
    for name in scorer.inputs:
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
    """The input schema of :func:`column_types` (categorical ``string`` columns as ``Any``, see
    the module docstring)."""
    return Schema([ColSpec(AnyType() if t == "string" else t, name) for name, t in types.items()])


def schema_types(model: Any) -> dict[str, str]:
    """Column types of a loaded pyfunc model's input schema (``{}`` without a signature);
    ``Any`` columns (categorical features) are reported as ``string``."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return {}
    return {
        c.name: "string" if isinstance(c.type, AnyType) else getattr(c.type, "name", str(c.type))
        for c in schema.inputs
    }


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
                    registered_model_name,
                    str(info.registered_model_version),
                    DIGEST_TAG + file,
                    digest,
                )
    logger.info(
        "logged model %s%s",
        info.model_uri,
        f" as {registered_model_name} v{info.registered_model_version}"
        if registered_model_name
        else "",
    )
    return info


mlflow.models.set_model(ScorerModel())
