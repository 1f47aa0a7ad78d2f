"""Venue profiles and the request budget (venues/profiles.py, venues/budget.py):
the figures are ccxt's own, a venue without a profile cannot trade, a symbol
list the venue cannot serve in half a cycle is refused at load with the
numbers, and every config this repository ships fits its budget."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantshift import config, trading_mode
from quantshift.config import ConfigError
from quantshift.venues import budget, profiles

ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIGS = sorted((ROOT / "roles/quantshift_bot/files/base_configs").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "bots/examples").glob("*.yaml"))
KEYS = {"APCA_API_KEY_ID": "PK" + "A1" * 9, "APCA_API_SECRET_KEY": "s3" * 20,
        "QUANTSHIFT_EXCHANGE_API_KEY": "k5" * 16, "QUANTSHIFT_EXCHANGE_API_SECRET": "x5" * 24}
# The endpoint ccxt's fetch_ohlcv calls on each profiled exchange (binance.py, kraken.py).
OHLCV_ENDPOINT = {"binance": ("public", "klines"), "binanceus": ("public", "klines"), "kraken": ("public", "OHLC")}


def _crypto(**over) -> dict:
    d = {"name": "crypto", "metrics_port": 9201, "symbols": ["BTC/USDT"],
         "broker": {"kind": "sim"}, "marketdata": {"source": "ccxt"}}
    d.update(over)
    return d


def _symbols(n: int, quote: str = "USDT") -> list[str]:
    return [f"C{i}/{quote}" for i in range(n)]


# ------------------------------------------------------------- profiles --

@pytest.mark.parametrize("exchange", sorted(profiles.PROFILES))
def test_the_profiles_candle_figures_are_ccxts(exchange):
    import ccxt

    ex = getattr(ccxt, exchange)()
    api, path = OHLCV_ENDPOINT[exchange]
    cost = ex.calculate_rate_limiter_cost([api], "GET", path, {}, ex.api[api]["get"][path])
    p = profiles.profile(exchange)
    assert p.candle_request_seconds == pytest.approx(ex.rateLimit / 1000 * cost)
    assert p.candles_per_request == ex.features["spot"]["fetchOHLCV"]["limit"]


def test_the_figures_used_are_kraken_1_2_s_and_binance_0_02_s_per_candle_request():
    assert budget.ccxt_request_seconds("kraken") == (1.2, 720)
    assert budget.ccxt_request_seconds("binance") == (0.02, 1000)
    assert budget.ccxt_request_seconds("binanceus") == (0.05, 1000)


def test_every_trading_profile_says_how_an_order_is_found_by_our_id():
    assert {name: (p.lookup, p.lookup_param) for name, p in profiles.PROFILES.items()} == {
        "binance": (profiles.BY_ORDER_PARAM, "origClientOrderId"),
        "binanceus": (profiles.BY_ORDER_PARAM, "origClientOrderId"),
        "kraken": (profiles.BY_LIST_FILTER, "clientOrderId")}


def test_coinbase_drops_our_client_order_id_in_ccxt():
    """Why coinbase is refused, checked against ccxt: create_order sends its own id."""
    import ccxt

    ex = ccxt.coinbase({"apiKey": "k", "secret": "s"})
    ex.markets = {"BTC/USD": {"id": "BTC-USD", "symbol": "BTC/USD", "spot": True, "type": "spot",
                              "precision": {"amount": 1e-8, "price": 0.01}, "limits": {}}}
    ex.markets_by_id = {"BTC-USD": [ex.markets["BTC/USD"]]}
    sent = {}
    ex.v3PrivatePostBrokerageOrders = lambda request: sent.update(request) or {}
    with pytest.raises(ccxt.InvalidOrder, match="requires a price"):
        ex.create_order("BTC/USD", "market", "buy", 0.01, None, {"clientOrderId": "qs-crypto-e1-abc"})
    ex.create_order("BTC/USD", "limit", "buy", 0.01, 50000, {"clientOrderId": "qs-crypto-e1-abc"})
    assert sent["client_order_id"].startswith("ccxt-") and "qs-crypto-e1-abc" not in str(sent)


# ---------------------------------------------------- refused at load --

@pytest.mark.parametrize("exchange, why", [
    ("coinbase", "ccxt's coinbase create_order replaces our client order id with its own (ccxt-<uuid>), so an "
                 "order whose answer is lost could not be found, and a market buy needs a price"),
    ("bitstamp", "no venue profile (client order id lookup, rate limit) for it"),
])
def test_trading_an_exchange_without_a_profile_is_one_config_line_naming_the_key(exchange, why):
    d = _crypto(broker={"kind": "ccxt", "exchange": exchange}, marketdata={"source": "synthetic"})
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "/etc/quantshift/crypto_config.yaml", env=KEYS)
    assert str(ei.value) == (f"config error: /etc/quantshift/crypto_config.yaml: broker.exchange: {exchange!r} "
                             f"cannot trade here: {why}; supported: binance, binanceus, kraken")


def test_check_config_refuses_coinbase_with_exit_78(tmp_path):
    p = tmp_path / "crypto_config.yaml"
    p.write_text(yaml.safe_dump(_crypto(broker={"kind": "ccxt", "exchange": "coinbase"})))
    r = subprocess.run([sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                        "sys.exit(bot_main(sys.argv[1:]))", "--config", str(p), "--check-config"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, **KEYS})
    assert r.returncode == 78 and r.stdout == ""
    assert r.stderr.splitlines() == [f"config error: {p}: broker.exchange: 'coinbase' cannot trade here: ccxt's "
                                     f"coinbase create_order replaces our client order id with its own "
                                     f"(ccxt-<uuid>), so an order whose answer is lost could not be found, and a "
                                     f"market buy needs a price; supported: binance, binanceus, kraken"]


def test_candles_from_any_ccxt_exchange_are_allowed_at_its_ccxt_rate_limit():
    import ccxt

    cfg = config.from_mapping(_crypto(marketdata={"source": "ccxt", "exchange": "coinbase"}), "c.yaml", env={})
    assert cfg.marketdata.exchange == "coinbase"
    each = ccxt.coinbase().rateLimit / 1000  # 34 ms: no profile, cost 1
    assert budget.ccxt_request_seconds("coinbase") == (each, ccxt.coinbase().features["spot"]["fetchOHLCV"]["limit"])
    # 300 candles + the forming one do not fit coinbase's 300 a request: 2 x 34 ms a symbol
    too_many = _crypto(symbols=_symbols(1000), marketdata={"source": "ccxt", "exchange": "coinbase"})
    with pytest.raises(ConfigError, match=r"^config error: c.yaml: marketdata: 1000 symbols on coinbase need 68 s "
                                          r"of requests per cycle, more than half the cycle interval \(30 s\): drop "
                                          r"559 symbols or raise cycle_interval_seconds to 136$"):
        config.from_mapping(too_many, "c.yaml", env={})


def test_candles_from_an_exchange_without_a_profile_need_ccxt_installed_to_know_its_rate_limit(monkeypatch):
    monkeypatch.setitem(sys.modules, "ccxt", None)  # `import ccxt` raises ImportError
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(_crypto(marketdata={"source": "ccxt", "exchange": "kucoin"}), "c.yaml", env={})
    assert str(ei.value) == ("config error: c.yaml: marketdata.source: ccxt candles from kucoin need the 'ccxt' "
                             "extra (its rate limit is read from ccxt)")
    # a profiled exchange's figures need no ccxt
    assert config.from_mapping(_crypto(), "c.yaml", env={}).broker.exchange == "binance"


def test_candles_from_an_id_ccxt_does_not_have_name_the_key():
    with pytest.raises(ConfigError, match=r"c.yaml: marketdata.exchange: 'mtgox' is not a ccxt exchange id$"):
        config.from_mapping(_crypto(marketdata={"source": "ccxt", "exchange": "mtgox"}), "c.yaml", env={})


# --------------------------------------------------------------- budget --

def test_fifty_symbols_on_kraken_do_not_fit_a_60_s_cycle_and_the_message_says_by_how_much():
    d = _crypto(symbols=_symbols(50, "USD"), broker={"kind": "sim", "exchange": "kraken"})
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "/etc/quantshift/crypto_config.yaml", env={})
    assert str(ei.value) == ("config error: /etc/quantshift/crypto_config.yaml: marketdata: 50 symbols on kraken "
                             "need 60 s of requests per cycle, more than half the cycle interval (30 s): drop 25 "
                             "symbols or raise cycle_interval_seconds to 120")
    # ... and either way out works
    assert config.from_mapping({**d, "symbols": d["symbols"][:25]}, "c.yaml", env={}).symbols[-1] == "C24/USD"
    assert config.from_mapping({**d, "cycle_interval_seconds": 120}, "c.yaml", env={}).cycle_interval_seconds == 120


def test_a_lookback_longer_than_one_request_counts_every_request():
    # 1500 candles on binance: two klines requests per symbol
    assert budget.ccxt_seconds("binance", 10, 1500) == pytest.approx(10 * 2 * 0.02)
    assert budget.ccxt_seconds("binance", 10, 300) == pytest.approx(10 * 0.02)


def test_alpacas_first_cycle_is_pages_of_all_symbols_bars_at_200_requests_a_minute():
    # 1Min, 300 bars: the first request spans 5.4 days, at most 5 trading days of 16 h
    # = 4800 bars a symbol; 101 symbols = 484 800 bars = 49 pages of 10 000 at 0.3 s.
    assert budget.calendar_span(60, 300) == int(5.4 * 86400)
    assert budget.alpaca_seconds(101, 60, 300) == pytest.approx(49 * 0.3)
    assert budget.alpaca_seconds(2, 86400, 60) == pytest.approx(0.3)  # daily bars: one page
    d = {"name": "equity", "metrics_port": 9200, "symbols": [f"S{i}" for i in range(300)],
         "broker": {"kind": "alpaca"}, "marketdata": {"source": "alpaca"}}
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "e.yaml", env=KEYS)
    assert str(ei.value) == ("config error: e.yaml: marketdata: 300 symbols on alpaca need 43.2 s of requests in "
                             "the first cycle, more than half the cycle interval (30 s): drop 92 symbols or raise "
                             "cycle_interval_seconds to 87")


def test_local_market_data_has_no_budget():
    assert budget.candle_budget("synthetic", "kraken", 5000, 60, 300, 1.0) is None
    cfg = config.from_mapping(_crypto(symbols=_symbols(500, "USD"), broker={"kind": "sim", "exchange": "kraken"},
                                      marketdata={"source": "synthetic"}), "c.yaml", env={})
    assert len(cfg.symbols) == 500


# ------------------------------------------------------- symbol format --

@pytest.mark.parametrize("broker, marketdata", [
    ({"kind": "ccxt", "exchange": "binance", "paper": True}, {"source": "synthetic"}),
    ({"kind": "sim"}, {"source": "ccxt"}),
])
def test_a_crypto_symbol_not_in_ccxts_unified_form_names_its_index(broker, marketdata):
    d = _crypto(symbols=["BTC/USDT", "ETHUSDT"], broker=broker, marketdata=marketdata)
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "c.yaml", env=KEYS)
    assert str(ei.value) == ("config error: c.yaml: symbols[1]: 'ETHUSDT' is not a ccxt unified spot symbol "
                             "(BASE/QUOTE, e.g. BTC/USDT)")


def test_unified_symbols_with_digits_pass_and_stocks_need_no_slash():
    cfg = config.from_mapping(_crypto(symbols=["1INCH/USDT", "BTC/USDT"]), "c.yaml", env={})
    assert cfg.symbols == ["1INCH/USDT", "BTC/USDT"]
    assert config.from_mapping({"name": "equity", "metrics_port": 9200, "symbols": ["BRK.B"]}, "e.yaml",
                               env={}).symbols == ["BRK.B"]


# ------------------------------------------------------ shipped configs --

def _deployable(base: dict, name: str, mode: str) -> dict:
    """A base config as the role renders it (quantshift_bot/templates/bot_config.yaml.j2):
    the mode's broker and market data, then what the deploy adds."""
    cfg = trading_mode.apply(base, mode, "venue")
    cfg.update(name=name, metrics_port=9200, host_id="ct100")
    return cfg


