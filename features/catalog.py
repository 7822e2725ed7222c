"""The feature catalog and the label definitions, declared once.

Every feature column the pipeline produces is described here: its meaning in English and
Vietnamese, its unit, the direction in which risk is expected to move when the feature grows,
the raw tables it is computed from and its kind (numeric, boolean or categorical with a declared
category set). Docs, validation of feature tables and serving reason texts are generated from
this module. There are four feature sets, each produced by one module in catalog order:

* :data:`BORROWER_FEATURES` — the household's own history (:mod:`features.history`);
* :data:`GROUP_FEATURES` and :data:`AREA_FEATURES` (together :data:`CONTEXT_FEATURES`) — the
  savings-and-loan group, the village and the commune (:mod:`features.context`);
* :data:`APPLICATION_FEATURES` — the application's own fields (:mod:`features.application`).

A *view* is an ordered union of sets (:data:`VIEWS`): ``portfolio`` = borrower + context,
``application`` = borrower + context + application. :func:`all_feature_names` gives a view's
columns in table order.

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

import string
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from features import domain

CATALOG_VERSION = "features-6"
"""Version of the feature set; bump when a definition changes (stored with the online store)."""

Kind = Literal["numeric", "boolean", "categorical"]
KINDS: tuple[str, ...] = ("numeric", "boolean", "categorical")

WINDOWS_SHORT = (3, 6, 12, 24)

MONEY_UNITS = frozenset({"VND", "VND/person"})
"""Units of money; the trainer reads loan money in today's money (:func:`money_features`)."""
MONEY_SCALE = "district_typical_loan"
"""The area feature money features are divided by for the model: loan sizes grow about 12 % a
year, so a VND amount means a different burden in each year of the history."""
TYPICAL_LOAN_MIN_LOANS = 30
"""Fewest loans the district's typical loan is the median of."""

REASON_PLACEHOLDERS = frozenset({"value", "value_signed", "s", "not"})
"""Placeholders a reason template may use (see :class:`Feature`)."""


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
        reason_en: Reason-text template in English: a short sentence stating the value, shown
            by the scoring service among a score's top reasons (rendered by
            :func:`features.reason_text.reason_text`). Placeholders: ``{value}`` (the value
            formatted for the unit and the language by :func:`features.reason_text.format_value`:
            VND amounts, whole percents for ratios, whole months / counts, km with one
            decimal, translated category labels, see :data:`CATEGORY_LABELS`),
            ``{value_signed}`` (the same with an explicit ``+``/``-``; ratios as percentage
            points), ``{s}`` (``"s"`` unless the value rounds to 1: English plurals; empty in
            Vietnamese) and, for booleans, ``{not}`` (empty when the flag is true, ``"not "`` /
            ``"không "`` when false), so one sentence reads right both ways.
        reason_vi: The same template in Vietnamese, with full diacritics.
        reason_missing_en: Sentence used when the value is missing (NaN / None), e.g. "No debt
            extension on record". Empty: the generic sentence "<description_en, up to its
            first parenthesis>: no data".
        reason_missing_vi: The same in Vietnamese; empty: "<description_vi>: chưa có số liệu".
        kept_out: Why the feature is not a model input (empty: it is one). A kept-out feature is
            still computed, validated, stored and documented; the trainer leaves it out of the
            booster and the challenger (:func:`model_inputs`).
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
    reason_en: str = ""
    reason_vi: str = ""
    reason_missing_en: str = ""
    reason_missing_vi: str = ""
    kept_out: str = ""

    def __post_init__(self) -> None:
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"{self.name}: direction must be -1, 0 or +1")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if (self.kind == "categorical") != bool(self.categories):
            raise ValueError(f"{self.name}: categories are required for, and only for, categorical")
        if "protected_attributes" in self.sources:
            raise ValueError(f"{self.name}: protected attributes are never a feature source")
        for template in (self.reason_en, self.reason_vi):
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            if not fields <= REASON_PLACEHOLDERS:
                raise ValueError(f"{self.name}: unknown reason placeholders {sorted(fields)}")

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
        reason_en=f"Interest paid in full at {{value}} of sessions in the last {w} months",
        reason_vi=f"Trả đủ lãi ở {{value}} số kỳ thu lãi trong {w} tháng qua",
        reason_missing_en=f"No interest session in the last {w} months",
        reason_missing_vi=f"Không có kỳ thu lãi nào trong {w} tháng qua",
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
        reason_en=f"A loan outstanding at {{value}} interest session{{s}} in the last {w} months",
        reason_vi=f"Có dư nợ tại {{value}} kỳ thu lãi trong {w} tháng qua",
    )


def _debt_count(kind: str, kind_vi: str, w: int, reason_en: str) -> Feature:
    return Feature(
        f"{kind}s_{w}m",
        f"Debt {kind} events recorded for the household in the last {w} months",
        f"Số lần {kind_vi} trong {w} tháng qua",
        "count",
        1,
        _DEBT,
        dtype=_INT,
        reason_en=f"{reason_en} in the last {w} months",
        reason_vi=f"{{value}} lần {kind_vi} trong {w} tháng qua",
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
        reason_en=f"{{value}} savings deposit{{s}} in the last {w} months",
        reason_vi=f"{{value}} lần gửi tiết kiệm trong {w} tháng qua",
    )


_INSPECTIONS = ("inspections",)
FINDINGS: tuple[str, ...] = ("partial", "misuse")
"""Inspection ``use_of_funds`` values that are findings (the loan not used as agreed)."""

