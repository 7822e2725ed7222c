"""Reason texts: declared once in the catalog, rendered by features.reason_text."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.catalog import ALL_FEATURES, CATEGORY_LABELS, Feature
from features.reason_text import format_value, format_vnd, reason_text

# Letters only Vietnamese uses (beyond plain ASCII): any one proves the text has diacritics.
VI_LETTERS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
MISSING = (None, float("nan"), np.nan, pd.NA)


def _values(f: Feature) -> list[object]:
    """A typical value, zero and the booleans / categories a feature can take."""
    if f.kind == "boolean":
        return [True, False, np.bool_(True)]
    if f.kind == "categorical":
        return list(f.categories)
    typical = 0.35 if f.unit == "ratio" else 12_500_000 if f.unit.startswith("VND") else 7
    return [typical, 0, 1, np.int64(3), np.float64(2.0)]


@pytest.mark.parametrize("f", ALL_FEATURES, ids=lambda f: f.name)
def test_every_feature_declares_both_templates(f: Feature) -> None:
    assert f.reason_en.strip() and f.reason_vi.strip()
    assert VI_LETTERS & set(f.reason_vi.lower()), f.reason_vi
    if f.reason_missing_vi:
        assert VI_LETTERS & set(f.reason_missing_vi.lower())
    assert bool(f.reason_missing_en) == bool(f.reason_missing_vi)
    if f.kind == "boolean":
        assert "{not}" in f.reason_en and "{not}" in f.reason_vi
    else:
        assert "{value" in f.reason_en and "{value" in f.reason_vi


@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize("f", ALL_FEATURES, ids=lambda f: f.name)
def test_every_feature_renders_for_typical_zero_missing_and_flags(f: Feature, lang: str) -> None:
    texts = [reason_text(f.name, v, lang) for v in [*_values(f), *MISSING]]
    for text in texts:
        assert text and "{" not in text and "}" not in text, text
        assert "nan" not in text.lower().split() and "None" not in text
    if lang == "vi":
        assert all(VI_LETTERS & set(t.lower()) for t in texts)


def test_boolean_false_is_negated_in_both_languages() -> None:
    assert reason_text("commune_is_border", True, "en") == "The commune is a border commune"
    assert reason_text("commune_is_border", False, "en") == "The commune is not a border commune"
    assert reason_text("commune_is_border", True, "vi") == "Xã thuộc khu vực biên giới"
    assert reason_text("commune_is_border", False, "vi") == "Xã không thuộc khu vực biên giới"


def test_missing_values_use_the_feature_sentence_or_the_generic_one() -> None:
    assert reason_text("months_since_extension", None, "en") == "No debt extension on record"
    assert reason_text("months_since_deposit", math.nan, "vi") == (
        "Chưa có lần gửi tiết kiệm nào được ghi nhận"
    )
    assert reason_text("loans_taken", None, "en") == (
        "Loans disbursed to the household before as_of: no data"
    )
    assert reason_text("loans_taken", None, "vi") == "Số món vay đã giải ngân: chưa có số liệu"


def test_examples_read_as_sentences() -> None:
    assert reason_text("interest_ontime_share_6m", 0.5, "en") == (
        "Interest paid in full at 50% of sessions in the last 6 months"
    )
    assert reason_text("interest_ontime_share_6m", 0.5, "vi") == (
        "Trả đủ lãi ở 50% số kỳ thu lãi trong 6 tháng qua"
    )
    assert reason_text("extensions_12m", 1, "en") == "1 debt extension in the last 12 months"
    assert reason_text("extensions_12m", 2, "en") == "2 debt extensions in the last 12 months"
    assert reason_text("savings_balance", 250_000, "vi") == "Số dư tiền gửi tiết kiệm 250.000 ₫"
    assert reason_text("app_purpose", "livestock", "vi") == "Mục đích sử dụng vốn vay: chăn nuôi"
    assert reason_text("commune_arrears_trend_3m", 0.05, "en").startswith(
        "Commune-wide arrears share changed by +5 percentage points"
    )
    assert "-3 điểm phần trăm" in reason_text("commune_arrears_trend_3m", -0.031, "vi")


def test_format_vnd_both_languages() -> None:
    assert format_vnd(12_500_000, "vi") == "12.500.000 ₫"
    assert format_vnd(12_500_000, "en") == "12,500,000 VND"
    assert format_vnd(999.5, "en") == "1,000 VND"
    assert format_vnd(-0.4, "vi") == "0 ₫"
    assert format_vnd(float("nan"), "en") == "—"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.333, "33%"), (0.335, "34%"), (0.125, "13%"), (0.0, "0%"), (1.0, "100%"), (1.25, "125%")],
)
def test_ratio_as_whole_percent(value: float, expected: str) -> None:
    assert format_value(value, "ratio", "en") == expected
    assert format_value(value, "ratio", "vi") == expected


@pytest.mark.parametrize(
    ("value", "unit", "lang", "expected"),
    [
        (2.5, "months", "en", "3"),
        (2.4, "months", "vi", "2"),
        (7.0, "count", "en", "7"),
        (3.45, "km", "en", "3.5 km"),
        (3.45, "km", "vi", "3,5 km"),
        (12.0, "km", "en", "12.0 km"),
        (True, "flag", "vi", "có"),
        (False, "flag", "en", "no"),
        (None, "months", "en", "—"),
        ("unknown_code", "category", "vi", "unknown_code"),
    ],
)
def test_rounding_and_units(value: object, unit: str, lang: str, expected: str) -> None:
    assert format_value(value, unit, lang) == expected


def test_categories_use_the_feature_labels() -> None:
    assert format_value("housing", "category", "vi", feature="app_purpose") == "nhà ở"
    assert format_value("housing", "category", "vi", feature="app_program") == "Nhà ở hộ nghèo"
    for name, labels in CATEGORY_LABELS.items():
        for code, (_, vi) in labels.items():
            assert format_value(code, "category", "vi", feature=name) == vi


def test_unknown_feature_and_language_are_refused() -> None:
    with pytest.raises(KeyError):
        reason_text("no_such_feature", 1, "en")
    with pytest.raises(ValueError, match="lang"):
        reason_text("loans_taken", 1, "fr")
    with pytest.raises(ValueError, match="lang"):
        format_vnd(1, "de")


def test_unknown_placeholder_is_refused_by_the_catalog() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        Feature("x", "x", "x", "count", 0, ("loans",), reason_en="{amount} loans")
