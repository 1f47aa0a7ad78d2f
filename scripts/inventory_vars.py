"""An inventory as Ansible sees it, read with `ansible-inventory --list`: groups
(with their hosts, children resolved), each host's own variables and address, and
the settings every host shares (group_vars/all).
The one reader of inventories for scripts and tests, so none of them walks
hosts.yml or group_vars by hand. Values are as written (Jinja strings are not
rendered); vault files are never decrypted (no secret is ever read here)."""
from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Inventory:
    groups: dict[str, list[str]]
    hostvars: dict[str, dict]  # host-level variables only (hosts.yml, host_vars/)
    settings: dict  # group_vars/all, files merged in name order
    group_vars: dict[str, dict]  # each group's own variables (hosts.yml, group_vars/<group>)

    def address(self, host: str) -> str:
        return self.hostvars.get(host, {}).get("ansible_host", host)


@functools.lru_cache(maxsize=None)
def load(inventory: Path) -> Inventory:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "PATH": f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}"}
    r = subprocess.run(["ansible-inventory", "-i", str(inventory), "--list", "--export"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"ansible-inventory -i {inventory}: {r.stderr.strip().splitlines()[-1:]}")
    data = json.loads(r.stdout)
    # --export keeps group variables on their groups instead of copying them to every host.
    hostvars = data.get("_meta", {}).get("hostvars", {})

    def members(group: str) -> list[str]:
        node = data.get(group, {})
        found = set(node.get("hosts", []))
        for child in node.get("children", []):
            found.update(members(child))
        return sorted(found)

    groups = {g: members(g) for g in data if g != "_meta"}
    group_vars = {g: node.get("vars", {}) for g, node in data.items() if g != "_meta"}
    return Inventory(groups=groups, hostvars=hostvars, settings=group_vars.get("all", {}), group_vars=group_vars)


def group_vars_all(inventory_dir: Path) -> dict:
    """The shared settings of inventories/<env>/ (its hosts.yml); a copy the caller may change."""
    return copy.deepcopy(load(Path(inventory_dir) / "hosts.yml").settings)
