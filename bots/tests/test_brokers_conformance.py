"""One conformance suite for every broker: alpaca (alpaca-py -> loopback fake of
Alpaca v2), ccxt (ccxt binance -> loopback fake of Binance spot), kraken (ccxt
kraken -> loopback fake of Kraken spot) and sim.

Each test is a promise the bot relies on. Transport faults (429, 504, timeout,
outage) and reconciliation against a venue need a venue: those run for every
kind but sim. Every order is stored PENDING first, as the bot does.
"""
from __future__ import annotations

import pytest

from quantshift.brokers import BrokerUnavailable
from quantshift.store import orders, positions

from .test_brokers_fake_venues import Harness, _broker_database, broker_db, needs_transport  # noqa: F401

KINDS = ["alpaca", "ccxt", "kraken", "sim"]


def pytest_generate_tests(metafunc):
    # Transport faults and reconciliation need a venue: those promises are made by
    # the venues only (the sim broker has no transport to fail).
    if "venue" in metafunc.fixturenames:
        kinds = [k for k in KINDS if not (k == "sim" and getattr(metafunc.function, "needs_transport", False))]
        metafunc.parametrize("venue", kinds, indirect=True)


@pytest.fixture
def venue(request):
    h = Harness(request.param, request.getfixturevalue("broker_db"))
    h.broker.reconcile()
    yield h
    h.close()


# ------------------------------------------------------------ normal life --

def test_market_buy_fills_and_the_fill_is_booked_exactly_once(venue):
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED" and res.filled_qty == pytest.approx(venue.qty)
    assert res.avg_price == pytest.approx(venue.price, rel=0.01)
    o = venue.order(req.client_order_id)
    assert o.status == "FILLED" and o.filled_qty == pytest.approx(venue.qty) and o.broker_order_id
    assert sum(f.qty for f in venue.fills(req.client_order_id)) == pytest.approx(venue.qty)
    acct = venue.broker.account()
    assert acct.positions[venue.sym].qty == pytest.approx(venue.qty, rel=0.002)  # binance: fee in the bought asset
    assert acct.cash == pytest.approx(100_000 - venue.qty * venue.price, rel=1e-3)
    # Looking at a settled order again books nothing new.
    assert venue.broker.lookup(req.client_order_id).status == "FILLED"
    assert venue.broker.sync() == []
    assert len(venue.fills(req.client_order_id)) == 1 and len(venue.venue_orders()) == 1


def test_sell_closes_the_position(venue):
    venue.hold(venue.sym, venue.qty, venue.price * 0.9)
    venue.broker.account()
    req = venue.pending("sell")
    res = venue.broker.submit(req)
    assert res.status == "FILLED"
    assert venue.sym not in venue.broker.account().positions


def test_order_beyond_buying_power_is_rejected_and_recorded(venue):
    req = venue.pending("buy", venue.too_big)
    res = venue.broker.submit(req)
    assert res.status == "REJECTED" and res.error
    o = venue.order(req.client_order_id)
    assert o.status == "REJECTED" and o.error and o.filled_qty == 0
    assert venue.venue_orders(req.client_order_id) == []
    assert venue.broker.account().positions == {}


def test_client_order_id_carries_bot_name_and_epoch_and_fits_the_venue(venue):
    coid = venue.broker.new_client_order_id(venue.account_name, 7)
    assert venue.account_name in coid and "-e7-" in coid
    assert len(coid) <= getattr(venue.broker, "coid_max_len", 64)
    req = venue.pending("buy", coid=coid)
    assert venue.broker.submit(req).status == "FILLED"
    if venue.fake is not None:
        assert [o["coid"] for o in venue.venue_orders()] == [coid]


def test_lookup_of_an_id_the_venue_never_saw_is_none(venue):
    req = venue.pending("buy")
    assert venue.broker.lookup(req.client_order_id) is None


# ------------------------------------------------------- partial fills --

