"""The metric names the bots, the modular components (trading coordinator, market
data, regime, signal workers), the failover monitor, the exporters (redis, node,
postgres), the ledger backup and the recording rules export.

Dashboards and alert rules may only use these names: a metric renamed on one
side and not on the other would leave a panel empty or an alert silent, which
nobody notices until the day it matters. This module is that contract for the
tests, plus a small PromQL scanner that lists the metric names a query uses.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path

import yaml

from prometheus_client import CollectorRegistry

from bot_inventory import bot_accounts
from quantshift.metrics import (COMPONENT_PREFIXES, COORDINATOR_PREFIX, BotMetrics, CoordinatorMetrics,
                                MarketDataMetrics, MonitorMetrics, RegimeMetrics, SignalWorkerMetrics)

# The package is the one source of truth for its names: the contract is read
# from the metric objects themselves, not from a copy of the list. Every
# account of the inventory exports them under its own prefix.
BOT_PREFIXES = tuple(f"quantshift_{account}" for account in bot_accounts())


def _registry_families(registry: CollectorRegistry) -> dict[str, str]:
    """family name (as scraped: counters end in _total) -> type."""
    out = {}
    for fam in registry.collect():
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        out[name] = fam.type
    return out


def _series(families: dict[str, str]) -> dict[str, str]:
    """Family name -> type, to series name -> 'counter' or 'gauge'.

    A histogram family contributes its _bucket/_sum/_count series, which are
    counters (rate() over them is right, rate() over a gauge is a bug)."""
    names: dict[str, str] = {}
    for family, kind in families.items():
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                names[family + suffix] = "counter"
        else:
            names[family] = kind
    return names


_PROBE = "quantshift_probe"
# What follows quantshift_<account>_ in each series a bot exports.
BOT_SUFFIXES = {name.removeprefix(_PROBE + "_"): kind for name, kind in
                _series(_registry_families(BotMetrics(_PROBE, 0, start_server=False).registry)).items()}
FAILOVER_MONITOR = _registry_families(MonitorMetrics(0, start_server=False).registry)
# The modular architecture: the trading coordinator exports the account's series
# (BOT_SUFFIXES) and, on the same port, its own quantshift_trading_coordinator_*;
# every other component kind exports its class's series under its own prefix. The
# account, strategy and worker are target labels, so these names are the same for
# every account.
COORDINATOR = {name: kind for name, kind in
               _series(_registry_families(CoordinatorMetrics(_PROBE, 0, start_server=False).registry)).items()
               if name.startswith(COORDINATOR_PREFIX + "_")}
_COMPONENT_CLASSES = {"market-data": MarketDataMetrics, "regime": RegimeMetrics, "signal-worker": SignalWorkerMetrics}
COMPONENTS = {name: kind for component, cls in _COMPONENT_CLASSES.items() for name, kind in
              _series(_registry_families(cls(COMPONENT_PREFIXES[component], 0, start_server=False).registry)).items()}
# oliver006/redis_exporter (Debian prometheus-redis-exporter); names checked
# against exporter/info.go: master_link_up exists on replicas only.
REDIS_EXPORTER = {
    "redis_up": "gauge",
    "redis_instance_info": "gauge",
    "redis_connected_slaves": "gauge",
    "redis_master_link_up": "gauge",
    "redis_master_last_io_seconds_ago": "gauge",
    "redis_connected_slave_lag_seconds": "gauge",
}
PROMETHEUS = {"up": "gauge"}
# Debian's prometheus-node-exporter 1.5 (job node), the names the host panels and
# alerts use; node_cpu_seconds_total{cpu, mode}, node_filesystem_*{mountpoint, fstype}.
NODE_EXPORTER = {
    "node_cpu_seconds_total": "counter",
    "node_memory_MemAvailable_bytes": "gauge",
    "node_memory_MemTotal_bytes": "gauge",
    "node_filesystem_avail_bytes": "gauge",
    "node_filesystem_size_bytes": "gauge",
    "node_filesystem_readonly": "gauge",
}
# Debian's prometheus-postgres-exporter 0.11 (job postgres), default collectors.
POSTGRES_EXPORTER = {
    "pg_up": "gauge",
    "pg_stat_database_numbackends": "gauge",
    "pg_settings_max_connections": "gauge",
    "pg_database_size_bytes": "gauge",
}
_ROOT = Path(__file__).resolve().parent.parent


def _ledger_backup_metrics() -> dict[str, str]:
    """What the ledger backup writes for the textfile collector: its own METRICS table."""
    path = _ROOT / "roles/ledger_backup/files/ledger_backup.py"
    spec = importlib.util.spec_from_file_location("ledger_backup", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: "gauge" for name in module.METRICS}


def _recorded() -> dict[str, str]:
    """Series the recording rules of files/prometheus/rules/ produce (gauges)."""
    out = {}
    for path in sorted((_ROOT / "files/prometheus/rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            out.update({rule["record"]: "gauge" for rule in group.get("rules", []) if "record" in rule})
    return out


LEDGER_BACKUP = _ledger_backup_metrics()

# Every series name a query may select, mapped to 'counter' or 'gauge'.
SERIES = {f"{prefix}_{suffix}": kind for prefix in BOT_PREFIXES for suffix, kind in BOT_SUFFIXES.items()}
SERIES.update(_series({**FAILOVER_MONITOR, **REDIS_EXPORTER, **PROMETHEUS}))
SERIES.update({**COORDINATOR, **COMPONENTS})
SERIES.update({**NODE_EXPORTER, **POSTGRES_EXPORTER, **LEDGER_BACKUP, **_recorded()})

# --------------------------------------------------------------- PromQL scan
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
# Any bot's series: quantshift_.+_<suffix>. The failover monitor's
# quantshift_failover_monitor_* names match it too, so only a selector that
# also requires a bot label (bot targets carry one, the monitor's do not) may
# use it.
_ANY_BOT = re.compile(r"quantshift_\.\+_(\w+)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?")


def expand_alternation(pattern: str) -> list[str]:
    """'a_(x|y)_b' -> ['a_x_b', 'a_y_b']. Anything fancier (but the any-bot
    pattern metric_names() accepts) is refused: a metric name pattern must
    stay a finite list of names we can check."""
    parts = re.split(r"\(([^()]*)\)", pattern)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    names = ["".join(c) for c in itertools.product(*choices)]
    for name in names:
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            raise ValueError(f"metric name pattern {pattern!r} is not a plain alternation")
    return names


def _matches_empty(op: str, value: str) -> bool:
    """Whether a label matcher selects series that lack the label."""
    if op in ("=", "!="):
        return (value == "") == (op == "=")
    return (re.fullmatch(value, "") is not None) == (op == "=~")


def _selector_names(selector: str) -> set[str]:
    """Metric names one {...} selector picks by its __name__ matcher."""
    matchers = _MATCHER.findall(selector)
    names: set[str] = set()
    for label, op, value in matchers:
        if label != "__name__" or op not in ("=", "=~"):
            continue
        any_bot = _ANY_BOT.fullmatch(value) if op == "=~" else None
        if not any_bot:
            names.update(expand_alternation(value))
            continue
        suffix = any_bot.group(1)
        if suffix not in BOT_SUFFIXES:
            raise ValueError(f"{value!r}: {suffix!r} is not a series a bot exports")
        if not any(lbl == "bot" and not _matches_empty(o, v) for lbl, o, v in matchers):
            raise ValueError(f'{selector!r}: {value!r} needs a bot!="" matcher, or the failover monitor matches too')
        # With a bot label it selects that series of every scraped account.
        names.update(f"{prefix}_{suffix}" for prefix in BOT_PREFIXES)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (template variables must
    already be substituted)."""
    names: set[str] = set()
    for selector in _MATCHERS.findall(expr):
        names.update(_selector_names(selector))
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for ident, call in _IDENT.findall(text):
        if call or ident.lower() in _KEYWORDS:
            continue  # a function/aggregation, or an operator keyword
        names.add(ident)
    return names


_RATE_CALL = re.compile(r"\b(rate|irate|increase|resets)\s*\(")


def rated_selectors(expr: str) -> list[str]:
    """The text inside each rate()/irate()/increase()/resets() call."""
    found = []
    for match in _RATE_CALL.finditer(expr):
        depth, start = 1, match.end()
        for i in range(start, len(expr)):
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            if depth == 0:
                found.append(expr[start:i])
                break
    return found


def rate_calls(expr: str) -> list[str]:
    """Just the function names of the rate-like calls, in order."""
    return [m.group(1) for m in _RATE_CALL.finditer(expr)]
