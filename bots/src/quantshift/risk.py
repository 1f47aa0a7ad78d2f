"""Risk: position sizing and limits, and the daily loss kill switch.

Long-only book. Per symbol the strategies vote (+1 entry, -1 exit); a net
positive vote opens a position when flat, a net negative vote closes a held
position. Exits are always allowed; entries are limited by
max_open_positions, the position size caps and available cash, and stop
entirely while the daily loss kill switch is on.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import RiskConfig
from .store.positions import Position

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderIntent:
    symbol: str
    side: str
    qty: float
    strategy: str
    reason: str


def floor_qty(qty: float, decimals: int) -> float:
    f = 10 ** decimals
    return math.floor(qty * f + 1e-9) / f


class RiskManager:
    def __init__(self, cfg: RiskConfig, qty_decimals: int = 0):
        self.cfg = cfg
        self.qty_decimals = qty_decimals

    def loss_limit_usd(self, start_value: float) -> float:
        """The loss (positive USD) that trips the kill switch: the tighter of the two limits."""
        limit = start_value * self.cfg.daily_loss_limit_pct / 100.0
        if self.cfg.daily_loss_limit_usd is not None:
            limit = min(limit, self.cfg.daily_loss_limit_usd)
        return limit

    def kill_switch_tripped(self, start_value: float, value: float) -> bool:
        return (value - start_value) <= -self.loss_limit_usd(start_value)

    def plan(self, symbols: Sequence[str], votes: np.ndarray, voters: Sequence[str], prices: np.ndarray,
             held: dict[str, Position], cash: float, *, kill_switch: bool) -> list[OrderIntent]:
        """votes: (m,) net signal per symbol; voters: which strategies voted, per symbol."""
        intents: list[OrderIntent] = []
        for j, sym in enumerate(symbols):
            pos = held.get(sym)
            if votes[j] < 0 and pos is not None and pos.qty > 0:
                intents.append(OrderIntent(sym, "sell", pos.qty, voters[j], "exit signal"))
        if kill_switch:
            return intents
        open_count = len(held)
        available = cash
        cap = min(self.cfg.position_size_usd, self.cfg.max_position_usd)
        for j, sym in enumerate(symbols):
            if votes[j] <= 0 or sym in held:
                continue
            if open_count >= self.cfg.max_open_positions:
                break
            price = float(prices[j])
            if not math.isfinite(price) or price <= 0:
                continue
            # Keep 1% of the order as headroom for slippage and fees at the fill.
            notional = min(cap, available / 1.01)
            qty = floor_qty(notional / price, self.qty_decimals)
            if qty <= 0 or qty * price < self.cfg.min_order_usd:
                continue
            intents.append(OrderIntent(sym, "buy", qty, voters[j], "entry signal"))
            available -= qty * price * 1.01
            open_count += 1
        return intents
