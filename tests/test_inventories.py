"""The inventories operators edit: groups, addresses and the seed's settings.

Production is only ever read here (never contacted): its 10.x addresses are the
user's real hosts.
"""
from __future__ import annotations

import configparser
import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import inventory_vars  # noqa: E402


def hosts(inventory: str) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """(host -> vars, group -> hosts) of an inventory, as ansible-inventory lists it."""
    inv = inventory_vars.load(ROOT / inventory / "hosts.yml")
    return inv.hostvars, {g: set(members) for g, members in inv.groups.items()}


def group_vars(inventory: str) -> dict:
    return inventory_vars.group_vars_all(ROOT / inventory)


@pytest.mark.parametrize("inventory", ["inventories/production", "inventories/lab"])
def test_inventory_has_one_primary_a_standby_a_database_and_monitoring(inventory):
    _, groups = hosts(inventory)
    assert groups["primary"] == {"ct100"} and groups["standby"] == {"ct101"}
    assert groups["bots"] == {"ct100", "ct101"}
    assert len(groups["database"]) == 1 and len(groups["monitoring"]) >= 1
    assert not groups["primary"] & groups["standby"]


def test_production_addresses_are_the_users_ct100_and_ct101():
    hv, _ = hosts("inventories/production")
    assert hv["ct100"]["ansible_host"] == "10.92.3.27"
    assert hv["ct101"]["ansible_host"] == "10.92.3.28"


@pytest.mark.parametrize("inventory", ["inventories/production", "inventories/lab"])
def test_group_vars_hold_the_seed_settings(inventory):
    gv = group_vars(inventory)
    assert gv["redis_maxmemory"] == "512mb" and gv["redis_maxmemory_policy"] == "allkeys-lru"
    assert gv["redis_save"] == ["900 1"]
    assert {b["name"]: b["metrics_port"] for b in gv["quantshift_bot_instances"]} == {"equity": 9200, "crypto": 9201}
    assert gv["prometheus_scrape_interval"] == "15s"
    assert gv["quantshift_home"] == "/opt/quantshift"  # EnvironmentFile=/opt/quantshift/.env (seed)
    assert gv["quantshift_bot_heartbeat_interval_seconds"] == 30
    assert gv["quantshift_bot_watchdog_sec"] == 90 and gv["quantshift_bot_restart_sec"] == 10
    assert (gv["failover_monitor_check_interval_seconds"], gv["failover_monitor_stale_threshold_seconds"],
            gv["failover_monitor_cooldown_seconds"]) == (10, 60, 300)


def test_lab_addresses_lie_in_the_lab_network_and_the_script_reads_them_from_the_inventory():
    """lab.sh takes names and addresses from the inventory (lab_status.py hosts);
    only the podman network's subnet is its own, and every address must lie in it."""
    hv, _ = hosts("inventories/lab")
    script = (ROOT / "scripts/lab.sh").read_text()
    subnet = ipaddress.ip_network(re.search(r"^SUBNET=(\S+)$", script, re.M).group(1))
    addresses = {h: v["ansible_host"] for h, v in hv.items() if "ansible_host" in v}
    assert addresses and all(ipaddress.ip_address(a) in subnet for a in addresses.values()), (subnet, addresses)
    assert not re.search(r"\b172\.29\.100\.\d+\b(?!/)", script), "lab.sh types a host address again"
    listed = subprocess.run([sys.executable, str(ROOT / "scripts/lab_status.py"), "hosts"], capture_output=True,
                            text=True, check=True, timeout=120).stdout.split("\n")
    assert dict(line.split() for line in listed if line) == addresses


def test_no_secret_is_committed_in_any_inventory():
    for path in (ROOT / "inventories").rglob("*"):
        if path.is_file() and path.name != "vault.yml.example":
            text = path.read_text()
            for line in text.splitlines():
                if re.search(r"(password|secret|api_key)\s*:", line, re.I):
                    assert "{{" in line, f"{path}: literal secret? {line.strip()}"


def test_host_keys_are_checked_everywhere_but_in_the_lab():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg.getboolean("defaults", "host_key_checking", fallback=True), "ansible.cfg turns host-key checking off"
    assert "StrictHostKeyChecking=no" not in cfg.get("ssh_connection", "ssh_args", fallback="")
    assert "UserKnownHostsFile=/dev/null" not in cfg.get("ssh_connection", "ssh_args", fallback="")
    lab, production = (inventory_vars.load(ROOT / f"inventories/{env}/hosts.yml") for env in ("lab", "production"))
    lab_vars = {**lab.group_vars["all"], **lab.group_vars["lab"]}
    assert lab_vars["ansible_host_key_checking"] is False
    assert "StrictHostKeyChecking=no" in lab_vars["ansible_ssh_common_args"]
    prod_text = "\n".join(p.read_text() for p in (ROOT / "inventories/production").rglob("*.yml"))
    prod_text += "\n".join(p.read_text() for p in (ROOT / "inventories/common").rglob("*.yml"))
    assert "host_key_checking" not in prod_text and "StrictHostKeyChecking" not in prod_text
    assert production.groups["bots"], "production inventory lists"



def test_molecule_scenarios_share_the_lab_hosts_from_one_base_config():
    """Molecule's platforms are the lab inventory's hosts, typed once for every scenario."""
    base = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    _, groups = hosts("inventories/lab")
    assert sorted(p["name"] for p in base["platforms"]) == sorted(groups["all"])
    assert base["provisioner"]["inventory"]["links"]["hosts"] == "../../inventories/lab/hosts.yml"
    for scenario in sorted((ROOT / "molecule").glob("*/molecule.yml")):
        own = yaml.safe_load(scenario.read_text())
        assert "platforms" not in own and "driver" not in own, f"{scenario}: hosts belong in the base config"
