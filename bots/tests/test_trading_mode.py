"""The operator's path from the lab to real money (quantshift.trading_mode): what a
mode does to a base config, what it refuses, and which keys it then needs. The
deploy renders and checks every bot through these functions."""
from __future__ import annotations

import pytest

from quantshift import config, trading_mode
from quantshift.trading_mode import ModeError

EQUITY = {"name": "equity", "metrics_port": 9200, "symbols": ["AAPL"],
          "broker": {"kind": "alpaca", "initial_cash": 1000}, "marketdata": {"source": "alpaca"}}
CRYPTO = {"name": "crypto", "metrics_port": 9201, "symbols": ["BTC/USD"],
          "broker": {"kind": "ccxt", "exchange": "kraken"}, "marketdata": {"source": "ccxt"}}
KEYS = {"APCA_API_KEY_ID": "PK" + "A1" * 9, "APCA_API_SECRET_KEY": "s3" * 20}


def test_each_mode_sets_the_broker_and_the_package_loads_the_result():
    sim = trading_mode.apply(EQUITY, "sim", "synthetic")
    assert sim["broker"]["kind"] == "sim" and sim["marketdata"]["source"] == "synthetic"
    assert config.from_mapping(sim, "e.yaml", env={}).broker.kind == "sim"
    paper = trading_mode.apply(EQUITY, "paper")
    assert (paper["broker"]["kind"], paper["broker"]["paper"], paper["broker"]["allow_live"]) == ("alpaca", True, False)
    assert config.from_mapping(paper, "e.yaml", env=KEYS).broker.paper is True
    live = trading_mode.apply(EQUITY, "live", allow_live=True)
    assert (live["broker"]["paper"], live["broker"]["allow_live"]) == (False, True)
    assert EQUITY["broker"] == {"kind": "alpaca", "initial_cash": 1000}, "the base is left as it was"


def test_sim_trading_keeps_the_venues_real_candles():
    cfg = config.from_mapping(trading_mode.apply(CRYPTO, "sim", "venue"), "c.yaml", env={})
    assert (cfg.broker.kind, cfg.marketdata.source, cfg.marketdata.sandbox) == ("sim", "ccxt", False)


@pytest.mark.parametrize("base, mode, data, allow_live, message", [
    (EQUITY, "live", "venue", False, "mode live trades real money: set allow_live: true"),
    (EQUITY, "demo", "venue", False, "mode must be one of sim, paper, live, got 'demo'"),
    (EQUITY, "sim", "csv", False, "market_data must be one of venue, synthetic, got 'csv'"),
    (CRYPTO, "paper", "venue", False, "mode paper: kraken has no sandbox in ccxt"),
    ({**EQUITY, "broker": {"kind": "sim"}}, "paper", "venue", False, "mode paper needs a venue"),
])
def test_a_mode_that_cannot_be_deployed_is_refused_with_one_line(base, mode, data, allow_live, message):
    with pytest.raises(ModeError) as ei:
        trading_mode.apply(base, mode, data, allow_live)
    assert str(ei.value).startswith(message) and "\n" not in str(ei.value)


def test_keys_needed_follow_the_broker_and_the_market_data():
    assert trading_mode.key_problems(trading_mode.apply(CRYPTO, "sim"), {}) == []  # public candles
    # Alpaca bars need the account's keys even when the fills are simulated
    assert trading_mode.key_problems(trading_mode.apply(EQUITY, "sim"), {}) == [
        "APCA_API_KEY_ID is not set", "APCA_API_SECRET_KEY is not set"]
    assert trading_mode.key_problems(trading_mode.apply(EQUITY, "paper"), KEYS) == []
    live = trading_mode.apply(EQUITY, "live", allow_live=True)
    assert trading_mode.key_problems(live, KEYS) == [
        "APCA_API_KEY_ID is a paper account's key (PK...) but the bot trades live"]


def test_extras_follow_the_broker_and_the_market_data():
    assert trading_mode.extras(trading_mode.apply(EQUITY, "sim", "synthetic")) == []
    assert trading_mode.extras(trading_mode.apply(EQUITY, "paper")) == ["alpaca"]
    assert trading_mode.extras(trading_mode.apply(CRYPTO, "sim", "venue")) == ["ccxt"]  # real candles need ccxt


def test_a_venue_url_points_the_broker_and_the_venue_data_elsewhere_and_is_checked():
    paper = trading_mode.apply(EQUITY, "paper", venue_url="http://10.0.0.5:18081")
    assert paper["broker"]["base_url"] == paper["marketdata"]["base_url"] == "http://10.0.0.5:18081"
    assert config.from_mapping(paper, "e.yaml", env=KEYS).broker.base_url == "http://10.0.0.5:18081"
    # Simulated fills on synthetic data: nothing of the venue is used, nothing is pointed.
    sim = trading_mode.apply(EQUITY, "sim", "synthetic", venue_url="http://10.0.0.5:18081")
    assert "base_url" not in sim["broker"] and "base_url" not in sim["marketdata"]
    with pytest.raises(ModeError, match="^venue_url must start with http:// or https://, got '10.0.0.5:18081'$"):
        trading_mode.apply(EQUITY, "paper", venue_url="10.0.0.5:18081")
