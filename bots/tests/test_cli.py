"""The console scripts as the systemd units and the deploy run them."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import yaml

from .conftest import SYMBOLS, free_port
from .helpers import sample, scrape


def _script(name: str) -> list[str]:
    fn = {"quantshift-bot": "bot_main", "quantshift-status": "status_main", "quantshift-lease": "lease_main",
          "quantshift-db": "db_main", "quantshift-risk": "risk_main"}[name]
    return [sys.executable, "-c", f"import sys; from quantshift.cli import {fn}; sys.exit({fn}(sys.argv[1:]))"]


def _config(tmp_path, pg_dsn, redis_url, **over) -> str:
    (tmp_path / "run").mkdir(exist_ok=True)
    data = {"name": "equity", "host_id": "ct100", "metrics_port": free_port(), "metrics_bind": "127.0.0.1",
            "lock_dir": str(tmp_path / "run"),
            "heartbeat_interval_seconds": 1, "lease_ttl_seconds": 10, "cycle_interval_seconds": 1,
            "database": {"dsn": pg_dsn}, "redis": {"url": redis_url},
            "marketdata": {"seed": 3, "lookback_bars": 120}, "symbols": SYMBOLS,
            # RSI < 99 enters (nearly) everywhere: a deterministic amount of trading at any wall-clock time
            "strategies": {"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                           "bollinger_bounce": {"enabled": False}, "breakout_momentum": {"enabled": False}}}
    data.update(over)
    p = tmp_path / "equity_config.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def run(name, *args, **kw):
    return subprocess.run(_script(name) + list(args), capture_output=True, text=True, timeout=60, **kw)


def test_once_trades_offline_through_the_whole_stack(tmp_path, pg_dsn, redis_url):
    cfg = _config(tmp_path, pg_dsn, redis_url)
    r = run("quantshift-db", "--config", cfg, "migrate")
    assert r.returncode == 0 and "schema at 0003" in r.stdout
    r = run("quantshift-lease", "--config", cfg, "init", "--holder", "ct100")
    assert r.returncode == 0 and "created: holder ct100 epoch 1" in r.stdout
    r = run("quantshift-lease", "--config", cfg, "init", "--holder", "ct101")
    assert "exists (unchanged): holder ct100 epoch 1" in r.stdout
    r = run("quantshift-bot", "--config", cfg, "--once")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "filled buy" in r.stdout and "cycle equity" in r.stdout
    st = json.loads(run("quantshift-status", "--config", cfg, "--json").stdout)
    assert st["leader"]["holder"] == "ct100" and st["leader"]["epoch"] == 1
    assert [h["host_id"] for h in st["hosts"]] == ["ct100"] and st["hosts"][0]["status"] == "STOPPED"
    n = len(st["positions"])
    assert n >= 6 and st["orders_by_status"] == {"FILLED": n}
    table = run("quantshift-status", "--config", cfg).stdout
    assert "leader   ct100  epoch 1" in table and f"positions ({n})" in table
    show = json.loads(run("quantshift-lease", "--config", cfg, "show", "--json").stdout)
    assert show["holder"] == "ct100" and show["epoch"] == 1


def test_status_reports_a_missing_leader_and_unreachable_db(tmp_path, pg_dsn, redis_url):
    cfg = _config(tmp_path, pg_dsn, redis_url)
    run("quantshift-db", "--config", cfg, "migrate")
    assert "leader   none" in run("quantshift-status", "--config", cfg).stdout
    bad = _config(tmp_path, f"host=127.0.0.1 port={free_port()} dbname=x user=x connect_timeout=1", redis_url)
    r = run("quantshift-status", "--config", bad)
    assert r.returncode == 1 and r.stderr.startswith("database unavailable")


def test_service_mode_notifies_systemd_and_exits_cleanly_on_sigterm(tmp_path, migrated_dsn, redis_url):
    cfg = _config(tmp_path, migrated_dsn, redis_url)
    run("quantshift-lease", "--config", cfg, "init", "--holder", "ct100")
    port = yaml.safe_load(open(cfg))["metrics_port"]
    sock_path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(15)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000")
    proc = subprocess.Popen(_script("quantshift-bot") + ["--config", cfg], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    got: list[str] = []
    try:
        def wait_for(pred):
            deadline = time.time() + 15
            while time.time() < deadline:
                got.append(sock.recv(4096).decode())
                if pred():
                    return True
            return False

        assert wait_for(lambda: any(m.startswith("READY=1") for m in got))
        assert wait_for(lambda: sum(m == "WATCHDOG=1" for m in got) >= 3)
        assert wait_for(lambda: any(m.startswith("STATUS=PRIMARY epoch 1") for m in got))
        text = scrape(port)
        assert sample(text, "quantshift_equity_is_primary") == 1
        assert sample(text, "quantshift_equity_watchdog_notifications_total") >= 3
        # no two WATCHDOG=1 further apart than WatchdogSec/2 once running is checked by the counter moving
        proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: "STOPPING=1" in got)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "stopped equity" in proc.stdout.read()


def test_check_config_validates_without_starting_anything(tmp_path, pg_dsn, redis_url):
    good = _config(tmp_path, pg_dsn, redis_url)
    r = subprocess.run(_script("quantshift-bot") + ["--config", good, "--check-config"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "ok (account equity, 8 symbols, broker sim" in r.stdout, r.stderr
    bad = _config(tmp_path, pg_dsn, redis_url, heartbeat_interval_seconds=-5)
    r = subprocess.run(_script("quantshift-bot") + ["--config", bad, "--check-config"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 78 and r.stderr.strip().count("\n") == 0 and "heartbeat_interval_seconds" in r.stderr


def test_migrate_json_reports_the_verdict(tmp_path, pg_dsn, redis_url):
    cfg = _config(tmp_path, pg_dsn, redis_url)
    first = subprocess.run(_script("quantshift-db") + ["--config", cfg, "migrate", "--json"], capture_output=True,
                           text=True, timeout=60)
    again = subprocess.run(_script("quantshift-db") + ["--config", cfg, "migrate", "--json"], capture_output=True,
                           text=True, timeout=60)
    v1, v2 = json.loads(first.stdout), json.loads(again.stdout)
    assert v1["changed"] and v1["applied"] == [1, 2, 3] and v1["schema"] == 3 and v1["privileges"] is None
    assert not v2["changed"] and v2["applied"] == [] and v2["summary"].startswith("migrations applied now: none")


def _daily_pnl(dsn):
    import psycopg2

    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("SELECT start_value::float8, last_value::float8, limit_hit FROM daily_pnl WHERE account = 'equity'")
        row = cur.fetchone()
        cur.execute("SELECT event, to_holder, epoch, detail FROM failover_events WHERE event = 'kill_switch_reset'")
        return row, cur.fetchall()


def test_the_kill_switch_is_reset_only_from_the_lease_holder_and_restarts_the_day(tmp_path, migrated_dsn,
                                                                                   redis_url):
    from quantshift.store import Database, daily_pnl, leader_lease
    from quantshift.store.fencing import Fence

    primary = _config(tmp_path, migrated_dsn, redis_url)
    (tmp_path / "standby").mkdir()
    standby = _config(tmp_path / "standby", migrated_dsn, redis_url, host_id="ct101")
    assert run("quantshift-lease", "--config", primary, "init", "--holder", "ct100").returncode == 0
    r = run("quantshift-risk", "--config", primary, "reset-kill-switch", "--reason", "checked the fills")
    assert r.returncode == 1 and r.stderr.strip() == "quantshift-risk: equity: the kill switch is not set today; " \
                                                     "nothing changed"
    # The holder's day: started at 100k, down 4% with the switch latched.
    db = Database(migrated_dsn)
    with db.transaction() as cur:
        epoch = leader_lease.current(cur, "equity").epoch
    db.fence = Fence("equity", "ct100", epoch, 0.0)
    with db.transaction() as cur:
        day = daily_pnl.update(cur, "equity", 100_000.0)
        daily_pnl.update(cur, "equity", 96_000.0)
        daily_pnl.set_limit_hit(cur, "equity", day.day)
    db.close()
    before = _daily_pnl(migrated_dsn)
    assert before == ((100_000.0, 96_000.0, True), [])

    r = run("quantshift-risk", "--config", standby, "reset-kill-switch", "--reason", "from the wrong host")
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "quantshift-risk: equity: run this on the lease holder; the lease is held by ct100 (epoch 1), "
        "this host is ct101"]
    assert _daily_pnl(migrated_dsn) == before
    r = run("quantshift-risk", "--config", primary, "reset-kill-switch", "--reason", "  ")
    assert r.returncode == 2 and _daily_pnl(migrated_dsn) == before

    r = run("quantshift-risk", "--config", primary, "reset-kill-switch", "--reason", "checked the fills")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("equity: kill switch reset for ") and "restarts at 96,000.00 (was 100,000.00, " \
                                                                      "loss -4,000.00)" in r.stdout
    row, events = _daily_pnl(migrated_dsn)
    assert row == (96_000.0, 96_000.0, False)
    assert [(e, h, ep) for e, h, ep, _ in events] == [("kill_switch_reset", "ct100", 1)]
    assert json.loads(events[0][3])["reason"] == "checked the fills"
