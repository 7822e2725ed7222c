"""The web pages, server side: sign-in, roles, languages, forms and what the pages never show."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from features import domain
from serving.app import create_app
from tests.support.served import Served, fill_database, write_places


@pytest.fixture(scope="module")
def web(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a filled SQLite database, with the data folder's places."""
    from vbsp_state.engine import make_engine

    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{(folder / 'service.db').as_posix()}"
    engine = make_engine(url)
    fill_database(engine, served)
    engine.dispose()
    state = write_places(served, folder / "state")
    with TestClient(create_app(served.settings(url, state_dir=state))) as client:
        yield client


def login(client: TestClient, served: Served, role: str) -> None:
    client.cookies.clear()
    r = client.post("/ui/login", data={"api_key": served.keys[role]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert served.keys[role] not in r.headers["location"]


def test_front_door_leads_to_login_then_priorities(web: TestClient, served: Served) -> None:
    web.cookies.clear()
    r = web.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/priorities"
    r = web.get("/ui/priorities", follow_redirects=False)
    assert r.headers["location"].startswith("/ui/login?next=")
    page = web.get("/ui/login")
    assert page.status_code == 200 and 'name="api_key"' in page.text and 'lang="vi"' in page.text
    bad = web.post("/ui/login", data={"api_key": "vbsp_wrong"})
    assert bad.status_code == 401 and "Khóa không hợp lệ" in bad.text
    r = web.post("/ui/login", data={"api_key": served.keys["inspector"], "next": "/ui/priorities"},
                 follow_redirects=False)  # fmt: skip
    assert r.headers["location"] == "/ui/priorities"
    # An outside "next" is ignored (no open redirect).
    r = web.post("/ui/login", data={"api_key": served.keys["inspector"], "next": "//evil.example/"},
                 follow_redirects=False)  # fmt: skip
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
    first_village = re.search(r'<option value="([^"]+)">[^<]*</option>', html.split('id="f-village"')[1]).group(1)  # fmt: skip
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
    form = {"commune_id": served.communes[0], "month": "2026-06", "capacity_per_day": "5",
            "days": "2", "sort": "risk", "random_share": "10"}  # fmt: skip
    r = web.post("/ui/plans", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    plan = web.get(r.headers["location"])
    assert plan.status_code == 200
    assert (
        plan.text.count('<li class="visit') == 10
        and plan.text.count('data-selection="random"') == 1
    )
    assert plan.text.count('<section class="day"') == 2 and "ngày giao dịch của xã" in plan.text
    visit = re.search(r'action="/ui/visits/([0-9a-f-]+)/outcome"', plan.text).group(1)
    r = web.post(f"/ui/visits/{visit}/outcome", data={"use_of_funds": "misuse", "migrated": "on",
                 "notes": "vốn dùng mua xe máy"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    again = web.get(r.headers["location"].split("#")[0])
    assert "vốn dùng mua xe máy" in again.text and 'id="outcome-count">1<' in again.text
    assert web.post("/ui/plans", data=form).status_code == 409  # the month has its plan
    bad = web.post("/ui/plans", data={**form, "month": "06/2026"})
    assert bad.status_code == 422 and "month" in bad.text
    css = web.get("/static/app.css").text
    assert "@page { size: A4" in css and "break-after: page" in css
    # Cross-site posts are refused; officers cannot plan.
    r = web.post("/ui/plans", data=form, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    login(web, served, "officer")
    assert web.post("/ui/plans", data={**form, "month": "2026-07"}).status_code == 403


def test_application_form_gives_the_api_messages(web: TestClient, served: Served) -> None:
    login(web, served, "officer")
    hid = served.tables["households"].query("commune_id == @served.communes[0]")["household_id"]
    page = web.get("/ui/application")
    assert page.status_code == 200 and "Hộ nghèo" in page.text and "100.000.000 ₫" in page.text
    found = None
    for h in hid:
        r = web.post("/ui/application", data={"identity": "household", "household_id": h,
                     "program": "poor_household", "purpose": "livestock",
                     "amount": "40.000.000", "term_months": "36", "grace_months": "0"})  # fmt: skip
        if r.status_code == 200:
            found = r
            break
    assert found is not None and 'id="app-result"' in found.text
    over = {"identity": "household", "household_id": h, "program": "poor_household",
            "purpose": "livestock", "amount": "150000000", "term_months": "36"}  # fmt: skip
    r = web.post("/ui/application", data=over)
    api = web.post("/v1/applications/score", headers={"X-API-Key": served.keys["officer"]},
                   json={**{k: v for k, v in over.items() if k != "identity"}, "amount": 150000000,
                         "term_months": 36})  # fmt: skip
    assert r.status_code == 422 == api.status_code
    assert api.json()["errors"][0]["message"] in r.text.replace("&#39;", "'")
    cap = domain.PROGRAMS["poor_household"].cap_vnd
    assert "over the cap" in r.text and str(cap)[:3] in r.text
    r = web.post("/ui/application", data={**over, "amount": "40000000", "term_months": "abc"})
    assert r.status_code == 422 and "term_months" in r.text
    r = web.post("/ui/application", data={**over, "identity": "national", "national_id": "123456789012", "amount": "1000"})  # fmt: skip
    assert "123456789012" not in r.text  # a national ID is never echoed back
    login(web, served, "inspector")
    assert web.get("/ui/application").status_code == 403


def test_model_page_and_language_toggle(web: TestClient, served: Served) -> None:
    login(web, served, "admin")
    r = web.get("/ui/model")
    assert r.status_code == 200
    assert f"v{served.versions['portfolio']}" in r.text and "AUC" in r.text
    assert 'class="card-md"' in r.text and 'id="alias-history"' in r.text
    r = web.get("/ui/lang/en?next=/ui/model", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/model"
    web.cookies.set("vbsp_lang", "en")
    en = web.get("/ui/model")
    assert 'lang="en"' in en.text and "Models in service" in en.text
    assert web.get("/ui/lang/en?next=https://evil.example", follow_redirects=False).headers["location"] == "/ui/priorities"  # fmt: skip
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
