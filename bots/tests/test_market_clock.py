"""The market clock: which one a bot follows, and Alpaca's read about once per
session change (alpaca-py against the loopback fake's GET /v2/clock)."""
from __future__ import annotations

import pytest

from quantshift import config
from quantshift.brokers import BrokerUnavailable, RetryPolicy
from quantshift.metrics import BotMetrics
from quantshift.venues.market_clock import AlpacaClock, AlwaysOpen, build_clock

from .fake_venues import FakeAlpaca

MONDAY = 1709510400  # 2024-03-04 00:00 UTC
DAY = 86400
# The US regular session 14:30-21:00 UTC (EST), Monday to Friday, then the next Monday's.
WEEK = [(MONDAY + d * DAY + 52200, MONDAY + d * DAY + 75600) for d in (0, 1, 2, 3, 4, 7)]


@pytest.fixture
def fake():
    f = FakeAlpaca()
    yield f
    f.close()


def _clock(fake, **kw) -> AlpacaClock:
    return AlpacaClock(api_key=fake.key, api_secret=fake.secret, base_url=fake.url, timeout_seconds=0.5,
                       retry=RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.02), **kw)


def test_alpaca_clock_follows_the_sessions_with_one_request_per_session_change(fake):
    fake.sessions = WEEK
    now = [MONDAY]
    fake.now = lambda: now[0]
    clock = _clock(fake)
    wrong = []
    for t in range(MONDAY, MONDAY + 7 * DAY, 60):  # a week of one-minute cycles
        now[0] = t
        if clock.is_open(t) != any(o <= t < c for o, c in WEEK):
            wrong.append(t)
    assert wrong == []
    # The first read, then one at each of the 5 opens and 5 closes: not 10080.
    assert fake.count("GET", "/v2/clock") == clock.requests == 11


def test_alpaca_clock_backs_off_counts_errors_and_raises_when_it_cannot_read(fake):
    metrics = BotMetrics("quantshift_t", 0, start_server=False)
    clock = _clock(fake)
    clock.instrument(metrics)
    fake.fault("GET", "/v2/clock", "service_unavailable", times=2)
    assert clock.is_open(fake.now()) is True  # the default session is open
    assert metrics.registry.get_sample_value("quantshift_t_cycle_errors_total", {"type": "broker"}) == 2
    assert metrics.registry.get_sample_value("quantshift_t_api_latency_seconds_count") == 3
    fake.fault("GET", "/v2/clock", "service_unavailable", times=3)
    with pytest.raises(BrokerUnavailable):
        _clock(fake).is_open(fake.now())


def _cfg(broker: dict, marketdata: dict):
    env = {"APCA_API_KEY_ID": FakeAlpaca.key, "APCA_API_SECRET_KEY": FakeAlpaca.secret,
           "QUANTSHIFT_EXCHANGE_API_KEY": "k", "QUANTSHIFT_EXCHANGE_API_SECRET": "s"}
    return config.from_mapping({"name": "t", "metrics_port": 9200, "symbols": ["AAA/USD"], "broker": broker,
                                "marketdata": marketdata}, "t.yaml", env=env)


@pytest.mark.parametrize("broker, marketdata, kind", [
    ({"kind": "alpaca"}, {"source": "synthetic"}, AlpacaClock),
    ({"kind": "sim"}, {"source": "alpaca"}, AlpacaClock),   # simulated equity trading on Alpaca's bars
    ({"kind": "sim"}, {"source": "synthetic"}, AlwaysOpen),
    ({"kind": "sim"}, {"source": "ccxt"}, AlwaysOpen),
])
def test_the_clock_is_derived_from_the_broker_and_the_market_data(broker, marketdata, kind):
    assert type(build_clock(_cfg(broker, marketdata))) is kind
