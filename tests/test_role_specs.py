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
        for room in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml",
                     "tasks/preflight.yml"):
            assert (base / room).is_file(), f"{role}: missing {room}"


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
