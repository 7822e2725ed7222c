"""Web sessions and cross-site form posts (issue 20, item 4): the probes that were accepted
before (no ``Origin``, ``Origin: null``, ``Host`` and ``Origin`` both another site, logout that
did not end the session) as tests, and the session's life (idle, expiry, key deactivated)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from serving import web_sessions
from serving.app import create_app
from serving.auth import read_keys_file, sync_clients
from serving.settings import ServiceSettings
from serving.web.guard import PRE_COOKIE, SESSION_COOKIE
from tests.support.live_server import filled_sqlite
from tests.support.served import Served, month_start, set_today, write_places
from tests.support.web_session import ORIGIN, login_token, post_login, sign_in, sign_out
from vbsp_state.schema import inspection_plans
from vbsp_state.schema import web_sessions as sessions_table

FORM = re.compile(r'<form method="post".*?</form>', re.S)
TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture(scope="module")
def site(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The real app on a filled SQLite database."""
    folder = tmp_path_factory.mktemp("sessions")
    url = filled_sqlite(served, folder)
    state = write_places(served, folder / "state")
    with TestClient(create_app(served.settings(url, state_dir=state))) as client:
        yield client


def _engine(site: TestClient) -> Engine:
    return site.app.state.services.engine  # type: ignore[attr-defined]


def _row(site: TestClient, session_id: str) -> sa.Row:
    t = sessions_table
    with _engine(site).connect() as conn:
        q = sa.select(t).where(t.c.id_hash == web_sessions.id_hash(session_id))
        return conn.execute(q).one()


def _signed_in(site: TestClient) -> bool:
    """Whether the client's cookie opens a page (not a redirect to the sign-in form)."""
    return site.get("/ui/model", follow_redirects=False).status_code == 200


def _plan_form(served: Served) -> dict[str, str]:
    fields = {"capacity_per_day": "5", "days": "2", "sort": "risk", "random_share": "10"}
    return {"commune_id": served.communes[0], "month": month_start(served, 1), **fields}


def _plans(site: TestClient) -> int:
    with _engine(site).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inspection_plans)).scalar_one()


def test_the_cookie_is_a_random_session_id_stored_only_as_its_hash(
    site: TestClient, served: Served
) -> None:
    sign_out(site)
    r = post_login(site, served.keys["inspector"])
    assert r.status_code == 303
    session_id = site.cookies[SESSION_COOKIE]
    assert session_id != served.keys["inspector"] and len(session_id) >= 40
    assert served.keys["inspector"] not in r.headers["set-cookie"]
    row = _row(site, session_id)
    assert row.client_id == "test-inspector" and row.revoked_at is None
    assert row.id_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in " ".join(str(v) for v in row)
    assert timedelta(hours=11) < row.expires_at - row.created_at <= timedelta(hours=12)
    # a second sign-in in the same browser replaces the first session
    assert post_login(site, served.keys["inspector"]).status_code == 303
    assert _row(site, session_id).revoked_at is not None
    assert site.cookies[SESSION_COOKIE] != session_id


def test_every_post_form_carries_the_session_token(site: TestClient, served: Served) -> None:
    sign_out(site)
    login_page = site.get("/ui/login").text
    assert [TOKEN.search(f) is not None for f in FORM.findall(login_page)] == [True]
    for role, paths in (("officer", ["/ui/application"]), ("data", ["/ui/data", "/ui/plans"])):
        token = sign_in(site, served.keys[role])
        for path in paths:
            page = site.get(path)
            forms = FORM.findall(page.text)
            assert page.status_code == 200 and len(forms) >= 2, path  # its form and logout's
            assert all(TOKEN.search(f) and TOKEN.search(f).group(1) == token for f in forms), path
            assert f'<meta name="csrf-token" content="{token}">' in page.text
    sign_out(site)


