"""The API through the real app: scores, reasons, audit, idempotency, households, priorities,
errors — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from features.domain import PROGRAMS
from features.online_store import assemble_application, fetch
from serving.bands import band
from tests.support.canaries import planted
from tests.support.mlflow_store import store_at
from tests.support.scoring_requests import application, riskiest_household
from tests.support.served import Served, count_audit, headers
from training.pyfunc_model import schema_types, to_model_input

SCORE = "/v1/applications/score"


def household(api_db: Engine, served: Served, commune: str | None = None) -> dict:
    """A stored household row (in ``commune`` when given)."""
    with api_db.connect() as conn:
        q = "SELECT entity_id FROM online_features WHERE entity_type = 'household'"
        if commune:
            q += f" AND commune_id = '{commune}'"
        hid = conn.execute(sa.text(q + " ORDER BY entity_id LIMIT 1")).scalar_one()
    return fetch(api_db, household_id=hid)


def test_score_answers_probability_band_reasons_and_writes_the_audit_row(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = riskiest_household(api_db, served, served.communes[0])
    before = count_audit(api_db)
    r = api.post(SCORE, json=application(row["entity_id"]), headers=headers(served, "officer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0 < body["probability"] < 1
    assert body["band"] == band(body["probability"])
    assert body["model"] == {
        "name": "overdue-risk-application",
        "version": served.versions["application"],
    }
    assert body["feature_as_of"] == str(served.as_of.date())
    assert body["entity"] == "household"
    assert 1 <= len(body["reasons"]) <= 3
    contributions = [x["contribution"] for x in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True) and min(contributions) > 0
    assert all(x["text_en"] and x["text_vi"] for x in body["reasons"])
    assert count_audit(api_db) == before + 1
    with api_db.connect() as conn:
        audit = (
            conn.execute(
                sa.text("SELECT * FROM score_audit WHERE score_id = :s"), {"s": body["score_id"]}
            )
            .mappings()
            .one()
        )
    assert audit["model_version"] == served.versions["application"]
    assert audit["household_id"] == row["entity_id"]
    assert math.isclose(audit["probability"], body["probability"], rel_tol=0, abs_tol=1e-15)
    assert json.loads(audit["response"])["score_id"] == body["score_id"]


def test_service_score_equals_mlflow_pyfunc_on_the_same_vector(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served)
    app_fields = application(row["entity_id"], amount=25_000_000, term_months=24)
    r = api.post(SCORE, json=app_fields, headers=headers(served, "data"))
    assert r.status_code == 200, r.text
    frame = assemble_application(row, {k: v for k, v in app_fields.items() if k != "household_id"})
    with store_at(served.tracking_uri):
        model = mlflow.pyfunc.load_model("models:/overdue-risk-application@champion")
        expected = float(model.predict(to_model_input(frame, schema_types(model)))[0])
    assert r.json()["probability"] == pytest.approx(expected, rel=0, abs=1e-12)


def test_more_arrears_never_lowers_the_application_risk(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    """Behavioural: the stored history with a longer arrears streak scores at least as high."""
    from serving.schemas import ApplicationIn
    from serving.scoring import score_applications

    model = api.app.state.services.holder.get("application")
    row = household(api_db, served)
    feats = json.loads(row["features"])
    worse = dict(
        row,
        features=json.dumps({**feats, "arrears_streak_current": 6, "arrears_streak_max_24m": 6}),
    )
    app = ApplicationIn(**application(row["entity_id"]))
    base, bad = score_applications(model, [row, worse], [app, app], explain=False)
    assert bad.probability >= base.probability


def test_explain_false_gives_no_reasons(api: TestClient, api_db: Engine, served: Served) -> None:
    row = household(api_db, served)
    r = api.post(
        SCORE + "?explain=false",
        json=application(row["entity_id"]),
        headers=headers(served, "data"),
    )
    assert r.status_code == 200 and r.json()["reasons"] == []


def test_new_member_is_scored_from_the_group_row(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served)
    body = application(None, group_id=row["group_id"], village_id=row["village_id"])
    del body["household_id"]
    r = api.post(SCORE, json=body, headers=headers(served, "data"))
    assert r.status_code == 200, r.text
    assert r.json()["entity"] == "new_member"
    body["village_id"] = "V-not-this-one"
    r = api.post(SCORE, json=body, headers=headers(served, "data"))
    assert r.status_code == 404 and "village" in r.json()["detail"]  # no such group there


def test_national_id_is_looked_up_through_the_keyed_pseudonym(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    national_id = "012345678901"
    key = bytes.fromhex(served.settings("sqlite:///x").pii_key.get_secret_value())
    alias = planted(api_db, national_id, key, household(api_db, served))
    body = application(None, national_id=national_id)
    del body["household_id"]
    r = api.post(SCORE, json=body, headers=headers(served, "data"))
    assert r.status_code == 200, r.text
    with api_db.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT household_id, request, response FROM score_audit WHERE score_id = :s"),
            {"s": r.json()["score_id"]},
        ).one()
    assert stored[0] == alias
    assert national_id not in json.dumps(list(stored)) and national_id not in r.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": PROGRAMS["poor_household"].cap_vnd + 1}, "cap"),
        ({"term_months": PROGRAMS["poor_household"].max_term_months + 1}, "term"),
        ({"amount": -5}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"program": "lottery"}, "program"),
        ({"score": 0.01}, "score"),
        ({"approved": True}, "approved"),
        ({"grace_months": 1.5}, "grace_months"),
    ],
)
def test_bad_applications_get_422_naming_the_field_and_write_nothing(
    api: TestClient, api_db: Engine, served: Served, change: dict, field: str
) -> None:
    row = household(api_db, served)
    before = count_audit(api_db)
    r = api.post(
        SCORE, json=application(row["entity_id"], **change), headers=headers(served, "data")
    )
    assert r.status_code == 422, r.text
    assert field in r.text
    assert count_audit(api_db) == before


def test_nan_and_infinity_literals_and_malformed_json_are_422(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served)
    text = json.dumps(application(row["entity_id"]))
    for bad in (
        text.replace("40000000", "NaN"),
        text.replace("40000000", "Infinity"),
        text.replace("40000000", "1e309"),
        text[:-3],
        "[]",
    ):
        r = api.post(
            SCORE,
            content=bad,
            headers={**headers(served, "data"), "content-type": "application/json"},
        )
        assert r.status_code == 422, (bad, r.text)


def test_canary_national_id_never_echoed_in_errors(api: TestClient, served: Served) -> None:
    body = {
        "national_id": "98765432101X",
        "program": "poor_household",
        "purpose": "crops",
        "amount": 1e6,
        "term_months": 12,
    }
    r = api.post(SCORE, json=body, headers=headers(served, "data"))
    assert r.status_code == 422 and "98765432101X" not in r.text


def test_unknown_household_is_404(api: TestClient, served: Served) -> None:
    r = api.post(SCORE, json=application("H-unknown"), headers=headers(served, "data"))
    assert r.status_code == 404 and "unknown household" in r.json()["detail"]


def test_officer_cannot_score_a_household_of_another_commune(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served, served.communes[0])
    r = api.post(
        SCORE, json=application(row["entity_id"]), headers=headers(served, "officer_other")
    )
    assert r.status_code == 404
    r = api.post(SCORE, json=application(row["entity_id"]), headers=headers(served, "officer"))
    assert r.status_code == 200


def test_idempotency_key_replays_the_same_answer_and_writes_one_row(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served)
    h = {
        **headers(served, "data"),
        "Idempotency-Key": f"idem-{row['entity_id']}-{api_db.dialect.name}",
    }
    before = count_audit(api_db)
    first = api.post(SCORE, json=application(row["entity_id"]), headers=h)
    again = api.post(SCORE, json=application(row["entity_id"]), headers=h)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert count_audit(api_db) == before + 1
    other = api.post(SCORE, json=application(row["entity_id"], amount=1_000_000), headers=h)
    assert other.status_code == 422 and "Idempotency-Key" in other.text


def test_batch_scores_in_order_and_is_bounded(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    row = household(api_db, served)
    apps = [application(row["entity_id"], amount=a) for a in (10_000_000, 90_000_000)]
    r = api.post(
        "/v1/applications/score-batch", json={"applications": apps}, headers=headers(served, "data")
    )
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert len(scores) == 2 and scores[0]["score_id"] != scores[1]["score_id"]
    single = api.post(SCORE + "?explain=false", json=apps[1], headers=headers(served, "data"))
    assert scores[1]["probability"] == single.json()["probability"]
    too_many = {"applications": [apps[0]] * 101}
    r = api.post("/v1/applications/score-batch", json=too_many, headers=headers(served, "data"))
    assert r.status_code == 422 and "at most 100" in r.text


def test_household_risk_gives_latest_score_reasons_and_history(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    with api_db.connect() as conn:  # a household scored every month up to the latest
        hid = conn.execute(
            sa.text(
                "SELECT household_id FROM portfolio_scores WHERE commune_id = :c "
                "GROUP BY household_id "
                "HAVING max(as_of) = (SELECT max(as_of) FROM portfolio_scores) "
                "ORDER BY count(*) DESC, household_id LIMIT 1"
            ),
            {"c": served.communes[0]},
        ).scalar_one()
    r = api.get(f"/v1/households/{hid}/risk", headers=headers(served, "officer"))
    assert r.status_code == 200, r.text
    body = r.json()
    dates = [p["as_of"] for p in body["history"]]
    assert dates == sorted(dates) and len(dates) >= 6
    assert body["latest"] == body["history"][-1]
    assert body["latest"]["as_of"] == str(served.as_of.date())
    assert body["latest"]["band"] == band(body["latest"]["probability"])
    r = api.get(f"/v1/households/{hid}/risk", headers=headers(served, "officer_other"))
    assert r.status_code == 404
    r = api.get("/v1/households/H-nobody/risk", headers=headers(served, "data"))
    assert r.status_code == 404


def test_priorities_rank_by_risk_or_exposure_with_group_summaries(
    api: TestClient, served: Served
) -> None:
    commune = served.communes[0]
    url = f"/v1/inspections/priorities?commune_id={commune}&limit=2000"
    r = api.get(url, headers=headers(served, "inspector"))
    assert r.status_code == 200, r.text
    body = r.json()
    probs = [h["probability"] for h in body["households"]]
    assert probs == sorted(probs, reverse=True) and body["total"] == len(probs) > 20
    assert [h["rank"] for h in body["households"]] == list(range(1, len(probs) + 1))
    assert body["model"]["version"] == served.versions["portfolio"]
    assert sum(g["members"] for g in body["groups"]) == body["total"]
    r = api.get(url + "&sort=exposure", headers=headers(served, "inspector"))
    exposure = [h["exposure"] or 0.0 for h in r.json()["households"]]
    assert exposure == sorted(exposure, reverse=True)
    group = body["households"][0]["group_id"]
    r = api.get(
        f"/v1/inspections/priorities?group_id={group}&limit=5", headers=headers(served, "inspector")
    )
    assert r.status_code == 200 and {h["group_id"] for h in r.json()["households"]} == {group}
    assert len(r.json()["households"]) <= 5
    r = api.get(url, headers=headers(served, "inspector_other"))
    assert r.status_code == 403
    r = api.get("/v1/inspections/priorities", headers=headers(served, "inspector_other"))
    assert r.status_code == 404  # no household of its communes


def test_portfolio_scores_equal_the_batch_scorer(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    """The stored current scores are the champion's probabilities of the feature table's rows."""
    model = api.app.state.services.holder.get("portfolio")
    table = pd.read_parquet(served.features["portfolio"])
    table = table[table["as_of"] == served.as_of]
    with api_db.connect() as conn:
        stored = pd.read_sql(
            sa.text(
                "SELECT household_id, probability FROM portfolio_scores "
                "WHERE as_of = :d AND model_version = :v"
            ),
            conn,
            params={"d": served.as_of.date(), "v": model.version},
        )
    expected = pd.Series(model.scorer.predict_proba(table), index=table["household_id"].to_numpy())
    got = stored.set_index("household_id")["probability"]
    assert len(got) == len(expected)
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), atol=1e-12)


def test_metrics_count_the_scores_served_by_model_version(
    api: TestClient, api_db: Engine, served: Served
) -> None:
    def served_count(endpoint: str) -> float:
        version = served.versions["application"]
        line = (
            f'vbsp_scores_total{{endpoint="{endpoint}",model="overdue-risk-application",'
            f'version="{version}"}} '
        )
        found = [x for x in api.get("/metrics").text.splitlines() if x.startswith(line)]
        return float(found[0].removeprefix(line)) if found else 0.0

    row = household(api_db, served)
    before = {e: served_count(e) for e in ("score", "score-batch")}
    for _ in range(2):
        r = api.post(SCORE, json=application(row["entity_id"]), headers=headers(served, "data"))
        assert r.status_code == 200, r.text
    apps = {"applications": [application(row["entity_id"])] * 3}
    r = api.post("/v1/applications/score-batch", json=apps, headers=headers(served, "data"))
    assert r.status_code == 200, r.text
    rejected = api.post(
        SCORE, json=application(row["entity_id"], amount=10**12), headers=headers(served, "data")
    )
    assert rejected.status_code == 422
    assert served_count("score") == before["score"] + 2
    assert served_count("score-batch") == before["score-batch"] + 3
