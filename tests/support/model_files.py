"""Edits of a model's files for the model-fault tests."""

from __future__ import annotations

from pathlib import Path


def change_a_leaf(folder: Path) -> None:
    """One digit of the first leaf value changed: same length, still a valid model text."""
    data = bytearray((folder / "booster.txt").read_bytes())
    at = data.index(b"leaf_value=") + len(b"leaf_value=")
    while not chr(data[at]).isdigit():
        at += 1
    data[at] = ord("7") if data[at] != ord("7") else ord("3")
    (folder / "booster.txt").write_bytes(bytes(data))
