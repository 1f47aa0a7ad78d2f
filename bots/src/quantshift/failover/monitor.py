"""The failover monitor: runs on every bot host, acts on the one that does not
hold the leases, takes over when the primary is stale. One loop: observe the
arbiter (here), decide (decision.py, pure), act (here and actions.py).

The seed's monitor (10 s checks, 60 s stale threshold, 5 min cooldown; promote
Redis, mark PRIMARY, start the bots, alert, log the duration) made safe the way
Patroni and Sentinel are (DESIGN §4):

* the database is the arbiter: the standby may take over only through the lease's
  compare-and-set, which succeeds only on an *expired* lease and bumps the epoch,
  so the old primary (which self-fences when it cannot renew) can never trade again
  under its old epoch;
* unreachable is not stale: when the standby cannot reach the database it alerts
  and does nothing else;
* every step is timed and recorded: a failover_events row, metrics, a webhook alert;
* an arbiter outage is not a primary failure: a heartbeat counts as stale only
  for as long as the arbiter has been reachable without a gap (monitor_checks),
  so a paused or restarted database host flips nothing;
* the pair heals itself: on a host that does not hold the leases the monitor
  stops and disables the local bots and makes the local Redis follow the
  holder's; a second failure fails over back once the cooldown allows;
* a crash half-way is finished on restart (a takeover without its failover
  event), and each step is idempotent;
* there is no automatic failback.
"""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
from typing import Callable

from .. import logs
from ..metrics import MonitorMetrics
from ..store import failover_events, heartbeat, leader_lease, monitor_checks
from ..store.db import Database, DatabaseUnavailable
from ..watchdog import Notifier
from . import actions
from .actions import Services, Systemd
from .decision import DB_UNREACHABLE, Decision, Observation, decide, next_check_in
from .monitor_config import MonitorConfig, Monitored

log = logging.getLogger("quantshift.failover")


