"""The failover monitor: runs on the standby, takes over when the primary is stale.

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
* a crash half-way is finished on restart: holding the lease means "be primary",
  and each step is idempotent;
* there is no automatic failback.
"""
from __future__ import annotations

import json
import logging
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
from ..store import failover_events, heartbeat, leader_lease
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
    log_level: str = "INFO"
    source_path: str | None = field(default=None, compare=False, metadata={"internal": True})


@dataclass(frozen=True)
class Monitored:
    """What the monitor needs from the bots' own configs (one source of truth)."""
    accounts: list[str]
    units: list[str]
    lease_ttl_seconds: float
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
    return cfg, Monitored(accounts=[b.name for b in bots], units=[f"quantshift-{b.name}.service" for b in bots],
                          lease_ttl_seconds=bots[0].lease_ttl_seconds, database=bots[0].database,
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
                                   "Duration of the last failover, detection to bots ready", ["account"], registry=r)
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


class Systemd:
    """Type=notify units: `systemctl start` returns once the bot sent READY=1."""

    def start(self, units: list[str], timeout: float) -> None:
        subprocess.run(["systemctl", "start", *units], check=True, timeout=timeout,
                       capture_output=True, text=True)


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

@dataclass
class Observation:
    db_up: bool
    holders: dict[str, str] = field(default_factory=dict)
    expired: dict[str, bool] = field(default_factory=dict)
    ages: dict[str, float] = field(default_factory=dict)
    since_last_failover: float | None = None


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
        self._stop = threading.Event()

    # -- observing --
    def observe(self) -> Observation:
        try:
            with self.db.transaction() as cur:
                obs = Observation(db_up=True)
                for account in self.m.accounts:
                    lease = leader_lease.current(cur, account)
                    if lease is None:
                        continue
                    obs.holders[account] = lease.holder
                    obs.expired[account] = lease.expired
                    beats = {s.host_id: s.age_seconds for s in heartbeat.for_account(cur, account)}
                    obs.ages[account] = beats.get(lease.holder, float("inf"))
                cur.execute("""SELECT EXTRACT(EPOCH FROM now() - max(created_at))::float8 FROM failover_events
                               WHERE event = 'failover' AND to_holder = %s""", (self.cfg.host_id,))
                row = cur.fetchone()
                obs.since_last_failover = row[0] if row and row[0] is not None else None
                return obs
        except DatabaseUnavailable as e:
            log.warning("arbiter database unreachable: %s", e)
            return Observation(db_up=False)

    def check_once(self) -> str:
        """One check; returns what it decided (for logs and tests)."""
        obs = self.observe()
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
        if not obs.holders:
            return "no_lease"
        if all(obs.holders.get(a) == self.cfg.host_id for a in self.m.accounts):
            return "primary_here"
        if any(obs.holders.get(a) == self.cfg.host_id for a in self.m.accounts):
            # A takeover crashed half-way: finish it (every step is idempotent).
            return self.fail_over(obs, resumed=True)
        stale = [a for a in self.m.accounts
                 if a in obs.holders and obs.expired[a] and obs.ages[a] > self.cfg.stale_threshold_seconds]
        if len(stale) < len(self.m.accounts):
            return "healthy"
        if obs.since_last_failover is not None and obs.since_last_failover < self.cfg.cooldown_seconds:
            log.warning("primary stale but the last failover was %.0f s ago (cooldown %.0f s)",
                        obs.since_last_failover, self.cfg.cooldown_seconds)
            return "cooldown"
        return self.fail_over(obs)

    # -- acting --
    def fail_over(self, obs: Observation, resumed: bool = False) -> str:
        me = self.cfg.host_id
        old = next((h for h in obs.holders.values() if h != me), None)
        t0 = time.monotonic()
        steps: dict[str, float] = {}
        log.warning("%s failover: primary %s stale (heartbeat age %s)", "resuming" if resumed else "starting",
                    old, {a: round(x, 1) for a, x in obs.ages.items()})

        # 1. take the leases (compare-and-set on expiry, epoch + 1)
        t = time.monotonic()
        epochs: dict[str, int] = {}
        try:
            for account in self.m.accounts:
                lease = leader_lease.LeaderLease(self.db).take_over_if_expired(account, me, self.m.lease_ttl_seconds)
                if lease is None:
                    current = leader_lease.LeaderLease(self.db).current(account)
                    if current is None or current.holder != me:
                        # Someone renewed or took it: the primary is alive after all.
                        log.warning("lease %s not taken (holder %s): failover abandoned", account,
                                    current.holder if current else None)
                        self.metrics.failovers.labels(account=account, result="failed").inc()
                        return "lease_not_taken"
                    lease = current
                epochs[account] = lease.epoch
        except DatabaseUnavailable as e:
            log.error("database lost during takeover: %s", e)
            return "db_unreachable"
        steps["lease"] = time.monotonic() - t

        # 2. promote the local Redis (a cache: failure degrades, never blocks trading)
        t = time.monotonic()
        redis_detail = "ok"
        try:
            r = redis_role.client(self.m.redis.url, self.m.redis.password)
            before = redis_role.promote(r, self.cfg.redis_replication_file or None)
            if before.role == "slave":
                redis_detail = f"was replica, link_up={before.link_up}, last_io={before.last_io_seconds}s"
        except Exception as e:  # redis errors, OSError on the role file
            redis_detail = f"failed: {type(e).__name__}: {e}"
            log.error("redis promotion failed: %s", redis_detail)
        steps["redis"] = time.monotonic() - t

        # 3. start the bots and wait for READY=1 (they renew the lease and report PRIMARY)
        t = time.monotonic()
        try:
            self.services.start(self.m.units, self.cfg.ready_timeout_seconds)
            result = "success"
        except (subprocess.SubprocessError, OSError) as e:
            log.error("starting %s failed: %s", self.m.units, e)
            result = "failed"
        steps["start_bots"] = time.monotonic() - t
        total = time.monotonic() - t0

        # 4. alert, 5. event rows, 6. metrics
        payload = {"severity": "critical", "event": "failover", "result": result, "from": old, "to": me,
                   "epochs": epochs, "duration_seconds": round(total, 3),
                   "steps": {k: round(v, 3) for k, v in steps.items()}, "redis": redis_detail,
                   "summary": f"QuantShift failover {old} -> {me}: {result} in {total:.1f} s"}
        self.alert(payload)
        try:
            with self.db.transaction() as cur:
                for account in self.m.accounts:
                    failover_events.record(cur, "failover", account=account, from_holder=old, to_holder=me,
                                           epoch=epochs.get(account), duration_seconds=total,
                                           detail=json.dumps({"result": result, "steps": payload["steps"],
                                                              "redis": redis_detail, "resumed": resumed}))
        except DatabaseUnavailable as e:
            log.error("failover event not recorded: %s", e)
        for account in self.m.accounts:
            self.metrics.failovers.labels(account=account, result=result).inc()
            self.metrics.last_duration.labels(account=account).set(total)
        log.warning("failover %s -> %s %s in %.2f s (steps %s)", old, me, result, total, payload["steps"])
        return "failover_" + result

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
            self._stop.wait(max(0.0, self.cfg.check_interval_seconds - (time.monotonic() - started)))
        return 0

    def stop(self, *_args) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
