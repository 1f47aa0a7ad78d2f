"""The group variables of an inventory as Ansible merges them: every file of
group_vars/all/ in name order (links followed, the shared settings first), later
files overriding earlier ones. Vault-encrypted files are skipped: callers want
settings, never secrets. The one reader of group_vars for scripts and tests."""
from __future__ import annotations

from pathlib import Path

import yaml


def group_vars_all(inventory_dir: Path) -> dict:
    merged: dict = {}
    for path in sorted((Path(inventory_dir) / "group_vars/all").glob("*.yml")):
        text = path.read_text()
        if text.startswith("$ANSIBLE_VAULT"):
            continue
        merged.update(yaml.safe_load(text) or {})
    return merged
