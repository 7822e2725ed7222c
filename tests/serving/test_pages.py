"""The web pages, server side: sign-in, roles, languages, forms and what the pages never show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from serving import clock
from tests.support.served import (
    Served,
    last_day,
    month_start,
    set_today,
)
from tests.support.web_pages import login, web_client
from tests.support.web_session import post_login, sign_out


@pytest.fixture(scope="module")
def web(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a filled SQLite database, with the data folder's places."""
    yield from web_client(served, tmp_path_factory.mktemp("pages"))


def test_front_door_leads_to_login_then_priorities(web: TestClient, served: Served) -> None:
    sign_out(web)
    r = web.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/priorities"
    r = web.get("/ui/priorities", follow_redirects=False)
    assert r.headers["location"].startswith("/ui/login?next=")
    page = web.get("/ui/login")
    assert page.status_code == 200 and 'name="api_key"' in page.text and 'lang="vi"' in page.text
    bad = post_login(web, "vbsp_wrong")
    assert bad.status_code == 401 and "Khóa không hợp lệ" in bad.text
    r = post_login(web, served.keys["inspector"], next="/ui/priorities")
    assert r.headers["location"] == "/ui/priorities"
    # An outside "next" is ignored (no open redirect).
    r = post_login(web, served.keys["inspector"], next="//evil.example/")
    assert r.headers["location"] == "/ui/priorities"


def test_priorities_page_filters_groups_chart_and_no_personal_data(
    web: TestClient, served: Served
) -> None:
    login(web, served, "inspector")
    r = web.get("/ui/priorities")
    assert r.status_code == 200
    html = r.text
    assert (
        "Content-Security-Policy" in r.headers
        and "script-src 'self'" in r.headers["Content-Security-Policy"]
    )
    assert (
        'id="chart-data"' in html
        and "/static/app.js" in html
        and "http"
        not in re.sub(r'href="http://[^"]*"|xmlns="[^"]*"', "", html.split("<main", 1)[1])
    )  # no external resources
    rows = re.findall(r'href="/ui/households/(H[0-9a-f]+)"', html)
    assert 0 < len(rows) <= 50
    assert "₫" in html and "Hộ cần ưu tiên kiểm tra" in html
    hh = served.tables["households"]
    assert not (set(hh.columns) & {"name", "national_id", "ethnicity"})
    for word in ("ethnic", "dân tộc", "national_id", "CCCD"):
        assert word not in html
    first_village = re.search(
        r'<option value="([^"]+)">[^<]*</option>', html.split('id="f-village"')[1]
    ).group(1)
    v = web.get(f"/ui/priorities?village_id={first_village}&sort=exposure&band=low&limit=5")
    assert v.status_code == 200
    listed = re.findall(r'<tr data-band="(\w+)">', v.text)
    assert len(listed) <= 5 and set(listed) <= {"low"}
    assert web.get("/ui/priorities?commune_id=C-OTHER").status_code == 200  # falls back to own


def test_household_page_and_scope(web: TestClient, served: Served) -> None:
    login(web, served, "inspector")
    hid = re.search(r'href="/ui/households/(H[0-9a-f]+)"', web.get("/ui/priorities").text).group(1)
    page = web.get(f"/ui/households/{hid}")
    assert page.status_code == 200 and 'data-chart="history"' in page.text
    login(web, served, "inspector_other")
    assert web.get(f"/ui/households/{hid}").status_code == 404
    assert web.get("/ui/households/..%2F..%2Fetc").status_code == 404


