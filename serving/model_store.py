"""The champion models, loaded natively from MLflow's artifacts and swapped atomically.

At start and on reload the service resolves ``models:/<name>@<alias>`` in the registry, downloads
that version's three scorer files (LightGBM booster, calibrator, feature specification), and
builds a :class:`LoadedModel` that scores a numpy matrix directly with the booster — not through
``mlflow.pyfunc`` per request, which costs far more than a raw booster call. A model is only
swapped in after its booster file passed :func:`~serving.model_checks.check_booster` (LightGBM
kills the process on a truncated file) and a smoke check; a request holds a reference to the model it started with, so
in-flight requests finish on the old model while new ones get the new.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from features.catalog import VIEWS, all_feature_names, model_inputs
from serving.fast_predict import SingleRowPredictor
from serving.feature_matrix import FeatureMatrix
from serving.model_checks import (
    ModelLoadError,
    check_booster,
    check_digests,
    read_example,
    registry_client,
    smoke_check,
)
from training.scorer import Calibrator, Scorer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One registered model version, ready to score feature vectors with numpy.

    Attributes:
        name: Registered model name.
        version: Registered version.
        view: Feature view it was trained on (``portfolio`` | ``application``).
        names: Feature names in model order.
        scorer: The scorer (booster, calibrator, specification).
        codes: For each categorical feature, category → integer code as seen in training.
        run_id: MLflow run that produced it.
        loaded_at: When this process loaded it.
    """

    name: str
    version: str
    view: str
    names: tuple[str, ...]
    scorer: Scorer
    codes: Mapping[str, Mapping[str, int]]
    run_id: str = ""
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def calibrator(self) -> Calibrator:
        """The calibration fitted on the validation window."""
        return self.scorer.calibrator

    @cached_property
    def encoder(self) -> FeatureMatrix:
        """The encoding of feature vectors into the booster's matrix (with its row cache)."""
        return FeatureMatrix(self.names, self.codes, self.scorer.money)

    def matrix(self, vectors: Sequence[Mapping[str, object]]) -> np.ndarray:
        """:meth:`FeatureMatrix.matrix`: feature vectors as the booster's float matrix."""
        return self.encoder.matrix(vectors)

    def application_matrix(
        self,
        stored_rows: Sequence[Mapping[str, object]],
        applications: Sequence[Mapping[str, object]],
    ) -> np.ndarray:
        """:meth:`FeatureMatrix.application_matrix`: stored rows with their applications."""
        return self.encoder.application_matrix(stored_rows, applications)

    def matrix_from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`FeatureMatrix.matrix_from_frame`: a feature table's rows."""
        return self.encoder.matrix_from_frame(frame)

    @cached_property
    def single_row(self) -> SingleRowPredictor:
        """LightGBM's one-row fast path (one application per request), built on first use."""
        return SingleRowPredictor(self.scorer.booster, len(self.names))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of trouble for a matrix from :meth:`matrix`."""
        if x.shape[0] == 1:
            return np.array([self.scorer.calibrator.one(self.single_row.probability(x[0]))])
        raw = self.scorer.booster.predict(x, num_threads=1)
        return np.asarray(self.scorer.calibrator(raw), dtype="float64")

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the raw log-odds (last column: the expected value)."""
        if x.shape[0] == 1:
            return self.single_row.contributions(x[0]).reshape(1, -1)
        return np.asarray(self.scorer.booster.predict(x, num_threads=1, pred_contrib=True))


def _codes(scorer: Scorer) -> dict[str, dict[str, int]]:
    """Category codes per categorical feature, from the booster's own record when it has one."""
    cat_names = [n for n in scorer.names if n in scorer.categorical]
    recorded = getattr(scorer.booster, "pandas_categorical", None) or []
    out = {}
    for i, name in enumerate(cat_names):
        cats = recorded[i] if len(recorded) == len(cat_names) else scorer.categorical[name]
        out[name] = {str(c): k for k, c in enumerate(cats)}
    return out


