"""A signal worker: one strategy, a share of the symbols.

Every instance of a strategy is a consumer of that strategy's group on
qs:<account>:bars, so each chunk event goes to one of them. The worker reads
the chunk's bars from the bar cache, computes the strategy's signal for the
newest bar and, in one MULTI, publishes them on qs:<account>:signals and
acknowledges the event: a worker killed before that leaves the event pending,
and it is redone by the same consumer after its restart or taken over
(XAUTOCLAIM) by another instance once it has been idle claim_idle_seconds. A
redone event publishes the same (bar, chunk, strategy) again; the coordinator
acts on each at most once.

A worker that computed a chunk's previous bar keeps the strategy's live state for
it and updates it with the newest bar carried by the event (O(symbols), the
monolith's incremental path); otherwise it reads the chunk's window from the bar
cache and primes the state from it (both paths give identical signals).
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ..marketdata import BarCache, BarRow, Bars
from ..metrics import SignalWorkerMetrics
from ..strategies import build_strategies
from .component import Component
from .streams import COORDINATOR_GROUP, BarsEvent, SignalsMessage, bars_stream, consumer_name, signals_stream

log = logging.getLogger("quantshift.modular.signal_worker")


def bars_from_cache(cache: BarCache, ev: BarsEvent) -> Bars | None:
    """The event's bars for the symbols the cache still holds (None: none)."""
    hits = cache.get_many(ev.source, ev.timeframe, ev.symbols, ev.bar_ts, ev.lookback)
    symbols = tuple(s for s in ev.symbols if s in hits)
    if not symbols:
        return None
    ts = hits[symbols[0]][0]
    arr = np.stack([hits[s][1] for s in symbols], axis=2)   # (5, T, m)
    return Bars(symbols, np.asarray(ts, dtype=np.int64), arr[0], arr[1], arr[2], arr[3], arr[4], ev.timeframe)


