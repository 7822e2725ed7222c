"""The whole scorer: feature frame in, calibrated probability of trouble out.

A :class:`Scorer` is a LightGBM booster, a calibrator fitted on the validation window, and the
feature specification it was trained on (names, order, categorical category sets). It is saved
as three plain files so the service can load the booster natively and score with numpy, and the
MLflow pyfunc wrapper can ship the same files as artifacts:

* ``booster.txt`` — LightGBM model text;
* ``calibrator.json`` — ``{"method": "platt", "a": .., "b": ..}`` (on the raw score's logit) or
  ``{"method": "isotonic", "x": [..], "y": [..]}`` (piecewise-linear on the raw probability), or
  ``{"method": "none"}``; any of them may add ``"hazard": {"shift", "beta", "exposure"}``,
  the level with the coming year's hazards integrated out (:mod:`training.hazard_level`);
* ``features.json`` — ``{"names": [...], "categorical": {name: [categories...]}, "label": ..,
  "view": .., "catalog_version": ..}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.hazard_level import at_exposure, integrate, integrate_one, logit
from training.todays_money import MoneyScale

FILES = ("booster.txt", "calibrator.json", "features.json")
DIGEST_TAG = "sha256."
"""Prefix of the model version tags holding the files' SHA-256 (``sha256.booster.txt`` ...)."""


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of each scorer file present in ``folder``, by file name.

    The registry keeps them as the model version's ``sha256.<file>`` tags, in the tracking
    database rather than beside the files, and the service checks what it downloads against them.
    """
    from training.tracking import file_sha256

    paths = [Path(folder) / name for name in FILES]
    return {p.name: file_sha256(p) for p in paths if p.is_file()}


def _check_hazard(level: object) -> None:
    """A stored hazard level must be usable: finite shift and effect, a non-empty list of finite
    exposures (a hand-edited or truncated ``calibrator.json`` fails here, by name)."""
    ok = isinstance(level, dict) and {"shift", "beta", "exposure"} <= set(level)
    if ok:
        values = [level["shift"], level["beta"], *(level["exposure"] or [])]
        ok = bool(level["exposure"]) and all(
            isinstance(v, int | float) and math.isfinite(v) for v in values
        )
    if not ok:
        raise ValueError(
            "calibrator.json: hazard must hold a finite shift and beta and a non-empty list of "
            f"finite exposures, not {str(level)[:120]}"
        )


@dataclass
class Calibrator:
    """Maps the booster's raw probability to a calibrated one."""

    method: str = "none"
    params: dict = field(default_factory=dict)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw booster probabilities (integrated over the hazard
        climatology when the calibrator holds a ``hazard`` level, :mod:`training.hazard_level`)."""
        p = self._base(np.asarray(raw, dtype="float64"))
        hazard = self.params.get("hazard")
        return integrate(p, hazard) if hazard else p

    def at_exposure(self, raw: np.ndarray, exposure: np.ndarray) -> np.ndarray | None:
        """Calibrated probabilities at a realised hazard exposure (one per row), or ``None``
        when the calibrator holds no ``hazard`` level (:func:`training.hazard_level.at_exposure`)."""
        hazard = self.params.get("hazard")
        if not hazard:
            return None
        return at_exposure(self._base(np.asarray(raw, dtype="float64")), hazard, exposure)

    def _base(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "platt":
            z = self.params["a"] * logit(raw) + self.params["b"]
            return 1.0 / (1.0 + np.exp(-z))
        if self.method == "isotonic":
            return np.interp(raw, *self._knots)
        if self.method == "none":
            return raw
        raise ValueError(f"unknown calibration method {self.method!r}")

    def one(self, raw: float) -> float:
        """:meth:`__call__` for one probability, with scalar arithmetic (a request's path:
        numpy's per-call overhead on a one-element array was ten times the arithmetic)."""
        p = self._base_one(raw)
        hazard = self.params.get("hazard")
        return integrate_one(p, hazard) if hazard else p

    def _base_one(self, raw: float) -> float:
        if self.method == "platt":
            p = min(max(raw, 1e-9), 1 - 1e-9)
            z = self.params["a"] * math.log(p / (1 - p)) + self.params["b"]
            return 1.0 / (1.0 + math.exp(-z))
        if self.method == "isotonic":
            return float(np.interp(raw, *self._knots))
        if self.method == "none":
            return float(raw)
        raise ValueError(f"unknown calibration method {self.method!r}")

    def with_params(self, **extra: object) -> Calibrator:
        """The same calibrator with ``extra`` parameters added (e.g. a ``hazard`` level)."""
        return Calibrator(self.method, {**self.params, **extra})

    @cached_property
    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        # Converting the stored lists on every call cost more than the interpolation itself.
        return (
            np.asarray(self.params["x"], dtype="float64"),
            np.asarray(self.params["y"], dtype="float64"),
        )

    def to_json(self) -> str:
        """Serialise (floats exactly)."""
        return json.dumps({"method": self.method, **self.params})

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        method = d.pop("method")
        if "hazard" in d:
            _check_hazard(d["hazard"])
        return cls(method, d)


@dataclass
class Scorer:
    """Booster + calibrator + feature specification.

    Attributes:
        booster: The trained LightGBM booster.
        calibrator: Calibration fitted on the validation window.
        names: Feature names in model order.
        categorical: Declared category set of each categorical feature.
        meta: Label, view, catalog version and anything else worth keeping with the model.
    """

    booster: lgb.Booster
    calibrator: Calibrator
    names: list[str]
    categorical: dict[str, list[str]]
    meta: dict = field(default_factory=dict)

    @property
    def money(self) -> MoneyScale | None:
        """How the model reads money (:mod:`training.todays_money`; ``None``: as it is)."""
        return MoneyScale.from_params(self.meta.get("money"))

    @property
    def inputs(self) -> list[str]:
        """Columns the model reads: its features, then the money scale when it has one."""
        return MoneyScale.inputs(self.names, self.money)

    def frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model's input frame: columns in model order, money in today's money
        (:attr:`money`), categoricals with declared categories.

        Raises:
            KeyError: If a model feature (or the money scale) is missing.
        """
        missing = [n for n in self.inputs if n not in features.columns]
        if missing:
            raise KeyError(f"feature columns missing: {missing}")
        money = self.money
        if money is not None:  # a new frame already: no second copy
            x = money.frame(features[self.inputs])[self.names]
        else:
            x = features[self.names].copy()
        for name, cats in self.categorical.items():
            x[name] = pd.Categorical(x[name].astype("object"), categories=cats)
        for name in self.names:
            if name not in self.categorical and x[name].dtype == bool:
                x[name] = x[name].astype("int8")
        return x

    def raw_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Uncalibrated booster probabilities."""
        return self.booster.predict(self.frame(features))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities of trouble."""
        return self.calibrator(self.raw_proba(features))

    def predict_proba_at(self, features: pd.DataFrame, exposure: np.ndarray) -> np.ndarray | None:
        """Calibrated probabilities at each row's realised hazard exposure (``None`` without a
        hazard level): what the champion gate judges calibration on (:meth:`Calibrator.at_exposure`)."""
        return self.calibrator.at_exposure(self.raw_proba(features), exposure)

    def save(self, folder: Path) -> Path:
        """Write the three files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "booster.txt"))
        (folder / "calibrator.json").write_text(self.calibrator.to_json())
        spec = {"names": self.names, "categorical": self.categorical, **self.meta}
        (folder / "features.json").write_text(json.dumps(spec, indent=2, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Scorer:
        """Read a scorer written by :meth:`save`.

        Raises:
            FileNotFoundError: If a file is missing.
            ValueError: If a file is unreadable.
        """
        folder = Path(folder)
        for f in FILES:
            if not (folder / f).is_file():
                raise FileNotFoundError(f"scorer file {folder / f} is missing")
        try:
            booster = lgb.Booster(model_file=str(folder / "booster.txt"))
            calibrator = Calibrator.from_json((folder / "calibrator.json").read_text())
            spec = json.loads((folder / "features.json").read_text())
        except (lgb.basic.LightGBMError, json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"scorer in {folder} is unreadable: {err}") from err
        names, cats = spec.pop("names"), spec.pop("categorical")
        return cls(booster, calibrator, names, cats, spec)
