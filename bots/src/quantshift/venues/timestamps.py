"""Venue time stamps, read leniently."""
from __future__ import annotations

import datetime as dt
import re


def parse_rfc3339(v) -> dt.datetime | None:
    """An RFC 3339 time ("2024-03-04T14:31:00.123456789Z", "...-05:00") as
    tz-aware UTC; None when absent or unreadable (never an exception: an order
    must not turn into a parsing error)."""
    if isinstance(v, dt.datetime):
        t = v
    elif isinstance(v, str) and v:
        # fromisoformat before 3.11 reads neither "Z" nor nanoseconds: both normalised here.
        text = re.sub(r"(\.\d{6})\d+", r"\1", v.strip()).replace("Z", "+00:00").replace("z", "+00:00")
        try:
            t = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)
