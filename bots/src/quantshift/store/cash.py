"""cash: the account's cash balance (the sim broker's ledger)."""
from __future__ import annotations


def ensure(cur, account: str, initial: float) -> float:
    """Create the balance with `initial` if absent; return the current balance."""
    cur.execute("INSERT INTO cash (account, balance) VALUES (%s, %s) ON CONFLICT (account) DO NOTHING",
                (account, initial))
    return get(cur, account)


def get(cur, account: str) -> float:
    cur.execute("SELECT balance::float8 FROM cash WHERE account = %s", (account,))
    r = cur.fetchone()
    if r is None:
        raise KeyError(account)
    return float(r[0])


def add(cur, account: str, delta: float) -> float:
    cur.execute("UPDATE cash SET balance = balance + %s, updated_at = now() WHERE account = %s RETURNING balance::float8",
                (delta, account))
    r = cur.fetchone()
    if r is None:
        raise KeyError(account)
    return float(r[0])
