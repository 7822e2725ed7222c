"""The bank's handling of debt in one commune's books: extensions, overdue, freezes,
write-offs, cures, deferred interest — each recorded as a debt event with its cause.

Split from :mod:`features.simulator.records` (which keeps the loan book, the interest sessions and
the other row buffers); :class:`DebtBook` is mixed into its
:class:`~features.simulator.records.Recorder`.
"""

from __future__ import annotations

import numpy as np

from features import domain
from features.simulator.book_queries import (
    FROZEN,
    I_FROZEN,
    I_WRITTEN_OFF,
    OVERDUE,
    PAID,
    PENDING,
    WRITTEN_OFF,
    BookQueries,
    Columns,
)


class DebtBook(BookQueries):
    """Payments of installments and the bank's debt events, on the loan and installment books."""

    event_rows: Columns

    def _pay(self, i: np.ndarray, t: np.ndarray | int) -> None:
        inst, loans = self.inst.cols, self.loans.cols
        owed = inst["amt"][i] - inst["paid"][i]
        inst["paid"][i] = inst["amt"][i]
        inst["paid_m"][i] = t
        inst["status"][i] = PAID
        np.add.at(loans["paid"], inst["loan"][i], owed)
        np.add.at(loans["n_open"], inst["loan"][i], -1)

    def _event(self, i: int, t: int, kind: str, cause: str, amount: int, new_due: int = -1) -> None:
        self.event_rows.add(
            loan=self.inst.cols["loan"][i],
            t=t,
            kind=domain.DEBT_EVENT_TYPES.index(kind),
            cause=domain.DEBT_CAUSES.index(cause),
            inst=self.inst.cols["no"][i],
            amount=amount,
            new_due=new_due,
        )

    def extend(self, i: int, t: int, months: int, cause: str) -> None:
        """Push installment ``i`` back by ``months`` (gia hạn nợ)."""
        inst = self.inst.cols
        inst["cur"][i] = t + months
        inst["ext"][i] += 1
        self.loans.cols["bad"][inst["loan"][i]] = True
        self._event(i, t, "extension", cause, int(inst["amt"][i] - inst["paid"][i]), t + months)

    def mark_overdue(self, i: int, t: int, cause: str) -> None:
        """Installment ``i`` unpaid at its due date and not extended (nợ quá hạn)."""
        self.inst.cols["status"][i] = OVERDUE
        self.loans.cols["bad"][self.inst.cols["loan"][i]] = True
        self._event(
            i, t, "overdue", cause, int(self.inst.cols["amt"][i] - self.inst.cols["paid"][i])
        )

    def freeze_loan(self, i: int, t: int, cause: str) -> None:
        """Freeze the whole remaining debt of installment ``i``'s loan (khoanh nợ)."""
        inst, L = self.inst.cols, self.loans.cols
        li = inst["loan"][i]
        L["status"][li] = FROZEN
        own = np.flatnonzero(
            (self.inst["loan"] == li) & np.isin(self.inst["status"], [PENDING, OVERDUE])
        )
        inst["status"][own] = I_FROZEN
        self._event(i, t, "freeze", cause, int(L["amount"][li] - L["paid"][li]))

    def write_off(self, li: int, t: int, cause: str) -> None:
        """Write off the frozen debt of loan ``li`` (xóa nợ), recorded against its first
        frozen installment with the freeze's cause; amount = the principal written off."""
        L = self.loans.cols
        own = np.flatnonzero((self.inst["loan"] == li) & (self.inst["status"] == I_FROZEN))
        if L["status"][li] != FROZEN or own.size == 0:
            return
        self.inst.cols["status"][own] = I_WRITTEN_OFF
        L["status"][li] = WRITTEN_OFF
        self._event(int(own[0]), t, "write_off", cause, int(L["amount"][li] - L["paid"][li]))

    def cure_overdue(self, t: int, hh_mask: np.ndarray) -> None:
        """Overdue installments of households in ``hh_mask`` are paid this month."""
        i = np.flatnonzero(self.inst["status"] == OVERDUE)
        i = i[hh_mask[self.loans["hh"][self.inst["loan"][i]]]]
        for k in i:
            self._event(
                int(k),
                t,
                "overdue_cured",
                "other",
                int(self.inst.cols["amt"][k] - self.inst.cols["paid"][k]),
            )
        self._pay(i, t)

    def repay_all(self, h: int, t: int) -> None:
        """The household repays every open installment and its interest arrears now."""
        L = self.loans.cols
        li = self._open_loans()
        li = li[L["hh"][li] == h]
        i = np.flatnonzero(
            np.isin(self.inst["loan"], li) & np.isin(self.inst["status"], [PENDING, OVERDUE])
        )
        for k in i[self.inst["status"][i] == OVERDUE]:
            self._event(
                int(k),
                t,
                "overdue_cured",
                "migration",
                int(self.inst.cols["amt"][k] - self.inst.cols["paid"][k]),
            )
        self._pay(i, t)  # interest arrears are paid at this month's session

    def defer_interest(self, h: int, t: int, cause: str) -> None:
        """The bank suspends the interest of household ``h``'s active loans after a disaster
        (recorded against the next pending installment of each loan, amount = outstanding)."""
        L = self.loans.cols
        li = self._open_loans()
        for loan in li[L["hh"][li] == h]:
            pend = np.flatnonzero((self.inst["loan"] == loan) & (self.inst["status"] == PENDING))
            if pend.size == 0:
                continue
            self._event(
                int(pend[0]),
                t,
                "interest_deferred",
                cause,
                int(L["amount"][loan] - L["paid"][loan]),
            )
