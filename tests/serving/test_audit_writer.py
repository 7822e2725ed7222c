"""Group commit: every submitted row is committed when its future completes; a bad request in a
batch fails alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from serving.audit_writer import AuditWriter
from tests.support import event_loop
from tests.support.audit_rows import made_up_row
from vbsp_state.migrate import upgrade


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM score_audit")).scalar_one()


def _stored(engine: Engine, score_ids: list[str]) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT COUNT(*) FROM score_audit WHERE score_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": score_ids},
        ).scalar_one()
    return found == len(score_ids)


def test_every_row_is_committed_when_its_future_completes(engine: Engine) -> None:
    upgrade(engine)
    writer = AuditWriter(engine)
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = list(pool.map(lambda _: writer.submit([made_up_row()]), range(200)))
        for f in futures:
            f.result(timeout=30)
            # a completed future means the row is already visible to another connection
        assert _count(engine) == 200
    finally:
        writer.close()


def test_a_duplicate_idempotency_key_fails_alone(engine: Engine) -> None:
    upgrade(engine)
    writer = AuditWriter(engine)
    try:
        writer.submit([made_up_row("k1")]).result(timeout=30)
        futures = [
            writer.submit([made_up_row("k1")]),
            writer.submit([made_up_row()]),
            writer.submit([made_up_row("k2")]),
        ]
        with pytest.raises(IntegrityError):
            futures[0].result(timeout=30)
        futures[1].result(timeout=30)
        futures[2].result(timeout=30)
        assert _count(engine) == 3
    finally:
        writer.close()


def test_score_ids_are_version_7_uuids_of_their_millisecond() -> None:
    import os

    from serving.audit import uuid7_text

    for ms in (0, 1, 1_764_255_600_123, 2**48 - 1):
        for raw in (bytes(10), b"\xff" * 10, os.urandom(10)):
            u = uuid.UUID(uuid7_text(ms, raw))
            assert u.version == 7 and u.variant == uuid.RFC_4122
            assert u.int >> 80 == ms  # the first 48 bits are the millisecond
            # the rest is the random bytes but for the version and variant bits
            mask = (1 << 80) - 1 & ~(0xF << 76) & ~(0x3 << 62)
            assert u.int & mask == int.from_bytes(raw, "big") & mask


def test_score_ids_are_distinct_time_ordered_uuids_across_refills() -> None:
    from serving.audit import _ScoreIds

    ids = _ScoreIds(per_refill=4)
    before = time.time_ns() // 1_000_000
    drawn = [ids() for _ in range(50)]  # 13 refills
    after = time.time_ns() // 1_000_000
    assert len(set(drawn)) == 50
    parsed = [uuid.UUID(i) for i in drawn]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    stamps = [u.int >> 80 for u in parsed]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after


def test_requests_on_the_event_loop_are_settled_once_their_rows_are_committed(
    engine: Engine,
) -> None:
    upgrade(engine)
    writer = AuditWriter(engine)

    async def main() -> list:
        await writer.write([made_up_row("k1")])
        rows = [[made_up_row()] for _ in range(40)] + [
            [made_up_row("k1")],
            [made_up_row("k2"), made_up_row("k3")],
        ]

        async def one(r: list) -> object:
            try:
                await writer.write(r)
            except IntegrityError as err:
                return err
            return _stored(
                engine, [x["score_id"] for x in r]
            )  # committed before the await returned

        return await asyncio.gather(*(one(r) for r in rows))

    try:
        outcomes = event_loop.run(main)
    finally:
        writer.close()
    assert isinstance(outcomes[40], IntegrityError)  # the duplicate key fails alone
    assert all(n is True for i, n in enumerate(outcomes) if i != 40)
    assert _count(engine) == 1 + 40 + 2


def test_a_request_cancelled_on_the_event_loop_writes_nothing(engine: Engine) -> None:
    upgrade(engine)
    writer = AuditWriter(engine)
    release = threading.Event()
    real_write = writer._write

    def slow_write(batch: list) -> list:
        release.wait(10)  # the first transaction is still running when the second request gives up
        return real_write(batch)

    writer._write = slow_write  # type: ignore[method-assign]

    async def main() -> None:
        first = asyncio.ensure_future(writer.write([made_up_row()]))
        await asyncio.sleep(0.1)
        gave_up = asyncio.ensure_future(writer.write([made_up_row()]))
        await asyncio.sleep(0.1)
        gave_up.cancel()
        release.set()
        await first
        await writer.write([made_up_row()])  # the writer is still alive

    try:
        event_loop.run(main)
    finally:
        writer.close()
    assert _count(engine) == 2