INSPECTION_FEATURES: tuple[Feature, ...] = (
    Feature(
        "months_since_inspection",
        "Months since the household's last inspection visit (NaN when never inspected)",
        "Số tháng kể từ lần kiểm tra hộ gần nhất",
        "months",
        0,
        _INSPECTIONS,
        reason_en="Last inspection visit {value} month{s} ago",
        reason_vi="Lần kiểm tra hộ gần nhất cách đây {value} tháng",
        reason_missing_en="The household was never inspected",
        reason_missing_vi="Hộ chưa được kiểm tra lần nào",
    ),
    Feature(
        "inspections_24m",
        "Inspection visits to the household in the last 24 months",
        "Số lần kiểm tra hộ trong 24 tháng qua",
        "count",
        0,
        _INSPECTIONS,
        dtype=_INT,
        reason_en="{value} inspection visit{s} in the last 24 months",
        reason_vi="{value} lần kiểm tra hộ trong 24 tháng qua",
    ),
    Feature(
        "inspection_findings_24m",
        "Inspections in the last 24 months that found the loan partly used or misused",
        "Số lần kiểm tra trong 24 tháng qua phát hiện vốn vay sử dụng không đúng mục đích "
        "(một phần hoặc toàn bộ)",
        "count",
        1,
        _INSPECTIONS,
        dtype=_INT,
        reason_en="{value} inspection{s} in the last 24 months found the loan not used as agreed",
        reason_vi="{value} lần kiểm tra trong 24 tháng qua phát hiện vốn vay dùng sai mục đích",
    ),
    Feature(
        "last_inspection_use",
        "Use of the loan found at the household's last inspection (missing when never "
        "inspected or not recorded)",
        "Kết quả kiểm tra sử dụng vốn ở lần kiểm tra gần nhất",
        "category",
        0,
        _INSPECTIONS,
        kind="categorical",
        categories=tuple(domain.USE_OF_FUNDS),
        reason_en="Last inspection found the loan {value}",
        reason_vi="Lần kiểm tra gần nhất: vốn vay {value}",
        reason_missing_en="No use of the loan recorded at an inspection",
        reason_missing_vi="Chưa có kết quả kiểm tra sử dụng vốn",
    ),
    Feature(
        "misuse_on_active_loan",
        "An inspection before as_of found misuse of a loan that is still outstanding",
        "Khoản vay đang còn dư nợ đã bị phát hiện sử dụng sai mục đích khi kiểm tra",
        "flag",
        1,
        ("inspections", "loans", "debt_events"),
        kind="boolean",
        reason_en="Misuse was {not}found on a loan still outstanding",
        reason_vi="Khoản vay còn dư nợ {not}bị phát hiện sử dụng sai mục đích",
    ),
    Feature(
        "migration_found",
        "An inspection before as_of found the borrower had left the locality",
        "Đã có lần kiểm tra phát hiện người vay bỏ khỏi địa phương",
        "flag",
        1,
        _INSPECTIONS,
        kind="boolean",
        reason_en="An inspection {not}found the borrower gone from the locality",
        reason_vi="Kiểm tra {not}phát hiện người vay đã rời địa phương",
    ),
)
"""Inspection history of the household (:func:`features.history.borrower_features`): the bank
sees a loan's misuse (a hidden cause of trouble) only through what its inspections find."""

