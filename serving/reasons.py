"""Readable reasons for a score, from LightGBM's per-prediction contributions.

The features with the largest positive contributions to the log-odds are the reasons the risk is
high. Each is turned into a short English and Vietnamese sentence by the feature catalog's reason
templates (:func:`features.reason_text.reason_text`), so training, docs and serving share one text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from features.numbers import finite_or_none
from features.reason_text import reason_text

TOP_K = 3
MIN_CONTRIBUTION = 1e-6
"""Contributions below this are noise, not reasons."""


def _plain(value: object) -> float | str | bool | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return value
    return finite_or_none(value)


def top_reasons(
    names: Sequence[str],
    contributions: np.ndarray,
    vector: Mapping[str, object],
    k: int = TOP_K,
) -> list[dict[str, object]]:
    """The ``k`` features pushing this score up the most, with texts in both languages.

    Args:
        names: Feature names in model order.
        contributions: One row of contributions (``len(names) + 1`` values; the last is the base).
        vector: The feature values that were scored.
        k: How many reasons at most.

    Returns:
        Dicts with ``feature``, ``value``, ``contribution``, ``text_en`` and ``text_vi``,
        largest contribution first; fewer than ``k`` when fewer features push the risk up.
    """
    contrib = np.asarray(contributions[: len(names)], dtype="float64").tolist()
    # Python's sort, not numpy's: numpy releases the GIL to sort, and the audit writer's thread
    # then kept the event loop waiting for it (up to the 5 ms switch interval) for a 66-value sort.
    # Stable and on the negated value, as ``np.argsort(-contrib, kind="stable")``.
    order = sorted(range(len(contrib)), key=lambda j: -contrib[j])[:k]
    out = []
    for j in order:
        if contrib[j] <= MIN_CONTRIBUTION:
            break
        name = names[j]
        value = _plain(vector.get(name))
        out.append(
            {
                "feature": name,
                "value": value,
                "contribution": round(float(contrib[j]), 6),
                "text_en": reason_text(name, value, "en"),
                "text_vi": reason_text(name, value, "vi"),
            }
        )
    return out
