"""The failover monitor against a real PostgreSQL and real Redis servers.

systemd is not available on the test machine: starting units goes through a
recording stand-in here; molecule's chaos scenario runs the real units.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib
import yaml

from quantshift import config
from quantshift.failover import redis_role
from quantshift.failover.monitor import FailoverMonitor
from quantshift.failover.monitor_config import MonitorConfig, Monitored, load_config
from quantshift.metrics import MonitorMetrics
from quantshift.store import Database, DatabaseUnavailable, leader_lease
from quantshift.watchdog import Notifier

from .conftest import free_port
from .helpers import sample, scrape

ACCOUNTS = ["equity", "crypto"]


class RecordingServices:
    def __init__(self, fail: bool = False, active=()):
        self.started: list[list[str]] = []
        self.stopped: list[list[str]] = []
        self.fail = fail
        self.active = set(active)

    def start(self, units, timeout):
        self.started.append(list(units))
        if self.fail:
            raise subprocess.CalledProcessError(1, ["systemctl", "start", *units])
        self.active.update(units)

    def stop(self, units, timeout):
        self.stopped.append(list(units))
        self.active.difference_update(units)

    def is_active(self, unit):
        return unit in self.active


@pytest.fixture
def replica_pair(redis_server):
    """A real master (the session server) and a real replica of it."""
    master_port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    tmp = Path(tempfile.mkdtemp(prefix="qs-replica-"))
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--dir", str(tmp), "--replicaof", "127.0.0.1", str(master_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis_lib.Redis(port=port)
    deadline = time.time() + 10
    while True:
        try:
            if r.info("replication").get("master_link_status") == "up":
                break
        except redis_lib.ConnectionError:
            pass
        assert time.time() < deadline, "replica did not sync"
        time.sleep(0.05)
    role_file = tmp / "replication.conf"
    role_file.write_text(f"replicaof 127.0.0.1 {master_port}\n")
    yield f"redis://127.0.0.1:{port}/0", role_file
    proc.terminate()
    proc.wait(5)
    shutil.rmtree(tmp, ignore_errors=True)


def make_monitor(pg_dsn, redis_url, role_file=None, services=None, alerts=None, watching_for=3600.0, **over):
    """A monitor that (by default) has reached the arbiter without a gap for
    `watching_for` seconds, so a stale heartbeat counts at once."""
    settings = dict(bot_configs=["unused"], host_id="ct101", check_interval_seconds=0.1,
                    stale_threshold_seconds=2, cooldown_seconds=300, metrics_port=0,
                    redis_replication_file=str(role_file) if role_file else "")
    cfg = MonitorConfig(**{**settings, **over})
    monitored = Monitored(accounts=ACCOUNTS, units=[f"quantshift-{a}.service" for a in ACCOUNTS],
                          lease_ttl_seconds=2, heartbeat_interval_seconds=1, database=config.DatabaseConfig(dsn=pg_dsn),
                          redis=config.RedisConfig(url=redis_url))
    sent = [] if alerts is None else alerts
    mon = FailoverMonitor(cfg, monitored, db=Database(pg_dsn), services=services or RecordingServices(),
                          metrics=MonitorMetrics(0, "127.0.0.1"), alert=sent.append)
    if watching_for:
        try:
            with mon.db.transaction() as cur:
                cur.execute("""INSERT INTO monitor_checks (host_id, last_check_at, reachable_since)
                               VALUES (%s, now(), now() - make_interval(secs => %s))
                               ON CONFLICT (host_id) DO UPDATE SET last_check_at = EXCLUDED.last_check_at,
                                   reachable_since = EXCLUDED.reachable_since""", (cfg.host_id, watching_for))
        except DatabaseUnavailable:
            pass  # the unreachable-database tests
    return mon


def primary_on(db, host="ct100", heartbeat_age=0.0, lease_left=30.0):
    """The primary's lease and heartbeats as the test wants them (database clock)."""
    with db.transaction() as cur:
        for a in ACCOUNTS:
            leader_lease.init(cur, a, host, ttl=lease_left if lease_left > 0 else 1)
            cur.execute("UPDATE leader SET lease_expires_at = now() + make_interval(secs => %s) WHERE account = %s",
                        (lease_left, a))
            cur.execute("""INSERT INTO bot_status (account, host_id, status, last_heartbeat)
                           VALUES (%s, %s, 'PRIMARY', now() - make_interval(secs => %s))
                           ON CONFLICT (account, host_id) DO UPDATE SET last_heartbeat = EXCLUDED.last_heartbeat""",
                        (a, host, heartbeat_age))


