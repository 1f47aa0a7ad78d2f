"""Risk: position limits, sizing and the daily loss kill switch."""
from __future__ import annotations

import numpy as np

from quantshift.config import RiskConfig
from quantshift.risk import RiskManager, floor_qty
from quantshift.store.positions import Position

SYMS = ["A", "B", "C", "D"]


def _plan(cfg, votes, prices=(10.0, 20.0, 30.0, 40.0), held=None, cash=1e6, kill=False, decimals=0):
    return RiskManager(cfg, decimals).plan(SYMS, np.array(votes), ["s"] * 4, np.array(prices), held or {}, cash,
                                           kill_switch=kill)


def test_entries_stop_at_max_open_positions_counting_held_ones():
    cfg = RiskConfig(max_open_positions=3)
    held = {"A": Position("A", 1, 10.0)}
    intents = _plan(cfg, [1, 1, 1, 1], held=held)
    assert [(i.symbol, i.side) for i in intents] == [("B", "buy"), ("C", "buy")]


def test_position_size_is_capped_by_max_position_and_cash():
    cfg = RiskConfig(position_size_usd=5000, max_position_usd=2000)
    (i,) = _plan(cfg, [1, 0, 0, 0])
    assert i.qty == 200  # 2000 / 10
    (j,) = _plan(RiskConfig(position_size_usd=5000, max_position_usd=9000), [0, 1, 0, 0], cash=1010)
    assert j.qty * 20 <= 1010 / 1.01 and j.qty == 50
    assert _plan(cfg, [1, 0, 0, 0], decimals=3, prices=(3.0, 1, 1, 1))[0].qty == 666.666


def test_exits_sell_the_whole_position_and_ignore_flat_symbols():
    held = {"B": Position("B", 7, 20.0)}
    intents = _plan(RiskConfig(), [-1, -1, 0, 0], held=held)
    assert [(i.symbol, i.side, i.qty) for i in intents] == [("B", "sell", 7)]


def test_kill_switch_blocks_entries_but_allows_exits():
    held = {"B": Position("B", 7, 20.0)}
    intents = _plan(RiskConfig(), [1, -1, 1, 1], held=held, kill=True)
    assert [(i.symbol, i.side) for i in intents] == [("B", "sell")]


def test_kill_switch_trips_at_the_tighter_of_pct_and_usd_limits():
    pct = RiskManager(RiskConfig(daily_loss_limit_pct=3.0))
    assert not pct.kill_switch_tripped(100_000, 97_001) and pct.kill_switch_tripped(100_000, 97_000)
    usd = RiskManager(RiskConfig(daily_loss_limit_pct=3.0, daily_loss_limit_usd=500))
    assert usd.kill_switch_tripped(100_000, 99_500) and not usd.kill_switch_tripped(100_000, 99_600)


def test_tiny_orders_below_min_order_usd_are_skipped():
    assert _plan(RiskConfig(position_size_usd=5, min_order_usd=10), [1, 0, 0, 0]) == []
    assert floor_qty(2.9999999, 0) == 2 and floor_qty(1.23456789, 4) == 1.2345
