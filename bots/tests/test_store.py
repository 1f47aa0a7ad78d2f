"""Store against a real PostgreSQL: migrations, the leader lease, orders, positions, events."""
from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from quantshift.store import Database, DatabaseUnavailable, cash, daily_pnl, failover_events, fills, heartbeat, leader_lease, migrate
from quantshift.store import orders, positions
from quantshift.store.migrations import applied, available

from .helpers import hold


def test_migrations_apply_once_in_order_and_are_idempotent(pg_dsn):
    d = Database(pg_dsn)
    versions = [v for v, _, _ in available()]
    assert versions == sorted(versions) and versions[0] == 1
    assert migrate(d) == versions
    assert migrate(d) == []
    assert applied(d) == versions
    with d.transaction() as cur:
        for table in ("leader", "bot_status", "orders", "fills", "positions", "cash", "daily_pnl", "failover_events"):
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            assert cur.fetchone()[0], table
    d.close()


def test_concurrent_migrations_do_not_race(pg_dsn):
    errors, results = [], []

    def run():
        d = Database(pg_dsn)
        try:
            results.append(migrate(d))
        except Exception as e:  # pragma: no cover - the failure we guard against
            errors.append(e)
        finally:
            d.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, len(available())]


def test_unreachable_database_raises_database_unavailable_quickly():
    from quantshift.store import DatabaseUnavailable
    from .conftest import free_port

    d = Database(f"host=127.0.0.1 port={free_port()} dbname=x user=x", connect_timeout=2)
    t = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        with d.transaction():
            pass
    assert time.monotonic() - t < 3


# ------------------------------------------------------------------ lease --

def test_lease_init_inserts_epoch_1_and_never_changes_an_existing_row(db):
    lease = leader_lease.LeaderLease(db)
    created, l1 = lease.init("equity", "ct100", 60)
    assert created and (l1.holder, l1.epoch) == ("ct100", 1) and 55 < l1.remaining_seconds <= 60
    created, l2 = lease.init("equity", "ct101", 60)
    assert not created and (l2.holder, l2.epoch) == ("ct100", 1)
    assert lease.current("crypto") is None


def test_renew_succeeds_only_for_the_same_holder_and_epoch(db):
    lease = leader_lease.LeaderLease(db)
    lease.init("equity", "ct100", 1)
    r = lease.renew("equity", "ct100", 1, 30)
    assert r is not None and 25 < r.remaining_seconds <= 30
    assert lease.renew("equity", "ct101", 1, 30) is None
    assert lease.renew("equity", "ct100", 2, 30) is None
    assert lease.renew("crypto", "ct100", 1, 30) is None


def test_takeover_is_refused_while_the_lease_is_valid(db):
    lease = leader_lease.LeaderLease(db)
    lease.init("equity", "ct100", 60)
    assert lease.take_over_if_expired("equity", "ct101", 60) is None
    assert lease.current("equity").holder == "ct100"


def test_old_primary_stands_down_after_epoch_change(db):
    lease = leader_lease.LeaderLease(db)
    lease.init("equity", "ct100", 0.2)
    time.sleep(0.3)
    assert lease.current("equity").expired
    new = lease.take_over_if_expired("equity", "ct101", 60)
    assert (new.holder, new.epoch) == ("ct101", 2) and not new.expired
    # the returning old primary cannot renew its old epoch, nor take the fresh lease
    assert lease.renew("equity", "ct100", 1, 60) is None
    assert lease.take_over_if_expired("equity", "ct100", 60) is None
    with db.transaction() as cur:
        ev = failover_events.recent(cur, "equity")
    assert [e.event for e in ev][:2] == ["lease_takeover", "lease_init"]
    assert (ev[0].from_holder, ev[0].to_holder, ev[0].epoch) == ("ct100", "ct101", 2)


def test_only_one_of_two_simultaneous_takeovers_wins(pg_dsn, db):
    leader_lease.LeaderLease(db).init("equity", "ct100", 0.1)
    time.sleep(0.2)
    winners = []

    def take(holder):
        d = Database(pg_dsn)
        r = leader_lease.LeaderLease(d).take_over_if_expired("equity", holder, 60)
        if r is not None:
            winners.append(r)
        d.close()

    ts = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(winners) == 1 and winners[0].epoch == 2


def test_hand_over_only_from_the_current_holder_and_bumps_epoch(db):
    lease = leader_lease.LeaderLease(db)
    lease.init("equity", "ct100", 60)
    assert lease.hand_over("equity", "ct101", "ct100", 60) is None
    h = lease.hand_over("equity", "ct100", "ct101", 60)
    assert (h.holder, h.epoch) == ("ct101", 2)
    back = lease.hand_over("equity", "ct101", "ct100", 60)
    assert (back.holder, back.epoch) == ("ct100", 3)


