"""The per-venue test harness used by the conformance suite, the recordings
checked against the libraries' own models, and fenced-order detection at every
venue. The fakes themselves are in fake_venues.py (Alpaca, Binance) and
fake_kraken.py.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from .fake_venues import FakeAlpaca, FakeBinance, _unix, recorded

# --------------------------------------------------------------- harness --

@pytest.fixture(scope="module")
def _broker_database(pg_server):
    """One database per test module, emptied before each test (creating a
    database per test would cost more than the broker tests themselves)."""
    from quantshift.store import Database, migrate

    from .conftest import create_database

    d = Database(create_database(pg_server, "qs_brokers_"))
    migrate(d)
    yield d
    d.close()


HOLDER = "ct100"  # the host the broker tests trade from (Harness.pending stores its orders at epoch 1)


def play_holder(db, account: str, holder: str = HOLDER, epoch: int = 1) -> None:
    """Write the ledger as the lease holder: the bot sets this fence on its
    Database; the ledger trigger refuses writes without it."""
    from quantshift.store.fencing import Fence

    db.fence = Fence(account, holder, epoch, 1.0)


def take_over(db, account: str, new_holder: str = "ct101"):
    """The old holder's lease runs out (it froze) and the failover monitor takes
    it over: epoch + 1, epoch_since = now. The new holder's fence is set."""
    from quantshift.store import leader_lease

    with db.transaction() as cur:
        cur.execute("UPDATE leader SET lease_expires_at = now() - interval '1 second' WHERE account = %s",
                    (account,))
    with db.transaction() as cur:
        lease = leader_lease.take_over_if_expired(cur, account, new_holder, 3600.0)
    assert lease is not None and lease.holder == new_holder
    play_holder(db, account, new_holder, lease.epoch)
    return lease


@pytest.fixture
def broker_db(_broker_database):
    """Emptied, with a leader row (ct100, epoch 1) for both test accounts and
    ct100's fence for "equity" (Harness sets its own account's)."""
    from quantshift.store import leader_lease

    d = _broker_database
    d.fence = None
    with d.transaction() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")
        tables = [r[0] for r in cur.fetchall()]
        cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        for account in ("equity", "crypto"):
            leader_lease.init(cur, account, HOLDER, 3600.0)
    play_holder(d, "equity")
    return d


def needs_transport(fn):
    """Marks a conformance test that needs a venue to fail or to reconcile
    against; the sim broker skips it before any setup."""
    fn.needs_transport = True
    return fn


QTY = {"alpaca": 10.0, "ccxt": 0.015, "kraken": 0.015, "sim": 10.0}
TOO_BIG = {"alpaca": 10_000.0, "ccxt": 100.0, "kraken": 100.0, "sim": 10_000.0}


