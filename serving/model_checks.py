"""Checks a model passes before it serves: its store exists, its files are the ones registered,
its booster file is whole, and it scores (the smoke check).

The files registered: a version registered by training carries the SHA-256 of each scorer file as
a tag (``sha256.booster.txt`` ...), kept in the tracking database. A file that differs is refused
(:func:`check_digests`), which also catches an edit LightGBM parses without complaint (a changed
leaf value scores, wrongly, with no other check failing).

LightGBM 4 does not raise on a truncated or corrupt model text: its parser aborts the whole
process (``std::terminate`` or a segmentation fault; measured with LightGBM 4.7 on files cut at
5–95 % of their length and on files with a few bytes overwritten). Loading such a file at start
would put the service in a crash loop; at reload it would kill the process that is serving the
old model. So before the service reads a booster it

1. checks the text's structure: the header's ``tree_sizes`` add up to where ``end of trees``
   is, every tree starts where the sizes say, the parameters end and the last line is the
   ``pandas_categorical`` record (a truncation anywhere fails one of these);
2. parses the file once in a throw-away child process through LightGBM's C API (``ctypes``, no
   Python package import: about 0.1 s), so a file that still crashes the parser kills only the
   child.

Either failure is a :class:`ModelLoadError` naming the file and the reason.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from training.scorer import DIGEST_TAG, file_digests

if TYPE_CHECKING:
    from serving.model_store import LoadedModel

logger = logging.getLogger(__name__)

_PROBE = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
n, handle = ctypes.c_int(0), ctypes.c_void_p()
if lib.LGBM_BoosterCreateFromModelfile(sys.argv[2].encode(), ctypes.byref(n), ctypes.byref(handle)):
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    sys.stderr.write(lib.LGBM_GetLastError().decode(errors="replace")[:300])
    sys.exit(3)
lib.LGBM_BoosterFree(handle)
"""


class ModelLoadError(RuntimeError):
    """A model could not be resolved, downloaded, read or smoke-checked."""


class BoosterFileError(ModelLoadError):
    """The booster file is truncated, corrupt or crashes LightGBM's parser."""


def check_digests(tags: Mapping[str, str], folder: Path) -> bool:
    """Compare the scorer files in ``folder`` with the SHA-256 tags of their model version.

    Returns:
        ``False`` when the version has no such tags (registered before they were recorded, or
        by hand), so nothing could be checked; ``True`` when every tagged file matches.

    Raises:
        ModelLoadError: A tagged file is missing or differs from the registered one.
    """
    registered = {
        k.removeprefix(DIGEST_TAG): v for k, v in tags.items() if k.startswith(DIGEST_TAG)
    }
    found = file_digests(folder)
    for file, digest in sorted(registered.items()):
        if file not in found:
            raise ModelLoadError(f"{file} is missing (registered with sha256 {digest[:12]}…)")
        if found[file] != digest:
            raise ModelLoadError(
                f"{file} differs from the file registered with this version "
                f"(sha256 {found[file][:12]}…, registered {digest[:12]}…)"
            )
    return bool(registered)


def check_structure(path: Path) -> None:
    """The booster text is whole: every tree where the header says, parameters, trailer.

    Raises:
        BoosterFileError: Naming the file and what is wrong.
    """
    data = path.read_bytes()
    problem = _structure_problem(data)
    if problem:
        raise BoosterFileError(f"{path.name} is truncated or corrupt: {problem}")


def _structure_problem(data: bytes) -> str | None:
    if not data.startswith(b"tree\n"):
        return "does not start with a LightGBM model header"
    header, sep, _ = data.partition(b"\n\nTree=0\n")
    if not sep:
        return "no trees"
    sizes_line = [ln for ln in header.split(b"\n") if ln.startswith(b"tree_sizes=")]
    if sizes_line:
        try:
            sizes = [int(s) for s in sizes_line[0].removeprefix(b"tree_sizes=").split()]
        except ValueError:
            return "unreadable tree_sizes"
        pos = len(header) + 2
        for i, size in enumerate(sizes):
            if not data.startswith(f"Tree={i}\n".encode(), pos):
                return f"tree {i} is not where the header's tree_sizes put it (byte {pos})"
            pos += size
        if not data.startswith(b"end of trees", pos):
            return f"'end of trees' is not after the {len(sizes)} trees the header lists"
    elif b"\nend of trees\n" not in data:
        return "no 'end of trees'"
    if b"\nend of parameters\n" not in data:
        return "no 'end of parameters'"
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if not last.startswith(b"pandas_categorical:"):
        return "the last line is not the pandas_categorical record"
    try:
        json.loads(last.removeprefix(b"pandas_categorical:"))
    except ValueError:
        return "unreadable pandas_categorical record"
    return None


def probe_parse(path: Path, timeout: float = 60.0) -> None:
    """Parse the booster in a child process; a crash there is an error here, not a crash.

    Raises:
        BoosterFileError: The child process died, failed or timed out.
    """
    lib = getattr(lgb.basic._LIB, "_name", None)
    if not lib:  # pragma: no cover - every LightGBM wheel loads its library through ctypes
        logger.warning("LightGBM library path unknown; %s not probed in a child process", path)
        return
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, str(lib), str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise BoosterFileError(
            f"{path.name}: LightGBM did not parse it in {timeout:.0f} s"
        ) from err
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise BoosterFileError(f"{path.name} is corrupt: LightGBM's parser crashed ({name})")
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise BoosterFileError(f"{path.name} is corrupt: {detail[0][:200]}")


def check_booster(path: Path) -> None:
    """Structure check, then a parse in a child process (see the module's docstring).

    Raises:
        BoosterFileError: Naming the file and the reason.
    """
    check_structure(path)
    probe_parse(path)


def registry_client(tracking_uri: str) -> MlflowClient:
    """A registry client; a SQLite store must exist (MLflow would create an empty one).

    Raises:
        ModelLoadError: The SQLite file of the tracking store does not exist.
    """
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ModelLoadError(f"tracking store unreachable: SQLite file {path} does not exist")
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def smoke_check(model: LoadedModel, example: pd.DataFrame | None = None) -> None:
    """Score an all-missing vector (and an example frame): finite probabilities in [0, 1] that
    equal the pandas path of the scorer.

    Raises:
        ModelLoadError: If a check fails.
    """
    vectors: list[dict[str, object]] = [{}]
    if example is not None and len(example):
        vectors += [
            {k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in example.to_dict("records")
        ]
    p = model.predict(model.matrix(vectors))
    if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
        raise ModelLoadError(f"{model.name} v{model.version}: smoke check gave {p[:3]}")
    if example is not None and len(example):
        ref = model.scorer.predict_proba(example)
        if not np.allclose(p[1:], ref, rtol=0, atol=1e-9):
            raise ModelLoadError(f"{model.name} v{model.version}: numpy and pandas paths differ")


def read_example(model_dir: Path) -> pd.DataFrame | None:
    """The model's logged input example as a frame (``None`` when absent or unreadable)."""
    path = model_dir / "input_example.json"
    if not path.is_file():
        return None
    try:
        return pd.read_json(path, orient="split")
    except ValueError:
        return None
