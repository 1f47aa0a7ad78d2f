"""This process's hold on one account's lease (the bot side of DESIGN §4).

The local deadline is a monotonic clock reading: the start of the last
*committed* renewal + the seconds the database said were left - the safety
margin. A renewal is prepared inside the caller's transaction and takes effect
only after that transaction committed (`commit()`), so a renewal that rolls
back (heartbeat write failed, connection lost at COMMIT) never extends it.
Losing the lease takes effect at once. While the lease is held the database
object carries the matching fence, so every ledger write is checked by the
database too (store/fencing.py).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from . import leader_lease
from .db import Database
from .fencing import Fence
from .leader_lease import Lease

log = logging.getLogger("quantshift.lease")


@dataclass(frozen=True)
class Renewal:
    """A renewal prepared in an open transaction, not yet in effect."""
    started: float       # monotonic time before the renewing statement
    lease: Lease | None  # None: not held by this host

    @property
    def role(self) -> str:
        return "PRIMARY" if self.lease is not None and self.lease.remaining_seconds > 0 else "STANDBY"


class LeaseHolder:
    def __init__(self, db: Database, account: str, host_id: str, ttl_seconds: float, margin_seconds: float, *,
                 auto_init: bool = False, config_hint: str = "FILE", clock: Callable[[], float] = time.monotonic):
        self.db = db
        self.account = account
        self.host_id = host_id
        self.ttl = ttl_seconds
        self.margin = margin_seconds
        self.auto_init = auto_init
        self.config_hint = config_hint
        self.clock = clock
        self.epoch: int | None = None
        self.deadline = float("-inf")
        self.acquired = False  # a new epoch was taken up: reconcile before trading
        self._standby_logged = False

    # -- local view --
    def valid(self) -> bool:
        return self.epoch is not None and self.clock() < self.deadline

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - self.clock()) if self.epoch is not None else 0.0

    def allows_send(self, budget_seconds: float) -> bool:
        """The send budget: enough lease left for a request that may take
        budget_seconds (the broker timeout) to end before the lease can expire.
        The deadline already keeps the safety margin back."""
        return self.valid() and self.deadline - self.clock() >= budget_seconds

    # -- renewal --
    def renew(self, cur) -> Renewal:
        """Prepare a renewal (or take up a lease that names this host) in the
        caller's transaction. A lost lease is given up at once."""
        started = self.clock()
        lease = None
        if self.epoch is not None:
            lease = leader_lease.renew(cur, self.account, self.host_id, self.epoch, self.ttl)
            if lease is None:
                now = leader_lease.current(cur, self.account)
                self.stand_down("lease lost: now " + (f"held by {now.holder} epoch {now.epoch}" if now else "no row"))
        if self.epoch is None:
            lease = self._adopt(cur)
        return Renewal(started, lease)

    def commit(self, renewal: Renewal) -> None:
        """The renewal's transaction committed: it takes effect now."""
        lease = renewal.lease
        if lease is None:
            return
        if lease.epoch != self.epoch:
            self.acquired = True
            self._standby_logged = False
            log.info("primary: holding the lease for %s at epoch %d", self.account, lease.epoch)
        self.epoch = lease.epoch
        self.deadline = renewal.started + lease.remaining_seconds - self.margin
        self.db.fence = Fence(self.account, self.host_id, lease.epoch, self.margin)

    def stand_down(self, why: str) -> None:
        if self.epoch is not None:
            log.warning("%s for account %s (epoch %d); standing down (not trading)", why, self.account, self.epoch)
        self.release()

    def release(self) -> None:
        """Hold nothing from now on (a clean shutdown, or standing down)."""
        self.epoch, self.deadline, self.acquired = None, float("-inf"), False
        self.db.fence = None

    def _adopt(self, cur) -> Lease | None:
        """Take up the lease only when the row names this host (first start, or a
        planned handover to us). Never a lease held by another host: taking
        those is the failover monitor's job."""
        cur_lease = leader_lease.current(cur, self.account)
        if cur_lease is None and self.auto_init:
            _created, cur_lease = leader_lease.init(cur, self.account, self.host_id, self.ttl)
            log.info("lease_auto_init: created leader row for %s held by %s", self.account, self.host_id)
        if cur_lease is None:
            self._standby_once("no leader row for account %s: standby; seed it with "
                               "'quantshift-lease --config %s init --holder %s'", self.account, self.config_hint,
                               self.host_id)
            return None
        if cur_lease.holder != self.host_id:
            self._standby_once("standby: account %s is held by %s (epoch %d)", self.account, cur_lease.holder,
                               cur_lease.epoch)
            return None
        return leader_lease.renew(cur, self.account, self.host_id, cur_lease.epoch, self.ttl)

    def _standby_once(self, msg: str, *args) -> None:
        if not self._standby_logged:
            log.info(msg, *args)
            self._standby_logged = True