@pytest.mark.parametrize(
    "probe",
    [
        {},  # neither Origin nor Sec-Fetch-Site
        {"Origin": "null"},
        {"Origin": "http://evil.example", "Host": "evil.example"},
        {"Origin": "http://evil.example"},
        {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["no-origin", "origin-null", "host-and-origin-foreign", "origin-foreign", "cross-site"],
)
def test_cross_site_posts_are_refused_even_with_the_token(
    site: TestClient, served: Served, probe: dict[str, str]
) -> None:
    token = sign_in(site, served.keys["inspector"])
    set_today(site, date.fromisoformat(month_start(served, 1) + "-01"))
    del site.headers["Origin"]
    before = _plans(site)
    form = {**_plan_form(served), "csrf": token}
    r = site.post("/ui/plans", data=form, headers=probe, follow_redirects=False)
    assert r.status_code == 403 and "refused" in r.json()["detail"], r.text
    assert _plans(site) == before  # nothing written
    site.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    sign_out(site)


def test_a_post_without_or_with_a_wrong_token_is_refused(site: TestClient, served: Served) -> None:
    sign_in(site, served.keys["inspector"])
    del site.headers["X-CSRF-Token"]
    for form in ({}, {"csrf": "0" * 64}, {"csrf": web_sessions.csrf_token("another-session")}):
        r = site.post("/ui/plans", data={**_plan_form(served), **form}, follow_redirects=False)
        assert r.status_code == 403 and r.headers["x-form-refused"] == "csrf", form
    sign_out(site)


def test_sign_in_form_needs_its_own_token_and_origin(site: TestClient, served: Served) -> None:
    sign_out(site)
    key = served.keys["inspector"]
    r = site.post("/ui/login", data={"api_key": key}, headers={"Origin": ORIGIN})
    assert r.status_code == 403 and SESSION_COOKIE not in site.cookies
    token = login_token(site)
    assert site.cookies[PRE_COOKIE]
    r = site.post(
        "/ui/login", data={"api_key": key, "csrf": token}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403 and SESSION_COOKIE not in site.cookies
    r = site.post(
        "/ui/login",
        data={"api_key": key, "csrf": token},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert r.status_code == 303 and site.cookies[SESSION_COOKIE]
    sign_out(site)


def test_logout_ends_the_session_on_the_server(site: TestClient, served: Served) -> None:
    sign_in(site, served.keys["inspector"])
    session_id = site.cookies[SESSION_COOKIE]
    assert _signed_in(site)
    r = site.post("/ui/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert _row(site, session_id).revoked_at is not None
    site.cookies.set(SESSION_COOKIE, session_id)  # a copy of the cookie, replayed
    assert not _signed_in(site)
    sign_out(site)


def test_idle_and_expired_sessions_end(site: TestClient, served: Served) -> None:
    t = sessions_table
    for column, age in (
        ("last_seen_at", timedelta(hours=2, seconds=1)),
        ("expires_at", timedelta(seconds=1)),
    ):
        sign_in(site, served.keys["inspector"])
        session_id = site.cookies[SESSION_COOKIE]
        assert _signed_in(site)
        past = datetime.now(UTC).replace(tzinfo=None) - age
        with _engine(site).begin() as conn:
            conn.execute(
                t.update().where(t.c.id_hash == web_sessions.id_hash(session_id)), {column: past}
            )
        assert not _signed_in(site), column
    sign_out(site)


def test_a_deactivated_or_changed_key_ends_its_sessions(site: TestClient, served: Served) -> None:
    engine, entries = _engine(site), read_keys_file(served.keys_file)
    sign_in(site, served.keys["officer_all"])
    session_id = site.cookies[SESSION_COOKIE]
    assert _signed_in(site)
    try:
        sync_clients(engine, [(c, h) for c, h in entries if c.client_id != "test-officer-all"])
        assert _row(site, session_id).revoked_at is not None
        sync_clients(engine, entries)  # active again: the ended session stays ended
        assert not _signed_in(site)
        sign_in(site, served.keys["officer_all"])
        session_id = site.cookies[SESSION_COOKIE]
        changed = [(c, "f" * 64 if c.client_id == "test-officer-all" else h) for c, h in entries]
        sync_clients(engine, changed)
        assert _row(site, session_id).revoked_at is not None and not _signed_in(site)
    finally:
        sync_clients(engine, entries)
        site.app.state.services.clients.clear()  # type: ignore[attr-defined]
        sign_out(site)


BAD_SETTINGS = [
    ({"public_origins": "https://risk.example/"}, "VBSP_RISK_PUBLIC_ORIGINS"),
    ({"public_origins": "null"}, "VBSP_RISK_PUBLIC_ORIGINS"),
    ({"session_idle_seconds": 7200, "session_max_age_seconds": 3600}, "IDLE_SECONDS"),
    ({"session_idle_seconds": 10}, "session_idle_seconds"),
]


@pytest.mark.parametrize(("values", "words"), BAD_SETTINGS)
def test_session_settings_are_checked(values: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ServiceSettings(**values)


def test_listen_origins_only_fill_in_for_a_loopback_listener() -> None:
    assert "http://127.0.0.1:81" in ServiceSettings().with_listen_origins("::1", 81).public_origins
    assert ServiceSettings().with_listen_origins("0.0.0.0", 81).public_origins == ()
    mine = ServiceSettings(public_origins="https://risk.example")
    assert mine.with_listen_origins("127.0.0.1", 1).public_origins == ("https://risk.example",)


def test_sessions_over_for_a_month_are_purged(site: TestClient, served: Served) -> None:
    t, engine = sessions_table, _engine(site)
    sign_in(site, served.keys["inspector"])
    live = site.cookies[SESSION_COOKIE]
    old = web_sessions.create(
        engine, "test-inspector", web_sessions.SessionTimes(timedelta(hours=1), timedelta(hours=1))
    )
    long_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=40)
    with engine.begin() as conn:
        conn.execute(
            t.update().where(t.c.id_hash == web_sessions.id_hash(old)), {"expires_at": long_ago}
        )
    assert web_sessions.purge(engine) >= 1
    with engine.connect() as conn:
        hashes = set(conn.execute(sa.select(t.c.id_hash)).scalars())
    assert web_sessions.id_hash(old) not in hashes and web_sessions.id_hash(live) in hashes
    sign_out(site)
