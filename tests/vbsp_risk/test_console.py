"""The commands' console: wide enough in a log file or pipe for the metrics tables' intervals."""

from __future__ import annotations

import pytest

from vbsp_risk import options


def test_redirected_output_is_wide_enough_for_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = options.console()
    assert not out.is_terminal  # pytest captures stdout
    assert out.width == options.PIPE_WIDTH > 80


def test_columns_set_by_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    assert options.console().width == 90
