"""Failure cases on the lab (molecule/failover). They run in order on one lab:
each case starts with ct100 trading both accounts and ends by restoring that.
After every case the orders and lease history must show one trader per account
at every instant."""
from __future__ import annotations

import functools
import json
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime

import pytest
import redis
import yaml

from lab import (ACCOUNTS, ADDRESSES, BOT_UNITS, MONITOR_PORT, PORTS, ROOT, AlertReceiver, Timings,
                 ansible_playbook, cut, heal, leases, metric, podman, primary_claims, recap_changed,
                 single_trader_violations, sql, ssh, unit_show, wait_until)

CHAOS = yaml.safe_load((ROOT / "molecule/failover/vars/chaos.yml").read_text())
THRESHOLD = CHAOS["failover_monitor_stale_threshold_seconds"]  # = the lease TTL
WATCHDOG = CHAOS["quantshift_bot_watchdog_sec"]
HEARTBEAT = CHAOS["quantshift_bot_heartbeat_interval_seconds"]
COOLDOWN = CHAOS["failover_monitor_cooldown_seconds"]
TIMINGS = Timings()


@pytest.fixture(scope="module")
def receiver():
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def alerts(receiver):
    """What the failover monitor and the bots posted (not Alertmanager's notifications)."""
    return receiver.alerts


@pytest.fixture(autouse=True)
def one_trader_after_each_case():
    yield
    n, violations, overlap = single_trader_violations()
    print(f"single-trader check: {n} orders, {len(violations)} violations, overlap {overlap:.2f} s", flush=True)
    assert violations == [], violations


def trading_on(host: str, timeout: float = 60) -> None:
    """Both accounts' leases held by host and its bots reporting PRIMARY."""
    wait_until(f"{host} holds both leases", lambda: {h for h, _ in leases().values()} == {host}, timeout)
    wait_until(f"{host} bots report PRIMARY", lambda: all(primary_claims()[a] == {host} for a in ACCOUNTS), timeout)


def failovers_to(host: str) -> int:
    """Failovers (one event row per account, written in one transaction) to host."""
    return int(sql("SELECT count(DISTINCT created_at) FROM failover_events "
                   f"WHERE event = 'failover' AND to_holder = '{host}'")[0][0])


def restore_ct100(after_outage: bool = True) -> None:
    """The documented failback: after an unplanned failover, site.yml first (it keeps
    ct101 primary and makes the returned ct100 follow it), then failback.yml."""
    if after_outage:
        ansible_playbook("site.yml")
        assert {h for h, _ in leases().values()} == {"ct101"}, "site.yml keeps the current primary"
    ansible_playbook("playbooks/failback.yml")
    trading_on("ct100")


def test_0_lab_starts_with_ct100_trading_and_ct101_replicating():
    trading_on("ct100")
    info = redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")
    assert info["role"] == "slave" and info["master_link_status"] == "up"
    assert unit_show("ct101", "quantshift-failover-monitor.service", "ActiveState") == "active"


def test_1_killed_bot_is_restarted_by_systemd_without_failover():
    before = leases()
    restarts = int(unit_show("ct100", BOT_UNITS[0], "NRestarts"))
    pid = unit_show("ct100", BOT_UNITS[0], "MainPID")
    t0 = time.monotonic()
    ssh("ct100", f"kill -9 {pid}")
    wait_until("equity restarted", lambda: int(unit_show("ct100", BOT_UNITS[0], "NRestarts")) == restarts + 1
               and unit_show("ct100", BOT_UNITS[0], "ActiveState") == "active", 60)
    TIMINGS.add("kill -9 -> bot active again (RestartSec 2 s)", time.monotonic() - t0)
    wait_until("equity PRIMARY again", lambda: primary_claims()["equity"] == {"ct100"}, 30)
    assert leases() == before, "a restart is not a failover"


