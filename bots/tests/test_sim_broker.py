"""Sim broker: next-price fills with slippage and fees, persisted in PostgreSQL."""
from __future__ import annotations

import numpy as np
import pytest

from quantshift.brokers import OrderRequest, SimBroker
from quantshift.store import fills, orders

from .helpers import hold


@pytest.fixture
def db(db):
    """The sim broker writes the ledger: as the lease holder of equity."""
    hold(db)
    return db


def _pending(db, coid, symbol, side, qty):
    with db.transaction() as cur:
        orders.create_pending(cur, client_order_id=coid, account="equity", host_id="ct100", epoch=1, symbol=symbol,
                              side=side, qty=qty)


def _broker(db, price=100.0, **kw):
    prices = {"AAA": price, "BBB": 50.0}
    b = SimBroker(db, "equity", lambda syms: np.array([prices[s] for s in syms]), initial_cash=10_000, **kw)
    b.reconcile()
    return b, prices


def test_buy_fills_at_next_price_plus_slippage_and_pays_fees(db):
    b, _ = _broker(db, fee_bps=10, slippage_bps=50)
    _pending(db, "c1", "AAA", "buy", 10)
    r = b.submit(OrderRequest("c1", "AAA", "buy", 10))
    assert r.status == "FILLED" and r.avg_price == pytest.approx(100.5)
    assert r.fee == pytest.approx(10 * 100.5 * 0.001)
    acct = b.account()
    assert acct.cash == pytest.approx(10_000 - 1005 - 1.005)
    assert acct.positions["AAA"].qty == 10 and acct.positions["AAA"].avg_price == pytest.approx(100.5)
    with db.transaction() as cur:
        assert orders.get(cur, "c1").status == "FILLED"
        assert [f.qty for f in fills.for_order(cur, "c1")] == [10]


def test_sell_fills_below_the_price_and_credits_cash(db):
    b, prices = _broker(db, slippage_bps=100)
    _pending(db, "c1", "AAA", "buy", 10)
    b.submit(OrderRequest("c1", "AAA", "buy", 10))
    prices["AAA"] = 120.0
    _pending(db, "c2", "AAA", "sell", 10)
    r = b.submit(OrderRequest("c2", "AAA", "sell", 10))
    assert r.status == "FILLED" and r.avg_price == pytest.approx(118.8)
    acct = b.account()
    assert acct.positions == {} and acct.cash == pytest.approx(10_000 - 1010 + 1188)


def test_state_survives_a_restart_of_the_broker(db):
    b, _ = _broker(db)
    _pending(db, "c1", "BBB", "buy", 20)
    b.submit(OrderRequest("c1", "BBB", "buy", 20))
    again, _ = _broker(db)  # a new process: reconcile must not reset cash
    acct = again.account()
    assert acct.cash == pytest.approx(9_000) and acct.positions["BBB"].qty == 20


def test_orders_beyond_cash_or_position_are_rejected_and_recorded(db):
    b, _ = _broker(db)
    _pending(db, "big", "AAA", "buy", 1000)
    r = b.submit(OrderRequest("big", "AAA", "buy", 1000))
    assert r.status == "REJECTED" and "insufficient cash" in r.error
    _pending(db, "short", "AAA", "sell", 1)
    assert b.submit(OrderRequest("short", "AAA", "sell", 1)).status == "REJECTED"
    assert b.account().cash == 10_000
    with db.transaction() as cur:
        assert orders.get(cur, "big").status == "REJECTED"


def test_reconcile_cancels_orders_that_never_reached_the_sim_venue(db):
    b, _ = _broker(db)
    _pending(db, "crashed", "AAA", "buy", 1)  # stored, then the process died before submit
    _broker(db)
    with db.transaction() as cur:
        o = orders.get(cur, "crashed")
    assert o.status == "CANCELED" and "not sent" in o.error
    assert b.lookup("crashed").status == "CANCELED" and b.lookup("nope") is None