def test_lease_times_come_from_the_database_clock(db):
    lease = leader_lease.LeaderLease(db)
    _, l = lease.init("equity", "ct100", 60)
    with db.transaction() as cur:
        cur.execute("SELECT EXTRACT(EPOCH FROM (lease_expires_at - updated_at)) FROM leader")
        assert float(cur.fetchone()[0]) == pytest.approx(60.0)


# ---------------------------------------------------------------- tables --

def test_client_order_id_is_unique(db):
    hold(db)
    kw = dict(account="equity", host_id="ct100", epoch=1, symbol="AAPL", side="buy", qty=3)
    with db.transaction() as cur:
        orders.create_pending(cur, client_order_id="qs-equity-e1-x", **kw)
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with db.transaction() as cur:
            orders.create_pending(cur, client_order_id="qs-equity-e1-x", **kw)
    with db.transaction() as cur:
        o = orders.get(cur, "qs-equity-e1-x")
        assert o.status == "PENDING" and o.qty == 3
        assert [x.client_order_id for x in orders.open_orders(cur, "equity")] == ["qs-equity-e1-x"]


def test_positions_average_in_and_delete_when_flat(db):
    hold(db)
    with db.transaction() as cur:
        positions.apply_fill(cur, "equity", "AAPL", "buy", 10, 100.0)
        p = positions.apply_fill(cur, "equity", "AAPL", "buy", 10, 110.0)
        assert (p.qty, p.avg_price) == (20, 105.0)
        p = positions.apply_fill(cur, "equity", "AAPL", "sell", 5, 120.0)
        assert (p.qty, p.avg_price) == (15, 105.0)
        with pytest.raises(ValueError, match="exceeds position"):
            positions.apply_fill(cur, "equity", "AAPL", "sell", 16, 120.0)
    with db.transaction() as cur:
        assert positions.apply_fill(cur, "equity", "AAPL", "sell", 15, 120.0) is None
        assert positions.for_account(cur, "equity") == {}


def test_heartbeat_counts_starts_and_records_db_time(db):
    with db.transaction() as cur:
        assert heartbeat.register_start(cur, "equity", "ct100", 1, "x") == 1
        assert heartbeat.register_start(cur, "equity", "ct100", 2, "x") == 2
        assert heartbeat.register_start(cur, "equity", "ct101", 3, "x") == 1
        heartbeat.beat(cur, "equity", "ct100", "PRIMARY", epoch=1, is_primary=True, detail="ok")
    with db.transaction() as cur:
        rows = heartbeat.for_account(cur, "equity")
    assert [(r.host_id, r.status, r.starts) for r in rows] == [("ct100", "PRIMARY", 2), ("ct101", "STARTING", 1)]
    assert rows[0].age_seconds < 5


def test_cash_and_daily_pnl_keep_start_of_day_value(db):
    hold(db)
    with db.transaction() as cur:
        assert cash.ensure(cur, "equity", 1000) == 1000
        assert cash.ensure(cur, "equity", 5) == 1000
        assert cash.add(cur, "equity", -250.5) == 749.5
        d1 = daily_pnl.update(cur, "equity", 1000)
        d2 = daily_pnl.update(cur, "equity", 900)
        assert (d2.start_value, d2.last_value, d2.pnl) == (1000, 900, -100) and d1.day == d2.day
        daily_pnl.set_limit_hit(cur, "equity", d2.day)
        assert daily_pnl.update(cur, "equity", 950).limit_hit


def test_fill_requires_a_stored_order(db):
    hold(db)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        with db.transaction() as cur:
            fills.insert(cur, client_order_id="nope", account="equity", symbol="A", side="buy", qty=1, price=1,
                         fee=0)


def test_a_query_to_a_frozen_server_is_cut_from_the_client_side(pg_server):
    """A paused database host keeps TCP established and ACKs: neither the
    server's statement_timeout nor keepalives can end the wait. The client's
    own guard does, just after statement_timeout."""
    import socket as socketlib

    listener = socketlib.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    # A proxy that forwards the handshake, then stops answering (the "pause").
    frozen = threading.Event()

    def proxy():
        client, _ = listener.accept()
        upstream = socketlib.create_connection((pg_server["host"], pg_server["port"]))
        client.settimeout(0.05)
        upstream.settimeout(0.05)
        while True:
            for a, b in ((client, upstream), (upstream, client)):
                if frozen.is_set() and a is client:
                    continue  # swallow the client's query: the server never sees it
                try:
                    data = a.recv(65536)
                except socketlib.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                b.sendall(data)

    threading.Thread(target=proxy, daemon=True).start()
    d = Database(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", statement_timeout_ms=500)
    with d.transaction() as cur:
        cur.execute("SELECT 1")
    frozen.set()
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        with d.transaction() as cur:
            cur.execute("SELECT 1")
    assert time.monotonic() - t0 < 0.5 + 2.0 + 1.0
    listener.close()
