"""Alpaca specifics: alpaca-py's own POST retry (the hazard, and that ours is
off), endpoints by config, keys, and multi-symbol paginated bars. All against
the loopback fake; no request leaves 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from quantshift import config
from quantshift.brokers import AlpacaBroker, BrokerError, RetryPolicy
from quantshift.marketdata import AlpacaSource
from quantshift.venues.startup_errors import AdapterConfigError

from .fake_venues import FakeAlpaca
from .test_brokers_fake_venues import Harness, _broker_database, broker_db  # noqa: F401

FAST = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.02, fill_wait_seconds=0.5)


@pytest.fixture
def fake():
    f = FakeAlpaca()
    f.prices.update({"AAPL": 175.0, "MSFT": 410.0, "SPY": 510.0})
    yield f
    f.close()


def _market(coid):
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    return MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                              client_order_id=coid)


def test_stock_alpaca_py_client_sends_an_order_post_again_after_a_504(fake):
    """Why the adapter hardens its client: alpaca-py 0.x retries POST /v2/orders on
    504. Here Alpaca's client_order_id uniqueness turns the second POST into a 422,
    which a caller would read as a rejection of an order that in fact exists."""
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient

    fake.fault("POST", "/v2/orders", "gateway_timeout", process=True)
    client = TradingClient(fake.key, fake.secret, paper=True, url_override=fake.url)
    client._retry_wait = 0  # its default 3 s pause between tries, shortened for the test only
    with pytest.raises(APIError) as ei:
        client.submit_order(_market("qs-equity-e1-stock0001"))
    assert fake.count("POST", "/v2/orders") == 2
    assert ei.value.status_code == 422 and "client_order_id must be unique" in str(ei.value)


def test_hardened_client_sends_an_order_once_and_every_request_has_a_timeout(fake):
    from alpaca.common.exceptions import APIError
    from alpaca.trading.client import TradingClient

    from quantshift.venues import alpaca_client

    client = alpaca_client.harden(TradingClient(fake.key, fake.secret, url_override=fake.url), 2.5)
    assert client._retry == 0 and client._retry_codes == [] and client._session.timeout == 2.5
    fake.fault("POST", "/v2/orders", "gateway_timeout", process=True)
    with pytest.raises(APIError) as ei:
        client.submit_order(_market("qs-equity-e1-hard0001"))
    assert ei.value.status_code == 504 and fake.count("POST", "/v2/orders") == 1
    fake.fault("POST", "/v2/orders", "rate_limited")
    with pytest.raises(APIError):
        client.submit_order(_market("qs-equity-e1-hard0002"))
    assert fake.count("POST", "/v2/orders") == 2  # one more, not three


def test_a_client_whose_retry_cannot_be_switched_off_is_refused():
    from quantshift.venues import alpaca_client

    with pytest.raises(AdapterConfigError, match="refusing to trade"):
        alpaca_client.harden(object(), 5)


def test_paper_and_live_endpoints_are_chosen_by_config():
    paper = AlpacaBroker(None, "equity", api_key="k", api_secret="s", paper=True)
    live = AlpacaBroker(None, "equity", api_key="k", api_secret="s", paper=False)
    assert paper.client._base_url == "https://paper-api.alpaca.markets"
    assert live.client._base_url == "https://api.alpaca.markets"
    override = AlpacaBroker(None, "equity", api_key="k", api_secret="s", base_url="http://127.0.0.1:9")
    assert override.client._base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("section, kind, env, missing", [
    ("broker.kind", "alpaca", {}, "APCA_API_KEY_ID"),
    ("broker.kind", "alpaca", {"APCA_API_KEY_ID": "PK" + "K" * 18, "APCA_API_SECRET_KEY": ""}, "APCA_API_SECRET_KEY"),
    ("marketdata.source", "alpaca", {}, "APCA_API_KEY_ID"),
    ("marketdata.source", "alpaca", {"APCA_API_KEY_ID": "PK" + "K" * 18}, "APCA_API_SECRET_KEY"),
    ("broker.kind", "ccxt", {"QUANTSHIFT_EXCHANGE_API_KEY": "k" * 20}, "QUANTSHIFT_EXCHANGE_API_SECRET"),
])
def test_missing_keys_are_one_config_error_naming_the_variable(section, kind, env, missing):
    """Checked once, when the config is loaded: the adapters trust it."""
    key, _, value = section.partition(".")
    data = {"name": "equity", "metrics_port": 9200, "symbols": ["BTC/USDT"], key: {value: kind}}
    with pytest.raises(config.ConfigError) as ei:
        config.from_mapping(data, "e.yaml", env=env)
    assert str(ei.value) == (f"config error: e.yaml: {section}: {kind} needs {missing} in the "
                             f"environment (/opt/quantshift/.env)")


def test_refused_credentials_are_not_retried(broker_db, fake):
    b = AlpacaBroker(broker_db, "equity", api_key="wrong", api_secret="keys", base_url=fake.url, retry=FAST)
    with pytest.raises(BrokerError, match="401"):
        b.reconcile()
    assert len(fake.requests) == 1


def test_limit_orders_carry_the_limit_price(broker_db, fake):
    h = Harness.__new__(Harness)  # the conformance harness, on this module's fake
    h.kind, h.db, h.account_name, h.sym, h.qty = "alpaca", broker_db, "equity", "AAPL", 5.0
    h.broker = AlpacaBroker(broker_db, "equity", api_key=fake.key, api_secret=fake.secret, base_url=fake.url,
                            retry=FAST)
    fake.plan = "hold"
    req = h.pending("buy", order_type="limit", limit_price=170.5)
    assert h.broker.submit(req).status == "ACCEPTED"
    (post,) = [q for m, p, q in fake.requests if m == "POST"]
    assert '"limit_price": 170.5' in post["_body"] and '"type": "limit"' in post["_body"]
    assert f'"client_order_id": "{req.client_order_id}"' in post["_body"]


# ------------------------------------------------------------- bars --

def test_bars_for_many_symbols_come_from_one_paginated_request_then_only_new_bars(fake):
    now = time.time()
    fake.session_open = int(now // 60) * 60 - 200 * 60  # the fake market opened 200 minutes ago
    fake.bars_page_size = 150
    fake.bar_gaps = {"MSFT"}  # a thin symbol: every third minute has no trade, so no bar
    syms = ["AAPL", "MSFT", "SPY"]
    src = AlpacaSource(syms, 60, api_key=fake.key, api_secret=fake.secret, base_url=fake.url)
    src.retry = FAST
    end = src.latest_bar_ts(now)
    bars = src.fetch(syms, end, 60)
    reqs = [q for _m, p, q in fake.requests if p == "/v2/stocks/bars"]
    assert len(reqs) >= 3 and all(q["symbols"] == "AAPL,MSFT,SPY" for q in reqs)
    assert "page_token" not in reqs[0] and all(q.get("page_token") for q in reqs[1:])
    assert reqs[0]["timeframe"] == "1Min" and reqs[0]["feed"] == "iex"
    assert bars.symbols == tuple(syms) and len(bars) == 60 and int(bars.ts[-1]) == end
    assert np.all(np.diff(bars.ts) == 60)
    m = bars.symbols.index("MSFT")
    gap = [i for i, t in enumerate(bars.ts) if (int(t) // 60) % 3 == 0][1]
    assert bars.volume[gap, m] == 0 and bars.close[gap, m] == bars.close[gap - 1, m]  # carried, not invented
    assert np.isfinite(bars.close).all()
    # Next cycle: one small request for the new minute only.
    fake.requests.clear()
    nxt = src.fetch(syms, end + 60, 60)
    (q,) = [q for _m, p, q in fake.requests if p == "/v2/stocks/bars"]
    start = dt.datetime.fromisoformat(q["start"]).timestamp()
    assert end - 120 <= start <= end + 60  # from the oldest "newest bar" held (MSFT may lack the last minute)
    assert int(nxt.ts[-1]) == end + 60 and int(nxt.ts[0]) == int(bars.ts[1])
    assert src.quote(["AAPL"], now)[0] == nxt.close[-1, 0]


def test_a_split_replaces_the_cached_window_so_strategies_see_only_adjusted_prices(fake, redis_url, caplog):
    import logging

    from quantshift.marketdata import BarCache, MarketData
    from quantshift.marketdata.cache import decode

    now = [time.time()]
    fake.session_open = int(now[0] // 60) * 60 - 400 * 60
    syms = ["AAPL", "MSFT"]
    src = AlpacaSource(syms, 60, api_key=fake.key, api_secret=fake.secret, base_url=fake.url)
    src.retry = FAST
    cache = BarCache(redis_url)
    md = MarketData(src, cache, clock=lambda: now[0])
    first = md.latest(syms, 300)
    assert len(first.bars) == 300 and cache.client.exists(cache.key(src.name, 60, "AAPL"))
    assert all(q["adjustment"] == "all" for _m, p, q in fake.requests if p == "/v2/stocks/bars")
    a, m = first.bars.symbols.index("AAPL"), first.bars.symbols.index("MSFT")

    fake.split("AAPL", 4)  # overnight, say: Alpaca's adjusted history of AAPL is a quarter of what it was
    now[0] += 60
    fake.requests.clear()
    with caplog.at_level(logging.WARNING, logger="quantshift.marketdata.alpaca_bars"):
        second = md.latest(syms, 300)

    assert second.cache_hits == 0 and len(second.bars) == 300
    want = np.array([[fake.bar("AAPL", int(t))[k] for k in "ohlc"] for t in second.bars.ts])
    got = np.stack([second.bars.open[:, a], second.bars.high[:, a], second.bars.low[:, a],
                    second.bars.close[:, a]], axis=1)
    assert np.allclose(got, want)  # every bar of the window, not only the new one
    assert np.allclose(second.bars.close[:-1, a], first.bars.close[1:, a] / 4, rtol=1e-3)
    assert np.array_equal(second.bars.close[:-1, m], first.bars.close[1:, m])  # MSFT's window is kept
    # One overlapping request for both, then AAPL's window read again whole (and nothing else).
    reqs = [q for _m, p, q in fake.requests if p == "/v2/stocks/bars"]
    assert reqs[0]["symbols"] == "AAPL,MSFT" and {q["symbols"] for q in reqs[1:]} == {"AAPL"} and len(reqs) >= 2
    _last, _tf, ts, ohlcv = decode(cache.client.get(cache.key(src.name, 60, "AAPL")))
    assert np.allclose(ohlcv[3], [fake.bar("AAPL", int(t))["c"] for t in ts])  # Redis holds the adjusted window
    assert sum("adjusted history" in r.getMessage() for r in caplog.records) == 1
    # The next cycle finds nothing revised: one small request.
    now[0] += 60
    fake.requests.clear()
    md.latest(syms, 300)
    assert len([p for _m, p, _q in fake.requests if p == "/v2/stocks/bars"]) == 1