BORROWER_FEATURES: tuple[Feature, ...] = (
    Feature(
        "loans_taken",
        "Loans disbursed to the household before as_of",
        "Số món vay đã giải ngân",
        "count",
        0,
        _LOANS,
        dtype=_INT,
        reason_en="{value} loan{s} disbursed to the household so far",
        reason_vi="Hộ đã được giải ngân {value} món vay",
    ),
    Feature(
        "loans_closed",
        "Loans fully repaid / closed before as_of",
        "Số món vay đã tất toán",
        "count",
        -1,
        _LOANS,
        dtype=_INT,
        reason_en="{value} loan{s} fully repaid so far",
        reason_vi="Hộ đã tất toán {value} món vay",
    ),
    Feature(
        "repaid_amount",
        "Total disbursed amount of the household's loans fully repaid / closed before as_of "
        "(0 when none): the size of debt the household has already shown it can carry",
        "Tổng số tiền các món vay hộ đã trả hết (tất toán)",
        "VND",
        0,
        _LOANS,
        reason_en="{value} of loans fully repaid so far",
        reason_vi="Hộ đã trả hết các món vay với tổng số tiền {value}",
    ),
    Feature(
        "active_loans",
        "Loans disbursed, not closed and not written off before as_of",
        "Số món vay đang còn dư nợ",
        "count",
        1,
        ("loans", "debt_events"),
        dtype=_INT,
        reason_en="{value} loan{s} currently outstanding",
        reason_vi="Hộ đang có {value} món vay còn dư nợ",
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
        reason_en="Largest active loan is from the {value} program",
        reason_vi="Món vay lớn nhất đang còn dư nợ thuộc chương trình {value}",
        reason_missing_en="No active loan",
        reason_missing_vi="Hộ không có món vay đang còn dư nợ",
    ),
    Feature(
        "outstanding_principal",
        "Principal outstanding: disbursed amount less installments fully paid before as_of, "
        "over active loans",
        "Dư nợ gốc hiện tại",
        "VND",
        1,
        ("loans", "installments", "debt_events"),
        reason_en="Outstanding principal of {value}",
        reason_vi="Dư nợ gốc hiện tại {value}",
        reason_missing_en="Outstanding principal not recorded",
        reason_missing_vi="Chưa có số liệu dư nợ gốc",
    ),
    Feature(
        "remaining_term_months",
        "Longest remaining contract term over active loans, from the contract (disbursement + "
        "term), ignoring later extensions (NaN when no active loan)",
        "Thời hạn còn lại dài nhất của các món vay đang còn dư nợ",
        "months",
        0,
        _LOANS,
        reason_en="{value} month{s} left on the longest active loan's term",
        reason_vi="Món vay đang còn dư nợ dài nhất còn {value} tháng theo hợp đồng",
        reason_missing_en="No active loan",
        reason_missing_vi="Hộ không có món vay đang còn dư nợ",
    ),
    Feature(
        "loan_to_cap",
        "Largest active loan amount relative to its program's cap (NaN when no active loan)",
        "Số tiền vay so với mức cho vay tối đa của chương trình",
        "ratio",
        1,
        _LOANS,
        reason_en="Largest active loan at {value} of its program's cap",
        reason_vi="Món vay lớn nhất đang còn dư nợ bằng {value} mức cho vay tối đa của chương "
        "trình",
        reason_missing_en="No active loan",
        reason_missing_vi="Hộ không có món vay đang còn dư nợ",
    ),
    Feature(
        "amount_per_worker",
        "Disbursed amount of active loans per working member (NaN when no worker)",
        "Số tiền vay đang còn dư nợ trên mỗi lao động",
        "VND/person",
        1,
        ("loans", "households", "debt_events"),
        reason_en="{value} of active loans per working member",
        reason_vi="Số tiền vay đang còn dư nợ {value} trên mỗi lao động",
        reason_missing_en="No working member recorded in the household",
        reason_missing_vi="Hộ không có lao động được ghi nhận",
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
        reason_en="Interest arrears at the latest {value} session{s} in a row",
        reason_vi="Có lãi tồn {value} kỳ liên tiếp gần nhất",
    ),
    Feature(
        "arrears_streak_max_24m",
        "Longest run of consecutive interest sessions with arrears in the last 24 months",
        "Số kỳ liên tiếp có lãi tồn dài nhất trong 24 tháng qua",
        "sessions",
        1,
        _INTEREST,
        dtype=_INT,
        reason_en="Longest run of interest arrears in the last 24 months: {value} session{s} in "
        "a row",
        reason_vi="Lãi tồn dài nhất {value} kỳ liên tiếp trong 24 tháng qua",
    ),
    Feature(
        "months_since_arrears",
        "Months since the last interest session with arrears (NaN when never)",
        "Số tháng kể từ lần có lãi tồn gần nhất",
        "months",
        -1,
        _INTEREST,
        reason_en="Last interest arrears {value} month{s} ago",
        reason_vi="Lần có lãi tồn gần nhất cách đây {value} tháng",
        reason_missing_en="No interest arrears on record",
        reason_missing_vi="Chưa có lần lãi tồn nào được ghi nhận",
    ),
    *(_debt_count("extension", "gia hạn nợ", w, "{value} debt extension{s}") for w in (12, 24)),
    Feature(
        "months_since_extension",
        "Months since the last debt extension (NaN when never)",
        "Số tháng kể từ lần gia hạn nợ gần nhất",
        "months",
        -1,
        _DEBT,
        reason_en="Last debt extension {value} month{s} ago",
        reason_vi="Lần gia hạn nợ gần nhất cách đây {value} tháng",
        reason_missing_en="No debt extension on record",
        reason_missing_vi="Chưa có lần gia hạn nợ nào được ghi nhận",
    ),
    *(
        _debt_count("overdue", "chuyển nợ quá hạn", w, "Debt moved to overdue {value} time{s}")
        for w in (12, 24)
    ),
    Feature(
        "months_since_overdue",
        "Months since the last overdue event (NaN when never)",
        "Số tháng kể từ lần nợ quá hạn gần nhất",
        "months",
        -1,
        _DEBT,
        reason_en="Last overdue debt {value} month{s} ago",
        reason_vi="Lần nợ quá hạn gần nhất cách đây {value} tháng",
        reason_missing_en="No overdue debt on record",
        reason_missing_vi="Chưa có lần nợ quá hạn nào được ghi nhận",
    ),
    *(_deposits(w) for w in (3, 6, 12)),
    Feature(
        "savings_deposit_mean_12m",
        "Mean amount of the household's savings deposits in the last 12 months (NaN when none); "
        "the size of a household's regular deposit tells of its means",
        "Số tiền gửi tiết kiệm bình quân mỗi lần trong 12 tháng qua",
        "VND",
        -1,
        _SAVINGS,
        reason_en="Savings deposits of {value} on average in the last 12 months",
        reason_vi="Mỗi lần gửi tiết kiệm bình quân {value} trong 12 tháng qua",
        reason_missing_en="No savings deposit in the last 12 months",
        reason_missing_vi="Không gửi tiết kiệm lần nào trong 12 tháng qua",
    ),
    Feature(
        "savings_balance",
        "Savings balance after the last savings transaction before as_of (0 when none)",
        "Số dư tiền gửi tiết kiệm",
        "VND",
        -1,
        _SAVINGS,
        reason_en="Savings balance of {value}",
        reason_vi="Số dư tiền gửi tiết kiệm {value}",
        reason_missing_en="No savings balance recorded",
        reason_missing_vi="Chưa có số dư tiền gửi tiết kiệm",
    ),
    Feature(
        "months_since_deposit",
        "Months since the last savings deposit (NaN when never)",
        "Số tháng kể từ lần gửi tiết kiệm gần nhất",
        "months",
        1,
        _SAVINGS,
        reason_en="Last savings deposit {value} month{s} ago",
        reason_vi="Lần gửi tiết kiệm gần nhất cách đây {value} tháng",
        reason_missing_en="No savings deposit on record",
        reason_missing_vi="Chưa có lần gửi tiết kiệm nào được ghi nhận",
    ),
    Feature(
        "membership_months",
        "Months since the household joined its savings-and-loan group (NaN if not yet joined)",
        "Số tháng là thành viên tổ tiết kiệm và vay vốn",
        "months",
        -1,
        ("households",),
        reason_en="Member of the savings-and-loan group for {value} month{s}",
        reason_vi="Là thành viên tổ tiết kiệm và vay vốn được {value} tháng",
        reason_missing_en="Not yet a member of a savings-and-loan group",
        reason_missing_vi="Chưa là thành viên tổ tiết kiệm và vay vốn",
    ),
    Feature(
        "household_size",
        "Persons in the household (static attribute of the export)",
        "Số nhân khẩu của hộ",
        "persons",
        0,
        ("households",),
        reason_en="{value} person{s} in the household",
        reason_vi="Hộ có {value} nhân khẩu",
        reason_missing_en="Household size not recorded",
        reason_missing_vi="Chưa có số nhân khẩu của hộ",
    ),
    Feature(
        "workers",
        "Working members of the household (static attribute of the export)",
        "Số lao động của hộ",
        "persons",
        -1,
        ("households",),
        reason_en="{value} working member{s} in the household",
        reason_vi="Hộ có {value} lao động",
        reason_missing_en="Working members of the household not recorded",
        reason_missing_vi="Chưa có số lao động của hộ",
    ),
    Feature(
        "worker_share",
        "Working members as a share of the household's persons (static attributes of the export)",
        "Tỷ lệ lao động trên số nhân khẩu của hộ",
        "ratio",
        -1,
        ("households",),
        reason_en="{value} of the household's members work",
        reason_vi="{value} nhân khẩu của hộ là lao động",
        reason_missing_en="Household size or workers not recorded",
        reason_missing_vi="Chưa có số nhân khẩu hoặc số lao động của hộ",
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
        reason_en="Household status: {value}",
        reason_vi="Phân loại hộ: {value}",
        reason_missing_en="Household never classified as poor or near-poor",
        reason_missing_vi="Hộ chưa được phân loại nghèo / cận nghèo",
    ),
    Feature(
        "poverty_status_changes_24m",
        "Changes of poverty status in the last 24 months",
        "Số lần thay đổi phân loại hộ trong 24 tháng qua",
        "count",
        0,
        ("poverty_status",),
        dtype=_INT,
        reason_en="Poverty status changed {value} time{s} in the last 24 months",
        reason_vi="Phân loại hộ thay đổi {value} lần trong 24 tháng qua",
    ),
    *INSPECTION_FEATURES,
)

