"""The fence: who may write an account's ledger, checked by the database.

A `Fence` names (account, holder, epoch, margin). `Database.transaction(fence=…)`
publishes it to the transaction (set_config(..., true): it ends with the
transaction), and the `ledger_fence` trigger of migration 0002 checks every
ledger row written against the account's leader row, in that transaction:
holder and epoch must match and the lease must run for more than `margin`
seconds by the database's current clock. A write with no fence, or a stale
one, is refused with SQLSTATE QSF01, raised here as `Fenced`.

The check lives in the database, not in each caller, so no code path (a
broker adapter, a reconciliation, a forgotten call) can write for an account
without it, and a process frozen between its own lease check and its write
finds the write refused when it thaws.
"""
from __future__ import annotations

from dataclasses import dataclass

SQLSTATE = "QSF01"


class Fenced(Exception):
    """A ledger write was refused: this process does not hold the account's
    lease (another holder or epoch, or too little lease left)."""


@dataclass(frozen=True)
class Fence:
    account: str
    holder: str
    epoch: int
    margin_seconds: float

    def apply(self, cur) -> None:
        cur.execute("""SELECT set_config('quantshift.fence_account', %s, true),
                              set_config('quantshift.fence_holder', %s, true),
                              set_config('quantshift.fence_epoch', %s, true),
                              set_config('quantshift.fence_margin', %s, true)""",
                    (self.account, self.holder, str(int(self.epoch)), repr(float(self.margin_seconds))))

