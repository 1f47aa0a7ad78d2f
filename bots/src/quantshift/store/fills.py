"""fills: executions reported by the broker (the sim broker writes them in the
same transaction as the position and cash change)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    account: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    filled_at: dt.datetime


def insert(cur, *, client_order_id: str, account: str, symbol: str, side: str, qty: float, price: float,
           fee: float) -> None:
    cur.execute("""INSERT INTO fills (client_order_id, account, symbol, side, qty, price, fee)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                (client_order_id, account, symbol, side, qty, price, fee))


def for_order(cur, client_order_id: str) -> list[Fill]:
    cur.execute("""SELECT client_order_id, account, symbol, side, qty::float8, price::float8, fee::float8, filled_at
                   FROM fills WHERE client_order_id = %s ORDER BY id""", (client_order_id,))
    return [Fill(*r) for r in cur.fetchall()]


def last_buy_price(cur, account: str, symbol: str) -> float | None:
    """The price of the account's newest buy of symbol: the best guess at an
    entry price when the venue reports a position without one."""
    cur.execute("""SELECT price::float8 FROM fills WHERE account = %s AND symbol = %s AND side = 'buy'
                   ORDER BY id DESC LIMIT 1""", (account, symbol))
    r = cur.fetchone()
    return float(r[0]) if r else None


def for_account(cur, account: str, limit: int = 100) -> list[Fill]:
    cur.execute("""SELECT client_order_id, account, symbol, side, qty::float8, price::float8, fee::float8, filled_at
                   FROM fills WHERE account = %s ORDER BY id DESC LIMIT %s""", (account, limit))
    return [Fill(*r) for r in cur.fetchall()]
