"""BreakoutMomentum: buy when the close breaks above the Donchian channel of the
PREVIOUS `lookback` bars, exit when it breaks below it."""
from __future__ import annotations

import numpy as np

from .. import indicators
from ..marketdata.base import BarRow, Bars
from .base import LiveState, Strategy, combine


class BreakoutMomentum(Strategy):
    name = "breakout_momentum"

    def __init__(self, lookback: int = 20):
        self.lookback = int(lookback)

    @property
    def warmup(self) -> int:
        return self.lookback

    def signals(self, bars: Bars) -> np.ndarray:
        upper, lower = indicators.donchian_previous(bars.high, bars.low, self.lookback)
        c = bars.close
        return combine(c > upper, c < lower)

    def live(self, bars: Bars) -> "_Live":
        self._need(bars)
        n = self.lookback
        return _Live(bars.high[-n:], bars.low[-n:])


class _Live(LiveState):
    def __init__(self, highs: np.ndarray, lows: np.ndarray):
        self.highs = np.array(highs, dtype=np.float64)
        self.lows = np.array(lows, dtype=np.float64)
        self.pos = 0

    def update(self, row: BarRow) -> np.ndarray:
        # The channel is taken BEFORE this bar joins it: no look-ahead.
        upper = self.highs.max(axis=0)
        lower = self.lows.min(axis=0)
        self.highs[self.pos] = row.high
        self.lows[self.pos] = row.low
        self.pos = (self.pos + 1) % self.highs.shape[0]
        c = row.close
        return combine(c > upper, c < lower)
