"""The metric names the bots, the failover monitor and redis_exporter export.

Dashboards and alert rules may only use these names: a metric renamed on one
side and not on the other would leave a panel empty or an alert silent, which
nobody notices until the day it matters. This module is that contract for the
tests, plus a small PromQL scanner that lists the metric names a query uses.
"""

from __future__ import annotations

import itertools
import re

from prometheus_client import CollectorRegistry

from quantshift.metrics import BotMetrics, MonitorMetrics

# The package is the one source of truth for its names: the contract is read
# from the metric objects themselves, not from a copy of the list.
BOT_PREFIXES = ("quantshift_equity", "quantshift_crypto")


def _registry_families(registry: CollectorRegistry) -> dict[str, str]:
    """family name (as scraped: counters end in _total) -> type."""
    out = {}
    for fam in registry.collect():
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        out[name] = fam.type
    return out


BOT_FAMILIES = {name: kind for prefix in BOT_PREFIXES
                for name, kind in _registry_families(BotMetrics(prefix, 0, start_server=False).registry).items()}
FAILOVER_MONITOR = _registry_families(MonitorMetrics(0, start_server=False).registry)
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


def _families() -> dict[str, str]:
    families = dict(BOT_FAMILIES)
    families.update(FAILOVER_MONITOR)
    families.update(REDIS_EXPORTER)
    families.update(PROMETHEUS)
    return families


FAMILIES = _families()


def series_names() -> dict[str, str]:
    """Every series name a query may select, mapped to 'counter' or 'gauge'.

    A histogram family contributes its _bucket/_sum/_count series, which are
    counters (rate() over them is right, rate() over a gauge is a bug)."""
    names: dict[str, str] = {}
    for family, kind in FAMILIES.items():
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                names[family + suffix] = "counter"
        else:
            names[family] = kind
    return names


SERIES = series_names()

# --------------------------------------------------------------- PromQL scan
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_NAME_MATCHER = re.compile(r'__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?")


def expand_alternation(pattern: str) -> list[str]:
    """'a_(x|y)_b' -> ['a_x_b', 'a_y_b']. Anything fancier is refused: a metric
    name pattern must stay a finite list of names we can check."""
    parts = re.split(r"\(([^()]*)\)", pattern)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    names = ["".join(c) for c in itertools.product(*choices)]
    for name in names:
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            raise ValueError(f"metric name pattern {pattern!r} is not a plain alternation")
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (template variables must
    already be substituted)."""
    names: set[str] = set()
    for _, pattern in _NAME_MATCHER.findall(expr):
        names.update(expand_alternation(pattern))
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
