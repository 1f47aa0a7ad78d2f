"""The narrow strategy interface (freqtrade IStrategy style): a strategy only
turns bar arrays into signals. The loop, broker, risk and persistence live
elsewhere, so the same object runs live, in tests and in the bench.

Signals are int8 arrays (bars x symbols): +1 = entry (buy), -1 = exit (sell),
0 = nothing. Rows without enough history are 0.

Two paths that must agree exactly (tested):
* `signals(bars)`: full vectorized recompute over all bars and symbols;
* `live(bars)` -> LiveState, then `state.update(row)` once per new bar: O(symbols)
  work per bar for the running bot.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..marketdata.base import BarRow, Bars

ENTRY, EXIT, NONE = 1, -1, 0


def combine(entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Comparisons with NaN are False, so warm-up rows come out as 0."""
    entry = np.asarray(entry, dtype=bool)
    exit_only = np.asarray(exit_, dtype=bool) & ~entry
    # bool is one byte 0/1, so the int8 views make this two cheap passes.
    return entry.view(np.int8) - exit_only.view(np.int8)


class LiveState(ABC):
    @abstractmethod
    def update(self, row: BarRow) -> np.ndarray:
        """Consume the next bar for every symbol; return its signal row (m,) int8."""


class Strategy(ABC):
    name: str = ""

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Bars before the first possible signal."""

    @abstractmethod
    def signals(self, bars: Bars) -> np.ndarray:
        ...

    @abstractmethod
    def live(self, bars: Bars) -> LiveState:
        """State primed on `bars` (at least `warmup` + 1 of them)."""

    def _need(self, bars: Bars) -> None:
        if len(bars) <= self.warmup:
            raise ValueError(f"{self.name} needs more than {self.warmup} bars, got {len(bars)}")
