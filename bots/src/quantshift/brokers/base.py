"""One narrow broker interface for sim, alpaca and ccxt.

Safety rules every adapter follows (DESIGN §3, nautilus/hummingbot lessons):
* the bot stores the order PENDING with its client order id BEFORE submit();
* the adapter records the outcome (status, fills, positions, cash) in the store;
* a timeout / 5xx is an UNKNOWN order, resolved with lookup(client_order_id),
  never by sending it again;
* reconcile() runs at start, and the bot neither trades nor sends READY=1 until
  it succeeded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..store.positions import Position


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    qty: float


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


class Broker(Protocol):
    name: str

    def reconcile(self) -> list[str]:
        """Bring the store in line with the venue; returns human-readable notes."""

    def account(self) -> AccountState: ...

    def submit(self, req: OrderRequest) -> OrderResult: ...

    def lookup(self, client_order_id: str) -> OrderResult | None: ...
