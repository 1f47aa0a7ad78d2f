"""Market data: sources (synthetic, csv, alpaca, ccxt) behind one interface, and
the MarketData service that adds the Redis cache and data-age accounting."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import redis

from .base import Bars, BarRow, MarketDataSource
from .cache import BarCache
from .csv_replay import CsvReplaySource
from .remote import AlpacaSource, CcxtSource
from .synthetic import SyntheticSource

log = logging.getLogger(__name__)

__all__ = ["Bars", "BarRow", "MarketDataSource", "BarCache", "CsvReplaySource", "SyntheticSource",
           "AlpacaSource", "CcxtSource", "MarketData", "FetchResult", "build_source"]


def build_source(cfg) -> MarketDataSource:
    md = cfg.marketdata
    tf = md.timeframe_seconds
    if md.source == "synthetic":
        return SyntheticSource(cfg.symbols, seed=md.seed, timeframe_seconds=tf)
    if md.source == "csv":
        return CsvReplaySource(md.csv_path, cfg.symbols, tf, start_index=md.lookback_bars)
    if md.source == "alpaca":
        return AlpacaSource(cfg.symbols, tf, api_key=md.api_key, api_secret=md.api_secret, feed=md.feed,
                            base_url=md.base_url, timeout_seconds=cfg.broker.timeout_seconds)
    if md.source == "ccxt":
        return CcxtSource(cfg.symbols, tf, exchange=md.exchange or cfg.broker.exchange, paper=md.sandbox,
                          api_key=md.api_key, api_secret=md.api_secret, base_url=md.base_url,
                          timeout_seconds=cfg.broker.timeout_seconds)
    raise ValueError(md.source)


@dataclass
class FetchResult:
    bars: Bars
    cache_hits: int
    redis_error: str | None
    age_seconds: float


class MarketData:
    """Source + optional Redis cache. Never raises for Redis problems."""

    def __init__(self, source: MarketDataSource, cache: BarCache | None = None,
                 clock: Callable[[], float] = time.time):
        self.source = source
        self.cache = cache
        self.clock = clock

    def latest(self, symbols: Sequence[str], n: int) -> FetchResult:
        now = self.clock()
        end_ts = self.source.latest_bar_ts(now)
        tf = self.source.timeframe_seconds
        hits: dict = {}
        redis_error = None
        if self.cache is not None:
            try:
                hits = self.cache.get_many(self.source.name, tf, symbols, end_ts, n)
            except redis.RedisError as e:
                redis_error = f"{type(e).__name__}: {e}"
        missing = [s for s in symbols if s not in hits]
        fetched = self.source.fetch(missing, end_ts, n) if missing else None
        if fetched is not None and self.cache is not None and redis_error is None:
            try:
                self.cache.put_many(self.source.name, fetched)
            except redis.RedisError as e:
                redis_error = f"{type(e).__name__}: {e}"
        bars = self._assemble(symbols, hits, fetched, tf)
        age = max(0.0, now - bars.last_close_time)
        return FetchResult(bars, len(hits), redis_error, age)

    @staticmethod
    def _assemble(symbols, hits, fetched: Bars | None, tf: int) -> Bars:
        if not hits and fetched is not None:
            return fetched
        m = len(symbols)
        any_ts = fetched.ts if fetched is not None else next(iter(hits.values()))[0]
        T = len(any_ts)
        arr = np.empty((5, T, m))
        fidx = {s: j for j, s in enumerate(fetched.symbols)} if fetched is not None else {}
        for j, s in enumerate(symbols):
            if s in hits:
                arr[:, :, j] = hits[s][1]
            else:
                k = fidx[s]
                arr[:, :, j] = (fetched.open[:, k], fetched.high[:, k], fetched.low[:, k],
                                fetched.close[:, k], fetched.volume[:, k])
        return Bars(tuple(symbols), np.asarray(any_ts, dtype=np.int64).copy(), arr[0], arr[1], arr[2], arr[3],
                    arr[4], tf)

    def quote(self, symbols: Sequence[str]) -> np.ndarray:
        return self.source.quote(symbols, self.clock())