def test_healthy_primary_is_left_alone(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=1, lease_left=30)
    services = RecordingServices()
    mon = make_monitor(pg_dsn, redis_url, services=services)
    assert mon.check_once() == "healthy"
    assert services.started == []
    assert leader_lease.LeaderLease(db).current("equity").holder == "ct100"


def test_monitor_reports_ready_then_pings_the_watchdog_every_check(db, pg_dsn, redis_url, tmp_path):
    """The monitor's unit is Type=notify with WatchdogSec: READY=1 before the first
    check (the database may be away), WATCHDOG=1 once per check, STOPPING=1 at the end."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        primary_on(db, heartbeat_age=1, lease_left=30)
        mon = make_monitor(pg_dsn, redis_url)
        mon.notifier = Notifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"})
        checks = []
        check_once = mon.check_once
        mon.check_once = lambda: checks.append(1) or check_once()
        mon.next_check_in = lambda: 0.05
        runner = threading.Thread(target=mon.run)
        runner.start()
        first = sock.recv(4096).decode()
        while len(checks) < 3:
            time.sleep(0.01)
        mon.stop()
        runner.join(5)
        sent = [first]
        sock.settimeout(0.2)
        try:
            while True:
                sent.append(sock.recv(4096).decode())
        except (TimeoutError, socket.timeout):
            pass
    assert sent[0].startswith("READY=1"), sent
    assert sent[-1] == "STOPPING=1", sent
    assert sent.count("WATCHDOG=1") == len(checks) >= 3, (sent, len(checks))


def test_stale_heartbeat_with_valid_lease_does_not_fail_over(db, pg_dsn, redis_url):
    # The lease is the arbiter: an old heartbeat row alone is not enough.
    primary_on(db, heartbeat_age=120, lease_left=30)
    services = RecordingServices()
    assert make_monitor(pg_dsn, redis_url, services=services).check_once() == "healthy"
    assert services.started == []


def test_stale_primary_is_failed_over_with_epoch_bump_redis_promotion_alert_and_event(db, pg_dsn, replica_pair):
    replica_url, role_file = replica_pair
    primary_on(db, heartbeat_age=120, lease_left=-5)
    services, alerts = RecordingServices(), []
    mon = make_monitor(pg_dsn, replica_url, role_file=role_file, services=services, alerts=alerts)

    assert mon.check_once() == "failover_success"

    for a in ACCOUNTS:
        lease = leader_lease.LeaderLease(db).current(a)
        assert (lease.holder, lease.epoch) == ("ct101", 2)
    assert services.started == [["quantshift-equity.service", "quantshift-crypto.service"]]
    assert redis_lib.Redis.from_url(replica_url).info("replication")["role"] == "master"
    assert "replicaof" not in role_file.read_text()
    assert len(alerts) == 1 and alerts[0]["event"] == "failover" and alerts[0]["severity"] == "critical"
    assert alerts[0]["from"] == "ct100" and alerts[0]["to"] == "ct101"
    assert set(alerts[0]["steps"]) == {"lease", "redis", "start_bots"}
    with db.transaction() as cur:
        cur.execute("SELECT account, from_holder, to_holder, epoch, duration_seconds, detail FROM failover_events "
                    "WHERE event = 'failover' ORDER BY account")
        rows = cur.fetchall()
    assert [r[:4] for r in rows] == [("crypto", "ct100", "ct101", 2), ("equity", "ct100", "ct101", 2)]
    assert all(r[4] > 0 for r in rows) and json.loads(rows[0][5])["result"] == "success"
    text = scrape(mon.metrics.port)
    assert sample(text, "quantshift_failover_monitor_failovers_total", account="equity", result="success") == 1
    assert sample(text, "quantshift_failover_monitor_last_failover_duration_seconds", account="equity") > 0
    # A monitor started later (another host, or after a restart) reads it from the database.
    other = make_monitor(pg_dsn, replica_url, services=RecordingServices(active=services.active))
    assert sample(scrape(other.metrics.port), "quantshift_failover_monitor_last_failover_duration_seconds",
                  account="crypto") is None
    other.check_once()
    assert sample(scrape(other.metrics.port), "quantshift_failover_monitor_last_failover_duration_seconds",
                  account="crypto") == pytest.approx(rows[0][4])
    assert sample(text, "quantshift_failover_monitor_db_up") == 1
    # After the takeover this host is the primary: the next check does nothing.
    assert mon.check_once() == "primary_here"
    assert len(services.started) == 1


def test_unreachable_database_only_alerts_and_never_promotes(pg_dsn, replica_pair):
    replica_url, role_file = replica_pair
    closed = free_port()
    services, alerts = RecordingServices(), []
    mon = make_monitor(f"host=127.0.0.1 port={closed} user=postgres dbname=x connect_timeout=1", replica_url,
                       role_file=role_file, services=services, alerts=alerts)
    assert mon.check_once() == "db_unreachable"
    assert mon.check_once() == "db_unreachable"
    assert services.started == []
    assert redis_lib.Redis.from_url(replica_url).info("replication")["role"] == "slave"
    assert "replicaof" in role_file.read_text()
    assert [a["event"] for a in alerts] == ["standby_db_unreachable"], "one alert per outage, not per check"
    assert sample(scrape(mon.metrics.port), "quantshift_failover_monitor_db_up") == 0


def test_next_check_is_when_the_primarys_lease_runs_out(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=1, lease_left=0.6)
    mon = make_monitor(pg_dsn, redis_url, check_interval_seconds=10)
    assert mon.check_once() == "healthy"
    assert 0.5 < mon.next_check_in() < 1.0
    primary_on(db, heartbeat_age=1, lease_left=30)
    mon.check_once()
    assert mon.next_check_in() == 10


def test_cooldown_blocks_a_second_failover_to_this_host(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=120, lease_left=-5)
    with db.transaction() as cur:
        cur.execute("INSERT INTO failover_events (account, event, to_holder, created_at) "
                    "VALUES ('equity', 'failover', 'ct101', now() - interval '60 seconds')")
    services = RecordingServices()
    assert make_monitor(pg_dsn, redis_url, services=services).check_once() == "cooldown"
    assert services.started == []
    assert leader_lease.LeaderLease(db).current("equity").holder == "ct100"


def test_takeover_interrupted_half_way_is_finished_on_restart(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=120, lease_left=-5)
    leader_lease.LeaderLease(db).take_over_if_expired("equity", "ct101", 30)  # crashed after the first lease
    services = RecordingServices()
    assert make_monitor(pg_dsn, redis_url, services=services).check_once() == "failover_success"
    assert {leader_lease.LeaderLease(db).current(a).holder for a in ACCOUNTS} == {"ct101"}
    assert leader_lease.LeaderLease(db).current("equity").epoch == 2, "the taken lease is not taken twice"
    assert services.started == [["quantshift-equity.service", "quantshift-crypto.service"]]


def test_bots_that_fail_to_start_are_reported_as_failed_failover(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=120, lease_left=-5)
    alerts = []
    mon = make_monitor(pg_dsn, redis_url, services=RecordingServices(fail=True), alerts=alerts)
    assert mon.check_once() == "failover_failed"
    assert alerts[0]["result"] == "failed"
    assert sample(scrape(mon.metrics.port), "quantshift_failover_monitor_failovers_total",
                  account="crypto", result="failed") == 1


def test_one_hung_bot_beside_a_live_sibling_is_left_to_the_watchdog(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=1, lease_left=30)
    with db.transaction() as cur:  # only equity's bot stopped renewing
        cur.execute("UPDATE leader SET lease_expires_at = now() - interval '1 second' WHERE account = 'equity'")
        cur.execute("UPDATE bot_status SET last_heartbeat = now() - interval '120 seconds' WHERE account = 'equity'")
    services = RecordingServices()
    assert make_monitor(pg_dsn, redis_url, services=services).check_once() == "healthy"
    assert services.started == []
    assert leader_lease.LeaderLease(db).current("equity").holder == "ct100"


def test_a_restarted_monitor_on_the_primary_does_not_fail_over_again(db, pg_dsn, redis_url):
    primary_on(db, host="ct101", heartbeat_age=1, lease_left=30)
    services = RecordingServices(active=["quantshift-equity.service", "quantshift-crypto.service"])
    alerts = []
    assert make_monitor(pg_dsn, redis_url, services=services, alerts=alerts).check_once() == "primary_here"
    assert services.started == [] and alerts == []


def test_redis_follow_then_promote_rewrites_the_role_file(replica_pair, redis_server):
    replica_url, role_file = replica_pair
    r = redis_role.client(replica_url, None)
    before = redis_role.promote(r, str(role_file))
    assert before.role == "slave" and before.link_up is True
    assert redis_role.state(r).role == "master"
    master_port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    redis_role.follow(r, "127.0.0.1", master_port, str(role_file))
    assert redis_role.state(r).role == "slave"
    assert role_file.read_text().splitlines()[-1] == f"replicaof 127.0.0.1 {master_port}"


def write_yaml(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return str(p)


def bot_yaml(tmp_path, name, port, pg_dsn="dbname=quantshift host=db"):
    return write_yaml(tmp_path, f"{name}.yaml", {"name": name, "metrics_port": port, "symbols": ["AAA"],
                                                  "database": {"dsn": pg_dsn}})


def test_monitor_config_reads_accounts_targets_and_database_from_the_bot_configs(tmp_path):
    bots = [bot_yaml(tmp_path, "equity", 9200), bot_yaml(tmp_path, "crypto", 9201)]
    path = write_yaml(tmp_path, "monitor.yaml", {"host_id": "ct101", "bot_configs": bots})
    cfg, mon = load_config(path, env={"QUANTSHIFT_DB_PASSWORD": "pw"})
    assert cfg.check_interval_seconds == 10 and cfg.stale_threshold_seconds == 60 and cfg.cooldown_seconds == 300
    assert mon.accounts == ["equity", "crypto"]
    # each account is started and stopped as its target (every component of it)
    assert mon.units == ["quantshift-equity.target", "quantshift-crypto.target"]
    assert mon.database.dsn == "dbname=quantshift host=db" and mon.database.password == "pw"
    assert mon.heartbeat_interval_seconds == 30  # the bots' default, used by quantshift-ha wait-primary


def test_monitor_uses_its_own_login_when_configured(tmp_path):
    bots = [bot_yaml(tmp_path, "equity", 9200, pg_dsn="dbname=quantshift host=db user=qs_bot_ct101")]
    path = write_yaml(tmp_path, "monitor.yaml", {"host_id": "ct101", "bot_configs": bots,
                                                 "database_user": "qs_failover_monitor"})
    _, mon = load_config(path, env={"QUANTSHIFT_DB_PASSWORD": "bot-pw", "QUANTSHIFT_MONITOR_DB_PASSWORD": "mon-pw"})
    assert "user=qs_failover_monitor" in mon.database.dsn and "qs_bot_ct101" not in mon.database.dsn
    assert "host=db" in mon.database.dsn and mon.database.password == "mon-pw"
    assert "mon-pw" not in repr(mon)


@pytest.mark.parametrize("over, key", [
    ({"cooldown_seconds": 30}, "cooldown_seconds"),
    ({"check_interval_seconds": 90}, "stale_threshold_seconds"),
    ({"metrics_port": 9200}, "metrics_port"),
    ({"stale_threshold_seconds": 30, "cooldown_seconds": 300}, "stale_threshold_seconds"),
    ({"check_interval": 5}, "check_interval"),
    ({"alert_webhook_url": "ftp://x"}, "alert_webhook_url"),
    ({"database_user": "qs_failover_monitor"}, "database_user"),  # and no QUANTSHIFT_MONITOR_DB_PASSWORD
])
def test_bad_monitor_config_is_one_line_naming_the_key(tmp_path, over, key):
    bots = [bot_yaml(tmp_path, "equity", 9200)]
    path = write_yaml(tmp_path, "monitor.yaml", {"host_id": "ct101", "bot_configs": bots, **over})
    with pytest.raises(config.ConfigError) as e:
        load_config(path, env={})
    msg = str(e.value)
    assert "\n" not in msg and f"monitor.yaml: {key}" in msg


# ---------------------------------------------------- arbiter outages (issue 11, item 6) --

def _arbiter_was_away(db, seconds: float, lease_expired_for: float):
    """What the database looks like right after it was paused or stopped for
    `seconds`: nobody could write, so the primary's heartbeat and this monitor's
    last check are that old, and the primary's lease ran out meanwhile."""
    with db.transaction() as cur:
        cur.execute("UPDATE bot_status SET last_heartbeat = now() - make_interval(secs => %s)", (seconds,))
        cur.execute("UPDATE leader SET lease_expires_at = now() - make_interval(secs => %s)", (lease_expired_for,))
        cur.execute("UPDATE monitor_checks SET last_check_at = now() - make_interval(secs => %s)", (seconds,))