class Harness:
    """One venue behind the broker interface, for the conformance suite: alpaca,
    ccxt (binance spot), kraken (ccxt kraken spot) or sim. lookup_call and
    account_call are the (method, path) the broker looks an order up with and
    reads the account with, for faults."""

    def __init__(self, kind: str, db, cash: float = 100_000.0):
        from quantshift.brokers import AlpacaBroker, CcxtBroker, RetryPolicy, SimBroker
        from quantshift.metrics import BotMetrics

        self.kind, self.db = kind, db
        self.metrics = BotMetrics("quantshift_t", 0, start_server=False)
        self.qty, self.too_big = QTY[kind], TOO_BIG[kind]
        self.policy = RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=0.02, fill_wait_seconds=1.0)
        if kind == "alpaca":
            self.account_name, self.sym, self.sym2 = "equity", "AAPL", "MSFT"
            self.fake = FakeAlpaca(cash)
            self.fake.prices.update({"AAPL": 175.0, "MSFT": 410.0})
            self.broker = AlpacaBroker(db, "equity", api_key=self.fake.key, api_secret=self.fake.secret, paper=True,
                                       base_url=self.fake.url, timeout_seconds=0.5, retry=self.policy)
            self.order_path = "/v2/orders"
            self.lookup_call, self.account_call = ("GET", "/v2/orders:by_client_order_id"), ("GET", "/v2/account")
        elif kind == "kraken":
            from .fake_kraken import FakeKraken

            self.account_name, self.sym, self.sym2 = "crypto", "BTC/USD", "ETH/USD"
            self.fake = FakeKraken(cash)
            self.fake.prices.update({"BTC/USD": 68250.0, "ETH/USD": 3500.0})
            self.broker = CcxtBroker(db, "crypto", ["BTC/USD", "ETH/USD"], exchange_id="kraken",
                                     api_key=self.fake.key, api_secret=self.fake.secret, paper=False,
                                     base_url=self.fake.url, timeout_seconds=0.5, retry=self.policy)
            self.broker.exchange.rateLimit = 1  # kraken: 1000 ms x cost (3 for order queries)
            self.order_path = "/0/private/AddOrder"
            # the open orders are asked first, filtered by our id on the server
            self.lookup_call, self.account_call = ("POST", "/0/private/OpenOrders"), ("POST", "/0/private/BalanceEx")
        elif kind == "ccxt":
            self.account_name, self.sym, self.sym2 = "crypto", "BTC/USDT", "ETH/USDT"
            self.fake = FakeBinance(cash)
            self.fake.prices.update({"BTC/USDT": 68250.0, "ETH/USDT": 3500.0})
            self.broker = CcxtBroker(db, "crypto", ["BTC/USDT", "ETH/USDT"], exchange_id="binance",
                                     api_key=self.fake.key, api_secret=self.fake.secret, paper=False,
                                     base_url=self.fake.url, timeout_seconds=0.5, retry=self.policy)
            # ccxt's limiter stays on; only its spacing shrinks (binance: 50 ms x request
            # weight, ~0.8 s for one openOrders without symbol), or the suite would crawl.
            self.broker.exchange.rateLimit = 1
            self.order_path = "/api/v3/order"
            self.lookup_call, self.account_call = ("GET", "/api/v3/order"), ("GET", "/api/v3/account")
        else:
            self.account_name, self.sym, self.sym2 = "equity", "AAA", "BBB"
            self.fake = None
            self.prices = {"AAA": 175.0, "BBB": 410.0}
            self.broker = SimBroker(db, "equity", lambda syms: np.array([self.prices[s] for s in syms]),
                                    initial_cash=cash)
        if hasattr(self.broker, "instrument"):
            self.broker.instrument(self.metrics)
        play_holder(db, self.account_name)

    @property
    def price(self) -> float:
        return self.fake.prices[self.sym] if self.fake else self.prices[self.sym]

    def pending(self, side: str, qty: float | None = None, *, symbol: str | None = None, order_type="market",
                limit_price=None, coid: str | None = None):
        from quantshift.brokers import OrderRequest
        from quantshift.store import orders

        coid = coid or self.broker.new_client_order_id(self.account_name, 1)
        symbol = symbol or self.sym
        qty = qty or self.qty
        with self.db.transaction() as cur:  # what the bot does before it calls submit()
            orders.create_pending(cur, client_order_id=coid, account=self.account_name, host_id="ct100", epoch=1,
                                  symbol=symbol, side=side, qty=qty, order_type=order_type)
        return OrderRequest(coid, symbol, side, qty, order_type, limit_price)

    def order(self, coid):
        from quantshift.store import orders

        with self.db.transaction() as cur:
            return orders.get(cur, coid)

    def fills(self, coid):
        from quantshift.store import fills

        with self.db.transaction() as cur:
            return fills.for_order(cur, coid)

    def hold(self, symbol: str, qty: float, avg: float) -> None:
        if self.fake is not None:
            self.fake.hold(symbol, qty, avg)
        else:
            from quantshift.store import positions

            with self.db.transaction() as cur:
                positions.apply_fill(cur, self.account_name, symbol, "buy", qty, avg)

    def venue_orders(self, coid=None) -> list:
        if self.fake is not None:
            return self.fake.venue_orders(coid)
        from quantshift.store import orders

        with self.db.transaction() as cur:
            rows = orders.recent(cur, self.account_name, 1000)
        return [o for o in rows if o.status == "FILLED" and (coid is None or o.client_order_id == coid)]

    def posts(self) -> int:
        return self.fake.count("POST", self.order_path) if self.fake else len(self.venue_orders())

    def errors(self, type_="broker") -> float:
        return self.metrics.registry.get_sample_value("quantshift_t_cycle_errors_total", {"type": type_}) or 0.0

    def latency_count(self) -> float:
        return self.metrics.registry.get_sample_value("quantshift_t_api_latency_seconds_count") or 0.0

    def close(self) -> None:
        if self.fake is not None:
            self.fake.close()


# ------------------------------------------------ recordings vs libraries --