_GROUP_PEERS = ("households", "loans", "interest")
_RATING_NONE = "none"
GROUP_RATING_CATEGORIES: tuple[str, ...] = (*domain.GROUP_RATINGS, _RATING_NONE)
"""Categories of ``group_rating``: the bank's ratings, best first, and ``none`` (not yet rated)."""


def _peer_ontime(w: int) -> Feature:
    return Feature(
        f"group_ontime_share_{w}m",
        f"Share of the interest sessions of the OTHER current members of the household's group "
        f"in the last {w} months left with no interest arrears (the household itself excluded; "
        "NaN when they had no session)",
        f"Tỷ lệ kỳ thu lãi trong {w} tháng qua các thành viên khác của tổ trả đủ lãi "
        "(không tính hộ này)",
        "ratio",
        -1,
        _GROUP_PEERS,
        reason_en=f"Other group members paid interest in full at {{value}} of their sessions in "
        f"the last {w} months",
        reason_vi=f"Các thành viên khác của tổ trả đủ lãi ở {{value}} số kỳ thu lãi trong {w} "
        "tháng qua",
        reason_missing_en=f"No other group member had an interest session in the last {w} months",
        reason_missing_vi=f"Không thành viên khác nào của tổ có kỳ thu lãi trong {w} tháng qua",
    )


def _peer_arrears(w: int) -> Feature:
    return Feature(
        f"group_arrears_rate_{w}m",
        f"Share of the OTHER current members with an interest session in the last {w} months "
        "that had interest arrears at one of them (NaN when no other member had a session)",
        f"Tỷ lệ thành viên khác của tổ có lãi tồn trong {w} tháng qua, trên số thành viên "
        "khác có dư nợ",
        "ratio",
        1,
        _GROUP_PEERS,
        reason_en=f"{{value}} of the other group members with a loan had interest arrears in the "
        f"last {w} months",
        reason_vi=f"{{value}} thành viên khác có dư nợ của tổ có lãi tồn trong {w} tháng qua",
        reason_missing_en=f"No other group member had an interest session in the last {w} months",
        reason_missing_vi=f"Không thành viên khác nào của tổ có kỳ thu lãi trong {w} tháng qua",
    )


GROUP_FEATURES: tuple[Feature, ...] = (
    Feature(
        "group_members",
        "Members of the group at as_of: households that joined before as_of and had not left "
        "before it (the household itself included when it is a member)",
        "Số thành viên của tổ tại thời điểm tính",
        "count",
        0,
        ("households",),
        dtype=_INT,
        reason_en="{value} member{s} in the household's group",
        reason_vi="Tổ có {value} thành viên",
    ),
    Feature(
        "group_age_months",
        "Months since the group was founded (NaN when founded on or after as_of, or unknown)",
        "Số tháng kể từ khi thành lập tổ",
        "months",
        -1,
        ("groups",),
        reason_en="Group founded {value} month{s} ago",
        reason_vi="Tổ được thành lập cách đây {value} tháng",
        reason_missing_en="Group founding date unknown",
        reason_missing_vi="Chưa rõ thời điểm thành lập tổ",
    ),
    Feature(
        "group_organisation",
        "Entrusted socio-political organisation that manages the group (missing when unknown)",
        "Tổ chức hội, đoàn thể nhận ủy thác quản lý tổ",
        "category",
        0,
        ("groups",),
        kind="categorical",
        categories=tuple(domain.ORGANISATIONS),
        reason_en="Group managed by the {value}",
        reason_vi="Tổ do {value} nhận ủy thác quản lý",
        reason_missing_en="Organisation managing the group unknown",
        reason_missing_vi="Chưa rõ hội, đoàn thể nhận ủy thác quản lý tổ",
    ),
    Feature(
        "group_leader_tenure_months",
        "Months since the current leader's term started: the term that started last before "
        "as_of (NaN when no term started before as_of)",
        "Số tháng tổ trưởng hiện tại giữ chức",
        "months",
        -1,
        ("group_leaders",),
        reason_en="Current group leader in office for {value} month{s}",
        reason_vi="Tổ trưởng hiện tại giữ chức được {value} tháng",
        reason_missing_en="No group leader term on record",
        reason_missing_vi="Chưa có thông tin nhiệm kỳ tổ trưởng",
    ),
    Feature(
        "group_leader_changes_24m",
        "Leader changes (terms started, the group's first leader excluded) in the last 24 months",
        "Số lần thay tổ trưởng trong 24 tháng qua",
        "count",
        1,
        ("group_leaders",),
        dtype=_INT,
        reason_en="Group leader changed {value} time{s} in the last 24 months",
        reason_vi="Tổ thay tổ trưởng {value} lần trong 24 tháng qua",
    ),
    Feature(
        "group_rating",
        "Latest group rating dated before as_of ('none' when the group has no rating yet)",
        "Xếp loại tổ gần nhất (tốt / khá / trung bình / yếu; 'none' khi chưa xếp loại)",
        "category",
        0,
        ("group_ratings",),
        kind="categorical",
        categories=GROUP_RATING_CATEGORIES,
        reason_en="Latest group rating: {value}",
        reason_vi="Xếp loại tổ gần nhất: {value}",
        reason_missing_en="Group rating unknown",
        reason_missing_vi="Chưa rõ xếp loại tổ",
    ),
    Feature(
        "group_rating_dropped",
        "The last change of the group's rating before as_of was a drop (False when it never "
        "changed)",
        "Lần thay đổi xếp loại gần nhất của tổ là bị hạ loại",
        "flag",
        1,
        ("group_ratings",),
        kind="boolean",
        reason_en="The group's rating was {not}lowered at its last change",
        reason_vi="Tổ {not}bị hạ loại ở lần thay đổi xếp loại gần nhất",
        reason_missing_en="Group rating history unknown",
        reason_missing_vi="Chưa rõ lịch sử xếp loại tổ",
    ),
    Feature(
        "group_months_since_rating_change",
        "Months since the group's rating last changed (NaN when it never changed)",
        "Số tháng kể từ lần thay đổi xếp loại tổ gần nhất",
        "months",
        0,
        ("group_ratings",),
        reason_en="Group rating last changed {value} month{s} ago",
        reason_vi="Xếp loại tổ thay đổi lần gần nhất cách đây {value} tháng",
        reason_missing_en="Group rating never changed",
        reason_missing_vi="Xếp loại tổ chưa từng thay đổi",
    ),
    *(_peer_ontime(w) for w in (6, 12)),
    *(_peer_arrears(w) for w in (2, 6, 12)),
    Feature(
        "group_extension_rate_12m",
        "Share of the OTHER current members with an interest session in the last 12 months "
        "that had a debt extension in them (NaN when no other member had a session)",
        "Tỷ lệ thành viên khác của tổ được gia hạn nợ trong 12 tháng qua, trên số thành viên "
        "khác có dư nợ",
        "ratio",
        1,
        (*_GROUP_PEERS, "debt_events"),
        reason_en="{value} of the other group members with a loan had a debt extension in the "
        "last 12 months",
        reason_vi="{value} thành viên khác có dư nợ của tổ được gia hạn nợ trong 12 tháng qua",
        reason_missing_en="No other group member had an interest session in the last 12 months",
        reason_missing_vi="Không thành viên khác nào của tổ có kỳ thu lãi trong 12 tháng qua",
    ),
    Feature(
        "group_inspection_findings_share_24m",
        "Share of the inspections of the group's members in the last 24 months that found a "
        "loan partly used or misused (NaN when no member was inspected)",
        "Tỷ lệ lần kiểm tra thành viên của tổ trong 24 tháng qua phát hiện vốn vay dùng sai "
        "mục đích",
        "ratio",
        1,
        ("households", "inspections"),
        reason_en="{value} of the inspections of group members in the last 24 months found a loan "
        "not used as agreed",
        reason_vi="{value} số lần kiểm tra thành viên tổ trong 24 tháng qua phát hiện vốn vay dùng "
        "sai mục đích",
        reason_missing_en="No group member was inspected in the last 24 months",
        reason_missing_vi="Không thành viên nào của tổ được kiểm tra trong 24 tháng qua",
    ),
    Feature(
        "group_records_mismatch_share_24m",
        "Share of the inspections of the group's members in the last 24 months that found the "
        "group's records at odds with the bank's (NaN when no member was inspected)",
        "Tỷ lệ lần kiểm tra trong 24 tháng qua thấy sổ sách của tổ không khớp với ngân hàng",
        "ratio",
        1,
        ("households", "inspections"),
        reason_en="The group's records disagreed with the bank's at {value} of inspections in the "
        "last 24 months",
        reason_vi="Sổ sách của tổ không khớp với ngân hàng ở {value} số lần kiểm tra trong 24 "
        "tháng qua",
        reason_missing_en="No group member was inspected in the last 24 months",
        reason_missing_vi="Không thành viên nào của tổ được kiểm tra trong 24 tháng qua",
    ),
)
"""Features of the household's savings-and-loan group (:func:`features.context.group_features`)."""


