"""What every network broker shares: the order-safety state machine.

An adapter (alpaca, ccxt) supplies five venue calls and a translation of its
library's exceptions into the four outcomes that matter for an order:

* VenueRejected   - the venue refused the request: nothing was placed;
* VenueDuplicate  - the client order id is already at the venue: look it up;
* VenueRetryLater - refused before processing (HTTP 429, clock skew): nothing
                    was placed; may be sent again after a pause - but only
                    after a lookup by client order id proved it absent;
* VenueUnavailable - timeout, connection error, 5xx, unreadable answer: for a
                    write the outcome is UNKNOWN. The order is then resolved by
                    looking its client order id up, never by sending it again
                    (nautilus_trader: "a timeout is an unknown order state").

The order row exists (PENDING, written by the bot) before submit() is called
(hummingbot: track before you send); every answer is written to it, fills as
deltas of the venue's cumulative filled quantity, so polling the same order
twice can never book a fill twice. Positions and cash are mirrored from the
venue, which is the source of truth for a real account.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from .. import logs
from ..store import Database, cash, db_now, fenced_orders, fills, leader_lease, orders, positions
from ..store.positions import QTY_EPSILON, Position
from ..venues.errors import VenueDuplicate, VenueError, VenueNotFound, VenueRejected, VenueRetryLater
from ..venues.reports import VenueAccount, VenueOrder
from ..venues.retry import RetryPolicy, read_with_backoff
from ..venues.telemetry import Telemetry
from .base import (AccountState, BrokerError, FencedOrder, OrderRequest, OrderResult, make_client_order_id,
                   parse_client_order_id)

log = logging.getLogger(__name__)

TERMINAL = ("FILLED", "CANCELED", "REJECTED")
WORKING = ("ACCEPTED", "PARTIALLY_FILLED")  # at the venue and still open


class RemoteBroker:
    """Base class of the network brokers. Subclasses implement the `_venue_*`
    calls and `_translate`; everything that decides what happens to an order is here."""

    name = "remote"
    coid_max_len = 64
    self_timed = True  # every HTTP call is observed in api_latency_seconds here, not around submit()
    unknown_grace_seconds = 60.0  # a PENDING/UNKNOWN order not found after this long never reached the venue
    order_max_age_seconds = 300.0  # a working order older than this is canceled by sync() (config: broker.*)

    def __init__(self, db: Database, account: str, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.db = db
        self.account_name = account
        self.retry = retry or RetryPolicy()
        self.telemetry = Telemetry("broker", **({"sleep": sleep} if sleep else {}))

    # ---------------------------------------------------- adapter hooks --
    def _venue_submit(self, req: OrderRequest) -> VenueOrder:
        raise NotImplementedError

    def _venue_find(self, client_order_id: str, symbol: str | None) -> VenueOrder | None:
        """The order with this client order id, or None if the venue has none."""
        raise NotImplementedError

    def _venue_cancel(self, broker_order_id: str, symbol: str) -> None:
        """Ask the venue to cancel this order. Its answer is not read: the order
        is looked up afterwards, which also sees a fill that raced the cancel."""
        raise NotImplementedError

    def _venue_open_orders(self) -> list[VenueOrder]:
        raise NotImplementedError

    def _venue_account(self) -> VenueAccount:
        raise NotImplementedError

    def _venue_recent_orders(self, since: dt.datetime) -> list[VenueOrder]:
        """The account's orders (any status, every symbol) placed at or after
        `since` (tz-aware UTC), with executed_at filled in. More (older) orders
        are harmless; missing ones are not."""
        raise NotImplementedError

    def _translate(self, exc: Exception) -> VenueError:
        raise NotImplementedError

    def _before_send(self, req: OrderRequest) -> str | None:
        """Reads the adapter needs before it can send (e.g. markets); a returned
        message rejects the order locally - nothing was sent."""
        return None

    # ------------------------------------------------------------ wiring --
    def instrument(self, metrics=None, keepalive: Callable[[], None] | None = None) -> None:
        self.telemetry.attach(metrics, keepalive)

    def new_client_order_id(self, name: str, epoch: int) -> str:
        return make_client_order_id(name, epoch, max_len=self.coid_max_len)

    def _call(self, fn, *args):
        """One venue request, timed; library exceptions become VenueErrors."""
        with self.telemetry.timed():
            try:
                return fn(*args)
            except VenueError:
                raise
            except Exception as e:  # the adapter's library: classify, keep the cause
                raise self._translate(e) from e

    def _read(self, what: str, fn, *args):
        """A read (idempotent): backs off with jitter on rate limits and
        transient errors, counting each; BrokerUnavailable when the attempts are
        used up, BrokerError when the venue refused it, VenueNotFound passes."""
        return read_with_backoff(f"{self.name} {what}", lambda: self._call(fn, *args), self.retry, self.telemetry)

    def _find(self, client_order_id: str, symbol: str | None) -> VenueOrder | None:
        try:
            return self._read(f"lookup {client_order_id}", self._venue_find, client_order_id, symbol)
        except VenueNotFound:
            return None

    # ------------------------------------------------------------- store --
    def _mark(self, coid: str, status: str, error: str | None = None) -> OrderResult:
        with self.db.transaction() as cur:
            orders.set_status(cur, coid, status, error=error[:500] if error else None)
        return OrderResult(coid, status, error=error)

    def _record(self, vo: VenueOrder, coid: str | None = None) -> OrderResult:
        """Write the venue's view of one of our orders: status, cumulative fill,
        and a fills row for any newly filled quantity (so re-reading an order
        never books a fill twice)."""
        coid = coid or vo.client_order_id
        with self.db.transaction() as cur:
            orders.lock(cur, coid)
            o = orders.get(cur, coid)
            if o is None:  # not ours: reported, never adopted
                return OrderResult(coid, vo.status, vo.filled_qty, vo.avg_price, vo.fee, vo.broker_order_id,
                                   vo.reason)
            if o.status in TERMINAL and vo.status not in TERMINAL:
                if o.broker_order_id is not None:
                    # The venue itself closed it before: a stale read, statuses do not go back.
                    log.warning("%s: venue reports %s for %s which it had reported %s; keeping %s", self.name,
                                vo.status, coid, o.status, o.status)
                    return self._result(cur, o)
                # Closed here without word from the venue (grace period, refused
                # send): the venue has it after all, and it is right.
                log.warning("%s: %s was %s in the store but is %s at the venue: the venue wins", self.name, coid,
                            o.status, vo.status)
            if o.status in TERMINAL and vo.status != o.status:
                log.warning("%s: %s was %s in the store, the venue says %s: the venue wins", self.name, coid,
                            o.status, vo.status)
            delta = vo.filled_qty - o.filled_qty
            if delta > QTY_EPSILON:
                before = (o.avg_fill_price or 0.0) * o.filled_qty
                now = (vo.avg_price or 0.0) * vo.filled_qty
                price = (now - before) / delta if now > before else (vo.avg_price or 0.0)
                if not price > 0:
                    # Filled quantity without a price yet: book nothing now, so the next
                    # read (which has the price) still sees the whole delta.
                    log.warning("%s: fill of %g %s for %s has no price yet; booked on the next read", self.name,
                                delta, o.symbol, coid)
                    return self._result(cur, o)
                fee_before = sum(f.fee for f in fills.for_order(cur, coid))
                fills.insert(cur, client_order_id=coid, account=self.account_name, symbol=o.symbol,
                             side=o.side, qty=delta, price=price, fee=max(0.0, vo.fee - fee_before))
            filled = max(vo.filled_qty, o.filled_qty)
            orders.set_status(cur, coid, vo.status, broker_order_id=vo.broker_order_id, filled_qty=filled,
                              avg_fill_price=vo.avg_price if vo.filled_qty > 0 else None,
                              error=vo.reason[:500] if vo.reason else None)
            return self._result(cur, orders.get(cur, coid))

    @staticmethod
    def _result(cur, o) -> OrderResult:
        fee = sum(f.fee for f in fills.for_order(cur, o.client_order_id))
        return OrderResult(o.client_order_id, o.status, o.filled_qty, o.avg_fill_price, fee, o.broker_order_id,
                           o.error)

    # ------------------------------------------------------------ orders --
    def _precheck(self, req: OrderRequest) -> str | None:
        if req.side not in ("buy", "sell"):
            return f"invalid side {req.side!r}"
        if not req.qty > 0:
            return f"invalid quantity {req.qty}"
        if req.order_type not in ("market", "limit"):
            return f"order type {req.order_type!r} not supported (market, limit)"
        if req.order_type == "limit" and not (req.limit_price and req.limit_price > 0):
            return "limit order without a limit price"
        if len(req.client_order_id) > self.coid_max_len:
            return f"client order id longer than {self.coid_max_len} characters ({self.name})"
        return None

    def submit(self, req: OrderRequest, *, may_send: Callable[[], bool] | None = None) -> OrderResult:
        """Send once. The order row is PENDING already. Never raises for venue
        errors: the result is FILLED / ACCEPTED / PARTIALLY_FILLED / REJECTED /
        CANCELED, or UNKNOWN (left for sync() to resolve by client order id).

        may_send is the lease holder's send budget (enough lease left for one
        request to end before the lease can): checked before the send, before any
        resend and before each lookup after a back-off, because a back-off can
        outlast the lease on a thread that renews nothing."""
        may_send = may_send or (lambda: True)
        problem = self._precheck(req)
        if problem is None:
            try:
                problem = self._before_send(req)
            except BrokerError as e:
                problem = f"not sent: {e}"
        if problem:
            return self._mark(req.client_order_id, "REJECTED", problem)
        attempt = 0
        while True:
            attempt += 1
            if not may_send():
                return self._mark(req.client_order_id, "CANCELED",
                                  "not sent: not enough lease left" + (" (after a refusal)" if attempt > 1 else ""))
            try:
                vo = self._call(self._venue_submit, req)
                break
            except VenueDuplicate as e:
                # Ids are unique per bot, epoch and random part: the order at the venue is this one.
                log.warning("%s: %s already at the venue (%s); looking it up", self.name, req.client_order_id, e)
                return self._settle_unknown(req, f"duplicate client order id: {e}", mark=False, may_send=may_send)
            except VenueRejected as e:
                log.warning("%s rejected %s %s %g (%s): %s", self.name, req.side, req.symbol, req.qty,
                            req.client_order_id, e)
                return self._mark(req.client_order_id, "REJECTED", str(e))
            except VenueRetryLater as e:
                self.telemetry.error()
                if attempt >= self.retry.attempts:
                    return self._mark(req.client_order_id, "REJECTED",
                                      f"refused {attempt} times, not placed: {e}")
                delay = self.retry.delay(attempt, e.retry_after)
                log.warning("%s: %s refused before processing (%s); backing off %.2fs", self.name,
                            req.client_order_id, e, delay)
                self.telemetry.pause(delay)
                if not may_send():  # the lease ran down while backing off: the next holder resolves it
                    return self._leave_unknown(req, f"refused ({e}); lease too short to look it up")
                # A 429 means "not processed", but the order goes out again only
                # after a successful lookup proved the venue does not have it.
                try:
                    found = self._find(req.client_order_id, req.symbol)
                except BrokerError as le:
                    return self._settle_unknown(req, f"refused ({e}); lookup failed: {le}", may_send=may_send)
                if found is not None:
                    return self._await_fill(req, self._record(found, req.client_order_id))
                continue
            except VenueError as e:
                self.telemetry.error()
                log.error("%s: outcome of %s %s %g (%s) unknown: %s; resolving by client order id, not resending",
                          self.name, req.side, req.symbol, req.qty, req.client_order_id, e)
                return self._settle_unknown(req, str(e), may_send=may_send)
        return self._await_fill(req, self._record(vo, req.client_order_id))

    def _leave_unknown(self, req: OrderRequest, why: str) -> OrderResult:
        log.warning("%s: %s left UNKNOWN for reconciliation: %s", self.name, req.client_order_id, why)
        return self._mark(req.client_order_id, "UNKNOWN", why)

    def _settle_unknown(self, req: OrderRequest, why: str, *, mark: bool = True,
                        may_send: Callable[[], bool] = lambda: True) -> OrderResult:
        """Outcome unknown: mark UNKNOWN and look the client order id up a few
        times with back-off. Found -> recorded; not found -> stays UNKNOWN for
        sync() (which cancels it in the store once it is clearly not at the venue)."""
        if mark:
            self._mark(req.client_order_id, "UNKNOWN", why)
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1 and not may_send():
                return self._leave_unknown(req, f"{why}; lease too short for another lookup")
            try:
                found = self._call(self._venue_find, req.client_order_id, req.symbol)
            except VenueNotFound:
                found = None
            except VenueError as e:
                self.telemetry.error()
                log.warning("%s: lookup of %s failed: %s", self.name, req.client_order_id, e)
                found = None
            if found is not None:
                res = self._record(found, req.client_order_id)
                log.info("%s: %s resolved by lookup: %s", self.name, req.client_order_id, res.status)
                return self._await_fill(req, res)
            if attempt < self.retry.attempts:
                self.telemetry.pause(self.retry.delay(attempt))
        if not mark:
            self._mark(req.client_order_id, "UNKNOWN", why)
        return OrderResult(req.client_order_id, "UNKNOWN", error=why)

    def _await_fill(self, req: OrderRequest, res: OrderResult) -> OrderResult:
        """A market order is normally filled within milliseconds of being accepted:
        poll it briefly so the cycle sees the fill. A limit order is left open."""
        if req.order_type != "market" or res.status not in WORKING:
            return res
        waited, pause = 0.0, 0.05
        while True:
            try:
                found = self._call(self._venue_find, req.client_order_id, req.symbol)
            except VenueError as e:
                log.warning("%s: polling %s: %s", self.name, req.client_order_id, e)
                found = None
            if found is not None:
                res = self._record(found, req.client_order_id)
                if res.status not in WORKING:
                    return res
            if waited >= self.retry.fill_wait_seconds:
                return res
            self.telemetry.pause(pause)
            waited += pause
            pause = min(pause * 2, 1.0)

    def lookup(self, client_order_id: str) -> OrderResult | None:
        with self.db.transaction() as cur:
            o = orders.get(cur, client_order_id)
        vo = self._find(client_order_id, o.symbol if o else None)
        if vo is None:
            return None
        return self._record(vo, client_order_id)

    def cancel(self, client_order_id: str, *, may_send: Callable[[], bool] | None = None) -> OrderResult | None:
        """Cancel one of our working orders at the venue, then resolve it by
        lookup: CANCELED with what it filled, or FILLED when a fill raced the
        cancel (booked as the delta of the venue's cumulative fill, so never
        twice). A cancel is a write: not sent unless may_send() allows it. An
        order already final is answered as it is; None when neither the store
        nor the venue has it (PENDING/UNKNOWN orders keep their grace period)."""
        with self.db.transaction() as cur:
            o = orders.get(cur, client_order_id)
            if o is not None and o.status in TERMINAL:
                return self._result(cur, o)
        vo = self._find(client_order_id, o.symbol if o else None)
        if vo is None:
            return None
        res = self._record(vo, client_order_id)
        if res.status not in WORKING or o is None:
            return res
        return self._cancel_working(res, o.symbol, may_send or (lambda: True))

    def _cancel_working(self, res: OrderResult, symbol: str, may_send: Callable[[], bool]) -> OrderResult:
        if not may_send():
            log.warning("%s: cancel of %s not sent: not enough lease left (asked again next cycle)", self.name,
                        res.client_order_id)
            return res
        try:
            self._call(self._venue_cancel, res.broker_order_id, symbol)
        except VenueRejected as e:
            # Not found / not cancelable: final at the venue already (filled meanwhile).
            log.info("%s: cancel of %s refused (%s); resolved by lookup", self.name, res.client_order_id, e)
        except VenueError as e:
            # Outcome unknown: the lookup tells; a still-working order is canceled again next cycle.
            self.telemetry.error()
            log.warning("%s: cancel of %s: %s; resolved by lookup", self.name, res.client_order_id, e)
        vo = self._find(res.client_order_id, symbol)
        return self._record(vo, res.client_order_id) if vo is not None else res

    def sync(self, *, may_send: Callable[[], bool] | None = None) -> list[OrderResult]:
        """Bring every order still open in the store up to date by client order
        id. A working order older than order_max_age_seconds is canceled at the
        venue (if may_send() allows a write) and resolved: without that, one
        queued outside the session would block its symbol for ever (the bot
        sends no second order for a symbol with an open one). PENDING/UNKNOWN
        orders the venue does not have after the grace period never reached it:
        CANCELED in the store, never sent again."""
        may_send = may_send or (lambda: True)
        with self.db.transaction() as cur:
            open_ = orders.open_orders(cur, self.account_name)
            now = db_now(cur)
        changed = []
        for o in open_:
            with logs.order(o.client_order_id, o.symbol):  # every line about it carries its fields
                res = self._sync_one(o, (now - o.created_at).total_seconds(), may_send)
            if res is not None:
                changed.append(res)
        return changed

    def _sync_one(self, o, age: float, may_send: Callable[[], bool]) -> OrderResult | None:
        """One open order of the store brought up to date; the result when it changed."""
        vo = self._find(o.client_order_id, o.symbol)
        if vo is not None:
            res = self._record(vo, o.client_order_id)
            if res.status in WORKING and res.broker_order_id and age > self.order_max_age_seconds:
                log.warning("%s: %s still %s after %.0fs (max %gs): canceling it", self.name, o.client_order_id,
                            res.status, age, self.order_max_age_seconds)
                res = self._cancel_working(res, o.symbol, may_send)
            if res.status != o.status or res.filled_qty != o.filled_qty:
                log.info("%s: %s %s -> %s (filled %g)", self.name, o.client_order_id, o.status, res.status,
                         res.filled_qty)
                return res
            return None
        if o.status in ("PENDING", "UNKNOWN") and age > self.unknown_grace_seconds:
            why = f"not at the venue {age:.0f}s after creation: never placed (not resent)"
            log.warning("%s: %s %s", self.name, o.client_order_id, why)
            return self._mark(o.client_order_id, "CANCELED", why)
        if o.status not in ("PENDING", "UNKNOWN"):
            log.error("%s: %s is %s in the store but unknown to the venue", self.name, o.client_order_id, o.status)
        return None

    # ----------------------------------------------------------- account --
    def _mirror(self, va: VenueAccount) -> tuple[AccountState, list[str]]:
        """Make the store's positions and cash equal to the venue's (the venue
        is the truth for a real account); returns the differences found."""
        diffs = []
        with self.db.transaction() as cur:
            positions.lock_account(cur, self.account_name)
            stored = positions.for_account(cur, self.account_name)
            pos = {}
            for sym, (qty, avg) in va.positions.items():
                if abs(qty) <= QTY_EPSILON:
                    continue
                if avg is None:
                    old = stored.get(sym)
                    avg = old.avg_price if old is not None else fills.last_buy_price(cur, self.account_name, sym)
                pos[sym] = Position(sym, float(qty), float(avg or 0.0))
            for sym in sorted(set(stored) | set(pos)):
                a = stored[sym].qty if sym in stored else 0.0
                b = pos[sym].qty if sym in pos else 0.0
                if abs(a - b) > QTY_EPSILON:
                    diffs.append(f"position {sym}: store {a:g}, venue {b:g} (venue wins)")
            positions.replace_all(cur, self.account_name, pos)
            have = cash.ensure(cur, self.account_name, va.cash)
            if abs(have - va.cash) > 1e-9:
                cash.add(cur, self.account_name, va.cash - have)
        return AccountState(va.cash, pos), diffs

    def account(self) -> AccountState:
        state, _diffs = self._mirror(self._read("account", self._venue_account))
        return state

    def reconcile(self, *, may_send: Callable[[], bool] | None = None) -> list[str]:
        """At start: open orders and positions against the venue. Orders the
        venue has that the bot never made are reported as external and not
        adopted. Raises BrokerError/BrokerUnavailable if the venue cannot be
        read: the bot does not trade (and sends no READY=1) until this succeeds."""
        notes = []
        venue_open = self._read("open orders", self._venue_open_orders)
        with self.db.transaction() as cur:
            ours = {vo.client_order_id for vo in venue_open
                    if vo.client_order_id and orders.get(cur, vo.client_order_id) is not None}
        for vo in venue_open:
            if vo.client_order_id in ours:
                self._record(vo)  # also re-opens one the store closed without word from the venue
                continue
            msg = (f"external order {vo.client_order_id or '-'} (venue id {vo.broker_order_id}): {vo.side} "
                   f"{vo.qty:g} {vo.symbol} {vo.status}; not made by this bot, not adopted")
            log.warning("%s: %s", self.name, msg,
                        **logs.fields(client_order_id=vo.client_order_id, symbol=vo.symbol))
            notes.append(msg)
        for res in self.sync(may_send=may_send):
            notes.append(f"resolved {res.client_order_id}: {res.status} (filled {res.filled_qty:g})")
        state, diffs = self._mirror(self._read("account", self._venue_account))
        notes.extend(diffs)
        notes.append(f"{self.name}: cash {state.cash:.2f}, {len(state.positions)} positions, "
                     f"{len(venue_open)} open orders at the venue")
        return notes

    # ---------------------------------------------------- fenced orders --
    # How far before the takeover the venue is asked about: an order the old
    # primary sent just before it was fenced can still execute after it.
    fenced_lookback = dt.timedelta(minutes=15)

    def _order_epoch(self, client_order_id: str | None) -> int | None:
        """The epoch of one of this account's client order ids, else None (another
        account's, an external order, an id of another shape)."""
        parsed = parse_client_order_id(client_order_id)
        if parsed is None:
            return None
        name, epoch = parsed
        if name == self.account_name:
            return epoch
        # Shortened-name form (or a name that itself starts with "qs-"): ours if
        # this account would have made exactly this id.
        rnd = client_order_id.rsplit("-", 1)[1]
        try:
            if make_client_order_id(self.account_name, epoch, max_len=self.coid_max_len,
                                    random_hex=rnd) == client_order_id:
                return epoch
        except ValueError:
            pass
        return None

    def detect_fenced(self, epoch: int) -> list[FencedOrder]:
        """Called each cycle by the lease holder at `epoch`. Orders at the venue
        that carry this account's client order id of an OLDER epoch and were
        executed (filled_qty > 0) at or after the current epoch began were sent
        by a fenced process (an old primary frozen between its lease check and
        its send): each is recorded once in fenced_orders, its ledger order row
        (if the old primary stored one) is brought up to the venue's fills, and
        it is returned. Positions are adopted by the next account() (the venue
        is the truth). Returns [] when `epoch` is not the account's current one.
        Raises BrokerError/BrokerUnavailable when the venue cannot be read and
        Fenced when this process no longer holds the lease."""
        with self.db.transaction() as cur:
            lease = leader_lease.current(cur, self.account_name)
            known = fenced_orders.known(cur, self.account_name) if lease is not None else set()
        if lease is None or lease.epoch != epoch:
            return []
        began = lease.epoch_since
        if began.tzinfo is None:
            began = began.replace(tzinfo=dt.timezone.utc)
        rows = self._read("recent orders", self._venue_recent_orders, began - self.fenced_lookback)
        found = []
        for vo in rows:
            coid = vo.client_order_id
            order_epoch = self._order_epoch(coid)
            if order_epoch is None or order_epoch >= epoch or coid in known:
                continue
            if not vo.filled_qty > QTY_EPSILON:
                continue  # never executed: nothing happened (sync/reconcile deal with open ones)
            at = vo.executed_at
            if at is not None and at.tzinfo is None:
                at = at.replace(tzinfo=dt.timezone.utc)
            if at is not None and at < began:
                continue  # executed while its epoch still held the lease: not fenced
            known.add(coid)
            self._record(vo)  # the old primary's row, if it stored one, gets the venue's fills
            detail = (f"{self.name} order {vo.broker_order_id or '-'} {vo.status}: {vo.side} {vo.filled_qty:g} of "
                      f"{vo.qty:g} {vo.symbol} executed {at.isoformat() if at else 'at an unknown time'}, after "
                      f"epoch {epoch} began {began.isoformat()} (holder {lease.holder})")
            with self.db.transaction() as cur:
                new = fenced_orders.record(cur, account=self.account_name, client_order_id=coid,
                                           order_epoch=order_epoch, holder_epoch=epoch, symbol=vo.symbol,
                                           side=vo.side, filled_qty=vo.filled_qty, avg_price=vo.avg_price,
                                           executed_at=at, detail=detail[:500])
            if not new:
                continue  # recorded meanwhile by another process of this holder
            log.error("%s: FENCED order %s (epoch %d, account %s): %s", self.name, coid, order_epoch,
                      self.account_name, detail,
                      **logs.fields(client_order_id=coid, symbol=vo.symbol, epoch=order_epoch))
            found.append(FencedOrder(coid, order_epoch, epoch, vo.symbol, vo.side, vo.filled_qty, vo.avg_price, at))
        return found
