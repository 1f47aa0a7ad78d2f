"""The failover monitor's config: its own YAML plus what it reads from the
bots' configs (accounts, units, lease, database, Redis), so each fact is
typed once. Checked and reported like a bot config (one line, exit 78)."""
from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass, field

from .. import config as config_mod
from .. import naming


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
    # Each account's systemd target (naming.target): starting and stopping it is
    # starting and stopping every component of the account, whatever the architecture.
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
    cfg = dataclasses.replace(cfg, source_path=path)
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
    return cfg, Monitored(accounts=[b.name for b in bots], units=[naming.target(b.name) for b in bots],
                          lease_ttl_seconds=bots[0].lease_ttl_seconds,
                          heartbeat_interval_seconds=max(b.heartbeat_interval_seconds for b in bots),
                          database=database,
                          redis=bots[0].redis)
