"""positions: quantity and average entry price per (account, symbol); flat
positions are deleted so "open positions" is simply the row count."""
from __future__ import annotations

from dataclasses import dataclass

# Quantities below this are float dust from fractional fills, i.e. flat.
QTY_EPSILON = 1e-9


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float
    avg_price: float


def for_account(cur, account: str) -> dict[str, Position]:
    cur.execute("""SELECT symbol, qty::float8, avg_price::float8 FROM positions
                   WHERE account = %s ORDER BY symbol""", (account,))
    return {s: Position(s, q, p) for s, q, p in cur.fetchall()}


def apply_fill(cur, account: str, symbol: str, side: str, qty: float, price: float) -> Position | None:
    """Update the position for a fill (long-only book: a sell reduces, never flips).
    Returns the new position, or None when flat."""
    cur.execute("SELECT qty::float8, avg_price::float8 FROM positions WHERE account = %s AND symbol = %s FOR UPDATE",
                (account, symbol))
    r = cur.fetchone()
    old_qty, old_avg = (r if r else (0.0, 0.0))
    if side == "buy":
        new_qty = old_qty + qty
        new_avg = (old_qty * old_avg + qty * price) / new_qty
    elif side == "sell":
        if qty > old_qty + QTY_EPSILON:
            raise ValueError(f"sell {qty} {symbol} exceeds position {old_qty}")
        new_qty, new_avg = old_qty - qty, old_avg
    else:
        raise ValueError(f"unknown side {side!r}")
    if new_qty <= QTY_EPSILON:
        cur.execute("DELETE FROM positions WHERE account = %s AND symbol = %s", (account, symbol))
        return None
    cur.execute("""INSERT INTO positions (account, symbol, qty, avg_price, updated_at) VALUES (%s, %s, %s, %s, now())
                   ON CONFLICT (account, symbol) DO UPDATE
                   SET qty = EXCLUDED.qty, avg_price = EXCLUDED.avg_price, updated_at = now()""",
                (account, symbol, new_qty, new_avg))
    return Position(symbol, new_qty, new_avg)


def lock_account(cur, account: str) -> None:
    """One mirror of the venue's positions at a time per account, until the
    transaction ends (delete + insert would race another process's)."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"quantshift-mirror-{account}",))


def replace_all(cur, account: str, positions: dict[str, Position]) -> None:
    """Reconciliation: make the table equal to the broker's view."""
    cur.execute("DELETE FROM positions WHERE account = %s", (account,))
    for p in positions.values():
        cur.execute("INSERT INTO positions (account, symbol, qty, avg_price) VALUES (%s, %s, %s, %s)",
                    (account, p.symbol, p.qty, p.avg_price))