def _flag(name: str, en: str, vi: str, reason_en: str, reason_vi: str) -> Feature:
    return Feature(
        name,
        en,
        vi,
        "flag",
        1,
        ("communes",),
        kind="boolean",
        reason_en=reason_en,
        reason_vi=reason_vi,
        reason_missing_en="Commune classification not recorded",
        reason_missing_vi="Chưa có thông tin phân loại xã",
    )


HAZARD_HISTORY_KEPT_OUT = (
    "hazard history older than a few months stands in for the hazards to come (storm seasons "
    "cluster), which the model's hazard level already integrates over "
    "(training/hazard_level.py); as a model input it counted them twice and moved the model's "
    "level with the past years' storms (docs/measurements.md, 'The model's level drifts against "
    "the truth'); hazard_pressure and hazards_3m carry what recent hazards do now"
)


def _hazards(w: int) -> Feature:
    return Feature(
        f"hazards_{w}m",
        f"Natural-hazard / epidemic events in the commune that started in the last {w} months "
        "(an event still going on at as_of counts once it has started)",
        f"Số đợt thiên tai, dịch bệnh bắt đầu trong {w} tháng qua tại xã",
        "count",
        1,
        ("hazard_events",),
        dtype=_INT,
        reason_en=f"{{value}} natural hazard or epidemic event{{s}} in the commune in the last "
        f"{w} months",
        reason_vi=f"{{value}} đợt thiên tai, dịch bệnh tại xã trong {w} tháng qua",
        kept_out=HAZARD_HISTORY_KEPT_OUT if w == 12 else "",
    )


