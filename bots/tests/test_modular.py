"""The modular architecture in one process, against real Redis and PostgreSQL:
market data service -> signal workers -> trading coordinator over Redis
streams. What took effect (orders in the ledger, decided_bars rows) is what is
checked: redelivery never doubles an order, a lost worker's events are taken
over, a missing strategy degrades the decision instead of stopping it, a stale
regime falls back to the default allocation, and stale bars are never traded.
The same components under systemd (SIGSTOP, SIGKILL, watchdog) are the chaos
suite's isolation cases (molecule/failover)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import redis
import yaml

from quantshift.bot import Bot
from quantshift.config import STRATEGY_NAMES
from quantshift.metrics import (BotMetrics, CoordinatorMetrics, MarketDataMetrics, SignalWorkerMetrics)
from quantshift.modular import streams
from quantshift.modular.coordinator import Coordinator
from quantshift.modular.market_data_service import MarketDataService
from quantshift.modular.signal_worker import SignalWorker
from quantshift.modular.streams import Bus, Regime
from quantshift.store import Database, decided_bars, leader_lease, orders
from quantshift.watchdog import Notifier

from .helpers import sample, scrape

T0 = 1_750_000_000.0 - (1_750_000_000 % 60) + 1.5   # 1.5 s into a minute: the newest bar just completed
SYMBOLS = [f"S{i:02d}" for i in range(12)]


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def mcfg(make_cfg):
    """Four symbols per chunk: three chunks per bar. RSI with oversold 99 enters
    on nearly every symbol, so orders follow from the signals deterministically."""
    def _make(**over):
        base = dict(symbols=list(SYMBOLS), modular={"chunk_size": 4, "signal_wait_seconds": 0.3,
                                                    "claim_idle_seconds": 0.2},
                    strategies={"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5}},
                    risk={"max_open_positions": 50, "position_size_usd": 1000, "max_position_usd": 1000})
        base.update(over)
        return make_cfg(**base)
    return _make


def _notifier(m):
    return Notifier(env={}, on_watchdog=m.record_watchdog)


def _md(cfg, clock):
    m = MarketDataMetrics("quantshift_market_data_service", 0, "127.0.0.1", start_server=False)
    return MarketDataService(cfg, m, notifier=_notifier(m), clock=clock)


def _worker(cfg, strategy, instance=1, clock=None, host="ct100"):
    m = SignalWorkerMetrics("quantshift_signal_worker", 0, "127.0.0.1", start_server=False)
    w = SignalWorker(cfg, m, strategy, instance, host=host, notifier=_notifier(m), clock=clock or Clock())
    w.setup()
    return w


def _coordinator(cfg, clock, port=0):
    m = CoordinatorMetrics(cfg.metrics_prefix, port, "127.0.0.1")
    c = Coordinator(cfg, metrics=m, notifier=_notifier(m), clock=clock)
    return c


def _seed_leader(cfg, holder="ct100"):
    d = Database(cfg.database.dsn)
    with d.transaction() as cur:
        leader_lease.init(cur, cfg.name, holder, 30)
    d.close()


def _stack(cfg, strategies=STRATEGY_NAMES):
    """A leader row for ct100, the market data service and one worker per strategy
    on a shared fake clock: (clock, md, workers)."""
    clock = Clock()
    _seed_leader(cfg)
    return clock, _md(cfg, clock), [_worker(cfg, s, clock=clock) for s in strategies]


def _ledger_orders(cfg):
    d = Database(cfg.database.dsn)
    with d.transaction() as cur:
        out = orders.recent(cur, cfg.name, limit=1000)
    d.close()
    return out


def _start(coord):
    coord.start(wait=False)
    coord.heartbeat()
    assert coord.lease_valid()


def _drain(coord, rounds: int = 20):
    """Read the bus and decide what is due, as the coordinator's loop does."""
    decided = []
    for _ in range(rounds):
        coord._poll(block_ms=50)
        for bar in coord._due():
            decided.append(coord.decide(bar))
        if decided and not coord.book.pending:
            break
    return decided


