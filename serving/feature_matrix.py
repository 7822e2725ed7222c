"""Feature vectors as a booster's float matrix: categories as codes, missing as NaN.

One encoding for every path: :meth:`FeatureMatrix.matrix` (plain vectors),
:meth:`FeatureMatrix.matrix_from_frame` (a feature table, batch scoring and checks) and
:meth:`FeatureMatrix.application_matrix` (the service's requests: an online-store row's features
encoded once and kept, so a request encodes only its application's few features). A model that
reads money in today's money (:mod:`training.todays_money`) gets its money features divided by
the row's scale on every path, by :class:`~training.todays_money.MoneyScale`'s one rule. Tests
check the three give the same matrix, and the same as the scorer's pandas path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.online_store import stored_features
from training.todays_money import MoneyScale

HISTORY_CACHE_ROWS = 50_000
"""Encoded stored rows kept per model (about 2 KB each); the cache starts over beyond that."""


@dataclass(frozen=True)
class _Columns:
    """Some of a model's features: their positions, names and (categorical ones) codes."""

    indices: tuple[int, ...]
    names: tuple[str, ...]
    categorical: tuple[tuple[int, Mapping[str, int]], ...]  # (position here, codes)

    @classmethod
    def of(cls, columns: list[tuple[int, str]], codes: Mapping[str, Mapping[str, int]]) -> _Columns:
        return cls(
            tuple(j for j, _ in columns),
            tuple(n for _, n in columns),
            tuple((k, codes[n]) for k, (_, n) in enumerate(columns) if n in codes),
        )


class FeatureMatrix:
    """The encoding of one model's features.

    Args:
        names: Feature names in model order.
        codes: For each categorical feature, category → integer code as seen in training.
        money: How the model reads money (``None``: as it is).
    """

    def __init__(
        self,
        names: Sequence[str],
        codes: Mapping[str, Mapping[str, int]],
        money: MoneyScale | None = None,
    ) -> None:
        self.names = tuple(names)
        self.codes = codes
        self.money = money
        self._history_cache: dict[int, tuple[Mapping[str, object], tuple[float, ...], object]] = {}
        self._key_columns: dict[tuple[str, ...], _Columns] = {}

    def matrix(self, vectors: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Feature vectors as the booster's float matrix (categoricals as codes, missing as NaN).

        An unknown category is treated as missing, as LightGBM does for unseen categories.
        """
        money = self.money
        if money is not None:
            vectors = [money.values(vec, vec.get(money.scale)) for vec in vectors]
        return _finite(
            np.array(
                [self._encode(vec, self._all_columns) for vec in vectors], dtype="float64"
            ).reshape(len(vectors), len(self.names))
        )

    def application_matrix(
        self,
        stored_rows: Sequence[Mapping[str, object]],
        applications: Sequence[Mapping[str, object]],
    ) -> np.ndarray:
        """:meth:`matrix` of the vectors ``{**stored["features"], **application}``.

        A stored row's features are encoded once per model and kept (the online store's rows
        do not change; a new materialization gives new row objects), so a request encodes only
        its application's few features.

        Args:
            stored_rows: Online-store rows (``features`` decoded), treated as immutable.
            applications: Each row's application features
                (:func:`features.online_store.application_part`).
        """
        isfinite, nan = math.isfinite, math.nan
        money = self.money
        rows = []
        for stored, application in zip(stored_rows, applications, strict=True):
            history, scale = self._history(stored)
            row = list(history)
            columns = self._columns_of(tuple(application))
            if money is not None:  # the stored row holds the scale of its as_of
                application = money.values(application, scale)
            for j, value in zip(columns.indices, self._encode(application, columns), strict=True):
                # as matrix(): None is NaN to numpy, and what is not finite becomes NaN
                row[j] = value if value is None or isfinite(value) else nan  # type: ignore[arg-type]
            rows.append(row)
        return np.array(rows, dtype="float64").reshape(len(rows), len(self.names))

    def _encode(self, vector: Mapping[str, object], columns: _Columns) -> list:
        """``vector``'s values at ``columns``, categories mapped to their codes."""
        nan = math.nan
        row = [vector.get(name) for name in columns.names]
        for k, codes in columns.categorical:
            value = row[k]
            row[k] = nan if value is None else codes.get(str(value), nan)
        return row  # numpy turns None into NaN and booleans into 1.0 / 0.0

    def _history(self, stored: Mapping[str, object]) -> tuple[tuple[float, ...], object]:
        """A stored row encoded, and its money scale (``None`` when the model has none)."""
        cache = self._history_cache
        hit = cache.get(id(stored))
        if hit is not None and hit[0] is stored:  # the same object, not a reused id
            return hit[1], hit[2]
        features = stored_features(stored)
        row = tuple(self.matrix([features])[0].tolist())
        scale = features.get(self.money.scale) if self.money is not None else None
        if len(cache) >= HISTORY_CACHE_ROWS:  # rows of an earlier materialization, mostly
            cache.clear()
        cache[id(stored)] = (stored, row, scale)
        return row, scale

    def _columns_of(self, keys: tuple[str, ...]) -> _Columns:
        columns = self._key_columns.get(keys)
        if columns is None:
            present = set(keys)
            columns = self._key_columns[keys] = _Columns.of(
                [(j, n) for j, n in enumerate(self.names) if n in present], self.codes
            )
        return columns

    @cached_property
    def _all_columns(self) -> _Columns:
        return _Columns.of(list(enumerate(self.names)), self.codes)

    def matrix_from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """A feature table's rows as the booster's float matrix (same encoding as :meth:`matrix`)."""
        if self.money is not None:
            frame = self.money.frame(frame)
        x = np.empty((len(frame), len(self.names)))
        for j, name in enumerate(self.names):
            col = frame[name]
            codes = self.codes.get(name)
            if codes is not None:
                mapped = col.astype("object").map(codes)
                x[:, j] = pd.to_numeric(mapped, errors="coerce").to_numpy(dtype="float64")
            else:
                x[:, j] = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
        return _finite(x)


def _finite(x: np.ndarray) -> np.ndarray:
    x[~np.isfinite(x)] = math.nan
    return x
