"""The modular architecture's isolation cases on the lab (issue #14), after the
failover cases: ct100 trades both accounts with each account's component set
under systemd. One part fails at a time; the rest must keep working:

  a hung signal worker (SIGSTOP): the coordinator decides bars without that
      strategy (degraded, in its metrics and journal) and the watchdog restarts
      the worker, which then works off the events it missed;
  a killed signal worker (SIGKILL) holding events it read but never
      acknowledged: redone after its restart, no signal lost (its group has
      nothing pending, its signals for that bar are on the stream);
  a hung regime service: decisions go on at the same latency;
  market data down: the workers idle, nothing is decided or traded, the market
      data age grows.

Judged by what took effect: decided_bars rows and orders in the ledger, the
consumer groups' pending entries in Redis, units' restarts. The single-trader
audit runs after every case (conftest.py)."""
from __future__ import annotations

import functools
import time

import redis

from lab import (ADDRESSES, BOTS, TIMINGS, metric, sql, ssh, unit_show, wait_until)
from quantshift import naming

ACCOUNT = "equity"
BOT = next(b for b in BOTS if b["name"] == ACCOUNT)
COMPONENTS = {(c.kind, c.strategy): c for c in naming.components(ACCOUNT, int(BOT["metrics_port"]),
                                                                  BOT.get("components"))}
COORDINATOR = COMPONENTS[(naming.COORDINATOR, None)]
MARKET_DATA = COMPONENTS[(naming.MARKET_DATA, None)]
REGIME = COMPONENTS[(naming.REGIME, None)]
RSI = COMPONENTS[(naming.SIGNAL_WORKER, "rsi_mean_reversion")]
BOLLINGER = COMPONENTS[(naming.SIGNAL_WORKER, "bollinger_bounce")]
BAR = 60   # the lab's bars are one minute


@functools.lru_cache(maxsize=1)
def bus() -> redis.Redis:
    import lab_secrets  # scripts/ is on the path (lab.py)

    return redis.Redis(host=ADDRESSES["ct100"], password=lab_secrets.load()["vault_redis_password"],
                       socket_timeout=3, decode_responses=True)


def decided() -> list[tuple[int, bool, str]]:
    """(bar_ts, degraded, strategies) of the account's decisions, oldest first."""
    return [(int(b), d == "t", s) for b, d, s in
            sql(f"SELECT bar_ts, degraded, array_to_string(strategies, ',') FROM decided_bars "
                f"WHERE account = '{ACCOUNT}' ORDER BY bar_ts")]


def newest_decided() -> int:
    rows = decided()
    return rows[-1][0] if rows else 0


def coordinator_metric(name: str, **labels) -> float | None:
    return metric("ct100", COORDINATOR.port, name, **labels)


def group(strategy: str) -> dict:
    for g in bus().xinfo_groups(f"qs:{ACCOUNT}:bars"):
        if g["name"] == strategy:
            return g
    raise AssertionError(f"no consumer group {strategy}")


def newest_published() -> int:
    """The bar of the newest bars event on the stream."""
    last = bus().xrevrange(f"qs:{ACCOUNT}:bars", count=1)
    return int(last[0][1]["bar_ts"]) if last else 0


def own_pending(strategy: str, consumer: str) -> int:
    """Events handed to this consumer and not acknowledged. (The group's own totals
    are not used: after the failover cases it can hold a former holder's consumers,
    whose entries the worker claims only once idle, and Redis' lag is unreliable
    on trimmed streams.)"""
    for c in bus().xinfo_consumers(f"qs:{ACCOUNT}:bars", strategy):
        if c["name"] == consumer:
            return int(c["pending"])
    return 0


def bus_state(strategy: str) -> str:
    """For a failed wait: the group and its consumers as Redis sees them."""
    return (f"group {group(strategy)}; consumers "
            f"{bus().xinfo_consumers(f'qs:{ACCOUNT}:bars', strategy)}")


def signals_of(strategy: str, bar_ts: int) -> list[dict]:
    return [f for _, f in bus().xrevrange(f"qs:{ACCOUNT}:signals", count=500)
            if f["strategy"] == strategy and int(f["bar_ts"]) == bar_ts]


def before_next_bar(lead: float) -> None:
    """Sleep until `lead` seconds before the next bar is published (the market data
    service publishes about a second after each minute): a component frozen now
    misses that bar well before its watchdog (30 s in the chaos settings) fires."""
    time.sleep((BAR - lead - time.time() % BAR) % BAR)


def main_pid(unit: str) -> str:
    return unit_show("ct100", unit, "MainPID")


def restarts(unit: str) -> int:
    return int(unit_show("ct100", unit, "NRestarts"))


def active(unit: str) -> bool:
    return unit_show("ct100", unit, "ActiveState") == "active"


def test_i0_the_components_decide_every_bar_complete():
    start = newest_decided()
    bar = wait_until("a new bar decided", lambda: newest_decided() > start and newest_decided(), 3 * BAR)
    row = [r for r in decided() if r[0] == bar][0]
    assert row[1] is False and row[2] == "bollinger_bounce,rsi_mean_reversion,breakout_momentum", row
    assert all(active(c.unit) for c in COMPONENTS.values())


