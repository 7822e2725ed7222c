"""The Schemathesis run of ``tests/serving/test_fuzz.py`` and ``benchmarks/fuzz_api.py``.

Every phase (the spec's examples, boundary coverage, positive and negative fuzzing, stateful
chains) with every check, against the ASGI app in process, seeded and derandomized. One request
rule has no JSON Schema form (grace shorter than the term), so :func:`fit_cases` keeps generated
*valid* applications within it; a valid request's ``Idempotency-Key`` is made unique to the case.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from fastapi import FastAPI
from schemathesis.engine import events, from_schema

logger = logging.getLogger(__name__)
SEED = 20261127
"""The fuzz runs' seed (reproducible)."""


@dataclass
class FuzzReport:
    """What a fuzz run did: cases per operation, check outcomes, failures and generation errors."""

    cases: Counter = field(default_factory=Counter)
    checks: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: cases, checks run, failures, errors."""
        return (
            f"{sum(self.cases.values())} cases over {len(self.cases)} operations, "
            f"{sum(self.checks.values())} checks, {len(self.failures)} distinct failures, "
            f"{len(self.errors)} generation errors"
        )


def fit_cases(context: object, case: schemathesis.Case) -> schemathesis.Case:
    """Keep valid applications' grace below the term, and valid retries' keys unique."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    body = case.body
    apps = body.get("applications", [body]) if isinstance(body, dict) else []
    for app in apps if isinstance(apps, list) else []:
        term, grace = (
            app.get(k) if isinstance(app, dict) else None for k in ("term_months", "grace_months")
        )
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (term, grace))
        if numbers and grace >= term:  # JSON Schema integers include 36.0
            app["grace_months"] = int(term) - 1
    if case.headers and case.headers.get("Idempotency-Key"):
        case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key'][:90]}-{case.id}"
    return case


def fuzz(
    app: FastAPI, key: str, examples: int, seed: int = SEED, coverage: bool = True
) -> FuzzReport:
    """Run the Schemathesis phases with every check against ``app`` (its lifespan started).

    ``coverage=False`` leaves out the boundary-value phase (most of a short run's time).
    """
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "headers": {"X-API-Key": key},
            "checks": {"enabled": True},
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "phases": {"coverage": {"enabled": coverage}},
            "max-failures": 1000,
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.hook("map_case")(fit_cases)
    report = FuzzReport()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(f"{getattr(event, 'label', '')}: {event}")
    return report


def _record(report: FuzzReport, recorder: object) -> None:
    label = recorder.label  # type: ignore[attr-defined]
    report.cases[label] += len(recorder.cases)  # type: ignore[attr-defined]
    for case_id, nodes in recorder.checks.items():  # type: ignore[attr-defined]
        for node in nodes:
            report.checks[node.name, str(node.status)] += 1
            if node.failure_info is not None:
                failure = node.failure_info.failure
                interaction = recorder.interactions.get(case_id)  # type: ignore[attr-defined]
                report.failures.setdefault(
                    (label, node.name, failure.title), _describe(interaction, failure.message)
                )
    for interaction in recorder.interactions.values():  # type: ignore[attr-defined]
        if interaction.response is not None:
            report.statuses[label, interaction.response.status_code] += 1


def _describe(interaction: object, message: str) -> str:
    """The failing request and answer, shortened (bodies as sent: generated data, no secrets)."""
    if interaction is None:
        return message
    req, resp = interaction.request, interaction.response  # type: ignore[attr-defined]
    body = (req.body or b"")[:300]
    answer = f"{resp.status_code} {(resp.content or b'')[:300]!r}" if resp is not None else "-"
    return f"{req.method} {req.uri} {body!r} -> {answer}: {message}"
