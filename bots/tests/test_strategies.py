"""Strategies: identical signals to a per-symbol reference, no look-ahead, and
the incremental live path equal to a full recompute."""
from __future__ import annotations

import numpy as np
import pytest

from quantshift.marketdata import Bars, SyntheticSource
from quantshift.strategies import BollingerBounce, BreakoutMomentum, RSIMeanReversion

from . import reference as ref


def random_bars(T=400, m=12, seed=0) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, m)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, (T, m)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, (T, m)))
    vol = rng.uniform(1e3, 1e5, (T, m))
    return Bars(tuple(f"S{j}" for j in range(m)), np.arange(T, dtype=np.int64) * 60, open_, high, low, close,
                vol, 60)


STRATEGIES = [BollingerBounce(20, 2.0), RSIMeanReversion(14, 30, 70), BreakoutMomentum(20),
              BollingerBounce(10, 1.5), RSIMeanReversion(7, 40, 60), BreakoutMomentum(5)]


def reference_signals(s, bars: Bars) -> np.ndarray:
    cols = []
    for j in range(len(bars.symbols)):
        c, h, l = bars.close[:, j].tolist(), bars.high[:, j].tolist(), bars.low[:, j].tolist()
        if isinstance(s, BollingerBounce):
            cols.append(ref.signals_bollinger(c, s.period, s.std_dev))
        elif isinstance(s, RSIMeanReversion):
            cols.append(ref.signals_rsi(c, s.period, s.oversold, s.overbought))
        else:
            cols.append(ref.signals_breakout(h, l, c, s.lookback))
    return np.array(cols, dtype=np.int8).T


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: f"{s.name}-{s.warmup}")
def test_vectorized_signals_identical_to_per_symbol_reference(strategy, seed):
    bars = random_bars(seed=seed)
    got = strategy.signals(bars)
    want = reference_signals(strategy, bars)
    assert got.dtype == np.int8 and got.shape == bars.close.shape
    np.testing.assert_array_equal(got, want)
    assert (got == 1).any() and (got == -1).any()  # the comparison is not vacuous
    assert not got[:strategy.warmup].any()


@pytest.mark.parametrize("strategy", STRATEGIES[:3], ids=lambda s: s.name)
def test_signal_at_t_unchanged_when_later_bars_are_appended(strategy):
    bars = random_bars(T=300, seed=5)
    full = strategy.signals(bars)
    for t in (30, 100, 200, 299):
        np.testing.assert_array_equal(strategy.signals(bars.head(t + 1)), full[:t + 1])


def test_no_look_ahead_a_future_shock_does_not_change_past_signals():
    bars = random_bars(T=200, seed=9)
    shocked_close = bars.close.copy()
    shocked_close[150:] *= 3.0  # a huge move after t=149
    shocked = Bars(bars.symbols, bars.ts, bars.open, np.maximum(bars.high, shocked_close), bars.low, shocked_close,
                   bars.volume, 60)
    for s in STRATEGIES:
        before, after = s.signals(bars), s.signals(shocked)
        np.testing.assert_array_equal(before[:150], after[:150])
        assert not np.array_equal(before[150:], after[150:])  # the shock itself is seen


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: f"{s.name}-{s.warmup}")
def test_incremental_live_path_equals_full_recompute(strategy):
    bars = random_bars(T=450, m=20, seed=11)
    start = 150
    state = strategy.live(bars.head(start))
    full = strategy.signals(bars)
    got = np.array([state.update(bars.row(t)) for t in range(start, len(bars))])
    np.testing.assert_array_equal(got, full[start:])
    assert np.count_nonzero(got) > 0


def test_live_state_needs_warmup_bars():
    with pytest.raises(ValueError, match="needs more than 20 bars"):
        BreakoutMomentum(20).live(random_bars(T=20))


def test_strategies_run_on_synthetic_bars_for_150_symbols():
    syms = [f"SYM{i}" for i in range(150)]
    bars = SyntheticSource(syms, seed=1).fetch(syms, 1_700_000_000 // 60 * 60, 300)
    for s in STRATEGIES[:3]:
        sig = s.signals(bars)
        assert sig.shape == (300, 150) and np.count_nonzero(sig[-50:]) > 0
