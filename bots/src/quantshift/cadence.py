"""When periodic work runs: on the wall-clock grid of its interval."""
from __future__ import annotations


def next_slot_wait(now: float, interval: float) -> float:
    """Seconds to the next slot of the wall-clock grid of `interval`, plus a small
    offset: with 1-minute bars and a 60 s interval the work runs just after each
    bar completes instead of up to a minute late. A slow cycle skips to the next
    slot rather than catching up in a burst."""
    offset = min(1.0, interval / 10)
    wait = interval - (now % interval) + offset
    return wait if wait > offset else wait + interval