def test_11_stopped_bot_unit_pages_through_alertmanager_without_failover(receiver):
    """One bot unit stopped on the primary: its sibling still trades there, so the
    monitor does not fail over (the host stays primary) and nothing restarts a unit
    stopped on purpose. The page comes from Prometheus' rules through Alertmanager:
    the stopped primary's target goes down, QuantShiftBotHeartbeatStale (for: 30s;
    QuantShiftBotDown waits 2m) fires for it and Alertmanager posts it to the webhook
    after group_wait."""
    assert urllib.parse.urlsplit(CHAOS["alertmanager_webhook_url"]).path == receiver.ALERTMANAGER_PATH
    unit, job = BOT_UNITS[0], "quantshift_equity"
    before, since = leases(), len(receiver.requests)

    def delivered(status: str, after: float):
        """(arrival, alert) of the first notification of our alert in `status`."""
        for arrived, body in receiver.notifications(since):
            for alert in body.get("alerts", []):
                labels = alert["labels"]
                if (alert["status"] == status and labels.get("alertname") == "QuantShiftBotHeartbeatStale"
                        and labels.get("job") == job and labels.get("instance") == "ct100"
                        and datetime.fromisoformat(alert["startsAt"]).timestamp() > after):
                    return arrived, alert
        return None

    # The rule pages for a bot Prometheus saw trading (right after a converge it may
    # not have scraped it yet).
    wait_until("Prometheus sees ct100's equity bot PRIMARY",
               lambda: prometheus_query(f'{job}_is_primary{{instance="ct100"}} == 1'), 60, 1)
    wall0, t0 = time.time(), time.monotonic()
    ssh("ct100", f"systemctl stop {unit}")
    try:
        try:
            arrived, alert = wait_until("Alertmanager delivered the firing alert",
                                        lambda: delivered("firing", wall0), 120)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{alerting_state(receiver, since)}") from None
        TIMINGS.add("bot unit stopped -> Alertmanager webhook (firing)", arrived - t0,
                    f"(HeartbeatStale: scrape 15 s + for 30s + group_wait {CHAOS['alertmanager_group_wait']})")
        assert leases() == before, "one stopped bot beside a live sibling is no failover"
        assert metric("ct100", PORTS["crypto"], "quantshift_crypto_is_primary") == 1, "the sibling kept trading"
        assert unit_show("ct100", unit, "ActiveState") == "inactive", "a unit stopped on purpose stays stopped"
    finally:
        ssh("ct100", f"systemctl start {unit}")
    t1 = time.monotonic()
    assert unit_show("ct100", unit, "ActiveState") == "active"
    wait_until("equity PRIMARY again", lambda: primary_claims()["equity"] == {"ct100"}, 30)
    resolved, _ = wait_until("Alertmanager delivered the resolved alert", lambda: delivered("resolved", wall0), 90)
    TIMINGS.add("bot unit started -> Alertmanager webhook (resolved)", resolved - t1,
                f"(group_interval {CHAOS['alertmanager_group_interval']})")
    assert leases() == before


def prometheus_query(expr: str) -> list:
    url = f"http://{ADDRESSES['monitor']}:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)["data"]["result"]


def alerting_state(receiver: AlertReceiver, since: int) -> str:
    """What Prometheus, Alertmanager and the receiver hold now (for a failure message)."""
    def get(url: str):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)
        except OSError as e:
            return {"error": str(e)}

    def brief(alerts: list[dict]) -> list[str]:
        out = []
        for a in alerts:
            state = a.get("state") or a.get("status")  # Prometheus: state; Alertmanager: status{.state}
            state = state.get("state") if isinstance(state, dict) else state
            out.append(f"{a['labels'].get('alertname')}{{job={a['labels'].get('job')},"
                       f"instance={a['labels'].get('instance')}}} {state} since {a.get('activeAt') or a.get('startsAt')}")
        return out

    prometheus = get(f"http://{ADDRESSES['monitor']}:9090/api/v1/alerts")
    alertmanager = get(f"http://{ADDRESSES['monitor']}:9093/api/v2/alerts")
    posted = [a for _, body in receiver.notifications(since) for a in body.get("alerts", [])]
    return (f"prometheus: {brief(prometheus.get('data', {}).get('alerts', [])) if 'data' in prometheus else prometheus}\n"
            f"alertmanager: {brief(alertmanager) if isinstance(alertmanager, list) else alertmanager}\n"
            f"posted to the webhook: {brief(posted)}")


def test_6_redis_master_down_bots_keep_trading_degraded_without_failover():
    before, errors0 = leases(), metric("ct100", PORTS["equity"], "quantshift_equity_cycle_errors_total", type="redis")
    ssh("ct100", "systemctl stop redis-server")
    try:
        wait_until("a cycle without Redis counted", lambda: (metric(
            "ct100", PORTS["equity"], "quantshift_equity_cycle_errors_total", type="redis") or 0) > (errors0 or 0),
            90)
        assert primary_claims()["equity"] == {"ct100"}, "still trading, degraded"
        assert leases() == before
    finally:
        ssh("ct100", "systemctl start redis-server")


def test_5_standby_cut_off_from_database_only_alerts(alerts):
    before = leases()
    cut("ct101", "monitor", 5432)
    try:
        wait_until("monitor reports the database down", lambda: metric(
            "ct101", MONITOR_PORT, "quantshift_failover_monitor_db_up") == 0, 30)
        wait_until("alert received", lambda: any(a["event"] == "standby_db_unreachable" for a in alerts), 30)
        time.sleep(THRESHOLD + 5)
        assert leases() == before, "no promotion while the standby cannot see the arbiter"
        assert unit_show("ct101", BOT_UNITS[0], "ActiveState") == "inactive"
    finally:
        heal("ct101")
    wait_until("monitor sees the database again", lambda: metric(
        "ct101", MONITOR_PORT, "quantshift_failover_monitor_db_up") == 1, 30)


