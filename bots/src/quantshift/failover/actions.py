"""What the monitor does to the host: systemd units, the local Redis's role,
the alert webhook (also quantshift-alert's). Each step is idempotent and best
effort where a failure must not block a takeover: a failure is logged (and
retried at the next check), never raised into the monitor's loop."""
from __future__ import annotations

import json
import logging
import subprocess
import urllib.request
from typing import Protocol

from . import redis_role

log = logging.getLogger("quantshift.failover")


class Services(Protocol):
    def start(self, units: list[str], timeout: float) -> None: ...

    def stop(self, units: list[str], timeout: float) -> None: ...

    def is_active(self, unit: str) -> bool: ...


class Systemd:
    """The accounts' targets: `systemctl start` returns once every component of
    the account (Wants= and After= of its target, all Type=notify) sent READY=1.
    Targets are enabled on the primary and disabled elsewhere, as the role leaves
    them, so a later site.yml finds nothing to change."""

    def start(self, units: list[str], timeout: float) -> None:
        subprocess.run(["systemctl", "enable", *units], check=True, timeout=30, capture_output=True, text=True)
        subprocess.run(["systemctl", "start", *units], check=True, timeout=timeout,
                       capture_output=True, text=True)

    def stop(self, units: list[str], timeout: float) -> None:
        # The components are PartOf= their target, so they stop with it; but a target is
        # ordered after its components, so its own stop finishes first and systemctl
        # would return while they still run. Naming them makes systemctl wait for them.
        members = self.members(units)
        subprocess.run(["systemctl", "disable", "--now", *units], check=True, timeout=timeout,
                       capture_output=True, text=True)
        if members:
            subprocess.run(["systemctl", "stop", *members], check=True, timeout=timeout,
                           capture_output=True, text=True)

    @staticmethod
    def members(units: list[str]) -> list[str]:
        """The units a target starts (its Wants=), as systemd loaded them."""
        targets = [u for u in units if u.endswith(".target")]
        if not targets:
            return []
        out = subprocess.run(["systemctl", "show", "-p", "Wants", "--value", *targets], check=True, timeout=30,
                             capture_output=True, text=True).stdout
        return sorted({u for u in out.split() if u.endswith(".service")})

    def is_active(self, unit: str) -> bool:
        """Is the account up or coming up here: its target or any of its components
        active, activating or stopping. A host that boots with its targets still
        enabled (stopped dead while it traded) has start jobs queued: the target reads
        inactive until every component is READY, and a component whose Redis is now a
        replica may never be, so the components' own states count too."""
        units = [unit, *self.members([unit])]
        out = subprocess.run(["systemctl", "is-active", *units], timeout=10, capture_output=True, text=True).stdout
        return any(state not in ("inactive", "failed", "unknown") for state in out.split())


def post_alert(url: str, payload: dict, timeout: float = 5.0) -> bool:
    """Best effort: an alert that cannot be delivered is logged, never fatal."""
    if not url:
        return False
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except Exception as e:
        log.warning("alert not delivered to webhook: %s", type(e).__name__)
        return False


def stop_local_bots(services: Services, units: list[str], holders: set[str]) -> None:
    """A returning old primary stands down for good: its running accounts (their
    targets, and with them every component) stopped and disabled."""
    running = [u for u in units if services.is_active(u)]
    if not running:
        return
    log.warning("this host holds no lease (%s trades): stopping local bots %s", sorted(holders), running)
    try:
        services.stop(running, 60)
    except (subprocess.SubprocessError, OSError) as e:
        log.error("stopping %s failed: %s", running, e)


def promote_redis(redis_cfg, role_file: str | None) -> str:
    """Make the local Redis the master; returns what happened, for the alert and
    the failover event. A cache: a failure degrades the bots but never blocks them."""
    try:
        r = redis_role.client(redis_cfg.url, redis_cfg.password)
        before = redis_role.promote(r, role_file)
    except Exception as e:  # redis errors, OSError on the role file
        detail = f"failed: {type(e).__name__}: {e}"
        log.error("redis promotion failed: %s", detail)
        return detail
    return ("promoted; was replica, link_up=%s, last_io=%ss" % (before.link_up, before.last_io_seconds)
            if before.role == "slave" else "already master")


def follow_redis(redis_cfg, holder: str, peer: str, role_file: str | None) -> None:
    """Make the local Redis a replica of the lease holder's (peer = ADDRESS:PORT)."""
    host, _, port = peer.rpartition(":")
    try:
        r = redis_role.client(redis_cfg.url, redis_cfg.password)
        if redis_role.follow(r, host, int(port), role_file):
            log.warning("local Redis now follows %s (%s), the lease holder's", holder, peer)
    except Exception as e:  # redis errors, OSError on the role file
        log.error("making the local Redis follow %s failed: %s: %s", peer, type(e).__name__, e)
