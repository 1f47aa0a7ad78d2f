"""How long one cycle's candle requests take at the venue's rate limit, and the
check that they fit in half the cycle interval (the other half is for orders,
the database and a slow answer). Config validation runs it, so a symbol list a
venue cannot serve in time is refused at load, not found out by a late cycle.

ccxt: no exchange has a multi-symbol candle endpoint, so one request per symbol
(more when lookback_bars exceeds one request's candles), spaced by ccxt's
limiter. Alpaca: one request for all symbols, paged by bars; the first cycle,
which loads lookback_bars of every symbol, is the long one (later cycles ask for
the newest bar or two: one page).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

from .profiles import ALPACA_DATA, profile

_TRADING_SECONDS_PER_DAY = 6.5 * 3600  # regular session; the IEX feed has little outside it


def calendar_span(timeframe_seconds: int, n: int) -> int:
    """Seconds of calendar time that hold at least n bars of US equity trading
    (the first Alpaca request's window)."""
    if timeframe_seconds >= 86400:
        trading_days = n * timeframe_seconds / 86400
    else:
        trading_days = math.ceil(n * timeframe_seconds / _TRADING_SECONDS_PER_DAY)
    return int((trading_days * 7 / 5 + 4) * 86400)  # weekends, plus a long weekend of holidays


def _weekdays_touched(span_seconds: int) -> int:
    """The most weekdays a window of this length can touch."""
    days = math.ceil(span_seconds / 86400) + 1  # a window starting mid-day touches one more
    return 5 * (days // 7) + min(days % 7, 5)


def alpaca_seconds(symbols: int, timeframe_seconds: int, lookback_bars: int) -> float:
    """The first cycle's bar requests: every bar the window can hold, all symbols
    in one request, pages of bars_per_page, at requests_per_minute."""
    p = ALPACA_DATA
    per_day = max(1, int(p.session_hours * 3600 // timeframe_seconds))
    bars = symbols * _weekdays_touched(calendar_span(timeframe_seconds, lookback_bars)) * per_day
    return round(math.ceil(bars / p.bars_per_page) * 60.0 / p.requests_per_minute, 6)


@functools.lru_cache(maxsize=None)
def ccxt_request_seconds(exchange_id: str) -> tuple[float, int | None]:
    """(seconds per candle request, candles per request) of an exchange: its
    profile's, else ccxt's rateLimit at cost 1 and its stated OHLCV limit.
    ImportError without ccxt, ValueError for an id ccxt does not have."""
    prof = profile(exchange_id)
    if prof.candle_request_seconds is not None:
        return prof.candle_request_seconds, prof.candles_per_request
    import ccxt  # only for an exchange without a profile (candles only)

    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"{exchange_id!r} is not a ccxt exchange id")
    ex = getattr(ccxt, exchange_id)()
    limit = ((ex.features or {}).get("spot") or {}).get("fetchOHLCV", {}) or {}
    return ex.rateLimit / 1000.0, limit.get("limit")


def ccxt_seconds(exchange_id: str, symbols: int, lookback_bars: int) -> float:
    """The first cycle asks each symbol for lookback_bars + 1 candles (the forming one
    is dropped), in requests of the exchange's candles_per_request."""
    each, per_request = ccxt_request_seconds(exchange_id)
    requests = math.ceil((lookback_bars + 1) / per_request) if per_request else 1
    return round(symbols * requests * each, 6)  # 25 x 1.2 is 30, not 30.000000000000004


@dataclass(frozen=True)
class Budget:
    venue: str
    when: str                # "per cycle", or "in the first cycle" where that one is the long one
    symbols: int
    need_seconds: float
    cycle_seconds: float
    fits_symbols: int        # the most symbols that fit

    @property
    def fits(self) -> bool:
        return self.need_seconds <= self.cycle_seconds / 2

    def problem(self) -> str | None:
        """One line saying by how much the list does not fit, or None."""
        if self.fits:
            return None
        return (f"{self.symbols} symbols on {self.venue} need {self.need_seconds:g} s of requests {self.when}, "
                f"more than half the cycle interval ({self.cycle_seconds / 2:g} s): drop "
                f"{self.symbols - self.fits_symbols} symbols or raise cycle_interval_seconds to "
                f"{math.ceil(2 * self.need_seconds)}")


def _budget(venue: str, when: str, symbols: int, cycle_seconds: float,
            seconds: Callable[[int], float]) -> Budget:
    fits = symbols
    while fits > 0 and seconds(fits) > cycle_seconds / 2:
        fits -= 1
    return Budget(venue, when, symbols, seconds(symbols), cycle_seconds, fits)


def candle_budget(source: str, exchange_id: str | None, symbols: int, timeframe_seconds: int,
                  lookback_bars: int, cycle_seconds: float) -> Budget | None:
    """The market data source's budget (None for local sources: synthetic, csv)."""
    if source == "alpaca":
        return _budget("alpaca", "in the first cycle", symbols, cycle_seconds,
                       lambda k: alpaca_seconds(k, timeframe_seconds, lookback_bars))
    if source == "ccxt":
        return _budget(exchange_id, "per cycle", symbols, cycle_seconds,
                       lambda k: ccxt_seconds(exchange_id, k, lookback_bars))
    return None
