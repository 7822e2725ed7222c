"""Bad input on every route: 4xx at once, naming the field, no audit row, never a 5xx.

The request bodies, their fields and the query parameters come from the app's routes and their
pydantic models (:mod:`tests.support.request_models`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from tests.support.request_models import (
    body_routes,
    example,
    field_name,
    fields,
    query_params,
    spoil,
)
from tests.support.served import Served, count_audit, headers

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e309", "-1e309")
MASS_ASSIGNMENT = (
    "score",
    "probability",
    "band",
    "model_version",
    "model",
    "approved",
    "score_id",
    "reasons",
    "role",
    "client_id",
    "is_admin",
    "__proto__",
)


WRONG = {
    "number": ['"12"', "true", "[1]", '{"v": 1}'],
    "id": ["12", "true", '["x"]', '{"v": "x"}'],
    "free text": ["12", "true", '["x"]'],
    "choice": ['"no-such-choice"', "12", "true"],
    "bool": ['"true"', "1", "[true]"],
}


def send(
    api: TestClient,
    served: Served,
    method: str,
    path: str,
    content: bytes,
    content_type: str = "application/json",
    **extra: str,
):
    t0 = time.perf_counter()
    r = api.request(
        method,
        path,
        content=content,
        headers={**headers(served, "data"), "content-type": content_type, **extra},
    )
    return r, time.perf_counter() - t0


def rejected(r, elapsed: float, names: str, codes: tuple[int, ...] = (422,)) -> None:
    assert r.status_code in codes, (names, r.status_code, r.text[:300])
    assert names in r.json()["detail"], (names, r.text[:300])
    assert elapsed < 5.0, (names, elapsed)  # "at once" on a loaded 2-core machine


@pytest.fixture
def no_audit(api_db: Engine) -> Iterator[None]:
    before = count_audit(api_db)
    yield
    assert count_audit(api_db) == before, "a rejected request wrote an audit row"


def test_every_body_route_is_found_with_a_valid_example(api: TestClient, served: Served) -> None:
    routes = body_routes(api.app)
    assert {p for _, p, _ in routes} >= {
        "/v1/applications/score",
        "/v1/inspections/plans",
        "/v1/inspections/visits/x1/outcome",
    }
    for method, path, model in routes:
        r, _ = send(api, served, method, path, json.dumps(example(model)).encode())
        assert r.status_code not in (415, 422) and r.status_code < 500, (path, r.text[:300])


def test_non_finite_numbers_in_every_numeric_field(api, served: Served, no_audit) -> None:
    seen = 0
    for method, path, model in body_routes(api.app):
        for where, kind in fields(model):
            if kind != "number":
                continue
            for raw in NON_FINITE:
                r, dt = send(api, served, method, path, spoil(example(model), where, raw))
                rejected(r, dt, field_name(where))
                seen += 1
    assert seen >= 4 * len(NON_FINITE)


def test_wrong_types_in_every_field(api, served: Served, no_audit) -> None:
    for method, path, model in body_routes(api.app):
        for where, kind in fields(model):
            for raw in WRONG[kind]:
                r, dt = send(api, served, method, path, spoil(example(model), where, raw))
                rejected(r, dt, field_name(where))


def test_unknown_fields_are_refused_not_assigned(api, served: Served, no_audit) -> None:
    for method, path, model in body_routes(api.app):
        nested = [w[:-1] for w, _ in fields(model) if len(w) > 1][:1]
        for name in MASS_ASSIGNMENT:
            for where in [(), *nested]:
                body = example(model)
                target = body
                for step in where:
                    target = target[step]
                target[name] = 0.0 if name != "approved" else True
                r, dt = send(api, served, method, path, json.dumps(body).encode())
                rejected(r, dt, field_name((*where, name)))


def test_over_long_text_control_characters_and_foreign_script_ids(api, served, no_audit) -> None:
    """Ids take ASCII letters, digits and ``_.-`` only (a clear 422 for diacritics); free text
    takes any script (``test_vietnamese_notes_round_trip``) but not control characters."""
    for method, path, model in body_routes(api.app):
        for where, kind in fields(model):
            if kind not in ("id", "free text"):
                continue
            bad = ["x" * 5000, "C01\u0000", "\ud800", "a\u001bb"]
            bad += ["Hộ-Nguyễn-Văn-An", "🐃", "079912345678\u200b"] if kind == "id" else []
            for value in bad:
                raw = json.dumps(value)
                r, dt = send(api, served, method, path, spoil(example(model), where, raw))
                rejected(r, dt, field_name(where))


def test_vietnamese_notes_round_trip(api: TestClient, served: Served) -> None:
    h = headers(served, "data")
    # The service's "today" in May 2031: the month may be planned and its visits have happened.
    api.app.dependency_overrides[clock.today] = lambda: dt.date(2031, 5, 31)  # type: ignore[attr-defined]
    r = api.post(
        "/v1/inspections/plans",
        headers=h,
        json={
            "commune_id": served.communes[0],
            "month": "2031-05",
            "transaction_day": 15,
            "replace": True,
        },
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    visit = plan["visit_list"][0]["visit_id"]
    for notes in (
        "Hộ đã mua 2 con bò; vốn dùng đúng mục đích — hẹn kiểm tra lại",
        "Tày, Nùng 🐃",
        "Ho\u0323 nghe\u0300o (NFD)",
        "dòng 1\ndòng 2\ttab",
    ):
        body = {
            "use_of_funds": "correct",
            "borrower_present": True,
            "migrated": False,
            "notes": notes,
        }
        r = api.put(f"/v1/inspections/visits/{visit}/outcome", headers=h, json=body)
        assert r.status_code == 200 and r.json()["notes"] == notes, r.text
        got = api.get(f"/v1/inspections/plans/{plan['plan_id']}", headers=h).json()
        assert [v["outcome"]["notes"] for v in got["visit_list"] if v["visit_id"] == visit] == [
            notes
        ]
    api.app.dependency_overrides.pop(clock.today)  # type: ignore[attr-defined]


def test_malformed_json_and_wrong_content_types(api, served: Served, no_audit) -> None:
    ok = json.dumps(example(body_routes(api.app)[0][2])).encode()
    for method, path, _ in body_routes(api.app):
        for bad in (
            b"{",
            b'{"amount": }',
            b"\xff\xfe",
            b"",
            b"[]",
            b"null",
            b'{"a":1}{"b":2}',
            b"[" * 30000 + b"]" * 30000,
        ):
            r, dt = send(api, served, method, path, bad)
            rejected(r, dt, "body")
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r, dt = send(api, served, method, path, ok, content_type=kind)
            rejected(r, dt, "content-type", (415,))


def test_oversized_bodies_413_and_batches_422(api, served: Served, no_audit) -> None:
    for method, path, _ in body_routes(api.app):
        r, dt = send(api, served, method, path, b'{"notes": "' + b"x" * 70_000 + b'"}')
        assert r.status_code == 413 and "larger than" in r.json()["detail"], r.text
        chunks = iter([b'{"x": "', b"y" * 40_000, b"y" * 40_000, b'"}'])
        r = api.request(method, path, content=chunks, headers=headers(served, "data"))
        assert r.status_code == 413, r.text
    limit = api.app.state.services.settings.max_batch
    from serving.schemas import APPLICATION_EXAMPLES

    batch = {"applications": [APPLICATION_EXAMPLES[0]] * (limit + 1)}
    r, dt = send(api, served, "POST", "/v1/applications/score-batch", json.dumps(batch).encode())
    rejected(r, dt, "applications")
    assert f"at most {limit}" in r.json()["detail"]


def test_bad_query_and_path_parameters(api, served: Served, no_audit) -> None:
    numbers = ("-1", "0", "1e309", "NaN", "abc", "9" * 400)
    texts = ("Xã-Hướng-Hóa", "x" * 1000, "C01'; DROP TABLE score_audit;--", "%00")
    for path, name, kind in query_params(api.app):
        for value in numbers if kind == "number" else texts:
            t0 = time.perf_counter()
            r = api.get(
                path, params={name: value}, headers=headers(served, "data"), follow_redirects=False
            )
            assert r.status_code < 500 and value not in r.text, (path, name, value, r.text[:200])
            if path.startswith("/v1/") and value not in ("0",):  # pages clamp and fall back
                rejected(r, time.perf_counter() - t0, f"query.{name}")
    for path in ("/v1/households/{}/risk", "/v1/inspections/plans/{}"):
        for value in ("Hộ-01", "x" * 65, "a b"):
            r = api.get(path.format(value), headers=headers(served, "data"))
            assert r.status_code == 422 and "path." in r.json()["detail"], (path, value, r.text)
    for key in ("a b", "k" * 101, "ключ"):
        r = api.post(
            "/v1/applications/score",
            json=example(body_routes(api.app)[0][2]),
            headers={**headers(served, "data"), "Idempotency-Key": key.encode()},
        )
        rejected(r, 0.0, "header.Idempotency-Key")
