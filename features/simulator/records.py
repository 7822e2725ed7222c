"""The bank's books for one simulated commune: loan and installment state, and row buffers.

:class:`Recorder` keeps loans and installments as growable numpy columns so that each month's
interest session, due installments and cures are vectorised; its read-only views are in
:mod:`features.simulator.book_queries`, the bank's debt events in
:mod:`features.simulator.debt_book`, and :mod:`features.simulator.assemble` turns the books into
the contract's tables (this module does not import it: no cycle).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import domain
from features.simulator.book_queries import ACTIVE, CLOSED, FROZEN, NONE, PENDING, Columns
from features.simulator.debt_book import DebtBook

__all__ = ["ACTIVE", "CLOSED", "FROZEN", "NONE", "Columns", "Recorder"]


class Recorder(DebtBook):
    """Loan book and event buffers of one commune."""

    def __init__(self, commune_id: str, months: pd.DatetimeIndex, day: int) -> None:
        self.commune_id = commune_id
        self.base = np.datetime64(months[0].strftime("%Y-%m"), "M")
        self.day = day
        self.loans = Columns(
            hh="i8",
            prog="i8",
            purpose="i8",
            amount="i8",
            rate="f8",
            term="i8",
            grace="i8",
            disb="i8",
            lag="i8",
            misuse="?",
            status="i8",
            closed="i8",
            paid="i8",
            arrears="i8",
            n_open="i8",
            n_inst="i8",
            bad="?",
        )
        self.inst = Columns(
            loan="i8",
            no="i8",
            due="i8",
            cur="i8",
            amt="i8",
            paid="i8",
            paid_m="i8",
            status="i8",
            ext="i8",
        )
        self.interest_rows = Columns(loan="i8", t="i8", due="i8", paid="i8", arrears="i8")
        self.saving_rows = Columns(hh="i8", t="i8", kind="i8", amount="i8", balance="i8")
        self.event_rows = Columns(
            loan="i8", t="i8", kind="i8", cause="i8", inst="i8", amount="i8", new_due="i8"
        )
        self.truth_rows = Columns(hh="i8", t="i8", p="f8", in_ep="?", p12="f8")
        self.rating_rows: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []
        self.poverty_rows: list[tuple[int, int, int]] = []
        self.leader_rows: list[list] = []
        self.inspection_rows: list[tuple] = []

    def date(self, t: np.ndarray | int, day: int | None = None) -> np.ndarray:
        """Date of month offset ``t`` on the commune's transaction day (or ``day``)."""
        return (self.base + np.asarray(t)).astype("datetime64[D]") + ((day or self.day) - 1)

    # ---------------------------------------------------------------- loans
    def loan(
        self,
        h: int,
        t: int,
        prog: int,
        purpose: int,
        amount: int,
        rate: float,
        term: int,
        grace: int,
        misuse: bool,
        offsets: np.ndarray,
        principal: np.ndarray,
        lag: int,
    ) -> int:
        """Book a new loan disbursed in month ``t`` and its schedule; return its index."""
        li = int(
            self.loans.add(
                hh=h,
                prog=prog,
                purpose=purpose,
                amount=amount,
                rate=rate,
                term=term,
                grace=grace,
                disb=t,
                lag=lag,
                misuse=misuse,
                status=ACTIVE,
                closed=-1,
                paid=0,
                arrears=0,
                n_open=len(offsets),
                n_inst=len(offsets),
                bad=False,
            )[0]
        )
        k = len(offsets)
        self.inst.add(
            loan=li,
            no=np.arange(1, k + 1),
            due=t + offsets,
            cur=t + offsets,
            amt=principal,
            paid=0,
            paid_m=NONE,
            status=PENDING,
            ext=0,
        )
        return li

    def settle_past(self) -> None:
        """Installments of pre-existing loans that fell due before the first month were paid."""
        i = np.flatnonzero(self.inst["cur"] < 0)
        self._pay(i, self.inst["cur"][i])

    # ---------------------------------------------------------------- monthly session
    def interest_session(
        self,
        t: int,
        paying: np.ndarray,
        share: np.ndarray,
        g: np.ndarray,
        n_groups: int,
        deferred: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Accrue and collect a month's interest; return interest due and paid by group.

        Households in ``paying`` pay the month's interest and their arrears; the others pay the
        part ``share`` (< 1) of the month's interest the group collects from them, so their
        arrears still grow (the session shows unpaid interest). Households in ``deferred`` have
        their interest suspended by the bank after a disaster: nothing falls due (and no arrears
        grow) while the deferral lasts.
        """
        L = self.loans.cols
        li = self._open_loans()
        li = li[L["disb"][li] < t]
        if li.size == 0:
            return np.zeros(n_groups), np.zeros(n_groups)
        out = L["amount"][li] - L["paid"][li]
        od = self._overdue_by_loan()[li]
        due = np.round(
            out * L["rate"][li] / 1200
            + od * L["rate"][li] * (domain.OVERDUE_INTEREST_MULTIPLIER - 1) / 1200
        )
        due = np.where(deferred[L["hh"][li]], 0, due).astype(np.int64)
        pays = paying[L["hh"][li]]
        L["bad"][li[~pays & (due > 0)]] = True
        part = np.floor(share[L["hh"][li]] * due).astype(np.int64)
        paid = np.where(pays, due + L["arrears"][li], part)
        L["arrears"][li] = np.where(pays, 0, L["arrears"][li] + due - part)
        self.interest_rows.add(loan=li, t=t, due=due, paid=paid, arrears=L["arrears"][li])
        gi = g[L["hh"][li]]
        return (
            np.bincount(gi, weights=due, minlength=n_groups),
            np.bincount(gi, weights=np.minimum(paid, due), minlength=n_groups),
        )

    def due_installments(self, t: int) -> np.ndarray:
        """Pending installments falling due in month ``t``."""
        return np.flatnonzero((self.inst["cur"] == t) & (self.inst["status"] == PENDING))

    def inst_household(self, i: int) -> int:
        """Household owing installment ``i``."""
        return int(self.loans.cols["hh"][self.inst.cols["loan"][i]])

    def inst_pending(self, i: int) -> bool:
        """Whether installment ``i`` is still pending (a freeze earlier in the same month
        freezes the loan's other installments that fall due with it)."""
        return bool(self.inst.cols["status"][i] == PENDING)

    def inst_extensions(self, i: int) -> int:
        """How many times installment ``i`` was extended."""
        return int(self.inst.cols["ext"][i])

    def pay_installment(self, i: int, t: int) -> None:
        """Installment ``i`` paid at month ``t``'s session."""
        self._pay(np.array([i]), t)

    def close_paid_loans(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Close active loans with nothing left to pay; return them and which were clean
        (never in arrears, extended or overdue)."""
        L = self.loans.cols
        li = self._open_loans()
        done = li[(L["n_open"][li] == 0) & (L["arrears"][li] == 0)]
        L["status"][done] = CLOSED
        L["closed"][done] = t
        return done, ~L["bad"][done]

    # ---------------------------------------------------------------- other events
    def truth(self, hh: np.ndarray, t: int, p: np.ndarray, in_ep: np.ndarray) -> None:
        """True onset probability of every household with a loan this month (the state
        oracle's column ``p12`` is filled at the end)."""
        self.truth_rows.add(hh=hh, t=t, p=p[hh], in_ep=in_ep[hh], p12=np.nan)

    def savings(
        self, hh: np.ndarray, t: int, kind: str, amount: np.ndarray, balance: np.ndarray
    ) -> None:
        """Savings transactions of households ``hh`` at month ``t``'s session."""
        if hh.size:
            self.saving_rows.add(
                hh=hh,
                t=t,
                kind=domain.SAVINGS_TXN_TYPES.index(kind),
                amount=amount,
                balance=balance,
            )

    def inspection(
        self, h: int, loan: int, t: int, sel: str, use: str, present: bool, migrated: bool, ok: bool
    ) -> None:
        """An inspection visit and its findings."""
        self.inspection_rows.append((h, loan, t, sel, use, present, migrated, ok))

    def ratings(
        self, t: int, rating: np.ndarray, collection: np.ndarray, ratio: np.ndarray
    ) -> None:
        """Half-yearly group ratings."""
        self.rating_rows.append((t, len(rating), rating, collection, ratio))

    def poverty(self, h: int, t: int, status: int) -> None:
        """A poverty status taking effect on the first day of month ``t``."""
        self.poverty_rows.append((h, t, status))

    def leader_start(
        self, gi: int, founded: pd.Timestamp | None, h: int, t: int | None = None
    ) -> None:
        """A leader's term starts (at founding, or on the first day of month ``t``)."""
        start = founded if founded is not None else pd.Timestamp(self.date(t, 1))
        self.leader_rows.append([gi, start, None, h])

    def leader_end(self, gi: int, t: int) -> None:
        """The current leader of group ``gi`` steps down the day before month ``t``."""
        for row in reversed(self.leader_rows):
            if row[0] == gi and row[2] is None:
                row[2] = pd.Timestamp(self.date(t, 1)) - pd.Timedelta(days=1)
                return
