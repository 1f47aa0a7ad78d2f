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


# ------------------------------------------------- the modular architecture --
# An account's components (DESIGN §8). The coordinator holds the lease; the
# others are stateless. Signal workers run per strategy, instances 1..n.
COORDINATOR = "coordinator"
MARKET_DATA = "market-data"
REGIME = "regime"
SIGNAL_WORKER = "signal-worker"
COMPONENT_KINDS = (COORDINATOR, MARKET_DATA, REGIME, SIGNAL_WORKER)


def target(account: str) -> str:
    """The systemd target that starts and stops all of an account's components
    together: what the failover monitor and playbooks start as "the bot"."""
    return f"quantshift-{account}.target"


def component_unit(account: str, kind: str, strategy: str | None = None, instance: int = 1) -> str:
    """equity, signal-worker, rsi_mean_reversion, 2 -> quantshift-equity-signal-worker-rsi-mean-reversion-2.service"""
    if kind not in COMPONENT_KINDS:
        raise ValueError(f"unknown component kind {kind!r} (one of {', '.join(COMPONENT_KINDS)})")
    if kind == SIGNAL_WORKER:
        if not strategy:
            raise ValueError("a signal worker's unit needs its strategy")
        return f"quantshift-{account}-{kind}-{strategy.replace('_', '-')}-{int(instance)}.service"
    return f"quantshift-{account}-{kind}.service"


def component_command(kind: str) -> str:
    """The console script that runs a component."""
    return f"quantshift-{kind}"
