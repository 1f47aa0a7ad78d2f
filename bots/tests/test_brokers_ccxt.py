"""ccxt specifics (binance spot on the loopback fake): the client-order-id
parameter, ccxt's own retry switched off, the rate limiter on, Binance's
partial-then-expired market orders and fees in the bought asset, per-exchange
id limits, and batched candles. No request leaves 127.0.0.1."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs

import pytest

from quantshift.brokers import CcxtBroker
from quantshift.marketdata import CcxtSource
from quantshift.venues.ccxt_client import make_exchange
from quantshift.venues.startup_errors import AdapterConfigError

from .fake_venues import FakeBinance
from .test_brokers_fake_venues import Harness, _broker_database, broker_db  # noqa: F401


@pytest.fixture
def venue(broker_db):
    h = Harness("ccxt", broker_db)
    h.broker.reconcile()
    yield h
    h.close()


def test_exchange_is_rate_limited_and_never_retries_a_request_by_itself():
    ex = make_exchange("binance", api_key="k", api_secret="s", paper=False, timeout_seconds=7)
    assert ex.enableRateLimit is True and ex.rateLimit == 50  # binance's own spacing, untouched
    assert ex.options["maxRetriesOnFailure"] == 0 and ex.timeout == 7000
    assert ex.urls["api"]["private"] == "https://api.binance.com/api/v3"
    paper = make_exchange("binance", paper=True)
    assert paper.urls["api"]["private"].startswith("https://testnet.binance.vision")


def test_the_profiles_sandbox_facts_are_ccxts():
    """The deploy refuses paper trading where a profile says there is no sandbox
    (quantshift.trading_mode, no ccxt on that path): the profile must agree with ccxt."""
    import ccxt

    from quantshift.venues import profiles

    checked = {name: p.has_sandbox for name, p in profiles.PROFILES.items() if p.has_sandbox is not None}
    assert checked, "no profile states a sandbox"
    assert {name: bool(getattr(ccxt, name)().urls.get("test")) for name in checked} == checked


def test_unknown_exchange_and_paper_without_a_sandbox_are_config_errors():
    with pytest.raises(AdapterConfigError, match=r"not a ccxt exchange id \(e.g. binance, binanceus, kraken\)"):
        make_exchange("mtgox")
    with pytest.raises(AdapterConfigError, match="kraken has no sandbox"):
        make_exchange("kraken", paper=True)
    with pytest.raises(AdapterConfigError, match="one quote currency"):
        CcxtBroker(None, "crypto", ["BTC/USDT", "ETH/USD"], exchange_id="binance", api_key="k", api_secret="s")


def test_client_order_id_fits_each_exchange():
    kraken = CcxtBroker(None, "crypto", ["BTC/USD"], exchange_id="kraken", api_key="k", api_secret="s", paper=False)
    coid = kraken.new_client_order_id("crypto", 3)
    assert len(coid) <= 18 and coid.startswith("crypto-e3-")  # kraken cl_ord_id free text: 18 characters
    binance = CcxtBroker(None, "crypto", ["BTC/USDT"], exchange_id="binance", api_key="k", api_secret="s",
                         paper=False)
    coid = binance.new_client_order_id("crypto", 123)
    assert re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", coid) and coid.startswith("qs-crypto-e123-")


def test_order_goes_out_signed_with_our_id_as_newClientOrderId(venue):
    req = venue.pending("buy")
    assert venue.broker.submit(req).status == "FILLED"
    (post,) = [q for m, p, q in venue.fake.requests if m == "POST"]
    body = {k: v[-1] for k, v in parse_qs(post["_body"]).items()}
    assert body["newClientOrderId"] == req.client_order_id
    assert (body["symbol"], body["side"], body["type"], body["quantity"]) == ("BTCUSDT", "BUY", "MARKET", "0.015")
    assert body["newOrderRespType"] == "FULL" and body["signature"]  # the fake checks the HMAC


def test_fee_charged_in_the_bought_asset_is_booked_in_the_quote_currency(venue):
    req = venue.pending("buy")
    venue.broker.submit(req)
    (f,) = venue.fills(req.client_order_id)
    assert f.fee == pytest.approx(0.015 * 0.001 * 68250.0)
    acct = venue.broker.account()
    assert acct.positions["BTC/USDT"].qty == pytest.approx(0.015 * 0.999)  # the fee came out of the BTC
    assert acct.positions["BTC/USDT"].avg_price == pytest.approx(68250.0)  # from our fill: balances have none


def test_market_order_expired_after_a_partial_fill_books_only_the_executed_part(venue):
    venue.fake.plan = "expire_partial"  # thin book: Binance fills what it can and expires the rest
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "CANCELED" and res.filled_qty == pytest.approx(0.0075)
    assert [f.qty for f in venue.fills(req.client_order_id)] == pytest.approx([0.0075])
    assert "EXPIRED" in venue.order(req.client_order_id).error
    assert venue.posts() == 1 and venue.broker.sync() == []


def test_dust_below_the_lot_size_is_not_a_position(venue):
    venue.fake.hold("ETH/USDT", 0.00004, 0)  # ETHUSDT minQty 0.0001
    assert "ETH/USDT" not in venue.broker.account().positions


def test_candles_are_fetched_per_symbol_in_one_batch_without_the_forming_one():
    fake = FakeBinance()
    try:
        src = CcxtSource(["BTC/USDT", "ETH/USDT"], 60, exchange="binance", paper=False, base_url=fake.url)
        src.exchange.rateLimit = 1  # spacing only; the limiter stays on
        now = time.time()
        end = src.latest_bar_ts(now)
        bars = src.fetch(["BTC/USDT", "ETH/USDT"], end, 30)
        klines = [q for _m, p, q in fake.requests if p == "/api/v3/klines"]
        assert [q["symbol"] for q in klines] == ["BTCUSDT", "ETHUSDT"] and klines[0]["interval"] == "1m"
        assert int(klines[0]["startTime"]) == (end - 29 * 60) * 1000
        assert len(bars) == 30 and int(bars.ts[-1]) == end  # the fake also served the forming candle
        fake.requests.clear()
        src.fetch(["BTC/USDT", "ETH/USDT"], end + 60, 30)
        klines = [q for _m, p, q in fake.requests if p == "/api/v3/klines"]
        assert [int(q["startTime"]) for q in klines] == [(end + 60) * 1000] * 2  # only what is new
    finally:
        fake.close()


def test_an_unusable_exchange_is_a_one_line_config_error_with_exit_78(tmp_path):
    import os
    import subprocess
    import sys

    import yaml

    p = tmp_path / "crypto.yaml"
    p.write_text(yaml.safe_dump({"name": "crypto", "metrics_port": 9201, "symbols": ["BTC/USDT"],
                                 "broker": {"kind": "ccxt", "exchange": "mtgox", "paper": False,
                                            "allow_live": True},
                                 "database": {"dsn": "host=127.0.0.1 port=1 dbname=x connect_timeout=1"}}))
    env = dict(os.environ, QUANTSHIFT_EXCHANGE_API_KEY="k" * 20, QUANTSHIFT_EXCHANGE_API_SECRET="s" * 20)
    r = subprocess.run([sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                        "sys.exit(bot_main(sys.argv[1:]))", "--config", str(p), "--once"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 78, r.stderr
    assert r.stderr.strip() == (f"config error: {p}: broker.exchange: 'mtgox' cannot trade here: no venue profile "
                                f"(client order id lookup, rate limit) for it; supported: binance, binanceus, kraken")


def test_a_missing_extra_is_named(monkeypatch):
    import importlib.util

    from quantshift.venues.startup_errors import ExtraMissing

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ccxt" else real(name, *a))
    with pytest.raises(ExtraMissing, match=r"needs the 'ccxt' extra: pip install 'quantshift\[ccxt\]'"):
        CcxtBroker(None, "crypto", ["BTC/USDT"], exchange_id="binance", api_key="k", api_secret="s")
    with pytest.raises(ExtraMissing, match="marketdata.source ccxt needs the 'ccxt' extra"):
        CcxtSource(["BTC/USDT"], 60, exchange="binance")
