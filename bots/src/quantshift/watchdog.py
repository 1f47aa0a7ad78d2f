"""sd_notify over a unix datagram socket (the systemd protocol, no systemd-python).

Like gunicorn/systemd.py: a no-op without NOTIFY_SOCKET and it never raises —
a notification problem must not take the trading loop down.

There is deliberately no background thread sending WATCHDOG=1: the ping comes
from the main loop, so a hung loop is exactly what systemd detects and restarts.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None, on_watchdog: Callable[[], None] | None = None):
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET") or None
        if addr and addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace socket
        self.address = addr
        self.watchdog_usec = self._watchdog_usec(env)
        self._on_watchdog = on_watchdog
        self._last_ping = float("-inf")

    @staticmethod
    def _watchdog_usec(env: Mapping[str, str]) -> int | None:
        try:
            usec = int(env.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        pid = env.get("WATCHDOG_PID")
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None  # the watchdog is meant for another process
        return usec if usec > 0 else None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def ping_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: a quarter of WatchdogSec, so even a
        late ping stays within the WatchdogSec/2 that systemd recommends."""
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 1e6 / 4

    def notify(self, state: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(state.encode("utf-8"))
            return True
        except Exception as e:  # never raise into the trading loop
            log.debug("sd_notify %r failed: %s", state, e)
            return False

    def ready(self, status: str | None = None) -> bool:
        msg = "READY=1" + (f"\nSTATUS={status}" if status else "")
        return self.notify(msg)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        ok = self.notify("WATCHDOG=1")
        self._last_ping = time.monotonic()
        if ok and self._on_watchdog is not None:
            try:
                self._on_watchdog()
            except Exception:  # metrics must not break the ping
                pass
        return ok

    def keepalive(self) -> None:
        """Ping if a ping is due; cheap enough to call between every step."""
        interval = self.ping_interval
        if interval is None or not self.address:
            return
        if time.monotonic() - self._last_ping >= interval:
            self.watchdog()
