"""Market data: deterministic synthetic feed, CSV replay, the Redis cache, degradation."""
from __future__ import annotations

import numpy as np
import pytest
import redis

from quantshift.marketdata import BarCache, CsvReplaySource, MarketData, SyntheticSource
from quantshift.marketdata.csv_replay import CsvFormatError

SYMS = ["AAPL", "MSFT", "BTC/USD"]
T0 = 1_700_000_000


def test_synthetic_feed_is_deterministic_per_seed_and_continuous_over_time():
    a = SyntheticSource(SYMS, seed=1).fetch(SYMS, T0 // 60 * 60, 100)
    b = SyntheticSource(SYMS, seed=1).fetch(SYMS, T0 // 60 * 60, 100)
    c = SyntheticSource(SYMS, seed=2).fetch(SYMS, T0 // 60 * 60, 100)
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.allclose(a.close, c.close)
    later = SyntheticSource(SYMS, seed=1).fetch(SYMS, T0 // 60 * 60 + 60, 100)
    np.testing.assert_array_equal(later.close[:-1], a.close[1:])  # the next minute adds one bar
    assert later.ts[-1] - a.ts[-1] == 60


def test_synthetic_bars_are_valid_ohlcv_with_a_random_walk_scale():
    src = SyntheticSource(SYMS, seed=3)
    bars = src.fetch(SYMS, T0 // 60 * 60, 500)
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close)) and np.all(bars.low > 0)
    assert np.all(bars.volume > 0)
    r = np.diff(np.log(bars.close), axis=0)
    assert 0.001 < r.std() < 0.02
    sub = src.fetch(["MSFT"], T0 // 60 * 60, 500)
    np.testing.assert_array_equal(sub.close[:, 0], bars.close[:, 1])


def test_synthetic_latest_bar_is_the_last_completed_one_and_quote_is_the_next_open():
    src = SyntheticSource(SYMS, seed=3)
    now = T0 // 60 * 60 + 30.0  # half-way through a minute
    assert src.latest_bar_ts(now) == T0 // 60 * 60 - 60
    nxt = src.fetch(SYMS, T0 // 60 * 60, 1)
    np.testing.assert_array_equal(src.quote(SYMS, now), nxt.open[0])


def _write_csv(path, n=60, syms=("AAA", "BBB")):
    lines = ["timestamp,symbol,open,high,low,close,volume"]
    for i in range(n):
        for j, s in enumerate(syms):
            c = 100 + i + j * 10
            lines.append(f"{1_600_000_000 + 60 * i},{s},{c - 0.5},{c + 1},{c - 1},{c},{1000 + i}")
    path.write_text("\n".join(lines) + "\n")


def test_csv_replay_plays_one_file_bar_per_timeframe_on_the_wall_clock(tmp_path):
    p = tmp_path / "bars.csv"
    _write_csv(p)
    t0 = 1_700_000_000.0 // 60 * 60 + 5
    src = CsvReplaySource(str(p), ["AAA", "BBB"], 60, start_index=30, start_time=t0)
    md = MarketData(src, None, clock=lambda: t0)
    r = md.latest(["AAA", "BBB"], 20)
    assert len(r.bars) == 20 and r.bars.close[-1].tolist() == [130.0, 140.0]
    assert r.age_seconds == pytest.approx(5.0)
    assert src.quote(["BBB"], t0).tolist() == [140.5]  # next file bar's open
    r2 = MarketData(src, None, clock=lambda: t0 + 120).latest(["AAA"], 20)
    assert r2.bars.close[-1, 0] == 132.0
    end = MarketData(src, None, clock=lambda: t0 + 3600).latest(["AAA"], 20)
    assert end.bars.close[-1, 0] == 159.0 and end.age_seconds > 600  # file ran out: data stops, age grows


def test_csv_with_gaps_is_rejected(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("timestamp,symbol,open,high,low,close,volume\n0,AAA,1,1,1,1,1\n60,AAA,1,1,1,1,1\n"
                 "180,AAA,1,1,1,1,1\n")
    with pytest.raises(CsvFormatError, match="regular 60s grid"):
        CsvReplaySource(str(p), ["AAA"], 60)


class CountingSource(SyntheticSource):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.fetched = []

    def fetch(self, symbols, end_ts, n):
        self.fetched.append(list(symbols))
        return super().fetch(symbols, end_ts, n)


def test_redis_cache_serves_the_second_fetch_and_expires_with_ttl(redis_url):
    now = float(T0)
    src = CountingSource(SYMS, seed=5)
    cache = BarCache(redis_url, ttl_seconds=120)
    md = MarketData(src, cache, clock=lambda: now)
    first = md.latest(SYMS, 50)
    second = md.latest(SYMS, 50)
    assert (first.cache_hits, second.cache_hits) == (0, 3) and len(src.fetched) == 1
    np.testing.assert_array_equal(first.bars.close, second.bars.close)
    np.testing.assert_array_equal(first.bars.volume, second.bars.volume)
    r = redis.Redis.from_url(redis_url)
    ttl = r.ttl(cache.key(src.name, 60, "AAPL"))
    assert 0 < ttl <= 120
    r.delete(cache.key(src.name, 60, "MSFT"))
    third = md.latest(SYMS, 50)
    assert third.cache_hits == 2 and src.fetched[-1] == ["MSFT"]
    np.testing.assert_array_equal(third.bars.close, first.bars.close)


def test_a_new_bar_is_a_cache_miss(redis_url):
    now = [float(T0)]
    src = CountingSource(SYMS, seed=5)
    md = MarketData(src, BarCache(redis_url), clock=lambda: now[0])
    md.latest(SYMS, 50)
    now[0] += 60
    r = md.latest(SYMS, 50)
    assert r.cache_hits == 0 and len(src.fetched) == 2


def test_unreachable_redis_degrades_to_the_source_without_raising():
    from .conftest import free_port

    src = CountingSource(SYMS, seed=5)
    md = MarketData(src, BarCache(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2),
                    clock=lambda: float(T0))
    r = md.latest(SYMS, 50)
    assert r.redis_error and "ConnectionError" in r.redis_error
    assert len(r.bars) == 50 and r.cache_hits == 0


def test_market_data_age_is_time_since_the_newest_bar_completed():
    md = MarketData(SyntheticSource(SYMS), None, clock=lambda: T0 // 60 * 60 + 42.0)
    assert md.latest(SYMS, 60).age_seconds == pytest.approx(42.0)
