"""The bot end to end against real PostgreSQL and Redis: trading, fencing, degradation."""
from __future__ import annotations

import time

import pytest

from quantshift.bot import Bot
from quantshift.metrics import BotMetrics
from quantshift.store import Database, heartbeat, leader_lease, orders, positions
from quantshift.watchdog import Notifier

import numpy as np

from .helpers import scrape, sample


def _bot(cfg, **kw):
    m = BotMetrics(cfg.metrics_prefix, 0, "127.0.0.1")
    return Bot(cfg, metrics=m, notifier=Notifier(env={}, on_watchdog=m.record_watchdog), **kw)


def _seed_leader(cfg, holder="ct100"):
    d = Database(cfg.database.dsn)
    from quantshift.store import migrate
    migrate(d)
    with d.transaction() as cur:
        leader_lease.init(cur, cfg.name, holder, 30)
    d.close()


def _entry_everywhere_cfg(make_cfg, **over):
    # RSI with oversold 99 / overbought 99.5 enters on (nearly) every symbol: deterministic trading.
    return make_cfg(strategies={"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                                "bollinger_bounce": {"enabled": False},
                                "breakout_momentum": {"enabled": False}}, **over)


def test_one_cycle_as_leader_places_sim_orders_visible_in_db_and_metrics(make_cfg):
    cfg = _entry_everywhere_cfg(make_cfg)
    _seed_leader(cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        assert bot.lease_valid()
        rep = bot.cycle()
        assert rep.errors == []
        assert rep.new_bar and rep.orders_filled == 5  # max_open_positions
        with bot.db.transaction() as cur:
            pos = positions.for_account(cur, "equity")
            recent = orders.recent(cur, "equity")
        assert len(pos) == 5
        assert all(o.status == "FILLED" and o.client_order_id.startswith("qs-equity-e1-") for o in recent)
        text = scrape(bot.metrics.port)
        assert sample(text, "quantshift_equity_orders_executed_total", side="buy") == 5
        assert sample(text, "quantshift_equity_positions_open") == 5
        assert sample(text, "quantshift_equity_is_primary") == 1
        assert sample(text, "quantshift_equity_leader_epoch") == 1
    finally:
        bot.shutdown()
        bot.metrics.stop()


def _orders(bot):
    with bot.db.transaction() as cur:
        return orders.recent(cur, "equity")


def test_without_a_leader_row_the_bot_is_standby_and_sends_nothing(make_cfg):
    cfg = _entry_everywhere_cfg(make_cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        rep = bot.cycle()
        # A standby only reads: signals yes, no intents, nothing written for the account.
        assert not bot.lease_valid() and rep.signals and rep.intents == 0 and rep.orders_sent == 0
        assert _orders(bot) == []
        with bot.db.transaction() as cur:
            cur.execute("SELECT (SELECT count(*) FROM cash) + (SELECT count(*) FROM daily_pnl) "
                        "+ (SELECT count(*) FROM positions)")
            assert cur.fetchone()[0] == 0
        with bot.db.transaction() as cur:
            (row,) = heartbeat.for_account(cur, "equity")
        assert row.status == "STANDBY" and not row.is_primary
        assert sample(scrape(bot.metrics.port), "quantshift_equity_is_primary") == 0
    finally:
        bot.shutdown()
        bot.metrics.stop()


def test_bot_never_takes_a_lease_held_by_another_host_even_expired(make_cfg):
    cfg = _entry_everywhere_cfg(make_cfg)
    d = Database(cfg.database.dsn)
    from quantshift.store import migrate
    migrate(d)
    with d.transaction() as cur:
        leader_lease.init(cur, "equity", "ct101", 0.01)
    time.sleep(0.05)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        assert not bot.lease_valid()
        with d.transaction() as cur:
            lease = leader_lease.current(cur, "equity")
        assert (lease.holder, lease.epoch) == ("ct101", 1) and lease.expired
        assert bot.cycle().orders_sent == 0
    finally:
        bot.shutdown()
        bot.metrics.stop()
        d.close()


def test_old_primary_stands_down_when_the_monitor_took_over(make_cfg):
    cfg = _entry_everywhere_cfg(make_cfg, lease_ttl_seconds=2.2, heartbeat_interval_seconds=0.5,
                                lease_safety_margin_seconds=0.5)
    _seed_leader(cfg)
    bot = _bot(cfg)
    other = Database(cfg.database.dsn)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        assert bot.lease_valid() and bot.epoch == 1
        time.sleep(2.4)  # the primary missed its renewals (e.g. a network partition) ...
        assert leader_lease.LeaderLease(other).take_over_if_expired("equity", "ct101", 60).epoch == 2
        bot.heartbeat()  # ... and comes back: renewal with epoch 1 fails
        assert not bot.lease_valid() and bot.epoch is None
        rep = bot.cycle()
        assert rep.orders_sent == 0 and rep.intents == 0 and rep.signals  # reads and computes, writes nothing
        text = scrape(bot.metrics.port)
        assert sample(text, "quantshift_equity_is_primary") == 0
        assert sample(text, "quantshift_equity_heartbeat_seconds") > time.time() - 5  # still heartbeating
        with other.transaction() as cur:
            rows = {r.host_id: r for r in heartbeat.for_account(cur, "equity")}
        assert rows["ct100"].status == "STANDBY"
    finally:
        bot.shutdown()
        bot.metrics.stop()
        other.close()


def test_primary_self_fences_when_it_cannot_renew_but_stays_alive(make_cfg):
    from .conftest import free_port

    cfg = _entry_everywhere_cfg(make_cfg, lease_ttl_seconds=2.0, heartbeat_interval_seconds=0.5,
                                lease_safety_margin_seconds=0.5)
    _seed_leader(cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        assert bot.lease_valid()
        bot.db.close()
        bot.db._dsn = f"host=127.0.0.1 port={free_port()} dbname=x user=x"  # the database becomes unreachable
        bot.db._connect_timeout = 1
        time.sleep(1.6)  # past the local deadline (2.0 - 0.5 margin)
        bot.heartbeat()  # must not raise
        assert not bot.lease_valid()
        text = scrape(bot.metrics.port)
        assert sample(text, "quantshift_equity_is_primary") == 0
        assert sample(text, "quantshift_equity_cycle_errors_total", type="db") >= 1
    finally:
        bot.metrics.stop()


def test_restarts_total_counts_starts_after_the_first_from_postgres(make_cfg):
    cfg = make_cfg()
    for expected in (0, 1, 2):
        bot = _bot(cfg)
        try:
            bot.start(wait=False)
            assert sample(scrape(bot.metrics.port), "quantshift_equity_restarts_total") == expected
        finally:
            bot.shutdown()
            bot.metrics.stop()


def test_redis_down_the_bot_keeps_trading_and_counts_redis_errors(make_cfg):
    from .conftest import free_port

    cfg = _entry_everywhere_cfg(make_cfg, redis={"url": f"redis://127.0.0.1:{free_port()}/0",
                                                 "socket_timeout_seconds": 0.2})
    _seed_leader(cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        rep = bot.cycle()
        assert rep.orders_filled == 5
        assert sample(scrape(bot.metrics.port), "quantshift_equity_cycle_errors_total", type="redis") >= 1
    finally:
        bot.shutdown()
        bot.metrics.stop()


def test_daily_loss_kill_switch_stops_entries_sets_gauge_and_alerts(make_cfg, caplog):
    from quantshift.store import daily_pnl

    cfg = _entry_everywhere_cfg(make_cfg)
    _seed_leader(cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        with bot.db.transaction() as cur:  # the day started 10% higher than the account is now
            daily_pnl.update(cur, "equity", 110_000.0)
        with caplog.at_level("ERROR"):
            rep = bot.cycle()
        assert rep.kill_switch and rep.orders_sent == 0 and rep.intents == 0
        assert rep.daily_pnl == pytest.approx(-10_000.0)
        assert any("ALERT daily loss limit hit" in r.message for r in caplog.records)
        text = scrape(bot.metrics.port)
        assert sample(text, "quantshift_equity_daily_loss_limit_hit") == 1
        assert sample(text, "quantshift_equity_daily_pnl_usd") == pytest.approx(-10_000.0)
    finally:
        bot.shutdown()
        bot.metrics.stop()


class _Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def test_live_cycles_use_the_incremental_path_with_the_same_signals_as_recompute(make_cfg):
    cfg = make_cfg(symbols=[f"S{i:03d}" for i in range(60)])
    clock = _Clock(1_700_000_000.0 // 60 * 60 + 1)
    bot = _bot(cfg, clock=clock)
    try:
        bot.start(wait=False)
        bot.cycle()
        first_live = bot._live
        for _ in range(5):
            clock.t += 60
            rep = bot.cycle()
            assert rep.new_bar and bot._live is first_live  # updated in place, not re-primed
            bars = bot.md.latest(bot.symbols, 400).bars
            for s in bot.strategies:
                assert rep.signals[s.name] == int(np.count_nonzero(s.signals(bars)[-1])), s.name
        assert not bot.cycle().new_bar  # same bar again: no new signals, no re-trading
    finally:
        bot.shutdown()
        bot.metrics.stop()


def test_restarted_bot_continues_with_the_same_cash_and_positions(make_cfg):
    cfg = _entry_everywhere_cfg(make_cfg)
    _seed_leader(cfg)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        bot.cycle()
        before = bot.broker.account()
    finally:
        bot.shutdown()
        bot.metrics.stop()
    again = _bot(cfg)
    try:
        again.start(wait=False)
        again.heartbeat()
        assert again.lease_valid() and again.epoch == 1  # adopted its own row
        after = again.broker.account()
        assert after.cash == pytest.approx(before.cash) and after.positions == before.positions
        rep = again.cycle()
        assert rep.orders_sent == 0  # already at max_open_positions: nothing doubled
    finally:
        again.shutdown()
        again.metrics.stop()


def test_a_slow_cycle_still_pings_the_watchdog_between_steps(make_cfg, tmp_path):
    import socket

    from quantshift.marketdata import SyntheticSource

    class SlowSource(SyntheticSource):
        def fetch(self, symbols, end_ts, n):
            time.sleep(0.3)
            return super().fetch(symbols, end_ts, n)

        def quote(self, symbols, now):
            time.sleep(0.15)
            return super().quote(symbols, now)

    cfg = _entry_everywhere_cfg(make_cfg, redis={"enabled": False})
    _seed_leader(cfg)
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    m = BotMetrics(cfg.metrics_prefix, 0, "127.0.0.1")
    # WatchdogSec=0.4s -> a ping is due every 0.1 s; the cycle takes ~1 s.
    notifier = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}, on_watchdog=m.record_watchdog)
    bot = Bot(cfg, metrics=m, notifier=notifier,
              source=SlowSource(cfg.symbols, seed=cfg.marketdata.seed, timeframe_seconds=60))
    try:
        bot.start(wait=False)
        bot.heartbeat()
        sock.settimeout(0.01)
        try:
            while True:
                sock.recv(100)
        except OSError:
            pass
        before = sample(scrape(m.port), "quantshift_equity_watchdog_notifications_total")
        t0 = time.monotonic()
        rep = bot.cycle()
        took = time.monotonic() - t0
        pings = sample(scrape(m.port), "quantshift_equity_watchdog_notifications_total") - before
        assert took > 0.8 and rep.orders_filled == 5
        assert pings >= 5  # one after the slow fetch and one before each slow order
    finally:
        bot.shutdown()
        m.stop()
        sock.close()


def test_cycles_are_aligned_just_after_bar_completion(make_cfg):
    cfg = make_cfg(cycle_interval_seconds=60)
    minute = 1_700_000_040  # a multiple of 60
    clock = _Clock(minute + 40.5)  # 40.5 s into a minute
    bot = _bot(cfg, clock=clock)
    try:
        assert bot._until_next_cycle() == pytest.approx(19.5 + 1.0)
        clock.t = minute  # exactly on a boundary: the next one, plus the offset
        assert bot._until_next_cycle() == pytest.approx(61.0)
    finally:
        bot.metrics.stop()
