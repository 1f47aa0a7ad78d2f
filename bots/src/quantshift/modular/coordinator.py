"""The trading coordinator: the one component that holds the account's lease and
writes its ledger (DESIGN §8, docs/modular.md).

It is the monolith's Bot with its inputs taken from the bus: the market data
service's bars events (the chunks to expect and their closes) and the signal
workers' signals, both read through the `coordinator` consumer group. A bar is
decided when every enabled strategy's signals for every chunk are in, or
modular.signal_wait_seconds after it was published: then without the missing
ones (degraded: metrics and a log line say which strategy). Votes are weighed by
the current regime's allocation; a regime older than regime.max_age_seconds (or
none) means the default allocation, and the regime service is never waited for.

At most once per bar: the decision is inserted into decided_bars under the
lease's fence before any order of that bar is planned, and only then are the
bar's entries acknowledged. A redelivered signal (a worker redoing an event, this
process restarted before its XACK, a new holder claiming the old one's entries)
finds its bar decided and is dropped. Bars older than the account's
max_bar_age_seconds are never traded: a market data outage stops trading rather
than trading on old prices.
"""
from __future__ import annotations

import logging
import math
import time
from types import SimpleNamespace

import numpy as np
import redis

from ..bot import Bot, CycleReport
from ..metrics import CoordinatorMetrics
from ..store import decided_bars
from .signal_book import PendingBar, SignalBook
from .streams import COORDINATOR_GROUP, Bus, bars_stream, consumer_name, signals_stream

log = logging.getLogger("quantshift.modular.coordinator")


