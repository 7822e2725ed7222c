"""Readiness per view (issue 20, item 8): ``/readyz`` reports each view, a loaded view keeps
serving when the other has no champion, the service is ready when its required views are, and
``vbsp-risk serve`` prints which views serve."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from rich.console import Console

from serving.app import create_app
from serving.model_store import ModelHolder, load_registered
from serving.settings import ServiceSettings
from tests.support.live_server import filled_sqlite
from tests.support.served import Served, headers

APPLICATION = {
    "program": "poor_household",
    "purpose": "livestock",
    "amount": 40_000_000,
    "term_months": 36,
    "grace_months": 0,
}


@pytest.fixture(scope="module")
def db_url(served: Served, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A filled SQLite service database."""
    return filled_sqlite(served, tmp_path_factory.mktemp("readiness"))


def _only(served: Served, view: str) -> ModelHolder:
    name = f"overdue-risk-{view}"
    return ModelHolder({view: load_registered(served.tracking_uri, name, "champion")})


@pytest.fixture(scope="module")
def portfolio_only(served: Served) -> ModelHolder:
    """The portfolio champion loaded, the application view without a model."""
    return _only(served, "portfolio")


def _household(served: Served) -> str:
    first = served.tables["households"].query("commune_id == @served.communes[0]")
    return str(first["household_id"].iloc[0])


def _app(served: Served, db_url: str, holder: ModelHolder, **settings: object) -> TestClient:
    holder.last_error["application"] = "no champion alias"
    return TestClient(create_app(served.settings(db_url, **settings), holder=holder))


def test_a_view_without_model_leaves_the_other_serving(
    served: Served, db_url: str, portfolio_only: ModelHolder
) -> None:
    with _app(served, db_url, portfolio_only) as api:
        ready = api.get("/readyz")
        ranked = api.get("/v1/inspections/priorities", headers=headers(served, "data"))
        body = {**APPLICATION, "household_id": _household(served)}
        score = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
    assert ready.status_code == 503  # both views required by default
    views = ready.json()["views"]
    assert (
        views["portfolio"]["loaded"]
        and views["portfolio"]["version"] == served.versions["portfolio"]
    )
    assert views["application"] == {
        "loaded": False,
        "required": True,
        "model": None,
        "version": None,
        "error": "no champion alias",
    }
    assert ranked.status_code == 200 and ranked.json()["households"]
    assert score.status_code == 503 and "no application model" in score.json()["detail"]


def test_ready_when_the_required_views_are_loaded(
    served: Served, db_url: str, portfolio_only: ModelHolder
) -> None:
    with _app(served, db_url, portfolio_only, required_views="portfolio") as api:
        ready = api.get("/readyz")
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "degraded", body
    assert body["required_views"] == ["portfolio"] and body["problems"] == []
    assert body["views"]["application"]["required"] is False
    assert body["models"] == {
        "portfolio": f"overdue-risk-portfolio v{served.versions['portfolio']}"
    }
    with _app(served, db_url, _only(served, "application"), required_views="portfolio") as api:
        ready = api.get("/readyz")
        body = {**APPLICATION, "household_id": _household(served)}
        score = api.post("/v1/applications/score", json=body, headers=headers(served, "data"))
    assert ready.status_code == 503 and "no portfolio model" in ready.json()["problems"][0]
    assert score.status_code == 200  # the application view serves though not "ready"


def test_required_views_are_checked() -> None:
    assert ServiceSettings(required_views="application").required_views == ("application",)
    assert ServiceSettings().required_views == ("portfolio", "application")
    with pytest.raises(ValidationError, match="VBSP_RISK_REQUIRED_VIEWS: unknown view 'scores'"):
        ServiceSettings(required_views="portfolio,scores")


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What ``vbsp-risk serve`` prints."""
    from vbsp_risk import serve_cmd

    out = io.StringIO()
    monkeypatch.setattr(serve_cmd, "console", Console(file=out, width=300))
    yield out


def test_serve_prints_which_views_serve(
    served: Served, db_url: str, printed: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vbsp_risk import serve_cmd

    servers: list = []
    real = serve_cmd._graceful_server_class

    def spy(on_started: object = None) -> type:
        cls = real(on_started)  # type: ignore[arg-type]

        class Recorded(cls):  # type: ignore[misc, valid-type]
            def __init__(self, config: object) -> None:
                super().__init__(config)
                servers.append(self)

        return Recorded

    monkeypatch.setattr(serve_cmd, "_graceful_server_class", spy)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = served.settings(db_url, application_model="no-such-model")
    thread = threading.Thread(
        target=serve_cmd.serve,
        args=(settings,),
        daemon=True,
        kwargs={"host": "127.0.0.1", "port": port, "migrate": False, "workers": 1},
    )
    thread.start()
    deadline = time.monotonic() + 120
    while "views —" not in printed.getvalue() and time.monotonic() < deadline:
        time.sleep(0.1)
    if servers:
        servers[0].should_exit = True
    thread.join(timeout=30)
    text = printed.getvalue()
    assert f"portfolio: overdue-risk-portfolio v{served.versions['portfolio']} (required)" in text
    assert "application: NOT SERVING (required;" in text, text
    assert f"http://127.0.0.1:{port}" in text
