"""The ML regime service: the market regime of the account's symbols, published
for the coordinator (qs:<account>:regime) and, on a change, on
qs:<account>:regime:changes.

It reads the bars events through its own consumer group (the newest bar of a
batch is enough: a regime is about the market, not each chunk), takes the
symbols' closes from the bar cache, and runs regime.model.RegimeModel: a
Gaussian mixture refitted every regime.refit_every_bars bars on a rolling window
with a fixed seed. The coordinator never waits for it; a slow or hung fit only
makes the published regime older, and past regime.max_age_seconds the
coordinator falls back to the default allocation.
"""
from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from ..marketdata import BarCache
from ..metrics import RegimeMetrics
from .component import Component
from .streams import REGIME_GROUP, BarsEvent, Regime, bars_stream

log = logging.getLogger("quantshift.modular.regime")


class RegimeService(Component):
    kind = "regime"

    def __init__(self, cfg, metrics: RegimeMetrics, **kw):
        super().__init__(cfg, metrics, **kw)
        from ..regime.model import RegimeModel   # scikit-learn is loaded at the first fit

        rc = cfg.regime
        # The bar cache holds marketdata.lookback_bars bars: the window fits inside it.
        window = min(rc.window_bars, cfg.marketdata.lookback_bars - rc.vol_bars)
        self.model = RegimeModel(dataclasses.replace(rc, window_bars=window, refit_every_bars=min(
            rc.refit_every_bars, max(1, window))))
        # Fewer rows than 50 per regime leave a component a handful of points: no regime
        # is published and the coordinator trades the default allocation (and alerts).
        self.too_short = window < 50 * rc.n_regimes
        if self.too_short:
            log.error("regime for %s: marketdata.lookback_bars %d leaves a %d-bar window, fewer than 50 per regime "
                      "(%d): nothing will be published; raise lookback_bars", cfg.name,
                      cfg.marketdata.lookback_bars, window, 50 * rc.n_regimes)
        self.stream = bars_stream(cfg.name)
        self.consumer = f"{cfg.host_id}:regime:1"
        r = cfg.redis
        self.cache = BarCache(r.url, password=r.password, socket_timeout=max(r.socket_timeout_seconds, 2.0))
        self.last_bar: int | None = None
        self.current: Regime | None = None
        self._short_logged = False

    def status(self) -> str:
        return f"regime service for {self.cfg.name} ({self.cfg.regime.n_regimes} regimes)"

    def setup(self) -> None:
        self.bus.ensure_group(self.stream, REGIME_GROUP, start="0")

    def step(self) -> None:
        entries = self.bus.read(REGIME_GROUP, self.consumer, [self.stream], count=200, block_ms=1000)
        if not entries:
            return
        newest = None
        for _stream, entry_id, fields in entries:
            try:
                ev = BarsEvent.parse(fields)
            except (KeyError, ValueError):
                continue
            if newest is None or ev.bar_ts > newest.bar_ts:
                newest = ev
        if newest is not None and not self.too_short and (self.last_bar is None or newest.bar_ts > self.last_bar):
            if self.clock() - (newest.bar_ts + newest.timeframe) <= self.cfg.max_bar_age_seconds:
                self.publish(newest)
        self.bus.ack(self.stream, REGIME_GROUP, [entry_id for _, entry_id, _ in entries])

    def publish(self, ev: BarsEvent) -> Regime | None:
        from ..regime.model import NotEnoughBars

        m = self.metrics
        symbols = list(self.cfg.symbols)
        hits = self.cache.get_many(ev.source, ev.timeframe, symbols, ev.bar_ts, ev.lookback)
        if not hits:
            m.record_error("data")
            log.warning("regime: no bars of bar %d in the cache", ev.bar_ts)
            return None
        have = [s for s in symbols if s in hits]
        ts = hits[have[0]][0]
        closes = np.stack([hits[s][1][3] for s in have], axis=1)   # (T, m)
        m.symbols_loaded.set(len(have))
        fitted_before = self.model.fitted_bar_ts
        t0 = time.perf_counter()
        try:
            est = self.model.update(closes, ts)
        except NotEnoughBars as e:
            if not self._short_logged:
                log.warning("regime for %s: %s; nothing published yet", self.cfg.name, e)
                self._short_logged = True
            return None
        except Exception as e:
            m.record_error("regime")
            log.exception("regime model failed on bar %d: %s", ev.bar_ts, e)
            return None
        if self.model.fitted_bar_ts != fitted_before:
            m.fit_duration.observe(time.perf_counter() - t0)
        now = self.clock()
        regime = Regime(est.regime_id, est.regime, est.probabilities, est.bar_ts, now)
        changed = self.current is None or self.current.regime_id != regime.regime_id
        self.bus.set_regime(self.cfg.name, regime, changed)
        if changed:
            m.changes.inc()
            log.info("regime of %s: %s (p=%.2f) at bar %d", self.cfg.name, regime.name,
                     regime.probabilities.get(regime.name, 0.0), regime.bar_ts)
        self.current, self.last_bar = regime, ev.bar_ts
        m.regime.set(regime.regime_id)
        for name, p in regime.probabilities.items():
            m.probability.labels(regime=name).set(p)
        m.last_update.set(now)
        return regime