@needs_transport
def test_partial_fills_are_booked_as_deltas_of_the_cumulative_fill(venue):
    venue.fake.plan = "partial"
    req = venue.pending("buy", order_type="limit", limit_price=round(venue.price, 2))
    res = venue.broker.submit(req)
    assert res.status == "ACCEPTED"  # a limit order is left open
    (first,) = venue.broker.sync()
    assert first.status == "PARTIALLY_FILLED" and first.filled_qty == pytest.approx(venue.qty / 2)
    (second,) = venue.broker.sync()
    assert second.status == "FILLED" and second.filled_qty == pytest.approx(venue.qty)
    f = venue.fills(req.client_order_id)
    assert [x.qty for x in f] == pytest.approx([venue.qty / 2, venue.qty / 2])
    assert [x.price for x in f] == pytest.approx([venue.price, venue.price * 1.01], rel=1e-4)
    assert second.avg_price == pytest.approx(venue.price * 1.005, rel=1e-4)
    assert venue.posts() == 1 and venue.broker.sync() == []


# -------------------------------------------------- rate limit, outages --

@needs_transport
def test_429_on_submit_backs_off_looks_up_then_sends_and_ends_with_one_order(venue):
    venue.fake.fault("POST", venue.order_path, "rate_limited")
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED"
    assert venue.posts() == 2 and len(venue.venue_orders()) == 1
    assert venue.errors("broker") == 1 and venue.latency_count() >= 3


@needs_transport
def test_504_on_submit_when_the_venue_accepted_ends_with_exactly_one_order_filled(venue):
    venue.fake.fault("POST", venue.order_path, "gateway_timeout", process=True)
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert venue.posts() == 1, "the order was sent again"
    assert len(venue.venue_orders()) == 1
    assert res.status == "FILLED"
    o = venue.order(req.client_order_id)
    assert o.status == "FILLED" and o.filled_qty == pytest.approx(venue.qty)
    assert "504" in o.error or "Timeout" in o.error  # the history stays readable
    assert len(venue.fills(req.client_order_id)) == 1
    assert venue.errors("broker") >= 1


@needs_transport
def test_timeout_on_submit_when_the_venue_accepted_is_resolved_by_lookup_not_resent(venue):
    venue.fake.fault("POST", venue.order_path, process=True, delay=0.8)  # client timeout is 0.5 s
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED" and venue.posts() == 1 and len(venue.venue_orders()) == 1


@needs_transport
def test_outage_after_submit_leaves_the_order_unknown_until_sync_finds_it(venue):
    f = venue.fake
    f.fault("POST", venue.order_path, "service_unavailable", process=True)
    f.fault(*venue.lookup_call, "service_unavailable", times=venue.policy.attempts)
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "UNKNOWN" and venue.order(req.client_order_id).status == "UNKNOWN"
    # The next cycle looks it up again (the venue is back): found, filled, never resent.
    (res,) = venue.broker.sync()
    assert res.status == "FILLED" and venue.posts() == 1 and len(venue.venue_orders()) == 1


@needs_transport
def test_order_the_venue_never_received_is_canceled_after_the_grace_period_not_resent(venue):
    venue.fake.fault("POST", venue.order_path, "service_unavailable")  # refused, nothing stored
    req = venue.pending("buy")
    assert venue.broker.submit(req).status == "UNKNOWN"
    assert venue.broker.sync() == []  # still inside the grace period: stays UNKNOWN
    venue.broker.unknown_grace_seconds = 0.0
    (res,) = venue.broker.sync()
    assert res.status == "CANCELED" and "never placed" in res.error
    assert venue.posts() == 1 and venue.venue_orders() == []


@needs_transport
def test_duplicate_client_order_id_is_looked_up_not_treated_as_a_rejection(venue):
    req = venue.pending("buy", order_type="limit", limit_price=round(venue.price * 0.9, 2))
    venue.fake.place(req.client_order_id, venue.sym, "buy", req.qty, order_type="limit",
                     limit_price=req.limit_price, plan="hold")  # sent before, the answer was lost
    res = venue.broker.submit(req)
    assert res.status == "ACCEPTED" and len(venue.venue_orders()) == 1


