"""One conversion every layer needs: a value to a finite ``float`` or ``None``.

Tables carry missing numbers as NaN (and a ratio over zero as inf); JSON, the web pages and the
rules of an application want ``None`` for "no number". Declared once so that the service's
answers, its pages and the gate's records agree on what counts as missing.
"""

from __future__ import annotations

import math

import numpy as np


def finite_or_none(value: object) -> float | None:
    """``value`` as a finite float; ``None`` when missing (``None``, NaN, ``pd.NA``), infinite,
    a boolean or not a number.

    Examples:
        >>> finite_or_none(2), finite_or_none(float("nan")), finite_or_none("x")
        (2.0, None, None)
    """
    if value is None or isinstance(value, bool | np.bool_):
        return None
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
