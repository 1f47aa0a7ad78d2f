"""What the roles write, rendered by Ansible from the roles' own templates, defaults and
the shared inventory settings (inventories/common/all.yml), then read back by the
package, systemd and the lab scripts:

* the bot and monitor configs load in the package (which refuses unknown keys), with
  every bot host's Redis in the monitor's redis_peers and the host lock directory in
  each bot's config;
* every unit (each account's components and target, monitor, OnFailure alert) passes
  `systemd-analyze verify`;
* adding a bot account is a change to one inventory file: with a third entry in
  common/all.yml, every derived name follows (configs, units, monitor, Prometheus
  targets and the dashboards' bot variable, lab status).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantshift import config, naming
from quantshift.failover import monitor_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lab_status  # noqa: E402
from ansible_render import run_plays  # noqa: E402

ADDRESSES = {"ct100": "192.0.2.10", "ct101": "192.0.2.11"}
ENV = {config.ENV_DB_PASSWORD: "b" * 20, config.ENV_REDIS_PASSWORD: "r" * 20,
       config.ENV_MONITOR_DB_PASSWORD: "m" * 20}
COMMON = ROOT / "inventories/common/all.yml"
# The one-file change an operator makes to add a second crypto account.
THIRD_BOT = """  - name: crypto2
    metrics_port: 9202
    components: {market_data_port: 9302, regime_port: 9402, signal_worker_port: 9230}
    base_config: crypto.yaml
