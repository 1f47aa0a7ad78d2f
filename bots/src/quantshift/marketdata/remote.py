"""Alpaca and ccxt market data sources: the interface (MarketDataSource) is
fixed, the network code lands with the broker adapters (a later issue).
Selecting one is a configuration error at start (exit 78) with a clear message
- naming the missing extra if it is not installed - rather than a failure in
every cycle."""
from __future__ import annotations

import importlib.util
from typing import Sequence


class ExtraMissing(Exception):
    """A selected adapter needs an optional dependency that is not installed."""


class AdapterNotImplemented(Exception):
    """A selected adapter's network code is not in this version."""


def require_extra(module: str, extra: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExtraMissing(f"{what} needs the '{extra}' extra: pip install 'quantshift[{extra}]'")


class _RemoteSource:
    module = extra = what = ""

    def __init__(self, symbols: Sequence[str], timeframe_seconds: int, **options):
        require_extra(self.module, self.extra, self.what)
        raise AdapterNotImplemented(f"{self.what}: network access is not implemented in this version; "
                                    f"use marketdata.source: synthetic or csv")


class AlpacaSource(_RemoteSource):
    module, extra, what = "alpaca", "alpaca", "marketdata.source alpaca"


class CcxtSource(_RemoteSource):
    module, extra, what = "ccxt", "ccxt", "marketdata.source ccxt"
