"""Synthetic feed: seeded, deterministic random-walk bars with volume. The default
source, so the lab and the tests trade through the whole stack offline.

Bars are a pure function of (seed, symbol list, bar index), where the bar index
is wall-clock time / timeframe. Two hosts, or a restarted bot, therefore see
the same prices at the same time — a failover continues on the same market.

To be random-access without summing from the epoch, log(close) is a moving sum
of the last WINDOW unit shocks (bar k's shocks come from a Philox generator keyed
by (seed, k)): within any strategy look-back it moves like a random walk, while
the level stays bounded over months.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from .base import Bars

WINDOW = 1024
_FIXED = float(2**24)
_STREAMS = 4  # per bar and symbol: close shock, open gap, high/low wicks share one, volume


def _symbol_params(symbol: str) -> tuple[float, float, float]:
    """Deterministic per-symbol start price, per-bar volatility and volume scale."""
    h = hashlib.sha256(symbol.encode()).digest()
    u = [int.from_bytes(h[i:i + 4], "little") / 2**32 for i in (0, 4, 8)]
    price = 10.0 * (1000.0 ** u[0])           # 10 .. 10,000
    vol = 0.002 + 0.006 * u[1]                 # 0.2% .. 0.8% per bar
    volume = 1e4 * (100.0 ** u[2])             # 1e4 .. 1e6
    return price, vol, volume


class SyntheticSource:
    def __init__(self, symbols: Sequence[str], seed: int = 42, timeframe_seconds: int = 60):
        self.symbols = tuple(symbols)
        self.seed = int(seed)
        self.timeframe_seconds = int(timeframe_seconds)
        self.name = f"synthetic-s{self.seed}"
        params = np.array([_symbol_params(s) for s in self.symbols])
        self._p0, self._vol, self._volume = params[:, 0], params[:, 1], params[:, 2]
        self._shock_cache: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------ shocks --
    def _shocks(self, k: int) -> np.ndarray:
        z = self._shock_cache.get(k)
        if z is None:
            gen = np.random.Generator(np.random.Philox(key=(self.seed << 64) | (k & 0xFFFF_FFFF_FFFF_FFFF)))
            z = gen.standard_normal((_STREAMS, len(self.symbols)))
            if len(self._shock_cache) > 4 * WINDOW:
                self._shock_cache.clear()
            self._shock_cache[k] = z
        return z

    def _block(self, k0: int, k1: int) -> np.ndarray:
        """Shocks for bar indices k0..k1 inclusive: (k1-k0+1, STREAMS, m)."""
        return np.stack([self._shocks(k) for k in range(k0, k1 + 1)])

    # --------------------------------------------------------- interface --
    def latest_bar_ts(self, now: float) -> int:
        k_now = int(now // self.timeframe_seconds)  # the bar forming at `now`
        return (k_now - 1) * self.timeframe_seconds

    def _columns(self, symbols: Sequence[str]) -> list[int]:
        try:
            return [self.symbols.index(s) for s in symbols]
        except ValueError as e:
            raise KeyError(f"symbol not configured for the synthetic feed: {e}") from None

    def _log_close(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """log(close/p0) for bars k0-1..k1 (one extra bar for the open gap) and the shocks of k0..k1."""
        z = self._block(k0 - WINDOW, k1)           # (WINDOW + n, STREAMS, m)
        # Integer (fixed-point) sums are exact, so a bar's price is the same
        # bit-for-bit whichever window it was computed in: a cache hit, a fresh
        # fetch and the other host all agree.
        zi = np.rint(z[:, 0, :] * _FIXED).astype(np.int64)
        c = np.cumsum(zi, axis=0)
        walk = c[WINDOW - 1:] - np.vstack([np.zeros((1, c.shape[1]), dtype=np.int64), c[:-WINDOW]])
        # walk[j] = sum of shocks k0-1+j-WINDOW+1 .. k0-1+j, for bars k0-1 .. k1
        return walk / _FIXED, z[WINDOW:]

    def fetch(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        tf = self.timeframe_seconds
        k1 = int(end_ts // tf)
        k0 = k1 - n + 1
        walk, z = self._log_close(k0, k1)
        vol = self._vol
        # Adjacent window sums differ by (z_k - z_{k-W}): std sqrt(2), so /sqrt(2)
        # makes the per-bar log return std equal to the symbol's vol.
        close_all = self._p0 * np.exp(walk * (vol / np.sqrt(2.0)))
        prev_close, close = close_all[:-1], close_all[1:]
        open_ = prev_close * np.exp(0.25 * vol * z[:, 1, :])
        wick = np.abs(z[:, 2, :]) * 0.5 * vol
        high = np.maximum(open_, close) * np.exp(wick)
        low = np.minimum(open_, close) * np.exp(-wick * 0.8)
        volume = np.round(self._volume * np.exp(0.4 * z[:, 3, :]))
        ts = np.arange(k0, k1 + 1, dtype=np.int64) * tf
        cols = self._columns(symbols)
        return Bars(tuple(symbols), ts, open_[:, cols], high[:, cols], low[:, cols], close[:, cols],
                    volume[:, cols], tf)

    def quote(self, symbols: Sequence[str], now: float) -> np.ndarray:
        """The forming bar's open: the first price after the newest completed bar."""
        k = int(now // self.timeframe_seconds)
        bars = self.fetch(symbols, k * self.timeframe_seconds, 1)
        return bars.open[0].copy()
