"""Request and response schemas of the API, with their constraints and OpenAPI examples.

Requests forbid unknown fields (no mass assignment of ``score``, ``approved`` ...) and reject
NaN and infinities; programs and purposes are the domain's enums. Responses carry no names,
national IDs or ethnicity.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from features import domain
from serving.bands import BAND_NAMES
from serving.json_types import Number, Timestamp, application_rules

Program = StrEnum("Program", {code: code for code in domain.PROGRAMS})
Purpose = StrEnum("Purpose", {code: code for code in domain.PURPOSES})
Band = Literal[BAND_NAMES]  # type: ignore[valid-type]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=256)


APPLICATION_EXAMPLES = [
    {
        "household_id": "H0123456789abcdef0123",
        "program": "poor_household",
        "purpose": "livestock",
        "amount": 50_000_000,
        "term_months": 36,
        "grace_months": 0,
    },
    {
        "group_id": "G0001",
        "village_id": "V0001",
        "program": "clean_water",
        "purpose": "water_sanitation",
        "amount": 20_000_000,
        "term_months": 60,
    },
]


class ApplicationIn(_Strict):
    """A loan application at the commune transaction point."""

    model_config = ConfigDict(
        json_schema_extra={"examples": APPLICATION_EXAMPLES, "allOf": application_rules()}
    )

    household_id: Identifier | None = Field(
        None, description="The household's pseudonymous id (an existing member)"
    )
    national_id: str | None = Field(
        None,
        pattern=r"^[0-9]{12}$",
        description="12-digit citizen ID, used only to derive the pseudonym; never stored",
    )
    group_id: Identifier | None = Field(None, description="For a new member: the group joined")
    village_id: Identifier | None = Field(None, description="For a new member: the village")
    program: Program
    purpose: Purpose
    # whole đồng: 40000000.5 or 0.001 VND is a typing slip, not an amount (422, not a score)
    amount: Annotated[int, Number] = Field(
        gt=0, le=10_000_000_000, description="Amount applied for, whole VND"
    )
    term_months: Annotated[int, Number] = Field(ge=1, le=240)
    grace_months: Annotated[int, Number] = Field(0, ge=0, le=60)

    @model_validator(mode="after")
    def _one_identity(self) -> ApplicationIn:
        known = (self.household_id is not None) + (self.national_id is not None)
        if known > 1:
            raise ValueError("give household_id or national_id, not both")
        if known == 0 and (self.group_id is None or self.village_id is None):
            raise ValueError("give household_id, national_id, or group_id and village_id")
        return self


class BatchIn(_Strict):
    """Several applications scored in one call (bounded; see ``VBSP_RISK_MAX_BATCH``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"applications": APPLICATION_EXAMPLES}]}
    )

    applications: list[ApplicationIn] = Field(min_length=1, max_length=1000)


class Reason(BaseModel):
    """One reason the score is high: a feature pushing the risk up."""

    feature: str
    value: float | str | bool | None
    contribution: float = Field(description="Contribution to the log-odds of trouble")
    text_en: str
    text_vi: str


class ModelRef(BaseModel):
    """The registered model that produced a score."""

    name: str
    version: str


class WhatIfPoint(BaseModel):
    """The same household's risk at another amount and term (program, purpose, grace kept)."""

    amount: float = Field(gt=0, le=10_000_000_000, description="Amount, VND (within the cap)")
    term_months: int = Field(ge=1, le=240)
    probability: float = Field(ge=0, le=1)
    band: Band
    difference: float = Field(ge=-1, le=1, description="Probability minus the request's")
    requested: bool = Field(description="This point is the request's own amount and term")


class WhatIf(BaseModel):
    """How the risk changes around the request: a grid of amounts × terms (``what_if=true``)."""

    amounts: list[float] = Field(min_length=1, max_length=6, description="The grid's amounts, VND")
    terms: list[int] = Field(min_length=1, max_length=5, description="The grid's terms, months")
    points: list[WhatIfPoint] = Field(
        min_length=1, max_length=30, description="One per amount and term, amount-major"
    )


class ApplicationScore(BaseModel):
    """Risk of trouble within 12 months if the loan is granted."""

    score_id: str
    probability: float = Field(ge=0, le=1)
    band: Band
    reasons: list[Reason]
    model: ModelRef
    feature_as_of: dt.date
    entity: Literal["household", "new_member"]
    commune_id: str
    what_if: WhatIf | None = Field(
        None, description="Only with what_if=true: the risk at other amounts and terms"
    )


class BatchScore(BaseModel):
    """Scores of a batch, in request order."""

    scores: list[ApplicationScore]


class ScorePoint(BaseModel):
    """One month's portfolio score of a household."""

    as_of: dt.date
    probability: float = Field(ge=0, le=1)
    band: Band
    model: ModelRef


class HouseholdRisk(BaseModel):
    """A household's latest portfolio score with reasons, and its score history."""

    household_id: str
    commune_id: str
    village_id: str
    group_id: str
    latest: ScorePoint
    reasons: list[Reason]
    outstanding: float | None
    history: list[ScorePoint]


class Priority(BaseModel):
    """A household in the inspection priority list."""

    rank: int = Field(ge=1)
    household_id: str
    group_id: str
    village_id: str
    probability: float = Field(ge=0, le=1)
    band: Band
    outstanding: float | None
    exposure: float | None = Field(description="probability × outstanding principal, VND")
    change_3m: float | None = Field(description="probability minus that of 3 months earlier")
    reasons: list[Reason]


class GroupSummary(BaseModel):
    """A savings-and-loan group's members' risk, and whether it is rising together."""

    group_id: str
    village_id: str
    members: int
    mean_probability: float
    mean_change_3m: float | None
    rising_members: int
    rising_together: bool


class Priorities(BaseModel):
    """Households ranked for inspection visits, with group summaries."""

    commune_id: str | None
    as_of: dt.date
    model: ModelRef
    sort: Literal["risk", "exposure"]
    total: int
    households: list[Priority]
    groups: list[GroupSummary]


class ModelInfo(BaseModel):
    """A model the service is serving."""

    view: str
    name: str
    version: str
    run_id: str
    loaded_at: Timestamp


class ReloadReport(BaseModel):
    """What a reload did for each view."""

    result: dict[str, str]
    models: list[ModelInfo]


class Problem(BaseModel):
    """An error: what is wrong and where (never echoes the input)."""

    detail: str
    errors: list[dict[str, str]] = []


_ERROR_TEXT = {
    401: "No valid X-API-Key",
    403: "The key's role or communes do not allow this",
    404: "Unknown (or not visible to this key)",
    409: "Conflicts with the service's state (the message says which)",
    413: "Request body too large",
    415: "Body not sent as application/json",
    422: "Invalid field or rule broken (the message names it)",
    503: "Overloaded, no model loaded or database busy; retry after Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI responses of the error codes a route can return (every route: 401, 403, 422, 503)."""
    return {
        c: {"model": Problem, "description": _ERROR_TEXT[c]}
        for c in sorted({401, 403, 422, 503, *codes})
    }
