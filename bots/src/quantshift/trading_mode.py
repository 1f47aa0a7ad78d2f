"""The operator's path from the lab to real money, as config: a bot's trading mode
and market data turned into its broker and marketdata settings, and the broker keys
that this needs. The deploy renders each bot's config through these functions
(filter_plugins/quantshift.py) and its preflight checks the vault with them, so the
rules exist once, here.

mode (the inventory's per-bot `mode`, default `quantshift_bot_mode`):
  sim    fills simulated locally (the sim broker), whatever venue the base names;
  paper  the base's venue (Alpaca, a ccxt exchange) on its paper endpoint / sandbox;
  live   the venue for real money: only with allow_live: true, refused otherwise.
market_data (`market_data`, default `quantshift_bot_market_data`):
  venue      the base config's source (Alpaca bars, the exchange's real candles);
  synthetic  the seeded offline feed (the lab: no internet).
Trading venue and market data are independent: sim trading on real candles works.
venue_url (`venue_urls`, per bot; default none): the venue's API at another
address - a proxy, or the lab's recorded fake venues - for its broker and, when
the data comes from the venue, its market data.
"""
from __future__ import annotations

import copy
from typing import Mapping

from .config import BrokerConfig
from .venues import credentials, profiles

MODES = ("sim", "paper", "live")
MARKET_DATA = ("venue", "synthetic")


class ModeError(ValueError):
    """A mode or market data value that cannot be deployed; str() is one line."""


def apply(base: Mapping, mode: str, market_data: str = "venue", allow_live: bool = False,
          venue_url: str | None = None) -> dict:
    """The base config with broker/marketdata set for the mode (a new dict)."""
    if mode not in MODES:
        raise ModeError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if market_data not in MARKET_DATA:
        raise ModeError(f"market_data must be one of {', '.join(MARKET_DATA)}, got {market_data!r}")
    if mode == "live" and not allow_live:
        raise ModeError("mode live trades real money: set allow_live: true on the bot to confirm")
    cfg = copy.deepcopy(dict(base))
    broker = cfg.setdefault("broker", {})
    if mode == "sim":
        broker["kind"] = "sim"
    elif broker.get("kind", "sim") == "sim":
        raise ModeError(f"mode {mode} needs a venue: the base config's broker.kind is sim")
    else:
        exchange = broker.get("exchange", BrokerConfig.exchange)  # the package's default venue
        if mode == "paper" and broker["kind"] == "ccxt" and profiles.profile(exchange).has_sandbox is False:
            raise ModeError(f"mode paper: {exchange} has no sandbox in ccxt; run it in mode sim (on its real "
                            f"candles) or trade an exchange with a testnet (binance)")
        broker["paper"] = mode == "paper"
        broker["allow_live"] = mode == "live"
    if market_data == "synthetic":
        cfg.setdefault("marketdata", {})["source"] = "synthetic"
    if venue_url:
        if not venue_url.startswith(("http://", "https://")):
            raise ModeError(f"venue_url must start with http:// or https://, got {venue_url!r}")
        if broker["kind"] != "sim":
            broker["base_url"] = venue_url
        if cfg.get("marketdata", {}).get("source") in ("alpaca", "ccxt"):
            cfg["marketdata"]["base_url"] = venue_url
    return cfg


def extras(cfg: Mapping) -> list[str]:
    """The package extras a config needs installed: its broker's and its market data's
    client libraries (alpaca-py, ccxt)."""
    used = {cfg.get("broker", {}).get("kind"), cfg.get("marketdata", {}).get("source")}
    return sorted(used & {"alpaca", "ccxt"})


def key_problems(cfg: Mapping, env: Mapping[str, object]) -> list[str]:
    """'VARIABLE what is wrong' for every key the config's broker and market data
    need from the environment (never a value)."""
    broker = cfg.get("broker", {})
    kind = broker.get("kind", "sim")
    found = [f"{var} {why}" for var, why in credentials.problems(kind, env, paper=broker.get("paper", True))]
    if cfg.get("marketdata", {}).get("source") == "alpaca" and kind != "alpaca":
        found += [f"{var} {why}" for var, why in credentials.problems("alpaca", env)]
    return found