def test_an_arbiter_outage_with_a_healthy_primary_causes_no_takeover(db, pg_dsn, redis_url):
    primary_on(db, heartbeat_age=1, lease_left=30)
    services = RecordingServices()
    mon = make_monitor(pg_dsn, redis_url, services=services)
    assert mon.check_once() == "healthy"
    _arbiter_was_away(db, 120, lease_expired_for=90)
    assert mon.check_once() == "healthy", "the heartbeat age spans a time nobody could write one"
    assert services.started == []
    # The primary renews at the same epoch on its next heartbeat and carries on.
    for a in ACCOUNTS:
        assert leader_lease.LeaderLease(db).renew(a, "ct100", 1, 30) is not None
    primary_on(db, heartbeat_age=0, lease_left=30)
    assert mon.check_once() == "healthy"
    assert {(leader_lease.LeaderLease(db).current(a).holder, leader_lease.LeaderLease(db).current(a).epoch)
            for a in ACCOUNTS} == {("ct100", 1)}


def test_a_primary_that_died_during_an_arbiter_outage_fails_over_a_threshold_after_its_return(db, pg_dsn,
                                                                                              redis_url):
    primary_on(db, heartbeat_age=1, lease_left=30)
    services = RecordingServices()
    mon = make_monitor(pg_dsn, redis_url, services=services, check_interval_seconds=0.5)
    assert mon.check_once() == "healthy"
    _arbiter_was_away(db, 120, lease_expired_for=90)
    t0 = time.monotonic()
    assert mon.check_once() == "healthy"
    wait = mon.next_check_in()
    assert 0 < wait <= 0.5
    decision = "healthy"
    while decision == "healthy" and time.monotonic() - t0 < 10:
        time.sleep(mon.next_check_in())
        decision = mon.check_once()
    took = time.monotonic() - t0
    assert decision == "failover_success"
    # threshold (2 s) of reachable arbiter, then at most one check interval more
    assert 2.0 <= took <= 2.0 + 0.5 + 0.3, took


