"""bot_status: one row per (account, host) with the last heartbeat (database now()).

The failover monitor reads `last_heartbeat` to judge staleness; `starts` counts
process starts on this host (restarts_total = starts - 1).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class BotStatus:
    account: str
    host_id: str
    status: str
    epoch: int | None
    is_primary: bool
    pid: int | None
    version: str | None
    starts: int
    started_at: dt.datetime
    last_heartbeat: dt.datetime
    age_seconds: float  # now() - last_heartbeat, computed by the database
    detail: str | None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["started_at"] = self.started_at.isoformat()
        d["last_heartbeat"] = self.last_heartbeat.isoformat()
        d["age_seconds"] = round(self.age_seconds, 3)
        return d


def register_start(cur, account: str, host_id: str, pid: int, version: str) -> int:
    """Record a process start; returns the number of starts on this host (1 = first)."""
    cur.execute("""INSERT INTO bot_status (account, host_id, status, pid, version, starts, started_at, last_heartbeat)
                   VALUES (%s, %s, 'STARTING', %s, %s, 1, now(), now())
                   ON CONFLICT (account, host_id) DO UPDATE
                   SET status = 'STARTING', pid = EXCLUDED.pid, version = EXCLUDED.version,
                       starts = bot_status.starts + 1, started_at = now(), last_heartbeat = now(),
                       is_primary = false
                   RETURNING starts""", (account, host_id, pid, version))
    return int(cur.fetchone()[0])


def beat(cur, account: str, host_id: str, status: str, *, epoch: int | None, is_primary: bool,
         detail: str | None = None) -> None:
    cur.execute("""INSERT INTO bot_status (account, host_id, status, epoch, is_primary, detail, last_heartbeat)
                   VALUES (%s, %s, %s, %s, %s, %s, now())
                   ON CONFLICT (account, host_id) DO UPDATE
                   SET status = EXCLUDED.status, epoch = EXCLUDED.epoch, is_primary = EXCLUDED.is_primary,
                       detail = EXCLUDED.detail, last_heartbeat = now()""",
                (account, host_id, status, epoch, is_primary, detail))


def for_account(cur, account: str) -> list[BotStatus]:
    cur.execute("""SELECT account, host_id, status, epoch, is_primary, pid, version, starts, started_at,
                          last_heartbeat, EXTRACT(EPOCH FROM (now() - last_heartbeat))::float8, detail
                   FROM bot_status WHERE account = %s ORDER BY host_id""", (account,))
    return [BotStatus(*r) for r in cur.fetchall()]