class Coordinator(Bot):
    metrics_class = CoordinatorMetrics

    # ------------------------------------------------------------ inputs --
    def _init_inputs(self, source) -> None:
        cfg = self.cfg
        self.bus = Bus(cfg.redis.url, password=cfg.redis.password, maxlen=cfg.modular.stream_maxlen)
        self.streams = [bars_stream(cfg.name), signals_stream(cfg.name)]
        self.consumer = consumer_name("coordinator", 1, cfg.host_id)
        self.book = SignalBook(cfg.symbols, [s.name for s in self.strategies],
                               bars_stream=self.streams[0], timeframe_seconds=cfg.marketdata.timeframe_seconds,
                               max_bar_age_seconds=cfg.max_bar_age_seconds,
                               signal_wait_seconds=cfg.modular.signal_wait_seconds, clock=self.clock)
        self._ready: PendingBar | None = None
        self._deciding: PendingBar | None = None
        self._claimed = False
        self._bar_degraded = False
        self._bar_strategies: list[str] = []
        self._weights: dict[str, float] = {}
        self._recovered = False
        self._next_claim = 0.0
        self._next_stats = 0.0
        self._bus_error: str | None = None
        self._fallback_logged: bool | None = None
        self._source = SimpleNamespace(name=f"bus {self.streams[0]}")

    def quote(self, symbols):
        """The sim broker fills at the newest close the bus brought."""
        return self.book.quote(symbols)

    def _data_source(self):
        return self._source

    def _warm_up(self) -> None:
        m = self.metrics
        # At scrape time: a silent market data service shows as a growing age.
        m.market_data_age.set_function(self.book.market_data_age)
        m.regime.set(-1)
        with self.db.transaction() as cur:
            self.book.decided_upto = decided_bars.newest(cur, self.cfg.name)
        try:
            for stream in self.streams:
                self.bus.ensure_group(stream, COORDINATOR_GROUP, start="0")
        except redis.RedisError as e:
            self._bus_failed(e)  # the loop retries; the lease and heartbeat do not wait for Redis

    def _inputs(self, rep: CycleReport):
        bar, self._ready = self._ready, None
        m = self.metrics
        prices = self.quote(self.symbols)
        m.symbols_loaded.set(int(np.count_nonzero(np.isfinite(prices))))
        if bar is None:                      # housekeeping: sync, account, P&L
            rep.bar_ts = self.book.newest_bar
            return prices, None
        rep.bar_ts, rep.new_bar = bar.bar_ts, True
        sig, gaps = self.book.rows(bar)
        missing = [f"{name} ({got}/{expected} symbols)" for name, (got, expected) in gaps.items()]
        for name, row in sig.items():
            m.strategy_missing.labels(strategy=name).set(1 if name in gaps else 0)
            n = int(np.count_nonzero(row))
            rep.signals[name] = n
            if n:
                m.record_signals(name, n)
        self._bar_degraded = bool(missing)
        self._bar_strategies = [name for name in sig if name not in gaps]
        m.degraded.set(1 if missing else 0)
        if missing:
            log.warning("degraded: bar %d decided without all signals of %s (waited %.1f s)", bar.bar_ts,
                        ", ".join(missing), time.monotonic() - bar.seen_at)
        self._weights = self._allocation()
        self._deciding = bar
        return prices, sig

    def _allocation(self) -> dict[str, float]:
        """The current regime's weights per strategy; the default ones when the
        regime is missing or older than regime.max_age_seconds."""
        rc, m = self.cfg.regime, self.metrics
        try:
            regime = self.bus.get_regime(self.cfg.name)
        except redis.RedisError as e:
            self._bus_failed(e)
            regime = None
        age = (self.clock() - regime.updated_at) if regime is not None else math.inf
        m.regime_age.set(age if regime is not None else math.nan)
        fallback = regime is None or age > rc.max_age_seconds
        m.regime_fallback.set(1 if fallback else 0)
        m.regime.set(-1 if fallback else regime.regime_id)
        if fallback != self._fallback_logged:
            if fallback:
                why = ("no regime published yet" if regime is None
                       else f"the regime is {age:.0f} s old (max {rc.max_age_seconds:g} s)")
                log.warning("regime fallback for %s: %s; using the default allocation", self.cfg.name, why)
            else:
                log.info("regime %s for %s: using its allocation", regime.name, self.cfg.name)
            self._fallback_logged = fallback
        weights = rc.weights(None if fallback else regime.name)
        return {s.name: float(weights.get(s.name, 1.0)) for s in self.strategies}

    def _votes(self, sig: dict[str, np.ndarray], m: int):
        names = [s.name for s in self.strategies]
        w = np.array([self._weights.get(n, 1.0) for n in names])
        stacked = np.vstack([sig[n] for n in names]).astype(float) if names else np.zeros((0, m))
        weighted = stacked * w[:, None]
        votes = weighted.sum(axis=0) if len(names) else np.zeros(m)
        voters = ["+".join(n for n, v in zip(names, weighted[:, j]) if v != 0 and np.sign(v) == np.sign(votes[j]))
                  for j in range(m)]
        return votes, voters

    def _claim_decision(self, rep: CycleReport) -> bool:
        """The bar's decision goes into the ledger under the fence, before any of its
        orders is planned: a second decision of the same bar is refused here."""
        bar, m = self._deciding, self.metrics
        with self.db.transaction() as cur:
            fresh = decided_bars.claim(cur, self.cfg.name, bar.bar_ts, self.epoch, self.cfg.host_id,
                                       self._bar_strategies, self._bar_degraded)
        self._claimed = True
        m.decision_latency.observe(max(0.0, time.time() - bar.published_at))
        if not fresh:
            m.decisions.labels(result="duplicate").inc()
            log.warning("bar %d of %s was already decided: not acted on again", bar.bar_ts, self.cfg.name)
            return False
        m.decisions.labels(result="degraded" if self._bar_degraded else "complete").inc()
        self.book.decided_upto = max(self.book.decided_upto or 0, bar.bar_ts)
        return True

    # -------------------------------------------------------------- bus --
    def _bus_failed(self, e: Exception) -> None:
        self.metrics.record_error("redis")
        msg = f"{type(e).__name__}: {e}"
        if self._bus_error is None:
            log.error("the bus (redis) is unavailable: %s; no decisions until it is back", msg)
        self._bus_error = msg

    def _poll(self, block_ms: int) -> None:
        """Read what the bus has (this consumer's own pending entries first, then
        entries another consumer left, then new ones) into the pending bars."""
        bus, m = self.bus, self.metrics
        try:
            if not self._recovered:
                self._take(bus.read(COORDINATOR_GROUP, self.consumer, self.streams, pending=True))
                self._recovered = True
            if time.monotonic() >= self._next_claim:
                # A former holder's coordinator (another host) left entries unacknowledged.
                idle = int(self.cfg.modular.claim_idle_seconds * 1000)
                for stream in self.streams:
                    claimed = bus.claim_stale(stream, COORDINATOR_GROUP, self.consumer, idle)
                    if claimed:
                        log.info("took over %d entr(y/ies) of %s left by another coordinator", len(claimed), stream)
                        self._take(claimed)
                self._next_claim = time.monotonic() + max(1.0, idle / 2000)
            before = bus.lost
            self._take(bus.read(COORDINATOR_GROUP, self.consumer, self.streams, count=500, block_ms=block_ms))
            if bus.lost > before:
                m.bus_lost.inc(bus.lost - before)
                log.error("the coordinator's consumer group was gone (evicted or flushed): recreated")
            if time.monotonic() >= self._next_stats:
                self._export_stream_stats()
                self._next_stats = time.monotonic() + 5.0
        except redis.RedisError as e:
            self._bus_failed(e)
            self._sleep(min(1.0, block_ms / 1000))
            return
        if self._bus_error is not None:
            log.info("the bus is back")
            self._bus_error = None

    def _take(self, entries) -> None:
        done, late, problems = self.book.take(entries)
        for line in problems:
            log.error("dropping %s", line)
        if late:
            self.metrics.signals_late.inc(late)
        self._ack(done)

    def _ack(self, entries) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id in entries:
            by_stream.setdefault(stream, []).append(entry_id)
        try:
            for stream, ids in by_stream.items():
                self.bus.ack(stream, COORDINATOR_GROUP, ids)
        except redis.RedisError as e:
            self._bus_failed(e)  # unacknowledged entries come back and are dropped as decided

    def _export_stream_stats(self) -> None:
        m = self.metrics
        groups = [(self.streams[0], s.name) for s in self.strategies] + [
            (self.streams[0], "regime"), (self.streams[0], COORDINATOR_GROUP), (self.streams[1], COORDINATOR_GROUP)]
        for stream, group in groups:
            info = self.bus.group_info(stream, group)
            if info is not None:
                m.stream_pending.labels(stream=stream, group=group).set(info["pending"])
                m.stream_lag.labels(stream=stream, group=group).set(info["lag"])

    # ----------------------------------------------------------- decide --
    def _due(self) -> list[PendingBar]:
        due, dropped = self.book.due()
        for d in dropped:
            self.metrics.decisions.labels(result=d.result).inc()
            log.warning("bar %d of %s not traded: %s", d.bar.bar_ts, self.cfg.name, d.why)
            self._ack(d.bar.entries)
        return due

    def decide(self, bar: PendingBar) -> CycleReport:
        """One decision cycle for a bar. Its entries are acknowledged once the
        decision is in the ledger, or when this process may not trade; after any
        other failure (database, broker) the bar is tried again until it is stale."""
        self._ready, self._claimed = bar, False
        rep = self.cycle()
        done = self._claimed or not self.lease_valid()
        if done:
            self._ack(bar.entries)
        self.book.settle(bar, done)
        return rep

    def _wait(self, seconds: float) -> None:
        """Until the next heartbeat or housekeeping cycle: read the bus and decide
        every bar that is due."""
        end = time.monotonic() + seconds
        while not self.stop_event.is_set():
            self.notifier.keepalive()
            left = end - time.monotonic()
            if left <= 0:
                return
            self._poll(block_ms=max(10, int(min(left, 0.5) * 1000)))
            for bar in self._due():
                self.decide(bar)

    def shutdown(self) -> None:
        super().shutdown()
        self.bus.close()

