"""What helps an inspector find a household in the village without a name: the member's number
in the group's register (``households.member_no``, where the export has it) and the village of
the group's current leader, who knows every member.

Read from the state's data folder (as the places of :mod:`serving.plan_store` are) and cached by
the households file's modification time. Missing tables or columns give empty maps: the pages
then show what they have.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from serving.plan_store import read_optional

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """``member_no`` by household, and the current leader's village by group."""

    member_no: dict[str, int] = field(default_factory=dict)
    leader_village: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_cache: dict[Path, tuple[float, Finding]] = {}


def _stamp(folder: Path) -> float | None:
    for name in ("households.parquet", "households.csv", "households"):
        path = folder / name
        if path.exists():
            return path.stat().st_mtime
    return None


def read_finding(folder: Path) -> Finding:
    """The folder's member numbers and leaders' villages (empty when not available)."""
    tables = read_optional(folder, ("households", "group_leaders"), "no member numbers shown")
    if tables is None:
        return Finding()
    households, leaders = tables["households"], tables["group_leaders"]
    members: dict[str, int] = {}
    if "member_no" in households.columns:
        known = households.dropna(subset=["member_no"])
        members = {
            str(h): int(n) for h, n in zip(known["household_id"], known["member_no"], strict=True)
        }
    village = dict(zip(households["household_id"], households["village_id"], strict=True))
    current = leaders.assign(start=pd.to_datetime(leaders["start_date"], errors="coerce"))
    current = current[current["end_date"].isna()] if "end_date" in current else current
    current = current.sort_values("start").groupby("group_id").tail(1)
    leader_village = {
        str(g): str(village[h])
        for g, h in zip(current["group_id"], current["leader_id"], strict=True)
        if h in village
    }
    return Finding(members, leader_village)


def finding(folder: Path) -> Finding:
    """:func:`read_finding`, cached until the households file changes."""
    stamp = _stamp(folder)
    if stamp is None:
        return Finding()
    hit = _cache.get(folder)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = read_finding(folder)
    with _lock:
        _cache[folder] = (stamp, value)
    return value
