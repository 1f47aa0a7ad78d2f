"""ML regime detection (the regime service's model) and the per-regime strategy
allocation. Only numpy here: scikit-learn is loaded by RegimeModel.fit, so a
process that reads a published regime (the coordinator) never pays for it."""
from __future__ import annotations

from .config import RegimeConfig, from_mapping
from .regimes import CALM, NORMAL, REGIME_NAMES, REGIMES_BY_N, STRATEGY_NAMES, VOLATILE

__all__ = ["CALM", "NORMAL", "VOLATILE", "REGIME_NAMES", "REGIMES_BY_N", "STRATEGY_NAMES", "RegimeConfig",
           "from_mapping"]
