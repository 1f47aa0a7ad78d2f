"""Pinned indicator definitions against known vectors and a reference implementation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from quantshift import indicators as ind

from . import reference as ref

# Wilder's classic RSI(14) example (33 closes) and its published RSI values.
CLASSIC_CLOSES = [44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
                  45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
                  46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
                  43.4205, 42.6628, 43.1314]
CLASSIC_RSI = [70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
               41.46, 41.87, 45.46, 37.30, 33.08, 37.77]


def test_rsi_matches_the_classic_33_close_wilder_series():
    r = ind.rsi(np.array(CLASSIC_CLOSES), 14)[:, 0]
    assert np.all(np.isnan(r[:14]))
    assert round(r[14], 2) == 70.53
    assert np.round(r[14:], 2).tolist() == CLASSIC_RSI


def test_rsi_is_zero_without_movement_and_100_without_losses():
    flat = ind.rsi(np.full(30, 10.0), 14)[:, 0]
    up = ind.rsi(np.arange(30, dtype=float) + 1, 14)[:, 0]
    assert flat[14:].tolist() == [0.0] * 16
    assert np.allclose(up[14:], 100.0)


def test_bollinger_uses_population_std():
    close = np.array([1.0, 2.0, 3.0, 4.0])
    mid, up, lo = ind.bollinger(close, 4, 2.0)
    sd = math.sqrt(1.25)  # population std of 1..4 (the sample std would be 1.29)
    assert mid[3, 0] == pytest.approx(2.5)
    assert up[3, 0] == pytest.approx(2.5 + 2 * sd) and lo[3, 0] == pytest.approx(2.5 - 2 * sd)
    assert np.isnan(mid[2, 0])


def test_donchian_channel_excludes_the_current_bar():
    high = np.array([1.0, 5.0, 2.0, 3.0, 9.0])
    low = np.array([0.5, 0.1, 1.0, 2.0, 8.0])
    up, lo = ind.donchian_previous(high, low, 3)
    assert np.isnan(up[2, 0])
    assert up[3, 0] == 5.0 and lo[3, 0] == 0.1  # bars 0..2
    assert up[4, 0] == 5.0 and lo[4, 0] == 0.1  # bars 1..3; bar 4's own high 9 is excluded


@pytest.mark.parametrize("n", [2, 3, 14, 20, 33])
def test_vectorized_indicators_equal_the_per_symbol_reference_on_random_data(n):
    rng = np.random.default_rng(n)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (250, 7)), axis=0))
    high = close * (1 + rng.uniform(0, 0.01, close.shape))
    low = close * (1 - rng.uniform(0, 0.01, close.shape))
    r = ind.rsi(close, n)
    mid, up, lo = ind.bollinger(close, n, 2.0)
    dup, dlo = ind.donchian_previous(high, low, n)
    for j in range(close.shape[1]):
        c = close[:, j].tolist()
        np.testing.assert_allclose(r[:, j], ref.rsi(c, n), rtol=1e-10, atol=1e-9)
        rm, ru, rl = ref.bollinger(c, n, 2.0)
        np.testing.assert_allclose(mid[:, j], rm, rtol=1e-10)
        np.testing.assert_allclose(lo[:, j], rl, rtol=1e-9)
        ru_, rl_ = ref.donchian_previous(high[:, j].tolist(), low[:, j].tolist(), n)
        np.testing.assert_array_equal(dup[:, j], ru_)
        np.testing.assert_array_equal(dlo[:, j], rl_)


def test_indicators_match_talib_when_available():
    talib = pytest.importorskip("talib")
    rng = np.random.default_rng(1)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (400, 5)), axis=0))
    r = ind.rsi(close, 14)
    mid, up, lo = ind.bollinger(close, 20, 2.0)
    for j in range(5):
        np.testing.assert_allclose(r[:, j], talib.RSI(close[:, j], 14), rtol=1e-10)
        tu, tm, tl = talib.BBANDS(close[:, j], 20, 2.0, 2.0, 0)
        np.testing.assert_allclose(up[:, j], tu, rtol=1e-9)
        np.testing.assert_allclose(lo[:, j], tl, rtol=1e-9)


def test_no_indicator_row_changes_when_later_bars_are_appended():
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, (300, 4)), axis=0)
    high, low = close + 1, close - 1
    for f in (lambda c, h, l: ind.rsi(c, 14), lambda c, h, l: ind.bollinger(c, 20, 2)[2],
              lambda c, h, l: ind.donchian_previous(h, l, 20)[0]):
        full = f(close, high, low)
        for t in (25, 120, 299):
            part = f(close[:t + 1], high[:t + 1], low[:t + 1])
            np.testing.assert_array_equal(np.isnan(part), np.isnan(full[:t + 1]))
            np.testing.assert_allclose(part, full[:t + 1], rtol=1e-9, atol=1e-9)
