"""What the simulation asks of one commune's books: per-household and per-group views.

Split from :mod:`features.simulator.records` (which writes the books): these read the loan and
installment columns, vectorised, for the hazard terms (outstanding, misuse, livestock, loan age,
installments paid), the state oracle (installments due ahead) and the ratings (overdue by group).
"""

from __future__ import annotations

import numpy as np

from features.simulator.lending import PURPOSE

ACTIVE, CLOSED, FROZEN, WRITTEN_OFF = 0, 1, 3, 4
PENDING, PAID, OVERDUE, I_FROZEN, I_WRITTEN_OFF = 0, 1, 2, 3, 4
LIVESTOCK = PURPOSE["livestock"]
NONE = -1_000_000  # "no month" (month offsets may be negative)


class Columns:
    """Struct of growable numpy arrays."""

    def __init__(self, **dtypes: str) -> None:
        self.n = 0
        self._cap = 1024
        self.cols = {k: np.zeros(self._cap, dtype=v) for k, v in dtypes.items()}

    def add(self, **values: object) -> np.ndarray:
        """Append rows (scalars or equal-length arrays); return their indices."""
        k = max([v.size for v in values.values() if isinstance(v, np.ndarray)], default=1)
        while self.n + k > self._cap:
            self._cap *= 2
            for name, arr in self.cols.items():
                self.cols[name] = np.resize(arr, self._cap)
        idx = np.arange(self.n, self.n + k)
        for name, v in values.items():
            self.cols[name][idx] = v
        self.n += k
        return idx

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]


class BookQueries:
    """Read-only views of the books; mixed into :class:`~features.simulator.records.Recorder`."""

    loans: Columns
    inst: Columns

    def _open_loans(self) -> np.ndarray:
        return np.flatnonzero(self.loans["status"] == ACTIVE)

    def household_outstanding(self, n: int) -> np.ndarray:
        """Outstanding principal of every household's active (not frozen) loans."""
        li = self._open_loans()
        out = self.loans["amount"][li] - self.loans["paid"][li]
        return np.bincount(self.loans["hh"][li], weights=out, minlength=n)

    def household_misuse(self, n: int) -> np.ndarray:
        """1 where an active loan of the household is being misused."""
        li = self._open_loans()
        return (
            np.bincount(self.loans["hh"][li], weights=self.loans["misuse"][li], minlength=n) > 0
        ).astype(float)

    def household_livestock(self, n: int) -> np.ndarray:
        """1 where an active loan of the household funds livestock."""
        li = self._open_loans()
        w = self.loans["purpose"][li] == LIVESTOCK
        return (np.bincount(self.loans["hh"][li], weights=w, minlength=n) > 0).astype(float)

    def loan_misuse(self, li: int) -> bool:
        """Whether loan ``li`` is misused (hidden truth)."""
        return bool(self.loans.cols["misuse"][li])

    def recent_disbursement(self, hh: np.ndarray, t: int) -> np.ndarray:
        """Households (of ``hh``) with a loan disbursed 3–9 months before ``t``."""
        li = self._open_loans()
        age = t - self.loans["disb"][li]
        recent = np.zeros(int(hh.max()) + 1, dtype=bool)
        sel = li[(age >= 3) & (age <= 9)]
        recent[self.loans["hh"][sel][self.loans["hh"][sel] <= hh.max()]] = True
        return recent[hh]

    def _overdue_by_loan(self) -> np.ndarray:
        i = np.flatnonzero(self.inst["status"] == OVERDUE)
        owed = self.inst["amt"][i] - self.inst["paid"][i]
        return np.bincount(self.inst["loan"][i], weights=owed, minlength=self.loans.n)

    def household_loan_age(self, n: int, t: int) -> np.ndarray:
        """Months since each household's newest active loan was disbursed (120 without one)."""
        li = self._open_loans()
        newest = np.full(n, t - 120, dtype=np.int64)
        np.maximum.at(newest, self.loans["hh"][li], self.loans["disb"][li])
        return t - newest

    def household_paid_share(self, n: int) -> np.ndarray:
        """Share of the installments of each household's active loans already paid."""
        li = self._open_loans()
        hh = self.loans["hh"][li]
        total = np.bincount(hh, weights=self.loans["n_inst"][li], minlength=n)
        paid = np.bincount(
            hh, weights=self.loans["n_inst"][li] - self.loans["n_open"][li], minlength=n
        )
        return paid / np.maximum(total, 1)

    def due_matrix(self, hh: np.ndarray, t: int, horizon: int) -> np.ndarray:
        """``(len(hh), horizon)``: whether household ``hh[j]`` has an installment due in ``t + k``."""
        i = np.flatnonzero(
            (self.inst["status"] == PENDING)
            & (self.inst["cur"] >= t)
            & (self.inst["cur"] < t + horizon)
        )
        pos = np.full(int(max(hh.max(initial=0), self.loans["hh"].max(initial=0))) + 1, -1)
        pos[hh] = np.arange(hh.size)
        row = pos[self.loans["hh"][self.inst["loan"][i]]]
        out = np.zeros((hh.size, horizon), dtype=bool)
        keep = row >= 0
        out[row[keep], self.inst["cur"][i][keep] - t] = True
        return out

    def group_overdue(self, g: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Overdue principal and outstanding principal by group."""
        li = self._open_loans()
        L = self.loans.cols
        out = np.bincount(
            g[L["hh"][li]], weights=L["amount"][li] - L["paid"][li], minlength=n_groups
        )
        od = self._overdue_by_loan()[li]
        return np.bincount(g[L["hh"][li]], weights=od, minlength=n_groups), out
