"""What differs per ccxt exchange, for order entry, lookup and candle requests;
and the one figure of Alpaca's data API the cycle budget needs.

Only an exchange with a profile here can trade (broker.kind ccxt): the adapter
must be able to find an order by our client order id after a lost answer, and
that works differently per exchange (ccxt 4.5.90, read in its sources):

* binance: fetch_order(None, symbol, {'origClientOrderId': id}) - GET /api/v3/order;
* kraken: fetch_open_orders / fetch_closed_orders(symbol, params={'clientOrderId': id})
  send cl_ord_id, a filter the exchange applies (OpenOrders, ClosedOrders).

Any ccxt exchange may still serve candles (marketdata.source ccxt); without a
profile its request cost is ccxt's rateLimit (venues/budget.py).

The candle figures are ccxt's own spacing for a sync exchange with
enableRateLimit: Exchange.throttle sleeps rateLimit ms x the endpoint's cost
since the previous request; tests/test_brokers_ccxt.py checks them against ccxt.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

# How an order is found by our client order id (see the module docstring).
BY_ORDER_PARAM = "by_order_param"
BY_LIST_FILTER = "by_list_filter"


@dataclass(frozen=True)
class ExchangeProfile:
    coid_max_len: int = 32
    lookup: str | None = None         # BY_ORDER_PARAM / BY_LIST_FILTER; None: cannot trade here
    lookup_param: str | None = None   # the params key that carries our id in that call
    options: dict = field(default_factory=dict)
    orders_limit: int | None = None   # the most orders one order-history request returns
    # An order-history request may not span more than this (binance allOrders:
    # 24 h between startTime and endTime); an older `since` asks for the newest orders.
    orders_window_ms: int | None = None
    # Closed orders come in pages of this many, newest first, older ones by an offset
    # (kraken ClosedOrders: 50, `ofs`; `start` in unix seconds); None: one request.
    closed_orders_page: int | None = None
    closed_orders_offset_param: str | None = None
    closed_orders_start_param: str | None = None
    # A sandbox/testnet that ccxt's set_sandbox_mode reaches (paper trading); None: not known here.
    has_sandbox: bool | None = None
    # Seconds ccxt waits before one candle request (rateLimit x the OHLC endpoint's cost),
    # and the most candles one request returns.
    candle_request_seconds: float | None = None
    candles_per_request: int | None = None


_BINANCE_OPTIONS = {
    "defaultType": "spot",
    "fetchMarkets": ["spot"],  # a spot bot loads no futures/options markets (list form: old and new ccxt)
    "fetchMargins": False,
    "fetchCurrencies": False,             # private sapi call, not needed for spot orders
    "warnOnFetchOpenOrdersWithoutSymbol": False,  # reconciliation wants ALL open orders
}

_BINANCE = ExchangeProfile(
    coid_max_len=36,  # newClientOrderId: ^[.A-Z:/a-z0-9_-]{1,36}$
    lookup=BY_ORDER_PARAM,
    lookup_param="origClientOrderId",
    options=_BINANCE_OPTIONS,
    orders_limit=1000,                       # GET /api/v3/allOrders: default 500, at most 1000
    orders_window_ms=24 * 3600 * 1000,
    has_sandbox=True,                        # testnet.binance.vision
    candle_request_seconds=0.02,             # rateLimit 50 ms x public klines cost 0.4 (weight 2)
    candles_per_request=1000,                # klines limit, at most 1000
)

PROFILES = {
    "binance": _BINANCE,
    # binance.us: the same API; ccxt's binanceus prices klines at cost 1 (rateLimit 50 ms)
    "binanceus": replace(_BINANCE, candle_request_seconds=0.05),
    "kraken": ExchangeProfile(
        coid_max_len=18,                     # cl_ord_id free text: up to 18 characters
        lookup=BY_LIST_FILTER,
        lookup_param="clientOrderId",        # ccxt sends it as cl_ord_id
        closed_orders_page=50,
        closed_orders_offset_param="ofs",
        closed_orders_start_param="start",
        has_sandbox=False,
        candle_request_seconds=1.2,          # rateLimit 1000 ms x public OHLC cost 1.2
        candles_per_request=720,             # OHLC returns the newest 720 candles at most
    ),
}

# Exchanges ccxt has that cannot trade here, and why (one line each).
REFUSED = {
    "coinbase": "ccxt's coinbase create_order replaces our client order id with its own (ccxt-<uuid>), so an "
                "order whose answer is lost could not be found, and a market buy needs a price",
}


def supported() -> list[str]:
    return sorted(PROFILES)


def trading_refusal(exchange_id: str) -> str | None:
    """Why broker.kind ccxt cannot trade on this exchange (one line), or None."""
    if exchange_id in PROFILES:
        return None
    why = REFUSED.get(exchange_id, "no venue profile (client order id lookup, rate limit) for it")
    return f"{exchange_id!r} cannot trade here: {why}; supported: {', '.join(supported())}"


def profile(exchange_id: str) -> ExchangeProfile:
    """The exchange's profile; an empty one for candles from an exchange without one."""
    return PROFILES.get(exchange_id, ExchangeProfile())


@dataclass(frozen=True)
class AlpacaDataProfile:
    # Free (Basic) plan: 200 API calls per minute, every endpoint together.
    requests_per_minute: int = 200
    # Bars per page of GET /v2/stocks/bars: alpaca-py 0.44 get_stock_bars asks page_size
    # 10_000 (DATA_V2_MAX_LIMIT), counted over all symbols of the request.
    bars_per_page: int = 10_000
    # Bars exist 04:00-20:00 ET on trading days (pre-market, session, after hours).
    session_hours: float = 16.0


ALPACA_DATA = AlpacaDataProfile()