def _step_all(workers):
    for w in workers:
        w.step()


def test_streams_are_bounded_and_a_vanished_group_is_recreated_and_counted(redis_url):
    bus = Bus(redis_url, maxlen=100)
    for i in range(1000):
        bus.add("qs:t:s", {"i": i})
    # Approximate trimming keeps whole macro-nodes: never unbounded.
    assert bus.r.xlen("qs:t:s") <= 200
    assert bus.ensure_group("qs:t:s", "g", start="0") is True
    assert bus.ensure_group("qs:t:s", "g") is False
    bus.r.delete("qs:t:s")            # what allkeys-lru eviction or a FLUSHALL does
    assert bus.read("g", "c", ["qs:t:s"], block_ms=10) == []
    assert bus.lost == 1              # detected and counted, the group is back
    bus.add("qs:t:s", {"i": "after"})
    got = bus.read("g", "c", ["qs:t:s"], block_ms=10)
    assert [f["i"] for _, _, f in got] == ["after"]


def test_a_bar_goes_from_market_data_through_three_workers_to_the_same_orders_as_the_monolith(mcfg, make_cfg):
    cfg = mcfg()
    clock, md, workers = _stack(cfg)
    coord = _coordinator(cfg, clock)
    try:
        _start(coord)
        assert md.publish_newest() is True
        assert md.publish_newest() is False           # one event per bar
        assert md.bus.r.xlen(streams.bars_stream("equity")) == 3
        _step_all(workers)
        reps = _drain(coord)
        assert len(reps) == 1 and reps[0].errors == []
        modular = sorted((o.symbol, o.side, o.qty) for o in _ledger_orders(cfg))
        assert len(modular) > 0
        text = scrape(coord.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_decisions_total", result="complete") == 1
        assert sample(text, "quantshift_trading_coordinator_degraded") == 0
        assert sample(text, "quantshift_equity_orders_executed_total", side="buy") == len(modular)
        assert sample(text, "quantshift_equity_is_primary") == 1
    finally:
        coord.shutdown()
        coord.metrics.stop()
    # The monolith, same bar, same config, in a fresh account: the same orders.
    mono_cfg = make_cfg(name="crypto", symbols=list(SYMBOLS),
                        strategies={"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5}},
                        risk={"max_open_positions": 50, "position_size_usd": 1000, "max_position_usd": 1000},
                        host_id="ct100")
    _seed_leader(mono_cfg)
    m = BotMetrics(mono_cfg.metrics_prefix, 0, "127.0.0.1", start_server=False)
    bot = Bot(mono_cfg, metrics=m, notifier=_notifier(m), clock=clock)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        bot.cycle()
    finally:
        bot.shutdown()
    mono = sorted((o.symbol, o.side, o.qty) for o in _ledger_orders(mono_cfg))
    # Fill prices differ (the sim broker quotes the next price for the monolith,
    # the bar's close for the coordinator), so sizes may differ by a share: the
    # decisions (which symbols, which side) must be identical.
    assert [(s, side) for s, side, _ in modular] == [(s, side) for s, side, _ in mono]


def _decide_then_die(cfg, *, before_sending: bool):
    """A coordinator decides the first bar and is killed before its XACK (and, with
    before_sending, before any order of the bar is sent). Returns (clock, bar, report)."""
    clock, md, workers = _stack(cfg)
    first = _coordinator(cfg, clock)
    _start(first)
    md.publish_newest()
    _step_all(workers)
    first._poll(block_ms=50)
    (bar,) = first._due()
    if before_sending:
        first._execute = lambda intents, rep: None
    first._ack = lambda entries: None
    rep = first.decide(bar)
    first.shutdown()
    first.metrics.stop()
    return clock, bar, rep


def test_a_redelivered_bar_is_never_acted_on_twice(mcfg):
    """The coordinator committed a bar's decision and was killed before it sent the
    bar's orders and before its XACK (frozen at the worst line). Its successor
    reads the same entries again: the bar is not decided a second time, so its
    orders are never placed (at most once; without decided_bars they would be)."""
    cfg = mcfg()
    clock, bar, rep = _decide_then_die(cfg, before_sending=True)
    assert rep.intents > 0 and _ledger_orders(cfg) == []
    second = _coordinator(cfg, clock)
    try:
        _start(second)
        second.book.decided_upto = None   # even without its memory of decided bars...
        second._poll(block_ms=50)          # ...its own pending entries come back
        due = second._due()
        assert [b.bar_ts for b in due] == [bar.bar_ts]
        rep = second.decide(due[0])
        assert rep.orders_sent == 0 and _ledger_orders(cfg) == []   # the ledger refused a second decision
        text = scrape(second.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_decisions_total", result="duplicate") == 1
        # and the entries are acknowledged now: nothing pending for the coordinator
        info = second.bus.group_info(streams.signals_stream("equity"), "coordinator")
        assert info["pending"] == 0
    finally:
        second.shutdown()
        second.metrics.stop()
    d = Database(cfg.database.dsn)
    with d.transaction() as cur:
        assert decided_bars.count(cur, "equity") == 1
    d.close()


def test_a_bar_with_orders_already_sent_is_dropped_when_its_entries_come_back(mcfg):
    """Killed after sending and before the XACK: the successor drops the bar as
    decided (from decided_bars) without a second decision."""
    cfg = mcfg()
    clock, _bar, _rep = _decide_then_die(cfg, before_sending=False)
    placed = len(_ledger_orders(cfg))
    assert placed > 0
    second = _coordinator(cfg, clock)
    try:
        _start(second)
        assert _drain(second, rounds=3) == []
        assert len(_ledger_orders(cfg)) == placed
        text = scrape(second.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_decisions_total", result="duplicate") == 1
        assert sample(text, "quantshift_trading_coordinator_signals_late_total") == 9   # 3 strategies x 3 chunks
    finally:
        second.shutdown()
        second.metrics.stop()


def test_events_of_a_killed_worker_are_taken_over_by_another_instance_and_none_is_lost(mcfg):
    cfg = mcfg()
    clock = Clock()
    md = _md(cfg, clock)
    dead = _worker(cfg, "rsi_mean_reversion", instance=1, clock=clock)
    md.publish_newest()
    # The first instance read every event of the bar and was SIGKILLed before publishing.
    taken = dead.bus.read(dead.group, dead.consumer, [dead.stream], count=10, block_ms=10)
    assert len(taken) == 3
    other = _worker(cfg, "rsi_mean_reversion", instance=2, clock=clock)
    other._recovered = True
    import time as _t
    _t.sleep(0.3)                                     # > claim_idle_seconds
    other.step()
    assert other.metrics.messages_claimed._value.get() == 3
    sigs = [streams.SignalsMessage.parse(f) for _, f in other.bus.r.xrange(streams.signals_stream("equity"))]
    assert sorted(m.chunk for m in sigs if m.strategy == "rsi_mean_reversion") == [0, 1, 2]
    assert all(m.worker == other.consumer for m in sigs)
    assert other.bus.group_info(dead.stream, "rsi_mean_reversion")["pending"] == 0


def test_a_restarted_worker_redoes_its_own_pending_events_first(mcfg):
    cfg = mcfg()
    clock = Clock()
    md = _md(cfg, clock)
    w = _worker(cfg, "bollinger_bounce", clock=clock)
    md.publish_newest()
    w.bus.read(w.group, w.consumer, [w.stream], count=10, block_ms=10)   # read, then killed
    again = _worker(cfg, "bollinger_bounce", clock=clock)                 # same host and instance
    again._next_claim = float("inf")
    again.step()
    sigs = [streams.SignalsMessage.parse(f) for _, f in again.bus.r.xrange(streams.signals_stream("equity"))]
    assert sorted(m.chunk for m in sigs) == [0, 1, 2]


def test_without_one_strategy_the_coordinator_trades_degraded_on_the_others(mcfg, caplog):
    cfg = mcfg()
    clock, md, workers = _stack(cfg, ("bollinger_bounce", "rsi_mean_reversion"))
    coord = _coordinator(cfg, clock)
    try:
        _start(coord)
        md.publish_newest()
        _step_all(workers)
        with caplog.at_level(logging.WARNING, logger="quantshift.modular.coordinator"):
            reps = _drain(coord)
        assert len(reps) == 1 and reps[0].orders_filled > 0
        assert "degraded" in caplog.text and "breakout_momentum (0/12 symbols)" in caplog.text
        text = scrape(coord.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_degraded") == 1
        assert sample(text, "quantshift_trading_coordinator_strategy_missing", strategy="breakout_momentum") == 1
        assert sample(text, "quantshift_trading_coordinator_strategy_missing", strategy="rsi_mean_reversion") == 0
        assert sample(text, "quantshift_trading_coordinator_decisions_total", result="degraded") == 1
        d = Database(cfg.database.dsn)
        with d.transaction() as cur:
            cur.execute("SELECT strategies, degraded FROM decided_bars WHERE account = 'equity'")
            assert cur.fetchone() == (["bollinger_bounce", "rsi_mean_reversion"], True)
        d.close()
    finally:
        coord.shutdown()
        coord.metrics.stop()


def _publish_regime(cfg, name, regime_id, updated_at):
    bus = Bus(cfg.redis.url)
    bus.set_regime(cfg.name, Regime(regime_id, name, {name: 1.0}, 0, updated_at), changed=True)
    bus.close()


@pytest.mark.parametrize("age, expect_fallback", [(5.0, False), (10_000.0, True)])
def test_the_regime_allocation_is_used_while_fresh_and_the_default_when_stale(mcfg, age, expect_fallback):
    # In the fresh regime the RSI strategy (the only one that enters here) has weight 0.
    name = "volatile"
    cfg = mcfg(regime={"max_age_seconds": 600,
                       "allocation": {name: {"bollinger_bounce": 1.0, "rsi_mean_reversion": 0.0,
                                             "breakout_momentum": 1.0}}})
    clock = Clock()
    _seed_leader(cfg)
    _publish_regime(cfg, name, 2, clock.t - age)
    md = _md(cfg, clock)
    workers = [_worker(cfg, s, clock=clock) for s in STRATEGY_NAMES]
    coord = _coordinator(cfg, clock)
    try:
        _start(coord)
        md.publish_newest()
        _step_all(workers)
        (rep,) = _drain(coord)
        rsi_entries = rep.signals["rsi_mean_reversion"]
        assert rsi_entries > 0
        text = scrape(coord.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_regime_fallback") == (1 if expect_fallback else 0)
        assert sample(text, "quantshift_trading_coordinator_regime_age_seconds") == pytest.approx(age)
        if expect_fallback:
            assert rep.orders_filled > 0      # default allocation: RSI's entries count
        else:
            assert rep.intents == 0           # RSI weighted out, the others did not enter
    finally:
        coord.shutdown()
        coord.metrics.stop()


def test_bars_older_than_the_max_age_are_never_traded(mcfg):
    cfg = mcfg()
    clock, md, workers = _stack(cfg)
    coord = _coordinator(cfg, clock)
    try:
        _start(coord)
        md.publish_newest()
        _step_all(workers)
        clock.t += 3 * 60                              # the coordinator sees the bar 3 minutes late
        assert _drain(coord, rounds=5) == []
        assert _ledger_orders(cfg) == []
        text = scrape(coord.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_decisions_total", result="stale") == 1
        assert sample(text, "quantshift_equity_market_data_age_seconds") >= 180
    finally:
        coord.shutdown()
        coord.metrics.stop()


def test_market_data_down_publishes_nothing_and_the_workers_idle(mcfg):
    cfg = mcfg()
    clock = Clock()

    class Down:
        name, timeframe_seconds = "down", 60

        def latest_bar_ts(self, now):
            return int(now // 60 - 1) * 60

        def fetch(self, symbols, end_ts, n):
            raise ConnectionError("data API unreachable")

    m = MarketDataMetrics("quantshift_market_data_service", 0, "127.0.0.1", start_server=False)
    md = MarketDataService(cfg, m, source=Down(), notifier=_notifier(m), clock=clock)
    w = _worker(cfg, "bollinger_bounce", clock=clock)
    assert md.publish_newest() is False
    assert m.cycle_errors.labels(type="data")._value.get() == 1
    assert md.bus.r.xlen(streams.bars_stream("equity")) == 0
    w.step()
    assert w.metrics.messages_processed._value.get() == 0


def test_redis_down_is_counted_and_retried_not_fatal(mcfg):
    cfg = mcfg(redis={"url": "redis://127.0.0.1:1/0"})
    clock = Clock()
    m = SignalWorkerMetrics("quantshift_signal_worker", 0, "127.0.0.1", start_server=False)
    w = SignalWorker(cfg, m, "bollinger_bounce", 1, notifier=_notifier(m), clock=clock)
    assert w._guarded(w.setup) is False
    assert m.cycle_errors.labels(type="bus")._value.get() == 1
    with pytest.raises(redis.RedisError):
        w.setup()


def test_worker_signals_match_the_strategy_on_the_same_bars(mcfg):
    cfg = mcfg()
    clock = Clock()
    md = _md(cfg, clock)
    md.publish_newest()
    w = _worker(cfg, "bollinger_bounce", clock=clock)
    w.step()
    from quantshift.strategies import build_strategies

    bars = md.md.latest(SYMBOLS, cfg.marketdata.lookback_bars).bars
    want = dict(zip(SYMBOLS, build_strategies(cfg)[0].signals(bars)[-1].tolist()))
    got = {}
    for _, f in w.bus.r.xrange(streams.signals_stream("equity")):
        msg = streams.SignalsMessage.parse(f)
        got.update(zip(msg.symbols, msg.signals))
    assert got == want
    assert np.count_nonzero(list(want.values())) >= 0


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_a_worker_that_follows_its_chunks_bar_by_bar_gives_the_full_recompute_signals(mcfg, strategy):
    """After the first bar a worker updates its state from the event's newest bar
    (no window read); its signals must equal a full recompute on every bar."""
    cfg = mcfg()
    clock = Clock()
    md = _md(cfg, clock)
    w = _worker(cfg, strategy, clock=clock)
    from quantshift.strategies import build_strategies

    strat = [s for s in build_strategies(cfg) if s.name == strategy][0]
    reads = []
    real_get_many = w.cache.get_many
    w.cache.get_many = lambda *a, **kw: reads.append(a) or real_get_many(*a, **kw)
    for k in range(6):
        md.publish_newest()
        w.step()
        bars = md.md.latest(SYMBOLS, cfg.marketdata.lookback_bars).bars
        want = dict(zip(SYMBOLS, strat.signals(bars)[-1].tolist()))
        got = {}
        for _, f in w.bus.r.xrevrange(streams.signals_stream("equity"), count=3):
            msg = streams.SignalsMessage.parse(f)
            assert msg.bar_ts == int(bars.ts[-1])
            got.update(zip(msg.symbols, msg.signals))
        assert got == want, f"bar {k}"
        clock.t += 60
    assert len(reads) == 3          # the window was read for the first bar's 3 chunks only


def test_the_regime_service_publishes_the_regime_the_coordinator_then_uses(mcfg):
    from quantshift.metrics import RegimeMetrics
    from quantshift.modular.regime_service import RegimeService

    cfg = mcfg(marketdata={"seed": 3, "lookback_bars": 300})
    clock = Clock()
    _seed_leader(cfg)
    md = _md(cfg, clock)
    rm = RegimeMetrics("quantshift_ml_regime_service", 0, "127.0.0.1", start_server=False)
    svc = RegimeService(cfg, rm, notifier=_notifier(rm), clock=clock)
    svc.setup()
    assert not svc.too_short
    md.publish_newest()
    svc.step()
    published = Bus(cfg.redis.url).get_regime("equity")
    assert published is not None and published.bar_ts == md.last_published
    assert published.name in ("calm", "normal", "volatile")
    assert sum(published.probabilities.values()) == pytest.approx(1.0)
    assert rm.regime._value.get() == published.regime_id
    assert Bus(cfg.redis.url).r.xlen(streams.regime_changes_stream("equity")) == 1
    coord = _coordinator(cfg, clock)
    try:
        _start(coord)
        weights = coord._allocation()
        assert weights == {k: pytest.approx(v) for k, v in cfg.regime.weights(published.name).items()}
        text = scrape(coord.metrics.port)
        assert sample(text, "quantshift_trading_coordinator_regime_fallback") == 0
        assert sample(text, "quantshift_trading_coordinator_regime") == published.regime_id
    finally:
        coord.shutdown()
        coord.metrics.stop()


def test_component_units_ports_and_commands_come_from_one_rule(mcfg):
    from quantshift import naming

    cfg = mcfg(modular={"signal_worker_port": 9220, "market_data_port": 9301, "regime_port": 9401})
    comps = naming.components("equity", 9200, {"signal_worker_port": 9220, "market_data_port": 9301,
                                                "regime_port": 9401}, worker_instances=2)
    ports = [c.port for c in comps]
    assert len(set(ports)) == len(ports) == 9
    for c in comps:
        if c.kind == naming.SIGNAL_WORKER:
            assert c.port == cfg.signal_worker_port(c.strategy, c.instance)    # what the worker binds
            assert c.args == ("--strategy", c.strategy, "--instance", str(c.instance))
            assert c.job == "signal_workers"
    kinds = {c.kind: c for c in comps}
    assert kinds[naming.COORDINATOR].unit == "quantshift-equity-coordinator.service"
    assert kinds[naming.COORDINATOR].command == "quantshift-coordinator" and kinds[naming.COORDINATOR].port == 9200
    assert kinds[naming.MARKET_DATA].port == 9301 and kinds[naming.REGIME].port == 9401
    assert naming.target("equity") == "quantshift-equity.target"
    (mono,) = naming.components("equity", 9200, architecture=naming.MONOLITH)
    assert mono.command == "quantshift-bot" and mono.job == "quantshift_equity"
    with pytest.raises(ValueError, match="unknown architecture 'micro'"):
        naming.components("equity", 9200, architecture="micro")


def _component(name: str, *args) -> subprocess.CompletedProcess:
    fn = {"quantshift-market-data": "market_data_main", "quantshift-signal-worker": "signal_worker_main",
          "quantshift-regime": "regime_main"}[name]
    code = f"import sys; from quantshift.modular.cli import {fn}; sys.exit({fn}(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NOTIFY_SOCKET": ""})


def test_the_component_scripts_run_a_step_and_refuse_a_bad_config_with_one_line(tmp_path, redis_url):
    from .conftest import free_port

    cfg = {"name": "equity", "host_id": "ct100", "metrics_port": free_port(), "metrics_bind": "127.0.0.1",
           "lock_dir": str(tmp_path), "redis": {"url": redis_url}, "symbols": list(SYMBOLS),
           "marketdata": {"seed": 3, "lookback_bars": 120},
           "modular": {"market_data_port": free_port(), "regime_port": free_port(), "signal_worker_port": free_port()}}
    path = tmp_path / "equity_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = _component("quantshift-market-data", "--config", str(path), "--once")
    assert r.returncode == 0, r.stderr
    assert redis.Redis.from_url(redis_url).xlen(streams.bars_stream("equity")) == 1   # 12 symbols: one chunk
    r = _component("quantshift-signal-worker", "--config", str(path), "--strategy", "breakout_momentum", "--once")
    assert r.returncode == 0, r.stderr
    assert redis.Redis.from_url(redis_url).xlen(streams.signals_stream("equity")) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg, "modular": {"chunk_size": 0}}))
    r = _component("quantshift-regime", "--config", str(bad))
    assert r.returncode == 78 and r.stderr.strip().count("\n") == 0 and "modular.chunk_size" in r.stderr
    r = _component("quantshift-signal-worker", "--config", str(path), "--strategy", "macd")
    assert r.returncode == 2 and "invalid choice: 'macd'" in r.stderr
