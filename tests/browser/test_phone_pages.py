"""Each role's errand on a phone (390 × 844) and a desktop (1366 × 768), in Debian's Chromium.

Every page on the way is checked the same way (:func:`check`): the page does not scroll
sideways, the console shows no error, on the phone every visible control is a tap target of at
least 44 × 44 px, and a Vietnamese page shows no English word from :data:`ENGLISH` (text marked
``lang="en"`` — the model card's prose, a gate's recorded reason, the "English" switch — and
identifiers marked ``translate="no"`` are left out, as a translator would leave them). A
screenshot of each page at each width goes to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import pytest

from tests.support.browser import ARTIFACTS, LiveServer, login
from tests.support.page_language import VISIBLE_TEXT, english_words

SHOTS = ARTIFACTS / "screenshots"
VIEWPORTS = {"phone": (390, 844), "desktop": (1366, 768)}
_SMALL_TARGETS = """() => {
  const small = [];
  const sel = 'a[href],button,input:not([type=hidden]),select,textarea,summary';
  for (const el of document.querySelectorAll(sel)) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    let box = el;
    if (el.matches('input[type=checkbox],input[type=radio]')) {
      box = el.closest('label,.check') || el;  // the label is the target (it toggles the box)
    }
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= 0 || r.bottom <= 0 && r.top < 0) continue;
    if (r.height < 44 || r.width < 44) {
      small.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} "${(el.innerText || el.value || '').slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return small;
}"""


@pytest.fixture(params=list(VIEWPORTS))
def device(request: pytest.FixtureRequest, browser: object) -> Iterator[tuple[str, object, list]]:
    """A fresh context at the viewport, its page, and the console errors seen."""
    name = request.param
    width, height = VIEWPORTS[name]
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": height},
        locale="vi-VN",
        has_touch=name == "phone",
        is_mobile=name == "phone",
        device_scale_factor=1,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if _console_error(m, page) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield name, page, errors
    context.close()


def _console_error(message: object, page: object) -> bool:
    """A console error, except the browser's note that the page itself came with a 4xx status
    (the status of a refused form is the point, not a fault)."""
    if message.type != "error":  # type: ignore[attr-defined]
        return False
    status = message.text.startswith(
        "Failed to load resource: the server responded with a status of 4"
    )  # type: ignore[attr-defined]
    url = message.location.get("url") or ""  # type: ignore[attr-defined]
    # The outbox (outbox.js) first sends an outcome by fetch, then re-posts a refused one so the
    # page shows the refusal: that fetch's 4xx is the refused form too.
    return not (status and (url == page.url or re.search(r"/ui/visits/[^/]+/outcome$", url)))


def check(page: object, device: str, errors: list[str], name: str) -> None:
    """The checks every page passes at every width, then its screenshots (the whole page, and
    the screen in view, where the errand has taken the person)."""
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-{device}.png"), full_page=True)  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"{name}-{device}-screen.png"))  # type: ignore[attr-defined]
    wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")  # type: ignore[attr-defined]
    assert wide[0] <= wide[1], f"{name} scrolls sideways at {device}: {wide}"
    assert not errors, f"{name}: console errors {errors}"
    if device == "phone":
        small = page.evaluate(_SMALL_TARGETS)  # type: ignore[attr-defined]
        assert not small, f"{name}: tap targets under 44 px: {small}"
    if page.locator("html").get_attribute("lang") == "vi":  # type: ignore[attr-defined]
        found = english_words(page.evaluate(VISIBLE_TEXT))  # type: ignore[attr-defined]
        assert not found, f"{name}: English words on a Vietnamese page: {sorted(found)}"


def test_the_word_scan_finds_english() -> None:
    assert english_words("Số tiền vượt mức · amount is over the cap") == {
        "amount",
        "is",
        "over",
        "the",
        "cap",
    }
    assert not english_words("Hộ cần ưu tiên kiểm tra · Thôn 09 · tổ G0012 · 12,5 % · bề")
    assert not english_words(unicodedata.normalize("NFD", "bề mặt, nợ"))


def test_inspector_priorities_plan_and_outcome(device: tuple, live_server: LiveServer) -> None:
    name, page, errors = device
    login(page, live_server, "inspector")
    assert page.url.endswith("/ui/priorities")
    page.wait_for_selector("[data-chart=dist] svg rect")
    cards = page.locator("#priorities tbody tr")
    assert cards.count() > 10
    first = cards.first.bounding_box()
    if name == "phone":
        # One card per household, the list before the charts, the filters folded.
        assert not page.locator("details.filters-box").evaluate("d => d.open")
        assert first["width"] <= 390 and first["height"] < 400, first
        assert first["y"] < page.locator("section.chart").bounding_box()["y"]
        assert page.locator("#priorities thead").bounding_box()["height"] <= 1
    else:
        assert page.locator("details.filters-box").evaluate("d => d.open")
        assert page.locator("#priorities thead th").first.is_visible()
    assert page.locator("[data-testid=legend]").is_visible()
    assert page.locator("[data-testid=freshness]").is_visible()
    check(page, name, errors, "01-priorities")
    page.locator("#priorities a.hh").first.click()
    page.wait_for_selector("[data-chart=history] svg")
    check(page, name, errors, "02-household")

    page.goto(live_server.url + "/ui/plans")
    check(page, name, errors, "03-plans")
    page.fill("#p-cap", "6")
    page.fill("#p-days", "3")
    current = page.locator("#p-month option").first.get_attribute("value")
    page.select_option("#p-month", current)
    page.click("form.grid button[type=submit]")
    page.wait_for_load_state()
    if page.locator("[data-testid=existing-plan]").count():  # the other width made it: its link
        assert page.evaluate("document.activeElement.id") == "plan-errors"
        check(page, name, errors, "04-plan-exists")
        page.click("[data-testid=existing-plan]")
    page.wait_for_selector("section.day", state="attached")
    days = page.locator("section.day").count()
    assert days == 3
    shown = page.locator("section.day").evaluate_all(
        "ds => ds.filter(d => d.checkVisibility()).length"
    )
    assert shown == (1 if name == "phone" else 3)
    assert page.locator("details.outcome-box[open]").count() == 0  # no form opened at once
    check(page, name, errors, "05-plan")

    # The first visit of the day shown without an outcome: open its form, answer, save.
    visit = page.locator("section.day.current li.visit:not(:has([data-testid=outcome]))").first
    if name == "desktop":
        visit = page.locator("li.visit:not(:has([data-testid=outcome]))").first
    visit_id = visit.get_attribute("id")
    visit.locator("details.outcome-box > summary").click()
    form = visit.locator("form.outcome")
    assert form.locator("input:checked").count() == 0  # nothing pre-ticked
    form.locator("select").select_option("partial")
    form.locator("input[name=borrower_present][value=yes]").check()
    form.locator("input[name=migrated][value=yes]").check()
    assert form.locator(".confirm").is_visible()  # present and migrated: asks to confirm
    form.locator("input[name=notes]").fill("Mua bò thay vì lợn")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#outcome-errors")
    assert "xác nhận" in page.locator("#outcome-errors").inner_text()
    assert page.evaluate("document.activeElement.id") == "outcome-errors"
    check(page, name, errors, "06-outcome-confirm")
    form = page.locator(f"#{visit_id} form.outcome")
    form.locator("input[name=migrated][value=no]").check()
    assert not form.locator(".confirm").is_visible()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#{visit_id} [data-testid=outcome]")
    done = page.locator(f"#{visit_id} [data-testid=outcome]").inner_text()
    assert "sai một phần" in done and "Mua bò thay vì lợn" in done
    check(page, name, errors, "07-plan-outcome")
    page.emulate_media(media="print")
    page.screenshot(path=str(SHOTS / f"08-plan-print-{name}.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=False)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == days  # one A4 page per day


def test_officer_over_cap_and_foreign_household(device: tuple, live_server: LiveServer) -> None:
    name, page, errors = device
    login(page, live_server, "officer")
    assert page.url.endswith("/ui/application")
    check(page, name, errors, "09-application")
    own = live_server.served.tables["households"].query(
        "commune_id == @live_server.served.communes[0]"
    )
    page.fill("#a-hh", str(own["household_id"].iloc[0]))
    page.select_option("#a-program", "poor_household")
    page.fill("#a-amount", "500.000.000")
    page.fill("#a-term", "36")
    page.click("#app-form button[type=submit]")
    page.wait_for_selector("#app-errors")
    text = page.locator("#app-errors").inner_text()
    assert "Số tiền 500.000.000 ₫ vượt mức tối đa 100.000.000 ₫ của chương trình Hộ nghèo" in text
    assert page.evaluate("document.activeElement.id") == "app-errors"
    box = page.locator("#app-errors").bounding_box()
    assert 0 <= box["y"] < VIEWPORTS[name][1]  # scrolled into view
    check(page, name, errors, "10-application-over-cap")
    page.fill("#a-hh", live_server.household_id)
    page.fill("#a-amount", "40.000.000")
    page.click("#app-form button[type=submit]")
    result = page.wait_for_selector("#app-result")
    assert page.evaluate("document.activeElement.id") == "app-result"
    assert "không phải lý do để từ chối cho vay chính sách" in result.inner_text()
    check(page, name, errors, "11-application-result")
    # The same household for an officer of another commune: a household they may not see.
    page.context.clear_cookies()
    login(page, live_server, "officer_other", "/ui/application")
    page.fill("#a-hh", live_server.household_id)
    page.fill("#a-amount", "40.000.000")
    page.fill("#a-term", "36")
    page.click("#app-form button[type=submit]")
    page.wait_for_selector("#app-errors")
    assert "Không tìm thấy hộ hoặc tổ này" in page.locator("#app-errors").inner_text()
    assert page.locator("#app-result").count() == 0
    check(page, name, errors, "12-application-foreign")


def test_data_team_model_page(device: tuple, live_server: LiveServer) -> None:
    name, page, errors = device
    login(page, live_server, "data", "/ui/model")
    assert page.url.endswith("/ui/model")
    assert "(giờ Việt Nam)" in page.locator("main").inner_text()
    page.locator("details.model-card > summary").first.click()
    heading = page.locator(".card-md h4").first
    assert heading.is_visible() and heading.inner_text() == "Mục đích sử dụng"
    check(page, name, errors, "13-model")
