"""monitor_checks: when each failover monitor last reached the arbiter, and
since when without a gap.

A primary's heartbeat is stale only if nobody could have missed it: during an
arbiter outage (database host paused, stopped or cut off) no heartbeat can be
written, yet on its return every heartbeat looks as old as the outage. So the
monitor judges staleness by min(heartbeat age, time the arbiter has been
reachable without a gap), both on the database's clock. The row is in the
database, not in the monitor's memory, so a restarted monitor or the manual
`--once` check keeps the record.
"""
from __future__ import annotations


def record_check(cur, host_id: str, max_gap_seconds: float) -> float:
    """Record a successful check now; a gap longer than max_gap_seconds since the
    previous one starts a new reachable period. Returns the seconds the arbiter
    has been reachable without a gap (database clock)."""
    cur.execute("""INSERT INTO monitor_checks AS m (host_id, last_check_at, reachable_since)
                   VALUES (%s, now(), now())
                   ON CONFLICT (host_id) DO UPDATE SET
                       reachable_since = CASE WHEN m.last_check_at < now() - make_interval(secs => %s)
                                              THEN now() ELSE m.reachable_since END,
                       last_check_at = now()
                   RETURNING EXTRACT(EPOCH FROM now() - reachable_since)::float8""",
                (host_id, float(max_gap_seconds)))
    return float(cur.fetchone()[0])