AREA_FEATURES: tuple[Feature, ...] = (
    _flag(
        "commune_is_difficult",
        "Extremely difficult commune (Program 135 / 30a)",
        "Xã đặc biệt khó khăn",
        "The commune is {not}classed as extremely difficult (Program 135 / 30a)",
        "Xã {not}thuộc diện đặc biệt khó khăn (Chương trình 135 / 30a)",
    ),
    _flag(
        "commune_is_border",
        "Border commune",
        "Xã biên giới",
        "The commune is {not}a border commune",
        "Xã {not}thuộc khu vực biên giới",
    ),
    _flag(
        "commune_is_remote",
        "Remote / mountainous commune",
        "Xã vùng sâu, vùng xa",
        "The commune is {not}in a remote / mountainous area",
        "Xã {not}thuộc vùng sâu, vùng xa",
    ),
    Feature(
        "commune_distance_km",
        "Road distance from the commune to the district office",
        "Khoảng cách từ xã đến phòng giao dịch huyện",
        "km",
        1,
        ("communes",),
        reason_en="The commune is {value} by road from the district office",
        reason_vi="Xã cách phòng giao dịch huyện {value}",
        reason_missing_en="Distance from the commune to the district office unknown",
        reason_missing_vi="Chưa rõ khoảng cách từ xã đến phòng giao dịch huyện",
    ),
    Feature(
        "village_distance_km",
        "Distance from the village to the commune office (NaN when the village is unknown)",
        "Khoảng cách từ thôn đến trụ sở xã",
        "km",
        1,
        ("villages",),
        reason_en="The village is {value} from the commune office",
        reason_vi="Thôn cách trụ sở xã {value}",
        reason_missing_en="Village unknown: no distance to the commune office",
        reason_missing_vi="Chưa rõ thôn: không có khoảng cách đến trụ sở xã",
    ),
    *(_hazards(w) for w in (3, 12)),
    Feature(
        "hazard_max_severity_12m",
        "Highest severity (1 minor, 2 serious, 3 severe) of the commune's hazard events started "
        "in the last 12 months (0 when none)",
        "Mức độ nghiêm trọng cao nhất của thiên tai, dịch bệnh tại xã trong 12 tháng qua",
        "level",
        1,
        ("hazard_events",),
        dtype=_INT,
        reason_en="Highest severity of hazards in the commune in the last 12 months: {value} (0 "
        "none, 3 severe)",
        reason_vi="Mức độ thiên tai, dịch bệnh cao nhất tại xã trong 12 tháng qua: {value} (0 "
        "không có, 3 rất nghiêm trọng)",
        reason_missing_en="Hazard severity in the commune not recorded",
        reason_missing_vi="Chưa có số liệu mức độ thiên tai, dịch bệnh tại xã",
        kept_out=HAZARD_HISTORY_KEPT_OUT,
    ),
    Feature(
        "months_since_hazard",
        "Months since the start of the commune's last hazard event (NaN when none)",
        "Số tháng kể từ đợt thiên tai, dịch bệnh gần nhất tại xã",
        "months",
        -1,
        ("hazard_events",),
        reason_en="Last natural hazard or epidemic in the commune started {value} month{s} ago",
        reason_vi="Đợt thiên tai, dịch bệnh gần nhất tại xã bắt đầu cách đây {value} tháng",
        reason_missing_en="No natural hazard or epidemic on record in the commune",
        reason_missing_vi="Chưa ghi nhận đợt thiên tai, dịch bệnh nào tại xã",
        kept_out=HAZARD_HISTORY_KEPT_OUT,
    ),
    Feature(
        "hazard_pressure",
        "Hazard pressure on the commune now: over its hazard / epidemic events started in the "
        "last 24 months, severity (1-3) times 0.75 to the power of the months since the start "
        "(0 when none); the end date is never read",
        "Mức ảnh hưởng hiện tại của thiên tai, dịch bệnh tại xã (mức độ nghiêm trọng giảm dần "
        "theo số tháng kể từ khi xảy ra)",
        "score",
        1,
        ("hazard_events",),
        reason_en="Hazard pressure on the commune now: {value} (severity fading by a quarter a "
        "month)",
        reason_vi="Mức ảnh hưởng của thiên tai, dịch bệnh tại xã hiện nay: {value}",
    ),
    Feature(
        "commune_arrears_share_3m",
        "Share of the loan interest records at the commune's transaction sessions in the last "
        "3 months left with interest arrears (NaN when no session)",
        "Tỷ lệ lượt thu lãi có lãi tồn tại điểm giao dịch xã trong 3 tháng qua",
        "ratio",
        1,
        ("interest",),
        reason_en="{value} of interest records at the commune's sessions in the last 3 months "
        "had arrears",
        reason_vi="{value} lượt thu lãi tại điểm giao dịch xã trong 3 tháng qua có lãi tồn",
        reason_missing_en="No transaction session in the commune in the last 3 months",
        reason_missing_vi="Xã không có phiên giao dịch nào trong 3 tháng qua",
    ),
    Feature(
        "commune_arrears_trend_3m",
        "Commune-wide arrears share of the last 3 months minus that of the 3 months before "
        "(positive: worsening; NaN when either period had no session)",
        "Xu hướng lãi tồn toàn xã: tỷ lệ 3 tháng qua trừ tỷ lệ 3 tháng trước đó",
        "ratio",
        1,
        ("interest",),
        reason_en="Commune-wide arrears share changed by {value_signed} against the 3 months "
        "before",
        reason_vi="Tỷ lệ lãi tồn toàn xã thay đổi {value_signed} so với 3 tháng trước đó",
        reason_missing_en="Commune arrears trend not available (no session in one of the periods)",
        reason_missing_vi="Chưa tính được xu hướng lãi tồn của xã (thiếu phiên giao dịch)",
    ),
    Feature(
        MONEY_SCALE,
        f"Typical loan of the district today: the median amount of the loans disbursed in the 12 "
        f"months before as_of, or of the latest {TYPICAL_LOAN_MIN_LOANS} disbursed before it when "
        "the 12 months hold fewer (NaN when no loan was disbursed before as_of)",
        "Mức vay điển hình của huyện hiện nay: trung vị số tiền các khoản vay giải ngân trong 12 "
        "tháng qua",
        "VND",
        0,
        ("loans",),
        reason_en="The district's typical new loan is {value}",
        reason_vi="Mức vay mới điển hình của huyện là {value}",
        kept_out="the scale of today's money, not a risk: the trainer divides every loan money "
        "feature (unit VND or VND/person, from loans) by it (training/todays_money.py), so the "
        "model reads amounts "
        "in today's money rather than in the prices of the year it learnt them in; as an input "
        "it would stand for the calendar",
    ),
)
"""Village and commune features (:func:`features.context.area_features`)."""

CONTEXT_FEATURES: tuple[Feature, ...] = GROUP_FEATURES + AREA_FEATURES
"""Group, village and commune features: also defined for a new member without history."""