def test_4_primary_cut_off_from_database_stops_trading_before_takeover_and_stands_down(alerts):
    (_, epoch), t0 = leases()["equity"], time.monotonic()
    cut("ct100", "monitor", 5432)
    try:
        wait_until("ct100 self-fenced", lambda: all(metric("ct100", PORTS[a], f"quantshift_{a}_is_primary") == 0
                                                    for a in ACCOUNTS), THRESHOLD + 10, 0.2)
        fenced = time.monotonic() - t0
        assert leases()["equity"][0] == "ct100", "ct100 stopped trading before anyone could take over"
        wait_until("ct101 took over", lambda: {h for h, _ in leases().values()} == {"ct101"}, THRESHOLD + 30, 0.2)
        taken = time.monotonic() - t0
        TIMINGS.add("DB cut: primary self-fenced", fenced, f"(< takeover {taken:.1f} s)")
        assert fenced < taken
        trading_on("ct101")
        assert leases()["equity"][1] == epoch + 1
    finally:
        heal("ct100")
    # The old primary reconnects, sees the higher epoch and stays out (case 7).
    time.sleep(2 * HEARTBEAT)
    assert all(metric("ct100", PORTS[a], f"quantshift_{a}_is_primary") == 0 for a in ACCOUNTS)
    assert primary_claims() == {a: {"ct101"} for a in ACCOUNTS}
    assert any(a["event"] == "failover" and a["to"] == "ct101" for a in alerts)
    restore_ct100()


def test_2_frozen_primary_is_failed_over_and_stands_down_after_the_watchdog(alerts):
    time.sleep(COOLDOWN)  # since the previous failover to ct101
    pids = [unit_show("ct100", u, "MainPID") for u in BOT_UNITS]
    restarts = [int(unit_show("ct100", u, "NRestarts")) for u in BOT_UNITS]
    t0 = time.monotonic()
    ssh("ct100", "sh -c 'kill -STOP " + " ".join(pids) + "'")
    trading_on("ct101", THRESHOLD + 40)
    TIMINGS.add("SIGSTOP primary -> standby trading", time.monotonic() - t0, f"(threshold {THRESHOLD} s)")
    wait_until("watchdog restarted the frozen bots", lambda: all(
        int(unit_show("ct100", u, "NRestarts")) == r + 1 for u, r in zip(BOT_UNITS, restarts)), WATCHDOG + 30)
    wait_until("restarted bots stand down", lambda: all(
        metric("ct100", PORTS[a], f"quantshift_{a}_is_primary") == 0 for a in ACCOUNTS), 30)
    assert primary_claims() == {a: {"ct101"} for a in ACCOUNTS}
    restore_ct100()


def test_3_stopped_primary_container_fails_over_end_to_end(alerts):
    time.sleep(COOLDOWN)
    n = failovers_to("ct101")
    t0 = time.monotonic()
    podman("stop", "-t", "0", "ct100")
    try:
        trading_on("ct101", THRESHOLD + 40)
        TIMINGS.add("container stop -> standby bots PRIMARY", time.monotonic() - t0,
                    f"(goal <= threshold + 5 = {THRESHOLD + 5} s)")
        assert failovers_to("ct101") == n + 1
        event = [a for a in alerts if a["event"] == "failover"][-1]
        TIMINGS.add("promotion phase (lease + redis + bots READY)", event["duration_seconds"], "(goal <= 3 s)")
        assert redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")["role"] == "master"
    finally:
        podman("start", "ct100")
    wait_until("ct100 back", lambda: ssh("ct100", "systemctl is-system-running --wait", check=False).strip()
               in ("running", "degraded"), 60)
    site_yml_keeps_ct101_primary()
    restore_ct100(after_outage=False)


def site_yml_keeps_ct101_primary() -> None:
    """After a promotion of ct101 and ct100's return: site.yml keeps the current
    roles (ct101 trades, its Redis stays master, ct100's stale master is made to
    follow it), and a second run changes nothing."""
    ansible_playbook("site.yml")
    assert {h for h, _ in leases().values()} == {"ct101"}
    assert redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")["role"] == "master"
    info = redis.Redis(host=ADDRESSES["ct100"], password=redis_password()).info("replication")
    assert info["role"] == "slave" and info["master_host"] == ADDRESSES["ct101"]
    assert recap_changed(ansible_playbook("site.yml")) == 0, "second site.yml run after a promotion changes nothing"
    assert redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")["role"] == "master"


