"""Names derived from a component's name, in one place.

A component is a bot account (`equity`, `crypto`) or another process of the
package (`failover-monitor`). The package, the roles and playbooks (through
filter_plugins/quantshift.py), the chaos tests and the lab scripts all build
unit names and config paths here, so renaming a unit or moving the home is one
change.
"""
from __future__ import annotations

HOME = "/opt/quantshift"
MONITOR = "failover-monitor"


def unit(component: str) -> str:
    """The systemd unit of a component: equity -> quantshift-equity.service."""
    return f"quantshift-{component}.service"


def config_path(component: str, home: str = HOME) -> str:
    """A component's config: equity -> /opt/quantshift/equity_config.yaml;
    the failover monitor's is failover_monitor.yaml."""
    if component == MONITOR:
        return f"{home}/failover_monitor.yaml"
    return f"{home}/{component}_config.yaml"


def env_file(home: str = HOME) -> str:
    """The bots' secrets (EnvironmentFile=)."""
    return f"{home}/.env"
