"""The failover monitor: runs on every bot host, acts on the one that does not
hold the leases, takes over when the primary is stale.

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
* the cooldown is per account and counts failovers in either direction;
* a crash half-way is finished on restart (a takeover without its failover
  event), and each step is idempotent;
* there is no automatic failback.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from .. import config as config_mod
from ..store import failover_events, heartbeat, leader_lease, monitor_checks
from ..store.db import Database, DatabaseUnavailable
from . import redis_role

log = logging.getLogger("quantshift.failover")


# ------------------------------------------------------------------ config --

@dataclass(frozen=True)
class MonitorConfig:
    bot_configs: list[str]
    host_id: str = field(default_factory=socket.gethostname)
    check_interval_seconds: float = 10.0
    stale_threshold_seconds: float = 60.0
    cooldown_seconds: float = 300.0
    metrics_port: int = 9250
    metrics_bind: str = "0.0.0.0"
    alert_webhook_url: str = ""
    redis_replication_file: str = ""
    ready_timeout_seconds: float = 120.0
    # host_id -> "address:port" of each bot host's Redis: the local Redis follows
    # the lease holder's (empty: Redis roles are left to the playbooks).
    redis_peers: dict[str, str] = field(default_factory=dict)
    # The monitor's own least-privilege login (password from
    # QUANTSHIFT_MONITOR_DB_PASSWORD); empty: the bots' login.
    database_user: str = ""
    log_level: str = "INFO"
    source_path: str | None = field(default=None, compare=False, metadata={"internal": True})


@dataclass(frozen=True)
class Monitored:
    """What the monitor needs from the bots' own configs (one source of truth)."""
    accounts: list[str]
    units: list[str]
    lease_ttl_seconds: float
    heartbeat_interval_seconds: float  # the slowest bot's
    database: config_mod.DatabaseConfig
    redis: config_mod.RedisConfig


def load_config(path: str, env=None) -> tuple[MonitorConfig, Monitored]:
    data = config_mod.read_yaml(path)
    if not isinstance(data, dict):
        raise config_mod.ConfigError(path, "", f"top level must be a mapping, got {type(data).__name__}")
    cfg = config_mod.build_section(MonitorConfig, data, "", path)
    cfg = config_mod.dataclasses.replace(cfg, source_path=path)
    check = config_mod.check
    check(len(cfg.bot_configs) > 0, path, "bot_configs", "must list at least one bot config")
    check(cfg.check_interval_seconds > 0, path, "check_interval_seconds", "must be > 0")
    check(cfg.stale_threshold_seconds > cfg.check_interval_seconds, path, "stale_threshold_seconds",
          f"must exceed check_interval_seconds ({cfg.check_interval_seconds:g})")
    check(cfg.cooldown_seconds >= cfg.stale_threshold_seconds, path, "cooldown_seconds",
          f"must be at least stale_threshold_seconds ({cfg.stale_threshold_seconds:g})")
    check(1 <= cfg.metrics_port <= 65535, path, "metrics_port", f"must be 1..65535, got {cfg.metrics_port}")
    check(cfg.alert_webhook_url == "" or cfg.alert_webhook_url.startswith(("http://", "https://")), path,
          "alert_webhook_url", "must be empty or an http(s) URL")
    for host, addr in cfg.redis_peers.items():
        h, _, port = addr.rpartition(":")
        check(bool(h) and port.isdigit(), path, f"redis_peers.{host}", f"must be ADDRESS:PORT, got {addr!r}")
    bots = [config_mod.load(p, env) for p in cfg.bot_configs]
    check(len({b.name for b in bots}) == len(bots), path, "bot_configs", "two configs have the same name")
    for i, b in enumerate(bots):
        check(b.metrics_port != cfg.metrics_port, path, "metrics_port",
              f"collides with {b.name}'s metrics_port {b.metrics_port}")
        check(b.database.dsn == bots[0].database.dsn, path, f"bot_configs[{i}]",
              "all bots must use the same arbiter database")
    # The lease decides; a threshold shorter than the lease would only wait in vain.
    check(cfg.stale_threshold_seconds >= bots[0].lease_ttl_seconds, path, "stale_threshold_seconds",
          f"must be at least the bots' lease_ttl_seconds ({bots[0].lease_ttl_seconds:g})")
    database = bots[0].database
    if cfg.database_user:
        password = (os.environ if env is None else env).get(config_mod.ENV_MONITOR_DB_PASSWORD)
        check(bool(password), path, "database_user",
              f"needs {config_mod.ENV_MONITOR_DB_PASSWORD} in the environment (the monitor's .env)")
        database = config_mod.with_login(database, cfg.database_user, password)
    return cfg, Monitored(accounts=[b.name for b in bots], units=[f"quantshift-{b.name}.service" for b in bots],
                          lease_ttl_seconds=bots[0].lease_ttl_seconds,
                          heartbeat_interval_seconds=max(b.heartbeat_interval_seconds for b in bots),
                          database=database,
                          redis=bots[0].redis)


