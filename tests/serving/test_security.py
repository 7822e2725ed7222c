"""Security: pages behind sign-in and roles, object-level access by commune, no personal data
echoed or logged, national IDs and keys never stored in clear, security headers.

Keys and roles on the JSON API (401 / 403 for every route) are in ``test_access``.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from serving import clock
from serving.auth import PERMISSIONS
from serving.web import render
from tests.support.app_routes import ROLES, routes
from tests.support.canaries import table_text
from tests.support.request_models import body_routes, example, fields, query_params, spoil
from tests.support.served import Served, count_audit, headers
from tests.support.web_session import sign_in, sign_out

CANARIES = ("079912345678", "Hồ Thị Canary", "Vân Kiều")
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP client, not the service


def _forms(text: str) -> set[str]:
    return {
        text,
        json.dumps(text)[1:-1],
        quote(text),
        quote(text, safe=""),
        text.encode("unicode_escape").decode(),
    }


def assert_no_canary(text: str, where: object) -> None:
    for canary in CANARIES:
        for form in _forms(canary):
            assert form not in text, (where, canary, text[:300])


def test_pages_need_sign_in_and_the_role(api: TestClient, served: Served) -> None:
    """Pages answer a browser: no or a wrong cookie is a redirect to the sign-in form (the 401
    of pages, showing no data); a role without the permission is 403."""
    guarded = [(m, p, perm) for m, p, perm, page in routes(api.app) if page and perm is not None]
    assert len(guarded) >= 8
    for method, path, _ in guarded:
        for cookie in ({}, {"vbsp_session": "vbsp_wrong"}):
            sign_out(api)
            api.cookies.update(cookie)
            r = api.request(method, path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), path
    for role in ROLES:
        sign_in(api, served.keys[role])  # every form post with the session's token
        for method, path, perm in guarded:
            code = api.request(method, path, follow_redirects=False).status_code
            if role in PERMISSIONS[perm]:
                assert code != 403 and code < 500, (role, method, path, code)
            else:
                assert code == 403, (role, method, path, code)
    sign_out(api)


def _plan(api: TestClient, served: Served) -> dict:
    r = api.post(
        "/v1/inspections/plans",
        headers=headers(served, "data"),
        json={
            "commune_id": served.communes[0],
            "month": clock.month_of(clock.today()),
            "transaction_day": 10,
            "replace": True,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_commune_scoped_keys_cannot_reach_other_communes(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    plan = _plan(api, served)
    visit = plan["visit_list"][0]
    hid = visit["household_id"]
    out = {
        "officer": headers(served, "officer_other"),
        "inspector": headers(served, "inspector_other"),
    }
    mine = headers(served, "data")
    assert api.get(f"/v1/households/{hid}/risk", headers=mine).status_code == 200
    unknown = api.get("/v1/households/H-none/risk", headers=out["officer"])
    r = api.get(f"/v1/households/{hid}/risk", headers=out["officer"])
    assert (
        (r.status_code, r.json()) == (unknown.status_code, unknown.json()) == (404, unknown.json())
    )
    before = count_audit(api_db)
    for hh in (hid, "H-none"):
        app = {
            "household_id": hh,
            "program": "poor_household",
            "purpose": "crops",
            "amount": 1e7,
            "term_months": 12,
        }
        r = api.post("/v1/applications/score", json=app, headers=out["officer"])
        assert r.status_code == 404 and hid not in r.text
        r = api.post(
            "/v1/applications/score-batch", json={"applications": [app]}, headers=out["officer"]
        )
        assert r.status_code == 404 and hid not in r.text
    assert count_audit(api_db) == before
    insp = out["inspector"]
    for commune in (served.communes[0], "C-NONE"):  # existing or not: the same answer
        r = api.get("/v1/inspections/priorities", params={"commune_id": commune}, headers=insp)
        assert r.status_code == 403, r.text
        r = api.post(
            "/v1/inspections/plans", json={"commune_id": commune, "month": "2032-04"}, headers=insp
        )
        assert r.status_code == 403, r.text
    r = api.get("/v1/inspections/priorities", headers=insp)
    assert r.status_code == 404 and hid not in r.text
    assert api.get("/v1/inspections/plans", headers=insp).json() == []
    for pid in (plan["plan_id"], "P-none"):
        r = api.get(f"/v1/inspections/plans/{pid}", headers=insp)
        assert r.status_code == 404 and r.json() == {"detail": "plan_id: unknown plan"}
    outcome = {"use_of_funds": "misuse", "borrower_present": False, "migrated": True}
    for vid in (visit["visit_id"], "V-none"):
        r = api.put(f"/v1/inspections/visits/{vid}/outcome", json=outcome, headers=insp)
        assert r.status_code == 404 and r.json() == {"detail": "visit_id: unknown visit"}
    got = api.get(f"/v1/inspections/plans/{plan['plan_id']}", headers=mine).json()
    assert all(v["outcome"] is None for v in got["visit_list"])
    for key, path in (
        ("officer_other", f"/ui/households/{hid}"),
        ("inspector_other", f"/ui/plans/{plan['plan_id']}"),
    ):
        sign_in(api, served.keys[key])
        r = api.get(path)
        assert r.status_code == 404 and hid not in r.text, path
    sign_in(api, served.keys["inspector_other"])
    assert hid not in api.get("/ui/priorities").text
    sign_out(api)


def _requests(api: TestClient, canary: str):
    """(method, path, kwargs) putting ``canary`` in every body field, query and path parameter,
    and header a client controls."""
    raw = json.dumps(canary)
    for method, path, model in body_routes(api.app):
        for where, _ in fields(model):
            yield (
                method,
                path,
                {
                    "content": spoil(example(model), where, raw),
                    "headers": {"content-type": "application/json"},
                },
            )
        yield method, path, {"json": {**example(model), canary: 1}}
    for method, path, _, _page in routes(api.app):
        if method == "GET":
            yield method, path.replace("x1", quote(canary, safe="")), {}
            yield method, path, {"params": {"unknown": canary}}
    for path, name, _ in query_params(api.app):
        yield "GET", path, {"params": {name: canary}}
    for method, path, _ in [(m, p, x) for m, p, x in body_routes(api.app)][:2]:
        yield (
            method,
            path,
            {
                "json": {},
                "headers": {
                    "Idempotency-Key": canary.encode(),
                    "User-Agent": canary.encode(),
                    "Referer": quote(canary),
                    "X-Forwarded-For": quote(canary),
                },
            },
        )


@pytest.mark.parametrize("role", ["data", "officer"])
def test_canary_personal_data_is_never_echoed_or_logged(
    api: TestClient, served: Served, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in(api, served.keys[role])
    sent = 0
    for canary in CANARIES:
        for method, path, kw in _requests(api, canary):
            h = {**headers(served, role), **kw.pop("headers", {})}
            r = api.request(method, path, headers=h, follow_redirects=False, **kw)
            assert r.status_code < 500, (method, path, r.status_code)
            assert_no_canary(r.text, (method, path, kw))
            assert_no_canary(json.dumps(dict(r.headers)), (method, path, "headers"))
            sent += 1
    sign_out(api)
    assert sent > 300
    api.post("/v1/admin/reload", headers=headers(served, "data"))  # the service logs the reload
    service = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert service, "the service logged nothing: the capture is not working"
    assert_no_canary("\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in service), "logs")


def test_the_server_writes_no_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's access log would print every request line, ids and query strings included."""
    from vbsp_risk import serve_cmd

    seen = {}

    class Server:
        started = True

        def __init__(self, config: object) -> None:
            seen["config"] = config

        def run(self) -> None:
            pass

    monkeypatch.setattr(serve_cmd, "_graceful_server_class", lambda *_: Server)
    serve_cmd.serve_cmd(host="127.0.0.1", port=8000, migrate=False, workers=1)
    assert seen["config"].access_log is False


