"""Risk bands: the documented cut-offs that turn a probability of trouble into a word.

The district's observed 12-month trouble rate is about 5%. A household is:

=============  ==================  ============================
band           probability         Vietnamese
=============  ==================  ============================
``low``        below 5%            thấp
``medium``     5% to below 10%     trung bình
``high``       10% to below 20%    cao
``very_high``  20% or more         rất cao
=============  ==================  ============================
"""

from __future__ import annotations

import bisect

BANDS: tuple[tuple[str, float], ...] = (
    ("low", 0.0),
    ("medium", 0.05),
    ("high", 0.10),
    ("very_high", 0.20),
)
"""Band name and the lowest probability in it, in increasing order."""

BAND_NAMES: tuple[str, ...] = tuple(name for name, _ in BANDS)
BAND_VI = {"low": "thấp", "medium": "trung bình", "high": "cao", "very_high": "rất cao"}
_LOWER = [lower for _, lower in BANDS]


def band(probability: float) -> str:
    """The band of a probability in [0, 1].

    Raises:
        ValueError: If the probability is outside [0, 1] or not a number.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability {probability!r} is outside [0, 1]")
    return BANDS[bisect.bisect_right(_LOWER, probability) - 1][0]
