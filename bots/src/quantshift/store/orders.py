"""orders: every order is stored PENDING (with its client order id) before the
broker is called, so a crash between send and answer cannot lose it; the id is
UNIQUE, so the same order can never be recorded (or sent) twice."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

STATUSES = ("PENDING", "ACCEPTED", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "UNKNOWN")
OPEN_STATUSES = ("PENDING", "ACCEPTED", "PARTIALLY_FILLED", "UNKNOWN")


@dataclass(frozen=True)
class Order:
    client_order_id: str
    account: str
    host_id: str
    epoch: int
    symbol: str
    side: str
    qty: float
    status: str
    strategy: str | None
    broker_order_id: str | None
    filled_qty: float
    avg_fill_price: float | None
    error: str | None
    created_at: dt.datetime


_COLS = ("client_order_id, account, host_id, epoch, symbol, side, qty::float8, status, strategy, broker_order_id, "
         "filled_qty::float8, avg_fill_price::float8, error, created_at")


def create_pending(cur, *, client_order_id: str, account: str, host_id: str, epoch: int, symbol: str,
                   side: str, qty: float, strategy: str | None = None, order_type: str = "market") -> None:
    cur.execute("""INSERT INTO orders (client_order_id, account, host_id, epoch, symbol, side, qty, order_type,
                                       status, strategy)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'PENDING', %s)""",
                (client_order_id, account, host_id, epoch, symbol, side, qty, order_type, strategy))


def set_status(cur, client_order_id: str, status: str, *, broker_order_id: str | None = None,
               filled_qty: float | None = None, avg_fill_price: float | None = None,
               error: str | None = None) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown order status {status!r}")
    cur.execute("""UPDATE orders SET status = %s, broker_order_id = COALESCE(%s, broker_order_id),
                          filled_qty = COALESCE(%s, filled_qty), avg_fill_price = COALESCE(%s, avg_fill_price),
                          error = COALESCE(%s, error), updated_at = now()
                   WHERE client_order_id = %s""",
                (status, broker_order_id, filled_qty, avg_fill_price, error, client_order_id))
    if cur.rowcount != 1:
        raise KeyError(client_order_id)


def lock(cur, client_order_id: str) -> None:
    """Row lock until the transaction ends: two processes reading the same order
    (the primary's submit, a restarted bot's reconcile) must not both book the
    same fill delta. No row, no lock (an order that is not ours)."""
    cur.execute("SELECT 1 FROM orders WHERE client_order_id = %s FOR UPDATE", (client_order_id,))


def get(cur, client_order_id: str) -> Order | None:
    cur.execute(f"SELECT {_COLS} FROM orders WHERE client_order_id = %s", (client_order_id,))
    r = cur.fetchone()
    return Order(*r) if r else None


def open_orders(cur, account: str) -> list[Order]:
    cur.execute(f"SELECT {_COLS} FROM orders WHERE account = %s AND status = ANY(%s) ORDER BY id",
                (account, list(OPEN_STATUSES)))
    return [Order(*r) for r in cur.fetchall()]


def recent(cur, account: str, limit: int = 50) -> list[Order]:
    cur.execute(f"SELECT {_COLS} FROM orders WHERE account = %s ORDER BY id DESC LIMIT %s", (account, limit))
    return [Order(*r) for r in cur.fetchall()]


def count_by_status(cur, account: str) -> dict[str, int]:
    cur.execute("SELECT status, count(*) FROM orders WHERE account = %s GROUP BY status", (account,))
    return {s: int(n) for s, n in cur.fetchall()}
