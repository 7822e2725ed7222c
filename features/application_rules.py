"""Rules of an application against its program: caps, terms, grace, known codes.

:func:`validate_application` gives the service (and the CLI) clear, readable messages for an
application that breaks a program's limits, from the same :data:`features.domain.PROGRAMS` the
batch validation of the ``loans`` table uses. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

from features import domain
from features.numbers import finite_or_none


def _vnd(x: float) -> str:
    return f"{x:,.0f} VND"


def validate_application(row: Mapping[str, object]) -> list[str]:
    """Problems of one application against its program's limits, as readable messages.

    Checks: known program and purpose; amount, term and grace present, whole where they must be,
    positive (grace may be 0); amount not over the program's cap
    (:data:`features.domain.PROGRAMS` ``cap_vnd``), term not over its longest term, grace not
    over its longest grace period and shorter than the term.

    Args:
        row: A mapping (dict, Series, pydantic ``model_dump()``) with :data:`APPLICATION_FIELDS`.

    Returns:
        Messages in English, one per problem; empty when the application is acceptable.
    """
    problems: list[str] = []
    code = row.get("program")
    program = domain.PROGRAMS.get(code) if isinstance(code, str) else None
    if program is None:
        problems.append(f"unknown program {code!r}; expected one of: {', '.join(domain.PROGRAMS)}")
    purpose = row.get("purpose")
    if not isinstance(purpose, str) or purpose not in domain.PURPOSES:
        problems.append(
            f"unknown purpose {purpose!r}; expected one of: {', '.join(domain.PURPOSES)}"
        )
    amount = finite_or_none(row.get("amount"))
    term = finite_or_none(row.get("term_months"))
    grace = finite_or_none(row.get("grace_months"))
    if amount is None:
        problems.append(f"amount must be a number of VND, got {row.get('amount')!r}")
    elif amount <= 0:
        problems.append(f"amount must be positive, got {_vnd(amount)}")
    for name, value, minimum in (("term_months", term, 1), ("grace_months", grace, 0)):
        if value is None:
            problems.append(f"{name} must be a whole number of months, got {row.get(name)!r}")
        elif value != int(value) or value < minimum:
            problems.append(f"{name} must be a whole number of months >= {minimum}, got {value:g}")
    if program is not None:
        name = f"program '{program.code}' ({program.label_en})"
        if amount is not None and amount > program.cap_vnd:
            problems.append(
                f"amount {_vnd(amount)} is over the cap of {_vnd(program.cap_vnd)} for {name}"
            )
        if term is not None and term > program.max_term_months:
            problems.append(
                f"term of {term:g} months is over the longest term of "
                f"{program.max_term_months} months for {name}"
            )
        if grace is not None and grace > program.max_grace_months:
            problems.append(
                f"grace of {grace:g} months is over the longest grace period of "
                f"{program.max_grace_months} months for {name}"
            )
    if term is not None and grace is not None and term >= 1 and grace >= term:
        problems.append(
            f"grace of {grace:g} months must be shorter than the term ({term:g} months)"
        )
    return problems