# ----------------------------------------------------------------- metrics --

class MonitorMetrics:
    def __init__(self, port: int, bind: str = "0.0.0.0", prefix: str = "quantshift_failover_monitor",
                 start_server: bool = True):
        r = self.registry = CollectorRegistry()
        self.heartbeat = Gauge(f"{prefix}_heartbeat_seconds", "Unix time of the monitor's last check", registry=r)
        self.primary_age = Gauge(f"{prefix}_primary_heartbeat_age_seconds",
                                 "Age of the lease holder's last heartbeat (database clock)", ["account"], registry=r)
        self.db_up = Gauge(f"{prefix}_db_up", "1 when the arbiter database answered the last check", registry=r)
        self.failovers = Counter(f"{prefix}_failovers", "Failovers attempted by this monitor",
                                 ["account", "result"], registry=r)
        self.last_duration = Gauge(f"{prefix}_last_failover_duration_seconds",
                                   "Duration of the account's last failover, lease taken to bots ready "
                                   "(from the database, whichever host did it; 0 = none yet)", ["account"], registry=r)
        self.port = port
        self._server = None
        if start_server:
            self._server, _ = start_http_server(port, addr=bind, registry=r)
            self.port = self._server.server_port

    def declare_accounts(self, accounts: list[str]) -> None:
        # Series exist at 0 from the first scrape, so the first failover is an
        # increase that rate()/increase() can see.
        for account in accounts:
            for result in ("success", "failed"):
                self.failovers.labels(account=account, result=result)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None


# ------------------------------------------------------------ side effects --

class Services(Protocol):
    def start(self, units: list[str], timeout: float) -> None: ...

    def stop(self, units: list[str], timeout: float) -> None: ...

    def is_active(self, unit: str) -> bool: ...


class Systemd:
    """Type=notify units: `systemctl start` returns once the bot sent READY=1.
    Units are enabled on the primary and disabled elsewhere, as the role leaves
    them, so a later site.yml finds nothing to change."""

    def start(self, units: list[str], timeout: float) -> None:
        subprocess.run(["systemctl", "enable", *units], check=True, timeout=30, capture_output=True, text=True)
        subprocess.run(["systemctl", "start", *units], check=True, timeout=timeout,
                       capture_output=True, text=True)

    def stop(self, units: list[str], timeout: float) -> None:
        subprocess.run(["systemctl", "disable", "--now", *units], check=True, timeout=timeout,
                       capture_output=True, text=True)

    def is_active(self, unit: str) -> bool:
        return subprocess.run(["systemctl", "is-active", "--quiet", unit], timeout=10).returncode == 0


def post_alert(url: str, payload: dict, timeout: float = 5.0) -> bool:
    """Best effort: an alert that cannot be delivered is logged, never fatal."""
    if not url:
        return False
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except Exception as e:
        log.warning("alert not delivered to webhook: %s", type(e).__name__)
        return False


# ----------------------------------------------------------------- monitor --

def in_cooldown(seconds_since_last_failover: float | None, cooldown_seconds: float) -> bool:
    """The seed's 5-minute cooldown: no failover of an account within cooldown
    seconds of its last one, in either direction."""
    return seconds_since_last_failover is not None and seconds_since_last_failover < cooldown_seconds


