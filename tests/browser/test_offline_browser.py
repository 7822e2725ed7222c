"""Issue 19 in a real headless Chromium at a phone's and a desktop's size: an inspector records an
outcome with the network switched off and it is sent once when it returns; the API documentation
renders with every other host blocked; the data team's page and its reload button.

Requests to any host but the test server are aborted, so a page that still needs a CDN shows
nothing and the test fails; console errors (a script or style refused by the CSP) fail it too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from serving import clock
from tests.support.browser import LiveServer, browser_today, login, shot
from tests.support.page_language import vietnamese_only
from vbsp_state.schema import outcome_submissions, visit_outcomes

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}


@pytest.fixture(params=sorted(SIZES))
def sized(request: pytest.FixtureRequest, browser: object) -> Iterator[tuple[str, object]]:
    """A fresh context at a phone's and a desktop's size."""
    context = browser.new_context(viewport=SIZES[request.param], locale="vi-VN")  # type: ignore[attr-defined]
    yield request.param, context
    context.close()


def _block_other_hosts(context: object, server: LiveServer) -> list[str]:
    """Abort every request not to the test server; return the list of what was blocked."""
    blocked: list[str] = []

    def handle(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(server.url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            blocked.append(url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", handle)  # type: ignore[attr-defined]
    return blocked


def _console_errors(page: object) -> list[str]:
    """Console errors and failed responses (a missing favicon aside) of the page."""
    errors: list[str] = []

    def console(m: object) -> None:
        if m.type == "error" and not m.text.startswith("Failed to load resource"):  # type: ignore[attr-defined]
            errors.append(m.text)  # type: ignore[attr-defined]

    def response(r: object) -> None:
        if r.status >= 400 and not r.url.endswith("/favicon.ico"):  # type: ignore[attr-defined]
            errors.append(f"{r.status} {r.url}")  # type: ignore[attr-defined]

    page.on("console", console)  # type: ignore[attr-defined]
    page.on("response", response)  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    return errors


def _no_sideways_scroll(page: object) -> None:
    width = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
    assert width <= 1, f"page scrolls sideways by {width}px"


def _month(server: LiveServer) -> str:
    """The live server's current month (its "today" is set at the served scores' month end), so
    the plan's visits are past and their outcomes open; both sizes share the one plan."""
    return clock.month_of(browser_today(server.served))


def _plan_id(server: LiveServer, month: str) -> str:
    """The inspector's commune's plan for ``month`` (made through the API unless it exists)."""
    h = {"X-API-Key": server.served.keys["inspector"]}
    # the plan the phone-pages test draws for the same month (3 days of 6): whichever runs first
    body = {
        "commune_id": server.served.communes[0],
        "month": month,
        "capacity_per_day": 6,
        "days": 3,
        "seed": 11,
    }
    r = httpx.post(f"{server.url}/v1/inspections/plans", json=body, headers=h, timeout=60)
    if r.status_code == 201:
        return r.json()["plan_id"]
    params = {"commune_id": body["commune_id"], "month": month}
    found = httpx.get(f"{server.url}/v1/inspections/plans", params=params, headers=h, timeout=60)
    assert found.status_code == 200 and found.json(), (r.status_code, r.text)
    return found.json()[0]["plan_id"]


def _count(server: LiveServer, table: sa.Table, visit_id: str) -> int:
    with server.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.visit_id == visit_id)
        ).scalar_one()


def test_inspector_records_an_outcome_offline_and_it_is_sent_once(
    sized: tuple[str, object], live_server: LiveServer
) -> None:
    size, context = sized
    plan_id = _plan_id(live_server, _month(live_server))
    page = context.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(20_000)
    errors = _console_errors(page)
    login(page, live_server, "inspector", f"/ui/plans/{plan_id}")
    page.wait_for_selector("li.visit", state="attached")  # a phone shows one day at a time
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the service worker, which keeps this copy
    assert page.evaluate("!!navigator.serviceWorker.controller")
    context.set_offline(True)  # type: ignore[attr-defined]
    page.goto(f"{live_server.url}/ui/plans/{plan_id}")  # the saved copy
    visits = page.locator("li.visit:visible:not(:has([data-testid=outcome]))")
    assert visits.count() > 0
    visit = visits.first
    visit_id = (visit.get_attribute("id") or "")[2:]
    assert page.locator("#outbox").is_visible()  # "offline: the saved copy"
    visit.locator("details.outcome-box > summary").click()  # each visit's form opens on its own
    visit.locator("select").select_option("partial")
    visit.locator("input[name=borrower_present][value=yes]").check()  # nothing is pre-ticked
    visit.locator("input[name=migrated][value=no]").check()
    visit.locator("input[name=notes]").fill("Ghi khi không có mạng")
    visit.locator("button[type=submit]").click()
    waiting = page.locator(f"#v-{visit_id} [data-testid=outcome-waiting]")
    waiting.wait_for()
    assert page.locator("[data-outbox-count]").inner_text() == "1"
    vietnamese_only(page, f"offline-plan-waiting-{size}")
    assert _count(live_server, visit_outcomes, visit_id) == 0
    _no_sideways_scroll(page)
    shot(page, f"offline-plan-waiting-{size}", full=False)
    context.set_offline(False)  # type: ignore[attr-defined]
    page.locator(f"#v-{visit_id} [data-testid=outcome]").wait_for()  # sent, page reloaded
    assert (
        "Ghi khi không có mạng" in page.locator(f"#v-{visit_id} [data-testid=outcome]").inner_text()
    )
    assert page.locator("#outbox").is_hidden()
    page.reload()  # nothing left to resend
    page.wait_for_selector("li.visit", state="attached")  # a phone shows one day at a time
    assert _count(live_server, visit_outcomes, visit_id) == 1
    assert _count(live_server, outcome_submissions, visit_id) == 1
    shot(page, f"offline-plan-sent-{size}", full=False)
    assert errors == [], errors


def test_data_team_page_and_reload(sized: tuple[str, object], live_server: LiveServer) -> None:
    size, context = sized
    page = context.new_page()  # type: ignore[attr-defined]
    errors = _console_errors(page)
    login(page, live_server, "data", "/ui/data")
    assert page.url.endswith("/ui/data")
    assert page.locator("#champions tbody tr").count() == 2
    _no_sideways_scroll(page)
    page.click("[data-testid=reload-form] button")
    page.wait_for_load_state()
    assert "v1" in page.locator("[data-testid=reloaded]").inner_text()
    vietnamese_only(page, f"data-page-{size}")
    shot(page, f"data-page-{size}")
    assert errors == [], errors


def test_swagger_ui_and_redoc_render_with_the_network_blocked(
    sized: tuple[str, object], live_server: LiveServer
) -> None:
    size, context = sized
    blocked = _block_other_hosts(context, live_server)
    page = context.new_page()  # type: ignore[attr-defined]
    errors = _console_errors(page)
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=20_000)
    assert "vbsp-risk scoring service" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".swagger-ui .opblock").count() >= 10
    shot(page, f"offline-docs-{size}")
    page.goto(live_server.url + "/redoc")
    page.wait_for_selector("#redoc h1", timeout=20_000)  # the menu is folded on a phone
    assert "vbsp-risk scoring service" in page.locator("#redoc h1").first.inner_text()
    assert page.locator("#redoc [role=menuitem]").count() >= 5
    shot(page, f"offline-redoc-{size}", full=False)
    # ReDoc's footer logo points at its CDN: the CSP refuses it before any request is made.
    errors = [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert blocked == [] and errors == [], (blocked, errors)