"""
# What a host can hold from earlier deploys (tasks/configure.yml finds them there): the
# monolith's unit from before the targets, the monolith's -bot unit, a second worker
# instance, beside the failover monitor's unit and today's components.
EARLIER_UNITS = [naming.unit("equity"), naming.unit("crypto"), "quantshift-equity-bot.service",
                 "quantshift-crypto-signal-worker-breakout-momentum-2.service", naming.unit(naming.MONITOR)]


def with_third_bot(common: str) -> str:
    """common/all.yml with THIRD_BOT appended to quantshift_bot_instances."""
    head, rest = common.split("quantshift_bot_instances:\n", 1)
    entries = re.match(r"((?:  [- ].*\n)+)", rest).group(1)
    return head + "quantshift_bot_instances:\n" + entries + THIRD_BOT + rest[len(entries):]


def render(out: Path, common: str, environment: str = "lab") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "bots": {"children": {"primary": {"hosts": {"ct100": {"ansible_host": ADDRESSES["ct100"]}}},
                              "standby": {"hosts": {"ct101": {"ansible_host": ADDRESSES["ct101"]}}}}},
        "database": {"hosts": {"db": {"ansible_host": "192.0.2.12"}}},
        "monitoring": {"hosts": {"db": None}}}}}))
    # Role defaults first, the shared settings over them (as inventory vars win over defaults).
    (out / "group_vars/all").mkdir(parents=True)
    for role in ("quantshift_bot", "failover_monitor", "prometheus"):
        (out / f"group_vars/all/00-{role}.yml").write_text((ROOT / f"roles/{role}/defaults/main.yml").read_text())
    (out / "group_vars/all/10-common.yml").write_text(common)
    # The environment's own settings (the lab: sim trading on the offline feed).
    (out / "group_vars/all/20-env.yml").write_text(
        (ROOT / f"inventories/{environment}/group_vars/all/main.yml").read_text())
    # The role's file lookups (base_configs/) resolve next to the playbook, as in the role.
    (out / "files").symlink_to(ROOT / "roles/quantshift_bot/files")
    home = f"{out}/{{{{ inventory_hostname }}}}"
    unit_dir = home + "/units"
    template = {"mode": "0644"}
    run_plays(out, [{
        "hosts": "bots",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(ROOT / "roles/quantshift_bot/vars/main.yml"),
                       str(ROOT / "roles/failover_monitor/vars/main.yml")],
        "vars": {
            "ansible_python_interpreter": sys.executable,
            "quantshift_bot_home": home,
            "quantshift_bot_db_host": "192.0.2.12",
            "failover_monitor_home": home,
            "failover_monitor_db_user": "qs_failover_monitor",
            "__failover_monitor_package": {"content": "{{ 'test-fingerprint' | b64encode }}"},
        },
        "tasks": [
            {"name": "Trading settings, as the role's settings.yml works them out",
             "ansible.builtin.set_fact": {"__quantshift_bot_trading_by_name": "{{ __quantshift_bot_trading_computed }}"}},
            {"name": "Dirs", "loop": [home, unit_dir],
             "ansible.builtin.file": {"path": "{{ item }}", "state": "directory", "mode": "0755"}},
            {"name": "Bot configs", "loop": "{{ quantshift_bot_instances }}",
             "ansible.builtin.template": {**template, "src": str(ROOT / "roles/quantshift_bot/templates/bot_config.yaml.j2"),
                                          "dest": "{{ item.name | quantshift_config_path(quantshift_bot_home) }}"}},
            {"name": "Component units", "loop": "{{ __quantshift_bot_components }}",
             "vars": {"quantshift_component": "{{ __quantshift_bot_unit }}"},
             "ansible.builtin.template": {**template, "src": str(ROOT / "templates/quantshift-component.service.j2"),
                                          "dest": unit_dir + "/{{ item.unit }}"}},
            {"name": "Account targets", "loop": "{{ quantshift_bot_instances }}",
             "ansible.builtin.template": {**template,
                                          "src": str(ROOT / "roles/quantshift_bot/templates/quantshift-account.target.j2"),
                                          "dest": unit_dir + "/{{ item.name | quantshift_target }}"}},
            {"name": "Alert unit", "vars": {"quantshift_component": "{{ __quantshift_bot_component }}"},
             "ansible.builtin.template": {**template, "src": str(ROOT / "templates/quantshift-alert@.service.j2"),
                                          "dest": unit_dir + "/quantshift-alert@.service"}},
            {"name": "Monitor unit", "vars": {"quantshift_component": "{{ __failover_monitor_component }}"},
             "ansible.builtin.template": {**template, "src": str(ROOT / "templates/quantshift-component.service.j2"),
                                          "dest": unit_dir + "/{{ __failover_monitor_unit_name }}"}},
            {"name": "Monitor config",
             "ansible.builtin.template": {**template,
                                          "src": str(ROOT / "roles/failover_monitor/templates/failover_monitor.yaml.j2"),
                                          "dest": "{{ 'failover-monitor' | quantshift_config_path(failover_monitor_home) }}"}},
            {"name": "Stale units, from what an earlier deploy left (find's result)",
             "vars": {"__quantshift_bot_found_units": {"files": [
                 {"path": "/etc/systemd/system/" + u}
                 for u in EARLIER_UNITS + ["{{ __quantshift_bot_component_units | first }}"]]}},
             "ansible.builtin.copy": {"content": "{{ __quantshift_bot_stale_units | to_json }}",
                                      "dest": home + "/stale-units.json", "mode": "0644"}},
            {"name": "Extras the bots need", "run_once": True,
             "ansible.builtin.copy": {"content": "{{ __quantshift_bot_install_extras | to_json }}",
                                      "dest": f"{out}/extras.json", "mode": "0644"}},
            {"name": "Prometheus config", "run_once": True,
             "vars": {"prometheus_alertmanager_targets": []},
             "ansible.builtin.template": {**template, "src": str(ROOT / "roles/prometheus/templates/prometheus.yml.j2"),
                                          "dest": f"{out}/prometheus.yml"}},
        ],
    }])
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("deploy"), COMMON.read_text())


@pytest.fixture(scope="module")
def rendered_three(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("deploy3"), with_third_bot(COMMON.read_text()))


@pytest.fixture(scope="module")
def rendered_production(tmp_path_factory) -> Path:
    """Production's settings (rendered here, never deployed from here)."""
    return render(tmp_path_factory.mktemp("deploy-prod"), COMMON.read_text(), "production")


def test_production_starts_with_equity_paper_at_alpaca_and_crypto_sim_on_real_candles(rendered_production):
    env = {**ENV, "APCA_API_KEY_ID": "PK" + "Q7" * 9, "APCA_API_SECRET_KEY": "z9" * 20}
    equity = config.load(str(rendered_production / "ct100/equity_config.yaml"), env)
    crypto = config.load(str(rendered_production / "ct100/crypto_config.yaml"), env)
    assert (equity.broker.kind, equity.broker.paper, equity.marketdata.source) == ("alpaca", True, "alpaca")
    assert (crypto.broker.kind, crypto.marketdata.source, crypto.marketdata.sandbox) == ("sim", "ccxt", False)
    assert crypto.broker.exchange == "binance" and crypto.marketdata.exchange is None  # Binance's candles
    # their client libraries are installed on the hosts without anyone listing them
    # (and the modular architecture's regime service its ML library)
    assert json.loads((rendered_production / "extras.json").read_text()) == ["alpaca", "ccxt", "regime"]


