"""Readable reason texts for a score's top reasons, rendered from the feature catalog.

The scoring service explains a score by the features with the largest positive contributions and
shows each as a short sentence in English or Vietnamese. The sentences are templates declared
once per feature in :mod:`features.catalog` (``Feature.reason_en`` / ``reason_vi``); this module
only fills them in. See :class:`features.catalog.Feature` for the placeholders.

Formatting rules (:func:`format_value`):

* ``VND`` and ``VND/person`` — whole VND, Vietnamese style ``12.500.000 ₫`` in ``vi`` and
  ``12,500,000 VND`` in ``en`` (the "per worker" part is in the sentence, not the value);
* ``ratio`` — whole percent, ``0.333`` → ``33%``;
* ``km`` — one decimal, ``3.5 km`` in ``en`` and ``3,5 km`` in ``vi``;
* ``flag`` — ``yes`` / ``no`` (``có`` / ``không``);
* ``category`` — the catalog's label in the language (:data:`features.catalog.CATEGORY_LABELS`),
  else the code as is;
* anything else (months, counts, sessions, persons, levels) — a whole number.

Numbers round half away from zero (``2.5`` → ``3``, ``0.125`` → ``13%``). A missing value
(``None``, NaN, ``pd.NA``) formats as ``—``; :func:`reason_text` uses the feature's
``reason_missing_*`` sentence for it instead (or ``"<description>: no data"``).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from features.catalog import CATEGORY_LABELS, FEATURES_BY_NAME

LANGS = ("en", "vi")
MISSING = "—"
_NOT = {"en": "not ", "vi": "không "}
_FLAG = {"en": ("no", "yes"), "vi": ("không", "có")}
_POINTS = {"en": "percentage points", "vi": "điểm phần trăm"}
_NO_DATA = {"en": "no data", "vi": "chưa có số liệu"}


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-likes are never a missing scalar
        return False


def _round(x: float, digits: int = 0) -> Decimal:
    """``x`` rounded half away from zero (decimal, from its shortest repr)."""
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _group(n: Decimal, sep: str) -> str:
    return f"{n:,f}".replace(",", sep)


def format_vnd(amount: float, lang: str) -> str:
    """An amount in whole VND, the way each language writes it.

    Args:
        amount: Amount in VND (rounded half away from zero to a whole dong).
        lang: ``"vi"`` gives ``"12.500.000 ₫"`` (dot thousands, dong sign after);
            ``"en"`` gives ``"12,500,000 VND"``.

    Returns:
        The formatted amount, or ``"—"`` when ``amount`` is missing.

    Raises:
        ValueError: For an unknown ``lang``.
    """
    _check_lang(lang)
    if _is_missing(amount):
        return MISSING
    if not math.isfinite(float(amount)):
        return MISSING
    n = _round(float(amount)) + 0  # + 0 turns -0 into 0
    return f"{_group(n, '.')} ₫" if lang == "vi" else f"{_group(n, ',')} VND"


def format_value(value: object, unit: str, lang: str, feature: str | None = None) -> str:
    """A feature value formatted for its unit and a language (rules in the module docstring).

    Args:
        value: The value (number, bool, category code; ``None``/NaN for missing).
        unit: The catalog unit (``VND``, ``VND/person``, ``ratio``, ``km``, ``flag``,
            ``category``, ``months``, ``count`` ...).
        lang: ``"en"`` or ``"vi"``.
        feature: Catalog feature name whose category labels to use (``unit="category"``);
            without it, the code is looked up in every feature's labels (first match).

    Returns:
        The formatted value, ``"—"`` when missing.

    Raises:
        ValueError: For an unknown ``lang``.
    """
    _check_lang(lang)
    if _is_missing(value):
        return MISSING
    if unit == "category" or isinstance(value, str):
        tables = [CATEGORY_LABELS.get(feature or "", {}), *CATEGORY_LABELS.values()]
        label = next((t[str(value)] for t in tables if str(value) in t), None)
        return str(value) if label is None else label[LANGS.index(lang)]
    if unit == "flag" or isinstance(value, bool):
        return _FLAG[lang][bool(value)]
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        return str(x)
    if unit in ("VND", "VND/person"):
        return format_vnd(x, lang)
    if unit == "ratio":
        return f"{_round(x * 100) + 0}%"
    if unit == "km":
        km = f"{_round(x, 1) + 0}"
        return f"{km.replace('.', ',') if lang == 'vi' else km} km"
    return f"{_round(x) + 0}"


def _signed(value: float, unit: str, lang: str) -> str:
    """The value with an explicit sign; a ratio as percentage points (``+5 percentage points``)."""
    if unit == "ratio":
        text = f"{_round(value * 100) + 0} {_POINTS[lang]}"
    else:
        text = format_value(value, unit, lang)
    return text if text.startswith(("-", "0")) or text == "0" else f"+{text}"


def reason_text(name: str, value: object, lang: str) -> str:
    """The reason sentence of a feature for one value, from the catalog's templates.

    Args:
        name: Catalog feature name (e.g. ``"interest_ontime_share_6m"``).
        value: The feature's value for the scored row; ``None``/NaN gives the feature's
            missing sentence; a boolean feature's false value fills ``{not}`` with the negation.
        lang: ``"en"`` or ``"vi"``.

    Returns:
        A short sentence, e.g. ``"Interest paid in full at 50% of sessions in the last 6
        months"`` / ``"Trả đủ lãi ở 50% số kỳ thu lãi trong 6 tháng qua"``.

    Raises:
        KeyError: For a name that is not in the catalog.
        ValueError: For an unknown ``lang``.
    """
    _check_lang(lang)
    if name not in FEATURES_BY_NAME:
        raise KeyError(f"unknown feature {name!r}")
    f = FEATURES_BY_NAME[name]
    en = lang == "en"
    if _is_missing(value):
        missing = f.reason_missing_en if en else f.reason_missing_vi
        if missing:
            return missing
        label = f.description_en.split(" (")[0] if en else f.description_vi
        return f"{label}: {_NO_DATA[lang]}"
    template = f.reason_en if en else f.reason_vi
    if f.kind == "boolean":
        return template.format(**{"not": "" if bool(value) else _NOT[lang]})
    shown = format_value(value, f.unit, lang, feature=name)
    one = f.kind == "numeric" and _round(float(value)) in (1, -1)  # type: ignore[arg-type]
    fields = {
        "value": shown,
        "s": "" if one or not en else "s",
        "value_signed": _signed(float(value), f.unit, lang) if f.kind == "numeric" else shown,  # type: ignore[arg-type]
        "not": "",
    }
    return template.format(**fields)
