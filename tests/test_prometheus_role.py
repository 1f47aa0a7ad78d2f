"""The files the prometheus role generates from the bot list, rendered by Ansible
from the role's own templates and defaults:

* the expected-bots recording rules equal the fixtures the promtool unit tests
  load (files/prometheus/tests/fixtures/), so those tests run on what the role
  deploys, and pass `promtool check rules`;
* each bot's scrape targets carry bot=<name> and account=<name>, and
  market=<market> only when the bot entry has one;
* in the modular architecture every bot host x every component of every account
  (quantshift.naming.components, the inventory's port table) is a target of its
  kind's job, labelled with its account, kind, unit, strategy and worker; the
  monolith has none of those jobs; both configs pass `promtool check config`;
* the settings refuse two processes sharing a port on the bot hosts.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_render import run_plays
from bot_inventory import INVENTORY
from quantshift import naming

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles/prometheus"
FIXTURES = ROOT / "files/prometheus/tests/fixtures"
HOSTS = ("ct100", "ct101")
TWO_BOTS = [{"name": "equity", "metrics_port": 9200, "market": "us_equity"},
            {"name": "crypto", "metrics_port": 9201}]
# The third account of the promtool cases: a second crypto account.
THREE_BOTS = TWO_BOTS + [{"name": "crypto2", "metrics_port": 9202}]
# The accounts as the inventory has them (ports table included).
INVENTORY_BOTS = yaml.safe_load(INVENTORY.read_text())["quantshift_bot_instances"]
COMPONENT_JOBS = ("market_data_service", "ml_regime_service", "signal_workers")
# scrape config name -> (architecture, signal worker instances)
SCRAPE_CONFIGS = {"modular-1": ("modular", 1), "modular-2": ("modular", 2), "monolith": ("monolith", 1)}
# fixture file -> the bot list it was rendered for
TOPOLOGIES = {"expected-bots.rules.yml": TWO_BOTS, "expected-bots-crypto2.rules.yml": THREE_BOTS}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The expected-bots rules per topology (named like its fixture), and the
    scrape config for THREE_BOTS (prometheus.yml)."""
    out = tmp_path_factory.mktemp("prometheus")
    (out / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"bots": {"hosts": {h: None for h in HOSTS}}}}}))
    run_plays(out, [{
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable, "topologies": TOPOLOGIES,
                 "scrape_configs": SCRAPE_CONFIGS},
        "vars_files": [str(ROLE / "defaults/main.yml")],
        "tasks": [
            {"name": "Expected bots", "loop": "{{ topologies | dict2items }}",
             "vars": {"prometheus_quantshift_bots": "{{ item.value }}"},
             "ansible.builtin.template": {"src": str(ROLE / "templates/quantshift-expected-bots.rules.yml.j2"),
                                          "dest": f"{out}/{{{{ item.key }}}}", "mode": "0644"}},
            {"name": "Scrape config", "vars": {"prometheus_quantshift_bots": THREE_BOTS},
             "ansible.builtin.template": {"src": str(ROLE / "templates/prometheus.yml.j2"),
                                          "dest": f"{out}/prometheus.yml", "mode": "0644"}},
            # The inventory's accounts in each architecture (prometheus-<name>.yml).
            {"name": "Scrape config per architecture", "loop": "{{ scrape_configs | dict2items }}",
             "vars": {"prometheus_quantshift_bots": INVENTORY_BOTS,
                      "prometheus_bot_architecture": "{{ item.value[0] }}",
                      "prometheus_signal_worker_instances": "{{ item.value[1] }}"},
             "ansible.builtin.template": {"src": str(ROLE / "templates/prometheus.yml.j2"),
                                          "dest": f"{out}/prometheus-{{{{ item.key }}}}.yml", "mode": "0644"}},
        ],
    }])
    return out


def jobs(path: Path) -> dict[str, dict]:
    return {j["job_name"]: j for j in yaml.safe_load(path.read_text())["scrape_configs"]}


def component_targets(config: dict[str, dict]) -> set[tuple[str, str, tuple]]:
    """(job, target, sorted labels) of every component job's target."""
    return {(name, target, tuple(sorted(sc["labels"].items())))
            for name in COMPONENT_JOBS for sc in config.get(name, {}).get("static_configs", [])
            for target in sc["targets"]}


