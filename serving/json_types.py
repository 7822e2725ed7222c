"""Strict JSON types of the request models, and the request rules stated in the OpenAPI spec.

pydantic's lax mode would take ``"36"``, ``true`` or ``false`` for a number and ``0`` / ``1`` for
a boolean; the API takes JSON numbers and booleans only, as its spec says (Schemathesis checks
that what the spec calls invalid is refused). Timestamps are answered with their zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from features import domain


def _json_number(value: object) -> object:
    # JSON numbers only: pydantic's lax mode would take "36", true or false for 36, 1 or 0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


def _json_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    # Stored timestamps are naive UTC; answered with their zone, as RFC 3339 requires.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


Number = BeforeValidator(_json_number)
JsonBool = Annotated[bool, BeforeValidator(_json_bool)]
Timestamp = Annotated[dt.datetime, AfterValidator(_utc)]


def application_rules() -> list[dict]:
    """The request rules beyond single fields, as JSON Schema, so the OpenAPI spec states them.

    One identity (``household_id``, ``national_id``, or ``group_id`` with ``village_id``; not both
    ids), and each program's cap, longest term and longest grace. One rule has no JSON Schema
    form (it compares two fields): the grace period must be shorter than the term. The service
    checks them all (422 naming the rule) whether or not a client reads the spec.
    """
    programs = [
        {
            "properties": {
                "program": {"const": p.code},
                "amount": {"maximum": p.cap_vnd},
                "term_months": {"maximum": p.max_term_months},
                "grace_months": {"maximum": p.max_grace_months},
            }
        }
        for p in domain.PROGRAMS.values()
    ]

    def given(*names: str) -> dict:  # present and not null
        return {"required": list(names), "properties": {n: {"type": "string"} for n in names}}

    identity = [given("household_id"), given("national_id"), given("group_id", "village_id")]
    return [
        {"anyOf": identity},
        {"not": given("household_id", "national_id")},
        {"oneOf": programs},
    ]
