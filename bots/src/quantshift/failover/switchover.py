"""Planned switchover steps (the quantshift_ha role calls these through
`quantshift-ha`): check that a switchover is safe now, wait for Redis to catch
up, hand the leases over, wait for the new primary's bots. Host-level steps
(stopping and starting units) stay in the role; every health rule and verdict
lives here only.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .. import logs
from ..store import heartbeat, leader_lease
from ..store.db import Database
from . import redis_role
from .monitor_config import MonitorConfig, Monitored

log = logging.getLogger(__name__)


@dataclass
class ClusterState:
    leases: dict[str, dict]          # account -> lease as_dict()
    heartbeats: dict[str, dict]      # account -> {host: {age_seconds, is_primary, status}}
    redis: dict                      # local Redis: role, link_up, last_io_seconds, offset

    def as_dict(self) -> dict:
        return {"leases": self.leases, "heartbeats": self.heartbeats, "redis": self.redis}


def cluster_state(cfg: MonitorConfig, m: Monitored, db: Database) -> ClusterState:
    leases, beats = {}, {}
    with db.transaction() as cur:
        for account in m.accounts:
            lease = leader_lease.current(cur, account)
            leases[account] = lease.as_dict() if lease else None
            beats[account] = {s.host_id: {"age_seconds": round(s.age_seconds, 3), "is_primary": s.is_primary,
                                          "status": s.status} for s in heartbeat.for_account(cur, account)}
    try:
        st = redis_role.state(redis_role.client(m.redis.url, m.redis.password))
        rinfo = {"role": st.role, "link_up": st.link_up, "last_io_seconds": st.last_io_seconds, "offset": st.offset}
    except Exception as e:  # Redis down is a state to report, not a crash
        rinfo = {"role": "unreachable", "error": type(e).__name__}
    return ClusterState(leases, beats, rinfo)


# The master pings its replicas every repl-ping-replica-period (10 s), so an idle
# healthy link reads up to 10 s since its last I/O; twice that means trouble.
MAX_REPLICA_IO_AGE_SECONDS = 20.0


def fresh_heartbeat_limit(m: Monitored) -> float:
    """A bot whose heartbeat is older than this is not healthy for a switchover
    (three missed beats)."""
    return 3 * m.heartbeat_interval_seconds


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str

    def as_dict(self) -> dict:
        return {"ok": self.ok, "changed": False, "reason": self.reason}


def precheck(state: ClusterState, m: Monitored, old: str, new: str) -> Verdict:
    """Is a planned switchover old -> new safe now? Read on the target: old holds
    every lease and its bots heartbeat, the target's Redis replicates."""
    holders = {a: (lease or {}).get("holder") for a, lease in state.leases.items()}
    if set(holders.values()) != {old}:
        return Verdict(False, f"leases are held by {holders}, not all by {old}")
    limit = fresh_heartbeat_limit(m)
    for account in m.accounts:
        beat = state.heartbeats.get(account, {}).get(old)
        if beat is None or beat["age_seconds"] > limit:
            age = "none" if beat is None else f"{beat['age_seconds']:.1f} s old"
            return Verdict(False, f"{account} on {old} is not healthy: heartbeat {age} (limit {limit:g} s)")
        if not beat["is_primary"]:
            return Verdict(False, f"{account} on {old} is not trading: {beat['status']}")
    r = state.redis
    if r.get("role") != "slave" or not r.get("link_up"):
        return Verdict(False, f"{new}'s Redis does not replicate: {r}")
    if r["last_io_seconds"] is None or r["last_io_seconds"] > MAX_REPLICA_IO_AGE_SECONDS:
        return Verdict(False, f"{new}'s Redis last heard from its master {r['last_io_seconds']} s ago "
                              f"(limit {MAX_REPLICA_IO_AGE_SECONDS:g} s)")
    ages = ", ".join(f"{a} {state.heartbeats[a][old]['age_seconds']:.1f} s" for a in m.accounts)
    return Verdict(True, f"{old} trades every account (heartbeats {ages}); {new}'s Redis replicates "
                         f"(last I/O {r['last_io_seconds']:g} s ago)")


def wait_replica_caught_up(m: Monitored, master_host: str, master_port: int, timeout: float) -> float:
    """With writes stopped on the master, wait until the local replica's offset
    equals the master's. Returns the seconds waited; raises TimeoutError."""
    local = redis_role.client(m.redis.url, m.redis.password)
    master = redis_role.client(f"redis://{master_host}:{master_port}/0", m.redis.password)
    t0 = time.monotonic()
    while True:
        master_offset = int(master.info("replication")["master_repl_offset"])
        st = redis_role.state(local)
        if st.role == "slave" and st.link_up and st.offset >= master_offset:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"replica at offset {st.offset}, master at {master_offset} after {timeout:.0f} s")
        time.sleep(0.1)


def live_bots(m: Monitored, db: Database, host: str) -> list[str]:
    """The accounts whose bot on `host` is alive: not cleanly stopped, with a
    heartbeat younger than the lease (a younger one may still be trading)."""
    alive = []
    with db.transaction() as cur:
        for account in m.accounts:
            for s in heartbeat.for_account(cur, account):
                if s.host_id == host and s.status != "STOPPED" and s.age_seconds < m.lease_ttl_seconds:
                    alive.append(f"{account} ({s.status}, heartbeat {s.age_seconds:.1f} s ago)")
    return alive


def hand_over(m: Monitored, db: Database, from_host: str, to_host: str, *, force: bool = False) -> dict[str, str]:
    """Move every account's lease from from_host to to_host (epoch + 1).
    Idempotent: an account already held by to_host is left as is. Refused while
    from_host's bots are alive (they would trade on until their local lease ran
    out), unless force."""
    result = {}
    ll = leader_lease.LeaderLease(db)
    leases = {a: ll.current(a) for a in m.accounts}
    if not force and any(lease is not None and lease.holder == from_host for lease in leases.values()):
        alive = live_bots(m, db, from_host)
        if alive:
            raise RuntimeError(f"bots on {from_host} are alive: {', '.join(alive)}; stop them first "
                               "(or pass --force)")
    for account in m.accounts:
        current = leases[account]
        if current is not None and current.holder == to_host:
            result[account] = f"unchanged (epoch {current.epoch})"
            continue
        lease = ll.hand_over(account, from_host, to_host, m.lease_ttl_seconds)
        if lease is None:
            raise RuntimeError(f"lease {account} is held by {current.holder if current else 'nobody'}, "
                               f"not {from_host}: refusing to hand it over")
        result[account] = f"changed (epoch {lease.epoch})"
        log.warning("handed the lease of %s from %s to %s at epoch %d", account, from_host, to_host, lease.epoch,
                    **logs.fields(account=account, epoch=lease.epoch))
    return result


def wait_primary(m: Monitored, db: Database, host: str, timeout: float, max_age: float) -> float:
    """Wait until every account's bot on `host` reports PRIMARY with a heartbeat
    younger than max_age seconds. Returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        with db.transaction() as cur:
            ok = all(any(s.host_id == host and s.is_primary and s.age_seconds <= max_age
                         for s in heartbeat.for_account(cur, account)) for account in m.accounts)
        if ok:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"bots on {host} did not report PRIMARY within {timeout:.0f} s")
        time.sleep(0.5)
