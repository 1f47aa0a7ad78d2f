"""Every role variable is declared in meta/argument_specs.yml with its default,
and every declared option exists in defaults (prometheus-community's
lint_arguments_spec.sh, as a test)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks/main.yml").exists())


def spec(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]


def defaults(role: str) -> dict:
    path = ROOT / "roles" / role / "defaults/main.yml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


def test_every_role_has_the_standard_rooms():
    for role in ROLES:
        base = ROOT / "roles" / role
        for room in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml"):
            assert (base / room).is_file(), f"{role}: missing {room}"
        # settings.yml: rules on the variables alone; preflight.yml: checks that need the host.
        assert any((base / "tasks" / f).is_file() for f in ("settings.yml", "preflight.yml")), \
            f"{role}: no tasks/settings.yml or tasks/preflight.yml"


def test_every_roles_settings_rules_run_in_the_site_preflight():
    """A role's settings.yml runs up front on the control node, before any host changes."""
    play = yaml.safe_load((ROOT / "playbooks/preflight.yml").read_text())[0]
    task = next(t for t in play["tasks"] if "ansible.builtin.include_role" in t)
    assert task["ansible.builtin.include_role"]["tasks_from"] == "settings"
    with_settings = sorted(r for r in ROLES if (ROOT / "roles" / r / "tasks/settings.yml").is_file())
    assert sorted(task["loop"]) == with_settings


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_match(role):
    options = spec(role)["options"]
    dflt = defaults(role)
    assert set(dflt) - set(options) == set(), f"{role}: defaults not declared in argument_specs"
    for name, opt in options.items():
        assert name.startswith(role + "_") or name.startswith(role.split("_")[0] + "_"), \
            f"{role}: {name} is not prefixed with the role name"
        if opt.get("required"):
            assert name not in dflt or dflt[name] in ("", None, [], {}), f"{role}: {name} required but defaulted"
            continue
        assert name in dflt, f"{role}: {name} declared but has no default"
        if isinstance(dflt[name], str) and "{{" in dflt[name]:
            continue  # templated defaults are documented, not compared
        assert opt.get("default") == dflt[name], f"{role}: {name} default differs: spec {opt.get('default')!r} vs {dflt[name]!r}"
