"""Facts of the policy-credit world, declared once (see ``shared/DOMAIN.md``).

Programs, caps, terms and rates; the enumerations used by the data contract, the
simulator and the feature pipeline. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MILLION = 1_000_000


def pseudonym(national_id: str, key: bytes) -> str:
    """The export's ``household_id``: keyed pseudonym of a national ID (HMAC-SHA256, 20 hex)."""
    return "H" + hmac.new(key, national_id.encode(), hashlib.sha256).hexdigest()[:20]


@dataclass(frozen=True)
class Program:
    """A VBSP lending program and its limits.

    Attributes:
        code: Stable program code used in the bank's export.
        label_en: English name.
        label_vi: Vietnamese name.
        cap_vnd: Largest amount of one loan (integer VND).
        max_term_months: Longest term allowed.
        max_grace_months: Longest grace period allowed.
        rate_min_pct: Lowest yearly rate in use (e.g. the 30a-district or minority rate).
        rate_max_pct: Highest yearly rate in use.
    """

    code: str
    label_en: str
    label_vi: str
    cap_vnd: int
    max_term_months: int
    max_grace_months: int
    rate_min_pct: float
    rate_max_pct: float


PROGRAMS: dict[str, Program] = {
    p.code: p
    for p in [
        Program("poor_household", "Poor households", "Hộ nghèo", 100 * MILLION, 120, 12, 3.3, 6.6),
        Program(
            "near_poor", "Near-poor households", "Hộ cận nghèo", 100 * MILLION, 60, 12, 7.92, 7.92
        ),
        Program(
            "escaped_poverty",
            "Newly escaped poverty",
            "Hộ mới thoát nghèo",
            100 * MILLION,
            60,
            12,
            8.25,
            8.25,
        ),
        Program(
            "job_creation",
            "Job creation",
            "Giải quyết việc làm",
            100 * MILLION,
            120,
            12,
            3.96,
            7.92,
        ),
        Program(
            "clean_water",
            "Clean water & sanitation",
            "Nước sạch và VSMTNT",
            50 * MILLION,
            60,
            6,
            9.0,
            9.0,
        ),
        Program(
            "difficult_area",
            "Households in difficult areas",
            "Hộ SXKD vùng khó khăn",
            100 * MILLION,
            120,
            12,
            9.0,
            9.0,
        ),
        Program("student", "Students", "Học sinh sinh viên", 240 * MILLION, 180, 72, 6.6, 6.6),
        Program(
            "housing", "Poor-household housing", "Nhà ở hộ nghèo", 40 * MILLION, 180, 60, 3.0, 3.0
        ),
        Program(
            "ethnic_minority_land",
            "Ethnic-minority land / job conversion (Decree 28/2022)",
            "Hỗ trợ đất ở, chuyển đổi nghề (NĐ 28/2022)",
            100 * MILLION,
            180,
            24,
            3.0,
            3.3,
        ),
    ]
}

PURPOSES = [
    "livestock",
    "crops",
    "aquaculture",
    "forestry",
    "trade_services",
    "water_sanitation",
    "housing",
    "education",
    "vocational",
    "other",
]
ORGANISATIONS = ["womens_union", "farmers_association", "veterans_association", "youth_union"]
ORGANISATION_SHARES = [0.42, 0.36, 0.14, 0.08]
GROUP_RATINGS = ["good", "fair", "average", "weak"]
POVERTY_STATUSES = ["poor", "near_poor", "escaped_poverty", "other_policy"]
LOAN_STATUSES = ["active", "closed", "overdue", "frozen", "written_off"]
INSTALLMENT_STATUSES = ["pending", "paid", "overdue", "frozen", "written_off"]
# ``interest_deferred``: the bank suspends a loan's interest after a disaster (not arrears).
DEBT_EVENT_TYPES = [
    "extension",
    "overdue",
    "overdue_cured",
    "freeze",
    "write_off",
    "interest_deferred",
]
DEBT_CAUSES = [
    "natural_disaster",
    "livestock_disease",
    "epidemic",
    "illness",
    "death",
    "fire",
    "migration",
    "misuse",
    "low_income",
    "other",
]
HAZARD_TYPES = ["flood", "typhoon", "drought", "landslide", "livestock_disease", "epidemic"]
SAVINGS_TXN_TYPES = ["deposit", "withdrawal", "repayment"]
INSPECTION_SELECTIONS = ["routine", "random", "model"]
USE_OF_FUNDS = ["correct", "partial", "misuse"]

# Objective causes allow an extension or a freeze (DOMAIN.md: "What goes wrong").
OBJECTIVE_CAUSES = frozenset(
    {"natural_disaster", "livestock_disease", "epidemic", "illness", "death", "fire"}
)
OVERDUE_INTEREST_MULTIPLIER = 1.3
MIN_SAVINGS_DEPOSIT_VND = 5_000
