"""CSV replay: historical bars played back on the wall clock, one bar per timeframe.

File format (long, one row per bar and symbol, header required):
    timestamp,symbol,open,high,low,close,volume
timestamp is unix seconds or ISO-8601; bars must lie on one regular grid of the
configured timeframe and every symbol must have every bar.

At start the file's row `start_index` (default: as many bars as the look-back)
becomes the newest completed bar; after that one more file bar completes every
timeframe. Timestamps are shifted onto the wall clock so market_data_age_seconds
stays meaningful; when the file runs out the data simply stops advancing (and
its age grows, which the dashboards show).
"""
from __future__ import annotations

import csv
import datetime as dt
import time
from typing import Sequence

import numpy as np

from .base import Bars


class CsvFormatError(ValueError):
    pass


def _parse_ts(s: str) -> int:
    s = s.strip()
    try:
        return int(float(s))
    except ValueError:
        pass
    d = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp())


def load_csv(path: str, symbols: Sequence[str], timeframe_seconds: int):
    rows: dict[str, dict[int, tuple[float, ...]]] = {s: {} for s in symbols}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        need = {"timestamp", "symbol", "open", "high", "low", "close", "volume"}
        if not reader.fieldnames or not need.issubset(reader.fieldnames):
            raise CsvFormatError(f"{path}: header must contain {', '.join(sorted(need))}")
        for lineno, r in enumerate(reader, start=2):
            sym = r["symbol"].strip()
            if sym not in rows:
                continue
            try:
                rows[sym][_parse_ts(r["timestamp"])] = tuple(float(r[k]) for k in
                                                             ("open", "high", "low", "close", "volume"))
            except ValueError as e:
                raise CsvFormatError(f"{path}:{lineno}: {e}") from None
    all_ts = sorted(set().union(*[set(v) for v in rows.values()]))
    if len(all_ts) < 2:
        raise CsvFormatError(f"{path}: fewer than 2 bars for the configured symbols")
    ts = np.array(all_ts, dtype=np.int64)
    if np.any(np.diff(ts) != timeframe_seconds):
        raise CsvFormatError(f"{path}: bars are not on a regular {timeframe_seconds}s grid")
    T, m = len(ts), len(symbols)
    data = np.empty((5, T, m))
    for j, s in enumerate(symbols):
        if len(rows[s]) != T:
            raise CsvFormatError(f"{path}: symbol {s} has {len(rows[s])} of {T} bars")
        for i, t in enumerate(all_ts):
            data[:, i, j] = rows[s][t]
    return ts, data


class CsvReplaySource:
    def __init__(self, path: str, symbols: Sequence[str], timeframe_seconds: int, *,
                 start_index: int | None = None, start_time: float | None = None):
        self.symbols = tuple(symbols)
        self.timeframe_seconds = tf = int(timeframe_seconds)
        self.name = f"csv-{abs(hash(path)) % 10**8}"
        self._ts, self._data = load_csv(path, self.symbols, tf)
        T = len(self._ts)
        self._start_index = min(T - 1, start_index if start_index is not None else T // 2)
        t0 = time.time() if start_time is None else start_time
        # Shift so that at t0 the row start_index is the newest completed bar.
        self._offset = (int(t0 // tf) - 1) * tf - int(self._ts[self._start_index])

    def _index_at(self, now: float) -> int:
        tf = self.timeframe_seconds
        i = int((((int(now // tf) - 1) * tf) - self._offset - int(self._ts[0])) // tf)
        return max(0, min(len(self._ts) - 1, i))

    def latest_bar_ts(self, now: float) -> int:
        return int(self._ts[self._index_at(now)]) + self._offset

    def fetch(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        i1 = int((end_ts - self._offset - int(self._ts[0])) // self.timeframe_seconds)
        if not 0 <= i1 < len(self._ts):
            raise KeyError(f"bar at {end_ts} is outside the CSV file")
        i0 = max(0, i1 - n + 1)
        cols = [self.symbols.index(s) for s in symbols]
        d = self._data[:, i0:i1 + 1][:, :, cols]
        return Bars(tuple(symbols), self._ts[i0:i1 + 1] + self._offset, d[0], d[1], d[2], d[3], d[4],
                    self.timeframe_seconds)

    def quote(self, symbols: Sequence[str], now: float) -> np.ndarray:
        """Open of the file's next bar; the last close once the file has run out."""
        i = self._index_at(now)
        cols = [self.symbols.index(s) for s in symbols]
        if i + 1 < len(self._ts):
            return self._data[0, i + 1, cols].copy()
        return self._data[3, i, cols].copy()
