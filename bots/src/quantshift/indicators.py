"""Pinned indicator definitions, vectorized over 2-D arrays (bars x symbols).

Definitions (tested against TA-Lib and hand-made reference vectors):

* SMA(n): arithmetic mean of the last n values (row t uses rows t-n+1..t).
* Bollinger(n, k): middle = SMA(n) of close; upper/lower = middle +/- k * the
  *population* standard deviation (ddof=0) of the same n closes (as TA-Lib BBANDS).
* RSI(n), Wilder: gains/losses of close-to-close changes; the first average is
  the simple mean of the first n changes (so the first RSI is at row n), then
  avg_t = (avg_{t-1} * (n - 1) + x_t) / n. RSI = 100 * avg_gain / (avg_gain + avg_loss),
  0 when both are 0. Identical to TA-Lib's RSI with its default unstable period.
* Donchian of the PREVIOUS n bars: upper_t = max(high[t-n..t-1]),
  lower_t = min(low[t-n..t-1]); the bar t itself is excluded, so a breakout is
  "close above the channel the market had before this bar".

Rows without enough history are NaN. Nothing here looks ahead: row t depends on
rows <= t only (tested by appending bars and checking earlier rows are unchanged).
"""
from __future__ import annotations

import numpy as np

_BLOCK = 16  # Wilder smoothing block size (fastest on 150-500 bars x 100-150 symbols)


def _as2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _nan_rows(n_rows: int, m: int) -> np.ndarray:
    return np.full((n_rows, m), np.nan)


def _rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sums over windows of n rows; row i covers rows i..i+n-1 (length T-n+1).
    Built from power-of-two window sums (log2(n) vectorized adds): faster than a
    cumsum, which is sequential, and without its growing rounding error."""
    spans = {1: x}
    span = 1
    while span * 2 <= n:
        w = spans[span]
        spans[span * 2] = w[:-span] + w[span:]
        span *= 2
    L = x.shape[0] - n + 1
    acc = spans[span][:L].copy()
    offset, rest, bit = span, n - span, span
    while rest:
        bit //= 2
        if rest & bit:
            acc += spans[bit][offset:offset + L]
            offset += bit
            rest -= bit
    return acc


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over axis 0."""
    x = _as2d(x)
    T, m = x.shape
    out = _nan_rows(T, m)
    if T >= n:
        out[n - 1:] = _rolling_sum(x, n) / n
    return out


def rolling_mean_std(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and population standard deviation over axis 0."""
    x = _as2d(x)
    T, m = x.shape
    mean = _nan_rows(T, m)
    std = _nan_rows(T, m)
    if T < n:
        return mean, std
    # Shifting by the first row keeps the squares small: E[y^2] - E[y]^2 then
    # loses no precision on price-sized numbers.
    base = x[0]
    y = x - base
    mu = _rolling_sum(y, n)
    mu /= n
    var = _rolling_sum(y * y, n)
    var /= n
    var -= mu * mu
    np.maximum(var, 0.0, out=var)
    mu += base
    mean[n - 1:] = mu
    std[n - 1:] = np.sqrt(var)
    return mean, std


def bollinger(close: np.ndarray, n: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(middle, upper, lower)."""
    mid, sd = rolling_mean_std(close, n)
    return mid, mid + k * sd, mid - k * sd


def _wilder_matrices(n: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    alpha, beta = 1.0 / n, 1.0 - 1.0 / n
    i = np.arange(block)
    lag = i[:, None] - i[None, :]
    M = np.where(lag >= 0, alpha * beta ** np.maximum(lag, 0), 0.0)
    p = beta ** (i + 1.0)
    return M, p


_MATS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def wilder_averages(close: np.ndarray, n: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Wilder-smoothed average gain and loss per row (NaN before row n)."""
    close = _as2d(close)
    T, m = close.shape
    ag = _nan_rows(T, m)
    al = _nan_rows(T, m)
    if T <= n:
        return ag, al
    d = np.diff(close, axis=0)
    x = np.empty((T - 1, 2 * m))
    np.maximum(d, 0.0, out=x[:, :m])
    np.maximum(-d, 0.0, out=x[:, m:])
    state = x[:n].mean(axis=0)
    rest = x[n:]
    L = rest.shape[0]
    # The recursion avg_t = beta*avg_{t-1} + alpha*x_t is linear, so it splits
    # into blocks: inside each block one (batched) matrix product gives the
    # block's own contribution, and a short loop over blocks (not bars) carries
    # each block's last value into the next: all symbols and both series at
    # once, with no Python loop per bar.
    key = (n, _BLOCK)
    if key not in _MATS:
        _MATS[key] = _wilder_matrices(n, _BLOCK)
    M, p = _MATS[key]
    nb = -(-L // _BLOCK)
    padded = np.zeros((nb * _BLOCK, 2 * m))
    padded[:L] = rest
    Y = np.matmul(M, padded.reshape(nb, _BLOCK, 2 * m))
    carry = np.empty((nb, 2 * m))
    c = state
    beta_b = p[-1]
    for b in range(nb):
        carry[b] = c
        c = beta_b * c + Y[b, -1]
    Y += p[None, :, None] * carry[:, None, :]
    out = np.empty((L + 1, 2 * m))
    out[0] = state
    out[1:] = Y.reshape(-1, 2 * m)[:L]
    ag[n:] = out[:, :m]
    al[n:] = out[:, m:]
    return ag, al


def rsi_from_averages(ag: np.ndarray, al: np.ndarray) -> np.ndarray:
    total = ag + al
    with np.errstate(invalid="ignore", divide="ignore"):
        r = 100.0 * ag / total
        # TA-Lib returns 0 when there was no movement at all (NaN rows stay NaN).
        r[total <= 1e-8] = 0.0
    return r


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    ag, al = wilder_averages(close, n)
    return rsi_from_averages(ag, al)


def _rolling_extreme(x: np.ndarray, n: int, op) -> np.ndarray:
    """op-reduction over windows of n rows; row i covers rows i..i+n-1 (length T-n+1).
    Doubling (sparse table): log2(n) passes over the array, exact for max/min."""
    w = x
    span = 1
    while span * 2 <= n:
        w = op(w[:-span], w[span:])
        span *= 2
    L = x.shape[0] - n + 1
    return op(w[:L], w[n - span:n - span + L])


def donchian_previous(high: np.ndarray, low: np.ndarray, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) of the PREVIOUS n bars (bar t excluded); NaN for t < n."""
    high, low = _as2d(high), _as2d(low)
    T, m = high.shape
    upper = _nan_rows(T, m)
    lower = _nan_rows(T, m)
    if T <= n:
        return upper, lower
    upper[n:] = _rolling_extreme(high[:-1], n, np.maximum)
    lower[n:] = _rolling_extreme(low[:-1], n, np.minimum)
    return upper, lower
