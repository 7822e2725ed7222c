"""What-if for loan officers: the same household's risk at other amounts and terms.

An officer who sees a high risk wants to know what would lower it: a smaller loan, a longer term.
:func:`what_if_grid` lays out a small grid around the request (up to five amounts and five terms,
within the program's cap, longest term and the request's grace period) and :func:`score_what_if`
scores every point in one booster call from the same stored row and by the same feature formulas
as the request itself (:func:`serving.scoring.score_applications`), so the grid's point at the
requested amount and term is the request's own probability.
"""

from __future__ import annotations

from collections.abc import Mapping

from features import domain
from serving.bands import band
from serving.model_store import LoadedModel
from serving.scoring import score_applications

AMOUNT_FACTORS: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
"""Amounts of the grid as multiples of the requested amount (rounded, capped)."""
STANDARD_TERMS: tuple[int, ...] = (6, 12, 18, 24, 36, 48, 60, 84, 120, 180)
"""Terms an officer commonly offers, in months; the grid takes the nearest two on each side."""
ROUND_VND = 1_000_000
"""Grid amounts are whole millions of VND (the request's own amount is kept as it is)."""


def grid_amounts(amount: float, cap: float) -> list[float]:
    """Amounts around ``amount``: :data:`AMOUNT_FACTORS` multiples, rounded, within ``(0, cap]``."""
    out = {float(amount)}
    for factor in AMOUNT_FACTORS:
        x = round(amount * factor / ROUND_VND) * ROUND_VND
        out.add(float(min(max(x, ROUND_VND), cap)))
    return sorted(a for a in out if 0 < a <= cap)


def grid_terms(term: int, grace: int, max_term: int) -> list[int]:
    """Terms around ``term``: itself and the two nearest :data:`STANDARD_TERMS` on each side,
    each longer than the grace period and within the program's longest term."""
    allowed = sorted({term, *(t for t in STANDARD_TERMS if grace < t <= max_term)})
    i = allowed.index(term)
    return allowed[max(i - 2, 0) : i + 3]


def what_if_grid(fields: Mapping[str, object]) -> list[dict[str, object]]:
    """The application's fields at every grid point (amount-major order).

    Args:
        fields: A valid application's :func:`serving.scoring.application_fields` (checked
            against its program by :func:`serving.scoring.check_program` beforehand).
    """
    program = domain.PROGRAMS[str(fields["program"])]
    amount = float(fields["amount"])  # type: ignore[arg-type]
    term, grace = int(fields["term_months"]), int(fields["grace_months"])  # type: ignore[call-overload]
    return [
        {**fields, "amount": a, "term_months": t}
        for a in grid_amounts(amount, float(program.cap_vnd))
        for t in grid_terms(term, grace, program.max_term_months)
    ]


def score_what_if(
    model: LoadedModel,
    stored: Mapping[str, object],
    fields: Mapping[str, object],
    probability: float,
) -> dict[str, object]:
    """The what-if block of a response: every grid point's probability, band and difference.

    Args:
        model: The served application model.
        stored: The online-store row the request was scored from.
        fields: The request's application fields.
        probability: The request's own probability (differences are against it).

    Returns:
        ``amounts``, ``terms`` (the grid's axes) and ``points`` (one per amount and term).
    """
    grid = what_if_grid(fields)
    scored = score_applications(model, [stored] * len(grid), [], False, grid)
    points = [
        {
            "amount": g["amount"],
            "term_months": g["term_months"],
            "probability": s.probability,
            "band": band(s.probability),
            "difference": s.probability - probability,
            "requested": g["amount"] == fields["amount"]
            and g["term_months"] == fields["term_months"],
        }
        for g, s in zip(grid, scored, strict=True)
    ]
    return {
        "amounts": sorted({p["amount"] for p in points}),
        "terms": sorted({p["term_months"] for p in points}),
        "points": points,
    }
