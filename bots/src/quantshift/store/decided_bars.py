"""decided_bars: the bars the trading coordinator has acted on, once each
(migration 0003). A ledger table: only the lease holder's fence may insert."""
from __future__ import annotations

from typing import Sequence


def claim(cur, account: str, bar_ts: int, epoch: int, host_id: str, strategies: Sequence[str],
          degraded: bool) -> bool:
    """Record the decision; False when the bar was already decided (a duplicate)."""
    cur.execute("""INSERT INTO decided_bars (account, bar_ts, epoch, host_id, strategies, degraded)
                   VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (account, bar_ts) DO NOTHING RETURNING bar_ts""",
                (account, int(bar_ts), int(epoch), host_id, list(strategies), bool(degraded)))
    return cur.fetchone() is not None


def newest(cur, account: str) -> int | None:
    """The newest bar decided for the account (None: none yet)."""
    cur.execute("SELECT max(bar_ts) FROM decided_bars WHERE account = %s", (account,))
    return cur.fetchone()[0]


def count(cur, account: str) -> int:
    cur.execute("SELECT count(*) FROM decided_bars WHERE account = %s", (account,))
    return cur.fetchone()[0]
