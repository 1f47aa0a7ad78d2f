"""BotMetrics and MonitorMetrics: the names exactly, on a real HTTP endpoint."""
from __future__ import annotations

import time

import pytest

from quantshift.metrics import METRIC_SUFFIXES, BotMetrics, MonitorMetrics

from .helpers import sample, sample_names, scrape

SEED_NAMES = [  # copied from the seed report: the dashboards' contract
    "quantshift_equity_heartbeat_seconds",
    "quantshift_equity_cycle_duration_seconds",
    "quantshift_equity_cycle_errors_total",
    "quantshift_equity_symbols_loaded",
    "quantshift_equity_watchdog_notifications_total",
    "quantshift_equity_portfolio_value_usd",
    "quantshift_equity_daily_pnl_usd",
    "quantshift_equity_positions_open",
    "quantshift_equity_signals_generated_total",
    "quantshift_equity_orders_executed_total",
    "quantshift_equity_api_latency_seconds",
    "quantshift_equity_market_data_age_seconds",
]


@pytest.fixture
def metrics():
    m = BotMetrics("quantshift_equity", 0, "127.0.0.1")
    m.declare_strategies(["bollinger_bounce", "rsi_mean_reversion", "breakout_momentum"])
    yield m
    m.stop()


def _present(names: set[str], base: str) -> bool:
    return bool({base, base + "_bucket", base + "_count"} & names)


def test_every_seed_metric_and_the_additions_are_exported_from_the_first_scrape(metrics):
    names = sample_names(scrape(metrics.port))
    for n in SEED_NAMES:
        assert _present(names, n), n
    for suffix in METRIC_SUFFIXES:
        assert _present(names, f"quantshift_equity_{suffix}"), suffix
    assert "quantshift_equity_cycle_duration_seconds_bucket" in names
    assert "quantshift_equity_api_latency_seconds_bucket" in names
    assert not any(n.endswith("_created") for n in names)


def test_metrics_move_when_the_bot_records_them(metrics):
    before = scrape(metrics.port)
    assert sample(before, "quantshift_equity_heartbeat_seconds") == 0
    t = time.time()
    metrics.record_heartbeat()
    metrics.record_cycle(0.02)
    metrics.record_error("redis")
    metrics.symbols_loaded.set(100)
    metrics.record_watchdog()
    metrics.set_portfolio(101_000.5, 1000.5, 3)
    metrics.record_signals("rsi_mean_reversion", 4)
    metrics.record_order("buy")
    metrics.record_order("buy")
    with metrics.time_api():
        time.sleep(0.002)
    metrics.market_data_age.set(12.5)
    metrics.set_restarts(2)
    metrics.set_leader(3, True)
    metrics.daily_loss_limit_hit.set(1)
    s = scrape(metrics.port)
    assert sample(s, "quantshift_equity_heartbeat_seconds") >= t
    assert sample(s, "quantshift_equity_cycle_duration_seconds_count") == 1
    assert sample(s, "quantshift_equity_cycle_errors_total", type="redis") == 1
    assert sample(s, "quantshift_equity_cycle_errors_total", type="db") == 0
    assert sample(s, "quantshift_equity_symbols_loaded") == 100
    assert sample(s, "quantshift_equity_watchdog_notifications_total") == 1
    assert sample(s, "quantshift_equity_portfolio_value_usd") == 101_000.5
    assert sample(s, "quantshift_equity_daily_pnl_usd") == 1000.5
    assert sample(s, "quantshift_equity_positions_open") == 3
    assert sample(s, "quantshift_equity_signals_generated_total", strategy="rsi_mean_reversion") == 4
    assert sample(s, "quantshift_equity_signals_generated_total", strategy="bollinger_bounce") == 0
    assert sample(s, "quantshift_equity_orders_executed_total", side="buy") == 2
    assert sample(s, "quantshift_equity_orders_executed_total", side="sell") == 0
    assert sample(s, "quantshift_equity_api_latency_seconds_count") == 1
    assert sample(s, "quantshift_equity_api_latency_seconds_sum") >= 0.002
    assert sample(s, "quantshift_equity_market_data_age_seconds") == 12.5
    assert sample(s, "quantshift_equity_restarts_total") == 2
    assert sample(s, "quantshift_equity_leader_epoch") == 3
    assert sample(s, "quantshift_equity_is_primary") == 1
    assert sample(s, "quantshift_equity_daily_loss_limit_hit") == 1
    assert "# TYPE quantshift_equity_restarts_total counter" in s or "# TYPE quantshift_equity_restarts counter" in s


def test_several_instances_coexist_and_serve_other_component_names(metrics):
    monitor = BotMetrics("quantshift_failover_monitor", 0, "127.0.0.1")
    crypto = BotMetrics("quantshift_crypto", 0, "127.0.0.1")
    try:
        crypto.set_portfolio(5.0, 0.0, 0)
        names = sample_names(scrape(monitor.port))
        assert "quantshift_failover_monitor_heartbeat_seconds" in names
        assert not any(n.startswith("quantshift_equity") for n in names)
        assert sample(scrape(crypto.port), "quantshift_crypto_portfolio_value_usd") == 5.0
        assert sample(scrape(metrics.port), "quantshift_equity_portfolio_value_usd") == 0
    finally:
        monitor.stop()
        crypto.stop()


MONITOR_NAMES = {  # files/prometheus/rules and the system-health dashboard use these
    "quantshift_failover_monitor_heartbeat_seconds",
    "quantshift_failover_monitor_primary_heartbeat_age_seconds",
    "quantshift_failover_monitor_db_up",
    "quantshift_failover_monitor_failovers_total",
    "quantshift_failover_monitor_last_failover_duration_seconds",
}


def test_the_monitor_exports_its_names_from_the_first_scrape():
    m = MonitorMetrics(0, "127.0.0.1")
    try:
        m.declare_accounts(["equity"])
        m.primary_age.labels(account="equity").set(1.0)
        m.last_duration.labels(account="equity").set(0.0)
        assert sample_names(scrape(m.port)) == MONITOR_NAMES
    finally:
        m.stop()
