"""Prometheus metrics of every component: the names, exactly (dashboards and
alerts depend on them; tests/metric_contract.py reads them from here).

`BotMetrics(name, port)`: `name` is the full prefix, so
`BotMetrics("quantshift_equity", 9200)` exports `quantshift_equity_heartbeat_seconds`.
`MonitorMetrics(port)` exports the failover monitor's `quantshift_failover_monitor_*`.
Every instance has its own CollectorRegistry and server (_Exporter), so several
coexist in one process.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily

try:  # `_created` series double the output and nobody graphs them.
    from prometheus_client import disable_created_metrics

    disable_created_metrics()
except ImportError:  # pragma: no cover - older prometheus-client
    pass

# The metric suffixes, one source of truth (tests and docs read this tuple).
METRIC_SUFFIXES = (
    "heartbeat_seconds",
    "cycle_duration_seconds",
    "cycle_errors_total",
    "symbols_loaded",
    "watchdog_notifications_total",
    "portfolio_value_usd",
    "daily_pnl_usd",
    "positions_open",
    "signals_generated_total",
    "orders_executed_total",
    "orders_rejected_total",
    "orders_unknown_total",
    "api_latency_seconds",
    "market_data_age_seconds",
    "restarts_total",
    "leader_epoch",
    "is_primary",
    "daily_loss_limit_hit",
    "market_open",
)

ERROR_TYPES = ("data", "redis", "db", "broker", "strategy", "lease", "internal")
# The modular components' errors: the bus (Redis streams) and the regime model.
COMPONENT_ERROR_TYPES = ("data", "bus", "strategy", "regime", "internal")
ORDER_SIDES = ("buy", "sell")

CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _RestartsCollector:
    """A counter whose value lives in PostgreSQL (bot_status.starts - 1).

    prometheus_client's Counter cannot be set; the count survives restarts only
    because it is read back from the database, so it is exported as is."""

    def __init__(self, name: str):
        self.name = name
        self.value = 0.0

    def collect(self):
        c = CounterMetricFamily(self.name, "Starts of this bot on this host after the first (from PostgreSQL)")
        c.add_metric([], self.value)
        yield c

    def describe(self):
        return self.collect()


class _Exporter:
    """A registry of its own, served on its own port (0: any free port)."""

    def __init__(self, name: str):
        self.name = name
        self.registry = CollectorRegistry()
        self.port: int | None = None
        self._server = None

    def _serve(self, port: int, bind: str, start_server: bool) -> None:
        """Called once the metrics exist, so the first scrape sees them all."""
        self.port = port
        if start_server:
            self._server, _thread = start_http_server(port, addr=bind, registry=self.registry)
            self.port = self._server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class ComponentMetrics(_Exporter):
    """The health series every component exports under its own prefix (the seed's
    "same code, different component names"): heartbeat, cycle duration and errors,
    watchdog pings, symbols handled. Subclasses add theirs in _declare()."""

    error_types: tuple[str, ...] = ERROR_TYPES

    def __init__(self, name: str, port: int, bind: str = "0.0.0.0", *, start_server: bool = True):
        super().__init__(name)
        r, p = self.registry, name
        self.heartbeat = Gauge(f"{p}_heartbeat_seconds", "Unix time of the last heartbeat", registry=r)
        self.cycle_duration = Histogram(f"{p}_cycle_duration_seconds", "Duration of one cycle",
                                        buckets=CYCLE_BUCKETS, registry=r)
        self.cycle_errors = Counter(f"{p}_cycle_errors", "Errors by type", ["type"], registry=r)
        self.symbols_loaded = Gauge(f"{p}_symbols_loaded", "Symbols with market data this cycle", registry=r)
        self.watchdog_notifications = Counter(f"{p}_watchdog_notifications",
                                              "WATCHDOG=1 notifications sent to systemd", registry=r)
        for t in self.error_types:
            self.cycle_errors.labels(type=t)
        self._declare(r, p)
        self._serve(port, bind, start_server)

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        """Hook: the subclass's own series, before the server starts."""

    def record_heartbeat(self, ts: float | None = None) -> None:
        self.heartbeat.set(time.time() if ts is None else ts)

    def record_cycle(self, seconds: float) -> None:
        self.cycle_duration.observe(seconds)

    def record_error(self, type_: str) -> None:
        self.cycle_errors.labels(type=type_).inc()

    def record_watchdog(self) -> None:
        self.watchdog_notifications.inc()

    @contextlib.contextmanager
    def time_api(self) -> Iterator[None]:
        """Observe a call in api_latency_seconds (declared by the components that call APIs)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.api_latency.observe(time.perf_counter() - t0)


class BotMetrics(ComponentMetrics):
    """A trading process's series: the seed's quantshift_<account>_* (the monolith
    and the modular architecture's trading coordinator)."""

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        self.portfolio_value = Gauge(f"{p}_portfolio_value_usd", "Portfolio value (cash + positions)", registry=r)
        self.daily_pnl = Gauge(f"{p}_daily_pnl_usd", "Profit/loss since the start of the UTC day", registry=r)
        self.positions_open = Gauge(f"{p}_positions_open", "Open positions", registry=r)
        self.signals = Counter(f"{p}_signals_generated", "Signals generated by strategy", ["strategy"], registry=r)
        self.orders = Counter(f"{p}_orders_executed", "Orders executed (filled) by side", ["side"], registry=r)
        # A bot whose orders are all refused, or whose sends time out, must not look healthy.
        self.orders_rejected = Counter(f"{p}_orders_rejected", "Orders the broker refused, by side", ["side"],
                                       registry=r)
        self.orders_unknown = Counter(f"{p}_orders_unknown", "Orders sent without a known outcome (left to "
                                      "reconciliation by client order id), by side", ["side"], registry=r)
        self.fenced_orders = Counter(f"{p}_fenced_orders", "Orders a broker executed under an older epoch after "
                                     "it ended (detected by the lease holder; see docs/DECISIONS.md)", registry=r)
        self.api_latency = Histogram(f"{p}_api_latency_seconds", "Latency of market data / broker calls",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.market_data_age = Gauge(f"{p}_market_data_age_seconds", "Age of the newest completed bar", registry=r)
        self._restarts = _RestartsCollector(f"{p}_restarts")
        r.register(self._restarts)
        self.leader_epoch = Gauge(f"{p}_leader_epoch", "Epoch of the leader lease this process knows", registry=r)
        self.is_primary = Gauge(f"{p}_is_primary", "1 when this process holds a valid lease and may trade",
                                registry=r)
        self.daily_loss_limit_hit = Gauge(f"{p}_daily_loss_limit_hit", "1 when the daily loss kill switch is on",
                                          registry=r)
        # The alert rules watch market data only while this is 1 (no hard-coded session hours).
        self.market_open = Gauge(f"{p}_market_open", "1 while the bot's market is open (always 1 for a 24/7 "
                                 "market); no orders are sent while it is 0", registry=r)
        # Pre-create label children so every series exists from the first scrape
        # (an absent series breaks rate() panels and "absent()" alerts alike).
        for s in ORDER_SIDES:
            for counter in (self.orders, self.orders_rejected, self.orders_unknown):
                counter.labels(side=s)

    # -- recording helpers (one place that knows the metric objects) --
    def declare_strategies(self, names: Iterable[str]) -> None:
        for n in names:
            self.signals.labels(strategy=n)

    def record_signals(self, strategy: str, n: int = 1) -> None:
        self.signals.labels(strategy=strategy).inc(n)

    def record_order(self, side: str, status: str = "FILLED") -> None:
        """An order's outcome at the send: FILLED, REJECTED or UNKNOWN are counted."""
        counter = {"FILLED": self.orders, "REJECTED": self.orders_rejected, "UNKNOWN": self.orders_unknown}.get(status)
        if counter is not None:
            counter.labels(side=side).inc()

    def set_portfolio(self, value: float, daily_pnl: float, positions_open: int) -> None:
        self.portfolio_value.set(value)
        self.daily_pnl.set(daily_pnl)
        self.positions_open.set(positions_open)

    def set_restarts(self, n: int) -> None:
        self._restarts.value = float(max(0, n))

    def set_leader(self, epoch: int, is_primary: bool) -> None:
        self.leader_epoch.set(epoch)
        self.is_primary.set(1 if is_primary else 0)


# ---------------------------------------------- the modular architecture --
# Each component's prefix (quantshift_<component>); the account, strategy and worker
# are the scrape target's labels, derived from the inventory (prometheus role).
DECISION_RESULTS = ("complete", "degraded", "duplicate", "stale")
COORDINATOR_PREFIX = "quantshift_trading_coordinator"
# component kind (naming.COMPONENT_KINDS) -> metric prefix
COMPONENT_PREFIXES = {
    "coordinator": COORDINATOR_PREFIX,
    "market-data": "quantshift_market_data_service",
    "regime": "quantshift_ml_regime_service",
    "signal-worker": "quantshift_signal_worker",
}


class SignalWorkerMetrics(ComponentMetrics):
    error_types = COMPONENT_ERROR_TYPES

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        self.messages_processed = Counter(f"{p}_messages_processed", "Bars events turned into signals and "
                                          "acknowledged", registry=r)
        self.messages_claimed = Counter(f"{p}_messages_claimed", "Bars events taken over (XAUTOCLAIM) from a "
                                        "consumer that left them unacknowledged", registry=r)
        self.signals = Counter(f"{p}_signals_published", "Non-zero signals published", registry=r)
        self.bus_lost = Counter(f"{p}_bus_lost", "Consumer groups found missing and recreated (evicted or "
                                "flushed streams)", registry=r)


class MarketDataMetrics(ComponentMetrics):
    error_types = COMPONENT_ERROR_TYPES

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        self.bars_published = Counter(f"{p}_bars_published", "New-bars events published (one per bar)",
                                      registry=r)
        self.last_publish = Gauge(f"{p}_last_publish_seconds", "Unix time of the last new-bars event",
                                  registry=r)
        self.market_data_age = Gauge(f"{p}_market_data_age_seconds", "Age of the newest completed bar",
                                     registry=r)
        self.api_latency = Histogram(f"{p}_api_latency_seconds", "Latency of market data calls",
                                     buckets=LATENCY_BUCKETS, registry=r)


class RegimeMetrics(ComponentMetrics):
    error_types = COMPONENT_ERROR_TYPES

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        self.regime = Gauge(f"{p}_regime", "Id of the current regime (-1: none yet)", registry=r)
        self.regime.set(-1)
        self.probability = Gauge(f"{p}_regime_probability", "Probability of each regime at the newest bar",
                                 ["regime"], registry=r)
        self.last_update = Gauge(f"{p}_last_update_seconds", "Unix time the regime was last published",
                                 registry=r)
        self.changes = Counter(f"{p}_regime_changes", "Regime changes published", registry=r)
        self.fit_duration = Histogram(f"{p}_fit_duration_seconds", "Duration of one model fit",
                                      buckets=CYCLE_BUCKETS, registry=r)


class CoordinatorMetrics(BotMetrics):
    """The seed's quantshift_<account>_* series (so the Phase-0 dashboards and alerts
    stay valid) and, on the same port, the coordinator's own under
    quantshift_trading_coordinator_*."""

    coordinator_prefix = COORDINATOR_PREFIX

    def _declare(self, r: CollectorRegistry, p: str) -> None:
        super()._declare(r, p)
        c = self.coordinator_prefix
        self.decision_latency = Histogram(f"{c}_decision_latency_seconds", "New bars published to the "
                                          "coordinator's decision", buckets=LATENCY_BUCKETS, registry=r)
        self.decisions = Counter(f"{c}_decisions", "Bars decided, by result", ["result"], registry=r)
        for res in DECISION_RESULTS:
            self.decisions.labels(result=res)
        self.degraded = Gauge(f"{c}_degraded", "1 when the last decision lacked a strategy's signals", registry=r)
        self.strategy_missing = Gauge(f"{c}_strategy_missing", "1 when the strategy's signals were missing "
                                      "(in whole or part) at the last decision", ["strategy"], registry=r)
        self.signals_late = Counter(f"{c}_signals_late", "Signals that arrived for a bar already decided "
                                    "(acknowledged, not acted on)", registry=r)
        self.regime_age = Gauge(f"{c}_regime_age_seconds", "Age of the regime in use (NaN: none yet)", registry=r)
        self.regime_fallback = Gauge(f"{c}_regime_fallback", "1 while the regime is missing or older than "
                                     "regime.max_age_seconds and the default allocation is used", registry=r)
        self.regime = Gauge(f"{c}_regime", "Id of the regime whose allocation is in use (-1: default)",
                            registry=r)
        self.stream_pending = Gauge(f"{c}_stream_pending", "Entries delivered to a consumer group and not yet "
                                    "acknowledged", ["stream", "group"], registry=r)
        self.stream_lag = Gauge(f"{c}_stream_lag", "Entries not yet delivered to a consumer group",
                                ["stream", "group"], registry=r)
        self.bus_lost = Counter(f"{c}_bus_lost", "Consumer groups found missing and recreated", registry=r)

    def declare_strategies(self, names: Iterable[str]) -> None:
        names = list(names)
        super().declare_strategies(names)
        for n in names:
            self.strategy_missing.labels(strategy=n)


class MonitorMetrics(_Exporter):
    """The failover monitor's series (failover/monitor.py)."""

    def __init__(self, port: int, bind: str = "0.0.0.0", prefix: str = "quantshift_failover_monitor", *,
                 start_server: bool = True):
        super().__init__(prefix)
        r = self.registry
        self.heartbeat = Gauge(f"{prefix}_heartbeat_seconds", "Unix time of the monitor's last check", registry=r)
        self.primary_age = Gauge(f"{prefix}_primary_heartbeat_age_seconds",
                                 "Age of the lease holder's last heartbeat (database clock)", ["account"], registry=r)
        self.db_up = Gauge(f"{prefix}_db_up", "1 when the arbiter database answered the last check", registry=r)
        self.failovers = Counter(f"{prefix}_failovers", "Failovers attempted by this monitor",
                                 ["account", "result"], registry=r)
        self.last_duration = Gauge(f"{prefix}_last_failover_duration_seconds",
                                   "Duration of the account's last failover, lease taken to bots ready "
                                   "(from the database, whichever host did it; 0 = none yet)", ["account"], registry=r)
        self._serve(port, bind, start_server)

    def declare_accounts(self, accounts: list[str]) -> None:
        # Series exist at 0 from the first scrape, so the first failover is an
        # increase that rate()/increase() can see.
        for account in accounts:
            for result in ("success", "failed"):
                self.failovers.labels(account=account, result=result)