def test_plan_form_outcome_form_and_print_styles(web: TestClient, served: Served) -> None:
    login(web, served, "inspector")
    month = month_start(served, 1)
    set_today(web, date(int(month[:4]), int(month[5:7]), 1))
    form = {
        "commune_id": served.communes[0],
        "month": month,
        "capacity_per_day": "5",
        "days": "2",
        "sort": "risk",
        "random_share": "10",
    }
    r = web.post("/ui/plans", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    plan_url = r.headers["location"]
    plan = web.get(plan_url)
    assert plan.status_code == 200
    assert (
        plan.text.count('<li class="visit') == 10
        and plan.text.count('data-selection="random"') == 1
    )
    assert plan.text.count('<section class="day"') == 2 and "ngày giao dịch của xã" in plan.text
    assert "chọn ngẫu nhiên để kiểm chứng mô hình" in plan.text.lower()
    # Before the visits' days no outcome form is offered, and a post is refused in words.
    assert 'action="/ui/visits/' not in plan.text and 'data-testid="not-yet"' in plan.text
    visit = re.search(r'<li class="visit[^"]*" id="v-([0-9a-f-]+)"', plan.text).group(1)
    answer = {
        "use_of_funds": "misuse",
        "borrower_present": "no",
        "migrated": "yes",
        "notes": "vốn dùng mua xe máy",
    }
    early = web.post(f"/ui/visits/{visit}/outcome", data=answer)
    assert early.status_code == 409 and "chỉ ghi được kết quả từ ngày đó" in early.text
    set_today(web, last_day(month))
    plan = web.get(plan_url)
    # No answer is pre-ticked: radios and the confirmation start empty.
    assert 'action="/ui/visits/' in plan.text and " checked" not in plan.text
    # Each answer must be chosen; present and migrated together must be confirmed.
    r = web.post(f"/ui/visits/{visit}/outcome", data={"use_of_funds": "misuse"})
    assert r.status_code == 422 and "Câu hỏi có gặp người vay không chưa được nhập" in r.text
    assert "borrower_present" not in r.text.split('id="outcome-errors"')[1].split("</div>")[0]
    both = {**answer, "borrower_present": "yes"}
    r = web.post(f"/ui/visits/{visit}/outcome", data=both)
    assert r.status_code == 422 and "hãy đánh dấu ô xác nhận" in r.text
    r = web.post(
        f"/ui/visits/{visit}/outcome", data={**both, "confirm": "on"}, follow_redirects=False
    )
    assert r.status_code == 303
    r = web.post(f"/ui/visits/{visit}/outcome", data=answer, follow_redirects=False)
    assert r.status_code == 303
    again = web.get(r.headers["location"].split("#")[0])
    assert "vốn dùng mua xe máy" in again.text and 'id="outcome-count">1<' in again.text
    # The note shows in the household's visit history.
    hid = re.search(
        rf'id="v-{visit}">\s*<div class="vhead">\s*<a class="hh"[^>]*href="/ui/households/([^"]+)"',
        again.text,
    ).group(1)
    history = web.get(f"/ui/households/{hid}").text.split('id="visit-history"')[1]
    assert "vốn dùng mua xe máy" in history and "sai mục đích" in history
    # A second plan for the month: a sentence and a link to the one that exists.
    dup = web.post("/ui/plans", data=form)
    assert dup.status_code == 409 and "Xã đã có kế hoạch cho tháng này" in dup.text
    assert f'href="{plan_url}" data-testid="existing-plan"' in dup.text
    # Only this month or the next; a wrong format is a sentence too, never a field path.
    for other in (clock.add_months(month, -1), clock.add_months(month, 2), "2099-12"):
        bad = web.post("/ui/plans", data={**form, "month": other})
        assert bad.status_code == 422 and "Chỉ lập được kế hoạch cho tháng này" in bad.text
    bad = web.post("/ui/plans", data={**form, "month": "06/2026"})
    assert bad.status_code == 422 and "Tháng phải có dạng năm-tháng" in bad.text
    assert "month:" not in bad.text and "String should match" not in bad.text
    css = web.get("/static/app.css").text
    assert "@page { size: A4" in css and "break-after: page" in css and "break-after: avoid" in css
    # Cross-site posts are refused; officers cannot plan.
    r = web.post("/ui/plans", data=form, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    login(web, served, "officer")
    assert (
        web.post("/ui/plans", data={**form, "month": clock.add_months(month, 1)}).status_code == 403
    )


def test_scores_say_their_date_and_warn_when_stale(web: TestClient, served: Served) -> None:
    login(web, served, "inspector")
    as_of = served.as_of.date()
    set_today(web, as_of + timedelta(days=3))  # the scores cover the last closed month
    fresh = web.get("/ui/priorities").text
    assert 'class="fresh" data-testid="freshness"' in fresh and "3 ngày trước" in fresh
    assert as_of.strftime("%d/%m/%Y") in fresh and "cũ hơn tháng đã khóa sổ" not in fresh
    later = as_of + timedelta(days=70)
    set_today(web, later)
    stale = web.get("/ui/priorities").text
    assert 'class="stale" data-testid="freshness" role="alert"' in stale
    assert "70 ngày trước" in stale and "cũ hơn tháng đã khóa sổ" in stale
    assert clock.month_of(later.replace(day=1) - timedelta(days=1))[5:] in stale
    hid = re.search(r'href="/ui/households/(H[0-9a-f]+)"', stale).group(1)
    assert 'class="stale"' in web.get(f"/ui/households/{hid}").text
    # Plain words: the band legend with the district's average, changes in percentage points.
    assert 'data-testid="legend"' in stale and 'data-testid="district-average"' in stale
    assert re.search(r"[+-]\d+,\d điểm %", stale) and "điểm phần trăm" in stale


def test_unknown_pages_and_signed_out_visitors_get_a_sentence(
    web: TestClient, served: Served
) -> None:
    web.cookies.clear()
    r = web.get("/ui/priorities?commune_id=C01")
    assert r.status_code == 200 and 'id="login-needed"' in r.text
    login(web, served, "inspector")
    missing = web.get("/ui/no-such-page/<script>")
    assert missing.status_code == 404 and "Không có trang này." in missing.text
    assert (
        "<script>" not in missing.text.split("<main", 1)[1]
        and 'href="/ui/priorities"' in missing.text
    )
    assert missing.headers["content-type"].startswith("text/html")


def test_application_form_answers_in_the_pages_language(web: TestClient, served: Served) -> None:
    login(web, served, "officer")
    hid = served.tables["households"].query("commune_id == @served.communes[0]")["household_id"]
    page = web.get("/ui/application")
    assert page.status_code == 200 and "Hộ nghèo" in page.text and "100.000.000 ₫" in page.text
    found = None
    for h in hid:
        r = web.post(
            "/ui/application",
            data={
                "identity": "household",
                "household_id": h,
                "program": "poor_household",
                "purpose": "livestock",
                "amount": "40.000.000",
                "term_months": "36",
                "grace_months": "0",
            },
        )
        if r.status_code == 200:
            found = r
            break
    assert found is not None and 'id="app-result"' in found.text
    lookup = web.get(f"/ui/application?household_id={h}").text.split('id="lookup-result"')[1]
    assert 'data-testid="freshness"' in lookup.split("</form>")[0]
    assert "không phải lý do để từ chối cho vay chính sách" in found.text
    assert 'data-testid="freshness"' in found.text.split('id="app-result"')[1]
    over = {
        "identity": "household",
        "household_id": h,
        "program": "poor_household",
        "purpose": "livestock",
        "amount": "500000000",
        "term_months": "36",
    }
    r = web.post("/ui/application", data=over)
    api = web.post(
        "/v1/applications/score",
        headers={"X-API-Key": served.keys["officer"]},
        json={
            **{k: v for k, v in over.items() if k != "identity"},
            "amount": 500000000,
            "term_months": 36,
        },
    )
    assert r.status_code == 422 == api.status_code
    errors = r.text.split('id="app-errors"')[1].split("</section>")[0]
    assert "Số tiền 500.000.000 ₫ vượt mức tối đa 100.000.000 ₫ của chương trình Hộ nghèo" in errors
    assert "over the cap" not in errors and "body" not in errors and "<code>" not in errors
    r = web.post("/ui/application", data={**over, "amount": "40000000", "term_months": "abc"})
    assert r.status_code == 422 and "Thời hạn vay phải là một số." in r.text
    assert "term_months" not in r.text.split('id="app-errors"')[1].split("</section>")[0]
    r = web.post("/ui/application", data={**over, "amount": "0"})
    assert r.status_code == 422 and "Số tiền vay phải lớn hơn 0 ₫." in r.text
    r = web.post(
        "/ui/application",
        data={**over, "identity": "national", "national_id": "123456789012", "amount": "1000"},
    )
    assert "123456789012" not in r.text  # a national ID is never echoed back
    # A household of a commune the key may not see: the same sentence as for an unknown one.
    login(web, served, "officer_other")
    r = web.post("/ui/application", data={**over, "amount": "40000000"})
    assert (
        r.status_code == 404
        and "Không tìm thấy hộ hoặc tổ này trong các xã bạn được xem." in r.text
    )
    web.cookies.set("vbsp_lang", "en")
    r = web.post("/ui/application", data={**over, "amount": "40000000"})
    assert r.status_code == 404 and "No such household or group" in r.text
    web.cookies.set("vbsp_lang", "vi")
    login(web, served, "inspector")
    assert web.get("/ui/application").status_code == 403


def test_model_page_and_language_toggle(web: TestClient, served: Served) -> None:
    login(web, served, "admin")
    r = web.get("/ui/model")
    assert r.status_code == 200
    assert f"v{served.versions['portfolio']}" in r.text and "AUC" in r.text
    assert 'class="card-md"' in r.text and 'id="alias-history"' in r.text
    card = r.text.split('class="card-md"')[1]
    assert "<h4>Mục đích sử dụng</h4>" in card and "## " not in card and "<table>" in card
    assert "(giờ Việt Nam)" in r.text
    r = web.get("/ui/lang/en?next=/ui/model", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/model"
    web.cookies.set("vbsp_lang", "en")
    en = web.get("/ui/model")
    assert 'lang="en"' in en.text and "Models in service" in en.text
    assert (
        web.get("/ui/lang/en?next=https://evil.example", follow_redirects=False).headers["location"]
        == "/ui/priorities"
    )
    web.cookies.set("vbsp_lang", "vi")
    # Admins read no households.
    assert web.get("/ui/priorities").status_code == 403


def test_error_pages_show_the_request_id(web: TestClient, served: Served) -> None:
    login(web, served, "data")
    r = web.get("/ui/households/H-nobody", headers={"Accept-Language": "en"})
    assert r.status_code == 404
    shown = re.search(r'id="request-id">[^<]*<code>([^<]+)</code>', r.text)
    assert shown and shown.group(1) == r.headers["x-request-id"]
    ok = web.get("/ui/priorities")
    assert ok.status_code == 200 and 'id="request-id"' not in ok.text