def test_recorded_alpaca_shapes_parse_with_alpaca_py_models():
    from alpaca.trading.models import Calendar, Clock, Order, Position, TradeAccount

    order = Order(**recorded("alpaca", "order"))
    assert order.client_order_id.startswith("qs-equity-e1-") and order.status.value == "accepted"
    assert TradeAccount(**recorded("alpaca", "account")).cash == "100000"
    assert Position(**recorded("alpaca", "position")).avg_entry_price == "175.1"
    page = recorded("alpaca", "stocks_bars_page")
    assert set(page["bars"]) == {"AAPL", "MSFT"} and page["next_page_token"]
    clock = Clock(**recorded("alpaca", "clock"))
    assert clock.is_open and clock.next_close < clock.next_open and clock.timestamp.utcoffset() is not None
    days = [Calendar(**d) for d in recorded("alpaca", "calendar")]
    assert [(d.open.hour, d.open.minute, d.close.hour) for d in days] == [(9, 30, 16)] * 2


def test_fake_alpaca_answers_parse_with_alpaca_py_models():
    from alpaca.trading.models import Order, Position, TradeAccount

    fake = FakeAlpaca()
    try:
        o = fake.place("qs-equity-e1-abc", "AAPL", "buy", 3)
        fake.advance()
        fake.hold("MSFT", 2, 400.0)
        assert Order(**fake.order_json(o)).status.value == "filled"
        assert TradeAccount(**json.loads(fake.route("GET", "/v2/account", "", {}, "", {
            "APCA-API-KEY-ID": fake.key, "APCA-API-SECRET-KEY": fake.secret})[2])).status.value == "ACTIVE"
        (pos,) = [p for p in json.loads(fake.route("GET", "/v2/positions", "", {}, "", {
            "APCA-API-KEY-ID": fake.key, "APCA-API-SECRET-KEY": fake.secret})[2]) if p["symbol"] == "MSFT"]
        assert Position(**pos).qty == "2"
    finally:
        fake.close()


def test_recorded_binance_shapes_parse_with_ccxt():
    from quantshift.venues.ccxt_client import make_exchange

    fake = FakeBinance()
    try:  # load_markets: GET /api/v3/exchangeInfo (spot only), served from the recording
        ex = make_exchange("binance", paper=False, base_url=fake.url)
        ex.load_markets()
        assert [(m, p) for m, p, _q in fake.requests] == [("GET", "/api/v3/exchangeInfo")]
    finally:
        fake.close()
    assert ex.markets["BTC/USDT"]["limits"]["amount"]["min"] == 1e-05
    full = ex.parse_order(recorded("binance", "order_full"), ex.markets["BTC/USDT"])
    assert (full["status"], full["filled"], full["average"]) == ("closed", 0.015, 68250.0)
    assert full["clientOrderId"].startswith("qs-crypto-e1-") and full["fee"]["currency"] == "BTC"
    q = ex.parse_order(recorded("binance", "order_query"), ex.markets["BTC/USDT"])
    assert q["status"] == "closed" and q["id"] == "28457394110"
    # The cancel answer's clientOrderId is the cancel request's own: the order is looked up afterwards.
    c = ex.parse_order(recorded("binance", "order_cancel"), ex.markets["BTC/USDT"])
    assert (c["status"], c["filled"], c["id"]) == ("canceled", 0.0075, "28457394110")
    bal = ex.parse_balance_custom(recorded("binance", "account"), "spot")
    assert bal["USDT"]["free"] == 100000.0
    (c,) = [ex.parse_ohlcv(k) for k in recorded("binance", "klines")[:1]]
    assert c[0] == 1709562600000 and c[4] == 68250.0


# ------------------------------------------------ fenced-order detection --
# A broker cannot check our fencing token: an old primary frozen between its last
# lease check and its HTTP send places the order after the takeover. The new
# holder finds it among the venue's recent orders (RemoteBroker.detect_fenced).

@pytest.fixture(params=["alpaca", "ccxt", "kraken"])
def fenced_venue(request, broker_db):
    h = Harness(request.param, broker_db)
    h.broker.reconcile()
    yield h
    h.close()


def _venue_positions(h) -> dict[str, float]:
    if h.kind == "alpaca":
        return {s: qty for s, (qty, _avg) in h.fake.positions.items() if qty > 1e-12}
    return {s: h.fake.balances[s.split("/")[0]] for s in (h.sym, h.sym2) if h.fake.balances.get(s.split("/")[0])}


def _stored_positions(h) -> dict[str, float]:
    from quantshift.store import positions

    with h.db.transaction() as cur:
        return {s: p.qty for s, p in positions.for_account(cur, h.account_name).items()}


def _fenced_rows(h) -> list[tuple]:
    with h.db.transaction() as cur:
        cur.execute("""SELECT client_order_id, order_epoch, holder_epoch, symbol, side, filled_qty::float8,
                              avg_price::float8, executed_at, detail FROM fenced_orders WHERE account = %s""",
                    (h.account_name,))
        return cur.fetchall()


