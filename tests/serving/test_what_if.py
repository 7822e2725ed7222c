"""What-if for officers, and the application score's response to the loan applied for.

Through the real app and the test session's application champion (trained on the small district
by ``tests/served.py``), on SQLite and PostgreSQL: ``what_if=true`` returns a grid of amounts and
terms within the program whose points equal separate scores; the served probability never falls
when only the amount grows, and moves materially across the program's range.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from features.domain import PROGRAMS
from serving.what_if import grid_amounts, grid_terms, what_if_grid
from tests.support.scoring_requests import application, riskiest_household
from tests.support.served import Served, count_audit, headers

SCORE = "/v1/applications/score"
M = 1_000_000
AMOUNTS = [5 * M, 10 * M, 20 * M, 30 * M, 40 * M, 60 * M, 80 * M, 100 * M]
MATERIAL = 1.2
"""Smallest ratio of the probability at 100 M VND to that at 5 M that counts as material: a fifth
more risk for the same household (on the small test district the champion gives about 1.3)."""


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_grid_stays_within_the_program_and_holds_the_request(program: str) -> None:
    p = PROGRAMS[program]
    amount, term, grace = min(40 * M, p.cap_vnd), min(36, p.max_term_months), 0
    fields = {
        "program": program,
        "purpose": "crops",
        "amount": amount,
        "term_months": term,
        "grace_months": grace,
    }
    grid = what_if_grid(fields)
    assert {(g["amount"], g["term_months"]) for g in grid} >= {(amount, term)}
    assert all(0 < g["amount"] <= p.cap_vnd for g in grid)
    assert all(grace < g["term_months"] <= p.max_term_months for g in grid)
    assert all(g["program"] == program and g["grace_months"] == grace for g in grid)
    assert (
        2 <= len({g["amount"] for g in grid}) <= 6
        and 2 <= len({g["term_months"] for g in grid}) <= 5
    )


def test_grid_edges() -> None:
    assert grid_amounts(100 * M, 100 * M)[-1] == 100 * M  # at the cap: nothing above it
    assert grid_amounts(1.5 * M, 100 * M)[0] == 1 * M  # never below 1 M
    assert grid_terms(12, 10, 60)[0] == 12  # no term shorter than the grace period allows
    assert grid_terms(60, 0, 60)[-1] == 60 and grid_terms(37, 0, 120).count(37) == 1


def test_what_if_points_equal_separate_scores(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = riskiest_household(api_db, served, served.communes[0])
    body_in = application(row["entity_id"], amount=40 * M, term_months=36)
    before = count_audit(api_db)
    r = api.post(
        SCORE, params={"what_if": "true"}, json=body_in, headers=headers(served, "officer")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert count_audit(api_db) == before + 1  # the grid is answered with the score, one row
    w = body["what_if"]
    assert len(w["points"]) == len(w["amounts"]) * len(w["terms"])
    mine = [p for p in w["points"] if p["requested"]]
    assert len(mine) == 1 and mine[0]["probability"] == body["probability"]
    assert mine[0]["difference"] == 0
    for p in (w["points"][0], w["points"][-1]):
        one = api.post(
            SCORE,
            json={**body_in, "amount": p["amount"], "term_months": p["term_months"]},
            headers=headers(served, "officer"),
        ).json()
        assert one["probability"] == pytest.approx(p["probability"], abs=1e-12)
        assert p["difference"] == pytest.approx(p["probability"] - body["probability"], abs=1e-12)
    plain = api.post(SCORE, json=body_in, headers=headers(served, "officer")).json()
    assert "what_if" not in plain
    bad = api.post(
        SCORE, params={"what_if": "maybe"}, json=body_in, headers=headers(served, "officer")
    )
    assert bad.status_code == 422 and "what_if" in bad.text


def test_served_probability_rises_with_the_amount_and_materially(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = riskiest_household(api_db, served, served.communes[0])
    probs = []
    for amount in AMOUNTS:
        body = application(row["entity_id"], amount=amount, term_months=60)
        r = api.post(
            SCORE, json=body, headers=headers(served, "officer"), params={"explain": "false"}
        )
        assert r.status_code == 200, r.text
        probs.append(r.json()["probability"])
    assert all(b >= a for a, b in zip(probs, probs[1:], strict=False)), probs
    assert probs[-1] >= MATERIAL * probs[0], probs
