"""The bot with a real adapter (alpaca-py against the loopback fake of Alpaca):
reconciliation gates READY=1 and trading, orders flow end to end, and a symbol
with an unresolved order never gets a second one."""
from __future__ import annotations

import numpy as np
import pytest

from quantshift import config
from quantshift.bot import Bot, StartupError
from quantshift.brokers import RetryPolicy
from quantshift.metrics import BotMetrics
from quantshift.store import Database, leader_lease, migrate, orders, positions
from quantshift.watchdog import Notifier

from .conftest import SYMBOLS
from .fake_venues import FakeAlpaca

FAST = RetryPolicy(attempts=2, base_seconds=0.01, cap_seconds=0.02, fill_wait_seconds=0.5)


class RecordingNotifier(Notifier):
    def __init__(self, fake):
        super().__init__(env={})
        self.fake = fake
        self.readies: list[int] = []  # how many requests the venue had seen at READY=1

    def ready(self, status=None):
        self.readies.append(len(self.fake.requests))
        return super().ready(status)


@pytest.fixture
def fake():
    f = FakeAlpaca()
    yield f
    f.close()


@pytest.fixture
def bot(pg_dsn, redis_url, fake, tmp_path):
    data = {
        "name": "equity", "host_id": "ct100", "metrics_port": 9200, "cycle_interval_seconds": 1,
        "lock_dir": str(tmp_path),
        "heartbeat_interval_seconds": 1, "lease_ttl_seconds": 10, "lease_safety_margin_seconds": 1,
        "database": {"dsn": pg_dsn}, "redis": {"url": redis_url},
        "marketdata": {"seed": 3, "lookback_bars": 120}, "symbols": list(SYMBOLS),
        "broker": {"kind": "alpaca", "paper": True, "base_url": fake.url, "timeout_seconds": 1},
        # RSI oversold 99 enters on (nearly) every symbol: deterministic trading
        "strategies": {"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                       "bollinger_bounce": {"enabled": False}, "breakout_momentum": {"enabled": False}},
        "risk": {"position_size_usd": 5000, "max_position_usd": 10000, "max_open_positions": 5},
    }
    cfg = config.from_mapping(data, "test.yaml", env={"APCA_API_KEY_ID": fake.key, "APCA_API_SECRET_KEY": fake.secret})
    d = Database(pg_dsn)
    migrate(d)
    with d.transaction() as cur:
        leader_lease.init(cur, "equity", "ct100", 30)
    d.close()
    m = BotMetrics(cfg.metrics_prefix, 0, "127.0.0.1")
    b = Bot(cfg, metrics=m, notifier=RecordingNotifier(fake))
    b.broker.retry = FAST
    fake.prices.update(zip(SYMBOLS, (float(p) for p in b.md.quote(SYMBOLS))))  # the venue trades at the feed's price
    yield b
    b.shutdown()
    m.stop()


def _metric(bot, name, **labels):
    return bot.metrics.registry.get_sample_value(f"quantshift_equity_{name}", labels) or 0.0


def test_bot_trades_through_alpaca_after_reconciling_and_only_then_reports_ready(bot, fake):
    bot.start(wait=False)
    assert bot.notifier.readies, "READY=1 was not sent"
    seen = fake.requests[: bot.notifier.readies[0]]
    assert ("GET", "/v2/orders") in [(m, p) for m, p, _ in seen]   # open orders reconciled before READY
    assert ("GET", "/v2/account") in [(m, p) for m, p, _ in seen]  # and positions/cash
    bot.heartbeat()
    rep = bot.cycle()
    assert rep.errors == [] and rep.orders_filled == 5
    with bot.db.transaction() as cur:
        recent = orders.recent(cur, "equity")
        held = positions.for_account(cur, "equity")
    assert len(recent) == 5 and all(o.status == "FILLED" and o.client_order_id.startswith("qs-equity-e1-")
                                    for o in recent)
    assert len(fake.venue_orders()) == 5 and fake.count("POST", "/v2/orders") == 5
    assert len(held) == 5 and set(held) == {o.symbol for o in recent}
    assert _metric(bot, "orders_executed_total", side="buy") == 5
    assert _metric(bot, "api_latency_seconds_count") > 10  # every HTTP request observed
    assert _metric(bot, "positions_open") == 5


def test_no_ready_and_no_trading_until_reconciliation_succeeds(bot, fake):
    fake.fault("GET", "/v2/orders", "service_unavailable", times=99)
    with pytest.raises(StartupError, match="reconciliation failed"):
        bot.start(wait=False)
    assert bot.notifier.readies == [] and fake.count("POST", "/v2/orders") == 0
    assert _metric(bot, "cycle_errors_total", type="broker") >= FAST.attempts
    fake.faults.clear()
    fake.fault("GET", "/v2/orders", "service_unavailable", times=FAST.attempts)  # one more failed round
    bot.start(wait=True)  # retries (1 s) until the broker answers
    assert len(bot.notifier.readies) == 1


def test_a_symbol_with_an_unresolved_order_never_gets_a_second_one(bot, fake):
    bot.start(wait=False)
    bot.heartbeat()
    with bot.db.transaction() as cur:  # outcome unknown, and the venue has not shown it (yet)
        orders.create_pending(cur, client_order_id="qs-equity-e1-unresolved00000001", account="equity",
                              host_id="ct100", epoch=1, symbol=SYMBOLS[0], side="buy", qty=1)
        orders.set_status(cur, "qs-equity-e1-unresolved00000001", "UNKNOWN", error="HTTP 504")
    rep = bot.cycle()
    sent = {o["symbol"] for o in fake.venue_orders()}
    assert SYMBOLS[0] not in sent and rep.intents == 5 and rep.orders_sent == 4
    with bot.db.transaction() as cur:
        assert orders.get(cur, "qs-equity-e1-unresolved00000001").status == "UNKNOWN"
    assert np.isclose(_metric(bot, "orders_executed_total", side="buy"), 4)


def test_refused_orders_are_counted_so_a_refusing_bot_does_not_look_healthy(bot, fake):
    bot.start(wait=False)
    bot.heartbeat()
    fake.fault("POST", "/v2/orders", "insufficient_buying_power", times=99)
    rep = bot.cycle()
    assert rep.orders_filled == 0 and rep.orders_sent == 5
    assert _metric(bot, "orders_rejected_total", side="buy") == 5
    assert _metric(bot, "orders_executed_total", side="buy") == _metric(bot, "orders_unknown_total", side="buy") == 0


def test_unanswered_orders_are_counted_as_unknown_and_never_resent(bot, fake):
    bot.start(wait=False)
    bot.heartbeat()
    # 503 and the order not taken: the outcome is unknown and the lookups find nothing
    fake.fault("POST", "/v2/orders", "service_unavailable", times=99)
    bot.cycle()
    with bot.db.transaction() as cur:
        unknown = [o for o in orders.recent(cur, "equity") if o.status == "UNKNOWN"]
    assert len(unknown) == 5 and fake.count("POST", "/v2/orders") == 5
    assert _metric(bot, "orders_unknown_total", side="buy") == 5
    assert _metric(bot, "orders_rejected_total", side="buy") == 0


def test_no_orders_while_the_market_is_closed_and_trading_when_it_opens(bot, fake, caplog):
    import logging
    import time

    now = [time.time()]
    fake.now = bot.clock = bot.md.clock = lambda: now[0]
    fake.sessions = [(now[0] + 3600, now[0] + 7200), (now[0] + 86400, now[0] + 90000)]  # opens in an hour
    bot.start(wait=False)
    bot.heartbeat()
    with caplog.at_level(logging.INFO, logger="quantshift.bot"):
        closed = [bot.cycle()]
        now[0] += 60  # a new bar, still closed
        closed.append(bot.cycle())
    assert [r.market_open for r in closed] == [False, False] and all(r.errors == [] for r in closed)
    assert closed[0].signals and closed[0].intents == 5  # signals and plans are still made ...
    assert fake.count("POST", "/v2/orders") == 0 and closed[0].orders_sent == 0  # ... but nothing is sent
    assert _metric(bot, "market_open") == 0
    assert sum("market closed" in r.message for r in caplog.records) == 1  # once per closed spell
    now[0] = fake.sessions[0][0] + 60
    rep = bot.cycle()
    assert rep.market_open and rep.orders_sent > 0 and fake.count("POST", "/v2/orders") == rep.orders_sent
    assert _metric(bot, "market_open") == 1
    assert fake.count("GET", "/v2/clock") == 2  # one read per session change, not per cycle


def test_orders_the_venue_keeps_open_are_canceled_at_their_max_age_and_their_symbols_trade_again(bot, fake):
    import time

    now = [time.time()]
    bot.md.clock = lambda: now[0]  # a new bar whenever the test says so
    bot.start(wait=False)
    bot.heartbeat()
    fake.plan = "hold"  # accepted and queued, never filled (sent outside the session, say)
    first = bot.cycle()
    assert first.orders_sent == 5 and first.orders_filled == 0
    queued = {o["id"]: o["symbol"] for o in fake.venue_orders()}
    now[0] += 60
    assert bot.cycle().orders_sent == 0  # inside the max age: the open orders block their symbols
    fake.plan = "fill"
    bot.broker.order_max_age_seconds = 0.0
    now[0] += 60
    rep = bot.cycle()
    assert {o["status"] for o in fake.venue_orders() if o["id"] in queued} == {"canceled"}
    assert fake.count("DELETE", "/v2/orders/") == 5
    with bot.db.transaction() as cur:
        stored = orders.recent(cur, "equity")
    assert sorted(o.status for o in stored) == ["CANCELED"] * 5 + ["FILLED"] * rep.orders_filled
    # the same symbols trade again in the same cycle
    assert rep.orders_filled > 0 and {o.symbol for o in stored if o.status == "FILLED"} <= set(queued.values())
