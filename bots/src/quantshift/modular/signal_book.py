"""The coordinator's book of bars in flight: the bars events and signals read
from the bus, assembled per bar until the bar is due for a decision.

A bar is due when every strategy's signals for every chunk are in, or
signal_wait_seconds after its first entry arrived (then degraded). A bar at or
below `decided_upto` (already decided) or older than max_bar_age_seconds is
dropped instead. Pure bookkeeping: no Redis, no database (the coordinator and
the bench share it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .streams import BarsEvent, SignalsMessage


@dataclass
class PendingBar:
    bar_ts: int
    published_at: float
    seen_at: float                      # monotonic, when its first entry arrived
    chunks: int | None = None           # from the bars events
    closes: dict[str, float] = field(default_factory=dict)
    signals: dict[str, dict[int, SignalsMessage]] = field(default_factory=dict)
    entries: list[tuple[str, str]] = field(default_factory=list)
    retry_at: float = 0.0

    def complete(self, strategies: Sequence[str]) -> bool:
        return self.chunks is not None and all(len(self.signals.get(s, {})) >= self.chunks for s in strategies)


@dataclass(frozen=True)
class Dropped:
    bar: PendingBar
    result: str        # "duplicate" or "stale"
    why: str


class SignalBook:
    def __init__(self, symbols: Sequence[str], strategies: Sequence[str], *, bars_stream: str,
                 timeframe_seconds: int, max_bar_age_seconds: float, signal_wait_seconds: float,
                 clock: Callable[[], float] = time.time):
        self.symbols = list(symbols)
        self.index = {s: j for j, s in enumerate(self.symbols)}
        self.strategies = list(strategies)
        self.bars_stream = bars_stream
        self.timeframe = timeframe_seconds
        self.max_bar_age = max_bar_age_seconds
        self.signal_wait = signal_wait_seconds
        self.clock = clock
        self.pending: dict[int, PendingBar] = {}
        self.closes: dict[str, float] = {}       # newest close per symbol (the sim broker's quote)
        self.newest_bar: int | None = None
        self.decided_upto: int | None = None

    def take(self, entries) -> tuple[list[tuple[str, str]], int, list[str]]:
        """File (stream, id, fields) entries under their bars. Returns the entries to
        acknowledge at once (late signals of a decided bar, malformed ones), how
        many were late, and one line per malformed entry."""
        done, problems, late = [], [], 0
        for stream, entry_id, fields in entries:
            try:
                if stream == self.bars_stream:
                    ev = BarsEvent.parse(fields)
                    bar = self._bar(ev.bar_ts, ev.published_at)
                    bar.chunks = ev.chunks
                    for s, c in zip(ev.symbols, ev.closes):
                        bar.closes[s] = c
                        self.closes[s] = c
                else:
                    msg = SignalsMessage.parse(fields)
                    if self.decided(msg.bar_ts):
                        done.append((stream, entry_id))
                        late += 1
                        continue
                    bar = self._bar(msg.bar_ts, msg.published_at)
                    bar.signals.setdefault(msg.strategy, {})[msg.chunk] = msg
            except (KeyError, ValueError) as e:
                problems.append(f"malformed entry {entry_id} of {stream}: {e}")
                done.append((stream, entry_id))
                continue
            bar.entries.append((stream, entry_id))
        return done, late, problems

    def decided(self, bar_ts: int) -> bool:
        return self.decided_upto is not None and bar_ts <= self.decided_upto

    def _bar(self, bar_ts: int, published_at: float) -> PendingBar:
        bar = self.pending.get(bar_ts)
        if bar is None:
            bar = self.pending[bar_ts] = PendingBar(bar_ts, published_at, time.monotonic())
            self.newest_bar = max(self.newest_bar or bar_ts, bar_ts)
        return bar

    def due(self) -> tuple[list[PendingBar], list[Dropped]]:
        """Bars to decide now, oldest first, and the bars dropped (removed from the book)."""
        now = time.monotonic()
        due, dropped = [], []
        for bar_ts in sorted(self.pending):
            bar = self.pending[bar_ts]
            if now < bar.retry_at:
                continue
            if self.decided(bar_ts):
                dropped.append(Dropped(self.pending.pop(bar_ts), "duplicate", "already decided"))
            elif self.clock() - (bar_ts + self.timeframe) > self.max_bar_age:
                dropped.append(Dropped(self.pending.pop(bar_ts), "stale", f"older than {self.max_bar_age:g} s"))
            elif bar.complete(self.strategies) or now - bar.seen_at >= self.signal_wait:
                due.append(bar)
        return due, dropped

    def rows(self, bar: PendingBar) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
        """Signal row per strategy over the book's symbols (0 where missing), and per
        strategy whose signals are incomplete: (symbols got, symbols expected)."""
        expected = len(bar.closes) if bar.closes else len(self.symbols)
        sig, missing = {}, {}
        for name in self.strategies:
            row = np.zeros(len(self.symbols), dtype=np.int8)
            got = 0
            for msg in bar.signals.get(name, {}).values():
                for sym, v in zip(msg.symbols, msg.signals):
                    j = self.index.get(sym)
                    if j is not None:
                        row[j] = v
                        got += 1
            if got < expected:
                missing[name] = (got, expected)
            sig[name] = row
        return sig, missing

    def market_data_age(self) -> float:
        if self.newest_bar is None:
            return float("nan")
        return max(0.0, self.clock() - (self.newest_bar + self.timeframe))

    def quote(self, symbols: Sequence[str]) -> np.ndarray:
        return np.array([self.closes.get(s, np.nan) for s in symbols], dtype=float)

    def settle(self, bar: PendingBar, done: bool) -> None:
        """After a decision attempt: done removes the bar; otherwise retry in a second."""
        if done:
            self.pending.pop(bar.bar_ts, None)
        else:
            bar.retry_at = time.monotonic() + 1.0
