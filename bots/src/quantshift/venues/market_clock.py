"""Is the bot's market open? The bot sends no orders while it is closed
(signals are still computed) and exports the answer as `_market_open`, which
the alert rules use instead of hard-coded session hours.

Which clock a bot follows is derived from where it trades and what it reads
(`build_clock`), not set by a key that could contradict the venue:

* broker `alpaca`, or any broker on `alpaca` market data (the sim broker on
  Alpaca's bars simulates US equity trading): the US equity session, read
  from Alpaca's `GET /v2/clock` (holidays and early closes included);
* everything else - ccxt (crypto never closes), synthetic and csv (bars
  around the clock): always open.
"""
from __future__ import annotations

import logging

from .errors import BrokerUnavailable
from .retry import RetryPolicy, read_with_backoff
from .telemetry import Telemetry
from .timestamps import parse_rfc3339

log = logging.getLogger(__name__)


class AlwaysOpen:
    """A 24/7 market."""
    name = "24/7"

    def is_open(self, now: float) -> bool:
        return True


class AlpacaClock:
    """US equity session from `GET /v2/clock`. The answer says when it next
    changes (next_close while open, next_open while closed), so it is kept
    until then: about one request per session change, not one per cycle.
    Reads back off and are counted like every other venue read; when they
    are used up, is_open raises BrokerUnavailable."""
    name = "alpaca"

    def __init__(self, *, api_key: str | None, api_secret: str | None, paper: bool = True,
                 base_url: str | None = None, timeout_seconds: float = 10.0, retry: RetryPolicy | None = None,
                 sleep=None):
        from alpaca.trading.client import TradingClient

        from . import alpaca_client

        self._ac = alpaca_client
        self.client = alpaca_client.harden(
            TradingClient(api_key, api_secret, paper=paper, raw_data=True, url_override=base_url), timeout_seconds)
        self.retry = retry or RetryPolicy()
        self.telemetry = Telemetry("broker", **({"sleep": sleep} if sleep else {}))
        self.requests = 0
        self._open: bool | None = None
        self._until = 0.0

    def instrument(self, metrics=None, keepalive=None) -> None:
        self.telemetry.attach(metrics, keepalive)

    def _read(self) -> dict:
        def call():
            self.requests += 1
            with self.telemetry.timed():
                try:
                    return self.client.get_clock()
                except Exception as e:
                    raise self._ac.translate(e) from e

        return read_with_backoff("alpaca clock", call, self.retry, self.telemetry)

    def is_open(self, now: float) -> bool:
        if self._open is None or now >= self._until:
            d = self._read()
            change = parse_rfc3339(d.get("next_close") if d.get("is_open") else d.get("next_open"))
            if not isinstance(d.get("is_open"), bool) or change is None:
                raise BrokerUnavailable(f"alpaca clock: unreadable answer {d!r}"[:300])
            self._open, self._until = d["is_open"], change.timestamp()
            log.info("alpaca clock: market %s until %s", "open" if self._open else "closed",
                     d["next_close"] if self._open else d["next_open"])
        return self._open


def build_clock(cfg):
    """The clock of a bot config (see the module docstring for the rule)."""
    b, md = cfg.broker, cfg.marketdata
    if b.kind == "alpaca":
        return AlpacaClock(api_key=b.api_key, api_secret=b.api_secret, paper=b.paper, base_url=b.base_url,
                           timeout_seconds=b.timeout_seconds)
    if md.source == "alpaca":  # a simulated broker on Alpaca's bars: the data account's keys, paper endpoint
        return AlpacaClock(api_key=md.api_key, api_secret=md.api_secret, paper=True, base_url=b.base_url,
                           timeout_seconds=b.timeout_seconds)
    return AlwaysOpen()
