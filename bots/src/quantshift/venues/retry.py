"""Back-off with full jitter for venue calls. Jitter keeps the primary and a
restarted bot (or many bots behind one NAT) from retrying in lock-step."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import BrokerError, BrokerUnavailable, VenueNotFound, VenueRejected, VenueRetryLater, VenueUnavailable
from .telemetry import Telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4            # tries per call, the first included
    base_seconds: float = 0.5    # first back-off ceiling; doubles per attempt
    cap_seconds: float = 8.0     # no single pause is longer
    fill_wait_seconds: float = 3.0  # how long submit() waits for a market order to fill

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Full jitter (uniform in [0, min(cap, base * 2^(attempt-1))]); a venue's
        Retry-After is honoured up to the cap."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        d = (rng or random).uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            d = max(d, min(float(retry_after), self.cap_seconds))
        return d


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
