"""alpaca-py clients made safe for order entry, and its errors classified.

Two alpaca-py behaviours (checked against 0.44, read in alpaca/common/rest.py)
are unsafe for a trading bot and are changed here, in one place:

* `RESTClient._request` retries EVERY method - POST /v2/orders included - when
  the answer is 429 or 504 (`DEFAULT_RETRY_EXCEPTION_CODES = [429, 504]`,
  3 attempts, 3 s apart). A 504 from the gateway after Alpaca accepted the
  order would send it a second time. The constructor cannot switch this off
  (`retry_attempts=0` is ignored: "if retry_attempts and retry_attempts > 0"),
  so the client's retry count is set to 0 after construction and checked.
  Our own back-off (with jitter, counted in metrics) retries reads only.
* Its requests.Session has no timeout: a half-open connection would hang the
  trading loop until systemd's watchdog kills it. Every request gets one.

If a future alpaca-py renames these internals, building a client fails with a
clear error instead of trading with a client that may resend orders.
"""
from __future__ import annotations

import email.utils
import json
import time

import requests
from alpaca.common.exceptions import APIError

from .errors import VenueDuplicate, VenueError, VenueNotFound, VenueRejected, VenueRetryLater, VenueUnavailable
from .startup_errors import AdapterConfigError


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def harden(client, timeout_seconds: float):
    """Disable alpaca-py's own retry loop and give every request a timeout."""
    missing = [a for a in ("_retry", "_retry_codes", "_session") if not hasattr(client, a)]
    if missing:
        import alpaca

        raise AdapterConfigError(f"alpaca-py {getattr(alpaca, '__version__', '?')}: cannot switch off its request "
                                 f"retry ({', '.join(missing)} not found); refusing to trade with a client that "
                                 f"may resend orders")
    client._retry = 0
    client._retry_codes = []
    old = client._session
    client._session = _TimeoutSession(timeout_seconds)
    client._session.headers.update(old.headers)
    old.close()
    return client


def _message(body: str) -> str:
    try:
        d = json.loads(body)
        if isinstance(d, dict) and d.get("message"):
            return f"{d.get('code', '')} {d['message']}".strip()
    except (ValueError, TypeError):
        pass
    body = " ".join(body.split())
    return body[:200] if body else "(empty body)"


def _retry_after(resp) -> float | None:
    if resp is None:
        return None
    ra = resp.headers.get("Retry-After")
    if ra:
        try:
            return float(ra)
        except ValueError:
            t = email.utils.parsedate_to_datetime(ra)
            return max(0.0, t.timestamp() - time.time()) if t else None
    reset = resp.headers.get("X-RateLimit-Reset")  # unix seconds when the window resets
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def translate(exc: Exception) -> VenueError:
    if isinstance(exc, requests.Timeout):
        return VenueUnavailable(f"timeout: {exc}")
    if isinstance(exc, requests.ConnectionError):
        return VenueUnavailable(f"connection error: {exc}")
    if isinstance(exc, APIError):
        status = exc.status_code
        msg = _message(str(exc))
        text = f"HTTP {status}: {msg}"
        if status == 429:
            return VenueRetryLater(text, _retry_after(exc.response))
        if status is None or status >= 500 or status == 408:
            return VenueUnavailable(text)
        if status == 404:
            return VenueNotFound(text)
        if status == 422 and "client_order_id must be unique" in msg:
            return VenueDuplicate(text)
        return VenueRejected(text)
    if isinstance(exc, (ValueError, KeyError, TypeError)):  # unparseable answer: nothing known
        return VenueUnavailable(f"unreadable answer: {type(exc).__name__}: {exc}")
    return VenueUnavailable(f"{type(exc).__name__}: {exc}")
