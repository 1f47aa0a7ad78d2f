"""Regime detection: a Gaussian mixture (scikit-learn) over the log realized
volatility of an equal-weight index built from the account's closes.

Why these choices (measured walk-forward on regime/synthetic.py, 5 seeds; see
tests/test_regime_model.py):
* the feature is log(rolling std of the index's log returns) over `vol_bars`
  bars. Adding the per-bar return as a second dimension lowered accuracy from
  0.84 to 0.62 (the mixture spends components on return tails), and hmmlearn's
  GaussianHMM on (return, log volatility) reached 0.78 at 20x the fit time, so
  the extra package is not worth it;
* components are named by their mean volatility (regimes.py), never by their
  index, so a refit that permutes the components publishes the same names;
* features are standardized over the window before the fit: sklearn's
  reg_covar (1e-6, absolute) would otherwise swamp the variance of raw returns;
* the mixture is fitted with a fixed random_state: the same closes give the
  same estimate on every host, so a failover does not change the regime.

scikit-learn is imported inside `fit`, so importing this module (e.g. for
RegimeEstimate) costs nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..config import RegimeConfig
from .regimes import REGIME_NAMES, REGIMES_BY_N


class NotEnoughBars(ValueError):
    """Fewer closes than the window needs (e.g. a new account, a short backfill)."""


@dataclass(frozen=True)
class RegimeEstimate:
    regime_id: int
    regime: str
    probabilities: dict[str, float]  # every name of REGIME_NAMES (0 for those the model lacks); sums to 1
    bar_ts: int                      # the bar the estimate is for (its open time, as Bars.ts)
    fitted_bar_ts: int               # the last bar of the window the model was fitted on
    fit_seconds: float               # how long that fit took

    def as_dict(self) -> dict:
        return {"regime_id": self.regime_id, "regime": self.regime, "probabilities": self.probabilities,
                "bar_ts": self.bar_ts, "fitted_bar_ts": self.fitted_bar_ts, "fit_seconds": self.fit_seconds}


def index_log_returns(closes: np.ndarray) -> np.ndarray:
    """(T, m) closes -> (T-1,) equal-weight mean of the symbols' log returns
    (a symbol without a close on a bar is left out of that bar's mean)."""
    closes = np.asarray(closes, dtype=np.float64)
    if closes.ndim == 1:
        closes = closes[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(closes), axis=0)
    r[~np.isfinite(r)] = np.nan
    have = ~np.isnan(r).all(axis=1)
    if not have.all():
        raise ValueError(f"no symbol has two consecutive closes at bar row {int(np.argmin(have)) + 1}")
    return np.nanmean(r, axis=1)


def log_realized_vol(closes: np.ndarray, vol_bars: int) -> np.ndarray:
    """(T, m) closes -> (T - vol_bars,) log std of the index returns over the last
    vol_bars returns; row i is for closes row i + vol_bars. Row t uses rows <= t only."""
    r = index_log_returns(closes)
    if len(r) < vol_bars:
        return np.empty(0)
    sd = np.lib.stride_tricks.sliding_window_view(r, vol_bars).std(axis=-1)
    return np.log(np.maximum(sd, 1e-12))  # a frozen market (sd 0) is very calm, not -inf


class RegimeModel:
    """Fit on the last `window_bars` rows, refit every `refit_every_bars` new bars,
    classify the newest bar in between. Not thread-safe; one per account."""

    def __init__(self, cfg: RegimeConfig):
        self.cfg = cfg
        self._gmm = None
        self._center = self._scale = 0.0
        self._ids = np.empty(0, dtype=np.int64)  # component index -> regime id
        self.fitted_bar_ts: int | None = None
        self.fit_seconds = 0.0

    def _check(self, closes: np.ndarray, ts: np.ndarray) -> None:
        if len(ts) != len(closes):
            raise ValueError(f"{len(closes)} rows of closes but {len(ts)} bar times")
        if len(closes) < self.cfg.bars_needed:
            raise NotEnoughBars(f"regime model needs {self.cfg.bars_needed} bars (window_bars "
                                f"{self.cfg.window_bars} + vol_bars {self.cfg.vol_bars}), got {len(closes)}")

    def fit(self, closes: np.ndarray, ts: np.ndarray) -> None:
        """Fit on the newest window of (T, m) closes with bar open times ts (T,)."""
        from sklearn.mixture import GaussianMixture

        ts = np.asarray(ts)
        self._check(closes, ts)
        x = log_realized_vol(np.asarray(closes)[-self.cfg.bars_needed:], self.cfg.vol_bars)
        center, scale = float(x.mean()), float(x.std()) or 1.0
        started = time.perf_counter()
        gmm = GaussianMixture(self.cfg.n_regimes, covariance_type="full", n_init=3,
                              random_state=self.cfg.seed).fit(((x - center) / scale)[:, None])
        self.fit_seconds = time.perf_counter() - started
        ids = np.empty(self.cfg.n_regimes, dtype=np.int64)
        ids[np.argsort(gmm.means_[:, 0], kind="stable")] = REGIMES_BY_N[self.cfg.n_regimes]
        self._gmm, self._center, self._scale, self._ids = gmm, center, scale, ids
        self.fitted_bar_ts = int(ts[-1])

    def refit_due(self, ts: np.ndarray) -> bool:
        return self._gmm is None or np.count_nonzero(np.asarray(ts) > self.fitted_bar_ts) >= self.cfg.refit_every_bars

    def classify(self, closes: np.ndarray, ts: np.ndarray) -> RegimeEstimate:
        """The regime of the newest bar under the current fit."""
        if self._gmm is None:
            raise RuntimeError("RegimeModel.classify before fit")
        closes = np.asarray(closes)
        if len(closes) < self.cfg.vol_bars + 1:
            raise NotEnoughBars(f"classifying a bar needs {self.cfg.vol_bars + 1} bars, got {len(closes)}")
        x = log_realized_vol(closes[-(self.cfg.vol_bars + 1):], self.cfg.vol_bars)
        p = self._gmm.predict_proba(((x - self._center) / self._scale)[:, None])[0]
        probs = np.zeros(len(REGIME_NAMES))
        np.add.at(probs, self._ids, p)
        probs /= probs.sum()
        rid = int(np.argmax(probs))
        return RegimeEstimate(rid, REGIME_NAMES[rid], dict(zip(REGIME_NAMES, probs.tolist())),
                              int(np.asarray(ts)[-1]), self.fitted_bar_ts, self.fit_seconds)

    def update(self, closes: np.ndarray, ts: np.ndarray) -> RegimeEstimate:
        """The service's per-bar call: refit when due, then classify the newest bar."""
        if self.refit_due(ts):
            self.fit(closes, ts)
        return self.classify(closes, ts)
