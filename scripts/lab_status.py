#!/usr/bin/env python3
"""Print what runs where in the lab: hosts, services, leader and epoch, URLs.

Reads hosts, groups and bots from the lab inventory (ansible-inventory),
asks each container over SSH for its services, asks the package on the current
primary for the leases, and checks every URL from this machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inventory_vars  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "inventories/lab/hosts.yml"
KEY = ROOT / ".lab/ssh/id_ed25519"
sys.path.insert(0, str(ROOT / "bots/src"))
from quantshift import naming  # noqa: E402  (unit names and paths, as the roles build them)


def settings() -> dict:
    """The lab inventory's shared settings (group_vars/all)."""
    return inventory_vars.load(INVENTORY).settings


def bot_instances() -> list[dict]:
    """quantshift_bot_instances of the lab inventory (name, metrics_port, ...)."""
    return settings()["quantshift_bot_instances"]


def components() -> dict[str, list[naming.Component]]:
    """account -> its processes on a bot host (quantshift.naming.components: unit,
    kind, metrics port), for the lab inventory's architecture and worker instances."""
    s = settings()
    architecture = s.get("quantshift_bot_architecture", naming.MODULAR)
    workers = int(s.get("quantshift_signal_worker_instances", 1))
    return {b["name"]: naming.components(b["name"], int(b["metrics_port"]), b.get("components"), architecture, workers)
            for b in bot_instances()}


def services() -> dict[str, list[str]]:
    """group -> the units that run there (an account is its target; components() lists its processes)."""
    units = [naming.target(b["name"]) for b in bot_instances()] + [naming.unit(naming.MONITOR)]
    return {"bots": ["redis-server.service", *units], "database": ["postgresql.service"],
            "monitoring": ["prometheus.service", "prometheus-alertmanager.service"]}