@dataclass
class Observation:
    db_up: bool
    holders: dict[str, str] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    expired: dict[str, bool] = field(default_factory=dict)
    ages: dict[str, float] = field(default_factory=dict)  # heartbeat age, capped by arbiter reachability
    remaining: dict[str, float] = field(default_factory=dict)  # lease seconds left (database clock)
    last_durations: dict[str, float] = field(default_factory=dict)  # account -> its last failover's duration
    since_last_failover: dict[str, float | None] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)  # taken here, failover not recorded
    reachable_for: float = 0.0  # seconds the arbiter has answered this monitor without a gap


class FailoverMonitor:
    def __init__(self, cfg: MonitorConfig, monitored: Monitored, *, db: Database | None = None,
                 services: Services | None = None, metrics: MonitorMetrics | None = None,
                 alert: Callable[[dict], object] | None = None):
        self.cfg = cfg
        self.m = monitored
        self.db = db or Database.from_config(monitored.database, application_name=f"quantshift-monitor-{cfg.host_id}")
        self.services = services or Systemd()
        self.metrics = metrics or MonitorMetrics(cfg.metrics_port, cfg.metrics_bind)
        self.metrics.declare_accounts(monitored.accounts)
        self.alert = alert or (lambda payload: post_alert(cfg.alert_webhook_url, payload))
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

    def check_once(self) -> str:
        """One check; returns what it decided (for logs and tests)."""
        obs = self.observe()
        self._last_obs = obs
        self.metrics.heartbeat.set(time.time())
        self.metrics.db_up.set(1 if obs.db_up else 0)
        if not obs.db_up:
            # Unreachable is not stale: from here the standby cannot tell a dead
            # primary from its own partition, so it must not promote anything.
            if self._db_was_up:
                self.alert({"severity": "warning", "event": "standby_db_unreachable", "host": self.cfg.host_id,
                            "summary": f"failover monitor on {self.cfg.host_id} cannot reach the arbiter database; "
                                       "automatic failover is suspended"})
            self._db_was_up = False
            return "db_unreachable"
        self._db_was_up = True
        for account, age in obs.ages.items():
            self.metrics.primary_age.labels(account=account).set(min(age, 1e9))
        for account in self.m.accounts:
            self.metrics.last_duration.labels(account=account).set(obs.last_durations.get(account, 0.0))
        if not obs.holders:
            return "no_lease"
        me = self.cfg.host_id
        if all(h != me for h in obs.holders.values()):
            self.heal(obs)
        # The failover moves the whole host (bots, Redis master) and only when every
        # account there is stale: one hung bot beside a live sibling is the watchdog's
        # job (it restarts the bot), not a reason to split the accounts over two hosts.
        elsewhere = [a for a in self.m.accounts if a in obs.holders and obs.holders[a] != me]
        stale = [a for a in elsewhere if obs.expired[a] and obs.ages[a] > self.cfg.stale_threshold_seconds]
        if stale and len(stale) < len(elsewhere):
            log.warning("%s stale on %s but %s alive there: no failover (the watchdog restarts hung bots)",
                        stale, obs.holders[stale[0]], sorted(set(elsewhere) - set(stale)))
            stale = []
        # Taken here but the failover never finished (this monitor crashed half-way):
        # finished now, every step is idempotent.
        unfinished = obs.unfinished
        cooling = [a for a in stale if in_cooldown(obs.since_last_failover.get(a), self.cfg.cooldown_seconds)]
        if cooling:
            log.warning("primary stale for %s but %s failed over %.0f s ago (cooldown %.0f s)", stale, cooling[0],
                        obs.since_last_failover[cooling[0]], self.cfg.cooldown_seconds)
            stale = []
            if not unfinished:
                return "cooldown"
        if stale or unfinished:
            return self.fail_over(obs, stale, unfinished)
        return "primary_here" if all(obs.holders.get(a) == me for a in self.m.accounts) else "healthy"

    # -- acting --
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
            for account in unfinished:
                epochs[account] = ll.current(account).epoch
            mine = [a for a in self.m.accounts if (c := ll.current(a)) is not None and c.holder == me]
        except DatabaseUnavailable as e:
            log.error("database lost during takeover: %s", e)
            return "db_unreachable"
        steps["lease"] = time.monotonic() - t
        if not epochs:
            return "lease_not_taken"
        accounts = [a for a in self.m.accounts if a in epochs]

        # 2. promote the local Redis once this host trades every account (a whole-host
        # failover); a cache, so a failure degrades the bots but never blocks them
        t = time.monotonic()
        redis_detail = "kept (not every account moved here)"
        if len(mine) == len(self.m.accounts):
            try:
                r = redis_role.client(self.m.redis.url, self.m.redis.password)
                before = redis_role.promote(r, self.cfg.redis_replication_file or None)
                redis_detail = ("promoted; was replica, link_up=%s, last_io=%ss" % (before.link_up, before.last_io_seconds)
                                if before.role == "slave" else "already master")
            except Exception as e:  # redis errors, OSError on the role file
                redis_detail = f"failed: {type(e).__name__}: {e}"
                log.error("redis promotion failed: %s", redis_detail)
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
        log.warning("failover of %s %s -> %s %s in %.2f s (steps %s, redis %s)", accounts, old, me, result, total,
                    payload["steps"], redis_detail)
        return "failover_" + result

    # -- healing --
    def heal(self, obs: Observation) -> None:
        """On a host that holds no lease: the local bots stopped (a returning old
        primary stands down for good), the local Redis following the holder's.
        Best effort: a failure here is logged and retried next check."""
        holders = {obs.holders[a] for a in self.m.accounts if a in obs.holders}
        running = [u for u in self.m.units if self.services.is_active(u)]
        if running:
            log.warning("this host holds no lease (%s trades): stopping local bots %s", sorted(holders), running)
            try:
                self.services.stop(running, 60)
            except (subprocess.SubprocessError, OSError) as e:
                log.error("stopping %s failed: %s", running, e)
        if len(holders) != 1 or not self.cfg.redis_peers:
            return
        (holder,) = holders
        peer = self.cfg.redis_peers.get(holder)
        if peer is None:
            return
        host, _, port = peer.rpartition(":")
        try:
            r = redis_role.client(self.m.redis.url, self.m.redis.password)
            if redis_role.follow(r, host, int(port), self.cfg.redis_replication_file or None):
                log.warning("local Redis now follows %s (%s), the lease holder's", holder, peer)
        except Exception as e:  # redis errors, OSError on the role file
            log.error("making the local Redis follow %s failed: %s: %s", peer, type(e).__name__, e)

    def _unit(self, account: str) -> str:
        return self.m.units[self.m.accounts.index(account)]

    # -- loop --
    def run(self) -> int:
        log.info("failover monitor on %s: accounts %s, check every %gs, stale after %gs, cooldown %gs",
                 self.cfg.host_id, self.m.accounts, self.cfg.check_interval_seconds,
                 self.cfg.stale_threshold_seconds, self.cfg.cooldown_seconds)
        last = None
        while not self._stop.is_set():
            started = time.monotonic()
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
        return 0

    def next_check_in(self) -> float:
        """Seconds to the next check: the check interval, or sooner when another
        host's lease runs out before that, so a dead primary is seen the moment its
        lease expires rather than up to one interval later."""
        wait = self.cfg.check_interval_seconds
        obs = self._last_obs
        if obs is not None and obs.db_up:
            ends = [r for a, r in obs.remaining.items() if obs.holders.get(a) != self.cfg.host_id and r > 0]
            # An expired lease whose staleness is capped by the arbiter's return:
            # look again the moment the reachable period reaches the threshold.
            ends += [self.cfg.stale_threshold_seconds - obs.reachable_for for a, age in obs.ages.items()
                     if obs.holders.get(a) != self.cfg.host_id and obs.expired.get(a)
                     and age == obs.reachable_for < self.cfg.stale_threshold_seconds]
            if ends:
                wait = min(wait, min(ends) + 0.2)
        return wait

    def stop(self, *_args) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
