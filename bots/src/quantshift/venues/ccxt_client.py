"""ccxt exchanges made safe for order entry, and ccxt's errors classified.

* enableRateLimit is always on (ccxt spaces requests by the exchange's
  rateLimit); our back-off with jitter handles what gets through anyway.
* ccxt's own retry (`options['maxRetriesOnFailure']`, read in
  Exchange.fetch2) resends ANY request - createOrder included - on a network
  error or timeout when set. It is forced to 0: an order is never resent by a
  library.
* paper: the exchange's sandbox (ccxt set_sandbox_mode); an exchange without
  one is a configuration error - live trading needs `broker.paper: false`.
* base_url (tests, proxies): every API URL of the exchange is re-pointed at it,
  keeping the path, so a loopback fake can serve the real endpoints.

What differs per exchange is in profiles.py.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import ccxt

from .errors import VenueDuplicate, VenueError, VenueNotFound, VenueRejected, VenueRetryLater, VenueUnavailable
from .profiles import profile, supported
from .startup_errors import AdapterConfigError


def _repoint(urls, base: str):
    if isinstance(urls, str):
        return base + urlsplit(urls).path
    if isinstance(urls, dict):
        return {k: _repoint(v, base) for k, v in urls.items()}
    return urls


def make_exchange(exchange_id: str, *, api_key: str | None = None, api_secret: str | None = None,
                  paper: bool = True, base_url: str | None = None, timeout_seconds: float = 10.0,
                  paper_setting: str = "broker.paper"):
    if exchange_id not in ccxt.exchanges:
        raise AdapterConfigError(f"broker.exchange {exchange_id!r} is not a ccxt exchange id "
                                 f"(e.g. {', '.join(supported())})")
    prof = profile(exchange_id)
    params = {"enableRateLimit": True, "timeout": int(timeout_seconds * 1000),
              "options": {**prof.options, "maxRetriesOnFailure": 0}}
    if api_key:
        params.update(apiKey=api_key, secret=api_secret)
    ex = getattr(ccxt, exchange_id)(params)
    if paper:
        if not ex.urls.get("test"):
            raise AdapterConfigError(f"{paper_setting}: {exchange_id} has no sandbox in ccxt; set {paper_setting}: "
                                     f"false for its live API")
        ex.set_sandbox_mode(True)
    if base_url:
        ex.urls["api"] = _repoint(ex.urls["api"], base_url.rstrip("/"))
    ex.options["maxRetriesOnFailure"] = 0
    return ex


def _retry_after(exchange) -> float | None:
    headers = getattr(exchange, "last_response_headers", None) or {}
    try:
        v = headers.get("Retry-After")
        return float(v) if v else None
    except (TypeError, ValueError):
        return None


def translate(exc: Exception, exchange=None) -> VenueError:
    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, ccxt.OrderNotFound):
        return VenueNotFound(text)
    if isinstance(exc, ccxt.DuplicateOrderId) or "Duplicate order sent" in str(exc):
        return VenueDuplicate(text)
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        return VenueRetryLater(text, _retry_after(exchange))
    if isinstance(exc, ccxt.InvalidNonce):  # timestamp outside recvWindow: refused, not processed
        return VenueRetryLater(text)
    if isinstance(exc, ccxt.OperationFailed):  # NetworkError, RequestTimeout, ExchangeNotAvailable, BadResponse
        return VenueUnavailable(text)
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadRequest,
                        ccxt.OperationRejected, ccxt.NotSupported, ccxt.ArgumentsRequired)):
        return VenueRejected(text)
    # Anything else (a bare ExchangeError, a parsing bug) says nothing certain
    # about a write: treat the outcome as unknown, resolve it by lookup.
    return VenueUnavailable(text)