def _list_call(h) -> tuple[str, str]:
    """The request that lists the account's recent orders (kraken: its closed ones)."""
    return {"alpaca": ("GET", "/v2/orders"), "ccxt": ("GET", "/api/v3/allOrders"),
            "kraken": ("POST", "/0/private/ClosedOrders")}[h.kind]


def test_an_old_epochs_order_executed_after_the_takeover_is_detected_once_and_adopted(fenced_venue):
    h = fenced_venue
    # The old primary (ct100, epoch 1) stores its order PENDING, then freezes before sending.
    req = h.pending("buy")
    lease = take_over(h.db, h.account_name)  # ct101 holds epoch 2 now
    assert lease.epoch == 2
    time.sleep(0.01)  # the venue's millisecond clock is past epoch_since
    # The old primary thaws and sends: the venue has no idea about epochs.
    h.fake.place(req.client_order_id, h.sym, "buy", req.qty)

    found = h.broker.detect_fenced(2)

    (f,) = found
    assert (f.client_order_id, f.order_epoch, f.holder_epoch, f.symbol, f.side) == \
        (req.client_order_id, 1, 2, h.sym, "buy")
    assert f.filled_qty == pytest.approx(h.qty) and f.avg_price == pytest.approx(h.price, rel=1e-3)
    assert f.executed_at is not None and f.executed_at.tzinfo is not None and f.executed_at >= lease.epoch_since
    # Recorded once, under the holder's fence.
    (row,) = _fenced_rows(h)
    assert row[:5] == (req.client_order_id, 1, 2, h.sym, "buy") and row[5] == pytest.approx(h.qty)
    assert row[7] == f.executed_at and "ct101" in row[8]
    # The old primary's ledger row now says what the venue did; its fill is booked once.
    o = h.order(req.client_order_id)
    assert o.status == "FILLED" and o.filled_qty == pytest.approx(h.qty) and o.broker_order_id
    assert sum(x.qty for x in h.fills(req.client_order_id)) == pytest.approx(h.qty)
    # Exactly once: the next cycle reports nothing new, and sync books nothing twice.
    assert h.broker.detect_fenced(2) == []
    assert h.broker.sync() == []
    assert len(_fenced_rows(h)) == 1 and len(h.fills(req.client_order_id)) == 1
    # The position is adopted from the venue by the account() the bot calls next.
    acct = h.broker.account()
    venue = _venue_positions(h)
    assert venue and set(venue) == {h.sym} and venue[h.sym] == pytest.approx(h.qty, rel=0.002)
    assert _stored_positions(h) == pytest.approx(venue)
    assert {s: p.qty for s, p in acct.positions.items()} == pytest.approx(venue)
    assert h.posts() == 0  # detection only reads


def test_only_old_epoch_orders_of_this_account_executed_after_the_takeover_are_fenced(fenced_venue):
    from quantshift.brokers.base import make_client_order_id

    h, acct, n = fenced_venue, fenced_venue.account_name, fenced_venue.broker.coid_max_len
    coid = lambda name, epoch: make_client_order_id(name, epoch, max_len=n)  # noqa: E731
    # Executed by the old primary while it still held the lease.
    before = h.fake.place(coid(acct, 1), h.sym, "buy", h.qty)
    h.fake.advance()
    assert before["status"] == h.fake.FILLED
    lease = take_over(h.db, h.account_name)
    time.sleep(0.01)
    with h.fake.lock:  # ... two minutes before the takeover: inside the lookback, before epoch_since
        before["created"] = before["updated"] = lease.epoch_since.timestamp() - 120
    fenced = h.fake.place(coid(acct, 1), h.sym2, "buy", h.qty)
    h.fake.place(coid(acct, 2), h.sym, "buy", h.qty)          # the current holder's own order
    h.fake.place(coid("other", 1), h.sym, "buy", h.qty)       # another bot on the same venue account
    h.fake.place("web-7f3a9c", h.sym, "buy", h.qty)           # placed by hand on the website
    h.fake.place("x-0a1b2c3d4e5f60718293", h.sym, "buy", h.qty)  # another program's id
    h.fake.place(coid(acct, 1), h.sym2, "buy", h.qty, order_type="limit", limit_price=1.0,
                 plan="hold")                                  # old epoch, sent late, never executed
    # A process that is not the current epoch (a stale primary) reports nothing and asks nothing.
    asked = len(h.fake.requests)
    assert h.broker.detect_fenced(1) == [] and h.broker.detect_fenced(3) == []
    assert len(h.fake.requests) == asked

    found = h.broker.detect_fenced(2)

    assert [f.client_order_id for f in found] == [fenced["coid"]]
    assert [r[0] for r in _fenced_rows(h)] == [fenced["coid"]]
    # Each of the others was listed and executed: left out for its id, epoch or time, not by chance.
    assert sorted(o["status"] for o in h.fake.orders) == sorted([h.fake.NEW] + [h.fake.FILLED] * 6)
    assert h.broker.detect_fenced(2) == []
    with h.db.transaction() as cur:
        from quantshift.store import orders

        # Orders the bot never stored are not adopted into the ledger.
        assert orders.get(cur, fenced["coid"]) is None and orders.get(cur, "web-7f3a9c") is None
    # Every venue fill is in the mirrored positions, whoever made it.
    h.broker.account()
    assert _stored_positions(h) == pytest.approx(_venue_positions(h))


