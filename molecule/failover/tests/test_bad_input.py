"""Bad input through site.yml against the converged lab: each value fails up front
with one line naming it, and no host changes (runs before the chaos cases)."""
from __future__ import annotations

import hashlib
import re

from lab import ADDRESSES, GROUPS, naming, run_playbook, ssh

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Tried as a new user would (issue 12's list and more); each message names the key.
BAD_VALUES = [
    ("redis_maxmemory=512XB", "redis_maxmemory like 512mb (got 512XB)"),
    ("failover_monitor_stale_threshold_seconds=8", "stale threshold (8 s)"),
    ("quantshift_bot_heartbeat_interval_seconds=-5", "need heartbeat (-5 s) > 0"),
    ("prometheus_scrape_interval=15", "scrape interval like 15s (got 15)"),
    ("failover_monitor_check_interval_seconds=abc", "argument 'failover_monitor_check_interval_seconds'"),
    ("quantshift_bot_restart_sec=ten", "argument 'quantshift_bot_restart_sec'"),
    ("failover_monitor_watchdog_sec=100", "watchdog_sec (100) >= ready_timeout_seconds (120) + 60"),
]

# What a deploy writes or restarts on each host; a hash per line (no secret is shown).
STATE = (f"for f in {naming.HOME}/*.yaml {naming.env_file()} {naming.HOME}/*.env /etc/redis/*.conf "
         "/etc/systemd/system/quantshift-* /etc/prometheus/prometheus.yml /etc/prometheus/rules/*.yml "
         "/etc/postgresql/*/main/conf.d/*.conf; do [ -f \"$f\" ] && sha256sum \"$f\"; done; "
         "systemctl show -p Id -p ActiveEnterTimestamp -p NRestarts --value "
         "'quantshift-*' redis-server prometheus postgresql 2>/dev/null; true")


def host_state() -> dict[str, dict[str, str]]:
    state = {}
    for host in sorted(ADDRESSES):
        lines = ssh(host, STATE).splitlines()
        state[host] = {line.split()[-1] if "  /" in line else f"unit line {i}": hashlib.sha256(line.encode()).hexdigest()
                       for i, line in enumerate(lines)}
    return state


def test_bad_values_fail_site_yml_up_front_with_one_line_naming_them_and_change_no_host():
    before = host_state()
    for extra, message in BAD_VALUES:
        r = run_playbook("site.yml", "-e", extra)
        out = ANSI.sub("", r.stdout + r.stderr)
        assert r.returncode != 0, f"{extra}: site.yml passed"
        errors = [line for line in out.splitlines() if line.startswith("[ERROR]")]
        assert len(errors) == 1 and message in " ".join(out.split()), f"{extra}: {errors or out[-2000:]}"
        assert "no_log: true" not in out, f"{extra}: the message is hidden behind no_log"
        recap = out.split("PLAY RECAP", 1)[1].splitlines()
        touched = [line.split()[0] for line in recap if "ok=" in line and line.split()[0] != "localhost"]
        assert touched == [], f"{extra}: hosts were contacted before the check failed: {touched}"
        assert all("changed=0" in line for line in recap if "ok=" in line), f"{extra}: {recap}"
    after = host_state()
    changed = {h: sorted(k for k in set(before[h]) | set(after[h]) if before[h].get(k) != after[h].get(k))
               for h in before}
    assert not any(changed.values()), f"hosts changed by a failed site.yml: {changed}"
    assert set(GROUPS["bots"]) <= set(before), "the state covers the bot hosts"
