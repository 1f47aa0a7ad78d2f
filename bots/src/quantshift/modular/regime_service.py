"""STOPGAP (modular-deploy branch): a regime service that serves its metrics,
heartbeat and watchdog but publishes no regime, so the coordinator uses the
default allocation (its documented fallback). It lets the deploy run and verify
the whole component set in the lab until the real ML regime service (rolling
HMM/GMM, the `regime` extra) replaces this file."""
from __future__ import annotations

from .component import Component


class RegimeService(Component):
    kind = "regime"

    def status(self) -> str:
        return f"regime for {self.cfg.name} (stopgap: no model, nothing published)"

    def step(self) -> None:
        self.sleep(self.cfg.cycle_interval_seconds)