def expected_component_targets(worker_instances: int) -> set[tuple[str, str, tuple]]:
    """What the inventory and quantshift.naming say: every bot host x every component."""
    found = set()
    for bot in INVENTORY_BOTS:
        for c in naming.components(bot["name"], bot["metrics_port"], bot.get("components"), naming.MODULAR,
                                   worker_instances):
            if c.kind == naming.COORDINATOR:
                continue
            for host in HOSTS:
                labels = {"instance": host, "account": c.account, "component": c.kind, "unit": c.unit}
                if c.strategy:
                    labels.update(strategy=c.strategy, worker=str(c.instance))
                found.add((c.job, f"{host}:{c.port}", tuple(sorted(labels.items()))))
    return found


@pytest.mark.parametrize("fixture", sorted(TOPOLOGIES))
def test_promtool_fixture_is_what_the_role_renders(rendered, fixture):
    # Compared as YAML: only the comments differ (the fixture says where it comes from).
    assert yaml.safe_load((FIXTURES / fixture).read_text()) == yaml.safe_load((rendered / fixture).read_text()), \
        f"{fixture} differs from the role's render for {[b['name'] for b in TOPOLOGIES[fixture]]}: copy it again"


@pytest.mark.parametrize("fixture", sorted(TOPOLOGIES))
def test_expected_bots_are_one_valid_series_per_bot(rendered, fixture):
    result = subprocess.run(["promtool", "check", "rules", str(rendered / fixture)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = [r for g in yaml.safe_load((rendered / fixture).read_text())["groups"] for r in g["rules"]]
    assert [(r["record"], r["expr"], r["labels"]) for r in rules] == [
        ("quantshift:bot_expected", "vector(1)", {"job": f"quantshift_{b['name']}", "bot": b["name"]})
        for b in TOPOLOGIES[fixture]
    ], "one quantshift:bot_expected per bot, labelled with its job and bot"


def test_bot_targets_carry_the_market_label_only_when_the_bot_has_one(rendered):
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for bot in THREE_BOTS:
        expected = {"bot": bot["name"], "account": bot["name"],
                    **({"market": bot["market"]} if "market" in bot else {})}
        labels = [t["labels"] for t in jobs[f"quantshift_{bot['name']}"]["static_configs"]]
        assert labels == [{"instance": h, **expected} for h in HOSTS], f"{bot['name']}: target labels {labels}"
    monitor = [t["labels"] for t in jobs["quantshift_failover_monitor"]["static_configs"]]
    assert all("bot" not in labels for labels in monitor), "the rules tell bots from the monitor by the bot label"


def test_the_scrape_config_is_the_same_whatever_order_the_inventory_lists_its_hosts(tmp_path):
    # Molecule's generated inventory lists ct100, ct101, monitor first; the lab's own
    # lists monitor first. A config that followed that order changed on the first
    # site.yml run after the chaos suite's converge (caught by its zero-change check).
    def render(order: list[str]) -> str:
        out = tmp_path / "-".join(order)
        out.mkdir()
        (out / "hosts.yml").write_text(yaml.safe_dump({"all": {
            "hosts": {h: {"ansible_host": f"192.0.2.{i}"} for i, h in
                      sorted(enumerate(["monitor", "ct100", "ct101"], 10), key=lambda x: order.index(x[1]))},
            "children": {"bots": {"hosts": {"ct100": None, "ct101": None}}, "database": {"hosts": {"monitor": None}}}}},
            sort_keys=False))
        run_plays(out, [{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "vars_files": [str(ROLE / "defaults/main.yml")],
            "tasks": [{"name": "Scrape config", "ansible.builtin.template": {
                "src": str(ROLE / "templates/prometheus.yml.j2"), "dest": f"{out}/prometheus.yml", "mode": "0644"}}],
        }])
        return (out / "prometheus.yml").read_text()

    first, second = render(["monitor", "ct100", "ct101"]), render(["ct100", "ct101", "monitor"])
    assert "job_name: node" in first and first == second


def test_every_bot_host_and_component_of_the_inventory_is_a_target_of_its_kinds_job(rendered):
    config = jobs(rendered / "prometheus-modular-1.yml")
    assert component_targets(config) == expected_component_targets(1)
    # The seed's ports, read from the inventory's table (not from the template).
    ports = {(account, name): sorted({int(t.rsplit(":", 1)[1]) for n, t, labels in
                                                      component_targets(config) if n == name
                                                      and dict(labels)["account"] == account})
             for account in ("equity", "crypto") for name in COMPONENT_JOBS}
    assert ports == {("equity", "market_data_service"): [9300], ("equity", "ml_regime_service"): [9400],
                     ("equity", "signal_workers"): [9210, 9211, 9212],
                     ("crypto", "market_data_service"): [9301], ("crypto", "ml_regime_service"): [9401],
                     ("crypto", "signal_workers"): [9220, 9221, 9222]}
    # The coordinator stays the account's own job (today's rules and dashboards key on it).
    assert [sc["targets"] for sc in config["quantshift_equity"]["static_configs"]] == [["ct100:9200"], ["ct101:9200"]]
    assert "trading_coordinator" not in config


def test_component_targets_carry_no_bot_label(rendered):
    # The bot rules select bots by bot!="": a component with one would count as a
    # bot that never holds the lease (QuantShiftBotDown for job signal_workers).
    for name, _target, labels in component_targets(jobs(rendered / "prometheus-modular-1.yml")):
        assert "bot" not in dict(labels), name


def test_a_second_worker_instance_adds_its_targets_and_nothing_else(rendered):
    one, two = (component_targets(jobs(rendered / f"prometheus-modular-{n}.yml")) for n in (1, 2))
    assert two == expected_component_targets(2)
    added = two - one
    assert one < two and {name for name, _t, _l in added} == {"signal_workers"}
    assert {dict(labels)["worker"] for _n, _t, labels in added} == {"2"}
    assert sorted({int(t.rsplit(":", 1)[1]) for _n, t, _l in added}) == [9213, 9214, 9215, 9223, 9224, 9225]
    assert len(added) == len(INVENTORY_BOTS) * len(naming.STRATEGIES) * len(HOSTS)


def test_the_monolith_has_no_component_jobs(rendered):
    config = jobs(rendered / "prometheus-monolith.yml")
    assert not set(COMPONENT_JOBS) & set(config)
    assert {f"quantshift_{b['name']}" for b in INVENTORY_BOTS} <= set(config)


@pytest.mark.parametrize("name", sorted(SCRAPE_CONFIGS))
def test_promtool_accepts_the_scrape_config(rendered, name):
    result = subprocess.run(["promtool", "check", "config", "--syntax-only", str(rendered / f"prometheus-{name}.yml")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _settings(tmp_path: Path, extra: dict) -> subprocess.CompletedProcess | None:
    """Run the role's settings.yml with the inventory's bots and extra; None when it passes."""
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"bots": {"hosts": {h: None for h in HOSTS}}, "database": {"hosts": {"monitor": None}}}}}))
    try:
        run_plays(tmp_path, [{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "vars_files": [str(ROLE / "defaults/main.yml")],
            # task vars: above the defaults file (play vars are below vars_files)
            "tasks": [{"name": "Settings", "ansible.builtin.include_tasks": str(ROLE / "tasks/settings.yml"),
                       "vars": {"prometheus_quantshift_bots": INVENTORY_BOTS, **extra}}],
        }])
    except AssertionError as e:
        return e
    return None


def test_the_settings_pass_for_the_inventorys_ports(tmp_path):
    assert _settings(tmp_path, {}) is None


@pytest.mark.parametrize("extra, shared", [
    # equity's 4th instance: 9210 + 3 * 3 .. = 9219, 9220, 9221: crypto's first workers
    ({"prometheus_signal_worker_instances": 4}, "shared: 9220, 9221"),
    ({"prometheus_failover_monitor_port": 9400}, "shared: 9400"),
    ({"prometheus_redis_exporter_port": 9301}, "shared: 9301"),
])
def test_the_settings_refuse_two_processes_on_one_port(tmp_path, extra, shared):
    failure = _settings(tmp_path, extra)
    assert failure is not None and shared in " ".join(str(failure).split()), failure


def test_the_monolith_needs_only_the_bots_ports_free(tmp_path):
    # No components run: a port only a component would use is free.
    assert _settings(tmp_path, {"prometheus_bot_architecture": "monolith", "prometheus_failover_monitor_port": 9400}) \
        is None