def test_8_planned_switchover_and_back_lose_no_redis_key_and_never_overlap():
    stop, acked, errors = threading.Event(), [], []

    def writer():
        i = 0
        while not stop.is_set():
            for host in ("ct100", "ct101"):
                try:
                    r = redis.Redis(host=ADDRESSES[host], password=redis_password(), socket_timeout=1)
                    r.set(f"chaos:{i}", i)
                    acked.append(i)
                    i += 1
                    break
                except redis.RedisError as e:  # READONLY on the replica, or a connection error
                    errors.append(type(e).__name__)
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        t0 = time.monotonic()
        ansible_playbook("playbooks/failover.yml")
        trading_on("ct101")
        TIMINGS.add("planned switchover ct100 -> ct101 (playbook)", time.monotonic() - t0, "(goal <= 20 s)")
        t0 = time.monotonic()
        restore_ct100(after_outage=False)
        TIMINGS.add("planned failback ct101 -> ct100 (playbook)", time.monotonic() - t0, "(goal <= 20 s)")
    finally:
        stop.set()
        thread.join(5)
    master = redis.Redis(host=ADDRESSES["ct100"], password=redis_password())
    missing = [i for i in acked if master.get(f"chaos:{i}") is None]
    print(f"redis writer: {len(acked)} writes acknowledged, {len(errors)} refused/retried, {len(missing)} lost")
    assert acked and missing == []


def test_12_manual_emergency_promotion_then_site_yml_keeps_the_roles_and_changes_nothing():
    """The documented emergency failover, by hand: the monitor is down and the
    primary is lost; the operator runs one monitor check on ct101 (it takes the
    lease once it expired, promotes Redis, starts the bots). ct100 comes back, and
    site.yml must keep ct101 as primary (docs/REDIS-FAILOVER-PROCEDURE.md)."""
    time.sleep(COOLDOWN)
    ssh("ct101", "systemctl stop quantshift-failover-monitor")
    t0 = time.monotonic()
    podman("stop", "-t", "0", "ct100")
    try:
        decisions = []

        def promote() -> bool:
            decisions.append(ssh("ct101", "quantshift-run quantshift-failover-monitor --config "
                                          "/opt/quantshift/failover_monitor.yaml --once", check=False).strip())
            return "failover_success" in decisions[-1]

        wait_until("manual promotion of ct101", promote, THRESHOLD + 30, 2)
        trading_on("ct101")
        TIMINGS.add("manual emergency promotion (primary lost -> ct101 trading)", time.monotonic() - t0,
                    f"(lease {THRESHOLD} s + one check; decisions {sorted(set(decisions))})")
    finally:
        podman("start", "ct100")
    wait_until("ct100 back", lambda: ssh("ct100", "systemctl is-system-running --wait", check=False).strip()
               in ("running", "degraded"), 60)
    site_yml_keeps_ct101_primary()
    assert unit_show("ct100", "quantshift-failover-monitor.service", "ActiveState") == "active"
    restore_ct100(after_outage=False)


def test_10_every_dashboard_query_and_rule_expression_runs_on_the_live_prometheus():
    """After the cases above the lab has traded, failed over and failed back: every
    panel query and alert expression must evaluate, and every panel must have data."""
    import json
    import urllib.parse
    import urllib.request

    sys.path.insert(0, str(ROOT / "tests"))
    from grafana_queries import dashboard_queries

    def query(expr: str) -> list:
        url = f"http://{ADDRESSES['monitor']}:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    panels = [q for path in sorted((ROOT / "files/grafana/dashboards").glob("*.json")) for q in dashboard_queries(path)]
    # A service restarted by the last case has fewer than two samples in a 1m rate
    # window for up to a minute: give the data that long to arrive.
    deadline = time.monotonic() + 90
    while True:
        empty = [f"{q.dashboard_uid} / {q.panel_title} [{q.ref_id}]: {q.expr}" for q in panels if not query(q.expr)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(5)
    rules = yaml.safe_load((ROOT / "files/prometheus/rules/quantshift.rules.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    for expr in exprs:
        query(expr)  # must evaluate; most alerts are (rightly) quiet now
    print(f"live queries: {len(panels)} panel queries, {len(exprs)} rule expressions, "
          f"{len(empty)} panels without data")
    assert empty == [], "panels without data:\n" + "\n".join(empty)


def test_9_report():
    print("\nchaos timings")
    for name, seconds, goal in TIMINGS.rows:
        print(f"  {name:<50} {seconds:7.1f} s {goal}")


@functools.lru_cache(maxsize=1)
def redis_password() -> str:
    """Decrypted once: the case-8 writer asks for it on every write."""
    import lab_secrets  # scripts/ is on the path (lab.py)

    return lab_secrets.load()["vault_redis_password"]
