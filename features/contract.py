"""The data contract: every raw table a district office exports, declared once.

Each table is a pandera ``DataFrameModel`` (columns, dtypes, ranges, enums, nullability, with
unit and description as column metadata) plus a :class:`TableSpec` naming its key, its foreign
keys and whether it is partitioned by commune. ``docs/data-contract.md`` is rendered from here
(``vbsp-risk docs``); the validator, the loader and the simulator all read this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.pandas as pa
from pandera.typing import Series

from features import domain

ID_PATTERN = r"^[A-Za-z0-9_\-]{1,40}$"
DATE_MIN = "1990-01-01"


def _f(description: str, unit: str = "", **kwargs: object) -> object:
    """A pandera Field carrying the column's description and unit."""
    return pa.Field(metadata={"description": description, "unit": unit}, **kwargs)


def _id(description: str, **kwargs: object) -> object:
    return _f(description, "id", str_matches=ID_PATTERN, **kwargs)


def _vnd(description: str, **kwargs: object) -> object:
    return _f(description, "VND", ge=0, le=10**12, **kwargs)


def _date(description: str, nullable: bool = False) -> object:
    return _f(description, "ISO date", nullable=nullable, ge=DATE_MIN)


class _Base(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False


class Communes(_Base):
    """Communes served by the office; each has one commune transaction point."""

    commune_id: Series[str] = _id("Commune code", unique=True)
    name: Series[str] = _f("Commune name (a place, not a person)", str_length={"max_value": 80})
    transaction_day: Series[int] = _f(
        "Day of month of the commune's transaction session", "day of month", ge=1, le=28
    )
    is_difficult: Series[bool] = _f("Extremely difficult commune (Program 135 / 30a)")
    is_border: Series[bool] = _f("Border commune")
    is_remote: Series[bool] = _f("Remote / mountainous commune")
    distance_km: Series[float] = _f("Road distance to the district office", "km", ge=0, le=300)


class Villages(_Base):
    """Villages (thôn, bản); savings-and-loan groups live in one village."""

    village_id: Series[str] = _id("Village code", unique=True)
    commune_id: Series[str] = _id("Commune of the village")
    name: Series[str] = _f("Village name (a place)", str_length={"max_value": 80})
    distance_km: Series[float] = _f("Distance to the commune office", "km", ge=0, le=100)


class Groups(_Base):
    """Savings-and-loan groups (tổ tiết kiệm và vay vốn)."""

    group_id: Series[str] = _id("Group code", unique=True)
    village_id: Series[str] = _id("Village where the group meets")
    commune_id: Series[str] = _id("Commune of the group (same as its village's)")
    organisation: Series[str] = _f(
        "Entrusted socio-political organisation", isin=domain.ORGANISATIONS
    )
    founded_date: Series[pa.DateTime] = _date("Date the group was founded")


class GroupLeaders(_Base):
    """Who led each group and when (one open spell per group at a time)."""

    group_id: Series[str] = _id("Group")
    start_date: Series[pa.DateTime] = _date("First day of this leader's term")
    end_date: Series[pa.DateTime] = _date("Last day of the term; empty while serving", True)
    leader_id: Series[str] = _id("Pseudonymous id of the leader (a member household)")


class GroupRatings(_Base):
    """Group quality ratings, half-yearly (June and December)."""

    group_id: Series[str] = _id("Group")
    rating_date: Series[pa.DateTime] = _date("Date of the rating (end of the period)")
    rating: Series[str] = _f("good / fair / average / weak", isin=domain.GROUP_RATINGS)
    interest_collection_rate: Series[float] = _f(
        "Share of interest due collected in the period", "ratio", ge=0, le=1
    )
    overdue_ratio: Series[float] = _f(
        "Overdue principal / outstanding at rating", "ratio", ge=0, le=1
    )


class Households(_Base):
    """Member households. ``household_id`` is a keyed HMAC pseudonym of the national ID."""

    household_id: Series[str] = _id("Keyed pseudonym (HMAC-SHA256 of the national ID)", unique=True)
    commune_id: Series[str] = _id("Commune of residence")
    village_id: Series[str] = _id("Village of residence")
    group_id: Series[str] = _id("Savings-and-loan group")
    joined_date: Series[pa.DateTime] = _date("Date the household joined the group")
    left_date: Series[pa.DateTime] = _date("Date the household left the group, if it did", True)
    household_size: Series[int] = _f("Persons in the household", "persons", ge=1, le=20)
    workers: Series[int] = _f("Persons of working age who work", "persons", ge=0, le=20)
    member_no: Series[int] = _f(
        "The member's number in the group's register (optional column)",
        "number",
        ge=1,
        le=10_000,
        nullable=True,
        required=False,
    )


class ProtectedAttributes(_Base):
    """Protected attributes, kept apart: read only by fairness checks, never a feature."""

    household_id: Series[str] = _id("Household", unique=True)
    commune_id: Series[str] = _id("Commune (for partitioning)")
    ethnicity: Series[str] = _f(
        "Ethnic group (Decree 13/2023 sensitive)", str_length={"max_value": 40}
    )
    is_ethnic_minority: Series[bool] = _f("Household belongs to an ethnic minority")


class PovertyStatus(_Base):
    """Poverty classification over time (from the commune's yearly review)."""

    household_id: Series[str] = _id("Household")
    commune_id: Series[str] = _id("Commune (for partitioning)")
    effective_date: Series[pa.DateTime] = _date("Date the status took effect")
    status: Series[str] = _f("Poverty status", isin=domain.POVERTY_STATUSES)


class Loans(_Base):
    """Loans, one row each, with their state at the export date."""

    loan_id: Series[str] = _id("Loan contract number", unique=True)
    household_id: Series[str] = _id("Borrowing household")
    commune_id: Series[str] = _id("Commune of the lending transaction point")
    program: Series[str] = _f("Lending program", isin=list(domain.PROGRAMS))
    purpose: Series[str] = _f("Declared use of the loan", isin=domain.PURPOSES)
    amount: Series[int] = _f("Disbursed principal", "VND", gt=0, le=10**10)
    rate_pct: Series[float] = _f("Yearly interest rate", "%/year", gt=0, le=20)
    term_months: Series[int] = _f("Contract term", "months", ge=1, le=240)
    grace_months: Series[int] = _f(
        "Grace period before the first principal installment", "months", ge=0, le=120
    )
    application_date: Series[pa.DateTime] = _date("Date the application was submitted")
    disbursement_date: Series[pa.DateTime] = _date("Date the money was paid out")
    maturity_date: Series[pa.DateTime] = _date("Final due date of the contract")
    status: Series[str] = _f("Status at the export date", isin=domain.LOAN_STATUSES)
    closed_date: Series[pa.DateTime] = _date("Date the loan was fully repaid / closed", True)


class Installments(_Base):
    """Principal repayment schedule with what was paid and when."""

    loan_id: Series[str] = _id("Loan")
    commune_id: Series[str] = _id("Commune (for partitioning)")
    installment_no: Series[int] = _f("Installment number, from 1", "count", ge=1, le=400)
    due_date: Series[pa.DateTime] = _date("Original due date in the contract")
    current_due_date: Series[pa.DateTime] = _date("Due date after extensions")
    principal_due: Series[int] = _vnd("Principal due in this installment")
    principal_paid: Series[int] = _vnd("Principal paid so far")
    paid_date: Series[pa.DateTime] = _date("Date the installment was fully paid", True)
    status: Series[str] = _f("Installment status at export", isin=domain.INSTALLMENT_STATUSES)


class Interest(_Base):
    """Monthly interest collected at each commune transaction session, per loan."""

    loan_id: Series[str] = _id("Loan")
    commune_id: Series[str] = _id("Commune (for partitioning)")
    session_date: Series[pa.DateTime] = _date("Commune transaction day of the month")
    interest_due: Series[int] = _vnd("Interest accrued for the month")
    interest_paid: Series[int] = _vnd("Interest paid at the session (may include arrears)")
    arrears_after: Series[int] = _vnd("Unpaid interest carried after the session (lãi tồn)")


class Savings(_Base):
    """Savings transactions of members (deposits at group meetings, withdrawals)."""

    txn_id: Series[str] = _id("Transaction id", unique=True)
    household_id: Series[str] = _id("Household")
    commune_id: Series[str] = _id("Commune (for partitioning)")
    txn_date: Series[pa.DateTime] = _date("Transaction date")
    txn_type: Series[str] = _f("deposit / withdrawal / repayment", isin=domain.SAVINGS_TXN_TYPES)
    amount: Series[int] = _f("Amount moved (always positive)", "VND", gt=0, le=10**10)
    balance_after: Series[int] = _vnd("Savings balance after the transaction")


class DebtEvents(_Base):
    """Extensions, overdue, cures, freezes and write-offs, with their cause."""

    event_id: Series[str] = _id("Event id", unique=True)
    loan_id: Series[str] = _id("Loan")
    household_id: Series[str] = _id("Household")
    commune_id: Series[str] = _id("Commune (for partitioning)")
    event_date: Series[pa.DateTime] = _date("Date the event was recorded")
    event_type: Series[str] = _f("Kind of event", isin=domain.DEBT_EVENT_TYPES)
    cause: Series[str] = _f("Recorded cause", isin=domain.DEBT_CAUSES)
    installment_no: Series[int] = _f("Installment concerned", "count", ge=1, le=400)
    amount: Series[int] = _vnd("Principal concerned")
    new_due_date: Series[pa.DateTime] = _date("New due date (extensions only)", True)


class HazardEvents(_Base):
    """Natural disasters and epidemics recorded by commune."""

    event_id: Series[str] = _id("Event id", unique=True)
    commune_id: Series[str] = _id("Commune hit")
    hazard_type: Series[str] = _f("Kind of hazard", isin=domain.HAZARD_TYPES)
    start_date: Series[pa.DateTime] = _date("First day")
    end_date: Series[pa.DateTime] = _date("Last day")
    severity: Series[int] = _f("1 minor, 2 serious, 3 severe", "level", ge=1, le=3)


class Inspections(_Base):
    """Household inspection visits and their findings."""

    inspection_id: Series[str] = _id("Visit id", unique=True)
    household_id: Series[str] = _id("Household visited")
    loan_id: Series[str] = _id("Loan checked", nullable=True)
    commune_id: Series[str] = _id("Commune (for partitioning)")
    inspection_date: Series[pa.DateTime] = _date("Date of the visit")
    selection: Series[str] = _f(
        "Why visited: routine / random / model", isin=domain.INSPECTION_SELECTIONS
    )
    use_of_funds: Series[str] = _f("Use of the loan found", isin=domain.USE_OF_FUNDS, nullable=True)
    borrower_present: Series[bool] = _f("Borrower found at home")
    migrated: Series[bool] = _f("Borrower has left the locality")
    group_records_ok: Series[bool] = _f("Group's records agree with the bank's")


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of a table refer to ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """A table of the contract: schema, key, foreign keys, storage."""

    name: str
    model: type[_Base]
    key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    by_commune: bool = True

    @property
    def columns(self) -> list[str]:
        """Column names in contract order."""
        return list(self.model.to_schema().columns)


def _fk(cols: str, table: str, ref: str | None = None) -> ForeignKey:
    c = tuple(cols.split(","))
    return ForeignKey(c, table, tuple(ref.split(",")) if ref else c)


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec("communes", Communes, ("commune_id",), by_commune=False),
        TableSpec("villages", Villages, ("village_id",), (_fk("commune_id", "communes"),), False),
        TableSpec(
            "groups",
            Groups,
            ("group_id",),
            (_fk("village_id", "villages"), _fk("village_id,commune_id", "villages")),
            False,
        ),
        TableSpec(
            "group_leaders",
            GroupLeaders,
            ("group_id", "start_date"),
            (_fk("group_id", "groups"), _fk("leader_id", "households", "household_id")),
            False,
        ),
        TableSpec(
            "group_ratings",
            GroupRatings,
            ("group_id", "rating_date"),
            (_fk("group_id", "groups"),),
            False,
        ),
        TableSpec(
            "households",
            Households,
            ("household_id",),
            (_fk("group_id", "groups"), _fk("group_id,village_id,commune_id", "groups")),
        ),
        TableSpec(
            "protected_attributes",
            ProtectedAttributes,
            ("household_id",),
            (_fk("household_id", "households"), _fk("household_id,commune_id", "households")),
        ),
        TableSpec(
            "poverty_status",
            PovertyStatus,
            ("household_id", "effective_date"),
            (_fk("household_id", "households"), _fk("household_id,commune_id", "households")),
        ),
        TableSpec(
            "loans",
            Loans,
            ("loan_id",),
            (_fk("household_id", "households"), _fk("household_id,commune_id", "households")),
        ),
        TableSpec(
            "installments",
            Installments,
            ("loan_id", "installment_no"),
            (_fk("loan_id", "loans"), _fk("loan_id,commune_id", "loans")),
        ),
        TableSpec(
            "interest",
            Interest,
            ("loan_id", "session_date"),
            (_fk("loan_id", "loans"), _fk("loan_id,commune_id", "loans")),
        ),
        TableSpec(
            "savings",
            Savings,
            ("txn_id",),
            (_fk("household_id", "households"), _fk("household_id,commune_id", "households")),
        ),
        TableSpec(
            "debt_events",
            DebtEvents,
            ("event_id",),
            (
                _fk("loan_id", "loans"),
                _fk("loan_id,household_id,commune_id", "loans"),
                _fk("loan_id,installment_no", "installments"),
            ),
        ),
        TableSpec(
            "hazard_events", HazardEvents, ("event_id",), (_fk("commune_id", "communes"),), False
        ),
        TableSpec(
            "inspections",
            Inspections,
            ("inspection_id",),
            (
                _fk("household_id", "households"),
                _fk("household_id,commune_id", "households"),
                _fk("loan_id", "loans"),
                _fk("loan_id,household_id", "loans"),
            ),
        ),
    ]
}

TRUTH_DIR = "truth"
MANIFEST = "manifest.json"


# --- optional tables (issue 19): not part of every export, checked only when supplied ---------
class HouseholdContacts(_Base):
    """Optional: the head's name and hamlet, where the office supplies them, so an inspector can
    find the household. Personal data kept apart like :class:`ProtectedAttributes`: never a
    feature, never in API JSON, logs or audit rows; stored encrypted (``vbsp-risk contacts``)."""

    household_id: Series[str] = _id("Household", unique=True)
    commune_id: Series[str] = _id("Commune of the household (only its users see the name)")
    head_name: Series[str] = _f(
        "Name of the head of household (personal data)",
        str_length={"min_value": 1, "max_value": 80},
    )
    hamlet: Series[str] = _f(
        "Hamlet (xóm) where the household lives", str_length={"max_value": 80}, nullable=True
    )


OPTIONAL_TABLES: dict[str, TableSpec] = {
    "household_contacts": TableSpec(
        "household_contacts",
        HouseholdContacts,
        ("household_id",),
        (_fk("household_id", "households"), _fk("household_id,commune_id", "households")),
    )
}
"""Tables an export may add; absent from :data:`TABLES`, so a folder without them is complete."""