class SignalWorker(Component):
    kind = "signal-worker"

    def __init__(self, cfg, metrics: SignalWorkerMetrics, strategy: str, instance: int = 1, *,
                 host: str | None = None, **kw):
        super().__init__(cfg, metrics, **kw)
        found = [s for s in build_strategies(cfg) if s.name == strategy]
        if not found:
            raise ValueError(f"strategy {strategy!r} is not enabled in the config")
        self.strategy = found[0]
        self.instance = instance
        self.group = strategy
        self.consumer = consumer_name(strategy, instance, host or cfg.host_id)
        self.stream = bars_stream(cfg.name)
        self.out = signals_stream(cfg.name)
        r = cfg.redis
        self.cache = BarCache(r.url, password=r.password, socket_timeout=max(r.socket_timeout_seconds, 2.0))
        self.claim_idle_ms = int(cfg.modular.claim_idle_seconds * 1000)
        self._next_claim = 0.0
        self._recovered = False
        # chunk symbols -> (bar_ts the state has consumed, the strategy's live state)
        self.live: dict[tuple[str, ...], tuple[int, object]] = {}

    def status(self) -> str:
        return f"signal worker {self.strategy.name} #{self.instance} for {self.cfg.name} ({self.consumer})"

    def setup(self) -> None:
        # Groups start at the stream's beginning: a bar published before a group
        # existed is still seen (and skipped below when it is too old to trade).
        self.bus.ensure_group(self.stream, self.group, start="0")
        self.bus.ensure_group(self.out, COORDINATOR_GROUP, start="0")

    def step(self) -> None:
        if not self._recovered:
            # Events this consumer read before a crash or restart come first.
            self._handle(self.bus.read(self.group, self.consumer, [self.stream], pending=True), redone=True)
            self._recovered = True
        if time.monotonic() >= self._next_claim:
            claimed = self.bus.claim_stale(self.stream, self.group, self.consumer, self.claim_idle_ms)
            if claimed:
                self.metrics.messages_claimed.inc(len(claimed))
                log.warning("%s took over %d event(s) left unacknowledged by another %s worker", self.consumer,
                            len(claimed), self.strategy.name)
                self._handle(claimed, redone=True)
            self._next_claim = time.monotonic() + max(1.0, self.claim_idle_ms / 2000)
        before = self.bus.lost
        entries = self.bus.read(self.group, self.consumer, [self.stream], count=20, block_ms=1000)
        if self.bus.lost > before:
            self.metrics.bus_lost.inc(self.bus.lost - before)
            log.error("the %s consumer group on %s was gone (evicted or flushed): recreated", self.group,
                      self.stream)
        self._handle(entries)

    def _handle(self, entries, redone: bool = False) -> None:
        """Compute every entry read, then publish all the signals and acknowledge all
        the events in one MULTI: a worker killed before it leaves every one of
        them pending (redone later), never some published and others lost."""
        out, acks = [], []
        for _stream, entry_id, fields in entries:
            self.notifier.keepalive()
            acks.append(entry_id)
            try:
                ev = BarsEvent.parse(fields)
            except (KeyError, ValueError) as e:
                log.error("dropping malformed bars event %s: %s", entry_id, e)
                continue
            if self.clock() - (ev.bar_ts + ev.timeframe) > self.cfg.max_bar_age_seconds:
                continue  # the coordinator would not trade it
            msg = self.compute(ev)
            out.append(msg)
            if redone:
                log.info("redid bar %d chunk %d (%s)", ev.bar_ts, ev.chunk, entry_id)
        if not acks:
            return
        pipe = self.bus.r.pipeline(transaction=True)
        for msg in out:
            pipe.xadd(self.out, msg.fields(), maxlen=self.bus.maxlen, approximate=True)
        pipe.xack(self.stream, self.group, *acks)
        pipe.execute()
        self.metrics.messages_processed.inc(len(out))
        self.metrics.signals.inc(sum(1 for msg in out for x in msg.signals if x))

    def compute(self, ev: BarsEvent) -> SignalsMessage:
        symbols, signals = self._incremental(ev) or self._from_window(ev)
        missing = len(ev.symbols) - len(symbols)
        if missing:
            self.metrics.record_error("data")
            log.warning("%s: %d of %d symbols of bar %d chunk %d had no bars in the cache", self.strategy.name,
                        missing, len(ev.symbols), ev.bar_ts, ev.chunk)
        self.metrics.symbols_loaded.set(len(symbols))
        # Keep only states that can still be continued (this bar's chunks).
        for key in [k for k, (ts, _) in self.live.items() if ts < ev.bar_ts - ev.timeframe]:
            del self.live[key]
        return SignalsMessage(self.strategy.name, ev.bar_ts, ev.chunk, symbols, signals, self.consumer,
                              ev.published_at)

    def _incremental(self, ev: BarsEvent):
        held = self.live.get(ev.symbols)
        if held is None or held[0] != ev.bar_ts - ev.timeframe:
            return None
        o, h, low, c, v = (np.asarray(x, dtype=float) for x in ev.newest)
        try:
            row = held[1].update(BarRow(ev.bar_ts, o, h, low, c, v))
        except Exception as e:
            self.metrics.record_error("strategy")
            log.exception("%s update failed on bar %d chunk %d: %s", self.strategy.name, ev.bar_ts, ev.chunk, e)
            del self.live[ev.symbols]
            return None
        self.live[ev.symbols] = (ev.bar_ts, held[1])
        return ev.symbols, tuple(int(x) for x in row)

    def _from_window(self, ev: BarsEvent):
        bars = bars_from_cache(self.cache, ev)
        if bars is None or len(bars) <= self.strategy.warmup:
            return (), ()
        try:
            row = self.strategy.signals(bars)[-1]
            if bars.symbols == ev.symbols:
                self.live[ev.symbols] = (ev.bar_ts, self.strategy.live(bars))
        except Exception as e:
            self.metrics.record_error("strategy")
            log.exception("%s failed on bar %d chunk %d: %s", self.strategy.name, ev.bar_ts, ev.chunk, e)
            return (), ()
        return bars.symbols, tuple(int(x) for x in row)
