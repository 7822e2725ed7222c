"""Today in the district, and what it says about plan months and the age of scores.

The office works on Vietnam's clock (Asia/Ho_Chi_Minh, UTC+7): at 06:00 there on the first of a
month it is still the previous month in UTC, and a plan or a score's age must follow the office's
calendar, not the server's. :func:`today` is a FastAPI dependency, so tests (and a replay of a
past month) set the date with ``app.dependency_overrides[clock.today]`` instead of patching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    """The office's date now (a dependency: override it to replay another day)."""
    return datetime.now(OFFICE_TZ).date()


def local_time(stamp: datetime | None) -> datetime | None:
    """A stored timestamp (naive UTC, or aware) on the office's clock."""
    if stamp is None:
        return None
    aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    return aware.astimezone(OFFICE_TZ)


def month_of(day: date) -> str:
    """``YYYY-MM`` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def add_months(month: str, n: int) -> str:
    """``YYYY-MM`` shifted by ``n`` months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def plannable_months(day: date) -> tuple[str, str]:
    """The months a plan may be drawn for on ``day``: the current one and the next.

    An earlier month cannot be visited any more, and a later one would be drawn from scores
    that the next month's sessions will replace before the visits happen.
    """
    current = month_of(day)
    return current, add_months(current, 1)


@dataclass(frozen=True)
class Freshness:
    """How old a set of scores is on a given day.

    Scores are dated by ``as_of``, the first day after the last month they cover (scores of
    December are dated 1 January). They are *stale* when they do not cover the last closed month
    (the month before today's), i.e. ``as_of`` is before the first day of today's month.
    """

    as_of: date
    age_days: int
    stale: bool
    last_closed: str


def freshness(as_of: date | datetime | str, day: date) -> Freshness:
    """The age of scores dated ``as_of`` on ``day``, and whether they miss the last closed month."""
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of[:10])
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    first_of_month = day.replace(day=1)
    return Freshness(
        as_of=as_of,
        age_days=(day - as_of).days,
        stale=as_of < first_of_month,
        last_closed=add_months(month_of(day), -1),
    )
