"""The fixed set of regimes: names and integer ids (one source of truth for the
model, the allocation table and whoever reads the published regime).

    id  name      meaning
    0   calm      the lowest realized volatility of the fitting window
    1   normal    in between (3-regime model only)
    2   volatile  the highest realized volatility of the fitting window

A 2-regime model names only `calm` and `volatile`. Regimes are ranked by
volatility alone: a component's mean return, estimated from a few hundred noisy
bars, ordered two calm states wrongly so often that "calm_bull" versus "range"
labels were little better than chance (measured on regime/synthetic.py series).
The ranking is relative to the window: a window that was calm throughout still
calls its most agitated stretch `volatile`.
"""
from __future__ import annotations

CALM, NORMAL, VOLATILE = 0, 1, 2
REGIME_NAMES = ("calm", "normal", "volatile")  # index = regime id

# The regime ids an n-component model names, lowest volatility first.
REGIMES_BY_N = {2: (CALM, VOLATILE), 3: (CALM, NORMAL, VOLATILE)}

