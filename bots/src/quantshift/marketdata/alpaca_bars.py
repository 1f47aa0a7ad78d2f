"""Alpaca stock bars: ONE request for many symbols (GET /v2/stocks/bars?symbols=A,B,...),
paginated by alpaca-py through next_page_token, for all symbols at once.

The first fetch covers enough calendar time to hold `n` bars of trading
hours (nights, weekends and holidays have no bars); after that each cycle
asks for the bars from the newest one already held on. Bars are keyed by
their open time `t` (RFC 3339), as the rest of the engine expects.

Prices are split and dividend adjusted (`adjustment=all`): signals must not
see a 4:1 split as a 75 % crash. Adjusted history changes retroactively on a
corporate action, so the held bar that each request overlaps is compared
with its new reading: when it differs, that symbol's window is dropped and
read again whole (the Redis cache is then overwritten with it by MarketData).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Sequence

import numpy as np

from ..venues import alpaca_client
from ..venues.budget import calendar_span
from ..venues.retry import RetryPolicy, read_with_backoff
from ..venues.startup_errors import AdapterConfigError
from ..venues.telemetry import Telemetry
from .bar_window import BarWindow
from .base import Bars

log = logging.getLogger(__name__)


def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def alpaca_timeframe(seconds: int):
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    if seconds % 86400 == 0 and seconds == 86400:
        return TimeFrame(1, TimeFrameUnit.Day)
    if seconds % 3600 == 0 and seconds // 3600 <= 23:
        return TimeFrame(seconds // 3600, TimeFrameUnit.Hour)
    if seconds % 60 == 0 and seconds // 60 <= 59:
        return TimeFrame(seconds // 60, TimeFrameUnit.Minute)
    raise AdapterConfigError(f"marketdata.timeframe: Alpaca has no {seconds}s bars (1-59Min, 1-23Hour, 1Day)")


class AlpacaBarsSource:
    self_timed = True

    def __init__(self, symbols: Sequence[str], timeframe_seconds: int, *, api_key: str | None,
                 api_secret: str | None, feed: str = "iex", base_url: str | None = None,
                 timeout_seconds: float = 10.0, retry: RetryPolicy | None = None, sleep=None):
        from alpaca.data.historical import StockHistoricalDataClient

        self.symbols = tuple(symbols)
        self.timeframe_seconds = int(timeframe_seconds)
        self.timeframe = alpaca_timeframe(self.timeframe_seconds)
        self.feed = feed
        self.name = f"alpaca-{feed}"
        self.client = alpaca_client.harden(
            StockHistoricalDataClient(api_key, api_secret, raw_data=True, url_override=base_url), timeout_seconds)
        self.retry = retry or RetryPolicy()
        self.telemetry = Telemetry("data", **({"sleep": sleep} if sleep else {}))
        self.window = BarWindow(self.timeframe_seconds, keep=600)
        self._primed: set[str] = set()

    def instrument(self, metrics=None, keepalive=None) -> None:
        self.telemetry.attach(metrics, keepalive)

    def latest_bar_ts(self, now: float) -> int:
        return (int(now // self.timeframe_seconds) - 1) * self.timeframe_seconds

    def _request(self, symbols: list[str], start_ts: int, end_ts: int) -> set[str]:
        """Read bars into the window; returns the symbols whose held bars came back revised."""
        from alpaca.data.enums import Adjustment
        from alpaca.data.requests import StockBarsRequest

        req = StockBarsRequest(symbol_or_symbols=symbols, timeframe=self.timeframe, start=_utc(start_ts),
                               end=_utc(end_ts), feed=self.feed, adjustment=Adjustment.ALL)

        def call():
            with self.telemetry.timed():
                try:
                    return self.client.get_stock_bars(req)
                except Exception as e:
                    raise alpaca_client.translate(e) from e

        raw = read_with_backoff(f"alpaca bars ({len(symbols)} symbols)", call, self.retry, self.telemetry)
        revised = set()
        for sym, rows in (raw or {}).items():
            for b in rows or ():
                ts = int(dt.datetime.fromisoformat(str(b["t"]).replace("Z", "+00:00")).timestamp())
                if self.window.add(sym, ts, b["o"], b["h"], b["l"], b["c"], b["v"]):
                    revised.add(sym)
        return revised

    def fetch(self, symbols: Sequence[str], end_ts: int, n: int) -> Bars:
        symbols = list(symbols)
        self.window.keep = max(self.window.keep, 2 * n)
        span = calendar_span(self.timeframe_seconds, n)
        new = [s for s in symbols if s not in self._primed]
        if new:  # first time: one wide request (paginated) for all of them
            self._request(new, end_ts - span, end_ts)
            self._primed.update(new)
        old = [s for s in symbols if s not in new]
        if old:
            last = [self.window.last_ts(s) for s in old]
            since = min((t for t in last if t is not None), default=end_ts - span)
            if since < end_ts:
                # From the newest bar held, not after it: that overlap shows a revision.
                revised = sorted(self._request(old, since, end_ts))
                if revised:
                    log.warning("alpaca bars: adjusted history of %s changed (split or dividend): reading their "
                                "%d bars again", ", ".join(revised), n)
                    for s in revised:
                        self.window.drop(s)
                    self._request(revised, end_ts - span, end_ts)
        self.window.trim()
        return self.window.bars(symbols, end_ts, n)

    def quote(self, symbols: Sequence[str], now: float) -> np.ndarray:
        """The last close held (Alpaca fills market orders itself; this is only
        what a sim broker on Alpaca data would need)."""
        return np.array([self.window.last_close(s) for s in symbols])
