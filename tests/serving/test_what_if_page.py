"""The application page shows the API's what-if numbers as a table (Vietnamese and English)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.served import Served
from tests.support.web_pages import login, web_client


@pytest.fixture(scope="module")
def web(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a filled SQLite database, with the data folder's places."""
    yield from web_client(served, tmp_path_factory.mktemp("what-if-page"))


def test_application_page_shows_the_what_if_table(web: TestClient, served: Served) -> None:
    login(web, served, "officer")
    hid = served.tables["households"].query("commune_id == @served.communes[0]")["household_id"]
    form = {
        "identity": "household",
        "program": "poor_household",
        "purpose": "livestock",
        "amount": "40.000.000",
        "term_months": "36",
        "grace_months": "0",
    }
    page, used = None, None
    for h in hid:
        r = web.post("/ui/application", data={**form, "household_id": h})
        if r.status_code == 200:
            page, used = r, h
            break
    assert page is not None
    api = web.post(
        "/v1/applications/score",
        params={"what_if": "true"},
        headers={"X-API-Key": served.keys["officer"]},
        json={
            "household_id": used,
            "program": "poor_household",
            "purpose": "livestock",
            "amount": 40_000_000,
            "term_months": 36,
        },
    )
    assert api.status_code == 200, api.text
    w = api.json()["what_if"]
    table = page.text[page.text.index('id="what-if"') :]
    assert "Nếu thay đổi số tiền hoặc thời hạn" in page.text  # Vietnamese by default
    # one row per amount (written the Vietnamese way), one column per term
    for amount in w["amounts"]:
        assert f"{int(amount):,}".replace(",", ".") + " ₫" in table
    assert len(re.findall(r"<tr><th scope=\"row\">", table)) == len(w["amounts"])
    assert table.count("<td") == len(w["points"])
    assert table.count('aria-current="true"') == 1
    # the page's numbers are the API's (same household, same champion)
    for p in w["points"]:
        assert (f"{p['probability'] * 100:.1f}".replace(".", ",") + " %") in table
