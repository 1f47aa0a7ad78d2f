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


# The seed's "5-minute cooldown between failovers", in either direction: what
# counts as a failover of an account, in one place.
FAILOVER_EVENTS = ("failover", "lease_takeover")


def seconds_since_last_failover(cur, account: str) -> float | None:
    """Seconds (database clock) since the account's last failover to any host,
    None if it never failed over."""
    cur.execute("""SELECT EXTRACT(EPOCH FROM now() - max(created_at))::float8 FROM failover_events
                   WHERE account = %s AND event = ANY(%s)""", (account, list(FAILOVER_EVENTS)))
    row = cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])


def last_durations(cur) -> dict[str, float]:
    """account -> duration of its last failover (whichever host did it)."""
    cur.execute("""SELECT DISTINCT ON (account) account, duration_seconds FROM failover_events
                   WHERE event = 'failover' ORDER BY account, created_at DESC""")
    return {a: float(d or 0) for a, d in cur.fetchall()}


def takeover_unfinished(cur, account: str, epoch: int, host_id: str) -> bool:
    """host_id took the account's lease at this epoch (takeover) but recorded no
    finished failover for it: the monitor crashed half-way."""
    cur.execute("""SELECT bool_or(event = 'lease_takeover' AND to_holder = %s), bool_or(event = 'failover')
                   FROM failover_events WHERE account = %s AND epoch = %s""", (host_id, account, int(epoch)))
    taken, finished = cur.fetchone()
    return bool(taken) and not finished
