"""The configs the roles write are the package's input: rendered by Ansible from the
roles' own templates and defaults, they must load in the package (which refuses
unknown keys), with every bot host's Redis in the monitor's redis_peers and the
host lock directory in each bot's config."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantshift import config
from quantshift.failover import monitor_config

ROOT = Path(__file__).resolve().parent.parent
ADDRESSES = {"ct100": "192.0.2.10", "ct101": "192.0.2.11"}
ENV = {config.ENV_DB_PASSWORD: "b" * 20, config.ENV_REDIS_PASSWORD: "r" * 20,
       config.ENV_MONITOR_DB_PASSWORD: "m" * 20}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deploy")
    (out / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"bots": {"children": {
        "primary": {"hosts": {"ct100": {"ansible_host": ADDRESSES["ct100"]}}},
        "standby": {"hosts": {"ct101": {"ansible_host": ADDRESSES["ct101"]}}}}}}}}))
    # The roles' defaults as inventory group_vars: below the play's vars, like role defaults.
    (out / "group_vars/all").mkdir(parents=True)
    for role in ("quantshift_bot", "failover_monitor"):
        (out / f"group_vars/all/{role}.yml").write_text((ROOT / f"roles/{role}/defaults/main.yml").read_text())
    home = f"{out}/{{{{ inventory_hostname }}}}"
    (out / "render.yml").write_text(yaml.safe_dump([{
        "hosts": "bots",
        "connection": "local",
        "gather_facts": False,
        "vars": {
            "ansible_python_interpreter": sys.executable,
            "quantshift_bot_source_dir": str(ROOT / "bots"),
            "quantshift_bot_home": home,
            "quantshift_bot_db_host": "192.0.2.12",
            "failover_monitor_home": home,
            "failover_monitor_db_user": "qs_failover_monitor",
            "__failover_monitor_package": {"content": "{{ 'test-fingerprint' | b64encode }}"},
        },
        "tasks": [
            {"name": "Home", "ansible.builtin.file": {"path": home, "state": "directory", "mode": "0755"}},
            {"name": "Bot configs", "loop": "{{ quantshift_bot_instances }}",
             "ansible.builtin.template": {"src": str(ROOT / "roles/quantshift_bot/templates/bot_config.yaml.j2"),
                                          "dest": home + "/{{ item.name }}_config.yaml", "mode": "0644"}},
            {"name": "Monitor config",
             "ansible.builtin.template": {
                 "src": str(ROOT / "roles/failover_monitor/templates/failover_monitor.yaml.j2"),
                 "dest": home + "/failover_monitor.yaml", "mode": "0644"}},
        ],
    }]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"}
    r = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(out / "hosts.yml"), str(out / "render.yml")],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.mark.parametrize("host", sorted(ADDRESSES))
def test_monitor_config_lists_every_bot_hosts_redis_and_loads_in_the_package(rendered, host):
    cfg, watched = monitor_config.load_config(str(rendered / host / "failover_monitor.yaml"), env=ENV)
    assert cfg.host_id == host
    assert cfg.redis_peers == {h: f"{a}:6379" for h, a in ADDRESSES.items()}
    assert watched.accounts == ["equity", "crypto"]


@pytest.mark.parametrize("host", sorted(ADDRESSES))
def test_bot_configs_carry_the_host_lock_directory(rendered, host):
    for account in ("equity", "crypto"):
        cfg = config.load(str(rendered / host / f"{account}_config.yaml"), ENV)
        assert (cfg.name, cfg.host_id, cfg.lock_dir) == (account, host, "/run/quantshift")
