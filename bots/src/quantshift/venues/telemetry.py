"""The hooks through which the network adapters report to the bot's metrics.

Every HTTP request an adapter makes is observed in `api_latency_seconds`;
every rate limit or transient failure is counted in
`cycle_errors_total{type}` (`broker` for the broker, `data` for market data)
before the adapter backs off.
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable


class Telemetry:
    """What an adapter reports. A no-op until the bot calls instrument()."""

    def __init__(self, error_type: str, *, sleep: Callable[[float], None] = time.sleep):
        self.error_type = error_type
        self.metrics = None
        self.keepalive: Callable[[], None] | None = None
        self._sleep = sleep

    def attach(self, metrics=None, keepalive: Callable[[], None] | None = None) -> None:
        self.metrics = metrics
        self.keepalive = keepalive

    def error(self) -> None:
        if self.metrics is not None:
            self.metrics.record_error(self.error_type)

    def timed(self) -> contextlib.AbstractContextManager:
        """Observe one request in api_latency_seconds (the metrics' own timer)."""
        return self.metrics.time_api() if self.metrics is not None else contextlib.nullcontext()

    def pause(self, seconds: float) -> None:
        """Sleep in slices, pinging the systemd watchdog between them: a back-off
        must never look like a hung loop."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            if self.keepalive is not None:
                self.keepalive()
            left = end - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(1.0, left))
