"""Keys and roles on every endpoint, health, readiness, metrics and model reload."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth import PERMISSIONS
from tests.serving.conftest import Served, headers

ENDPOINTS = {
    ("POST", "/v1/applications/score"): "applications:score",
    ("POST", "/v1/applications/score-batch"): "applications:score",
    ("GET", "/v1/households/H1/risk"): "households:read",
    ("GET", "/v1/inspections/priorities"): "inspections:read",
    ("GET", "/v1/models"): "models:read",
    ("POST", "/v1/admin/reload"): "admin:reload",
}
ROLES = ("officer", "inspector", "data", "admin")


def _call(api: TestClient, method: str, path: str, key: str | None) -> int:
    h = {"X-API-Key": key} if key else {}
    return api.request(method, path, headers=h, json={} if method == "POST" else None).status_code


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_every_endpoint_but_health_needs_a_valid_key(
    api: TestClient, method: str, path: str
) -> None:
    assert _call(api, method, path, None) == 401
    assert _call(api, method, path, "vbsp_not-a-key") == 401


@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(api: TestClient, served: Served, role: str) -> None:
    for (method, path), permission in ENDPOINTS.items():
        code = _call(api, method, path, served.keys[role])
        if role in PERMISSIONS[permission]:
            assert code != 403, (role, path)
        else:
            assert code == 403, (role, path, code)


def test_health_readiness_and_metrics(api: TestClient, served: Served) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["models"]["application"].endswith(f"v{served.versions['application']}")
    api.get("/v1/models", headers=headers(served, "officer"))
    text = api.get("/metrics").text
    assert 'vbsp_http_requests_total{method="GET",route="/v1/models",status="200"}' in text
    assert "vbsp_http_request_seconds_bucket" in text
    assert (
        f'vbsp_model_loaded{{model="overdue-risk-portfolio",version="{served.versions["portfolio"]}",view="portfolio"}} 1.0'
        in text
    )


def test_models_lists_the_champions(api: TestClient, served: Served) -> None:
    r = api.get("/v1/models", headers=headers(served, "officer"))
    assert {m["view"]: m["version"] for m in r.json()} == served.versions


def test_reload_keeps_serving_when_nothing_changed(api: TestClient, served: Served) -> None:
    r = api.post("/v1/admin/reload", headers=headers(served, "admin"))
    assert r.status_code == 200
    assert r.json()["result"] == {v: f"unchanged v{served.versions[v]}" for v in served.versions}


def test_not_ready_without_models_and_503_on_scoring(served: Served, tmp_path) -> None:
    from features.db import make_engine
    from serving.db.migrate import upgrade

    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    upgrade(make_engine(url))
    settings = served.settings(url, tracking_uri=f"sqlite:///{(tmp_path / 'none.db').as_posix()}")
    with TestClient(create_app(settings)) as api:
        r = api.get("/readyz")
        assert r.status_code == 503
        assert "no application model" in " ".join(r.json()["problems"])
        body = {"household_id": "H1", "program": "poor_household", "purpose": "crops",
                "amount": 1e6, "term_months": 12}  # fmt: skip
        r = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
        assert r.status_code == 503 and r.headers["retry-after"]


def test_oversized_body_is_413(api: TestClient, served: Served) -> None:
    r = api.post("/v1/applications/score", content=b"{" + b" " * 70_000 + b"}",
                 headers={**headers(served, "data"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413