@pytest.mark.parametrize("path", BASE_CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("mode", ["sim", "paper"])
def test_every_base_config_fits_its_venues_request_budget_in_every_mode(path, mode):
    base = yaml.safe_load(path.read_text())
    cfg = config.from_mapping(_deployable(base, path.stem, mode), str(path), env=KEYS)
    found = config.candle_budget(cfg)
    assert found is not None and found.fits, found  # real market data, within half the cycle
    assert 45 <= len(cfg.symbols) <= 105  # the seed's lists, not a trimmed one


def test_the_crypto_base_config_trades_binance_and_would_not_fit_on_kraken():
    base = yaml.safe_load((ROOT / "roles/quantshift_bot/files/base_configs/crypto.yaml").read_text())
    assert base["broker"]["exchange"] == "binance" == config.BrokerConfig.exchange
    kraken = _deployable({**base, "broker": {**base["broker"], "exchange": "kraken"},
                          "symbols": [s.replace("/USDT", "/USD") for s in base["symbols"]]}, "crypto", "sim")
    with pytest.raises(ConfigError, match="marketdata: 50 symbols on kraken need 60 s"):
        config.from_mapping(kraken, "crypto.yaml", env={})


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_loads_and_fits_with_its_venues_real_data(path):
    example = yaml.safe_load(path.read_text())
    assert config.load(path, env={}).marketdata.source == "synthetic"
    venue = {"equity": "alpaca", "crypto": "ccxt"}[example["name"]]
    real = config.from_mapping({**example, "marketdata": {**example["marketdata"], "source": venue}}, str(path),
                               env=KEYS)
    assert config.candle_budget(real).fits
