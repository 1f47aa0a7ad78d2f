"""Bars kept in memory per symbol for the network sources: after the first
(wide, paginated) request each cycle asks the venue only for the bars it has
not seen, and the symbols' bars are aligned on one time grid (equities have
gaps: a symbol without a bar in a minute keeps its last close, volume 0)."""
from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from .base import Bars

log = logging.getLogger(__name__)


class BarWindow:
    """Recent bars per symbol (open time -> o, h, l, c, v), trimmed to `keep` bars."""

    # Prices of a bar read again may differ by this much (relative) without
    # counting as revised: float noise, not a corporate action.
    rel_tol = 1e-4

    def __init__(self, timeframe_seconds: int, keep: int):
        self.tf = int(timeframe_seconds)
        self.keep = int(keep)
        self._bars: dict[str, dict[int, tuple[float, float, float, float, float]]] = {}

    def add(self, symbol: str, ts: int, o: float, h: float, l: float, c: float, v: float) -> bool:
        """Store one bar; True when it replaced a held bar of the same open time
        whose prices differ beyond rel_tol (adjusted history was revised)."""
        bar = (float(o), float(h), float(l), float(c), float(v))
        d = self._bars.setdefault(symbol, {})
        old = d.get(int(ts))
        d[int(ts)] = bar
        return old is not None and any(not math.isclose(a, b, rel_tol=self.rel_tol) for a, b in zip(old[:4], bar[:4]))

    def drop(self, symbol: str) -> None:
        self._bars.pop(symbol, None)

    def trim(self) -> None:
        for s, d in self._bars.items():
            if len(d) > self.keep:
                for t in sorted(d)[: len(d) - self.keep]:
                    del d[t]

    def last_ts(self, symbol: str) -> int | None:
        d = self._bars.get(symbol)
        return max(d) if d else None

    def count(self, symbol: str, end_ts: int) -> int:
        return sum(1 for t in self._bars.get(symbol, ()) if t <= end_ts)

    def last_close(self, symbol: str) -> float:
        d = self._bars.get(symbol)
        return d[max(d)][3] if d else math.nan

    def bars(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        """The newest n bars up to end_ts on the union time grid of `symbols`.
        Missing bars repeat the previous close with volume 0; before a symbol's
        first known bar the values are NaN (no signal, never a made-up price)."""
        grid = sorted({t for s in symbols for t in self._bars.get(s, ()) if t <= end_ts})
        grid = grid[-n:]
        T, m = len(grid), len(symbols)
        if T == 0:
            raise LookupError(f"no bars up to {end_ts} for any of {len(symbols)} symbols")
        g = np.asarray(grid, dtype=np.int64)
        arr = np.full((5, T, m), np.nan)
        for j, s in enumerate(symbols):
            d = self._bars.get(s)
            if not d:
                continue
            ts = np.fromiter(sorted(d), dtype=np.int64, count=len(d))
            ts = ts[max(0, int(np.searchsorted(ts, g[0])) - 1):]     # from the last bar before the grid
            vals = np.array([d[t] for t in ts.tolist()])            # (n, 5) o h l c v
            k = np.searchsorted(ts, g, side="right") - 1             # newest bar at or before each grid point
            known = k >= 0
            kk = np.where(known, k, 0)
            exact = known & (ts[kk] == g)
            carried = known & ~exact
            arr[:, exact, j] = vals[kk[exact]].T
            close = vals[kk[carried], 3]
            arr[:4, carried, j] = close                             # no trade: last close, volume 0
            arr[4, carried, j] = 0.0
        missing = [s for s in symbols if not self._bars.get(s)]
        if missing:
            log.warning("no bars for %d symbol(s): %s", len(missing), ", ".join(missing[:10]))
        return Bars(tuple(symbols), np.asarray(grid, dtype=np.int64), arr[0], arr[1], arr[2], arr[3], arr[4],
                    self.tf)
