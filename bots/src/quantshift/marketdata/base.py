"""Market data containers and the source interface."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class Bars:
    """OHLCV bars as 2-D arrays (bars x symbols); ts is the bar OPEN time (unix s)."""
    symbols: tuple[str, ...]
    ts: np.ndarray       # (T,) int64
    open: np.ndarray     # (T, m) float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    timeframe_seconds: int

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def last_close_time(self) -> float:
        """When the newest bar completed."""
        return float(self.ts[-1]) + self.timeframe_seconds

    def tail(self, n: int) -> "Bars":
        s = slice(max(0, len(self) - n), None)
        return Bars(self.symbols, self.ts[s], self.open[s], self.high[s], self.low[s], self.close[s],
                    self.volume[s], self.timeframe_seconds)

    def head(self, n: int) -> "Bars":
        s = slice(0, n)
        return Bars(self.symbols, self.ts[s], self.open[s], self.high[s], self.low[s], self.close[s],
                    self.volume[s], self.timeframe_seconds)

    def row(self, i: int) -> "BarRow":
        return BarRow(int(self.ts[i]), self.open[i], self.high[i], self.low[i], self.close[i], self.volume[i])

    def select(self, symbols: Sequence[str]) -> "Bars":
        idx = [self.symbols.index(s) for s in symbols]
        return Bars(tuple(symbols), self.ts, self.open[:, idx], self.high[:, idx], self.low[:, idx],
                    self.close[:, idx], self.volume[:, idx], self.timeframe_seconds)


@dataclass(frozen=True)
class BarRow:
    """One bar for every symbol (the incremental live path's input)."""
    ts: int
    open: np.ndarray   # (m,)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


class MarketDataSource(Protocol):
    """What the bot needs from a feed. Implementations: synthetic, csv, alpaca, ccxt."""

    name: str                 # identifies the data in the cache key (e.g. "synthetic-s42")
    timeframe_seconds: int

    def latest_bar_ts(self, now: float) -> int:
        """Open time of the newest COMPLETED bar available at `now`."""

    def fetch(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        """The n bars ending with the bar that opens at end_ts, for `symbols`."""

    def quote(self, symbols: Sequence[str], now: float) -> np.ndarray:
        """The next tradable price per symbol after the newest completed bar
        (what a market order sent now fills at, before slippage)."""
