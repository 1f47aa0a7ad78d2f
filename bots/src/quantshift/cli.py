"""Console scripts: quantshift-bot, quantshift-coordinator (the other modular components: modular/cli.py),
quantshift-status, quantshift-lease, quantshift-risk, quantshift-db.

A bad config prints ONE line on stderr and exits 78 (EX_CONFIG), which the
systemd units list in RestartPreventExitStatus: no restart storm.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from . import config as config_mod
from .config import EX_CONFIG, ConfigError

log = logging.getLogger("quantshift")


def _setup_logging(level: str = "INFO", identifier: str = "quantshift") -> None:
    from .logs import setup

    setup(level, identifier=identifier)


def _load(path: str, loader=None):
    """Load a config (the bot's by default); a bad one is one stderr line and exit 78."""
    try:
        return (loader or config_mod.load)(path)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="bot config YAML (equity_config.yaml ...)")


# ------------------------------------------------------------- quantshift-bot --

def bot_main(argv: list[str] | None = None) -> int:
    return trader_main(argv, "quantshift-bot", "Run a QuantShift trading bot (the monolith: data, signals, "
                       "orders in one process).", "bot")


def coordinator_main(argv: list[str] | None = None) -> int:
    return trader_main(argv, "quantshift-coordinator", "Run an account's trading coordinator (the modular "
                       "architecture: signals from the bus, lease, risk, orders).", "coordinator")


