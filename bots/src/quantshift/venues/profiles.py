"""What differs per ccxt exchange, for order entry and lookup.

The client order id limit, and whether the exchange can look an order up by it
(binance: GET /api/v3/order?origClientOrderId=). Where it cannot, lookup scans
the symbol's open and recent closed orders for the id. Also the order-history
page size and the longest span one history request may cover (binance
allOrders: 1000 orders, 24 hours).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExchangeProfile:
    coid_max_len: int = 32            # conservative default for exchanges not listed
    lookup_param: str | None = None   # fetch_order(None, symbol, {param: coid}) works
    options: dict = field(default_factory=dict)
    orders_limit: int | None = None   # the most orders one order-history request returns
    # An order-history request may not span more than this (binance allOrders:
    # 24 h between startTime and endTime); an older `since` asks for the newest orders.
    orders_window_ms: int | None = None
    # A sandbox/testnet that ccxt's set_sandbox_mode reaches (paper trading); None: not known here.
    has_sandbox: bool | None = None


_BINANCE = ExchangeProfile(
    coid_max_len=36,  # newClientOrderId: ^[.A-Z:/a-z0-9_-]{1,36}$
    lookup_param="origClientOrderId",
    options={
        "defaultType": "spot",
        "fetchMarkets": ["spot"],  # a spot bot loads no futures/options markets (list form: old and new ccxt)
        "fetchMargins": False,
        "fetchCurrencies": False,             # private sapi call, not needed for spot orders
        "warnOnFetchOpenOrdersWithoutSymbol": False,  # reconciliation wants ALL open orders
    },
    orders_limit=1000,                       # GET /api/v3/allOrders: default 500, at most 1000
    orders_window_ms=24 * 3600 * 1000,
    has_sandbox=True,                        # testnet.binance.vision
)

PROFILES = {
    "binance": _BINANCE,
    "binanceus": _BINANCE,
    "kraken": ExchangeProfile(coid_max_len=18, has_sandbox=False),  # cl_ord_id free text: up to 18 characters
    "coinbase": ExchangeProfile(coid_max_len=36, has_sandbox=False),
}


def profile(exchange_id: str) -> ExchangeProfile:
    return PROFILES.get(exchange_id, ExchangeProfile())
