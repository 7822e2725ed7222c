"""The notebooks execute on the small simulated district (so they never rot) and are stored
without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("portfolio_exploration.ipynb", "model_report.ipynb")


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name} has outputs"


@pytest.mark.parametrize("name", NAMES)
def test_executes_on_the_small_district(
    name: str, small_district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VBSP_RISK_NOTEBOOK_DATA", str(small_district))
    monkeypatch.setenv("VBSP_RISK_NOTEBOOK_N_BOOT", "0")
    monkeypatch.setenv("VBSP_RISK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    text = str([c.outputs for c in book.cells if c.cell_type == "code"])
    assert "Tà Ôi" not in text and "Vân Kiều" not in text  # group-level figures only
