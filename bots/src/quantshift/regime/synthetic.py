"""Seeded regime-switching prices with known truth, for testing the regime model.

A hidden Markov chain with a sticky transition matrix picks the regime of each
bar; the regime sets the drift and volatility of a common market factor. Every
symbol's log return is beta * factor + its own noise, so the equal-weight index
the model reads is the factor plus noise shrunk by sqrt(m), as with real
baskets. Numpy only: usable without the `regime` extra.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .regimes import REGIMES_BY_N

# Per-bar (drift, volatility) of the common factor per regime, lowest volatility
# first as the model names them (calm, normal, volatile): volatility 0.4%, 1%, 2.5% per bar,
# with the drift of a quiet rise, a flat market and a sell-off.
DEFAULT_PARAMS = ((0.0010, 0.004), (0.0, 0.010), (-0.0015, 0.025))


@dataclass(frozen=True)
class SyntheticRegimes:
    closes: np.ndarray   # (T, m) float64
    regime: np.ndarray   # (T,) int: true regime id (regimes.py) of each bar's return into it
    ts: np.ndarray       # (T,) int64 bar open times


def generate(n_bars: int, n_symbols: int = 20, seed: int = 0, stay: float = 0.99,
             params: tuple[tuple[float, float], ...] = DEFAULT_PARAMS, idio_vol: float = 0.01,
             timeframe_seconds: int = 60) -> SyntheticRegimes:
    """`stay` is the probability of keeping the regime on the next bar (mean
    duration 1 / (1 - stay) bars); a switch goes to one of the others uniformly."""
    if not 0 < stay < 1:
        raise ValueError(f"stay must be in (0, 1), got {stay}")
    if len(params) not in REGIMES_BY_N:
        raise ValueError(f"params: {sorted(REGIMES_BY_N)} regimes, lowest volatility first; got {len(params)}")
    rng = np.random.default_rng(seed)
    k = len(params)
    regime = np.empty(n_bars, dtype=np.int64)
    regime[0] = rng.integers(k)
    switch = rng.random(n_bars) >= stay
    jump = rng.integers(1, k, n_bars)  # offset to a different regime
    for t in range(1, n_bars):
        regime[t] = (regime[t - 1] + jump[t]) % k if switch[t] else regime[t - 1]
    drift, vol = np.asarray(params, dtype=np.float64).T
    factor = drift[regime] + vol[regime] * rng.standard_normal(n_bars)
    beta = rng.uniform(0.7, 1.3, n_symbols)
    log_ret = factor[:, None] * beta + idio_vol * rng.standard_normal((n_bars, n_symbols))
    start = 100.0 * np.exp(rng.uniform(-1, 1, n_symbols))
    closes = start * np.exp(np.cumsum(log_ret, axis=0))
    ts = np.arange(n_bars, dtype=np.int64) * timeframe_seconds
    return SyntheticRegimes(closes, np.asarray(REGIMES_BY_N[k])[regime], ts)