class FailoverMonitor:
    def __init__(self, cfg: MonitorConfig, monitored: Monitored, *, db: Database | None = None,
                 services: Services | None = None, metrics: MonitorMetrics | None = None,
                 alert: Callable[[dict], object] | None = None, notifier: Notifier | None = None):
        self.cfg = cfg
        self.m = monitored
        logs.bind(host=cfg.host_id)
        self.db = db or Database.from_config(monitored.database, application_name=f"quantshift-monitor-{cfg.host_id}")
        self.services = services or Systemd()
        self.metrics = metrics or MonitorMetrics(cfg.metrics_port, cfg.metrics_bind)
        self.metrics.declare_accounts(monitored.accounts)
        self.alert = alert or (lambda payload: actions.post_alert(cfg.alert_webhook_url, payload))
        self.notifier = notifier if notifier is not None else Notifier()
        self._db_was_up = True
        self._last_obs: Observation | None = None
        self._stop = threading.Event()

    # -- observing --
    def max_gap_seconds(self) -> float:
        """Longest pause between two successful checks that still counts as one
        reachable period: two check intervals plus a slow connect."""
        return 2 * self.cfg.check_interval_seconds + self.m.database.connect_timeout_seconds

    def observe(self) -> Observation:
        me = self.cfg.host_id
        try:
            with self.db.transaction() as cur:
                obs = Observation(db_up=True)
                obs.reachable_for = monitor_checks.record_check(cur, me, self.max_gap_seconds())
                for account in self.m.accounts:
                    lease = leader_lease.current(cur, account)
                    if lease is None:
                        continue
                    obs.holders[account] = lease.holder
                    obs.epochs[account] = lease.epoch
                    obs.expired[account] = lease.expired
                    obs.remaining[account] = lease.remaining_seconds
                    beats = {s.host_id: s.age_seconds for s in heartbeat.for_account(cur, account)}
                    # Nobody could write a heartbeat while the arbiter was away from us.
                    obs.ages[account] = min(beats.get(lease.holder, float("inf")), obs.reachable_for)
                    obs.since_last_failover[account] = failover_events.seconds_since_last_failover(cur, account)
                    if lease.holder == me and failover_events.takeover_unfinished(cur, account, lease.epoch, me):
                        obs.unfinished.append(account)
                obs.last_durations = failover_events.last_durations(cur)
                return obs
        except DatabaseUnavailable as e:
            log.warning("arbiter database unreachable: %s", e)
            return Observation(db_up=False)

    def _export(self, obs: Observation) -> None:
        self.metrics.heartbeat.set(time.time())
        self.metrics.db_up.set(1 if obs.db_up else 0)
        if not obs.db_up:
            return
        for account, age in obs.ages.items():
            self.metrics.primary_age.labels(account=account).set(min(age, 1e9))
        for account in self.m.accounts:
            self.metrics.last_duration.labels(account=account).set(obs.last_durations.get(account, 0.0))

    # -- one check: observe, decide, act --
    def check_once(self) -> str:
        """One check; returns what it decided (for logs and tests)."""
        obs = self.observe()
        self._last_obs = obs
        self._export(obs)
        d = decide(obs, self.cfg, self.m.accounts)
        if d.verdict == DB_UNREACHABLE:
            # Unreachable is not stale: from here the standby cannot tell a dead
            # primary from its own partition, so it must not promote anything.
            if self._db_was_up:
                self.alert({"severity": "warning", "event": "standby_db_unreachable", "host": self.cfg.host_id,
                            "summary": f"failover monitor on {self.cfg.host_id} cannot reach the arbiter database; "
                                       "automatic failover is suspended"})
            self._db_was_up = False
            return d.verdict
        self._db_was_up = True
        return self.act(obs, d)

    def act(self, obs: Observation, d: Decision) -> str:
        if d.heal:
            self.heal(obs)
        for why in d.held_back:
            log.warning("%s", why)
        if d.take or d.finish:
            return self.fail_over(obs, list(d.take), list(d.finish))
        return d.verdict

    def fail_over(self, obs: Observation, stale: list[str], unfinished: list[str]) -> str:
        me = self.cfg.host_id
        old = next((obs.holders[a] for a in stale), None) or next(
            (h for h in obs.holders.values() if h != me), None)
        t0 = time.monotonic()
        steps: dict[str, float] = {}
        log.warning("failover of %s from %s (heartbeat age %s)%s", stale or unfinished, old,
                    {a: round(obs.ages[a], 1) for a in stale}, f"; finishing {unfinished}" if unfinished else "")

        # 1. take the stale leases (compare-and-set on expiry, epoch + 1)
        t = time.monotonic()
        epochs: dict[str, int] = {}
        ll = leader_lease.LeaderLease(self.db)
        try:
            for account in stale:
                lease = ll.take_over_if_expired(account, me, self.m.lease_ttl_seconds)
                if lease is None:
                    # Renewed or taken meanwhile: that primary is alive after all.
                    log.warning("lease %s not taken: renewed by its holder meanwhile", account)
                    self.metrics.failovers.labels(account=account, result="failed").inc()
                    continue
                epochs[account] = lease.epoch
                log.warning("took the lease of %s from %s at epoch %d", account, old, lease.epoch,
                            **logs.fields(account=account, epoch=lease.epoch))
            for account in unfinished:
                epochs[account] = obs.epochs[account]  # taken here earlier: observed this check
            mine = [a for a in self.m.accounts if (c := ll.current(a)) is not None and c.holder == me]
        except DatabaseUnavailable as e:
            log.error("database lost during takeover: %s", e)
            return "db_unreachable"
        steps["lease"] = time.monotonic() - t
        if not epochs:
            return "lease_not_taken"
        accounts = [a for a in self.m.accounts if a in epochs]

        # 2. promote the local Redis once this host trades every account (a whole-host failover)
        t = time.monotonic()
        redis_detail = "kept (not every account moved here)"
        if len(mine) == len(self.m.accounts):
            redis_detail = actions.promote_redis(self.m.redis, self.cfg.redis_replication_file or None)
        steps["redis"] = time.monotonic() - t

        # 3. start the bots and wait for READY=1 (they renew the lease and report PRIMARY)
        t = time.monotonic()
        units = [self._unit(a) for a in accounts]
        try:
            self.services.start(units, self.cfg.ready_timeout_seconds)
            result = "success"
        except (subprocess.SubprocessError, OSError) as e:
            log.error("starting %s failed: %s", units, e)
            result = "failed"
        steps["start_bots"] = time.monotonic() - t
        total = time.monotonic() - t0

        # 4. alert, 5. event rows, 6. metrics
        payload = {"severity": "critical", "event": "failover", "result": result, "accounts": accounts,
                   "from": old, "to": me, "epochs": epochs, "duration_seconds": round(total, 3),
                   "steps": {k: round(v, 3) for k, v in steps.items()}, "redis": redis_detail,
                   "summary": f"QuantShift failover of {', '.join(accounts)} {old} -> {me}: {result} in {total:.1f} s"}
        self.alert(payload)
        try:
            with self.db.transaction() as cur:
                for account in accounts:
                    failover_events.record(cur, "failover", account=account, from_holder=old, to_holder=me,
                                           epoch=epochs[account], duration_seconds=total,
                                           detail=json.dumps({"result": result, "steps": payload["steps"],
                                                              "redis": redis_detail,
                                                              "resumed": account in unfinished}))
        except DatabaseUnavailable as e:
            log.error("failover event not recorded: %s", e)
        for account in accounts:
            self.metrics.failovers.labels(account=account, result=result).inc()
            self.metrics.last_duration.labels(account=account).set(total)
            log.warning("failover of %s %s -> %s at epoch %d: %s in %.2f s", account, old, me, epochs[account],
                        result, total, **logs.fields(account=account, epoch=epochs[account]))
        log.warning("failover of %s %s -> %s %s in %.2f s (steps %s, redis %s)", accounts, old, me, result, total,
                    payload["steps"], redis_detail)
        return "failover_" + result

    def heal(self, obs: Observation) -> None:
        """On a host that holds no lease: the local bots stopped (a returning old
        primary stands down for good), the local Redis following the holder's.
        Best effort: a failure here is logged and retried next check."""
        holders = {obs.holders[a] for a in self.m.accounts if a in obs.holders}
        actions.stop_local_bots(self.services, self.m.units, holders)
        if len(holders) != 1 or not self.cfg.redis_peers:
            return
        (holder,) = holders
        peer = self.cfg.redis_peers.get(holder)
        if peer is not None:
            actions.follow_redis(self.m.redis, holder, peer, self.cfg.redis_replication_file or None)

    def _unit(self, account: str) -> str:
        return self.m.units[self.m.accounts.index(account)]

    # -- loop --
    def run(self) -> int:
        log.info("failover monitor on %s: accounts %s, check every %gs, stale after %gs, cooldown %gs",
                 self.cfg.host_id, self.m.accounts, self.cfg.check_interval_seconds,
                 self.cfg.stale_threshold_seconds, self.cfg.cooldown_seconds)
        last = None
        # Serving metrics is all the monitor needs to be up; the database may be away.
        self.notifier.ready(f"watching {', '.join(self.m.accounts)}")
        while not self._stop.is_set():
            started = time.monotonic()
            # Once per check: a loop stuck longer than WatchdogSec is restarted by systemd
            # (a takeover waits at most ready_timeout_seconds for the bots).
            self.notifier.watchdog()
            try:
                decision = self.check_once()
                # Log changes, not every 10 s check (journald would fill with "healthy").
                if decision != last:
                    log.log(logging.INFO if decision in ("healthy", "primary_here") else logging.WARNING,
                            "check: %s", decision)
                last = decision
            except Exception:  # the monitor must outlive any single bad check
                log.exception("check failed")
            self._stop.wait(max(0.0, self.next_check_in() - (time.monotonic() - started)))
        self.notifier.stopping()
        return 0

    def next_check_in(self) -> float:
        return next_check_in(self._last_obs, self.cfg)

    def stop(self, *_args) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
