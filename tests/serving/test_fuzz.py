"""Schema fuzzing: Schemathesis against the app's own OpenAPI spec, every check on, no network.

The engine the ``schemathesis run`` command uses drives the ASGI app in process through all its
phases (the spec's examples, boundary coverage, positive and negative fuzzing, stateful chains
learnt from responses) with every check enabled: no 5xx, responses and status codes as
documented, schema-invalid requests rejected, schema-valid ones accepted, ``Allow`` headers, auth
not ignored, and the rest. Seeded and derandomized, so a run is reproducible; a bounded example
count keeps it under a minute on both databases. ``benchmarks/fuzz_api.py`` runs the same with
more examples on ``make run``'s district.

One request rule has no JSON Schema form (it compares two fields: grace shorter than the term),
so :func:`fit_cases` keeps generated *valid* applications within it, as a client reading the
spec's description would; a valid request's ``Idempotency-Key`` is made unique to the case, since
a reused key with another body is refused by design (422, ``test_api``). Nothing else is bent.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI

from tests.support.api_fuzz import SEED, FuzzReport, fuzz
from tests.support.served import Served, headers

pytestmark = pytest.mark.system  # Schemathesis fuzzing of the API (make test-all)

logger = logging.getLogger(__name__)
CI_EXAMPLES = 4


def _operations(app: FastAPI) -> set[str]:
    spec = app.openapi()
    return {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}


def _assert_clean(report: FuzzReport, app: FastAPI) -> None:
    logger.info("schemathesis: %s", report.summary())
    problems = [f"{k}: {v[:600]}" for k, v in report.failures.items()] + report.errors
    assert not problems, "\n".join(problems)
    assert _operations(app) <= set(report.cases), "operations never exercised"
    assert report.checks["negative_data_rejection", "success"] > 0
    assert report.checks["positive_data_acceptance", "success"] > 0


def test_schemathesis_all_checks_with_the_data_key(api, served: Served) -> None:
    report = fuzz(api.app, headers(served, "data")["X-API-Key"], CI_EXAMPLES)
    _assert_clean(report, api.app)
    statuses = {code for _, code in report.statuses}
    assert {200, 201, 401, 404, 422} <= statuses, statuses  # valid, invalid and unknown reached
    assert not [code for code in statuses if code >= 500]


def test_schemathesis_all_checks_with_an_officer_key(api, served: Served) -> None:
    """A commune-scoped role: its forbidden operations must be 403 as documented, never 5xx
    (the boundary-value phase, run with the data key above, is left out to save time)."""
    report = fuzz(api.app, headers(served, "officer")["X-API-Key"], 3, SEED + 1, coverage=False)
    _assert_clean(report, api.app)
    assert any(code == 403 for _, code in report.statuses)
