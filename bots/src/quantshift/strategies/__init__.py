"""Strategies: BollingerBounce, RSIMeanReversion, BreakoutMomentum."""
from __future__ import annotations

from .base import ENTRY, EXIT, NONE, LiveState, Strategy, combine
from .bollinger_bounce import BollingerBounce
from .breakout_momentum import BreakoutMomentum
from .rsi_mean_reversion import RSIMeanReversion

__all__ = ["ENTRY", "EXIT", "NONE", "LiveState", "Strategy", "combine", "BollingerBounce",
           "BreakoutMomentum", "RSIMeanReversion", "build_strategies"]


def build_strategies(cfg) -> list[Strategy]:
    """Enabled strategies from the `strategies:` config section, in a fixed order."""
    st = cfg.strategies
    out: list[Strategy] = []
    if st.bollinger_bounce.enabled:
        out.append(BollingerBounce(st.bollinger_bounce.period, st.bollinger_bounce.std_dev))
    if st.rsi_mean_reversion.enabled:
        out.append(RSIMeanReversion(st.rsi_mean_reversion.period, st.rsi_mean_reversion.oversold,
                                    st.rsi_mean_reversion.overbought))
    if st.breakout_momentum.enabled:
        out.append(BreakoutMomentum(st.breakout_momentum.lookback))
    return out