@needs_transport
def test_reads_back_off_on_transient_errors_and_count_them(venue):
    venue.fake.fault(*venue.account_call, "service_unavailable", times=2)
    assert venue.broker.account().cash == pytest.approx(100_000)
    assert venue.errors("broker") == 2


@needs_transport
def test_reads_give_up_with_broker_unavailable(venue):
    venue.fake.fault(*venue.account_call, "rate_limited", times=99)
    with pytest.raises(BrokerUnavailable):
        venue.broker.account()
    assert venue.errors("broker") == venue.policy.attempts


# ------------------------------------------------------- reconciliation --

@needs_transport
def test_reconcile_resolves_an_order_a_crashed_process_left_pending(venue):
    req = venue.pending("buy")  # stored, sent, then the process died before the answer
    venue.fake.place(req.client_order_id, venue.sym, "buy", req.qty)
    notes = venue.broker.reconcile()
    o = venue.order(req.client_order_id)
    assert o.status == "FILLED" and o.filled_qty == pytest.approx(venue.qty)
    assert any(req.client_order_id in n and "FILLED" in n for n in notes)
    assert venue.posts() == 0  # resolved by lookup, nothing sent
    with venue.db.transaction() as cur:
        assert positions.for_account(cur, venue.account_name)[venue.sym].qty == pytest.approx(venue.qty, rel=0.002)


@needs_transport
def test_reconcile_reports_orders_the_bot_never_made_and_does_not_adopt_them(venue):
    venue.fake.place("web-7f3a9c", venue.sym2, "buy", venue.qty, order_type="limit", limit_price=1.0, plan="hold")
    notes = venue.broker.reconcile()
    assert any("external order web-7f3a9c" in n and "not adopted" in n for n in notes)
    with venue.db.transaction() as cur:
        assert orders.get(cur, "web-7f3a9c") is None
        assert orders.open_orders(cur, venue.account_name) == []


@needs_transport
def test_reconcile_mirrors_venue_positions_into_the_store(venue):
    venue.hold(venue.sym2, venue.qty, 400.0)
    notes = venue.broker.reconcile()
    assert any(f"position {venue.sym2}: store 0" in n for n in notes)
    with venue.db.transaction() as cur:
        assert positions.for_account(cur, venue.account_name)[venue.sym2].qty == pytest.approx(venue.qty)


# ------------------------------------------------------ order lifecycle --
# An order the venue keeps open (queued outside the session, a limit away from
# the market, a thin book) must not stay open for ever: the bot sends no second
# order for a symbol while one is open (bot._execute), so it would block that
# symbol. sync() cancels it at the venue once it is older than
# order_max_age_seconds and resolves it by lookup.

def _cancel_requests(venue) -> int:
    if venue.kind == "kraken":
        return venue.fake.count("POST", "/0/private/CancelOrder")
    return venue.fake.count("DELETE", "/v2/orders/" if venue.kind == "alpaca" else venue.order_path)


def _symbol_blocked(venue, symbol: str) -> bool:
    with venue.db.transaction() as cur:  # the query bot._execute skips symbols by
        return symbol in {o.symbol for o in orders.open_orders(cur, venue.account_name)}


def _open_order(venue, plan: str):
    """hold: a market order the venue queues and never fills; partial: a limit
    order that fills half on the next look, the rest a look later."""
    venue.fake.plan = plan
    if plan == "hold":
        req = venue.pending("buy")
    else:
        req = venue.pending("buy", order_type="limit", limit_price=round(venue.price, 2))
    assert venue.broker.submit(req).status == "ACCEPTED"
    return req