def from_scorer(scorer: Scorer, name: str, version: str, run_id: str = "") -> LoadedModel:
    """Wrap a scorer; its view and features must be the catalog's.

    Raises:
        ModelLoadError: If the feature list does not match the catalog's view.
    """
    view = str(scorer.meta.get("view", ""))
    if view not in VIEWS:
        raise ModelLoadError(f"{name} v{version}: unknown view {view!r} in features.json")
    expected = model_inputs(all_feature_names(view))
    if list(scorer.names) != list(expected):
        missing = sorted(set(expected) ^ set(scorer.names))
        raise ModelLoadError(
            f"{name} v{version}: features differ from the catalog's {view} view: {missing[:5]}"
        )
    return LoadedModel(name, version, view, tuple(scorer.names), scorer, _codes(scorer), run_id)


def resolve(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """The registered version ``name@alias`` points to.

    Raises:
        ModelLoadError: No such model or alias, or the registry is unreachable.
    """
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception as err:  # MlflowException or a transport error of a remote store
        raise ModelLoadError(f"cannot resolve models:/{name}@{alias}: {err}") from err


def load_registered(tracking_uri: str, name: str, alias: str) -> LoadedModel:
    """Resolve ``name@alias`` in the registry at ``tracking_uri``, download its scorer files,
    load and smoke-check them.

    Raises:
        ModelLoadError: With the reason (no such alias, missing or corrupt artifacts ...).
    """
    client = registry_client(tracking_uri)
    mv = resolve(client, name, alias)
    with tempfile.TemporaryDirectory(prefix="vbsp-model-") as tmp:
        try:
            source = client.get_model_version_download_uri(name, str(mv.version))
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri
            )
            model_dir = Path(local)
            if not check_digests(mv.tags or {}, model_dir / "artifacts"):
                logger.warning(
                    "%s v%s has no registered file checksums: files not verified", name, mv.version
                )
            if (model_dir / "artifacts" / "booster.txt").is_file():
                check_booster(model_dir / "artifacts" / "booster.txt")
            scorer = Scorer.load(model_dir / "artifacts")
        except Exception as err:
            raise ModelLoadError(f"cannot load {name} v{mv.version}: {err}") from err
        model = from_scorer(scorer, name, str(mv.version), mv.run_id or "")
        example = read_example(model_dir)
    if example is not None:
        example = example.reindex(columns=model.scorer.inputs)
    try:
        smoke_check(model, example)
    except ModelLoadError:
        raise
    except Exception as err:  # a calibrator with missing or mistyped parameters, say
        raise ModelLoadError(f"{name} v{mv.version}: smoke check failed: {err!r}") from err
    return model


class ModelHolder:
    """The current model of each view; reads are lock-free, swaps happen under a lock."""

    def __init__(self, models: Mapping[str, LoadedModel] | None = None) -> None:
        self._models: dict[str, LoadedModel] = dict(models or {})
        self._lock = threading.Lock()
        self.last_error: dict[str, str] = {}

    def get(self, view: str) -> LoadedModel | None:
        """The model serving ``view`` now (or ``None``)."""
        return self._models.get(view)

    def all(self) -> dict[str, LoadedModel]:
        """A snapshot of the loaded models by view."""
        return dict(self._models)

    def swap(self, view: str, model: LoadedModel) -> None:
        """Serve ``model`` for ``view`` from now on."""
        with self._lock:
            models = dict(self._models)
            models[view] = model
            self._models = models  # one reference assignment: readers see old or new, never half

    def reload(self, tracking_uri: str, names: Mapping[str, str], alias: str) -> dict[str, str]:
        """Load each view's ``alias`` version; keep the old model for a view that fails.

        Returns:
            For each view, ``"loaded vN"``, ``"unchanged vN"`` or ``"failed: reason"``.
        """
        report = {}
        for view, name in names.items():
            current = self.get(view)
            try:
                client = registry_client(tracking_uri)
                if current is not None:
                    version = str(resolve(client, name, alias).version)
                    if version == current.version and current.name == name:
                        report[view] = f"unchanged v{version}"
                        continue
                model = load_registered(tracking_uri, name, alias)
                if model.view != view:
                    raise ModelLoadError(f"{name} v{model.version} is a {model.view} model")
            except Exception as err:
                self.last_error[view] = str(err)
                logger.error("model for %s view not (re)loaded: %s", view, err)
                report[view] = f"failed: {err}"
                continue
            self.swap(view, model)
            self.last_error.pop(view, None)
            logger.info("serving %s v%s for the %s view", model.name, model.version, view)
            report[view] = f"loaded v{model.version}"
        return report
