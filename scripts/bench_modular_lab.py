#!/usr/bin/env python3
"""make bench, modular architecture part, on the lab's ct100 (issue #14):

  memory    each running component's RSS (VmRSS, and its peak VmHWM and its
            proportional share PSS: shared library pages counted once across
            the set), summed per account, against the monolith: a
            `quantshift-bot --once` cycle of the same account's config (as a
            standby of a scratch account, so it trades nothing) on the same
            host, its peak RSS. Goal: an account's set <= 2x the monolith.
  latency, throughput: bots/bench/bench_modular.py run on ct100 with the host's
            venv and Redis (its own `bench` streams).
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lab_status  # noqa: E402

sys.path.insert(0, str(ROOT / "bots/src"))
from quantshift import naming  # noqa: E402

HOST = "ct100"
VENV = f"{naming.HOME}/venv/bin"
ENV = f"set -a; . {naming.env_file()}; set +a"


def run(address: str, command: str, timeout: float = 900) -> str:
    r = lab_status.ssh(address, command, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"bench: {HOST}: {command[:80]}...: rc={r.returncode} {r.stderr.strip()[-500:]}")
    return r.stdout


def memory(address: str, unit: str) -> tuple[float, float, float]:
    """(VmRSS, VmHWM, Pss) in MB of a unit's main process."""
    out = run(address, f"pid=$(systemctl show -p MainPID --value {unit}); "
                       f"grep -E '^(VmRSS|VmHWM):' /proc/$pid/status; grep '^Pss:' /proc/$pid/smaps_rollup")
    kb = {line.split(":")[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024, kb["Pss"] / 1024


MONOLITH = r"""
import resource, subprocess, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["name"] = "benchmono"           # a scratch account: no lease, a standby cycle, nothing traded
cfg["lock_dir"] = "/tmp"
cfg["metrics_port"] = 19399
yaml.safe_dump(cfg, open("/tmp/benchmono.yaml", "w"))
subprocess.run([sys.argv[2], "--config", "/tmp/benchmono.yaml", "--once"], stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def main() -> int:
    addresses, _groups = lab_status.hosts_by_group()
    address = addresses[HOST]
    settings = lab_status.settings()
    workers = int(settings.get("quantshift_signal_worker_instances", 1))
    print(f"bench: component memory on {HOST} (MB; goal: an account's set <= 2x its monolith)")
    print(f"  {'unit':<62} {'RSS':>7} {'peak':>7} {'PSS':>7}")
    for bot in lab_status.bot_instances():
        total = [0.0, 0.0, 0.0]
        for c in naming.components(bot["name"], int(bot["metrics_port"]), bot.get("components"),
                                   naming.MODULAR, workers):
            mb = memory(address, c.unit)
            total = [t + v for t, v in zip(total, mb)]
            print(f"  {c.unit:<62} {mb[0]:7.1f} {mb[1]:7.1f} {mb[2]:7.1f}")
        config = naming.config_path(bot["name"])
        mono = float(run(address, f"{ENV}; {VENV}/python -c {shlex.quote(MONOLITH)} {config} "
                                  f"{VENV}/quantshift-bot").strip().splitlines()[-1])
        ratio = total[1] / mono
        print(f"  {bot['name'] + ' set':<62} {total[0]:7.1f} {total[1]:7.1f} {total[2]:7.1f}")
        print(f"  {bot['name'] + ' monolith (quantshift-bot --once, peak)':<62} {'':>7} {mono:7.1f}")
        print(f"  set peak / monolith peak {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'MISSED'}); "
              f"set PSS / monolith peak {total[2] / mono:.2f}")
    print(f"\nbench: bars -> decision latency and worker throughput on {HOST} (bots/bench/bench_modular.py)")
    script = (ROOT / "bots/bench/bench_modular.py").read_text()
    r = lab_status.ssh(address, "cat > /tmp/bench_modular.py", input=script, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"bench: cannot copy bench_modular.py to {HOST}: {r.stderr.strip()}")
    redis_url = "redis://127.0.0.1:6379/0"
    out = run(address, f"{ENV}; {VENV}/python /tmp/bench_modular.py --redis {redis_url}", timeout=1200)
    print(out.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