def test_production_bots_fit_their_venues_request_budget(rendered_production):
    """The rendered configs load (the loader refuses a list over budget); here the
    budget itself: real market data, inside half the cycle."""
    env = {**ENV, "APCA_API_KEY_ID": "PK" + "Q7" * 9, "APCA_API_SECRET_KEY": "z9" * 20}
    for account in ("equity", "crypto"):
        cfg = config.load(str(rendered_production / f"ct100/{account}_config.yaml"), env)
        found = config.candle_budget(cfg)
        assert found is not None and found.fits and found.need_seconds < cfg.cycle_interval_seconds / 2, found


def test_the_lab_needs_no_client_library_only_the_regime_services(rendered):
    assert json.loads((rendered / "extras.json").read_text()) == ["regime"]


@pytest.mark.parametrize("host", sorted(ADDRESSES))
def test_an_upgraded_host_loses_every_account_unit_that_is_no_component(rendered, host):
    """A host deployed before the targets runs quantshift-<account>.service: the role stops,
    disables and removes it (and the other architecture's units, extra workers), never a
    current component or the failover monitor. molecule/default plants the old units live."""
    stale = json.loads((rendered / host / "stale-units.json").read_text())
    assert stale == sorted(EARLIER_UNITS[:4])


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


def test_every_component_of_an_account_reads_its_config_with_the_inventorys_ports(rendered):
    """One config per account; its modular: ports are the inventory's port table, the
    ones naming.components() gives the units (and Prometheus its targets)."""
    common = yaml.safe_load(COMMON.read_text())
    for bot in common["quantshift_bot_instances"]:
        cfg = config.load(str(rendered / "ct100" / f"{bot['name']}_config.yaml"), ENV)
        ports = {c.kind if not c.strategy else (c.strategy, c.instance): c.port
                 for c in naming.components(bot["name"], bot["metrics_port"], bot["components"])}
        assert cfg.metrics_port == ports["coordinator"]
        assert (cfg.modular.market_data_port, cfg.modular.regime_port) == (ports["market-data"], ports["regime"])
        assert all(cfg.signal_worker_port(s, i) == port for key, port in ports.items() if isinstance(key, tuple)
                   for s, i in [key])


def test_deployed_bots_trade_the_seeds_symbol_counts(rendered):
    """The role's base configs: ~100 equities and ~50 crypto pairs (the seed)."""
    equity = config.load(str(rendered / "ct100" / "equity_config.yaml"), ENV)
    crypto = config.load(str(rendered / "ct100" / "crypto_config.yaml"), ENV)
    assert 95 <= len(equity.symbols) <= 105 and 45 <= len(crypto.symbols) <= 55
    assert equity.metrics_port == 9200 and crypto.metrics_port == 9201


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_every_unit_comes_from_the_shared_template_and_passes_systemd_analyze_verify(rendered):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found (Debian package systemd)")
    units = rendered / "ct100" / "units"
    names = sorted(p.name for p in units.iterdir())
    components = {a: naming.components(a, port, ports) for a, port, ports in (
        ("equity", 9200, {"market_data_port": 9300, "regime_port": 9400, "signal_worker_port": 9210}),
        ("crypto", 9201, {"market_data_port": 9301, "regime_port": 9401, "signal_worker_port": 9220}))}
    assert names == sorted([c.unit for cs in components.values() for c in cs]
                           + [naming.target("equity"), naming.target("crypto"), naming.unit(naming.MONITOR),
                              "quantshift-alert@.service"])
    # verify resolves ExecStart=: the binaries do not exist here, so only that complaint is allowed.
    r = subprocess.run(["systemd-analyze", "verify", *(str(units / n) for n in names if "@" not in n)],
                       capture_output=True, text=True, timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if line.strip() and "is not executable" not in line and "No such file" not in line
                and "Command " not in line]
    assert problems == [], problems
    home = rendered / "ct100"
    monitor = unit_settings(units / naming.unit(naming.MONITOR))
    for account, cs in components.items():
        for c in cs:
            unit = unit_settings(units / c.unit)
            # The seed's unit on every component: watchdog, restart policy, the shared .env, the service user.
            assert (unit["Type"], unit["WatchdogSec"], unit["Restart"], unit["RestartSec"]) == (
                ["notify"], ["90s"], ["always"], ["10s"]), c.unit
            assert unit["EnvironmentFile"] == [str(home / ".env")] and unit["User"] == ["quantshift"]
            assert unit["OnFailure"] == ["quantshift-alert@%n.service"]
            # Every component reads the account's config; a worker gets its strategy and instance after it.
            assert unit["ExecStart"] == [" ".join([f"{home}/venv/bin/{c.command}", "--config",
                                                   f"{home}/{account}_config.yaml", *c.args])]
            # Started by its target (Wants=), stopped and restarted with it (PartOf=), no [Install] of its own.
            assert unit["PartOf"] == [naming.target(account)] and "WantedBy" not in unit
        target = unit_settings(units / naming.target(account))
        assert target["Wants"] == target["After"] == [c.unit for c in cs]
        assert target["WantedBy"] == ["multi-user.target"]
    coordinator = unit_settings(units / components["equity"][0].unit)
    assert coordinator["ExecStart"][0].split()[0].endswith("/quantshift-coordinator")
    worker = unit_settings(units / components["crypto"][-1].unit)
    assert worker["ExecStart"][0].endswith("--strategy breakout_momentum --instance 1")
    # The monitor is watched too, and runs on its own (not part of an account).
    assert monitor["Type"] == ["notify"] and monitor["WatchdogSec"] == ["180s"] and "User" not in monitor
    assert monitor["OnFailure"] == ["quantshift-alert@%n.service"] and "PartOf" not in monitor
    assert monitor["WantedBy"] == ["multi-user.target"]
    assert monitor["CapabilityBoundingSet"] == ["CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER"]


