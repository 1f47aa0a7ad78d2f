"""Jinja filters for the roles and playbooks: the package's naming rules
(bots/src/quantshift/naming.py), so Ansible and Python build the same unit names
and paths. The control node's venv has the package installed."""
from __future__ import annotations

from quantshift import naming


class FilterModule:
    def filters(self):
        return {
            "quantshift_unit": naming.unit,
            "quantshift_config_path": naming.config_path,
        }
