#!/usr/bin/env python3
"""Failover timings on the lab at the seed's default settings (heartbeat 30 s,
lease/threshold 60 s, check 10 s, WatchdogSec 90 s, RestartSec 10 s), for `make bench`.

Expects a converged lab with ct100 trading (scripts/bench.sh runs it after the
deploy timings). Prints one table; restores ct100 as primary at the end.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "molecule/failover/tests"))
from lab import (ACCOUNTS, COORDINATOR_UNITS, MONITOR_UNIT, ansible_playbook, leases, podman,  # noqa: E402
                 primary_claims, sql, ssh, unit_show, wait_until)

HEARTBEAT, THRESHOLD, WATCHDOG, RESTART = 30, 60, 90, 10

def trading_on(host: str, timeout: float) -> None:
    wait_until(f"{host} holds the leases", lambda: {h for h, _ in leases().values()} == {host}, timeout, 0.2)
    wait_until(f"{host} bots PRIMARY", lambda: all(primary_claims(window=HEARTBEAT + 5)[a] == {host}
                                                   for a in ACCOUNTS), timeout, 0.2)

def main() -> int:
    rows = []
    trading_on("ct100", 120)

    # Unplanned: the primary container stops dead.
    t0 = time.monotonic()
    podman("stop", "-t", "0", "ct100")
    try:
        trading_on("ct101", THRESHOLD + 90)
        total = time.monotonic() - t0
        promo = float(sql("SELECT max(duration_seconds) FROM failover_events WHERE event = 'failover' "
                          "AND created_at > now() - interval '5 minutes'")[0][0])
        rows += [("unplanned failover: container stop -> standby bots PRIMARY", total, THRESHOLD + 5),
                 ("  promotion phase (lease + Redis + bots READY)", promo, 3)]
    finally:
        podman("start", "ct100")
    wait_until("ct100 up", lambda: ssh("ct100", "systemctl is-system-running --wait", check=False).strip()
               in ("running", "degraded"), 90)
    ansible_playbook("site.yml", extra_vars_file=None)

    # Planned: back to ct100 (the failback playbook is the planned switchover).
    t0 = time.monotonic()
    ansible_playbook("playbooks/failback.yml", extra_vars_file=None)
    trading_on("ct100", 120)
    rows.append(("planned switchover ct101 -> ct100 (failback.yml)", time.monotonic() - t0, 20))

    # Watchdog: a hung bot with the monitors paused is restarted by systemd.
    for host in ("ct100", "ct101"):
        ssh(host, f"systemctl stop {MONITOR_UNIT}")
    try:
        unit = COORDINATOR_UNITS[0]  # the trading process
        restarts, pid = int(unit_show("ct100", unit, "NRestarts")), unit_show("ct100", unit, "MainPID")
        t0 = time.monotonic()
        ssh("ct100", f"sh -c 'kill -STOP {pid}'")
        wait_until("watchdog restart", lambda: int(unit_show("ct100", unit, "NRestarts")) > restarts
                   and unit_show("ct100", unit, "ActiveState") == "active", WATCHDOG + RESTART + 120, 0.5)
        rows.append(("watchdog: SIGSTOP bot -> restarted and active (monitor paused)", time.monotonic() - t0,
                     WATCHDOG + RESTART + 5))
    finally:
        for host in ("ct100", "ct101"):
            ssh(host, f"systemctl start {MONITOR_UNIT}")

    print(f"\n{'failover timing (seed defaults)':<64} {'seconds':>8} {'goal':>8}")
    for name, seconds, goal in rows:
        mark = "ok" if seconds <= goal else "MISSED"
        print(f"{name:<64} {seconds:8.1f} {'<= ' + str(goal):>8} {mark}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
