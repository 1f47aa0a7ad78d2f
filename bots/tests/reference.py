"""A deliberately plain per-symbol reference implementation of the pinned
definitions (loops, no numpy tricks), to check the vectorized code against."""
from __future__ import annotations

import math


def rsi(closes: list[float], n: int) -> list[float]:
    out = [math.nan] * len(closes)
    if len(closes) <= n:
        return out
    gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
    losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
    ag = sum(gains[:n]) / n
    al = sum(losses[:n]) / n
    for t in range(n, len(closes)):
        if t > n:
            ag = (ag * (n - 1) + gains[t - 1]) / n
            al = (al * (n - 1) + losses[t - 1]) / n
        out[t] = 100.0 * ag / (ag + al) if ag + al > 1e-8 else 0.0
    return out


def bollinger(closes: list[float], n: int, k: float):
    mid, up, lo = ([math.nan] * len(closes) for _ in range(3))
    for t in range(n - 1, len(closes)):
        w = closes[t - n + 1:t + 1]
        mu = sum(w) / n
        sd = math.sqrt(sum((x - mu) ** 2 for x in w) / n)
        mid[t], up[t], lo[t] = mu, mu + k * sd, mu - k * sd
    return mid, up, lo


def donchian_previous(highs, lows, n):
    up, lo = [math.nan] * len(highs), [math.nan] * len(highs)
    for t in range(n, len(highs)):
        up[t] = max(highs[t - n:t])
        lo[t] = min(lows[t - n:t])
    return up, lo


def _sig(entry: bool, exit_: bool) -> int:
    return 1 if entry else (-1 if exit_ else 0)


def signals_bollinger(closes, n, k):
    mid, _up, lo = bollinger(closes, n, k)
    return [_sig(c < l, c > m) for c, m, l in zip(closes, mid, lo)]


def signals_rsi(closes, n, oversold, overbought):
    return [_sig(r < oversold, r > overbought) for r in rsi(closes, n)]


def signals_breakout(highs, lows, closes, n):
    up, lo = donchian_previous(highs, lows, n)
    return [_sig(c > u, c < l) for c, u, l in zip(closes, up, lo)]
