"""The leader lease (DESIGN §4): the database is the arbiter of who may trade.

One row per account in `leader`. Every time is the database's now(); the
seconds remaining are computed by the database too, so no two host clocks are
ever compared. Each state change is a single conditional UPDATE, i.e. a
compare-and-set that PostgreSQL serialises per row:

* renew      succeeds only while (holder, epoch) are unchanged — a primary whose
             lease was taken over can never renew it back;
* take_over_if_expired  only when lease_expires_at < now(), epoch + 1;
* hand_over  planned switchover, only from the current holder, epoch + 1.

A bot never takes a lease held by another host (even an expired one): that is
the failover monitor's job. Takeovers and handovers also write a
failover_events row in the same transaction.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import failover_events
from .db import Database

_COLUMNS = ("account, holder, epoch, lease_expires_at, "
            "EXTRACT(EPOCH FROM (lease_expires_at - now()))::float8 AS remaining, updated_at, epoch_since")


@dataclass(frozen=True)
class Lease:
    account: str
    holder: str
    epoch: int
    expires_at: dt.datetime
    remaining_seconds: float  # computed by the database at read time; <= 0 means expired
    updated_at: dt.datetime
    epoch_since: dt.datetime  # when this epoch began (init, takeover or handover)

    @property
    def expired(self) -> bool:
        return self.remaining_seconds <= 0

    def as_dict(self) -> dict:
        return {"account": self.account, "holder": self.holder, "epoch": self.epoch,
                "lease_expires_at": self.expires_at.isoformat(),
                "remaining_seconds": round(self.remaining_seconds, 3),
                "expired": self.expired, "updated_at": self.updated_at.isoformat(),
                "epoch_since": self.epoch_since.isoformat()}


def _row(r) -> Lease | None:
    if r is None:
        return None
    return Lease(r[0], r[1], int(r[2]), r[3], float(r[4]), r[5], r[6])


def init(cur, account: str, holder: str, ttl: float = 60.0) -> tuple[bool, Lease]:
    """Insert the leader row if absent (epoch 1). Never changes an existing row.
    Returns (created, current lease)."""
    cur.execute(f"""INSERT INTO leader (account, holder, epoch, lease_expires_at, updated_at)
                    VALUES (%s, %s, 1, now() + make_interval(secs => %s), now())
                    ON CONFLICT (account) DO NOTHING
                    RETURNING {_COLUMNS}""", (account, holder, float(ttl)))
    r = cur.fetchone()
    if r is not None:
        failover_events.record(cur, "lease_init", account=account, to_holder=holder, epoch=1)
        return True, _row(r)
    return False, current(cur, account)


def renew(cur, account: str, holder: str, epoch: int, ttl: float) -> Lease | None:
    """Extend the lease by ttl from the database's now(); None if (holder, epoch)
    no longer match (someone took over, or the row is gone)."""
    cur.execute(f"""UPDATE leader SET lease_expires_at = now() + make_interval(secs => %s), updated_at = now()
                    WHERE account = %s AND holder = %s AND epoch = %s
                    RETURNING {_COLUMNS}""", (float(ttl), account, holder, int(epoch)))
    return _row(cur.fetchone())


def take_over_if_expired(cur, account: str, new_holder: str, ttl: float) -> Lease | None:
    """Compare-and-set: take the lease only if it has expired; epoch + 1."""
    cur.execute("SELECT holder, epoch FROM leader WHERE account = %s", (account,))
    before = cur.fetchone()
    cur.execute(f"""UPDATE leader SET holder = %s, epoch = epoch + 1, epoch_since = now(),
                           lease_expires_at = now() + make_interval(secs => %s), updated_at = now()
                    WHERE account = %s AND lease_expires_at < now()
                    RETURNING {_COLUMNS}""", (new_holder, float(ttl), account))
    lease = _row(cur.fetchone())
    if lease is not None:
        failover_events.record(cur, "lease_takeover", account=account,
                                from_holder=before[0] if before else None, to_holder=new_holder, epoch=lease.epoch)
    return lease


def hand_over(cur, account: str, from_holder: str, to_holder: str, ttl: float) -> Lease | None:
    """Planned switchover: only if from_holder holds the row now; epoch + 1."""
    cur.execute(f"""UPDATE leader SET holder = %s, epoch = epoch + 1, epoch_since = now(),
                           lease_expires_at = now() + make_interval(secs => %s), updated_at = now()
                    WHERE account = %s AND holder = %s
                    RETURNING {_COLUMNS}""", (to_holder, float(ttl), account, from_holder))
    lease = _row(cur.fetchone())
    if lease is not None:
        failover_events.record(cur, "lease_handover", account=account, from_holder=from_holder,
                                to_holder=to_holder, epoch=lease.epoch)
    return lease


def current(cur, account: str) -> Lease | None:
    cur.execute(f"SELECT {_COLUMNS} FROM leader WHERE account = %s", (account,))
    return _row(cur.fetchone())


class LeaderLease:
    """The same operations, each in its own transaction on a Database."""

    def __init__(self, db: Database):
        self.db = db

    def init(self, account: str, holder: str, ttl: float = 60.0) -> tuple[bool, Lease]:
        with self.db.transaction() as cur:
            return init(cur, account, holder, ttl)

    def renew(self, account: str, holder: str, epoch: int, ttl: float) -> Lease | None:
        with self.db.transaction() as cur:
            return renew(cur, account, holder, epoch, ttl)

    def take_over_if_expired(self, account: str, new_holder: str, ttl: float) -> Lease | None:
        with self.db.transaction() as cur:
            return take_over_if_expired(cur, account, new_holder, ttl)

    def hand_over(self, account: str, from_holder: str, to_holder: str, ttl: float) -> Lease | None:
        with self.db.transaction() as cur:
            return hand_over(cur, account, from_holder, to_holder, ttl)

    def current(self, account: str) -> Lease | None:
        with self.db.transaction() as cur:
            return current(cur, account)