def test_i1_hung_worker_degrades_the_decision_and_the_watchdog_restarts_it_and_its_events_are_redone():
    unit, before = RSI.unit, restarts(RSI.unit)
    before_next_bar(12)
    t0 = time.monotonic()
    ssh("ct100", f"kill -STOP {main_pid(unit)}")
    start = newest_decided()
    # The coordinator goes on without it: the next bar is decided degraded.
    bar = wait_until("a bar decided without rsi_mean_reversion",
                     lambda: next((b for b, d, s in decided() if b > start and d and "rsi" not in s), None),
                     3 * BAR)
    TIMINGS.add("worker SIGSTOP -> degraded decision", time.monotonic() - t0)
    assert coordinator_metric("quantshift_trading_coordinator_strategy_missing", strategy="rsi_mean_reversion") == 1
    journal = ssh("ct100", f"journalctl -u {COORDINATOR.unit} --since '-5min' --no-pager -o cat")
    assert "degraded: bar" in journal and "rsi_mean_reversion" in journal
    wait_until("the watchdog restarted the worker", lambda: restarts(unit) > before and active(unit), 120)
    TIMINGS.add("worker SIGSTOP -> watchdog restart", time.monotonic() - t0)
    consumer = f"ct100:rsi_mean_reversion:{RSI.instance}"
    try:
        wait_until("the restarted worker published the bar it missed",
                   lambda: signals_of("rsi_mean_reversion", bar) and own_pending("rsi_mean_reversion", consumer) == 0,
                   60)
    except AssertionError as e:
        raise AssertionError(f"{e}; {bus_state('rsi_mean_reversion')}") from None
    nxt = wait_until("a complete decision again",
                     lambda: next((b for b, d, s in decided() if b > bar and not d), None), 3 * BAR)
    assert nxt > bar


def test_i2_killed_worker_holding_events_redoes_them_after_its_restart():
    """Frozen at the worst line: the worker read a bar's events and was killed
    before it published and acknowledged them. The read is made here under the
    worker's own consumer name while the process is stopped (a stopped process
    issues no read of its own), then the process is SIGKILLed."""
    unit, before = BOLLINGER.unit, restarts(BOLLINGER.unit)
    pid = main_pid(unit)
    consumer = f"ct100:bollinger_bounce:{BOLLINGER.instance}"
    before_next_bar(8)
    ssh("ct100", f"kill -STOP {pid}")
    try:
        start = newest_decided()
        published = newest_published()
        wait_until("a new bar published", lambda: newest_published() > published, 20)
        taken = bus().xreadgroup("bollinger_bounce", consumer, {f"qs:{ACCOUNT}:bars": ">"}, count=100)
        # The new bar's events (older undelivered ones, if any, are past trading age
        # and are acknowledged without signals, as they should be).
        bar = max(int(f["bar_ts"]) for _, entries in taken for _, f in entries)
        assert bar > published and own_pending("bollinger_bounce", consumer) > 0
    finally:
        ssh("ct100", f"kill -KILL {pid}")
    t0 = time.monotonic()
    wait_until("systemd restarted the killed worker", lambda: restarts(unit) > before and active(unit), 60)
    try:
        wait_until("the restarted worker acknowledged what it held",
                   lambda: own_pending("bollinger_bounce", consumer) == 0
                   and signals_of("bollinger_bounce", bar), 60)
    except AssertionError as e:
        raise AssertionError(f"{e}; {bus_state('bollinger_bounce')}") from None
    TIMINGS.add("worker SIGKILL with events in hand -> redone", time.monotonic() - t0)
    assert newest_decided() >= start


def test_i3_hung_regime_service_never_delays_a_decision():
    pid = main_pid(REGIME.unit)
    ssh("ct100", f"kill -STOP {pid}")
    try:
        start = newest_decided()
        count0 = coordinator_metric("quantshift_trading_coordinator_decision_latency_seconds_count")
        sum0 = coordinator_metric("quantshift_trading_coordinator_decision_latency_seconds_sum")
        wait_until("two bars decided with the regime service frozen",
                   lambda: len([b for b, _, _ in decided() if b > start]) >= 2, 3 * BAR)
        n = coordinator_metric("quantshift_trading_coordinator_decision_latency_seconds_count") - count0
        mean = (coordinator_metric("quantshift_trading_coordinator_decision_latency_seconds_sum") - sum0) / n
        TIMINGS.add("decision latency, regime service frozen (mean)", mean)
        assert mean < 2.0, f"decisions waited for the frozen regime service: mean latency {mean:.2f} s"
    finally:
        ssh("ct100", f"kill -CONT {pid} 2>/dev/null || true")  # its watchdog may have restarted it


def test_i4_market_data_down_idles_the_workers_and_trades_nothing():
    ssh("ct100", f"systemctl stop {MARKET_DATA.unit}")
    try:
        time.sleep(5)
        start, processed = newest_decided(), metric("ct100", RSI.port, "quantshift_signal_worker_messages_processed_total")
        orders0 = int(sql(f"SELECT count(*) FROM orders WHERE account = '{ACCOUNT}'")[0][0])
        time.sleep(BAR + 15)
        assert newest_decided() == start, "a bar was decided with market data down"
        assert metric("ct100", RSI.port, "quantshift_signal_worker_messages_processed_total") == processed
        assert int(sql(f"SELECT count(*) FROM orders WHERE account = '{ACCOUNT}'")[0][0]) == orders0
        age = coordinator_metric(f"quantshift_{ACCOUNT}_market_data_age_seconds")
        assert age is not None and age > BAR, age
    finally:
        ssh("ct100", f"systemctl start {MARKET_DATA.unit}")
    wait_until("trading resumed", lambda: newest_decided() > start, 3 * BAR)
