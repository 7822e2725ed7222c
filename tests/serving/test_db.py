"""The service database's migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from training import registry
from vbsp_state import migrate, schema
from vbsp_state.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    check_current,
    current_revision,
    head_revision,
    safe_url,
    upgrade,
)

all_tables = set(schema.metadata.tables)
own_tables = all_tables - {"online_features", "model_alias_history"}


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def schema_diff(engine: Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), schema.metadata)


def test_metadata_holds_the_service_store_and_audit_tables() -> None:
    assert own_tables == {
        "api_clients",
        "score_audit",
        "portfolio_scores",
        "inspection_plans",
        "plan_visits",
        "visit_outcomes",
        "service_events",
        "outcome_submissions",
        "household_contacts",
        "security_events",
        "web_sessions",
    }
    assert {"online_features", "model_alias_history"} < all_tables


def test_upgrade_on_an_empty_database_creates_every_table(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert tables(engine) == all_tables
    assert current_revision(engine) == head_revision()
    check_current(engine)


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            schema.service_events.insert(),
            {
                "created_at": datetime(2025, 1, 1),
                "kind": "test",
                "detail": "{}",
            },
        )
    assert upgrade(engine) == head_revision()
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.service_events)).scalar()
            == 1
        )


def test_upgrade_keeps_an_existing_online_store_and_audit(engine: Engine) -> None:
    schema.metadata.create_all(engine, tables=[schema.online_features])
    registry.ensure_audit_table(engine)
    row = {
        "entity_type": "household",
        "entity_id": "H1",
        "group_id": "G1",
        "village_id": "V1",
        "commune_id": "C1",
        "workers": 2,
        "as_of": date(2025, 1, 1),
        "feature_set_version": "x",
        "features": "{}",
        "materialized_at": datetime(2025, 1, 1),
    }
    with engine.begin() as conn:
        conn.execute(schema.online_features.insert(), row)
    upgrade(engine)
    assert tables(engine) == all_tables
    with engine.connect() as conn:
        assert conn.execute(sa.select(schema.online_features.c.entity_id)).scalars().all() == ["H1"]
    assert schema_diff(engine) == []


def test_migrated_schema_equals_the_code_metadata(engine: Engine) -> None:
    upgrade(engine)
    assert schema_diff(engine) == []


def test_check_current_refuses_an_unmigrated_database(engine: Engine) -> None:
    with pytest.raises(RuntimeError) as err:
        check_current(engine)
    message = str(err.value)
    assert "is at revision None" in message
    assert f"code expects {head_revision()}" in message
    assert "run `vbsp-risk db upgrade`" in message


def test_check_current_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sa.create_engine("postgresql+psycopg://svc:s3cret@db.example:5432/vbsp")
    assert safe_url(engine) == "postgresql+psycopg://svc:***@db.example:5432/vbsp"
    monkeypatch.setattr(migrate, "current_revision", lambda _engine: "0000")
    with pytest.raises(RuntimeError, match="is at revision 0000") as err:
        check_current(engine)
    assert "s3cret" not in str(err.value)
    assert "svc:***@db.example" in str(err.value)


def test_downgrade_drops_only_the_service_tables(engine: Engine) -> None:
    upgrade(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert tables(engine) == {"online_features", "model_alias_history"}
    assert current_revision(engine) is None


def test_unique_idempotency_key_per_client(engine: Engine) -> None:
    upgrade(engine)
    row = {
        "created_at": datetime(2025, 1, 1),
        "endpoint": "score",
        "client_id": "c",
        "idempotency_key": "k",
        "request_sha256": "0" * 64,
        "model_name": "m",
        "model_version": "1",
        "probability": 0.1,
        "band": "low",
        "request": "{}",
        "response": "{}",
    }
    with engine.begin() as conn:
        conn.execute(schema.score_audit.insert(), {**row, "score_id": "a"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(schema.score_audit.insert(), {**row, "score_id": "b"})


def test_migration_files_are_in_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


def test_schema_comparison_sees_a_missing_index(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_score_audit_commune_id"))
    assert [d[0] for d in schema_diff(engine)] == ["add_index"]
