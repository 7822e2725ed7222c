"""The feature catalog and the label definitions, declared once.

Every feature column the pipeline produces is described here: its meaning in English and
Vietnamese, its unit, the direction in which risk is expected to move when the feature grows,
the raw tables it is computed from and its kind (numeric, boolean or categorical with a declared
category set). Docs, validation of feature tables and serving reason texts are generated from
this module; :mod:`features.history` must produce exactly the columns of :data:`BORROWER_FEATURES`
in this order.

Labels are declared here too (:data:`LABELS`), as data, so a team can change what "trouble"
means without touching the code that computes it (:mod:`features.labels`).

Conventions:

* ``as_of`` is a date; a feature uses only events dated strictly before it.
* A window of ``w`` months covers ``[as_of - w months, as_of)``.
* "Months since" is the calendar-month difference ``month(as_of) - month(event)``; with a
  month-start ``as_of`` an event of the previous month is 1 month old.
* Numeric features missing by nature (e.g. "months since last arrears" with no arrears ever) are
  NaN, never a sentinel value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from features import domain

CATALOG_VERSION = "borrower-history-1"
"""Version of the feature set; bump when a definition changes (stored with the online store)."""

Kind = Literal["numeric", "boolean", "categorical"]
KINDS: tuple[str, ...] = ("numeric", "boolean", "categorical")

WINDOWS_SHORT = (3, 6, 12, 24)


@dataclass(frozen=True)
class Feature:
    """One feature column.

    Attributes:
        name: Column name in the feature table.
        description_en: What the feature measures, in English.
        description_vi: The same in Vietnamese (for officers and reason texts).
        unit: Unit of the value (``count``, ``VND``, ``months``, ``ratio``, ``category`` ...).
        direction: Expected effect on risk when the value grows: +1 riskier, -1 safer, 0 unknown.
        sources: Raw tables of the data contract the feature is computed from.
        kind: ``numeric``, ``boolean`` or ``categorical``.
        categories: The declared category set (categorical features only).
        dtype: The pandas dtype of the column (``int64``, ``float64``, ``bool`` or ``category``).
    """

    name: str
    description_en: str
    description_vi: str
    unit: str
    direction: int
    sources: tuple[str, ...]
    kind: Kind = "numeric"
    categories: tuple[str, ...] = ()
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"{self.name}: direction must be -1, 0 or +1")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if (self.kind == "categorical") != bool(self.categories):
            raise ValueError(f"{self.name}: categories are required for, and only for, categorical")
        if "protected_attributes" in self.sources:
            raise ValueError(f"{self.name}: protected attributes are never a feature source")

    @property
    def pandas_dtype(self) -> object:
        """The dtype object a feature table column must have."""
        if self.kind == "categorical":
            return pd.CategoricalDtype(list(self.categories))
        if self.kind == "boolean":
            return "bool"
        return self.dtype


_INT = "int64"
_LOANS = ("loans",)
_INTEREST = ("interest", "loans")
_DEBT = ("debt_events",)
_SAVINGS = ("savings",)


def _ontime(w: int) -> Feature:
    return Feature(
        f"interest_ontime_share_{w}m",
        f"Share of the household's interest sessions in the last {w} months left with no "
        "interest arrears (NaN when there was no session)",
        f"Tỷ lệ kỳ thu lãi trong {w} tháng qua hộ trả đủ lãi, không có lãi tồn",
        "ratio",
        -1,
        _INTEREST,
    )


def _sessions(w: int) -> Feature:
    return Feature(
        f"interest_sessions_{w}m",
        f"Interest sessions the household had a loan at, in the last {w} months",
        f"Số kỳ thu lãi hộ có dư nợ trong {w} tháng qua",
        "count",
        0,
        _INTEREST,
        dtype=_INT,
    )


def _debt_count(kind: str, kind_vi: str, w: int) -> Feature:
    return Feature(
        f"{kind}s_{w}m",
        f"Debt {kind} events recorded for the household in the last {w} months",
        f"Số lần {kind_vi} trong {w} tháng qua",
        "count",
        1,
        _DEBT,
        dtype=_INT,
    )


def _deposits(w: int) -> Feature:
    return Feature(
        f"savings_deposits_{w}m",
        f"Savings deposits made in the last {w} months",
        f"Số lần gửi tiết kiệm trong {w} tháng qua",
        "count",
        -1,
        _SAVINGS,
        dtype=_INT,
    )


BORROWER_FEATURES: tuple[Feature, ...] = (
    Feature(
        "loans_taken",
        "Loans disbursed to the household before as_of",
        "Số món vay đã giải ngân",
        "count",
        0,
        _LOANS,
        dtype=_INT,
    ),
    Feature(
        "loans_closed",
        "Loans fully repaid / closed before as_of",
        "Số món vay đã tất toán",
        "count",
        -1,
        _LOANS,
        dtype=_INT,
    ),
    Feature(
        "active_loans",
        "Loans disbursed, not closed and not written off before as_of",
        "Số món vay đang còn dư nợ",
        "count",
        1,
        ("loans", "debt_events"),
        dtype=_INT,
    ),
    Feature(
        "main_program",
        "Program of the household's largest active loan (missing when none)",
        "Chương trình của món vay lớn nhất đang còn dư nợ",
        "category",
        0,
        _LOANS,
        kind="categorical",
        categories=tuple(domain.PROGRAMS),
    ),
    Feature(
        "outstanding_principal",
        "Principal outstanding: disbursed amount less installments fully paid before as_of, "
        "over active loans",
        "Dư nợ gốc hiện tại",
        "VND",
        1,
        ("loans", "installments", "debt_events"),
    ),
    Feature(
        "remaining_term_months",
        "Longest remaining contract term over active loans, from the contract (disbursement + "
        "term), ignoring later extensions (NaN when no active loan)",
        "Thời hạn còn lại dài nhất của các món vay đang còn dư nợ",
        "months",
        0,
        _LOANS,
    ),
    Feature(
        "loan_to_cap",
        "Largest active loan amount relative to its program's cap (NaN when no active loan)",
        "Số tiền vay so với mức cho vay tối đa của chương trình",
        "ratio",
        1,
        _LOANS,
    ),
    Feature(
        "amount_per_worker",
        "Disbursed amount of active loans per working member (NaN when no worker)",
        "Số tiền vay đang còn dư nợ trên mỗi lao động",
        "VND/person",
        1,
        ("loans", "households", "debt_events"),
    ),
    *(_sessions(w) for w in (12, 24)),
    *(_ontime(w) for w in WINDOWS_SHORT),
    Feature(
        "arrears_streak_current",
        "Consecutive most recent interest sessions ending with arrears (0 when the last session "
        "was paid in full)",
        "Số kỳ liên tiếp gần nhất có lãi tồn",
        "sessions",
        1,
        _INTEREST,
        dtype=_INT,
    ),
    Feature(
        "arrears_streak_max_24m",
        "Longest run of consecutive interest sessions with arrears in the last 24 months",
        "Số kỳ liên tiếp có lãi tồn dài nhất trong 24 tháng qua",
        "sessions",
        1,
        _INTEREST,
        dtype=_INT,
    ),
    Feature(
        "months_since_arrears",
        "Months since the last interest session with arrears (NaN when never)",
        "Số tháng kể từ lần có lãi tồn gần nhất",
        "months",
        -1,
        _INTEREST,
    ),
    *(_debt_count("extension", "gia hạn nợ", w) for w in (12, 24)),
    Feature(
        "months_since_extension",
        "Months since the last debt extension (NaN when never)",
        "Số tháng kể từ lần gia hạn nợ gần nhất",
        "months",
        -1,
        _DEBT,
    ),
    *(_debt_count("overdue", "chuyển nợ quá hạn", w) for w in (12, 24)),
    Feature(
        "months_since_overdue",
        "Months since the last overdue event (NaN when never)",
        "Số tháng kể từ lần nợ quá hạn gần nhất",
        "months",
        -1,
        _DEBT,
    ),
    *(_deposits(w) for w in (3, 6, 12)),
    Feature(
        "savings_balance",
        "Savings balance after the last savings transaction before as_of (0 when none)",
        "Số dư tiền gửi tiết kiệm",
        "VND",
        -1,
        _SAVINGS,
    ),
    Feature(
        "months_since_deposit",
        "Months since the last savings deposit (NaN when never)",
        "Số tháng kể từ lần gửi tiết kiệm gần nhất",
        "months",
        1,
        _SAVINGS,
    ),
    Feature(
        "membership_months",
        "Months since the household joined its savings-and-loan group (NaN if not yet joined)",
        "Số tháng là thành viên tổ tiết kiệm và vay vốn",
        "months",
        -1,
        ("households",),
    ),
    Feature(
        "household_size",
        "Persons in the household (static attribute of the export)",
        "Số nhân khẩu của hộ",
        "persons",
        0,
        ("households",),
    ),
    Feature(
        "workers",
        "Working members of the household (static attribute of the export)",
        "Số lao động của hộ",
        "persons",
        -1,
        ("households",),
    ),
    Feature(
        "poverty_status",
        "Poverty status in effect before as_of (missing when never classified)",
        "Phân loại hộ nghèo / cận nghèo tại thời điểm tính",
        "category",
        0,
        ("poverty_status",),
        kind="categorical",
        categories=tuple(domain.POVERTY_STATUSES),
    ),
    Feature(
        "poverty_status_changes_24m",
        "Changes of poverty status in the last 24 months",
        "Số lần thay đổi phân loại hộ trong 24 tháng qua",
        "count",
        0,
        ("poverty_status",),
        dtype=_INT,
    ),
)

FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in BORROWER_FEATURES}
if len(FEATURES_BY_NAME) != len(BORROWER_FEATURES):  # pragma: no cover - guards edits
    raise RuntimeError("duplicate feature names in the catalog")


def feature_names() -> list[str]:
    """Names of the borrower-history features, in table order."""
    return [f.name for f in BORROWER_FEATURES]


def feature_dtypes() -> dict[str, object]:
    """Column name → pandas dtype of every borrower-history feature."""
    return {f.name: f.pandas_dtype for f in BORROWER_FEATURES}


@dataclass(frozen=True)
class LabelDefinition:
    """What counts as trouble within a horizon starting at ``as_of``.

    A row is positive when, within ``[as_of, as_of + horizon_months)``, any enabled component
    happens. Only sessions inside the horizon count towards a run of arrears. Rows whose horizon
    ends after the export date are null.

    Attributes:
        name: Label column name.
        description_en: Meaning in English.
        description_vi: Meaning in Vietnamese.
        horizon_months: Length of the horizon.
        arrears_min_consecutive: Interest arrears on at least this many consecutive household
            sessions count (``None``: arrears do not count).
        debt_event_types: Debt events (``debt_events.event_type``) that count.
        inspection_findings: Inspection ``use_of_funds`` findings that count.
        count_migration: An inspection that found the borrower migrated counts.
    """

    name: str
    description_en: str
    description_vi: str
    horizon_months: int = 12
    arrears_min_consecutive: int | None = None
    debt_event_types: tuple[str, ...] = ()
    inspection_findings: tuple[str, ...] = ()
    count_migration: bool = False
    sources: tuple[str, ...] = field(default=("interest", "loans", "debt_events", "inspections"))

    def __post_init__(self) -> None:
        if self.horizon_months < 1:
            raise ValueError(f"{self.name}: horizon_months must be >= 1")
        if self.arrears_min_consecutive is not None and self.arrears_min_consecutive < 1:
            raise ValueError(f"{self.name}: arrears_min_consecutive must be >= 1")
        bad = set(self.debt_event_types) - set(domain.DEBT_EVENT_TYPES)
        if bad:
            raise ValueError(f"{self.name}: unknown debt event types {sorted(bad)}")
        bad = set(self.inspection_findings) - set(domain.USE_OF_FUNDS)
        if bad:
            raise ValueError(f"{self.name}: unknown inspection findings {sorted(bad)}")


LABELS: dict[str, LabelDefinition] = {
    d.name: d
    for d in (
        LabelDefinition(
            "trouble_12m",
            "Within 12 months: interest arrears on >= 2 consecutive sessions, a debt extension, "
            "an overdue installment, or misuse of the loan found at an inspection",
            "Trong 12 tháng tới: lãi tồn từ 2 kỳ liên tiếp, gia hạn nợ, nợ quá hạn, hoặc kiểm "
            "tra phát hiện sử dụng vốn sai mục đích",
            arrears_min_consecutive=2,
            debt_event_types=("extension", "overdue"),
            inspection_findings=("misuse",),
        ),
        LabelDefinition(
            "overdue_12m",
            "Within 12 months: an installment becomes overdue",
            "Trong 12 tháng tới: có kỳ trả nợ gốc bị chuyển quá hạn",
            debt_event_types=("overdue",),
        ),
        LabelDefinition(
            "arrears_12m",
            "Within 12 months: interest arrears at one session or more",
            "Trong 12 tháng tới: có lãi tồn ít nhất một kỳ",
            arrears_min_consecutive=1,
        ),
    )
}
"""The default labels; pass another mapping to :func:`features.labels.make_labels` to change them."""