_APP = ("loans",)
APPLICATION_FEATURES: tuple[Feature, ...] = (
    Feature(
        "app_program",
        "Lending program applied for",
        "Chương trình cho vay đề nghị",
        "category",
        0,
        _APP,
        kind="categorical",
        categories=tuple(domain.PROGRAMS),
        reason_en="Applied for under the {value} program",
        reason_vi="Đề nghị vay theo chương trình {value}",
        reason_missing_en="Program applied for unknown",
        reason_missing_vi="Chưa rõ chương trình cho vay đề nghị",
    ),
    Feature(
        "app_purpose",
        "Declared use of the loan applied for",
        "Mục đích sử dụng vốn vay",
        "category",
        0,
        _APP,
        kind="categorical",
        categories=tuple(domain.PURPOSES),
        reason_en="Declared use of the loan: {value}",
        reason_vi="Mục đích sử dụng vốn vay: {value}",
        reason_missing_en="Declared use of the loan unknown",
        reason_missing_vi="Chưa rõ mục đích sử dụng vốn vay",
    ),
    Feature(
        "app_amount",
        "Amount applied for",
        "Số tiền đề nghị vay",
        "VND",
        1,
        _APP,
        reason_en="Amount applied for: {value}",
        reason_vi="Số tiền đề nghị vay: {value}",
        reason_missing_en="Amount applied for not recorded",
        reason_missing_vi="Chưa có số tiền đề nghị vay",
    ),
    Feature(
        "app_term_months",
        "Term applied for",
        "Thời hạn vay đề nghị",
        "months",
        0,
        _APP,
        reason_en="Term applied for: {value} month{s}",
        reason_vi="Thời hạn vay đề nghị: {value} tháng",
        reason_missing_en="Term applied for not recorded",
        reason_missing_vi="Chưa có thời hạn vay đề nghị",
    ),
    Feature(
        "app_grace_months",
        "Grace period before the first principal installment",
        "Thời gian ân hạn",
        "months",
        0,
        _APP,
        reason_en="Grace period of {value} month{s} before the first principal installment",
        reason_vi="Ân hạn {value} tháng trước kỳ trả nợ gốc đầu tiên",
        reason_missing_en="Grace period not recorded",
        reason_missing_vi="Chưa có thời gian ân hạn",
    ),
    Feature(
        "app_amount_to_cap",
        "Amount applied for relative to the program's cap (NaN for an unknown program)",
        "Số tiền đề nghị vay so với mức cho vay tối đa của chương trình",
        "ratio",
        1,
        _APP,
        reason_en="Amount applied for is {value} of the program's cap",
        reason_vi="Số tiền đề nghị vay bằng {value} mức cho vay tối đa của chương trình",
        reason_missing_en="Program cap unknown for the amount applied for",
        reason_missing_vi="Chưa rõ mức cho vay tối đa của chương trình đề nghị",
    ),
    Feature(
        "app_amount_per_worker",
        "Amount applied for per working member of the household (NaN when the household is "
        "unknown or has no worker)",
        "Số tiền đề nghị vay trên mỗi lao động của hộ",
        "VND/person",
        1,
        ("loans", "households"),
        reason_en="{value} applied for per working member of the household",
        reason_vi="Đề nghị vay {value} trên mỗi lao động của hộ",
        reason_missing_en="Household unknown or without a working member: no amount per worker",
        reason_missing_vi="Chưa rõ hộ hoặc hộ không có lao động: không tính được số tiền vay "
        "trên mỗi lao động",
    ),
    Feature(
        "app_monthly_payment",
        "Monthly principal + interest of the loan applied for after its grace period: amount "
        "over the months after grace, plus a month's interest on the amount at the program's "
        "standard rate (never the borrower's own rate, which depends on ethnicity for job "
        "creation loans)",
        "Số tiền gốc và lãi phải trả mỗi tháng của món vay đề nghị",
        "VND",
        1,
        _APP,
        reason_en="The loan applied for would cost {value} a month in principal and interest",
        reason_vi="Món vay đề nghị phải trả {value} gốc và lãi mỗi tháng",
        reason_missing_en="Monthly payment of the loan applied for unknown",
        reason_missing_vi="Chưa tính được số tiền phải trả mỗi tháng của món vay đề nghị",
    ),
    Feature(
        "app_payment_per_worker",
        "Monthly payment of the loan applied for per working member of the household (NaN when "
        "the household has no worker on record)",
        "Số tiền phải trả mỗi tháng của món vay đề nghị trên mỗi lao động",
        "VND/person",
        1,
        ("loans", "households"),
        reason_en="{value} a month to repay per working member",
        reason_vi="Mỗi lao động phải gánh {value} tiền trả nợ mỗi tháng",
        reason_missing_en="No working member on record: repayment per worker unknown",
        reason_missing_vi="Hộ không có lao động được ghi nhận: chưa tính được tiền trả nợ trên "
        "mỗi lao động",
    ),
    Feature(
        "app_payment_to_savings",
        "Monthly payment of the loan applied for over the household's monthly savings deposits "
        "of the last 12 months (NaN when it made no deposit in them)",
        "Số tiền phải trả mỗi tháng so với số tiền gửi tiết kiệm bình quân mỗi tháng trong 12 "
        "tháng qua",
        "ratio",
        1,
        ("loans", "savings"),
        reason_en="The monthly payment is {value} of what the household saved a month in the "
        "last 12 months",
        reason_vi="Tiền trả nợ mỗi tháng bằng {value} số tiền hộ gửi tiết kiệm mỗi tháng trong "
        "12 tháng qua",
        reason_missing_en="No savings deposit in the last 12 months to set the payment against",
        reason_missing_vi="Hộ không gửi tiết kiệm trong 12 tháng qua để so với tiền trả nợ",
    ),
    Feature(
        "app_debt_after_to_cap",
        "Outstanding principal plus the amount applied for, relative to the program's cap",
        "Tổng dư nợ sau khi vay so với mức cho vay tối đa của chương trình",
        "ratio",
        1,
        ("loans", "installments", "debt_events"),
        reason_en="Debt after this loan would be {value} of the program's cap",
        reason_vi="Tổng dư nợ sau khi vay bằng {value} mức cho vay tối đa của chương trình",
        reason_missing_en="Program cap unknown for the debt after this loan",
        reason_missing_vi="Chưa rõ mức cho vay tối đa để so với tổng dư nợ sau khi vay",
    ),
    Feature(
        "app_debt_after_per_worker",
        "Outstanding principal plus the amount applied for, per working member (NaN when no "
        "worker on record)",
        "Tổng dư nợ sau khi vay trên mỗi lao động",
        "VND/person",
        1,
        ("loans", "installments", "debt_events", "households"),
        reason_en="Debt after this loan would be {value} per working member",
        reason_vi="Tổng dư nợ sau khi vay là {value} trên mỗi lao động",
        reason_missing_en="No working member on record: debt per worker unknown",
        reason_missing_vi="Hộ không có lao động được ghi nhận: chưa tính được dư nợ trên mỗi "
        "lao động",
    ),
    Feature(
        "app_debt_after_to_repaid",
        "Outstanding principal plus the amount applied for, over the amount of the household's "
        "loans already repaid (NaN when none repaid yet): more than it has shown it can carry",
        "Tổng dư nợ sau khi vay so với tổng số tiền các món vay hộ đã trả hết",
        "ratio",
        1,
        ("loans", "installments", "debt_events"),
        reason_en="Debt after this loan would be {value} of the loans the household has already "
        "repaid",
        reason_vi="Tổng dư nợ sau khi vay bằng {value} tổng số tiền các món vay hộ đã trả hết",
        reason_missing_en="No loan repaid yet to compare the new debt with",
        reason_missing_vi="Hộ chưa trả hết món vay nào để so với dư nợ mới",
    ),
    Feature(
        "app_first_loan",
        "The household has had no loan disbursed before the application (a first loan)",
        "Hộ vay vốn lần đầu",
        "flag",
        0,
        ("loans",),
        kind="boolean",
        reason_en="This is {not}the household's first loan",
        reason_vi="Hộ {not}vay vốn lần đầu",
    ),
)
"""The application's own fields (:func:`features.application.application_features`).

The interest rate is deliberately absent: ``job_creation`` loans are at half rate for ethnic
minorities, so the rate would carry ethnicity into the model.
"""