def hosts_by_group() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(host -> address, group -> hosts) from the lab inventory."""
    inv = inventory_vars.load(INVENTORY)
    return {host: inv.address(host) for host in inv.groups["all"]}, inv.groups


def ssh(address: str, command: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command on a lab host as root with the lab's key."""
    return subprocess.run(
        ["ssh", "-q", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{address}", command],
        input=input, capture_output=True, text=True, timeout=timeout)


def http_ok(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return "ok" if r.status == 200 else f"HTTP {r.status}"
    except Exception as e:  # any failure is a status to show, not a crash
        return f"down ({type(e).__name__})"


def main() -> int:
    addresses, groups = hosts_by_group()
    bots = bot_instances()
    problems = 0

    print(f"{'host':<9} {'address':<16} {'groups':<22} services")
    for host in sorted(addresses):
        member_of = [g for g in ("primary", "standby", "database", "monitoring") if host in groups.get(g, [])]
        units = [u for g, us in services().items() if host in groups.get(g, []) for u in us]
        r = ssh(addresses[host], "systemctl is-active " + " ".join(units) + " ; true")
        states = r.stdout.split() if r.returncode == 0 else ["unreachable"] * len(units)
        shown = ", ".join(f"{u.removeprefix('quantshift-').removesuffix('.service')}={s}" for u, s in zip(units, states))
        print(f"{host:<9} {addresses[host]:<16} {','.join(member_of):<22} {shown}")

    # Leases: ask the package wherever it is installed (the current primary may have moved).
    leases = None
    for host in groups["bots"]:
        answers = [ssh(addresses[host], f"quantshift-run quantshift-lease --config "
                                        f"{naming.config_path(bot['name'])} show --json") for bot in bots]
        if answers[0].returncode == 0 and answers[0].stdout.strip():
            leases = [json.loads(r.stdout) for r in answers if r.returncode == 0 and r.stdout.strip()]
            break
    print()
    if leases:
        for lease in leases:
            print(f"leader {lease['account']:<7} holder={lease['holder']} epoch={lease['epoch']} "
                  f"lease_remaining={lease['remaining_seconds']:.0f}s")
    else:
        print("leader: unknown (no bot host answered quantshift-lease)")
        problems += 1

    print()
    monitoring = groups["monitoring"][0]
    prom = f"http://{addresses[monitoring]}:9090"
    state = http_ok(prom + "/-/ready")
    problems += state != "ok"
    print(f"prometheus        {prom:<36} {state}")
    alertmanager = f"http://{addresses[monitoring]}:9093"
    state = http_ok(alertmanager + "/-/ready")
    problems += state != "ok"
    print(f"alertmanager      {alertmanager:<36} {state}")
    primary = leases[0]["holder"] if leases else groups["primary"][0]
    problems += print_components(addresses, groups["bots"], primary)
    print_fake_venue_orders(addresses[monitoring], settings().get("lab_fake_venue_ports", {}))
    return 1 if problems else 0


def print_components(addresses: dict[str, str], hosts: list[str], primary: str) -> int:
    """Every component of each account on each bot host: its unit's state and its
    metrics URL (up on the primary, down by design on the standby). Returns the problems."""
    problems = 0
    everything = [c for cs in components().values() for c in cs]
    print()
    print(f"{'host':<9} {'account':<8} {'component':<40} {'state':<10} metrics")
    for host in hosts:
        r = ssh(addresses[host], "systemctl is-active " + " ".join(c.unit for c in everything) + " ; true")
        states = r.stdout.split() if r.returncode == 0 else ["unreachable"] * len(everything)
        expected = host == primary
        for c, state in zip(everything, states):
            url = f"http://{addresses[host]}:{c.port}/metrics"
            up = http_ok(url)
            name = c.kind + (f" {c.strategy} #{c.instance}" if c.strategy else "")
            note = "" if expected else " (standby: down by design)"
            problems += (state != "active" or up != "ok") if expected else (state == "active")
            print(f"{host:<9} {c.account:<8} {name:<40} {state:<10} {url:<36} {up}{note}")
    return problems


def fake_venue_orders(url: str) -> list[dict] | None:
    """The orders a fake venue holds (its lab-only /_fake/orders), None when it is not running."""
    try:
        with urllib.request.urlopen(url + "/_fake/orders", timeout=3) as r:
            return json.loads(r.read())
    except Exception:
        return None


def print_fake_venue_orders(address: str, ports: dict) -> None:
    """Paper mode (QUANTSHIFT_MODE=paper make lab): the orders the bots placed at the fakes."""
    for venue, port in sorted(ports.items()):
        url = f"http://{address}:{port}"
        rows = fake_venue_orders(url)
        print()
        if rows is None:
            print(f"fake {venue:<12} {url:<36} not running (sim mode)")
            continue
        print(f"fake {venue:<12} {url:<36} {len(rows)} orders")
        for o in rows[-10:]:
            print(f"  {o['client_order_id']:<40} {o['symbol']:<10} {o['side']:<4} {o['qty']:>12g} "
                  f"{o['status']:<17} filled {o['filled']:g}")


def paper_vars() -> dict:
    """The extra vars of the lab's paper mode, for lab-fake-venues.yml and site.yml:
    each bot's venue URL at the fake that serves its base config's venue (alpaca,
    or the ccxt exchange) on the monitor host, and the pairs the Binance fake lists."""
    addresses, groups = hosts_by_group()
    ports = settings()["lab_fake_venue_ports"]
    monitor = addresses[groups["monitoring"][0]]
    urls, binance_symbols = {}, []
    for bot in bot_instances():
        base = yaml.safe_load((ROOT / "roles/quantshift_bot/files/base_configs" / bot["base_config"]).read_text())
        broker = base.get("broker", {})
        venue = broker.get("exchange") if broker.get("kind") == "ccxt" else broker.get("kind")
        if venue not in ports:
            raise SystemExit(f"lab: {bot['name']} trades {venue}, which has no fake venue (lab_fake_venue_ports)")
        urls[bot["name"]] = f"http://{monitor}:{ports[venue]}"
        if venue == "binance":
            binance_symbols += [s for s in base["symbols"] if s not in binance_symbols]
    return {"quantshift_lab_paper": True, "quantshift_bot_venue_urls": urls,
            "fake_venues_binance_symbols": binance_symbols}


def cli(argv: list[str]) -> int:
    """`lab_status.py` prints the table; `exec HOST CMD` runs CMD on a lab host (by
    inventory name) with the lab's ssh settings; `hosts` prints "name address" per
    host; `wait-ssh SECONDS` waits until every host answers ssh; `units` lists the
    package's processes' units on a bot host (every component, the monitor). One inventory reader, one ssh and one naming
    rule for the shell scripts too."""
    if argv[:1] == ["exec"] and len(argv) == 3:
        addresses, _ = hosts_by_group()
        r = ssh(addresses[argv[1]], argv[2], timeout=120)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.returncode
    if argv == ["hosts"]:
        addresses, _ = hosts_by_group()
        print("\n".join(f"{host} {address}" for host, address in sorted(addresses.items())))
        return 0
    if argv[:1] == ["wait-ssh"] and len(argv) == 2:
        addresses, _ = hosts_by_group()
        deadline = time.monotonic() + float(argv[1])
        for host, address in sorted(addresses.items()):
            while ssh(address, "true", timeout=10).returncode != 0:
                if time.monotonic() > deadline:
                    print(f"lab: {host} did not answer on ssh {address}:22 within {argv[1]} s", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        return 0
    if argv == ["paper-vars"]:
        print(json.dumps(paper_vars()))
        return 0
    if argv == ["units"]:  # the package's processes on a bot host: every component, the monitor
        print(" ".join([c.unit for cs in components().values() for c in cs] + [naming.unit(naming.MONITOR)]))
        return 0
    if argv:
        print("usage: lab_status.py [exec HOST COMMAND | hosts | wait-ssh SECONDS | units | paper-vars]",
              file=sys.stderr)
        return 2
    return main()


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
