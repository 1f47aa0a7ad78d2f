"""The market data service: the one component that talks to the data API.

Once per bar (on the cycle grid) it fetches the account's OHLCV window through
MarketData, which writes every symbol's bars into the Redis bar cache, and then
publishes "new bars" on qs:<account>:bars: one entry per chunk of symbols, so
the instances of a strategy share the chunks. The cache is written first, so a
worker that reads an event finds its bars. Nothing is published while the
source fails: the workers idle, the coordinator's market data age grows and
QuantShiftMarketDataStale fires.
"""
from __future__ import annotations

import contextlib
import logging
import time

import redis

from ..marketdata import BarCache, MarketData, build_source
from ..metrics import MarketDataMetrics
from ..cadence import next_slot_wait
from .component import Component
from .streams import BarsEvent, bars_stream

log = logging.getLogger("quantshift.modular.market_data")


class MarketDataService(Component):
    kind = "market-data"

    def __init__(self, cfg, metrics: MarketDataMetrics, *, source=None, **kw):
        super().__init__(cfg, metrics, **kw)
        r = cfg.redis
        cache = BarCache(r.url, password=r.password, ttl_seconds=r.bars_ttl_seconds,
                         socket_timeout=max(r.socket_timeout_seconds, 2.0))
        self.md = MarketData(source if source is not None else build_source(cfg), cache, clock=self.clock)
        if hasattr(self.md.source, "instrument"):
            self.md.source.instrument(metrics, self.notifier.keepalive)
        self.stream = bars_stream(cfg.name)
        self.last_published: int | None = None
        self._failing = False

    def status(self) -> str:
        return f"market data for {self.cfg.name}: {len(self.cfg.symbols)} symbols from {self.md.source.name}"

    def step(self) -> None:
        published = self.publish_newest()
        self.metrics.market_data_age.set(max(0.0, self.clock() - self._newest_close()))
        if not published:
            self.sleep(next_slot_wait(self.clock(), self.cfg.cycle_interval_seconds))

    def _newest_close(self) -> float:
        tf = self.md.source.timeframe_seconds
        return (self.last_published + tf) if self.last_published is not None else self.clock()

    def publish_newest(self) -> bool:
        """Fetch and publish the newest completed bar if it was not published yet.
        True when an event was published. Source errors are counted and logged;
        Redis errors propagate (the loop counts them as bus errors)."""
        cfg, m = self.cfg, self.metrics
        end_ts = self.md.source.latest_bar_ts(self.clock())
        if end_ts == self.last_published:
            return False
        # Network sources time their own requests (api_latency_seconds); others are timed here.
        timer = contextlib.nullcontext() if getattr(self.md.source, "self_timed", False) else m.time_api()
        try:
            with timer:
                fetch = self.md.latest(cfg.symbols, cfg.marketdata.lookback_bars)
        except Exception as e:
            m.record_error("data")
            if not self._failing:
                log.error("market data for %s failed: %s; nothing published until it answers", cfg.name, e)
            self._failing = True
            return False
        if self._failing:
            log.info("market data for %s is back", cfg.name)
            self._failing = False
        if fetch.redis_error:
            # Without the cache the workers cannot read the bars: publishing would
            # only make them report missing symbols.
            raise redis.ConnectionError(fetch.redis_error)
        bars = fetch.bars
        bar_ts = int(bars.ts[-1])
        size = cfg.modular.chunk_size
        chunks = [list(range(i, min(i + size, len(bars.symbols)))) for i in range(0, len(bars.symbols), size)]
        now = time.time()
        last = (bars.open[-1], bars.high[-1], bars.low[-1], bars.close[-1], bars.volume[-1])
        events = [BarsEvent(bar_ts, k, len(chunks), tuple(bars.symbols[j] for j in idx),
                            tuple(tuple(float(v[j]) for j in idx) for v in last), self.md.source.name,
                            bars.timeframe_seconds, cfg.marketdata.lookback_bars, now).fields()
                  for k, idx in enumerate(chunks)]
        self.bus.add_many(self.stream, events)
        self.last_published = bar_ts
        m.symbols_loaded.set(len(bars.symbols))
        m.bars_published.inc()
        m.last_publish.set(now)
        log.info("published bar %d for %s: %d symbols in %d chunks (%d from the cache)", bar_ts, cfg.name,
                 len(bars.symbols), len(chunks), fetch.cache_hits)
        return True
