"""What a failed venue call means for an order, and what is left of it once
the back-off gave up. Market data raises the same BrokerUnavailable after its
reads are used up."""
from __future__ import annotations


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


class BrokerError(Exception):
    """A venue call failed for good (e.g. credentials refused)."""


class BrokerUnavailable(BrokerError):
    """The venue could not be reached (or kept refusing) after backing off."""