def test_a_third_bot_is_one_inventory_entry_and_every_derived_name_follows(rendered_three, monkeypatch):
    host = rendered_three / "ct101"
    # bot config and unit
    cfg = config.load(str(host / "crypto2_config.yaml"), ENV)
    assert (cfg.name, cfg.metrics_port, cfg.metrics_prefix) == ("crypto2", 9202, "quantshift_crypto2")
    assert cfg.symbols == config.load(str(host / "crypto_config.yaml"), ENV).symbols  # same base config
    assert (cfg.modular.market_data_port, cfg.modular.regime_port, cfg.modular.signal_worker_port) == (
        9302, 9402, 9230)
    crypto2 = naming.components("crypto2", 9202, {"market_data_port": 9302, "regime_port": 9402,
                                                  "signal_worker_port": 9230})
    assert len(crypto2) == 6
    for c in crypto2:
        unit = unit_settings(host / "units" / c.unit)
        assert unit["ExecStart"] == [" ".join([f"{host}/venv/bin/{c.command}", "--config",
                                               f"{host}/crypto2_config.yaml", *c.args])]
        assert unit["PartOf"] == [naming.target("crypto2")]
    assert unit_settings(host / "units" / naming.target("crypto2"))["Wants"] == [c.unit for c in crypto2]
    # the failover monitor watches it and takes it over with the others (its target)
    _, watched = monitor_config.load_config(str(host / "failover_monitor.yaml"), env=ENV)
    assert watched.accounts == ["equity", "crypto", "crypto2"]
    assert watched.units[-1] == naming.target("crypto2")
    # Prometheus scrapes it on every bot host, labelled for the rules and the dashboards' bot variable
    prometheus = yaml.safe_load((rendered_three / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "quantshift_crypto2")
    assert sorted(t["targets"][0] for t in job["static_configs"]) == [f"{a}:9202" for a in sorted(ADDRESSES.values())]
    assert all(t["labels"]["bot"] == "crypto2" for t in job["static_configs"])
    for dashboard in (ROOT / "files/grafana/dashboards").glob("*.json"):
        variables = {v["name"]: v for v in json.loads(dashboard.read_text())["templating"]["list"]}
        assert variables["bot"]["query"]["query"] == 'label_values(up{bot!=""}, bot)', dashboard.name
    # lab status lists its target, every component and their metrics ports from the inventory
    monkeypatch.setattr(lab_status, "INVENTORY", rendered_three / "hosts.yml")
    assert naming.target("crypto2") in lab_status.services()["bots"]
    assert lab_status.components()["crypto2"] == crypto2
    assert {b["name"]: b["metrics_port"] for b in lab_status.bot_instances()}["crypto2"] == 9202
