"""One narrow broker interface for sim, alpaca and ccxt.

Safety rules every adapter follows (DESIGN §3, nautilus/hummingbot lessons):
* the bot stores the order PENDING with its client order id BEFORE submit();
* the adapter records the outcome (status, fills, positions, cash) in the store;
* a timeout / 5xx is an UNKNOWN order, resolved with lookup(client_order_id),
  never by sending it again;
* reconcile() runs at start, and the bot neither trades nor sends READY=1 until
  it succeeded; sync() brings still-open orders up to date every cycle.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..store.positions import Position
from ..venues.errors import BrokerError, BrokerUnavailable  # noqa: F401  (part of the broker interface)


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: float
    order_type: str = "market"  # "market" | "limit"
    limit_price: float | None = None


@dataclass(frozen=True)
class OrderResult:
    client_order_id: str
    status: str  # FILLED | ACCEPTED | REJECTED | UNKNOWN ...
    filled_qty: float = 0.0
    avg_price: float | None = None
    fee: float = 0.0
    broker_order_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class AccountState:
    cash: float
    positions: dict[str, Position] = field(default_factory=dict)

    def value(self, prices: dict[str, float]) -> float:
        return self.cash + sum(p.qty * prices.get(s, p.avg_price) for s, p in self.positions.items())


MIN_RANDOM_CHARS = 8


def make_client_order_id(name: str, epoch: int, *, max_len: int = 64, random_hex: str | None = None) -> str:
    """`qs-<name>-e<epoch>-<random hex>` (up to 20 random characters), fitted to a
    venue's length limit: the random part shrinks first (never below 8), then
    the `qs-` prefix goes, then the name is shortened. Name and epoch stay
    readable in the venue's own UI and lookups."""
    rnd = random_hex or (uuid.uuid4().hex + uuid.uuid4().hex)
    tail = f"-e{epoch}-"
    for head in (f"qs-{name}", name):
        room = max_len - len(head) - len(tail)
        if room >= MIN_RANDOM_CHARS:
            return f"{head}{tail}{rnd[:min(20, room)]}"
    keep = max_len - len(tail) - MIN_RANDOM_CHARS
    if keep < 1:
        raise ValueError(f"a client order id of {max_len} characters cannot hold name, epoch {epoch} and "
                         f"{MIN_RANDOM_CHARS} random characters")
    return f"{name[:keep]}{tail}{rnd[:MIN_RANDOM_CHARS]}"


# `<name>-e<epoch>-<8..20 hex>`; the name is greedy so that a name containing
# "-e<digits>-" itself still splits at the last separator (the random part has no "-").
_COID = re.compile(r"(?P<name>.+)-e(?P<epoch>0|[1-9][0-9]*)-(?P<rnd>[0-9a-f]{%d,20})" % MIN_RANDOM_CHARS)


def parse_client_order_id(coid: str | None) -> tuple[str, int] | None:
    """The inverse of make_client_order_id: (name, epoch) of an id it made, in
    any of its shapes - `qs-<name>-e<epoch>-<hex>`, `<name>-e<epoch>-<hex>`, and
    the shortened-name form, for which the name returned is the shortened one
    (a prefix of the bot's name). None for anything else (ids of other software,
    orders placed by hand on the venue's website)."""
    if not coid or not isinstance(coid, str):
        return None
    m = _COID.fullmatch(coid)
    if m is None:
        return None
    name = m.group("name")
    # The `qs-` prefix is dropped only when the id was too long with it, so an id
    # that starts with it was made with it - unless nothing would be left of the name.
    if name.startswith("qs-") and len(name) > 3:
        name = name[3:]
    return name, int(m.group("epoch"))


@dataclass(frozen=True)
class FencedOrder:
    """An order the venue executed under an older epoch's client order id of
    this account after that epoch ended (DESIGN §4: a broker cannot check our
    fencing token, so the lease holder detects these)."""
    client_order_id: str
    order_epoch: int
    holder_epoch: int
    symbol: str
    side: str
    filled_qty: float
    avg_price: float | None
    executed_at: dt.datetime | None


class Broker(Protocol):
    name: str

    def new_client_order_id(self, name: str, epoch: int) -> str:
        """An id the venue accepts, containing bot name and leader epoch."""

    def reconcile(self, *, may_send: Callable[[], bool] | None = None) -> list[str]:
        """Bring the store in line with the venue; returns human-readable notes.
        Raises when the venue cannot be reached (the bot retries; no READY=1)."""

    def sync(self, *, may_send: Callable[[], bool] | None = None) -> list[OrderResult]:
        """Resolve orders still open in the store by client order id (never by
        resending), and cancel working orders older than the broker's maximum
        age (a write: only while may_send() allows); returns the orders whose
        status changed."""

    def account(self) -> AccountState: ...

    def submit(self, req: OrderRequest, *, may_send: Callable[[], bool] | None = None) -> OrderResult:
        """Send once. may_send is the holder's send budget: checked before every
        send and resend, and before each lookup after a back-off."""

    def lookup(self, client_order_id: str) -> OrderResult | None: ...

    def cancel(self, client_order_id: str, *, may_send: Callable[[], bool] | None = None) -> OrderResult | None:
        """Cancel a working order at the venue, then resolve it by lookup (a fill
        that raced the cancel is booked): CANCELED or FILLED. An order already
        final answers its status; nothing is sent without may_send()."""
