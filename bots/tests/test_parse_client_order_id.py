"""parse_client_order_id is the inverse of make_client_order_id in every shape
it makes (qs-<name>-e<epoch>-<hex>, <name>-e<epoch>-<hex>, shortened name), and
says None for ids it did not make: fenced-order detection relies on both."""
from __future__ import annotations

import pytest

from quantshift.brokers.base import MIN_RANDOM_CHARS, FencedOrder, make_client_order_id, parse_client_order_id

NAMES = ["equity", "crypto", "e", "qs", "equity-e5-x", "my_bot.v2", "a-very-long-bot-name-for-testing"]
EPOCHS = [0, 1, 2, 9, 10, 12345, 2**40]
LENGTHS = [128, 64, 36, 32, 20, 18]


def _shape(coid: str, name: str) -> str:
    if coid.startswith(f"qs-{name}-e"):
        return "prefixed"
    if coid.startswith(f"{name}-e"):
        return "bare"
    return "shortened"


@pytest.mark.parametrize("max_len", LENGTHS)
@pytest.mark.parametrize("epoch", EPOCHS)
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_over_every_shape(name, epoch, max_len):
    try:
        coid = make_client_order_id(name, epoch, max_len=max_len)
    except ValueError:  # no room for one name character, the epoch and 8 random ones
        assert max_len - len(f"-e{epoch}-") - MIN_RANDOM_CHARS < 1
        return
    assert len(coid) <= max_len
    parsed = parse_client_order_id(coid)
    assert parsed is not None, coid
    got_name, got_epoch = parsed
    assert got_epoch == epoch
    if _shape(coid, name) == "shortened":
        assert name.startswith(got_name) and 1 <= len(got_name) < len(name)
        assert got_name == name[:max_len - len(f"-e{epoch}-") - MIN_RANDOM_CHARS]
    else:
        assert got_name == name


def test_the_three_shapes_explicitly():
    rnd = "0123456789abcdef0123"
    prefixed = make_client_order_id("equity", 7, max_len=64, random_hex=rnd)
    bare = make_client_order_id("equity", 7, max_len=20, random_hex=rnd)
    short = make_client_order_id("a-very-long-bot-name", 7, max_len=20, random_hex=rnd)
    assert (prefixed, bare, short) == ("qs-equity-e7-0123456789abcdef0123", "equity-e7-0123456789",
                                       "a-very-l-e7-01234567")
    assert parse_client_order_id(prefixed) == ("equity", 7)
    assert parse_client_order_id(bare) == ("equity", 7)
    assert parse_client_order_id(short) == ("a-very-l", 7)


@pytest.mark.parametrize("coid", [
    None, "", "web-7f3a9c", "x-0a1b2c3d4e5f60718293", "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "qs-equity-e1-", "qs-equity-e1-abc",          # random part shorter than 8
    "qs-equity-e1-0123456789abcdef01234",          # longer than 20
    "qs-equity-e1-0123456G",                       # not hex
    "qs-equity-eX-01234567", "qs-equity-e-01234567", "qs-equity-e01-01234567",  # no epoch / leading zero
    "-e1-01234567", "qs-equity-1-01234567", "equity_e1_01234567",
    "qs-equity-e1-01234567\n",
])
def test_ids_it_did_not_make_are_none(coid):
    assert parse_client_order_id(coid) is None


def test_a_name_containing_an_epoch_marker_splits_at_the_last_one():
    coid = make_client_order_id("bot-e3-x", 4, random_hex="ab" * 10)
    assert coid == "qs-bot-e3-x-e4-abababababababababab"
    assert parse_client_order_id(coid) == ("bot-e3-x", 4)


def test_fenced_order_is_a_frozen_record():
    f = FencedOrder("qs-equity-e1-0123456789", 1, 2, "AAPL", "buy", 10.0, 175.0, None)
    assert (f.client_order_id, f.order_epoch, f.holder_epoch, f.symbol, f.side, f.filled_qty, f.avg_price,
            f.executed_at) == ("qs-equity-e1-0123456789", 1, 2, "AAPL", "buy", 10.0, 175.0, None)
    with pytest.raises(AttributeError):
        f.filled_qty = 0.0  # type: ignore[misc]


def test_a_name_starting_with_qs_is_ambiguous_in_the_id_and_resolved_by_the_broker():
    """"qs-equit-e1-..." is either the shortened "qs-equity" or the prefixed
    "equit": the id alone cannot say. RemoteBroker re-makes the id for its own
    account name and length limit to decide whether it is its own."""
    from quantshift.brokers.remote import RemoteBroker

    rnd = "0123456789abcdef0123"
    short = make_client_order_id("qs-equity", 1, max_len=20, random_hex=rnd)
    assert short == "qs-equit-e1-01234567" and parse_client_order_id(short) == ("equit", 1)
    b = RemoteBroker(None, "qs-equity")
    b.coid_max_len = 20
    assert b._order_epoch(short) == 1
    b.coid_max_len = 64  # this account would have made a different id: not ours
    assert b._order_epoch(short) is None


@pytest.mark.parametrize("name,max_len", [("equity", 128), ("crypto", 36), ("crypto", 18),
                                          ("a-very-long-bot-name", 20)])
def test_the_broker_recognises_its_own_ids_and_no_one_elses(name, max_len):
    from quantshift.brokers.remote import RemoteBroker

    b = RemoteBroker(None, name)
    b.coid_max_len = max_len
    for epoch in (1, 2, 17):
        assert b._order_epoch(make_client_order_id(name, epoch, max_len=max_len)) == epoch
    assert b._order_epoch(make_client_order_id("other", 1, max_len=max_len)) is None
    assert b._order_epoch(make_client_order_id(name + "2", 1, max_len=64)) is None
    assert b._order_epoch("web-7f3a9c") is None and b._order_epoch(None) is None
