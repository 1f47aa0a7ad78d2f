"""fenced_orders: orders a broker executed under an older epoch's client order
id after that epoch ended. A broker cannot check our fencing token, so the
lease holder finds them (brokers/remote.py, every cycle) and records them
here; the bot counts them in `<prefix>_fenced_orders_total` and a critical
alert fires (docs/DECISIONS.md has the runbook)."""
from __future__ import annotations

import datetime as dt


def record(cur, *, account: str, client_order_id: str, order_epoch: int | None, holder_epoch: int, symbol: str,
           side: str, filled_qty: float, avg_price: float | None, executed_at: dt.datetime | None,
           detail: str | None = None) -> bool:
    """Record once; True when the order was not recorded before."""
    cur.execute("""INSERT INTO fenced_orders (account, client_order_id, order_epoch, holder_epoch, symbol, side,
                                              filled_qty, avg_price, executed_at, detail)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (client_order_id) DO NOTHING""",
                (account, client_order_id, order_epoch, holder_epoch, symbol, side, filled_qty, avg_price,
                 executed_at, detail))
    return cur.rowcount == 1


def known(cur, account: str) -> set[str]:
    cur.execute("SELECT client_order_id FROM fenced_orders WHERE account = %s", (account,))
    return {r[0] for r in cur.fetchall()}


def count(cur, account: str) -> int:
    cur.execute("SELECT count(*) FROM fenced_orders WHERE account = %s", (account,))
    return int(cur.fetchone()[0])