def test_cooldown_counts_failovers_in_either_direction(db, pg_dsn, redis_url):
    """A->B->A inside five minutes is a flap: the failover *to* ct100 a minute
    ago blocks ct101 from taking the account back."""
    primary_on(db, heartbeat_age=120, lease_left=-5)
    with db.transaction() as cur:
        cur.execute("INSERT INTO failover_events (account, event, from_holder, to_holder, created_at) "
                    "VALUES ('crypto', 'failover', 'ct101', 'ct100', now() - interval '60 seconds')")
    services = RecordingServices()
    assert make_monitor(pg_dsn, redis_url, services=services).check_once() == "cooldown"
    assert services.started == []


def test_on_a_host_without_the_lease_the_monitor_stops_local_bots_and_follows_the_holders_redis(
        db, pg_dsn, replica_pair, redis_server):
    """A returning old primary: its bots came back up (enabled units) and its
    Redis came back as a master. Its monitor makes it a clean standby."""
    replica_url, role_file = replica_pair
    local = redis_role.client(replica_url, None)
    redis_role.promote(local, str(role_file))  # the stale master
    master_port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    primary_on(db, host="ct101", heartbeat_age=1, lease_left=30)
    units = [f"quantshift-{a}.service" for a in ACCOUNTS]
    services = RecordingServices(active=units)
    mon = make_monitor(pg_dsn, replica_url, role_file=role_file, services=services, host_id="ct100",
                       redis_peers={"ct101": f"127.0.0.1:{master_port}"})
    assert mon.check_once() == "healthy"
    assert services.stopped == [units] and services.started == []
    info = local.info("replication")
    assert info["role"] == "slave" and int(info["master_port"]) == master_port
    assert role_file.read_text().splitlines()[-1] == f"replicaof 127.0.0.1 {master_port}"
    assert mon.check_once() == "healthy" and services.stopped == [units], "nothing more to do"