_PROGRAM_LABELS = {code: (p.label_en, p.label_vi) for code, p in domain.PROGRAMS.items()}
_PURPOSE_LABELS = {
    "livestock": ("livestock", "chăn nuôi"),
    "crops": ("crops", "trồng trọt"),
    "aquaculture": ("aquaculture", "nuôi trồng thủy sản"),
    "forestry": ("forestry", "trồng rừng"),
    "trade_services": ("trade and services", "kinh doanh, dịch vụ"),
    "water_sanitation": ("clean water and sanitation", "nước sạch và vệ sinh môi trường"),
    "housing": ("housing", "nhà ở"),
    "education": ("education", "học tập"),
    "vocational": ("vocational training", "học nghề"),
    "other": ("other", "khác"),
}
_USE_LABELS = {
    "correct": ("used as agreed", "sử dụng đúng mục đích"),
    "partial": ("partly used as agreed", "sử dụng đúng mục đích một phần"),
    "misuse": ("misused", "sử dụng sai mục đích"),
}
_ORGANISATION_LABELS = {
    "womens_union": ("Women's Union", "Hội Liên hiệp Phụ nữ"),
    "farmers_association": ("Farmers' Association", "Hội Nông dân"),
    "veterans_association": ("Veterans' Association", "Hội Cựu chiến binh"),
    "youth_union": ("Youth Union", "Đoàn Thanh niên"),
}
_RATING_LABELS = {
    "good": ("good", "tốt"),
    "fair": ("fair", "khá"),
    "average": ("average", "trung bình"),
    "weak": ("weak", "yếu"),
    _RATING_NONE: ("not yet rated", "chưa xếp loại"),
}
_POVERTY_LABELS = {
    "poor": ("poor household", "hộ nghèo"),
    "near_poor": ("near-poor household", "hộ cận nghèo"),
    "escaped_poverty": ("newly escaped poverty", "hộ mới thoát nghèo"),
    "other_policy": ("other policy household", "hộ chính sách khác"),
}

CATEGORY_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "main_program": _PROGRAM_LABELS,
    "poverty_status": _POVERTY_LABELS,
    "group_organisation": _ORGANISATION_LABELS,
    "group_rating": _RATING_LABELS,
    "app_program": _PROGRAM_LABELS,
    "app_purpose": _PURPOSE_LABELS,
    "last_inspection_use": _USE_LABELS,
}
"""Categorical feature → category code → (English label, Vietnamese label), for reason texts.

Keyed by feature because one code can mean different things (``housing`` is a program and a
purpose). Labels are display texts, not definitions: changing them needs no version bump.
"""

FEATURE_SETS: dict[str, tuple[Feature, ...]] = {
    "borrower": BORROWER_FEATURES,
    "group": GROUP_FEATURES,
    "area": AREA_FEATURES,
    "context": CONTEXT_FEATURES,
    "application": APPLICATION_FEATURES,
}
"""Feature sets by name, each produced by one function."""

VIEWS: dict[str, tuple[str, ...]] = {
    "portfolio": ("borrower", "context"),
    "application": ("borrower", "context", "application"),
}
"""Views (feature tables) as ordered unions of feature sets."""

ALL_FEATURES: tuple[Feature, ...] = BORROWER_FEATURES + CONTEXT_FEATURES + APPLICATION_FEATURES

FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in ALL_FEATURES}
if len(FEATURES_BY_NAME) != len(ALL_FEATURES):  # pragma: no cover - guards edits
    raise RuntimeError("duplicate feature names in the catalog")


def features_of(name: str = "borrower") -> tuple[Feature, ...]:
    """The features of a feature set or of a view, in table order.

    Args:
        name: A feature set (``borrower``, ``group``, ``area``, ``context``, ``application``)
            or a view (``portfolio``; ``application`` as a view is spelled ``application_view``
            here, see :func:`all_feature_names`).

    Raises:
        ValueError: For an unknown name.
    """
    if name in FEATURE_SETS:
        return FEATURE_SETS[name]
    view = name.removesuffix("_view")
    if view in VIEWS:
        return tuple(f for s in VIEWS[view] for f in FEATURE_SETS[s])
    known = sorted({*FEATURE_SETS, *VIEWS, "application_view"})
    raise ValueError(f"unknown feature set or view {name!r}; known: {known}")


def feature_names(feature_set: str = "borrower") -> list[str]:
    """Names of a feature set's features (default: borrower history), in table order.

    ``feature_set`` is a key of :data:`FEATURE_SETS`, ``portfolio`` or ``application_view``.
    """
    return [f.name for f in features_of(feature_set)]


def feature_dtypes(feature_set: str = "borrower") -> dict[str, object]:
    """Column name → pandas dtype of a feature set's features (default: borrower history)."""
    return {f.name: f.pandas_dtype for f in features_of(feature_set)}


def _view(view: str) -> str:
    if view not in VIEWS:
        raise ValueError(f"view must be one of {sorted(VIEWS)}, not {view!r}")
    return f"{view}_view"


def all_feature_names(view: str) -> list[str]:
    """Every feature column of a view, in table order.

    Args:
        view: ``portfolio`` (borrower + context) or ``application`` (borrower + context +
            application).
    """
    return feature_names(_view(view))


def feature_dtypes_for(view: str) -> dict[str, object]:
    """Column name → pandas dtype of every feature of a view (see :func:`all_feature_names`)."""
    return feature_dtypes(_view(view))


def model_inputs(names: list[str]) -> list[str]:
    """``names`` without the catalog features kept out of the model (:attr:`Feature.kept_out`).

    Columns the catalog does not know (a brought-in table's own) stay model inputs.
    """
    return [n for n in names if n not in FEATURES_BY_NAME or not FEATURES_BY_NAME[n].kept_out]


def money_features(names: list[str]) -> list[str]:
    """The catalog's loan money among ``names``: features in :data:`MONEY_UNITS` computed from
    ``loans``, the scale :data:`MONEY_SCALE` itself excepted.

    Savings are not loan money: the district's deposits do not grow with loan sizes (the
    simulated district's median deposit is 55,000-60,000 VND in every year since 2011), and
    dividing them by the typical loan would invent a trend of shrinking savings.
    """
    out = []
    for n in names:
        f = FEATURES_BY_NAME.get(n)
        if f is not None and n != MONEY_SCALE and f.unit in MONEY_UNITS and "loans" in f.sources:
            out.append(n)
    return out


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
