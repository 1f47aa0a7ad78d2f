"""Unit names and paths have one rule (bots/src/quantshift/naming.py): the roles
and playbooks use it through filter_plugins/quantshift.py, the chaos suite and the
lab scripts import it. A literal unit name or home path elsewhere fails here, and so
does a bot-host port typed again outside the shared settings."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quantshift import naming

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import inventory_vars  # noqa: E402

# A unit name, the home or a config path typed out instead of derived.
LITERAL = re.compile(r"quantshift-\{\{|/opt/quantshift|quantshift-(equity|crypto)\b|\b(equity|crypto)_config\.yaml"
                     r"|quantshift-failover-monitor\.service(?!\.j2)|failover_monitor\.yaml(?!\.j2)")


def test_the_filters_are_the_package_rules():
    spec = importlib.util.spec_from_file_location("qs_filters", ROOT / "filter_plugins/quantshift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters = module.FilterModule().filters()
    assert filters["quantshift_unit"]("equity") == naming.unit("equity") == "quantshift-equity.service"
    assert filters["quantshift_config_path"]("crypto", "/srv/qs") == "/srv/qs/crypto_config.yaml"
    assert naming.config_path(naming.MONITOR) == "/opt/quantshift/failover_monitor.yaml"
    assert filters["quantshift_target"]("equity") == naming.target("equity") == "quantshift-equity.target"
    assert filters["quantshift_architecture_extras"]("modular") == ["regime"]
    assert filters["quantshift_architecture_extras"]("monolith") == []


def test_the_account_unit_globs_find_every_unit_an_account_ever_had_and_nothing_else():
    """The role removes what these globs find beyond components(): the monolith's unit from
    before the targets, either architecture's units, but never another account's or the monitor's."""
    import fnmatch

    globs = naming.account_unit_globs("crypto")
    ever = ([naming.unit("crypto")]
            + [c.unit for n in (1, 2, 3) for c in naming.components("crypto", 9201, None, naming.MODULAR, n)]
            + [c.unit for c in naming.components("crypto", 9201, None, naming.MONOLITH)])
    others = ([naming.unit(naming.MONITOR), "quantshift-alert@.service", naming.target("crypto"),
               naming.unit("crypto2")]
              + [c.unit for c in naming.components("crypto2", 9202)]
              + [c.unit for c in naming.components("equity", 9200)])
    assert all(any(fnmatch.fnmatchcase(u, g) for g in globs) for u in ever)
    assert not any(fnmatch.fnmatchcase(u, g) for u in others for g in globs)


def _settings_ports() -> set[str]:
    gv = inventory_vars.group_vars_all(ROOT / "inventories/lab")
    ports = {b["metrics_port"] for b in gv["quantshift_bot_instances"]}
    ports |= {gv["failover_monitor_metrics_port"], gv["redis_exporter_port"], gv["node_exporter_port"],
              gv["postgres_exporter_port"]}
    return {str(p) for p in ports}


def test_no_deployment_name_is_typed_out_in_roles_playbooks_scripts_or_scenarios():
    ports = re.compile(r"(?<![\d.])(" + "|".join(sorted(_settings_ports())) + r")(?![\d.])")
    found = []
    for top in ("roles", "playbooks", "molecule", "scripts"):
        for path in sorted((ROOT / top).rglob("*")):
            # Role defaults and argument specs document a role's own standalone default.
            if (not path.is_file() or path.suffix not in (".yml", ".j2", ".py", ".sh")
                    or path.parent.name in ("defaults", "meta")):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0] if path.suffix in (".yml", ".sh", ".py") else line
                if LITERAL.search(code) or ports.search(code):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == [], "derive these from quantshift.naming / the filters:\n" + "\n".join(found)


def test_the_unit_verify_command_checks_the_file_under_its_unit_name(tmp_path):
    """The `validate:` of every unit template: systemd-analyze verify on a copy named like the unit."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found (Debian package systemd)")
    spec = importlib.util.spec_from_file_location("qs_filters", ROOT / "filter_plugins/quantshift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verify = module.FilterModule().filters()["quantshift_unit_verify"]
    good, bad = tmp_path / "ansible-tmp-1", tmp_path / "ansible-tmp-2"
    good.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    bad.write_text("[Service]\nType=oneshot\nExecStart=/nonexistent/quantshift-bot\n")
    # Ansible runs validate with %s replaced by its temporary file.
    run = [subprocess.run(verify("quantshift-probe.service").replace("%s", str(path)), shell=True,
                          capture_output=True, text=True, timeout=60) for path in (good, bad)]
    assert run[0].returncode == 0, run[0].stderr
    assert run[1].returncode != 0 and "quantshift-probe.service" in run[1].stderr