def test_no_national_id_ethnicity_or_key_stored_in_clear(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    """The bank's export carries pseudonyms only; a national ID sent to the service is turned
    into its keyed pseudonym and kept nowhere; ethnicity stays out of the service's tables; API
    keys are kept as SHA-256 hashes only (database and keys file)."""
    assert not [
        (t, c)
        for t, f in served.tables.items()
        for c in f.columns
        if "national" in c or "cccd" in c
    ]
    app = {
        "national_id": CANARIES[0],
        "program": "poor_household",
        "purpose": "crops",
        "amount": 1e7,
        "term_months": 12,
    }
    assert (
        api.post("/v1/applications/score", json=app, headers=headers(served, "data")).status_code
        == 404
    )
    text = table_text(api_db)
    assert len(text) > 10_000  # the scan reads the filled tables
    assert CANARIES[0] not in text
    ethnicities = set(served.tables["protected_attributes"]["ethnicity"]) - {"Kinh"}
    assert ethnicities and not [e for e in ethnicities if e in text]
    keys_file = served.keys_file.read_text(encoding="utf-8")
    for key in served.keys.values():
        for form in (key, key.removeprefix("vbsp_")):
            assert form not in text and form not in keys_file


def test_security_headers(api: TestClient, served: Served) -> None:
    r = api.get("/v1/inspections/priorities", headers=headers(served, "data"))
    assert r.status_code == 200
    for resp in (
        r,
        api.get("/healthz"),
        api.get("/v1/models"),
        api.post("/v1/applications/score", content=b"{" + b" " * 70_000 + b"}"),
    ):
        h = resp.headers
        assert h["x-content-type-options"] == "nosniff", resp.url
        assert (
            h["x-frame-options"] == "DENY"
            and "frame-ancestors 'none'" in h["content-security-policy"]
        )
        assert h["referrer-policy"] == "no-referrer" and h["cache-control"] == "no-store"
    sign_in(api, served.keys["data"])
    for path in ("/ui/login", "/ui/priorities", "/ui/model"):
        h = api.get(path).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert h["x-content-type-options"] == "nosniff" and h["cache-control"] == "no-store"
        assert h["referrer-policy"] == "same-origin"  # no-referrer makes form posts Origin: null
    sign_out(api)
    static = api.get("/static/" + sorted((render.HERE / "static").glob("*.*"))[0].name)
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


def test_https_responses_ask_for_https_only() -> None:
    from serving.security_headers import headers_for

    assert (b"strict-transport-security", b"max-age=31536000") in headers_for("/v1/models", True)
    assert not [n for n, _ in headers_for("/v1/models", False) if n == b"strict-transport-security"]
    assert (b"cache-control", b"no-store") not in headers_for("/static/app.css", False)
