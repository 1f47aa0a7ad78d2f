"""BollingerBounce: buy when the close falls below the lower band (stretched
down, expect a bounce), exit when it closes back above the middle band."""
from __future__ import annotations

import numpy as np

from .. import indicators
from ..marketdata.base import BarRow, Bars
from .base import LiveState, Strategy, combine


class BollingerBounce(Strategy):
    name = "bollinger_bounce"

    def __init__(self, period: int = 20, std_dev: float = 2.0):
        self.period, self.std_dev = int(period), float(std_dev)

    @property
    def warmup(self) -> int:
        return self.period - 1

    def signals(self, bars: Bars) -> np.ndarray:
        mid, sd = indicators.rolling_mean_std(bars.close, self.period)
        lower = mid - self.std_dev * sd  # = indicators.bollinger(...)[2]; the upper band is not needed
        c = bars.close
        return combine(c < lower, c > mid)

    def live(self, bars: Bars) -> "_Live":
        self._need(bars)
        return _Live(self, bars.close[-self.period:])


class _Live(LiveState):
    def __init__(self, s: BollingerBounce, closes: np.ndarray):
        self.s = s
        self.ring = np.array(closes, dtype=np.float64)  # (period, m), oldest first at self.pos
        self.pos = 0

    def update(self, row: BarRow) -> np.ndarray:
        self.ring[self.pos] = row.close
        self.pos = (self.pos + 1) % self.s.period
        mid = self.ring.mean(axis=0)
        sd = self.ring.std(axis=0)
        c = row.close
        return combine(c < mid - self.s.std_dev * sd, c > mid)