@needs_transport
@pytest.mark.parametrize("plan", ["hold", "partial"])
def test_an_order_open_past_its_max_age_is_canceled_at_the_venue_and_frees_its_symbol(venue, plan):
    req = _open_order(venue, plan)
    assert _symbol_blocked(venue, venue.sym)
    venue.broker.order_max_age_seconds = 0.0
    filled = venue.qty / 2 if plan == "partial" else 0.0

    (res,) = venue.broker.sync()

    assert res.status == "CANCELED" and res.filled_qty == pytest.approx(filled)
    (at_venue,) = venue.venue_orders(req.client_order_id)
    assert at_venue["status"] == venue.fake.CANCELED and at_venue["filled"] == pytest.approx(filled)
    assert _cancel_requests(venue) == 1
    o = venue.order(req.client_order_id)
    assert o.status == "CANCELED" and o.filled_qty == pytest.approx(filled)
    assert sum(f.qty for f in venue.fills(req.client_order_id)) == pytest.approx(filled)
    # Booked exactly once: looking again books nothing and cancels nothing more.
    assert venue.broker.sync() == [] and venue.broker.lookup(req.client_order_id).status == "CANCELED"
    assert len(venue.fills(req.client_order_id)) == (1 if plan == "partial" else 0) and _cancel_requests(venue) == 1
    # The symbol is tradable again.
    assert not _symbol_blocked(venue, venue.sym)
    venue.fake.plan = "fill"
    assert venue.broker.submit(venue.pending("buy")).status == "FILLED"
    assert venue.posts() == 2


@needs_transport
def test_a_fill_that_races_the_cancel_is_booked_and_the_order_ends_filled(venue):
    req = _open_order(venue, "partial")
    # sync's lookup sees it half filled; the rest fills just before the DELETE
    # arrives, so the venue refuses the cancel.
    venue.fake.fill_on_cancel = True
    venue.broker.order_max_age_seconds = 0.0

    (res,) = venue.broker.sync()

    assert res.status == "FILLED" and res.filled_qty == pytest.approx(venue.qty)
    assert _cancel_requests(venue) == 1
    (at_venue,) = venue.venue_orders(req.client_order_id)
    fills = venue.fills(req.client_order_id)
    assert [f.qty for f in fills] == pytest.approx([venue.qty / 2, venue.qty / 2])
    assert sum(f.qty for f in fills) == pytest.approx(at_venue["filled"])
    assert venue.broker.sync() == [] and not _symbol_blocked(venue, venue.sym)


@needs_transport
def test_a_partial_fill_that_keeps_filling_inside_its_max_age_ends_filled(venue):
    req = _open_order(venue, "partial")
    statuses = [r.status for _ in range(3) for r in venue.broker.sync()]
    assert statuses == ["PARTIALLY_FILLED", "FILLED"]
    (at_venue,) = venue.venue_orders(req.client_order_id)
    assert at_venue["status"] == venue.fake.FILLED and _cancel_requests(venue) == 0
    assert sum(f.qty for f in venue.fills(req.client_order_id)) == pytest.approx(at_venue["filled"])
    assert venue.order(req.client_order_id).filled_qty == pytest.approx(at_venue["filled"])


@needs_transport
def test_an_aged_order_is_not_canceled_without_lease_left_to_send(venue):
    req = _open_order(venue, "hold")
    venue.broker.order_max_age_seconds = 0.0
    assert venue.broker.sync(may_send=lambda: False) == []
    assert _cancel_requests(venue) == 0 and venue.order(req.client_order_id).status == "ACCEPTED"
    assert [r.status for r in venue.broker.sync(may_send=lambda: True)] == ["CANCELED"]


@needs_transport
def test_cancel_asks_the_venue_then_resolves_the_order_by_lookup(venue):
    req = _open_order(venue, "hold")
    res = venue.broker.cancel(req.client_order_id)
    assert res.status == "CANCELED" and res.broker_order_id and _cancel_requests(venue) == 1
    assert venue.order(req.client_order_id).status == "CANCELED" and venue.posts() == 1


def test_cancel_of_an_order_already_final_answers_its_status_and_sends_nothing(venue):
    req = venue.pending("buy")
    assert venue.broker.submit(req).status == "FILLED"
    res = venue.broker.cancel(req.client_order_id)
    assert res.status == "FILLED" and res.filled_qty == pytest.approx(venue.qty)
    assert len(venue.fills(req.client_order_id)) == 1
    if venue.fake is not None:
        assert _cancel_requests(venue) == 0
