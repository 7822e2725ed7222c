"""Scoring an application: who is applying, is the application within its program, what risk.

Pure service logic behind the applications router: resolves the household (by pseudonymous id,
by national ID through the keyed pseudonym, or as a new member of a group), checks the program's
caps and terms with the domain rules shared with batch validation, assembles the feature vector
from the online store exactly as the batch application view does, and scores it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from features.application import validate_application
from features.domain import pseudonym
from features.online_store import application_part, complete_vector
from serving.bands import band
from serving.model_store import LoadedModel
from serving.reasons import top_reasons
from serving.schemas import ApplicationIn


class UnknownEntityError(LookupError):
    """No such household or group (or not one the caller may see)."""


class ApplicationRejectedError(ValueError):
    """The application breaks its program's rules; ``problems`` are readable messages."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Scored:
    """One scored application (before it is written to the audit log)."""

    stored: Mapping[str, object]
    probability: float
    band: str
    reasons: list[dict[str, object]]


def application_fields(app: ApplicationIn) -> dict[str, object]:
    """The application's own fields (no identity) as plain values."""
    return {
        "program": app.program.value,
        "purpose": app.purpose.value,
        "amount": app.amount,
        "term_months": app.term_months,
        "grace_months": app.grace_months,
    }


def check_program(fields: Mapping[str, object]) -> None:
    """Program caps, terms and grace from the domain.

    Args:
        fields: An application's :func:`application_fields`.

    Raises:
        ApplicationRejectedError: With every problem found.
    """
    problems = validate_application(fields)
    if problems:
        raise ApplicationRejectedError(problems)


def resolve(
    lookup: Callable[..., Mapping[str, object] | None],
    app: ApplicationIn,
    pii_key: bytes | None,
    communes: frozenset[str] | None,
) -> Mapping[str, object]:
    """The online-store row the application is scored from.

    Args:
        lookup: ``lookup(household_id=..)`` / ``lookup(group_id=..)`` → stored row or ``None``
            (the service's in-memory :class:`~serving.online_cache.OnlineCache`).
        app: The application.
        pii_key: Key of the national-ID pseudonym (``None``: national IDs refused).
        communes: Communes the caller may see (``None``: all).

    Raises:
        UnknownEntityError: Unknown household or group, or in a commune the caller may not see.
        ApplicationRejectedError: National ID given but no pseudonym key configured, or a new
            member's village is not the group's.
    """
    if app.national_id is not None:
        if pii_key is None:
            raise ApplicationRejectedError(
                ["national_id lookup is not configured; give household_id"]
            )
        stored = lookup(household_id=pseudonym(app.national_id, pii_key))
        what = "household (by national_id)"
    elif app.household_id is not None:
        stored = lookup(household_id=app.household_id)
        what = f"household {app.household_id}"
    else:
        stored = lookup(group_id=app.group_id)
        what = f"group {app.group_id}"
        if stored is not None and stored["village_id"] != app.village_id:
            raise ApplicationRejectedError(
                [f"village_id {app.village_id} is not the village of group {app.group_id}"]
            )
    if stored is None or (communes is not None and stored["commune_id"] not in communes):
        raise UnknownEntityError(f"unknown {what}")
    return stored


def score_applications(
    model: LoadedModel,
    stored_rows: Sequence[Mapping[str, object]],
    apps: Sequence[ApplicationIn],
    explain: bool = True,
    fields: Sequence[Mapping[str, object]] | None = None,
) -> list[Scored]:
    """Score applications in one booster call (and one contribution pass when explaining).

    The matrix is :meth:`LoadedModel.matrix` of :func:`assemble_vector`'s vectors, built from
    each stored row's features encoded once per model; the vectors themselves are assembled
    only to word the reasons. ``fields`` are the applications' :func:`application_fields`
    when the caller has them already.
    """
    if fields is None:
        fields = [application_fields(app) for app in apps]
    parts = [application_part(s, f) for s, f in zip(stored_rows, fields, strict=True)]
    x = model.application_matrix(stored_rows, parts)
    probs = model.predict(x)
    contrib = model.contributions(x) if explain else None
    out = []
    for i, (stored, part) in enumerate(zip(stored_rows, parts, strict=True)):
        p = float(probs[i])
        reasons = (
            []
            if contrib is None
            else top_reasons(model.names, contrib[i], complete_vector(stored, part))
        )
        out.append(Scored(stored, p, band(p), reasons))
    return out
