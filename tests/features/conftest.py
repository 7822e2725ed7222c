"""Fixtures of the feature tests: the session's small district under the names they use."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def tables(small_tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The small district's tables (``tests/conftest.py``), typed and validated."""
    return small_tables


@pytest.fixture(scope="module")
def export(small_export: pd.Timestamp) -> pd.Timestamp:
    """The small district's export date."""
    return small_export
