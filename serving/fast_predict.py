"""One-row predictions through LightGBM's "fast" C API, for the service's request path.

``Booster.predict`` builds a new predictor, checks and converts its input on every call; for one
application that is ~5× the cost of walking the trees. LightGBM's C API has a path meant for
exactly this case — ``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares the configuration once
and ``LGBM_BoosterPredictForMatSingleRowFast`` then scores one row per call — which the Python
package does not wrap. :class:`SingleRowPredictor` wraps it for the probability and for the
per-feature contributions, with the same trees and the same arithmetic as ``Booster.predict``
(tests compare them bit for bit). Batches keep using ``Booster.predict``.

A fast configuration owns an output buffer and is not safe to share between threads, so each
call holds a lock; the service calls it from the event loop, where the lock is never contended.
The one-row call keeps the GIL (it is called through :class:`ctypes.PyDLL`): it takes tens of
microseconds, while releasing the GIL let the audit writer's thread take it and the event loop
then waited up to a switch interval (milliseconds) to get it back.
The configurations are freed when the predictor is garbage-collected; they keep the booster alive.
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _c_str, _safe_call

PREDICT_NORMAL = 0
"""``C_API_PREDICT_NORMAL``: the probability (the objective's transform applied)."""
PREDICT_CONTRIB = 3
"""``C_API_PREDICT_CONTRIB``: per-feature contributions to the raw score, then the expected value."""
DTYPE_FLOAT64 = 1
_LIB_KEEP_GIL = ctypes.PyDLL(_LIB._name, handle=_LIB._handle)
_predict_one = _LIB_KEEP_GIL.LGBM_BoosterPredictForMatSingleRowFast
_predict_one.argtypes = [
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_double),
]
_predict_one.restype = ctypes.c_int


def _free(handles: list[ctypes.c_void_p]) -> None:
    for handle in handles:
        if handle.value:
            _LIB.LGBM_FastConfigFree(handle)


class SingleRowPredictor:
    """Scores one float64 feature row at a time with a LightGBM booster.

    Args:
        booster: The trained booster (kept alive as long as this predictor).
        num_features: Columns of a row (the booster's feature count).
    """

    def __init__(self, booster: lgb.Booster, num_features: int) -> None:
        self._booster = booster
        self._n = int(num_features)
        self._lock = threading.Lock()
        self._handles: dict[int, ctypes.c_void_p] = {}
        self._out = {
            PREDICT_NORMAL: np.zeros(1, dtype=np.float64),
            PREDICT_CONTRIB: np.zeros(self._n + 1, dtype=np.float64),
        }
        self._in = np.zeros(self._n, dtype=np.float64)  # a row is copied here: its address is fixed
        self._in_address = self._in.ctypes.data
        self._out_len = ctypes.c_int64()
        # ctypes arguments built once: converting them on every call cost more than the trees
        self._out_len_ref = ctypes.byref(self._out_len)
        self._out_ptr = {
            k: v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for k, v in self._out.items()
        }
        for kind in (PREDICT_NORMAL, PREDICT_CONTRIB):
            handle = ctypes.c_void_p()
            _safe_call(
                _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    booster._handle,
                    ctypes.c_int(kind),
                    ctypes.c_int(0),
                    ctypes.c_int(-1),
                    ctypes.c_int(DTYPE_FLOAT64),
                    ctypes.c_int32(self._n),
                    _c_str("num_threads=1"),
                    ctypes.byref(handle),
                )
            )
            self._handles[kind] = handle
        weakref.finalize(self, _free, list(self._handles.values()))

    def _call(self, kind: int, row: np.ndarray) -> np.ndarray:
        """Score ``row`` into the kind's output buffer; the caller holds the lock."""
        if row.shape != (self._n,):
            raise ValueError(f"expected one row of {self._n} features, got shape {row.shape}")
        self._in[:] = row  # as float64, contiguous; cheaper than asking a row for its address
        code = _predict_one(
            self._handles[kind], self._in_address, self._out_len_ref, self._out_ptr[kind]
        )
        if code != 0:
            _safe_call(code)  # raises LightGBM's error
        return self._out[kind]

    def probability(self, row: np.ndarray) -> float:
        """The booster's (uncalibrated) probability for one row, as ``Booster.predict``."""
        with self._lock:
            return self._call(PREDICT_NORMAL, row).item(0)

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """Contributions of one row (last entry: expected value), as ``pred_contrib=True``."""
        with self._lock:
            return self._call(PREDICT_CONTRIB, row).copy()
