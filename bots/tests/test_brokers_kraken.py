"""Kraken specifics (ccxt kraken on the loopback fake in fake_kraken.py): our id
as cl_ord_id, the lookup as Kraken's server-side cl_ord_id filter, the signed
and nonce-checked private calls, the recorded shapes in ccxt's parsers, and
candles. The promises every venue keeps are in test_brokers_conformance.py."""
from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from quantshift.marketdata import CcxtSource
from quantshift.venues.ccxt_client import make_exchange

from .fake_kraken import FakeKraken
from .fake_venues import recorded
from .test_brokers_fake_venues import Harness, _broker_database, broker_db, take_over  # noqa: F401


@pytest.fixture
def venue(broker_db):
    h = Harness("kraken", broker_db)
    h.broker.reconcile()
    yield h
    h.close()


def _bodies(fake, path):
    return [{k: v[-1] for k, v in parse_qs(q.get("_body", "")).items()} for m, p, q in fake.requests
            if m == "POST" and p == path]


def test_recorded_kraken_shapes_parse_with_ccxt():
    fake = FakeKraken()
    try:  # load_markets: Assets + AssetPairs, served from the recordings
        ex = make_exchange("kraken", paper=False, base_url=fake.url)
        ex.load_markets()
        assert sorted(p for _m, p, _q in fake.requests) == ["/0/public/AssetPairs", "/0/public/Assets"]
    finally:
        fake.close()
    btc = ex.markets["BTC/USD"]
    assert (btc["id"], btc["limits"]["amount"]["min"], btc["precision"]["amount"]) == ("XXBTZUSD", 5e-05, 1e-08)
    o = ex.parse_order(recorded("kraken", "order"))
    assert (o["symbol"], o["status"], o["filled"], o["average"], o["clientOrderId"]) == (
        "BTC/USD", "closed", 0.015, 68250.0, "crypto-e1-3f9a2c7b")
    # fciq: the fee in the quote currency; ccxt leaves its cost a string here (the adapter converts)
    assert o["fee"]["currency"] == "USD" and float(o["fee"]["cost"]) == pytest.approx(4.095)
    added = ex.parse_order(recorded("kraken", "addOrder")["result"])
    assert (added["id"], added["status"], added["filled"]) == ("OUF4EM-FRGI2-MQMWZD", None, None)  # no fill yet
    (txid, row), = recorded("kraken", "openOrders")["result"]["open"].items()
    partial = ex.parse_order({"id": txid, **row})
    assert (partial["status"], partial["filled"], partial["clientOrderId"]) == ("open", 0.0075, "crypto-e1-8d41e0aa")
    bal = ex.parse_balance(recorded("kraken", "balanceEx"))
    assert bal["USD"]["free"] == 100000.0 and bal["BTC"]["total"] == 0.0
    (c,) = [ex.parse_ohlcv(r) for r in recorded("kraken", "ohlc")["result"]["XXBTZUSD"][:1]]
    assert c == [1709562600000, 68240.1, 68262.0, 68231.5, 68250.0, 1.8421]  # volume is column 6, not vwap


def test_order_goes_out_signed_with_our_id_as_cl_ord_id(venue):
    req = venue.pending("buy")
    assert venue.broker.submit(req).status == "FILLED"
    (add,) = _bodies(venue.fake, "/0/private/AddOrder")
    assert add["cl_ord_id"] == req.client_order_id and len(req.client_order_id) <= 18
    assert (add["pair"], add["type"], add["ordertype"], add["volume"]) == ("XXBTZUSD", "buy", "market", "0.015")
    assert int(add["nonce"]) > 0  # the fake checked API-Key, API-Sign and the nonce


def test_a_wrong_key_or_secret_is_refused_by_the_fake():
    fake = FakeKraken()
    try:
        for key, secret in ((fake.key, "c2VjcmV0LW5vdC10aGUtb25l"), ("AnotherKey", fake.secret)):
            ex = make_exchange("kraken", api_key=key, api_secret=secret, paper=False, base_url=fake.url)
            ex.rateLimit = 1
            with pytest.raises(Exception, match="EAPI:Invalid (signature|key)"):
                ex.fetch_balance()
    finally:
        fake.close()


def test_the_lookup_is_kraken_filtering_by_cl_ord_id_not_a_scan_of_recent_orders(venue):
    ours = venue.pending("buy")
    venue.fake.place(ours.client_order_id, venue.sym, "buy", ours.qty)
    venue.fake.advance()
    # 120 newer closed orders of other programs: a scan of the newest 100 would miss ours.
    for i in range(120):
        venue.fake.place(f"other-{i}", venue.sym2, "buy", 0.01)
    venue.fake.advance()
    venue.fake.requests.clear()

    found = venue.broker.lookup(ours.client_order_id)

    assert found.status == "FILLED" and found.filled_qty == pytest.approx(venue.qty)
    asked = [(p, b.get("cl_ord_id")) for p in ("/0/private/OpenOrders", "/0/private/ClosedOrders")
             for b in _bodies(venue.fake, p)]
    assert asked == [("/0/private/OpenOrders", ours.client_order_id),
                     ("/0/private/ClosedOrders", ours.client_order_id)]


