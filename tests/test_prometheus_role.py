"""The files the prometheus role generates from the bot list, rendered by Ansible
from the role's own templates and defaults:

* the expected-bots recording rules equal the fixtures the promtool unit tests
  load (files/prometheus/tests/fixtures/), so those tests run on what the role
  deploys, and pass `promtool check rules`;
* each bot's scrape targets carry bot=<name>, and market=<market> only when the
  bot entry has one (QuantShiftMarketDataStale reads it).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_render import run_plays

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles/prometheus"
FIXTURES = ROOT / "files/prometheus/tests/fixtures"
HOSTS = ("ct100", "ct101")
TWO_BOTS = [{"name": "equity", "metrics_port": 9200, "market": "us_equity"},
            {"name": "crypto", "metrics_port": 9201}]
# The third account of the promtool cases: a second crypto account.
THREE_BOTS = TWO_BOTS + [{"name": "crypto2", "metrics_port": 9202}]
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
        "vars": {"ansible_python_interpreter": sys.executable, "topologies": TOPOLOGIES},
        "vars_files": [str(ROLE / "defaults/main.yml")],
        "tasks": [
            {"name": "Expected bots", "loop": "{{ topologies | dict2items }}",
             "vars": {"prometheus_quantshift_bots": "{{ item.value }}"},
             "ansible.builtin.template": {"src": str(ROLE / "templates/quantshift-expected-bots.rules.yml.j2"),
                                          "dest": f"{out}/{{{{ item.key }}}}", "mode": "0644"}},
            {"name": "Scrape config", "vars": {"prometheus_quantshift_bots": THREE_BOTS},
             "ansible.builtin.template": {"src": str(ROLE / "templates/prometheus.yml.j2"),
                                          "dest": f"{out}/prometheus.yml", "mode": "0644"}},
        ],
    }])
    return out


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
        expected = {"bot": bot["name"], **({"market": bot["market"]} if "market" in bot else {})}
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
