"""A bad inventory fails in playbooks/preflight.yml with one clear message, on
the control node, before any host is contacted. The inventories here point at
TEST-NET addresses that nothing may answer: a run that tried to reach a host
would fail differently (and the preflight play never gathers facts)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from inventory_vars import group_vars_all  # noqa: E402
VENV_BIN = ROOT / ".venv/bin"
# Production's equity bot trades paper at Alpaca: a paper account's keys (shapes only).
PAPER_KEYS = {"APCA_API_KEY_ID": "PK" + "Q7" * 9, "APCA_API_SECRET_KEY": "z9" * 20}
LIVE_KEYS = {"APCA_API_KEY_ID": "AK" + "Q7" * 9, "APCA_API_SECRET_KEY": "z9" * 20}


def inventory(tmp_path: Path, *, primary=("ct100",), standby=("ct101",), group_vars=None) -> Path:
    inv = tmp_path / "inv"
    (inv / "group_vars/all").mkdir(parents=True)
    hosts = {"all": {"children": {
        "bots": {"children": {"primary": {"hosts": {h: {"ansible_host": "192.0.2.10"} for h in primary}},
                              "standby": {"hosts": {h: {"ansible_host": "192.0.2.11"} for h in standby}}}},
        "database": {"hosts": {"db": {"ansible_host": "192.0.2.12"}}},
        "monitoring": {"hosts": {"db": None}}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    gv = group_vars_all(ROOT / "inventories/production")
    gv.update({"quantshift_db_owner_password": "x" * 20, "quantshift_db_monitor_password": "z" * 20,
               "quantshift_db_exporter_password": "e" * 20,
               "quantshift_db_bot_password": "{{ 'b' * 20 ~ inventory_hostname }}", "redis_password": "y" * 20,
               "quantshift_bot_env": dict(PAPER_KEYS)})
    gv.update(group_vars or {})
    (inv / "group_vars/all/main.yml").write_text(yaml.safe_dump(gv))
    return inv / "hosts.yml"


def preflight(inv: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
           "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(ROOT / "playbooks/preflight.yml"),
                           *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_a_good_inventory_passes(tmp_path):
    r = preflight(inventory(tmp_path))
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("kwargs, message", [
    ({"primary": ("ct100", "ct102")}, "need exactly one host in 'primary'"),
    ({"primary": ("ct100",), "standby": ("ct100",)}, "and not in both"),
    ({"group_vars": {"quantshift_bot_instances": [{"name": "equity", "metrics_port": "9200x"}]}},
     "integer metrics_port"),
    ({"group_vars": {"quantshift_bot_instances": [{"name": "equity", "metrics_port": 9200},
                                                  {"name": "crypto", "metrics_port": 9250}]}},
     "port collision"),
    ({"group_vars": {"redis_password": ""}}, "secrets: quantshift_db_owner_password, quantshift_db_monitor_password,"
     " quantshift_db_exporter_password and redis_password must be set"),
    ({"group_vars": {"quantshift_db_exporter_password": "short"}}, "quantshift_db_exporter_password and redis_password must be set"),
    ({"group_vars": {"node_exporter_port": 9201}}, "port collision on the bot hosts"),
    ({"group_vars": {"ledger_backup_keep_count": 0}}, "ledger_backup_keep_count: must be a whole number, at least 1 (got 0)"),
    ({"group_vars": {"ledger_backup_interval_seconds": 30}},
     "ledger_backup_interval_seconds: must be a whole number of seconds, at least 60 (got 30)"),
    ({"group_vars": {"quantshift_db_bot_password": "{{ vault_passwords[inventory_hostname] }}",
                     "vault_passwords": {"ct100": "p" * 20}}},
     "secrets: quantshift_db_bot_password for ct101 must be set"),
    ({"group_vars": {"quantshift_db_bot_login": "qs_bot"}}, "must not be shared with another host"),
    # The path to real money: modes, keys (named with the host, never shown), live confirmation.
    ({"group_vars": {"quantshift_bot_env": {}}},
     "equity in mode paper: ct100: APCA_API_KEY_ID is not set; ct100: APCA_API_SECRET_KEY is not set; ct101:"),
    ({"group_vars": {"quantshift_bot_env": {"APCA_API_KEY_ID": "change-me", "APCA_API_SECRET_KEY": "change-me"}}},
     "ct100: APCA_API_KEY_ID looks like a placeholder"),
    ({"group_vars": {"quantshift_bot_env": LIVE_KEYS}},
     "ct100: APCA_API_KEY_ID is a live account's key (AK...) but the bot trades paper"),
    ({"group_vars": {"quantshift_bot_modes": {"equity": "live"}, "quantshift_bot_env": LIVE_KEYS}},
     "quantshift_bot_instances[equity]: mode live trades real money: set allow_live: true"),
    # crypto trades Binance (it has a testnet): mode paper needs the exchange's testnet keys
    ({"group_vars": {"quantshift_bot_modes": {"equity": "paper", "crypto": "paper"}}},
     "crypto in mode paper: ct100: QUANTSHIFT_EXCHANGE_API_KEY is not set"),
    ({"group_vars": {"quantshift_bot_modes": {"equity": "live"}, "quantshift_bot_allow_live": True,
                     "quantshift_bot_env": PAPER_KEYS}},
     "APCA_API_KEY_ID is a paper account's key (PK...) but the bot trades live"),
])
def test_a_bad_inventory_fails_in_preflight_with_one_message_and_touches_no_host(tmp_path, kwargs, message):
    r = preflight(inventory(tmp_path, **kwargs))
    assert r.returncode != 0
    assert message in " ".join(r.stdout.split()), r.stdout
    assert "UNREACHABLE" not in r.stdout and "192.0.2." not in r.stdout, "no host may be contacted"
    for value in ("Q7" * 9, "z9" * 20):
        assert value not in r.stdout + r.stderr, "a broker key's value is printed"


def test_crypto_paper_on_binances_testnet_passes_with_the_exchange_keys(tmp_path):
    env = {**PAPER_KEYS, "QUANTSHIFT_EXCHANGE_API_KEY": "k4" * 16, "QUANTSHIFT_EXCHANGE_API_SECRET": "s4" * 24}
    r = preflight(inventory(tmp_path, group_vars={"quantshift_bot_modes": {"equity": "paper", "crypto": "paper"},
                                                  "quantshift_bot_env": env}))
    assert r.returncode == 0, r.stdout[-3000:]


def test_live_trading_with_its_confirmation_and_a_live_key_passes(tmp_path):
    r = preflight(inventory(tmp_path, group_vars={"quantshift_bot_modes": {"equity": "live"},
                                                  "quantshift_bot_allow_live": True, "quantshift_bot_env": LIVE_KEYS}))
    assert r.returncode == 0, r.stdout[-3000:]


@pytest.mark.parametrize("extra, message", [
    # An -e value is a string: the spec converts it, or names it.
    ("failover_monitor_check_interval_seconds=abc",
     "argument 'failover_monitor_check_interval_seconds' is of type str and we were unable to convert to int"),
    ("failover_monitor_stale_threshold_seconds=20", "failover timings: need heartbeat (30 s) > 0"),
    ("quantshift_bot_heartbeat_interval_seconds=-5", "need heartbeat (-5 s) > 0"),
    ("failover_monitor_cooldown_seconds=30", "stale threshold <= cooldown (30 s)"),
    ("quantshift_bot_restart_sec=ten", "argument 'quantshift_bot_restart_sec' is of type str"),
    ("redis_min_replicas_to_write=one", "argument 'redis_min_replicas_to_write' is of type str"),
    # The roles' own settings rules, run up front by the site preflight.
    ("redis_maxmemory=512XB", "redis: redis_maxmemory like 512mb (got 512XB)"),
    ("failover_monitor_watchdog_sec=100", "watchdog_sec (100) >= ready_timeout_seconds (120) + 60"),
    ("prometheus_scrape_interval=15", "scrape interval like 15s (got 15)"),
    ("alertmanager_group_wait=soon", "durations like 30s, 5m, 4h (group_wait soon"),
    ("prometheus_runbook_base_url=git.example.org/ops", "prometheus_runbook_base_url: must be empty or an http(s) URL"),
    ('{"quantshift_bot_instances": [{"name": "equity", "metrics_port": 9200, "base_config": "missing.yaml"}]}',
     "base_config present in roles/quantshift_bot/files/base_configs"),
])
def test_a_bad_extra_var_fails_up_front_with_one_message_naming_it(tmp_path, extra, message):
    r = preflight(inventory(tmp_path), "-e", extra)
    assert r.returncode != 0
    assert message in " ".join(r.stdout.split()), r.stdout[-3000:]
    assert "UNREACHABLE" not in r.stdout and "192.0.2." not in r.stdout, "no host may be contacted"


def test_a_string_extra_var_that_converts_is_accepted(tmp_path):
    r = preflight(inventory(tmp_path), "-e", "failover_monitor_stale_threshold_seconds=90",
                  "-e", "failover_monitor_check_interval_seconds=5")
    assert r.returncode == 0, r.stdout[-3000:]
