"""Request and response schemas of the visit plans and their outcomes.

The rules a request can be checked against without the database are stated in the OpenAPI spec
(Schemathesis checks the service keeps to them): a plan's month is the current or the next one
on the office's calendar (:func:`serving.clock.plannable_months`; the spec's list is made when
the spec is built), and an outcome saying the borrower was met *and* has left the locality must
be confirmed. Rules that need the database (an outcome not before its visit's date) are 409s.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serving import clock
from serving.json_types import JsonBool, Number, Timestamp
from serving.schemas import Identifier, ModelRef

MONTH_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # printable text, tabs and newlines
CONFIRM_FIELD = "confirm_present_and_migrated"
ID_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ .-]?[0-9]){8,}(?![0-9])")
"""A run of 9 or more digits, spaces, dots or dashes allowed between them: a citizen ID (12
digits, old ID cards 9), a phone number (10), written ``079 912 345 678`` or ``0905.123.456``."""
ID_LIKE_MARK = "looks like an ID or phone number"
ID_LIKE_SCHEMA = r"[0-9](?:[ .-]?[0-9]){8}"
"""The same rule for JSON Schema (any match of :data:`ID_LIKE` contains one of these)."""
NoteText = Annotated[
    str,
    # the ID rule in the schema too, so clients and fuzzers know it: no run of 9+ digits
    Field(
        max_length=500, pattern=TEXT_PATTERN, json_schema_extra={"not": {"pattern": ID_LIKE_SCHEMA}}
    ),
]


def _plan_examples(schema: dict[str, Any]) -> None:
    current, _ = clock.plannable_months(clock.today())
    schema["examples"] = [
        {
            "commune_id": "C01",
            "month": current,
            "capacity_per_day": 8,
            "days": 3,
            "sort": "risk",
            "random_share": 0.1,
        }
    ]


def _plannable(schema: dict[str, Any]) -> None:
    schema["enum"] = list(clock.plannable_months(clock.today()))


class PlanIn(BaseModel):
    """A commune's visit plan for the current or the next month."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra=_plan_examples)

    commune_id: Identifier
    month: str = Field(
        pattern=MONTH_PATTERN,
        description="YYYY-MM: the current month or the next (office calendar, Asia/Ho_Chi_Minh)",
        json_schema_extra=_plannable,
    )
    capacity_per_day: Annotated[int, Number] = Field(
        8, ge=1, le=60, description="Visits per commune per day"
    )
    days: Annotated[int, Number] = Field(
        3, ge=1, le=20, description="Days available in the commune this month"
    )
    sort: Literal["risk", "exposure"] = "risk"
    random_share: Annotated[float, Number] = Field(
        0.10, ge=0, le=0.5, description="Share of visits drawn at random"
    )
    seed: Annotated[int, Field(ge=0, le=2**31 - 1), Number] | None = Field(
        None, description="Seed of the random draw"
    )
    transaction_day: Annotated[int, Field(ge=1, le=28), Number] | None = Field(
        None, description="Default: the communes table of the data folder"
    )
    replace: JsonBool = Field(False, description="Replace the month's plan if it has no outcomes")


# Present and migrated together is possible (met while home for Tết) but is usually a slip of the
# finger; the spec says so: one of the two is false, or the caller confirms.
_CONFIRM_RULE = {
    "anyOf": [
        {"properties": {"borrower_present": {"const": False}}},
        {"properties": {"migrated": {"const": False}}},
        {"required": [CONFIRM_FIELD], "properties": {CONFIRM_FIELD: {"const": True}}},
    ]
}


class OutcomeIn(BaseModel):
    """What the inspector found on a visit."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "use_of_funds": "correct",
                    "borrower_present": True,
                    "migrated": False,
                    "notes": "Đàn bò khỏe; vốn dùng đúng mục đích",
                }
            ],
            "allOf": [_CONFIRM_RULE],
        },
    )

    use_of_funds: Literal["correct", "partial", "misuse", "unknown"]
    borrower_present: JsonBool
    migrated: JsonBool
    confirm_present_and_migrated: JsonBool = Field(
        False, description="Required (true) when borrower_present and migrated are both true"
    )
    notes: NoteText | None = Field(
        None, description="Findings; no names or ID numbers (text, no control characters)"
    )

    @field_validator("notes")
    @classmethod
    def _no_id_numbers(cls, v: str | None) -> str | None:
        # Notes are shown to everyone who reads the plan: a citizen ID or phone number written
        # there is personal data spread to the commune. The run is not echoed back.
        if v is not None and ID_LIKE.search(v):
            raise ValueError(
                f"notes: a run of 9 or more digits {ID_LIKE_MARK}; do not write citizen IDs, "
                "phone numbers or names in notes (write amounts in words, e.g. '100 triệu')"
            )
        return v

    @model_validator(mode="after")
    def _confirmed(self) -> OutcomeIn:
        if self.borrower_present and self.migrated and not self.confirm_present_and_migrated:
            raise ValueError(
                "borrower_present and migrated are both true: confirm it with "
                f"{CONFIRM_FIELD}=true (a borrower who left the locality is rarely met)"
            )
        return self


class Outcome(BaseModel):
    """A recorded outcome."""

    recorded_at: Timestamp
    recorded_by: str
    use_of_funds: str
    borrower_present: bool
    migrated: bool
    notes: str | None


class Visit(BaseModel):
    """One planned visit: who, when, why, and how it was selected."""

    visit_id: str
    household_id: str
    group_id: str
    village_id: str
    visit_date: dt.date
    selection: Literal["risk", "exposure", "random"]
    selection_probability: float = Field(description="Probability this household was selected")
    probability: float | None = Field(description="Score when planned")
    model_version: str | None
    reason: dict | None
    reason_en: str
    reason_vi: str
    outcome: Outcome | None


class PlanSummary(BaseModel):
    """A plan without its visits."""

    plan_id: str
    commune_id: str
    month: str
    status: str
    created_at: Timestamp | None
    created_by: str | None
    model: ModelRef
    params: dict
    visits: int
    outcomes: int


class Plan(PlanSummary):
    """A plan with its visits, ordered by day, village and group."""

    visit_list: list[Visit]
