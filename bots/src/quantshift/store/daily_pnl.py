"""daily_pnl: start-of-day portfolio value and the latched kill switch per UTC
day (the database's current_date in UTC), so a restart keeps both."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class DailyPnl:
    day: dt.date
    start_value: float
    last_value: float
    limit_hit: bool

    @property
    def pnl(self) -> float:
        return self.last_value - self.start_value


def update(cur, account: str, value: float) -> DailyPnl:
    """Record the current value; the first call of a UTC day sets start_value."""
    cur.execute("""INSERT INTO daily_pnl (account, day, start_value, last_value)
                   VALUES (%s, (now() AT TIME ZONE 'UTC')::date, %s, %s)
                   ON CONFLICT (account, day) DO UPDATE SET last_value = EXCLUDED.last_value, updated_at = now()
                   RETURNING day, start_value::float8, last_value::float8, limit_hit""", (account, value, value))
    return DailyPnl(*cur.fetchone())


def set_limit_hit(cur, account: str, day: dt.date) -> None:
    cur.execute("UPDATE daily_pnl SET limit_hit = true, updated_at = now() WHERE account = %s AND day = %s",
                (account, day))


def reset(cur, account: str) -> tuple[DailyPnl, DailyPnl] | None:
    """An operator's early reset of today's latched kill switch: entries resume,
    and the day starts again from the last recorded value (with the old start
    the same loss would trip it again at the next cycle). Returns (before,
    after), or None when today's switch is not set. A ledger write: only the
    lease holder's fence lets it through."""
    cur.execute("""SELECT day, start_value::float8, last_value::float8, limit_hit FROM daily_pnl
                   WHERE account = %s AND day = (now() AT TIME ZONE 'UTC')::date FOR UPDATE""", (account,))
    row = cur.fetchone()
    if row is None or not row[3]:
        return None
    cur.execute("""UPDATE daily_pnl SET limit_hit = false, start_value = last_value, updated_at = now()
                   WHERE account = %s AND day = %s
                   RETURNING day, start_value::float8, last_value::float8, limit_hit""", (account, row[0]))
    return DailyPnl(*row), DailyPnl(*cur.fetchone())