def test_a_refused_nonce_is_not_processed_so_the_order_is_looked_up_then_sent_once(venue):
    venue.fake.fault("POST", "/0/private/AddOrder", "invalid_nonce")
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED" and venue.posts() == 2 and len(venue.venue_orders()) == 1
    assert venue.errors("broker") == 1


def test_the_fake_refuses_a_nonce_that_is_not_larger_than_the_last():
    import requests

    fake = FakeKraken()
    try:
        ex = make_exchange("kraken", api_key=fake.key, api_secret=fake.secret, paper=False, base_url=fake.url)
        signed = ex.sign("BalanceEx", ["private"], "POST", {})
        first = requests.post(signed["url"], data=signed["body"], headers=signed["headers"], timeout=5).json()
        again = requests.post(signed["url"], data=signed["body"], headers=signed["headers"], timeout=5).json()
        assert first["error"] == [] and again == {"error": ["EAPI:Invalid nonce"]}
    finally:
        fake.close()


def test_an_internal_error_after_the_order_was_placed_is_resolved_by_lookup(venue):
    venue.fake.fault("POST", "/0/private/AddOrder", "internal_error", process=True)
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED" and venue.posts() == 1 and len(venue.venue_orders()) == 1
    assert "EGeneral:Internal error" in venue.order(req.client_order_id).error


def test_insufficient_funds_is_a_rejection_with_nothing_placed(venue):
    req = venue.pending("buy", 10.0)  # 10 BTC on 100 000 USD
    res = venue.broker.submit(req)
    assert res.status == "REJECTED" and "EOrder:Insufficient funds" in res.error
    assert venue.fake.venue_orders() == [] and venue.posts() == 1


def test_candles_are_fetched_per_symbol_from_the_newest_held_without_the_forming_one():
    fake = FakeKraken()
    try:
        src = CcxtSource(["BTC/USD", "ETH/USD"], 60, exchange="kraken", paper=False, base_url=fake.url)
        src.exchange.rateLimit = 1  # spacing only (1.2 s per OHLC request on kraken)
        assert src.max_limit == 720
        end = src.latest_bar_ts(time.time())
        bars = src.fetch(["BTC/USD", "ETH/USD"], end, 30)
        ohlc = [q for _m, p, q in fake.requests if p == "/0/public/OHLC"]
        assert [q["pair"] for q in ohlc] == ["XXBTZUSD", "XETHZUSD"] and ohlc[0]["interval"] == "1"
        assert int(ohlc[0]["since"]) == end - 29 * 60 - 60  # ccxt asks from one candle before
        assert len(bars) == 30 and int(bars.ts[-1]) == end  # the fake also served the forming candle
    finally:
        fake.close()


def test_a_market_order_is_looked_at_again_because_addorder_reports_no_fill(venue):
    req = venue.pending("buy")
    res = venue.broker.submit(req)
    assert res.status == "FILLED"
    paths = [p for m, p, _q in venue.fake.requests if m == "POST"]
    assert paths.index("/0/private/AddOrder") < paths.index("/0/private/ClosedOrders")


def test_an_order_canceled_at_kraken_is_canceled_in_the_store(venue):
    req = venue.pending("buy", order_type="limit", limit_price=60000.0)
    venue.fake.place(req.client_order_id, venue.sym, "buy", req.qty, order_type="limit", limit_price=60000.0,
                     plan="hold")
    venue.fake.cancel_order(req.client_order_id)  # by hand on the website
    res = venue.broker.lookup(req.client_order_id)
    assert res.status == "CANCELED" and res.error == "kraken status canceled"
    assert venue.order(req.client_order_id).status == "CANCELED"


def test_cancelling_an_unknown_order_is_krakens_unknown_order():
    import ccxt

    fake = FakeKraken()
    try:
        ex = make_exchange("kraken", api_key=fake.key, api_secret=fake.secret, paper=False, base_url=fake.url)
        ex.rateLimit = 1
        with pytest.raises(ccxt.InvalidOrder, match="EOrder:Unknown order"):
            ex.cancel_order("OXXXXX-NOPE0-NOPE00")
    finally:
        fake.close()


def test_fenced_detection_reads_every_page_of_krakens_closed_orders(venue):
    req = venue.pending("buy")
    take_over(venue.db, venue.account_name)
    time.sleep(0.01)
    venue.fake.place(req.client_order_id, venue.sym, "buy", req.qty)  # the old primary's late order
    venue.fake.advance()
    for i in range(60):  # then 60 orders of another program close after it: ours is on page 2
        venue.fake.place(f"other-{i}", venue.sym2, "buy", 0.01)
    venue.fake.advance()
    venue.fake.requests.clear()

    (f,) = venue.broker.detect_fenced(2)

    assert f.client_order_id == req.client_order_id and f.filled_qty == pytest.approx(venue.qty)
    assert [b["ofs"] for b in _bodies(venue.fake, "/0/private/ClosedOrders")] == ["0", "50"]
