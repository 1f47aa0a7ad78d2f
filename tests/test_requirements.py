"""Reproducible deploys: requirements.yml pins exactly the collections the repository
uses, and the control venv has those versions (scripts/bootstrap-venv.sh unpacks
them); bots/constraints.txt pins what a bot host installs, as the tests ran it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FQCN = re.compile(r"\b([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")


def pinned() -> dict[str, str]:
    return {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}


def used() -> set[str]:
    found = set()
    texts = [p.read_text() for top in ("roles", "playbooks", "molecule") for p in (ROOT / top).rglob("*.yml")]
    texts.append((ROOT / "ansible.cfg").read_text())
    for text in texts:
        for line in text.splitlines():
            # module keys, filters and callbacks named by their fully qualified name
            found.update(m for m in FQCN.findall(line.split("#", 1)[0])
                         if m.split(".")[0] in ("ansible", "community", "containers"))
    return found - {"ansible.builtin"}


def test_every_collection_used_is_pinned_and_none_is_unused():
    pins = pinned()
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins
    assert used() == set(pins), f"used {sorted(used())}, pinned {sorted(pins)}"


def test_the_control_venv_has_the_pinned_versions():
    for name, version in pinned().items():
        manifest = ROOT / ".collections/ansible_collections" / name.replace(".", "/") / "MANIFEST.json"
        assert json.loads(manifest.read_text())["collection_info"]["version"] == version, name


def test_bots_constraints_pin_the_tested_versions_of_everything_a_bot_host_installs():
    r = subprocess.run([sys.executable, str(ROOT / "scripts/lock-deps.py"), "--check"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pins = [line for line in (ROOT / "bots/constraints.txt").read_text().splitlines() if not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==[\w.]+", line) for line in pins), pins
    names = {line.split("==")[0] for line in pins}
    assert {"numpy", "psycopg2-binary", "redis", "prometheus-client", "pyyaml", "alpaca-py", "ccxt"} <= names