def test_the_venue_listing_backs_off_and_is_counted(fenced_venue):
    h = fenced_venue
    req = h.pending("buy")
    take_over(h.db, h.account_name)
    time.sleep(0.01)
    h.fake.place(req.client_order_id, h.sym, "buy", req.qty)
    h.fake.fault(*_list_call(h), "service_unavailable")
    (f,) = h.broker.detect_fenced(2)
    assert f.client_order_id == req.client_order_id and h.errors("broker") == 1


def test_the_venue_listing_failing_for_good_raises_and_records_nothing(fenced_venue):
    from quantshift.brokers import BrokerUnavailable

    h = fenced_venue
    req = h.pending("buy")
    take_over(h.db, h.account_name)
    time.sleep(0.01)
    h.fake.place(req.client_order_id, h.sym, "buy", req.qty)
    h.fake.fault(*_list_call(h), "service_unavailable", times=h.policy.attempts)
    with pytest.raises(BrokerUnavailable):
        h.broker.detect_fenced(2)
    assert _fenced_rows(h) == []
    (f,) = h.broker.detect_fenced(2)  # the next cycle finds it
    assert f.client_order_id == req.client_order_id


def test_a_holder_that_lost_its_lease_cannot_record_a_fenced_order(fenced_venue):
    from quantshift.store import leader_lease
    from quantshift.store.fencing import Fenced

    h = fenced_venue
    req = h.pending("buy")
    take_over(h.db, h.account_name)
    time.sleep(0.01)
    h.fake.place(req.client_order_id, h.sym, "buy", req.qty)
    # The row says epoch 2, but the lease ran out (nobody renewed it): writes are refused.
    with h.db.transaction() as cur:
        cur.execute("UPDATE leader SET lease_expires_at = now() WHERE account = %s", (h.account_name,))
    with pytest.raises(Fenced):
        h.broker.detect_fenced(2)
    assert _fenced_rows(h) == []
    with h.db.transaction() as cur:
        assert leader_lease.renew(cur, h.account_name, "ct101", 2, 3600.0) is not None
    assert [f.client_order_id for f in h.broker.detect_fenced(2)] == [req.client_order_id]


def test_binance_order_history_is_read_per_symbol_within_its_24_hour_window(broker_db):
    import datetime as dt_

    h = Harness("ccxt", broker_db)
    try:
        h.broker.detect_fenced(1)  # epoch 1, held since just now: one request per symbol, from since
        reqs = [q for m, p, q in h.fake.requests if p == "/api/v3/allOrders"]
        assert sorted(q["symbol"] for q in reqs) == ["BTCUSDT", "ETHUSDT"]
        assert all("startTime" in q and q["limit"] == "1000" for q in reqs)
        # An epoch older than a day: the newest orders instead of a startTime Binance would refuse.
        h.fake.requests.clear()
        old = dt_.datetime.now(dt_.timezone.utc) - dt_.timedelta(days=3)
        assert h.broker._read("recent orders", h.broker._venue_recent_orders, old) == []
        reqs = [q for m, p, q in h.fake.requests if p == "/api/v3/allOrders"]
        assert len(reqs) == 2 and not any("startTime" in q for q in reqs)
    finally:
        h.close()


def test_alpaca_recent_orders_are_asked_for_all_statuses_after_the_lookback_start(broker_db):
    h = Harness("alpaca", broker_db)
    try:
        h.broker.detect_fenced(1)
        (q,) = [q for m, p, q in h.fake.requests if p == "/v2/orders" and m == "GET"]
        assert q["status"] == "all" and q["limit"] == "500" and q["direction"] == "desc"
        with broker_db.transaction() as cur:
            from quantshift.store import leader_lease

            since = leader_lease.current(cur, "equity").epoch_since
        assert _unix(q["after"]) == pytest.approx(since.timestamp() - 900, abs=1e-3)
    finally:
        h.close()