def trader_main(argv: list[str] | None, prog: str, description: str, kind: str) -> int:
    """The process that holds an account's lease: the monolith or the coordinator."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    _config_arg(p)
    p.add_argument("--once", action="store_true", help="run one full cycle and exit")
    p.add_argument("--check-config", action="store_true",
                   help="load and validate the config (and the environment's secrets), print one line, exit 0/78")
    args = p.parse_args(argv)
    cfg = _load(args.config)
    if args.check_config:
        print(f"{args.config}: ok (account {cfg.name}, {len(cfg.symbols)} symbols, broker {cfg.broker.kind}, "
              f"data {cfg.marketdata.source})")
        return 0
    _setup_logging(cfg.log_level, f"quantshift-{cfg.name}")
    from .runtime import tune_malloc

    tune_malloc()
    # imported after the config so a bad config fails fast and lean
    if kind == "coordinator":
        from .modular.coordinator import Coordinator as Trader
    else:
        from .bot import Bot as Trader
    from .host_lock import HostLockHeld
    from .venues.startup_errors import ExtraMissing
    try:
        bot = Trader(cfg)
    except HostLockHeld as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except ExtraMissing as e:
        print(str(ConfigError(cfg.source_path, "", str(e))), file=sys.stderr)
        return EX_CONFIG
    except OSError as e:
        log.error("cannot start: %s (metrics %s:%d)", e, cfg.metrics_bind, cfg.metrics_port)
        return 1
    return run_until_stopped(bot, args.once)


def run_until_stopped(process, once: bool) -> int:
    """A long-running process of the package (a trader, a modular component): stop on
    SIGTERM/SIGINT, and its metrics server goes down with it."""
    process.install_signal_handlers()
    try:
        return process.run(once=once)
    finally:
        process.metrics.stop()


# ---------------------------------------------------------------- helpers --

def _db(cfg):
    from .store import Database

    return Database.from_config(cfg.database, application_name=f"quantshift-cli-{cfg.name}")


def _fail_db(e) -> int:
    print(f"database unavailable: {e}", file=sys.stderr)
    return 1


# ---------------------------------------------------------- quantshift-status --

def collect_status(cfg) -> dict:
    from .store import cash, heartbeat, leader_lease, orders, positions
    from .store.migrations import schema_present

    db = _db(cfg)
    try:
        with db.transaction() as cur:
            if not schema_present(cur):
                return {"account": cfg.name, "schema": "missing (run quantshift-db migrate)"}
            lease = leader_lease.current(cur, cfg.name)
            hosts = heartbeat.for_account(cur, cfg.name)
            pos = positions.for_account(cur, cfg.name)
            try:
                bal = cash.get(cur, cfg.name)
            except KeyError:
                bal = None
            counts = orders.count_by_status(cur, cfg.name)
    finally:
        db.close()
    return {
        "account": cfg.name,
        "leader": lease.as_dict() if lease else None,
        "hosts": [h.as_dict() for h in hosts],
        "cash": bal,
        "positions": [{"symbol": p.symbol, "qty": p.qty, "avg_price": p.avg_price} for p in pos.values()],
        "orders_by_status": counts,
    }


def format_status(st: dict) -> str:
    lines = [f"account {st['account']}"]
    if "schema" in st:
        return lines[0] + f": schema {st['schema']}"
    ld = st["leader"]
    if ld:
        state = "EXPIRED" if ld["expired"] else f"{ld['remaining_seconds']:.0f}s left"
        lines.append(f"  leader   {ld['holder']}  epoch {ld['epoch']}  lease {state}  (expires {ld['lease_expires_at']})")
    else:
        lines.append("  leader   none (seed with: quantshift-lease --config FILE init --holder HOST)")
    lines.append("  hosts")
    lines.append(f"    {'host':<20} {'status':<10} {'epoch':>5} {'starts':>6} {'heartbeat age':>14}  detail")
    for h in st["hosts"]:
        lines.append(f"    {h['host_id']:<20} {h['status']:<10} {str(h['epoch'] or '-'):>5} {h['starts']:>6} "
                     f"{h['age_seconds']:>13.1f}s  {h['detail'] or ''}")
    if not st["hosts"]:
        lines.append("    (no heartbeats yet)")
    cash = f"{st['cash']:.2f}" if st["cash"] is not None else "-"
    lines.append(f"  cash     {cash}")
    lines.append(f"  positions ({len(st['positions'])})")
    for p in st["positions"]:
        lines.append(f"    {p['symbol']:<12} {p['qty']:>14g} @ {p['avg_price']:.4f}")
    oc = ", ".join(f"{k} {v}" for k, v in sorted(st["orders_by_status"].items())) or "none"
    lines.append(f"  orders   {oc}")
    return "\n".join(lines)


def status_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantshift-status", description="Leader, heartbeats and positions.")
    _config_arg(p)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cfg = _load(args.config)
    from .store import DatabaseUnavailable

    try:
        st = collect_status(cfg)
    except DatabaseUnavailable as e:
        return _fail_db(e)
    print(json.dumps(st, indent=2, default=str) if args.json else format_status(st))
    return 0


# ----------------------------------------------------------- quantshift-lease --

def lease_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantshift-lease", description="Seed or show the leader lease.")
    _config_arg(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("init", help="insert the leader row for the account if absent (never changes one)")
    pi.add_argument("--holder", required=True, help="host id of the initial leader")
    ps = sub.add_parser("show", help="print the leader row")
    ps.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cfg = _load(args.config)
    from .store import DatabaseUnavailable, SchemaNotCurrent, leader_lease, require_current

    db = _db(cfg)
    try:
        if args.cmd == "init":
            require_current(db)
            with db.transaction() as cur:
                created, lease = leader_lease.init(cur, cfg.name, args.holder, cfg.lease_ttl_seconds)
            verb = "created" if created else "exists (unchanged)"
            print(f"leader {cfg.name}: {verb}: holder {lease.holder} epoch {lease.epoch}")
            return 0
        with db.transaction() as cur:
            lease = leader_lease.current(cur, cfg.name)
        if args.json:
            print(json.dumps(lease.as_dict() if lease else None))
        elif lease is None:
            print(f"leader {cfg.name}: none")
        else:
            state = "EXPIRED" if lease.expired else f"{lease.remaining_seconds:.0f}s left"
            print(f"leader {cfg.name}: holder {lease.holder} epoch {lease.epoch} lease {state}")
        return 0
    except DatabaseUnavailable as e:
        return _fail_db(e)
    except SchemaNotCurrent as e:
        print(f"quantshift-lease: {e}", file=sys.stderr)
        return 1
    finally:
        db.close()


# ------------------------------------------------------------ quantshift-risk --

def reset_kill_switch(cfg, reason: str) -> str:
    """Reset today's daily-loss kill switch of cfg's account, from the host that
    holds its lease (the write passes the ledger fence like the bot's own); a
    failover_events row keeps who and why. Returns the one line to print;
    raises ValueError with the one line of a refusal."""
    from .store import daily_pnl, failover_events, leader_lease
    from .store.fencing import Fence

    db = _db(cfg)
    try:
        with db.transaction() as cur:
            lease = leader_lease.current(cur, cfg.name)
        if lease is None or lease.holder != cfg.host_id or lease.remaining_seconds <= cfg.lease_safety_margin_seconds:
            holder = "nobody" if lease is None else f"{lease.holder} (epoch {lease.epoch}" + (
                ", expired)" if lease.expired else ")")
            raise ValueError(f"{cfg.name}: run this on the lease holder; the lease is held by {holder}, "
                             f"this host is {cfg.host_id}")
        db.fence = Fence(cfg.name, cfg.host_id, lease.epoch, cfg.lease_safety_margin_seconds)
        with db.transaction() as cur:
            done = daily_pnl.reset(cur, cfg.name)
            if done is None:
                raise ValueError(f"{cfg.name}: the kill switch is not set today; nothing changed")
            before, after = done
            failover_events.record(cur, "kill_switch_reset", account=cfg.name, to_holder=cfg.host_id,
                                   epoch=lease.epoch, detail=json.dumps({
                                       "reason": reason, "day": str(before.day), "start_value": before.start_value,
                                       "last_value": before.last_value}))
    finally:
        db.close()
    return (f"{cfg.name}: kill switch reset for {before.day} (epoch {lease.epoch}); the day restarts at "
            f"{after.start_value:,.2f} (was {before.start_value:,.2f}, loss {before.pnl:+,.2f}); "
            f"entries resume at the next cycle")


def risk_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantshift-risk", description="Operator actions on the risk limits.")
    _config_arg(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("reset-kill-switch", help="resume entries today after the daily loss limit stopped them "
                                                  "(run on the lease holder)")
    pr.add_argument("--reason", required=True, help="why, kept in failover_events")
    args = p.parse_args(argv)
    if not args.reason.strip():
        print("quantshift-risk: --reason must say why", file=sys.stderr)
        return 2
    cfg = _load(args.config)
    from .store import DatabaseUnavailable
    from .store.fencing import Fenced

    try:
        print(reset_kill_switch(cfg, args.reason.strip()))
        return 0
    except DatabaseUnavailable as e:
        return _fail_db(e)
    except (ValueError, Fenced) as e:
        print(f"quantshift-risk: {e}", file=sys.stderr)
        return 1


# -------------------------------------------------------------- quantshift-db --

def db_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantshift-db", description="Database schema tools.")
    _config_arg(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    pm = sub.add_parser("migrate", help="apply pending schema migrations (as the schema owner)")
    pm.add_argument("--owner", metavar="LOGIN",
                    help=f"connect as this login instead of the config's (password from {config_mod.ENV_DB_OWNER_PASSWORD})")
    pm.add_argument("--grant-bots", metavar="ROLE", help="group role of the bot logins: grant store/privileges.py")
    pm.add_argument("--grant-monitor", metavar="ROLE", help="group role of the failover monitor's login")
    pm.add_argument("--json", action="store_true", help="one JSON line: changed, applied, schema, privileges")
    args = p.parse_args(argv)
    if bool(args.grant_bots) != bool(args.grant_monitor):
        p.error("--grant-bots and --grant-monitor go together")
    cfg = _load(args.config)
    import os

    import psycopg2

    from .store import Database, DatabaseUnavailable, migrate
    from .store.db import first_line
    from .store.migrations import applied, grant_privileges
    from .store.privileges import Grantees

    dbcfg = cfg.database
    if args.owner:
        password = os.environ.get(config_mod.ENV_DB_OWNER_PASSWORD)
        if not password:
            print(f"quantshift-db: --owner needs {config_mod.ENV_DB_OWNER_PASSWORD} in the environment", file=sys.stderr)
            return EX_CONFIG
        dbcfg = config_mod.with_login(dbcfg, args.owner, password)
    db = Database.from_config(dbcfg, application_name=f"quantshift-db-{cfg.name}")
    try:
        done = migrate(db)
        schema = max(applied(db), default=0)
        line = f"migrations applied now: {', '.join(f'{v:04d}' for v in done) or 'none'}; schema at {schema:04d}"
        granted = None
        if args.grant_bots:
            granted = grant_privileges(db, Grantees(bots=args.grant_bots, monitor=args.grant_monitor))
            line += f"; privileges {'updated' if granted else 'unchanged'}"
        # The deploy reads the verdict, not the sentence.
        print(json.dumps({"changed": bool(done) or bool(granted), "applied": done, "schema": schema,
                          "privileges": None if granted is None else ("updated" if granted else "unchanged"),
                          "summary": line}) if args.json else line)
        return 0
    except DatabaseUnavailable as e:
        return _fail_db(e)
    except (psycopg2.Error, RuntimeError) as e:
        # e.g. permission denied: a trading login cannot change the schema.
        print(f"quantshift-db migrate: {first_line(e)}", file=sys.stderr)
        return 1
    finally:
        db.close()


# ------------------------------------------------ quantshift-failover-monitor --

def failover_monitor_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="quantshift-failover-monitor",
                                description="Watch the primary's lease and heartbeat; take over when it is stale.")
    p.add_argument("--config", required=True, metavar="FILE", help="failover_monitor.yaml")
    p.add_argument("--once", action="store_true", help="run one check, print the decision and exit")
    args = p.parse_args(argv)
    from .failover.monitor import FailoverMonitor
    from .failover.monitor_config import load_config

    cfg, monitored = _load(args.config, load_config)
    _setup_logging(cfg.log_level, "quantshift-failover-monitor")
    try:
        monitor = FailoverMonitor(cfg, monitored)
    except OSError as e:
        log.error("cannot start: %s (metrics %s:%d)", e, cfg.metrics_bind, cfg.metrics_port)
        return 1
    try:
        if args.once:
            print(monitor.check_once())
            return 0
        monitor.install_signal_handlers()
        return monitor.run()
    finally:
        monitor.metrics.stop()


# ------------------------------------------------------------- quantshift-ha --

def ha_main(argv: list[str] | None = None) -> int:
    """Steps of the planned failover/failback playbooks; each prints one JSON line."""
    p = argparse.ArgumentParser(prog="quantshift-ha", description="Planned switchover steps (used by failover.yml).")
    p.add_argument("--config", required=True, metavar="FILE", help="failover_monitor.yaml")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("state", help="leases, heartbeats and the local Redis role")
    pc = sub.add_parser("precheck", help="is a planned switchover FROM -> TO safe now? (run on TO; retries)")
    pc.add_argument("--from", dest="from_host", required=True)
    pc.add_argument("--to", dest="to_host", required=True)
    pc.add_argument("--wait", type=float, default=15, help="seconds to keep re-checking before refusing")
    pw = sub.add_parser("redis-wait-sync", help="wait until the local replica has everything the master has")
    pw.add_argument("--master", required=True, metavar="HOST")
    pw.add_argument("--port", type=int, default=6379)
    pw.add_argument("--timeout", type=float, default=30)
    pz = sub.add_parser("redis-pause-writes", help="hold writes on the local master (planned switchover)")
    pz.add_argument("--seconds", type=float, default=15)
    sub.add_parser("redis-promote", help="make the local Redis a master (and record it in its role file)")
    pf = sub.add_parser("redis-follow", help="make the local Redis a replica of HOST")
    pf.add_argument("--master", required=True, metavar="HOST")
    pf.add_argument("--port", type=int, default=6379)
    ph = sub.add_parser("handover", help="hand every lease from one host to another (epoch + 1)")
    ph.add_argument("--from", dest="from_host", required=True)
    ph.add_argument("--to", dest="to_host", required=True)
    ph.add_argument("--force", action="store_true", help="hand over even while the old holder's bots are alive")
    pp = sub.add_parser("wait-primary", help="wait until HOST's bots report PRIMARY with fresh heartbeats")
    pp.add_argument("--host", required=True)
    pp.add_argument("--timeout", type=float, default=120)
    args = p.parse_args(argv)
    from .failover import redis_role, switchover
    from .failover.monitor_config import load_config
    from .store import Database, DatabaseUnavailable

    cfg, m = _load(args.config, load_config)
    # stdout is the JSON answer the playbooks read: the events go to the journal only.
    from .logs import also_to_journal, bind

    bind(host=cfg.host_id)
    also_to_journal("quantshift-ha", cfg.log_level)
    db = Database.from_config(m.database, application_name=f"quantshift-ha-{cfg.host_id}")
    try:
        if args.cmd == "state":
            out = switchover.cluster_state(cfg, m, db).as_dict()
        elif args.cmd == "precheck":
            deadline = time.monotonic() + args.wait
            while True:
                verdict = switchover.precheck(switchover.cluster_state(cfg, m, db), m, args.from_host, args.to_host)
                if verdict.ok or time.monotonic() >= deadline:
                    break
                time.sleep(1)
            if not verdict.ok:
                raise RuntimeError(f"not safe, nothing was changed: {verdict.reason}")
            out = verdict.as_dict()
        elif args.cmd == "redis-wait-sync":
            out = {"waited_seconds": round(switchover.wait_replica_caught_up(m, args.master, args.port,
                                                                             args.timeout), 3)}
        elif args.cmd == "redis-pause-writes":
            redis_role.pause_writes(redis_role.client(m.redis.url, m.redis.password), args.seconds)
            out = {"paused_seconds": args.seconds}
        elif args.cmd == "redis-promote":
            before = redis_role.promote(redis_role.client(m.redis.url, m.redis.password),
                                        cfg.redis_replication_file or None)
            out = {"changed": before.role != "master", "was": before.role}
        elif args.cmd == "redis-follow":
            r = redis_role.client(m.redis.url, m.redis.password)
            before = r.info("replication")
            redis_role.follow(r, args.master, args.port, cfg.redis_replication_file or None)
            out = {"changed": not (before["role"] == "slave" and before.get("master_host") == args.master),
                   "was": before["role"]}
        elif args.cmd == "handover":
            res = switchover.hand_over(m, db, args.from_host, args.to_host, force=args.force)
            out = {"changed": any(v.startswith("changed") for v in res.values()), "accounts": res}
        else:
            out = {"waited_seconds": round(switchover.wait_primary(m, db, args.host, args.timeout,
                                                                   max_age=switchover.fresh_heartbeat_limit(m)), 3)}
    except (DatabaseUnavailable, TimeoutError, RuntimeError) as e:
        print(f"quantshift-ha {args.cmd}: {e}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(json.dumps(out, default=str))
    return 0



# ------------------------------------------------------------- quantshift-alert --

def alert_main(argv: list[str] | None = None) -> int:
    """OnFailure= hook of the bot units: a unit that systemd gave up restarting
    (start limit hit, or exit 78 for a bad config) is reported to the webhook."""
    import os
    import socket

    from .failover.actions import post_alert

    p = argparse.ArgumentParser(prog="quantshift-alert", description="Report a failed unit to the alert webhook.")
    p.add_argument("--unit", required=True)
    args = p.parse_args(argv)
    _setup_logging()
    payload = {"severity": "critical", "event": "unit_failed", "unit": args.unit, "host": socket.gethostname(),
               "summary": f"{args.unit} on {socket.gethostname()} failed and is no longer restarted"}
    log.error("ALERT %s", payload["summary"])
    url = os.environ.get("QUANTSHIFT_ALERT_WEBHOOK_URL", "")
    return 0 if not url or post_alert(url, payload) else 1
