"""Money in today's money: what the model reads instead of VND amounts.

Why. Loan sizes grow about 12 % a year in the district, so 20 M VND of debt per worker is a
heavy burden in 2012 and an ordinary one in 2024. A booster trained on fourteen
years of snapshots learns "more VND, more risk" within each year, and then reads the years'
growth as growing risk: on seed 37's portfolio view the two VND features added +0.34 to the mean
raw logit between 2013 and 2024 while the simulator's state oracle fell, and the level calibrated
on the validation year was +26 % too high two years later (``docs/measurements.md``, "The model's
level drifts against the truth"). Dividing every loan money feature by the district's typical loan at
``as_of`` (:data:`features.catalog.MONEY_SCALE`, the median amount the district disbursed in the
12 months before: bank-known and point-in-time) keeps each snapshot's ranking and takes the
years' prices out.

Which columns: the catalog's loan money (unit VND or VND/person, computed from ``loans``:
:func:`features.catalog.money_features`) among a model's inputs; savings are read as they are,
since deposits do not grow with loan sizes. A table without the scale column
(a brought-in table) is read as it is. Each rule lives here once: :class:`MoneyScale` divides a
frame for training, the pyfunc and batch scoring (:meth:`training.scorer.Scorer.frame`) and one
request's values for the service (:class:`serving.feature_matrix.FeatureMatrix`); tests check the
two agree. A scale that is missing, zero or negative leaves the row's money unknown (NaN): a
model never reads a nominal amount as if it were a relative one. Amounts and scale are read at
float32 precision, as the trainer holds them (:func:`training.training_table.compact`), so a
table read as float64 and its compacted copy give the same ratios bit for bit (a booster's bins
would otherwise differ between the two).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import MONEY_SCALE, money_features


@dataclass(frozen=True)
class MoneyScale:
    """Which model inputs are money and the column they are divided by.

    Attributes:
        scale: The scale column (:data:`features.catalog.MONEY_SCALE`).
        columns: The money features among the model's inputs, in model order.
    """

    scale: str
    columns: tuple[str, ...]

    @classmethod
    def of(cls, names: list[str], table_columns: list[str]) -> MoneyScale | None:
        """The scaling of a model with inputs ``names`` trained on a table with
        ``table_columns``; ``None`` when the table has no scale column or no money feature."""
        columns = tuple(money_features(names))
        if MONEY_SCALE not in table_columns or not columns:
            return None
        return cls(MONEY_SCALE, columns)

    @classmethod
    def from_params(cls, params: Mapping[str, object] | None) -> MoneyScale | None:
        """Read :meth:`to_params` back (``None`` for a model trained without it)."""
        if not params:
            return None
        return cls(str(params["scale"]), tuple(str(c) for c in params["columns"]))  # type: ignore[union-attr]

    @staticmethod
    def inputs(names: list[str], money: MoneyScale | None) -> list[str]:
        """Columns a model with features ``names`` reads: them, then the scale of ``money``."""
        return [*names, money.scale] if money is not None else list(names)

    def to_params(self) -> dict[str, object]:
        """JSON-ready form, stored with the model (the scorer's ``features.json``)."""
        return {"scale": self.scale, "columns": list(self.columns)}

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``df`` with every money column divided by its row's scale (``df`` untouched).

        Raises:
            KeyError: If the scale column is missing.
        """
        if self.scale not in df.columns:
            raise KeyError(f"feature columns missing: ['{self.scale}'] (money is read over it)")
        scale = _float32(df[self.scale])
        scale = np.where(scale > 0, scale, np.nan)
        present = [c for c in self.columns if c in df.columns]
        out = df.copy()
        for c in present:
            out[c] = _float32(df[c]) / scale
        return out

    def values(self, values: Mapping[str, object], scale: object) -> dict[str, object]:
        """``values`` (one row's, any subset of columns) with its money divided by ``scale``."""
        s = _positive(scale)
        out = dict(values)
        for c in self.columns:
            if c in out:
                v = _number(out[c])
                out[c] = None if v is None or s is None else v / s
        return out


def _float32(col: pd.Series) -> np.ndarray:
    """A column as float64 values held at float32 precision (non-numbers as NaN)."""
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values.astype("float32").astype("float64")


def _number(x: object) -> float | None:
    """``x`` at float32 precision as a float (NaN stays NaN), ``None`` when not a number."""
    if x is None or isinstance(x, bool):
        return None
    try:
        return float(np.float32(float(x)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _positive(x: object) -> float | None:
    """``x`` at float32 precision when it is a positive finite number, else ``None``."""
    f = _number(x)
    return f if f is not None and math.isfinite(f) and f > 0 else None
