"""An order and an account as the venue reports them, in the store's vocabulary."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class VenueOrder:
    client_order_id: str | None
    broker_order_id: str | None
    symbol: str
    side: str
    qty: float
    status: str              # one of store.orders.STATUSES (never PENDING/UNKNOWN)
    filled_qty: float = 0.0  # cumulative
    avg_price: float | None = None
    fee: float = 0.0         # cumulative, in the account currency
    reason: str | None = None
    # When the venue last executed (filled) the order, else its last update, as
    # the venue reports it; tz-aware UTC, None when the venue gave no time.
    executed_at: dt.datetime | None = None


@dataclass(frozen=True)
class VenueAccount:
    cash: float
    positions: dict[str, tuple[float, float | None]]  # symbol -> (qty, average entry price if the venue knows it)
