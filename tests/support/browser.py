"""What the browser tests share besides fixtures: the live server's record, sign-in, screenshots."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.support.served import Served

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("VBSP_RISK_CHROMIUM", "/usr/bin/chromium")


def browser_today(served: Served) -> date:
    """The browser tests' "today": the last day of the month the served scores are dated in."""
    first = served.as_of.date().replace(day=1)
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@dataclass
class LiveServer:
    """The running service: its URL, state and one household the officer may score."""

    url: str
    served: Served
    household_id: str
    engine: sa.Engine


def shot(page: object, name: str, full: bool = True) -> None:
    """Save a screenshot of the page under test-artifacts/."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)  # type: ignore[attr-defined]


def login(page: object, server: LiveServer, role: str, start: str = "/") -> None:
    """Open ``start`` (redirected to the login form) and sign in with the role's key."""
    page.goto(server.url + start)  # type: ignore[attr-defined]
    page.fill("#api_key", server.served.keys[role])  # type: ignore[attr-defined]
    page.press("#api_key", "Enter")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
