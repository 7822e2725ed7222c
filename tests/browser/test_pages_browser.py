"""The pages in a real headless Chromium against a real uvicorn server and the small district.

Each test is one user's errand: an inspector finds whom to visit and plans the month, records
what a visit found; an officer checks applications; anyone switches the language on a phone.
"""

from __future__ import annotations

import re

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


def test_inspector_builds_a_plan_records_an_outcome_and_prints_one_page_per_day(
    page: object, live_server: LiveServer
) -> None:
    login(page, live_server, "inspector", "/ui/plans")
    assert page.url.endswith("/ui/plans")
    page.fill("#p-month", "2026-03")
    page.fill("#p-cap", "6")
    page.fill("#p-days", "3")
    page.fill("#p-share", "10")
    shot(page, "04-plan-form")
    page.click("form.grid button[type=submit]")
    page.wait_for_selector("section.day")
    assert re.search(r"/ui/plans/[0-9a-f-]{36}$", page.url)
    assert page.locator("section.day").count() == 3
    assert page.locator("li.visit").count() == 18
    assert page.locator("li.visit.random").count() == 2
    shot(page, "05-plan")
    # Record an outcome on the first visit, with the keyboard.
    visit = page.locator("li.visit").first
    visit_id = visit.get_attribute("id")
    form = visit.locator("form.outcome")
    form.locator("select").select_option("partial")
    form.locator("input[name=migrated]").check()
    form.locator("input[name=notes]").fill("Mua bò thay vì lợn")
    form.locator("input[name=notes]").press("Enter")
    page.wait_for_load_state()
    done = page.locator(f"#{visit_id} [data-testid=outcome]")
    assert "sai một phần" in done.inner_text() and "Mua bò thay vì lợn" in done.inner_text()
    page.reload()
    assert "Mua bò thay vì lợn" in page.locator(f"#{visit_id} [data-testid=outcome]").inner_text()
    assert page.locator("#outcome-count").inner_text() == "1"
    shot(page, "06-plan-outcome")
    # Print: one A4 page per day.
    page.emulate_media(media="print")
    shot(page, "07-plan-print")
    pdf = page.pdf(format="A4", print_background=False)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 3, pages


def test_officer_scores_a_valid_and_an_over_cap_application(
    page: object, live_server: LiveServer
) -> None:
    login(page, live_server, "officer")
    assert page.url.endswith("/ui/application")
    hid = live_server.household_id
    page.fill("#l-hh", hid)
    page.click("form.lookup button")
    page.wait_for_selector("#lookup-result")
    page.check("#i-hh")
    page.fill("#a-hh", hid)
    page.select_option("#a-program", "poor_household")
    page.select_option("#a-purpose", "livestock")
    page.fill("#a-amount", "40.000.000")
    page.fill("#a-term", "36")
    page.click("#app-form button[type=submit]")
    page.wait_for_selector("#app-result")
    text = page.locator("#app-result").inner_text()
    assert "%" in text and "overdue-risk-application" in text
    shot(page, "08-application-valid")
    page.fill("#a-amount", "150000000")
    page.click("#app-form button[type=submit]")
    page.wait_for_selector("#app-errors")
    assert "over the cap" in page.locator("#app-errors").inner_text()
    assert page.locator("#app-result").count() == 0
    shot(page, "09-application-over-cap")


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
