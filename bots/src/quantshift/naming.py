"""Names derived from a component's name, in one place.

A component is a bot account (`equity`, `crypto`) or another process of the
package (`failover-monitor`). The package, the roles and playbooks (through
filter_plugins/quantshift.py), the chaos tests and the lab scripts all build
unit names and config paths here, so renaming a unit or moving the home is one
change.
"""
from __future__ import annotations

from dataclasses import dataclass

HOME = "/opt/quantshift"
MONITOR = "failover-monitor"


def unit(component: str) -> str:
    """The systemd unit of a component: failover-monitor -> quantshift-failover-monitor.service.
    For an account it is the unit of the monolith as deployed before accounts became
    targets (equity -> quantshift-equity.service): account_unit_globs() finds it on
    hosts deployed then, so the role can remove it."""
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


def account_unit_globs(account: str) -> list[str]:
    """Every unit file name an account's processes have had (shell globs): the old
    monolith unit quantshift-<account>.service and quantshift-<account>-*.service (the
    components, the monolith's -bot). What a host has beyond components() is removed
    by the role, so no second trader of the account can start."""
    return [unit(account), f"quantshift-{account}-*.service"]


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


# The architectures an account can be deployed in: the monolith (one process,
# quantshift-bot) or the modular component set. Both are started as the account's
# target, so the failover monitor and playbooks do not care which.
MONOLITH = "monolith"
MODULAR = "modular"
ARCHITECTURES = (MODULAR, MONOLITH)
# Package extras an architecture needs on the hosts (the regime service's ML library).
ARCHITECTURE_EXTRAS = {MODULAR: ("regime",), MONOLITH: ()}
STRATEGIES = ("bollinger_bounce", "rsi_mean_reversion", "breakout_momentum")  # = config.STRATEGY_NAMES
# The Prometheus job of each component kind (the seed's Phase-1 scrape snippet).
JOBS = {COORDINATOR: "trading_coordinator", MARKET_DATA: "market_data_service", REGIME: "ml_regime_service",
        SIGNAL_WORKER: "signal_workers"}


def architecture_extras(architecture: str) -> list[str]:
    """modular -> ["regime"]: the extras to install beyond the brokers' and market data's."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (one of {', '.join(ARCHITECTURES)})")
    return list(ARCHITECTURE_EXTRAS[architecture])


@dataclass(frozen=True)
class Component:
    account: str
    kind: str            # COMPONENT_KINDS, or "bot" for the monolith
    unit: str
    command: str         # console script; its arguments are `args` after --config
    args: tuple[str, ...]
    port: int            # its metrics port
    strategy: str | None = None
    instance: int = 1

    @property
    def job(self) -> str:
        return JOBS.get(self.kind, f"quantshift_{self.account}")

    def as_dict(self) -> dict:
        return {"account": self.account, "kind": self.kind, "unit": self.unit, "command": self.command,
                "args": list(self.args), "port": self.port, "strategy": self.strategy, "instance": self.instance,
                "job": self.job}


def signal_worker_port(base: int, strategy: str, instance: int) -> int:
    """Worker of the k-th strategy (STRATEGIES order), instance i (1..): base + 3 * (i - 1) + k."""
    return int(base) + 3 * (int(instance) - 1) + STRATEGIES.index(strategy)


def components(account: str, metrics_port: int, ports: dict | None = None, architecture: str = MODULAR,
               worker_instances: int = 1, strategies=STRATEGIES) -> list[Component]:
    """An account's processes on one host, with their units and metrics ports.
    ports: market_data_port, regime_port, signal_worker_port (config.ModularConfig's
    defaults when absent); worker k of strategy list order, instance i, serves on
    signal_worker_port + 3 * (i - 1) + k (BotConfig.signal_worker_port)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (one of {', '.join(ARCHITECTURES)})")
    if architecture == MONOLITH:
        return [Component(account, "bot", f"quantshift-{account}-bot.service", "quantshift-bot", (), metrics_port)]
    p = {"market_data_port": 9300, "regime_port": 9400, "signal_worker_port": 9210, **(ports or {})}
    out = [Component(account, COORDINATOR, component_unit(account, COORDINATOR), component_command(COORDINATOR),
                     (), metrics_port),
           Component(account, MARKET_DATA, component_unit(account, MARKET_DATA), component_command(MARKET_DATA),
                     (), int(p["market_data_port"])),
           Component(account, REGIME, component_unit(account, REGIME), component_command(REGIME), (),
                     int(p["regime_port"]))]
    for i in range(1, int(worker_instances) + 1):
        for strategy in strategies:
            out.append(Component(account, SIGNAL_WORKER, component_unit(account, SIGNAL_WORKER, strategy, i),
                                 component_command(SIGNAL_WORKER),
                                 ("--strategy", strategy, "--instance", str(i)),
                                 signal_worker_port(p["signal_worker_port"], strategy, i),
                                 strategy, i))
    return out
