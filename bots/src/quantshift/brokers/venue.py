"""The venue vocabulary shared by the network adapters (brokers and market
data): what a failed call means, an order and an account as the venue reports
them, and the back-off loop for reads."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable, TypeVar

from .base import BrokerError, BrokerUnavailable
from .retry import RetryPolicy, Telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")


class VenueError(Exception):
    """A venue call failed; the subclass says what that means for an order."""


class VenueRejected(VenueError):
    """The venue refused the request (4xx business error): nothing was placed."""


class VenueNotFound(VenueRejected):
    """The venue does not know this order."""


class VenueDuplicate(VenueRejected):
    """The client order id is already in use at the venue."""


class VenueRetryLater(VenueError):
    """Refused before processing (rate limit, clock skew); nothing was placed."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class VenueUnavailable(VenueError):
    """No usable answer: for a write the outcome is unknown."""


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it, in the store's vocabulary."""
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


def read_with_backoff(what: str, call: Callable[[], T], policy: RetryPolicy, telemetry: Telemetry) -> T:
    """Run an idempotent venue call; `call` raises VenueErrors. Rate limits and
    transient errors are counted and retried after a jittered pause;
    BrokerUnavailable when the attempts are used up; a refusal (4xx) is
    BrokerError at once; VenueNotFound is passed to the caller."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except VenueNotFound:
            raise
        except VenueRejected as e:
            telemetry.error()
            raise BrokerError(f"{what}: {e}") from None
        except (VenueRetryLater, VenueUnavailable) as e:
            telemetry.error()
            if attempt == policy.attempts:
                raise BrokerUnavailable(f"{what}: {e}") from None
            delay = policy.delay(attempt, getattr(e, "retry_after", None))
            log.warning("%s failed (%s); retry %d/%d in %.2fs", what, e, attempt, policy.attempts - 1, delay)
            telemetry.pause(delay)
    raise AssertionError("unreachable")
