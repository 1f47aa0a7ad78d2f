"""Sim broker: market orders fill at the next price (the first price after the
newest completed bar, from the market data source) adjusted by slippage, minus
fees. Cash, positions, fills and order status live in PostgreSQL and change in
ONE transaction, so a restarted bot continues exactly where it stopped."""
from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import numpy as np

from ..store import Database, cash, fills, orders, positions
from .base import AccountState, OrderRequest, OrderResult, make_client_order_id

log = logging.getLogger(__name__)


class SimBroker:
    name = "sim"

    def __init__(self, db: Database, account: str, quote: Callable[[Sequence[str]], np.ndarray], *,
                 initial_cash: float = 100_000.0, fee_bps: float = 0.0, slippage_bps: float = 0.0):
        self.db = db
        self.account_name = account
        self.quote = quote
        self.initial_cash = float(initial_cash)
        self.fee_rate = fee_bps / 1e4
        self.slip_rate = slippage_bps / 1e4

    def new_client_order_id(self, name: str, epoch: int) -> str:
        return make_client_order_id(name, epoch)

    def sync(self, *, may_send=None) -> list[OrderResult]:
        return []  # a sim order is settled inside submit(); nothing is ever left open

    def cancel(self, client_order_id: str, *, may_send=None) -> OrderResult | None:
        """A sim order is final when submit() returns: nothing to cancel, its status is the answer."""
        return self.lookup(client_order_id)

    def reconcile(self, *, may_send=None) -> list[str]:
        notes = []
        with self.db.transaction() as cur:
            bal = cash.ensure(cur, self.account_name, self.initial_cash)
            notes.append(f"cash {bal:.2f}")
            # A sim fill commits together with its FILLED status, so an order still
            # open here never reached the simulated venue (crash between the
            # PENDING insert and submit): it is cancelled, not re-sent.
            for o in orders.open_orders(cur, self.account_name):
                orders.set_status(cur, o.client_order_id, "CANCELED", error="not sent before restart (sim)")
                notes.append(f"cancelled unsent order {o.client_order_id}")
        return notes

    def account(self) -> AccountState:
        with self.db.transaction() as cur:
            return AccountState(cash.get(cur, self.account_name), positions.for_account(cur, self.account_name))

    def submit(self, req: OrderRequest, *, may_send=None) -> OrderResult:
        """Fill at once. The fill, position, cash and status change commit in one
        transaction that the ledger fence checks: a bot that lost its lease (even
        one frozen after its own last check) executes nothing."""
        if req.side not in ("buy", "sell") or not req.qty > 0:
            return self._reject(req, f"invalid order {req.side} {req.qty}")
        if req.order_type != "market":
            return self._reject(req, f"sim: {req.order_type} orders are not simulated (market only)")
        q = float(self.quote([req.symbol])[0])
        if not math.isfinite(q) or q <= 0:
            return self._reject(req, f"no price for {req.symbol}")
        price = q * (1 + self.slip_rate) if req.side == "buy" else q * (1 - self.slip_rate)
        notional = price * req.qty
        fee = notional * self.fee_rate
        with self.db.transaction() as cur:
            bal = cash.get(cur, self.account_name)
            held = positions.for_account(cur, self.account_name).get(req.symbol)
            if req.side == "buy" and notional + fee > bal + 1e-9:
                error = f"insufficient cash: need {notional + fee:.2f}, have {bal:.2f}"
            elif req.side == "sell" and (held is None or req.qty > held.qty + positions.QTY_EPSILON):
                error = f"sell {req.qty} exceeds position {held.qty if held else 0}"
            else:
                error = None
            if error is None:
                fills.insert(cur, client_order_id=req.client_order_id, account=self.account_name,
                             symbol=req.symbol, side=req.side, qty=req.qty, price=price, fee=fee)
                positions.apply_fill(cur, self.account_name, req.symbol, req.side, req.qty, price)
                cash.add(cur, self.account_name, -(notional + fee) if req.side == "buy" else notional - fee)
                orders.set_status(cur, req.client_order_id, "FILLED", broker_order_id=f"sim-{req.client_order_id}",
                                  filled_qty=req.qty, avg_fill_price=price)
                return OrderResult(req.client_order_id, "FILLED", req.qty, price, fee, f"sim-{req.client_order_id}")
        return self._reject(req, error)

    def _reject(self, req: OrderRequest, error: str) -> OrderResult:
        with self.db.transaction() as cur:
            orders.set_status(cur, req.client_order_id, "REJECTED", error=error)
        return OrderResult(req.client_order_id, "REJECTED", error=error)

    def lookup(self, client_order_id: str) -> OrderResult | None:
        with self.db.transaction() as cur:
            o = orders.get(cur, client_order_id)
            if o is None or o.status == "PENDING":  # stored but never handed to the simulated venue
                return None
            fee = sum(f.fee for f in fills.for_order(cur, client_order_id))
        return OrderResult(o.client_order_id, o.status, o.filled_qty, o.avg_fill_price, fee, o.broker_order_id,
                           o.error)
