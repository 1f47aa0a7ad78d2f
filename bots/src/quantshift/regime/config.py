"""The regime section of a config: the model's window and the per-regime
strategy allocation the coordinator applies. Checked and reported like the
rest of a bot config (quantshift.config: one line naming the dotted key)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import config as config_mod
from .regimes import REGIME_NAMES, REGIMES_BY_N, STRATEGY_NAMES


def _default_allocation() -> dict[str, float]:
    return dict.fromkeys(STRATEGY_NAMES, 1.0)


def _default_table() -> dict[str, dict[str, float]]:
    # Mean reversion earns in quiet markets and is run over by trends; a breakout
    # fires often on noise in quiet markets and pays when prices move. `normal`
    # is absent: it trades like the default allocation.
    return {
        "calm": {"bollinger_bounce": 1.0, "rsi_mean_reversion": 1.0, "breakout_momentum": 0.25},
        "volatile": {"bollinger_bounce": 0.25, "rsi_mean_reversion": 0.25, "breakout_momentum": 1.0},
    }


@dataclass(frozen=True)
class RegimeConfig:
    window_bars: int = 500          # feature rows the model is fitted on
    refit_every_bars: int = 50      # between fits the last model classifies new bars
    vol_bars: int = 15              # realized volatility window (bars of returns)
    n_regimes: int = 3
    seed: int = 0
    # An estimate older than this (by its bar time) is ignored: the coordinator
    # trades default_allocation, as it does when the regime service is down.
    max_age_seconds: float = 300.0
    default_allocation: dict[str, float] = field(default_factory=_default_allocation)
    # regime name -> strategy -> weight in [0, 1]; a strategy or regime left out
    # takes its default_allocation weight (a strategy left out of that: 1.0).
    allocation: dict[str, dict[str, float]] = field(default_factory=_default_table)

    @property
    def bars_needed(self) -> int:
        """Closes per fit: window_bars volatility values need vol_bars - 1 more returns, one more close."""
        return self.window_bars + self.vol_bars

    def weights(self, regime: str | None) -> dict[str, float]:
        """strategy -> weight for a regime name; None (no fresh regime): the default."""
        table = self.allocation.get(regime, {}) if regime else {}
        return {**dict.fromkeys(STRATEGY_NAMES, 1.0), **self.default_allocation, **table}

    def validate(self, path: str | None = None, prefix: str = "regime.") -> None:
        check = config_mod.check
        check(self.n_regimes in REGIMES_BY_N, path, prefix + "n_regimes",
              f"must be one of {', '.join(map(str, REGIMES_BY_N))}, got {self.n_regimes}")
        check(self.vol_bars >= 2, path, prefix + "vol_bars", f"must be >= 2, got {self.vol_bars}")
        # Fewer rows than this leave a component a handful of points, and its
        # volatility (hence its name) is noise.
        low = 50 * self.n_regimes
        check(self.window_bars >= low, path, prefix + "window_bars",
              f"must be >= {low} (50 per regime), got {self.window_bars}")
        check(1 <= self.refit_every_bars <= self.window_bars, path, prefix + "refit_every_bars",
              f"must be 1..window_bars ({self.window_bars}), got {self.refit_every_bars}")
        check(self.seed >= 0, path, prefix + "seed", f"must be >= 0, got {self.seed}")
        check(self.max_age_seconds > 0, path, prefix + "max_age_seconds", "must be > 0")
        _check_weights(self.default_allocation, path, prefix + "default_allocation")
        for regime, table in self.allocation.items():
            check(regime in REGIME_NAMES, path, f"{prefix}allocation.{regime}",
                  f"unknown regime (known: {', '.join(REGIME_NAMES)})")
            _check_weights(table, path, f"{prefix}allocation.{regime}")


def _check_weights(table: dict[str, float], path: str | None, key: str) -> None:
    for strategy, weight in table.items():
        config_mod.check(strategy in STRATEGY_NAMES, path, f"{key}.{strategy}",
                         f"unknown strategy (known: {', '.join(STRATEGY_NAMES)})")
        config_mod.check(0.0 <= weight <= 1.0, path, f"{key}.{strategy}", f"weight {weight:g} not in [0, 1]")


def from_mapping(data: Any, path: str | None = None, prefix: str = "regime.") -> RegimeConfig:
    """The `regime:` section (a mapping, or None for the defaults), typed and checked."""
    data = {} if data is None else data
    config_mod.check(isinstance(data, dict), path, prefix.rstrip("."), f"expected mapping, got {data!r}")
    cfg = config_mod.build_section(RegimeConfig, data, prefix, path)
    cfg.validate(path, prefix)
    return cfg