def test_systemd_stop_waits_for_the_targets_components(monkeypatch):
    """A target is ordered after its components, so `systemctl stop <target>` returns
    before they have stopped: Systemd.stop names them too, so systemctl waits for them."""
    import subprocess

    from quantshift.failover import actions

    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        out = "quantshift-equity-coordinator.service quantshift-equity-regime.service\n" if "show" in argv else ""
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")

    monkeypatch.setattr(actions.subprocess, "run", run)
    actions.Systemd().stop(["quantshift-equity.target"], 60)
    assert calls == [["systemctl", "show", "-p", "Wants", "--value", "quantshift-equity.target"],
                     ["systemctl", "disable", "--now", "quantshift-equity.target"],
                     ["systemctl", "stop", "quantshift-equity-coordinator.service",
                      "quantshift-equity-regime.service"]]


@pytest.mark.parametrize("states, running", [
    ("inactive\ninactive\ninactive\n", False),
    ("inactive\nfailed\ninactive\n", False),
    ("active\nactive\nactive\n", True),
    # booting with the target still enabled: its start job waits, a component is activating
    ("inactive\nactivating\ninactive\n", True),
    ("inactive\ndeactivating\ninactive\n", True),
])
def test_an_account_coming_up_at_boot_counts_as_running_so_a_returning_old_primary_stops_it(monkeypatch, states,
                                                                                              running):
    import subprocess

    from quantshift.failover import actions

    def run(argv, **kwargs):
        out = states if "is-active" in argv else "quantshift-equity-coordinator.service quantshift-equity-regime.service\n"
        return subprocess.CompletedProcess(argv, 0 if states.startswith("active") else 3, stdout=out, stderr="")

    monkeypatch.setattr(actions.subprocess, "run", run)
    assert actions.Systemd().is_active("quantshift-equity.target") is running
