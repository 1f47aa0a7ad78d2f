"""ML regime detection (the regime service's model). Only numpy here:
scikit-learn is loaded by RegimeModel.fit, so a process that reads a published
regime (the coordinator) never pays for it. The `regime:` config section and the
per-regime strategy allocation are quantshift.config.RegimeConfig."""
from __future__ import annotations

from .regimes import CALM, NORMAL, REGIME_NAMES, REGIMES_BY_N, VOLATILE

__all__ = ["CALM", "NORMAL", "VOLATILE", "REGIME_NAMES", "REGIMES_BY_N"]
