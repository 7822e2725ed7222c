"""Group commit on the event loop (SQLite): rows committed before the request is answered, a bad
request fails alone, a held lock is waited for without blocking the loop and then reported,
cancelled requests write nothing, and the WAL is checkpointed off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from serving.loop_audit_writer import LoopAuditWriter, _fast_path
from tests.support import event_loop
from tests.support.audit_rows import STORED, made_up_row
from vbsp_state.engine import make_engine
from vbsp_state.migrate import upgrade


@pytest.fixture
def db(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "audit.db"
    engine = make_engine(f"sqlite:///{path.as_posix()}")
    upgrade(engine)
    yield engine, path
    engine.dispose()


def _ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT score_id FROM score_audit")).scalars())


def test_rows_are_committed_before_the_request_is_answered(db: tuple[Engine, Path]) -> None:
    engine, _ = db
    writer = LoopAuditWriter(engine)

    async def one(rows: list[dict]) -> object:
        try:
            await writer.write(rows)
        except IntegrityError as err:
            return err
        return {r["score_id"] for r in rows} <= _ids(engine)  # visible to another connection

    async def main() -> list:
        await writer.write([made_up_row("k1")])
        batch = [[made_up_row()] for _ in range(30)] + [
            [made_up_row("k1")],
            [made_up_row("k2"), made_up_row("k3")],
        ]
        return await asyncio.gather(*(one(r) for r in batch))

    outcomes = event_loop.run(main)
    writer.close()
    assert isinstance(outcomes[30], IntegrityError)  # the duplicate key fails alone
    assert all(o is True for i, o in enumerate(outcomes) if i != 30)
    assert len(_ids(engine)) == 1 + 30 + 2


def test_a_held_lock_is_waited_for_without_blocking_the_loop(db: tuple[Engine, Path]) -> None:
    engine, path = db
    writer = LoopAuditWriter(engine, busy_timeout=5.0)
    blocker = sqlite3.connect(path, timeout=1, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> None:
        tick = asyncio.create_task(ticker())
        write = asyncio.create_task(writer.write([made_up_row()]))
        await asyncio.sleep(0.3)
        assert not write.done()
        blocker.rollback()  # the lock goes; the retried commit goes through
        await write
        tick.cancel()

    event_loop.run(main)
    writer.close()
    blocker.close()
    assert ticks >= 20  # the loop kept running while the commit waited for the lock
    assert len(_ids(engine)) == 1


def test_a_lock_held_beyond_the_busy_timeout_fails_the_waiting_requests(
    db: tuple[Engine, Path],
) -> None:
    engine, path = db
    writer = LoopAuditWriter(engine, busy_timeout=0.2)
    blocker = sqlite3.connect(path, timeout=1, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")

    async def main() -> float:
        start = time.perf_counter()
        with pytest.raises(OperationalError, match="locked"):
            await writer.write([made_up_row()])
        return time.perf_counter() - start

    waited = event_loop.run(main)
    blocker.rollback()
    blocker.close()
    assert waited >= 0.2
    event_loop.run(lambda: writer.write([made_up_row()]))  # and writes again once the lock is gone
    writer.close()
    assert len(_ids(engine)) == 1


def test_a_cancelled_request_writes_nothing(db: tuple[Engine, Path]) -> None:
    engine, _ = db
    writer = LoopAuditWriter(engine)
    rows = [made_up_row(), made_up_row()]

    async def main() -> None:
        gave_up = asyncio.create_task(writer.write([rows[0]]))
        kept = asyncio.create_task(writer.write([rows[1]]))
        await asyncio.sleep(0)  # both queued; the commit waits for the end of the loop's pass
        gave_up.cancel()
        await kept

    event_loop.run(main)
    writer.close()
    assert _ids(engine) == {rows[1]["score_id"]}


def test_the_wal_is_checkpointed_off_the_loop(db: tuple[Engine, Path]) -> None:
    engine, path = db
    writer = LoopAuditWriter(engine, checkpoint_every=5)

    async def main() -> None:
        for _ in range(12):
            await writer.write([made_up_row()])
        while writer._checkpoint is not None:
            await asyncio.sleep(0.01)

    event_loop.run(main)
    writer.close()
    busy, frames, checkpointed = writer.last_checkpoint
    assert busy == 0 and frames > 0 and checkpointed == frames


def test_rows_are_stored_as_the_sqlalchemy_insert_stores_them(db: tuple[Engine, Path]) -> None:
    from serving.audit import write
    from vbsp_state.schema import score_audit

    engine, _ = db
    stored = {**STORED, "as_of": date(2025, 1, 1)}
    rows = [
        made_up_row(
            stored=stored,
            model_version="7",
            probability=0.123456789,
            band="high",
            request={"amount": 1.5, "program": "poor_household"},
            response={"ok": "Nguyễn"},
        )
        for _ in range(2)
    ]
    rows[1]["created_at"] = rows[0]["created_at"].replace(microsecond=0)
    rows[0]["created_at"] = rows[1]["created_at"]  # whole seconds: the format's corner case
    writer = LoopAuditWriter(engine)
    event_loop.run(lambda: writer.write([rows[0]]))
    writer.close()
    with engine.begin() as conn:
        write(conn, [rows[1]])
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT * FROM score_audit ORDER BY model_version")).all()
        typed = conn.execute(sa.select(score_audit)).mappings().all()
    by_id = {r["score_id"]: dict(r) for r in typed}
    for row in rows:
        assert by_id[row["score_id"]] == {k: row[k] for k in by_id[row["score_id"]]}
    # the same stored values, whichever path wrote them (but the id)
    stored_values = [tuple(v for k, v in r._mapping.items() if k != "score_id") for r in raw]
    assert stored_values[0] == stored_values[1]


@pytest.mark.parametrize("column", ["created_at", "feature_as_of"])
@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6),
        datetime(2026, 1, 2),
        datetime(999, 12, 31, 23, 59, 59),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        date(2026, 1, 2),
        date(999, 1, 1),
        None,
        "2026-01-02",
    ],
)
def test_dates_and_times_are_written_as_sqlalchemy_writes_them(column: str, value: object) -> None:
    from vbsp_state.schema import score_audit

    dialect = sa.create_engine("sqlite://").dialect
    impl = score_audit.c[column].type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)

    def outcome(convert: object) -> object:
        try:
            return convert(value)
        except TypeError:
            return TypeError

    assert outcome(_fast_path(impl, process)) == outcome(process)
