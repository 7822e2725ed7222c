"""The pages in a real headless Chromium against a real uvicorn server and the small district.

Each test is one user's errand: an inspector finds whom to visit and filters the list; anyone
switches the language on a phone. The plan, outcome and application errands at phone and desktop
widths are in ``test_phone_pages.py``.
"""

from __future__ import annotations

from tests.support.browser import LiveServer, login, shot


def test_inspector_logs_in_sees_priorities_filters_and_opens_a_household(
    page: object, live_server: LiveServer
) -> None:
    login(page, live_server, "inspector")
    assert page.url.endswith("/ui/priorities")
    page.wait_for_selector("[data-chart=dist] svg rect")
    assert page.locator("[data-chart=trend] svg path").count() == 1
    rows = page.locator("#priorities tbody tr")
    assert rows.count() > 10
    assert "₫" in rows.first.inner_text()
    shot(page, "01-priorities")
    # Filter: high-risk households sorted by expected exposure, 10 at most.
    page.select_option("#f-sort", "exposure")
    page.fill("#f-limit", "10")
    page.select_option("#f-band", "low")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert "sort=exposure" in page.url and "band=low" in page.url
    bands = page.locator("#priorities tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.band)"
    )
    assert 0 < len(bands) <= 10 and set(bands) == {"low"}
    shot(page, "02-priorities-filtered")
    # The group view links to the group's households.
    assert page.locator("#groups tbody tr").count() > 0
    first = page.locator("#priorities a.hh").first
    hid = first.inner_text()
    first.click()
    page.wait_for_selector("[data-chart=history] svg")
    assert hid in page.locator("h1").inner_text()
    assert page.locator("#hh-band").is_visible()
    shot(page, "03-household")
    # The key never shows in a URL, and the page sends nothing to other hosts.
    assert live_server.served.keys["inspector"] not in page.url


def test_language_switch_keyboard_and_phone_width(browser: object, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        login(page, live_server, "data")
        assert page.locator("html").get_attribute("lang") == "vi"
        assert "Hộ cần ưu tiên kiểm tra" in page.locator("h1").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 362, width  # no sideways scrolling of the page at 360 px
        shot(page, "10-priorities-360px-vi")
        # Keyboard: the first Tab reaches the skip link, Enter moves to the content.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        # Switch to English with the keyboard.
        page.focus("[data-testid=lang-toggle]")
        page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"
        assert "Households to visit first" in page.locator("h1").inner_text()
        assert "VND" in page.locator("#priorities").inner_text()
        shot(page, "11-priorities-360px-en")
        page.goto(live_server.url + "/ui/model")
        assert "Models in service" in page.locator("h1").inner_text()
        assert page.locator("#alias-history").count() == 1
        shot(page, "12-model-en")
        page.click("[data-testid=lang-toggle]")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "vi"
        assert page.url.endswith("/ui/model")
    finally:
        context.close()
