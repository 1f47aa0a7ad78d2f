"""marketdata.source alpaca / ccxt: the constructors `build_source` calls.
The network code lives in `alpaca_bars.py` / `ccxt_bars.py`, imported only
when selected (the extras are optional)."""
from __future__ import annotations

from typing import Sequence

from ..venues.startup_errors import require_extra


def AlpacaSource(symbols: Sequence[str], timeframe_seconds: int, **options):
    """marketdata.source alpaca: multi-symbol /v2/stocks/bars through alpaca-py."""
    require_extra("alpaca", "alpaca", "marketdata.source alpaca")
    from .alpaca_bars import AlpacaBarsSource

    return AlpacaBarsSource(symbols, timeframe_seconds, **options)


def CcxtSource(symbols: Sequence[str], timeframe_seconds: int, **options):
    """marketdata.source ccxt: fetch_ohlcv per symbol through ccxt (rate-limited)."""
    require_extra("ccxt", "ccxt", "marketdata.source ccxt")
    from .ccxt_bars import CcxtBarsSource

    return CcxtBarsSource(symbols, timeframe_seconds, **options)
