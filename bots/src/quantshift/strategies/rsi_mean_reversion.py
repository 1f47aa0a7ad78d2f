"""RSIMeanReversion: buy when Wilder RSI is below `oversold`, exit above `overbought`."""
from __future__ import annotations

import numpy as np

from .. import indicators
from ..marketdata.base import BarRow, Bars
from .base import LiveState, Strategy, combine


class RSIMeanReversion(Strategy):
    name = "rsi_mean_reversion"

    def __init__(self, period: int = 14, oversold: float = 30.0, overbought: float = 70.0):
        self.period, self.oversold, self.overbought = int(period), float(oversold), float(overbought)

    @property
    def warmup(self) -> int:
        return self.period

    def signals(self, bars: Bars) -> np.ndarray:
        r = indicators.rsi(bars.close, self.period)
        return combine(r < self.oversold, r > self.overbought)

    def live(self, bars: Bars) -> "_Live":
        self._need(bars)
        ag, al = indicators.wilder_averages(bars.close, self.period)
        return _Live(self, ag[-1].copy(), al[-1].copy(), bars.close[-1].copy())


class _Live(LiveState):
    def __init__(self, s: RSIMeanReversion, ag: np.ndarray, al: np.ndarray, last_close: np.ndarray):
        self.s, self.ag, self.al, self.last = s, ag, al, last_close
        n = s.period
        self.alpha, self.beta = 1.0 / n, 1.0 - 1.0 / n

    def update(self, row: BarRow) -> np.ndarray:
        d = row.close - self.last
        self.last = np.array(row.close, dtype=np.float64)
        self.ag = self.beta * self.ag + self.alpha * np.maximum(d, 0.0)
        self.al = self.beta * self.al + self.alpha * np.maximum(-d, 0.0)
        r = indicators.rsi_from_averages(self.ag, self.al)
        return combine(r < self.s.oversold, r > self.s.overbought)
