"""What every stateless component shares (market data, signal workers, regime):
the loop, its heartbeat metric, the systemd watchdog, and errors counted and
retried, never fatal. Each component implements setup() and step(); a step does
one piece of work and blocks at most about a second, so the watchdog is fed from
the loop itself: a hung step is what systemd detects and restarts.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

import redis

from ..config import BotConfig
from ..metrics import ComponentMetrics
from ..watchdog import Notifier
from .streams import Bus

log = logging.getLogger("quantshift.modular")


class Component:
    kind = "component"

    def __init__(self, cfg: BotConfig, metrics: ComponentMetrics, *, notifier: Notifier | None = None,
                 bus: Bus | None = None, clock=time.time):
        self.cfg = cfg
        self.metrics = metrics
        self.clock = clock
        self.notifier = notifier if notifier is not None else Notifier(on_watchdog=self._alive)
        self.bus = bus if bus is not None else Bus(cfg.redis.url, password=cfg.redis.password,
                                                   maxlen=cfg.modular.stream_maxlen)
        self.stop_event = threading.Event()
        self._bus_error: str | None = None

    def _alive(self) -> None:
        """Each watchdog ping is a heartbeat too: a long fetch that keeps systemd
        content (keepalive) does not look stalled to Prometheus either."""
        self.metrics.record_watchdog()
        self.metrics.record_heartbeat()

    # -- to implement --
    def setup(self) -> None:
        """Create consumer groups, prime state; Redis errors are retried by run()."""

    def step(self) -> None:
        raise NotImplementedError

    def status(self) -> str:
        return self.kind

    # -- the loop --
    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def sleep(self, seconds: float) -> bool:
        """Sleep in short slices, feeding the watchdog; True if asked to stop."""
        end = time.monotonic() + seconds
        while True:
            self.notifier.keepalive()
            self.metrics.record_heartbeat()
            left = end - time.monotonic()
            if left <= 0:
                return self.stop_event.is_set()
            if self.stop_event.wait(min(1.0, left)):
                return True

    def _guarded(self, fn) -> bool:
        """Run fn; a Redis error is counted (bus) and logged once until it clears."""
        try:
            fn()
        except redis.RedisError as e:
            self.metrics.record_error("bus")
            msg = f"{type(e).__name__}: {e}"
            if self._bus_error is None:
                log.error("%s: redis unavailable: %s; retrying", self.kind, msg)
            self._bus_error = msg
            return False
        except Exception as e:
            self.metrics.record_error("internal")
            log.exception("%s step failed: %s", self.kind, e)
            return False
        if self._bus_error is not None:
            log.info("%s: redis is back", self.kind)
            self._bus_error = None
        return True

    def run(self, once: bool = False) -> int:
        self.notifier.status(f"starting {self.kind}")
        delay = 1.0
        while not self._guarded(self.setup):
            if once or self.sleep(delay):
                return 1
            delay = min(delay * 2, 15.0)
        self.notifier.ready(f"ready: {self.status()}")
        log.info("ready: %s", self.status())
        while not self.stop_event.is_set():
            t0 = time.perf_counter()
            ok = self._guarded(self.step)
            self.metrics.record_cycle(time.perf_counter() - t0)
            self.metrics.record_heartbeat()
            self.notifier.keepalive()
            if once:
                return 0 if ok else 1
            if not ok:
                self.sleep(1.0)
        self.notifier.stopping()
        self.bus.close()
        log.info("stopped %s", self.kind)
        return 0
