"""ccxt candles: fetch_ohlcv for every symbol in one batch per cycle, spaced by
ccxt's rate limiter (enableRateLimit). Exchanges have no multi-symbol candle
endpoint, so the batch is sequential; after the first fetch each symbol asks
only for candles since the newest one held, usually one or two.

The exchange's newest candle is the one still forming: only candles that open
at or before `end_ts` (the newest completed one) are used.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..venues import ccxt_client
from ..venues.budget import ccxt_request_seconds
from ..venues.retry import RetryPolicy, read_with_backoff
from ..venues.startup_errors import AdapterConfigError
from ..venues.telemetry import Telemetry
from .bar_window import BarWindow
from .base import Bars

log = logging.getLogger(__name__)


def ccxt_timeframe(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AdapterConfigError(f"marketdata.timeframe: {seconds}s is not a ccxt timeframe")


class CcxtBarsSource:
    self_timed = True

    def __init__(self, symbols: Sequence[str], timeframe_seconds: int, *, exchange: str, paper: bool = True,
                 api_key: str | None = None, api_secret: str | None = None, base_url: str | None = None,
                 timeout_seconds: float = 10.0, retry: RetryPolicy | None = None, sleep=None):
        self.symbols = tuple(symbols)
        self.timeframe_seconds = int(timeframe_seconds)
        self.timeframe = ccxt_timeframe(self.timeframe_seconds)
        self.exchange = ccxt_client.make_exchange(exchange, api_key=api_key, api_secret=api_secret, paper=paper,
                                                  base_url=base_url, timeout_seconds=timeout_seconds,
                                                  paper_setting="marketdata.sandbox")
        if self.timeframe not in (self.exchange.timeframes or {self.timeframe: None}):
            raise AdapterConfigError(f"marketdata.timeframe: {exchange} has no {self.timeframe} candles")
        # Candles one request returns (binance 1000, kraken 720): the figure the budget counts with.
        self.max_limit = ccxt_request_seconds(exchange)[1] or 1000
        self.name = f"ccxt-{exchange}"
        self.retry = retry or RetryPolicy()
        self.telemetry = Telemetry("data", **({"sleep": sleep} if sleep else {}))
        self.window = BarWindow(self.timeframe_seconds, keep=600)

    def instrument(self, metrics=None, keepalive=None) -> None:
        self.telemetry.attach(metrics, keepalive)

    def latest_bar_ts(self, now: float) -> int:
        return (int(now // self.timeframe_seconds) - 1) * self.timeframe_seconds

    def _call(self, fn, *args, **kw):
        with self.telemetry.timed():
            try:
                return fn(*args, **kw)
            except Exception as e:
                raise ccxt_client.translate(e, self.exchange) from e

    def fetch(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        symbols = list(symbols)
        self.window.keep = max(self.window.keep, 2 * n)
        read_with_backoff(f"{self.name} markets", lambda: self._call(self.exchange.load_markets), self.retry,
                          self.telemetry)
        tf = self.timeframe_seconds
        for s in symbols:
            if self.telemetry.keepalive is not None:
                self.telemetry.keepalive()
            last = self.window.last_ts(s)
            start = end_ts - (n - 1) * tf if last is None else last + tf
            while start <= end_ts:  # usually one request; more only when n exceeds the exchange's limit
                limit = min(self.max_limit, (end_ts - start) // tf + 2)
                rows = read_with_backoff(f"{self.name} ohlcv {s}",
                                         lambda: self._call(self.exchange.fetch_ohlcv, s, self.timeframe,
                                                            since=start * 1000, limit=limit),
                                         self.retry, self.telemetry)
                done = [r for r in rows if start <= int(r[0] // 1000) <= end_ts]  # newest candle is still forming
                for ts_ms, o, h, l, c, v in done:
                    self.window.add(s, int(ts_ms // 1000), o, h, l, c, v or 0.0)
                if not done:
                    break
                start = int(done[-1][0] // 1000) + tf
        self.window.trim()
        return self.window.bars(symbols, end_ts, n)

    def quote(self, symbols: Sequence[str], now: float) -> np.ndarray:
        return np.array([self.window.last_close(s) for s in symbols])
