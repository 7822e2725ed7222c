"""Request ids: every answer of the real app carries a fresh ``X-Request-ID`` (never the
caller's), and log lines written while handling a request name it (error pages show it:
``tests/serving/test_pages.py``)."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from serving.request_id import RequestIdFilter, RequestIds
from tests.support.served import Served, headers

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]+")


def test_ids_are_unique_within_and_across_processes() -> None:
    a, b = RequestIds(), RequestIds()
    ids = [a() for _ in range(1000)] + [b() for _ in range(1000)]
    assert len(set(ids)) == 2000 and all(ID.fullmatch(i) for i in ids)


def test_every_answer_has_its_own_id_and_the_callers_is_not_used(api: TestClient) -> None:
    answers = [
        api.get("/healthz"),
        api.get("/metrics"),
        api.get("/v1/models"),  # 401: no key
        api.get("/healthz", headers={"X-Request-ID": "079123456789"}),  # a citizen ID, say
    ]
    ids = [r.headers["x-request-id"] for r in answers]
    assert all(ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids) and "079123456789" not in ids
    assert answers[2].status_code == 401


def test_log_lines_of_a_request_name_its_id(
    served: Served, api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="serving"):
        r = api.post(
            "/v1/applications/score",
            json={
                "household_id": "H-nobody",
                "program": "poor_household",
                "purpose": "crops",
                "amount": 1_000_000,
                "term_months": 12,
            },
            headers=headers(served, "data"),
        )
        logging.getLogger("serving.test").info("outside a request")
    assert r.status_code == 404
    lines = [rec for rec in caplog.records if "unknown entity" in rec.getMessage()]
    assert lines and {rec.request_id for rec in lines} == {r.headers["x-request-id"]}
    assert caplog.records[-1].getMessage() == "outside a request"
    assert caplog.records[-1].request_id == "-"
