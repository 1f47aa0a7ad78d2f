"""The single-trader audit: judged by what took effect, not by when a row was made.

Every execution (a fill, i.e. the broker's acknowledgement that something was
bought or sold) must belong to an order of the host that held the account's
lease at the moment of execution, under the epoch in force then. An order's
`created_at` says nothing: a process frozen after creating its order and
thawed after a takeover would create it inside its lease and execute it
outside. Orders a broker executed under an old epoch and the holder detected
(fenced_orders) count as violations too.

The queries are plain SQL so the chaos suite can run them on the lab's arbiter
through psql and feed the rows to `judge()`; unit tests run them directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# account, holder, epoch, start (unix seconds): the lease history.
LEASE_HISTORY_SQL = """SELECT account, to_holder, epoch, extract(epoch FROM created_at)::float8 FROM failover_events
                       WHERE event IN ('lease_init', 'lease_takeover', 'lease_handover') ORDER BY created_at, id"""
# account, host, epoch, executed at (unix seconds), client order id: every execution.
EXECUTIONS_SQL = """SELECT o.account, o.host_id, o.epoch, extract(epoch FROM f.filled_at)::float8, o.client_order_id
                    FROM fills f JOIN orders o USING (client_order_id) ORDER BY f.filled_at, f.id"""
# client order id, order epoch, holder epoch: executions found at a broker after their epoch.
FENCED_SQL = "SELECT client_order_id, order_epoch, holder_epoch FROM fenced_orders ORDER BY id"


@dataclass
class Verdict:
    executions: int = 0
    violations: list[str] = field(default_factory=list)
    overlap_seconds: float = 0.0  # longest time an execution came after its epoch ended


def judge(history, executions, fenced=()) -> Verdict:
    """Rows as the queries return them (strings from psql are accepted)."""
    timeline: dict[str, list[tuple[float, str, int]]] = {}
    for account, holder, epoch, t in history:
        timeline.setdefault(account, []).append((float(t), holder, int(epoch)))
    v = Verdict()
    for account, host, epoch, t, coid in executions:
        v.executions += 1
        t = float(t)
        periods = [p for p in timeline.get(account, []) if p[0] <= t]
        if not periods:
            v.violations.append(f"{coid}: {account} executed for {host} before any lease")
            continue
        start, holder, lease_epoch = periods[-1]
        if (host, int(epoch)) != (holder, lease_epoch):
            v.violations.append(f"{coid}: {account} executed for {host} epoch {epoch} while {holder} held epoch "
                                f"{lease_epoch} (for {t - start:.2f} s)")
            v.overlap_seconds = max(v.overlap_seconds, t - start)
    for coid, order_epoch, holder_epoch in fenced:
        v.violations.append(f"{coid}: executed at the broker under epoch {order_epoch} after epoch {holder_epoch} "
                            "began (fenced order)")
    return v


def audit(cur) -> Verdict:
    cur.execute(LEASE_HISTORY_SQL)
    history = cur.fetchall()
    cur.execute(EXECUTIONS_SQL)
    executions = cur.fetchall()
    cur.execute(FENCED_SQL)
    return judge(history, executions, cur.fetchall())
