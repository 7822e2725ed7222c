"""Keys and roles on every route (derived from the app, so a new route cannot escape), health,
readiness, metrics and model reload."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.auth import PERMISSIONS
from tests.support.app_routes import ROLES, routes
from tests.support.served import Served, headers
from tests.support.web_session import sign_in, sign_out

# Public without a key, and why: liveness, readiness and metrics for the orchestrator and
# Prometheus (no personal data: counts and latencies by route template and model version); the
# API's description (no data). Everything else needs a key (API) or a signed-in cookie (pages).
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def api_routes(app: object) -> list[tuple[str, str, str]]:
    """(method, path, permission) of every API route that needs a key."""
    return [(m, p, perm) for m, p, perm, page in routes(app) if not page and (m, p) not in PUBLIC]


def _call(api: TestClient, method: str, path: str, key: str | None) -> int:
    h = {"X-API-Key": key} if key else {}
    body = {} if method in ("POST", "PUT") else None
    return api.request(method, path, headers=h, json=body).status_code


def test_every_route_is_public_by_decision_or_guarded(api: TestClient) -> None:
    found = routes(api.app)
    assert len(found) >= 30
    for method, path, perm, page in found:
        public = (method, path) in PUBLIC or (page and perm is None)
        assert public or perm in PERMISSIONS, (method, path, perm)
    assert {(m, p) for m, p, _, _ in found} >= PUBLIC - {("GET", "/docs/oauth2-redirect")}
    assert ("POST", "/v1/bench/noop") in {(m, p) for m, p, _ in api_routes(api.app)}


def test_every_endpoint_but_health_needs_a_valid_key(api: TestClient, served: Served) -> None:
    for method, path, _ in api_routes(api.app):
        for key in (None, "vbsp_not-a-key", "", "x" * 5000):
            assert _call(api, method, path, key) == 401, (method, path, key)
        sign_in(api, served.keys["data"])
        r = api.request(method, path, json={})
        sign_out(api)
        assert r.status_code == 401, (method, path)  # the API never signs in by cookie


@pytest.mark.parametrize("role", ROLES)
def test_role_endpoint_matrix(api: TestClient, served: Served, role: str) -> None:
    for method, path, permission in api_routes(api.app):
        code = _call(api, method, path, served.keys[role])
        if role in PERMISSIONS[permission]:
            assert code not in (401, 403), (role, method, path, code)
        else:
            assert code == 403, (role, method, path, code)


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
    from vbsp_state.engine import make_engine
    from vbsp_state.migrate import upgrade

    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    upgrade(make_engine(url))
    settings = served.settings(url, tracking_uri=f"sqlite:///{(tmp_path / 'none.db').as_posix()}")
    with TestClient(create_app(settings)) as api:
        r = api.get("/readyz")
        assert r.status_code == 503
        assert "no application model" in " ".join(r.json()["problems"])
        body = {
            "household_id": "H1",
            "program": "poor_household",
            "purpose": "crops",
            "amount": 1e6,
            "term_months": 12,
        }
        r = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
        assert r.status_code == 503 and r.headers["retry-after"]


def test_oversized_body_is_413(api: TestClient, served: Served) -> None:
    r = api.post(
        "/v1/applications/score",
        content=b"{" + b" " * 70_000 + b"}",
        headers={**headers(served, "data"), "content-type": "application/json"},
    )
    assert r.status_code == 413
