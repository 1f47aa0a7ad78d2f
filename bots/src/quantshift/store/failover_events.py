"""failover_events: one row per thing the monitor, a playbook or the lease did."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class FailoverEvent:
    id: int
    account: str | None
    event: str
    from_holder: str | None
    to_holder: str | None
    epoch: int | None
    duration_seconds: float | None
    detail: str | None
    created_at: dt.datetime


def record(cur, event: str, *, account: str | None = None, from_holder: str | None = None,
           to_holder: str | None = None, epoch: int | None = None, duration_seconds: float | None = None,
           detail: str | None = None) -> int:
    cur.execute("""INSERT INTO failover_events (account, event, from_holder, to_holder, epoch, duration_seconds, detail)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (account, event, from_holder, to_holder, epoch, duration_seconds, detail))
    return int(cur.fetchone()[0])


def recent(cur, account: str | None = None, limit: int = 20) -> list[FailoverEvent]:
    if account is None:
        cur.execute("""SELECT id, account, event, from_holder, to_holder, epoch, duration_seconds, detail, created_at
                       FROM failover_events ORDER BY id DESC LIMIT %s""", (limit,))
    else:
        cur.execute("""SELECT id, account, event, from_holder, to_holder, epoch, duration_seconds, detail, created_at
                       FROM failover_events WHERE account = %s ORDER BY id DESC LIMIT %s""", (account, limit))
    return [FailoverEvent(*r) for r in cur.fetchall()]
