"""One trader per account, enforced where orders take effect (issue 11, items 1-5).

Each test plays a failure against the real PostgreSQL and judges the outcome by
what took effect: executions (fills) audited against the lease history, and the
ledger rows, never by when an order row was created.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg2
import pytest
import yaml

from quantshift.bot import Bot
from quantshift.metrics import BotMetrics
from quantshift.store import Database, audit, leader_lease, orders
from quantshift.watchdog import Notifier

from .conftest import free_port


def _bot(cfg):
    m = BotMetrics(cfg.metrics_prefix, 0, "127.0.0.1")
    return Bot(cfg, metrics=m, notifier=Notifier(env={}, on_watchdog=m.record_watchdog))


def _close(*bots):
    for b in bots:
        b.shutdown()
        b.metrics.stop()


def _trading_cfg(make_cfg, **over):
    # RSI with oversold 99 enters on (nearly) every symbol: deterministic trading.
    return make_cfg(strategies={"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                                "bollinger_bounce": {"enabled": False}, "breakout_momentum": {"enabled": False}},
                    lease_auto_init=True, **over)


SHORT = dict(lease_ttl_seconds=2.0, heartbeat_interval_seconds=0.5, lease_safety_margin_seconds=0.5)


def _verdict(dsn):
    d = Database(dsn)
    try:
        with d.transaction() as cur:
            return audit.audit(cur)
    finally:
        d.close()


def _take_over(dsn, account="equity", host="ct101"):
    d = Database(dsn)
    try:
        return leader_lease.LeaderLease(d).take_over_if_expired(account, host, 60)
    finally:
        d.close()


def test_item1_a_bot_frozen_between_its_lease_check_and_the_send_executes_nothing_after_a_takeover(make_cfg):
    """Frozen (SIGSTOP, a paused container) at the worst line: after the last
    local lease check, right before the broker call. The monitor takes over,
    the new primary reconciles; then the old bot thaws and sends."""
    cfg = _trading_cfg(make_cfg, **SHORT)
    old = _bot(cfg)
    entered, thaw = threading.Event(), threading.Event()
    real_submit = old.broker.submit

    def frozen_submit(req, **kw):
        if not entered.is_set():
            entered.set()
            thaw.wait(30)
        return real_submit(req, **kw)

    old.broker.submit = frozen_submit
    new = None
    try:
        old.start(wait=False)
        old.heartbeat()
        worker = threading.Thread(target=old.cycle)
        worker.start()
        assert entered.wait(10), "the bot never reached the broker call"
        time.sleep(SHORT["lease_ttl_seconds"] + 0.2)  # the lease runs out while it is frozen
        assert _take_over(cfg.database.dsn).epoch == 2
        new = _bot(_trading_cfg(make_cfg, host_id="ct101", **SHORT))
        new.start(wait=False)  # takes up epoch 2, reconciles (the frozen bot's PENDING order is cancelled)
        thaw.set()
        worker.join(30)
        verdict = _verdict(cfg.database.dsn)
        assert verdict.violations == [], verdict.violations
        with new.db.transaction() as cur:
            old_orders = [o for o in orders.recent(cur, "equity", 100) if o.epoch == 1]
        assert old_orders and all(o.status == "CANCELED" for o in old_orders), [o.status for o in old_orders]
        assert not old.lease_valid()
    finally:
        thaw.set()
        _close(*(b for b in (old, new) if b is not None))


def test_item2_the_ledger_refuses_writes_under_a_stale_epoch_and_a_standby_writes_nothing(make_cfg):
    cfg = _trading_cfg(make_cfg, **SHORT)
    primary = _bot(cfg)
    standby = None
    try:
        primary.start(wait=False)
        primary.heartbeat()
        assert primary.cycle().orders_filled > 0
        time.sleep(SHORT["lease_ttl_seconds"] + 0.2)
        assert _take_over(cfg.database.dsn).epoch == 2
        # The old primary's own store calls, straight to the ledger under epoch 1:
        for write in (
            lambda cur: orders.create_pending(cur, client_order_id="qs-equity-e1-late", account="equity",
                                              host_id="ct100", epoch=1, symbol="AAA", side="buy", qty=1),
            lambda cur: cur.execute("UPDATE cash SET balance = balance - 1 WHERE account = 'equity'"),
            lambda cur: cur.execute("DELETE FROM positions WHERE account = 'equity'"),
            lambda cur: cur.execute("UPDATE daily_pnl SET last_value = 0 WHERE account = 'equity'"),
        ):
            with pytest.raises(Exception, match="fenced"):
                with primary.db.transaction() as cur:
                    write(cur)
        d = Database(cfg.database.dsn)
        with d.transaction() as cur:
            cur.execute("SELECT count(*) FROM orders WHERE client_order_id = 'qs-equity-e1-late'")
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT (SELECT count(*) FROM positions), (SELECT balance FROM cash)")
            before = cur.fetchone()
        # A standby runs full cycles of data and signals and writes nothing for the account.
        standby = _bot(_trading_cfg(make_cfg, host_id="ct102", **SHORT))
        standby.start(wait=False)
        standby.heartbeat()
        rep = standby.cycle()
        assert rep.signals and rep.orders_sent == 0
        with d.transaction() as cur:
            cur.execute("SELECT (SELECT count(*) FROM positions), (SELECT balance FROM cash)")
            assert cur.fetchone() == before
            cur.execute("SELECT count(*) FROM daily_pnl WHERE updated_at > now() - interval '1 second'")
            assert cur.fetchone()[0] == 0
        d.close()
    finally:
        _close(*(b for b in (primary, standby) if b is not None))


def test_item3_a_renewal_that_rolls_back_does_not_extend_the_lease(make_cfg, monkeypatch):
    from quantshift.store import heartbeat as heartbeat_store

    cfg = _trading_cfg(make_cfg, **SHORT)
    bot = _bot(cfg)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        first = time.monotonic()
        assert bot.lease_valid()
        time.sleep(1.0)

        def fail(*_a, **_k):
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(heartbeat_store, "beat", fail)  # the renew ran, then the transaction failed
        bot.heartbeat()
        monkeypatch.undo()
        # The committed lease ends at first + ttl; the local deadline keeps the margin back.
        time.sleep(max(0.0, first + SHORT["lease_ttl_seconds"] - SHORT["lease_safety_margin_seconds"]
                       - time.monotonic()) + 0.05)
        assert not bot.lease_valid(), "a rolled-back renewal extended the bot's deadline"
        time.sleep(0.6)
        assert _take_over(cfg.database.dsn).epoch == 2
        bot.cycle()
        verdict = _verdict(cfg.database.dsn)
        assert verdict.violations == [], verdict.violations
    finally:
        _close(bot)


def test_item4_resends_after_rate_limits_stop_when_the_lease_no_longer_covers_a_request(make_cfg):
    from quantshift.brokers.remote import RemoteBroker
    from quantshift.venues.errors import VenueNotFound, VenueRetryLater
    from quantshift.venues.reports import VenueAccount
    from quantshift.venues.retry import RetryPolicy

    sends: list[float] = []

    class RateLimited(RemoteBroker):
        name = "ratelimited"

        def _venue_submit(self, req):
            sends.append(time.monotonic())
            raise VenueRetryLater("HTTP 429: too many requests", retry_after=0.4)

        def _venue_find(self, coid, symbol):
            raise VenueNotFound("404")

        def _venue_open_orders(self):
            return []

        def _venue_recent_orders(self, since):
            return []

        def _venue_account(self):
            return VenueAccount(cash=100_000.0, positions={})

        def _translate(self, exc):
            raise exc

    timeout = 0.5
    cfg = _trading_cfg(make_cfg, lease_ttl_seconds=2.0, heartbeat_interval_seconds=0.5,
                       lease_safety_margin_seconds=0.3, broker={"timeout_seconds": timeout},
                       risk={"max_open_positions": 1})
    bot = _bot(cfg)
    bot.broker = RateLimited(bot.db, "equity", retry=RetryPolicy(attempts=8, base_seconds=0.4, cap_seconds=0.4))
    bot.send_budget = timeout  # as for any network broker (Bot sets it from broker.timeout_seconds)
    try:
        bot.start(wait=False)
        renewed = time.monotonic()
        bot.heartbeat()
        bot.cycle()  # one thread, no renewal while it backs off
        assert sends, "nothing was sent at all"
        # Every send left enough lease for the request to end before the lease could.
        last_ok = renewed + 2.0 - 0.3 - timeout
        late = [round(t - last_ok, 2) for t in sends if t > last_ok]
        assert late == [], f"sent {len(late)} time(s) without lease for the broker timeout (s past: {late})"
    finally:
        _close(bot)


def _write_cfg(tmp_path, cfg_dict) -> str:
    p = tmp_path / "equity_config.yaml"
    p.write_text(yaml.safe_dump(cfg_dict))
    return str(p)


def test_item5_a_second_process_for_the_account_on_the_same_host_refuses_with_one_line(make_cfg, tmp_path):
    """`quantshift-bot --once` beside the running service (documented in
    bots/README.md): it must not trade at the service's epoch, nor cancel its
    in-flight orders at start."""
    cfg = _trading_cfg(make_cfg, **SHORT)
    service = _bot(cfg)
    try:
        service.start(wait=False)
        service.heartbeat()
        with service.db.transaction() as cur:
            orders.create_pending(cur, client_order_id="qs-equity-e1-inflight", account="equity", host_id="ct100",
                                  epoch=1, symbol="AAA", side="buy", qty=1)
        path = _write_cfg(tmp_path, {
            "name": "equity", "host_id": "ct100", "metrics_port": free_port(), "metrics_bind": "127.0.0.1",
            "lock_dir": cfg.lock_dir, "symbols": list(cfg.symbols), "database": {"dsn": cfg.database.dsn},
            "redis": {"url": cfg.redis.url}, "marketdata": {"seed": 3, "lookback_bars": 120},
            "strategies": {"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                           "bollinger_bounce": {"enabled": False}, "breakout_momentum": {"enabled": False}}})
        r = subprocess.run([sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                            "sys.exit(bot_main(sys.argv[1:]))", "--config", path, "--once"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0, r.stdout[-2000:]
        assert len(r.stderr.strip().splitlines()) == 1 and "another trading process" in r.stderr, r.stderr
        assert "systemctl stop quantshift-equity.target" in r.stderr, "names the account's target, which stops it"
        with service.db.transaction() as cur:
            assert orders.get(cur, "qs-equity-e1-inflight").status == "PENDING", "the service's order was touched"
            cur.execute("SELECT count(*) FROM fills")
            assert cur.fetchone()[0] == 0
    finally:
        _close(service)
    # Once the service is gone, the same command works.
    r = subprocess.run([sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                        "sys.exit(bot_main(sys.argv[1:]))", "--config", path, "--once"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_item5_handover_refuses_while_the_old_holders_bots_are_alive_unless_forced(make_cfg):
    from quantshift import config
    from quantshift.failover import switchover
    from quantshift.failover.monitor_config import Monitored

    cfg = _trading_cfg(make_cfg, **SHORT)
    bot = _bot(cfg)
    m = Monitored(accounts=["equity"], units=["quantshift-equity.target"], lease_ttl_seconds=2.0,
                  heartbeat_interval_seconds=0.5, database=config.DatabaseConfig(dsn=cfg.database.dsn),
                  redis=cfg.redis)
    d = Database(cfg.database.dsn)
    try:
        bot.start(wait=False)
        bot.heartbeat()
        with pytest.raises(RuntimeError, match="bots on ct100 are alive"):
            switchover.hand_over(m, d, "ct100", "ct101")
        assert leader_lease.LeaderLease(d).current("equity").holder == "ct100"
        assert switchover.hand_over(m, d, "ct100", "ct101", force=True) == {"equity": "changed (epoch 2)"}
        bot.heartbeat()
        assert not bot.lease_valid()
    finally:
        _close(bot)
        d.close()
