"""Failure cases on the lab (molecule/failover). They run in order on one lab:
each case starts with ct100 trading both accounts and ends by restoring that.
After every case the execution audit (quantshift.store.audit: fills against the
lease history, fenced orders) must show one trader per account at every instant.
conftest.py prints the timings table at the end of the run."""
from __future__ import annotations

import contextlib
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

from lab import (ACCOUNT_TARGETS, ACCOUNTS, ADDRESSES, COMPONENT_UNITS, COORDINATOR_UNITS, MONITOR_CONFIG, MONITOR_PORT, MONITOR_UNIT, PORTS, ROOT, TIMINGS,
                 AlertReceiver, ansible_playbook, changed_tasks, cut, heal, leases, metric, podman, primary_claims, recap_changed,
                 sql, ssh, unit_show, wait_until)

CHAOS = yaml.safe_load((ROOT / "molecule/failover/vars/chaos.yml").read_text())
THRESHOLD = CHAOS["failover_monitor_stale_threshold_seconds"]  # = the lease TTL
WATCHDOG = CHAOS["quantshift_bot_watchdog_sec"]
HEARTBEAT = CHAOS["quantshift_bot_heartbeat_interval_seconds"]
COOLDOWN = CHAOS["failover_monitor_cooldown_seconds"]
CHECK = CHAOS["failover_monitor_check_interval_seconds"]


@pytest.fixture(scope="module")
def receiver():
    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def alerts(receiver):
    """What the failover monitor and the bots posted (not Alertmanager's notifications)."""
    return receiver.alerts


def trading_on(host: str, timeout: float = 60) -> None:
    """Both accounts' leases held by host and its bots reporting PRIMARY."""
    wait_until(f"{host} holds both leases", lambda: {h for h, _ in leases().values()} == {host}, timeout)
    wait_until(f"{host} bots report PRIMARY", lambda: all(primary_claims()[a] == {host} for a in ACCOUNTS), timeout)


def failovers_to(host: str) -> int:
    """Failovers (one event row per account, written in one transaction) to host."""
    return int(sql("SELECT count(DISTINCT created_at) FROM failover_events "
                   f"WHERE event = 'failover' AND to_holder = '{host}'")[0][0])


def wait_out_cooldown() -> None:
    """Until the last failover of any account is COOLDOWN s old (database clock, as
    the monitor counts it), so the next failure can be failed over at once."""
    since = float(sql("SELECT coalesce(extract(epoch FROM now() - max(created_at))::float8, 1e9) "
                      "FROM failover_events WHERE event IN ('failover', 'lease_takeover')")[0][0])
    if since < COOLDOWN + 1:
        print(f"cooldown: last failover {since:.1f} s ago, waiting {COOLDOWN + 1 - since:.1f} s", flush=True)
        time.sleep(COOLDOWN + 1 - since)


def redis_replication(host: str) -> dict:
    return redis.Redis(host=ADDRESSES[host], password=redis_password(), socket_timeout=3,
                       socket_connect_timeout=3).info("replication")


def redis_follows(host: str, master: str) -> bool:
    try:
        info = redis_replication(host)
    except redis.RedisError:
        return False
    return info["role"] == "slave" and info.get("master_host") == ADDRESSES[master]


def bots_stopped(host: str) -> bool:
    """Every account's target and every one of its processes inactive on host."""
    return all(unit_show(host, u, "ActiveState") == "inactive" for u in ACCOUNT_TARGETS + COMPONENT_UNITS)


def follows(host: str, master: str) -> bool:
    """host is a healed standby of master: its accounts stopped and its Redis a
    replica of master's (what host's failover monitor does on every check)."""
    return bots_stopped(host) and redis_follows(host, master)


def stood_down(host: str) -> bool:
    """Each of host's accounts is stopped (its failover monitor stops the target, and
    with it every component, once another host holds the leases) or its coordinator
    runs and reports is_primary 0."""
    for target, unit, account in zip(ACCOUNT_TARGETS, COORDINATOR_UNITS, ACCOUNTS):
        state = unit_show(host, unit, "ActiveState")
        if state == "inactive" and unit_show(host, target, "ActiveState") == "inactive":
            continue
        if state != "active" or metric(host, PORTS[account], f"quantshift_{account}_is_primary") != 0:
            return False
    return True


def bots_disabled(host: str) -> None:
    states = {u: unit_show(host, u, "UnitFileState") for u in ACCOUNT_TARGETS}
    assert all(v == "disabled" for v in states.values()), (
        f"{host}'s failover monitor disables the accounts' targets of a host without the leases (no start at its next boot): "
        f"{states}")


def back(host: str, timeout: float = 60) -> None:
    """A restarted container has booted (its systemd answers over ssh)."""
    wait_until(f"{host} back", lambda: ssh(host, "systemctl is-system-running --wait", check=False).strip()
               in ("running", "degraded"), timeout)


def restore_ct100(after_outage: bool = True) -> None:
    """The documented failback: after an unplanned failover, site.yml first (it keeps
    ct101 primary and, the pair having healed itself, changes nothing), then failback.yml."""
    if after_outage:
        site_yml_keeps_ct101_primary()
    ansible_playbook("playbooks/failback.yml")
    trading_on("ct100")


def test_0_lab_starts_with_ct100_trading_and_ct101_replicating():
    trading_on("ct100")
    info = redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")
    assert info["role"] == "slave" and info["master_link_status"] == "up"
    assert bots_stopped("ct101"), "the standby trades nothing (no target, no component active)"
    assert all(unit_show("ct100", u, "ActiveState") == "active" for u in ACCOUNT_TARGETS + COMPONENT_UNITS), \
        "every account's target and component runs on the primary"
    for host in ("ct100", "ct101"):  # the monitor runs on both bot hosts and acts only where the leases are not
        assert unit_show(host, MONITOR_UNIT, "ActiveState") == "active", f"failover monitor on {host}"
        wait_until(f"failover monitor on {host} reports the arbiter up (:{MONITOR_PORT})", lambda h=host: metric(
            h, MONITOR_PORT, "quantshift_failover_monitor_db_up") == 1, 15)


def journal(host: str, *matches: str) -> list[dict]:
    """The journal entries on host matching every FIELD=value (journalctl's AND)."""
    out = ssh(host, "journalctl --no-pager -o json " + " ".join(matches), check=False)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_0_an_orders_whole_story_is_found_in_the_journal_by_its_client_order_id():
    """quantshift.logs: every order event carries ACCOUNT, HOST, EPOCH,
    CLIENT_ORDER_ID and SYMBOL as journal fields on the host that traded it."""
    for account, unit in zip(ACCOUNTS, COORDINATOR_UNITS):  # the coordinator places the orders
        coid, host, epoch, symbol = wait_until(f"an order of {account} in the ledger", lambda a=account: (sql(
            f"SELECT client_order_id, host_id, epoch, symbol FROM orders WHERE account = '{a}' "
            "ORDER BY created_at DESC LIMIT 1") or [None])[0], 180)
        story = wait_until(f"{coid} in {host}'s journal", lambda: journal(
            host, f"_SYSTEMD_UNIT={unit}", f"ACCOUNT={account}", f"CLIENT_ORDER_ID={coid}"), 30)
        messages = [e["MESSAGE"] for e in story]
        assert any(m.startswith(f"order {coid}: ") for m in messages), messages
        assert all((e["HOST"], e["EPOCH"], e["SYMBOL"]) == (host, epoch, symbol) for e in story), story
        assert journal(host, f"_SYSTEMD_UNIT={unit}", "ACCOUNT=nobody") == []  # the match can fail


def test_1_killed_bot_is_restarted_by_systemd_without_failover():
    """The trading process (equity's coordinator) killed: systemd restarts it, its
    target and the other components never stop, and no lease moves."""
    before = leases()
    unit = COORDINATOR_UNITS[0]
    restarts = int(unit_show("ct100", unit, "NRestarts"))
    pid = unit_show("ct100", unit, "MainPID")
    t0 = time.monotonic()
    ssh("ct100", f"kill -9 {pid}")
    wait_until("equity restarted", lambda: int(unit_show("ct100", unit, "NRestarts")) == restarts + 1
               and unit_show("ct100", unit, "ActiveState") == "active", 60)
    assert unit_show("ct100", ACCOUNT_TARGETS[0], "ActiveState") == "active", "the account's target stays up"
    TIMINGS.add("kill -9 -> bot active again (RestartSec 2 s)", time.monotonic() - t0)
    wait_until("equity PRIMARY again", lambda: primary_claims()["equity"] == {"ct100"}, 30)
    assert leases() == before, "a restart is not a failover"


def test_11_stopped_bot_unit_pages_through_alertmanager_without_failover(receiver):
    """One account stopped on the primary (its target, so every component): its sibling still trades there, so the
    monitor does not fail over (the host stays primary) and nothing restarts a unit
    stopped on purpose. The page comes from Prometheus' rules through Alertmanager:
    the stopped primary's target goes down, QuantShiftBotHeartbeatStale (for: 30s;
    QuantShiftBotDown waits 2m) fires for it and Alertmanager posts it to the webhook
    after group_wait."""
    assert urllib.parse.urlsplit(CHAOS["alertmanager_webhook_url"]).path == receiver.ALERTMANAGER_PATH
    unit, job = ACCOUNT_TARGETS[0], "quantshift_equity"
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
        assert all(unit_show("ct100", u, "ActiveState") == "inactive" for u in COMPONENT_UNITS
                   if u.startswith(unit.removesuffix(".target") + "-")), "every component stopped with its target"
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
    """The standby's monitor, cut off from the arbiter, alerts and does nothing else:
    no promotion, its Redis still follows ct100, and nothing on ct100 was stopped or
    restarted (same bot processes, Redis still master)."""
    before = leases()
    pids = [unit_show("ct100", u, "MainPID") for u in COMPONENT_UNITS]
    cut("ct101", "monitor", 5432)
    try:
        wait_until("monitor reports the database down", lambda: metric(
            "ct101", MONITOR_PORT, "quantshift_failover_monitor_db_up") == 0, 30)
        wait_until("alert received", lambda: any(a["event"] == "standby_db_unreachable" for a in alerts), 30)
        time.sleep(THRESHOLD + 5)
        assert leases() == before, "no promotion while the standby cannot see the arbiter"
        assert bots_stopped("ct101")
        assert [unit_show("ct100", u, "MainPID") for u in COMPONENT_UNITS] == pids, "ct100's processes kept running"
        assert all(unit_show("ct100", u, "ActiveState") == "active" for u in ACCOUNT_TARGETS + COMPONENT_UNITS)
        assert redis_replication("ct100")["role"] == "master"
        info = redis_replication("ct101")
        assert info["role"] == "slave" and info["master_host"] == ADDRESSES["ct100"], "ct101's Redis still follows"
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
    # The old primary reconnects, sees the higher epoch and stays out (case 7); its
    # own monitor, seeing ct101 hold the leases, may already have stopped its bots.
    time.sleep(2 * HEARTBEAT)
    assert stood_down("ct100"), "ct100's bots stopped or standby"
    assert primary_claims() == {a: {"ct101"} for a in ACCOUNTS}
    assert any(a["event"] == "failover" and a["to"] == "ct101" for a in alerts)
    restore_ct100()


def test_2_frozen_primary_is_failed_over_and_stands_down_after_the_watchdog(alerts):
    """Every process of both accounts on ct100 frozen: ct101 takes over once the lease
    expired; the frozen processes are then restarted by their watchdog or stopped by
    ct100's own monitor (whichever comes first), and stay out."""
    wait_out_cooldown()  # since the previous failover to ct101
    pids = [unit_show("ct100", u, "MainPID") for u in COMPONENT_UNITS]
    restarts = [int(unit_show("ct100", u, "NRestarts")) for u in COMPONENT_UNITS]
    t0 = time.monotonic()
    ssh("ct100", "sh -c 'kill -STOP " + " ".join(pids) + "'")
    trading_on("ct101", THRESHOLD + 40)
    TIMINGS.add("SIGSTOP primary -> standby trading", time.monotonic() - t0, f"(threshold {THRESHOLD} s)")
    wait_until("frozen processes restarted by the watchdog or stopped by ct100's monitor", lambda: all(
        int(unit_show("ct100", u, "NRestarts")) >= r + 1 or unit_show("ct100", u, "ActiveState") == "inactive"
        for u, r in zip(COMPONENT_UNITS, restarts)), WATCHDOG + 30)
    wait_until("ct100's bots stopped or standby", lambda: stood_down("ct100"), 30)
    assert primary_claims() == {a: {"ct101"} for a in ACCOUNTS}
    restore_ct100()


@contextlib.contextmanager
def host_lost(lost: str, to: str, timing: str):
    """`lost`'s container stops dead; the block runs once `to` trades both accounts
    after exactly one more failover to it (timed); `lost` is started again after."""
    n = failovers_to(to)
    t0 = time.monotonic()
    podman("stop", "-t", "0", lost)
    try:
        trading_on(to, THRESHOLD + 40)
        TIMINGS.add(timing, time.monotonic() - t0, f"(goal <= threshold + 5 = {THRESHOLD + 5} s)")
        assert failovers_to(to) == n + 1
        yield
    finally:
        podman("start", lost)


def test_3_stopped_primary_container_fails_over_end_to_end(alerts):
    wait_out_cooldown()
    with host_lost("ct100", "ct101", "container stop -> standby bots PRIMARY"):
        event = [a for a in alerts if a["event"] == "failover"][-1]
        TIMINGS.add("promotion phase (lease + redis + bots READY)", event["duration_seconds"], "(goal <= 3 s)")
        for account, epoch in event["epochs"].items():  # the takeover, found by account and epoch
            lines = [e["MESSAGE"] for e in journal("ct101", f"_SYSTEMD_UNIT={MONITOR_UNIT}", f"ACCOUNT={account}",
                                                   f"EPOCH={epoch}")]
            assert any(m.startswith(f"took the lease of {account} from ct100 at epoch {epoch}") for m in lines), lines
        assert redis.Redis(host=ADDRESSES["ct101"], password=redis_password()).info("replication")["role"] == "master"
    back("ct100")
    site_yml_keeps_ct101_primary()
    restore_ct100(after_outage=False)


def site_yml_keeps_ct101_primary(first_run_changes_nothing: bool = True) -> None:
    """After a promotion of ct101 and ct100's return: the pair heals itself (ct100's
    monitor stops its bots and makes its Redis follow ct101), then site.yml keeps the
    current roles (ct101 trades, its Redis stays master, ct100 follows it) and its
    first run changes nothing, which makes a second run redundant. Where the case
    itself left something for site.yml to put back (first_run_changes_nothing=False),
    a second run must change nothing."""
    wait_until("ct100 healed: its bots stopped, its Redis following ct101", lambda: follows("ct100", "ct101"),
               5 * CHECK + 10)
    first = ansible_playbook("site.yml")
    assert {h for h, _ in leases().values()} == {"ct101"}
    assert redis_replication("ct101")["role"] == "master"
    info = redis_replication("ct100")
    assert info["role"] == "slave" and info["master_host"] == ADDRESSES["ct101"]
    assert bots_stopped("ct100"), "ct100 trades nothing"
    if first_run_changes_nothing:
        changed = recap_changed(first)
        assert changed == 0, (
            f"the first site.yml run after a failover changed {changed} task result(s); the self-healed pair "
            "should already be in the state site.yml declares (ct100's monitor stops and disables its bots and "
            "re-points its Redis at ct101, writing what site.yml would write). If a change here is legitimate, "
            "say why in this assertion. Changed: " + "; ".join(changed_tasks(first)))
    else:
        assert recap_changed(ansible_playbook("site.yml")) == 0, "second site.yml run after a promotion changes nothing"
    assert redis_replication("ct101")["role"] == "master"


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
        for account, (_, epoch) in leases().items():  # quantshift-ha logged the handover on the new holder
            lines = [e["MESSAGE"] for e in journal("ct101", "SYSLOG_IDENTIFIER=quantshift-ha", f"ACCOUNT={account}",
                                                   f"EPOCH={epoch}")]
            assert lines == [f"handed the lease of {account} from ct100 to ct101 at epoch {epoch}"], lines
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
    wait_out_cooldown()
    ssh("ct101", "systemctl stop quantshift-failover-monitor")
    t0 = time.monotonic()
    podman("stop", "-t", "0", "ct100")
    try:
        decisions = []

        def promote() -> bool:
            decisions.append(ssh("ct101", "quantshift-run quantshift-failover-monitor --config "
                                          f"{MONITOR_CONFIG} --once", check=False).strip())
            return "failover_success" in decisions[-1]

        wait_until("manual promotion of ct101", promote, THRESHOLD + 30, 2)
        trading_on("ct101")
        TIMINGS.add("manual emergency promotion (primary lost -> ct101 trading)", time.monotonic() - t0,
                    f"(lease {THRESHOLD} s + one check; decisions {sorted(set(decisions))})")
    finally:
        podman("start", "ct100")
    back("ct100")
    # site.yml starts ct101's monitor again (the operator stopped it): its first run changes that.
    site_yml_keeps_ct101_primary(first_run_changes_nothing=False)
    for host in ("ct100", "ct101"):
        assert unit_show(host, MONITOR_UNIT, "ActiveState") == "active", f"failover monitor on {host}"
    restore_ct100(after_outage=False)


def bot_start_marks(host: str) -> list[str]:
    """When each of host's targets and components last left 'inactive': any start changes it."""
    return [unit_show(host, u, "InactiveExitTimestampMonotonic") for u in ACCOUNT_TARGETS + COMPONENT_UNITS]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def watch_arbiter_outage(t0: float, until: float) -> dict[str, float]:
    """Poll while the arbiter is away (until monotonic `until`): seconds after t0 at
    which ct100 self-fenced (is_primary 0 on both bots) and ct101's monitor reported
    the arbiter down (db_up 0), for what was seen."""
    seen: dict[str, float] = {}
    while time.monotonic() < until:
        if "fenced" not in seen and all(
                metric("ct100", PORTS[a], f"quantshift_{a}_is_primary") == 0 for a in ACCOUNTS):
            seen["fenced"] = time.monotonic() - t0
        if "db_down" not in seen and metric("ct101", MONITOR_PORT, "quantshift_failover_monitor_db_up") == 0:
            seen["db_down"] = time.monotonic() - t0
        time.sleep(0.5)
    return seen


def same_primary_after_arbiter_outage(before: dict, marks: list[str], t_back: float, what: str) -> None:
    """ct100's bots renew at the same epoch and report PRIMARY (a heartbeat written
    since the arbiter's return, is_primary 1) within about one heartbeat; no lease
    changed hands and no bot started on ct101, not even briefly."""
    def primary_again() -> bool:
        claims = primary_claims(window=HEARTBEAT + 1)  # the outage is longer: written since the return
        return (all(claims[a] == {"ct100"} for a in ACCOUNTS)
                and all(metric("ct100", PORTS[a], f"quantshift_{a}_is_primary") == 1 for a in ACCOUNTS))

    wait_until("ct100's bots PRIMARY again (fresh heartbeat, is_primary 1)", primary_again, HEARTBEAT + 5, 0.2)
    TIMINGS.add(f"{what} -> ct100 PRIMARY again, same epoch", time.monotonic() - t_back,
                f"(goal <= heartbeat {HEARTBEAT} s + 2)")
    time.sleep(2 * CHECK)  # both monitors look at the returned arbiter once more
    assert leases() == before, "an arbiter outage is no primary failure: same holder, same epoch"
    assert bot_start_marks("ct101") == marks, "no bot started on ct101 during or after the outage"
    assert bots_stopped("ct101")
    assert primary_claims() == {a: {"ct100"} for a in ACCOUNTS}


def test_13_paused_arbiter_is_no_primary_failure():
    """The whole arbiter frozen (podman pause monitor) for twice the lease and more,
    ct100 healthy: on its return every heartbeat looks as old as the pause, though
    nobody could have written one. ct100 stops trading once its lease ran out (it
    cannot renew), no takeover follows, and ct100 renews at the same epoch within
    about one heartbeat of the unpause."""
    before, marks = leases(), bot_start_marks("ct101")
    restarts = [int(unit_show("ct100", u, "NRestarts")) for u in COMPONENT_UNITS]
    t0 = time.monotonic()
    podman("pause", "monitor")
    try:
        # A paused container leaves `podman ps`, and `podman exec` is refused: inspect it.
        assert podman("inspect", "-f", "{{.State.Status}}", "monitor") == "paused"
        seen = watch_arbiter_outage(t0, t0 + 2 * THRESHOLD + 5)
    finally:
        podman("unpause", "monitor")
    t_back = time.monotonic()
    assert podman("inspect", "-f", "{{.State.Status}}", "monitor") == "running"
    print(f"during the pause: {seen}; ct100 component restarts "
          f"{[int(unit_show('ct100', u, 'NRestarts')) - r for u, r in zip(COMPONENT_UNITS, restarts)]}", flush=True)
    assert "fenced" in seen, "ct100 stopped trading once its lease ran out (is_primary 0 on both bots)"
    TIMINGS.add("arbiter paused -> ct100 self-fenced (is_primary 0)", seen["fenced"], f"(lease {THRESHOLD} s)")
    same_primary_after_arbiter_outage(before, marks, t_back, "arbiter unpaused")


def test_14_stopped_arbiter_is_no_primary_failure(alerts):
    """The arbiter host stopped dead (podman stop -t 0 monitor) for twice the lease,
    then started: it keeps its address (lab.sh starts every container with a fixed
    --ip), and PostgreSQL, Prometheus and Alertmanager come up by themselves at boot.
    Here the connections fail instead of hanging, so ct101's monitor reports the
    arbiter down and alerts; otherwise as case 13: no takeover, same epoch."""
    before, marks = leases(), bot_start_marks("ct101")
    unreachable = sum(a.get("event") == "standby_db_unreachable" for a in alerts)
    t0 = time.monotonic()
    podman("stop", "-t", "0", "monitor")
    try:
        seen = watch_arbiter_outage(t0, t0 + 2 * THRESHOLD)
    finally:
        podman("start", "monitor")
    t_start = time.monotonic()
    wait_until("PostgreSQL answers on the restarted arbiter (at its fixed address)",
               lambda: sql("SELECT 1") == [["1"]], 60)
    t_back = time.monotonic()
    TIMINGS.add("arbiter container started -> PostgreSQL answers", t_back - t_start)
    print(f"during the stop: {seen}", flush=True)
    assert "fenced" in seen, "ct100 stopped trading once its lease ran out (is_primary 0 on both bots)"
    TIMINGS.add("arbiter stopped -> ct100 self-fenced (is_primary 0)", seen["fenced"], f"(lease {THRESHOLD} s)")
    assert "db_down" in seen, "ct101's monitor reported the arbiter down (db_up 0) during the outage"
    assert sum(a.get("event") == "standby_db_unreachable" for a in alerts) > unreachable, "an alert said so"
    same_primary_after_arbiter_outage(before, marks, t_back, "arbiter's PostgreSQL back")
    wait_until("Prometheus ready again", lambda: http_ok(f"http://{ADDRESSES['monitor']}:9090/-/ready"), 60)
    assert ssh("monitor", "systemctl is-active postgresql prometheus prometheus-alertmanager",
               check=False).split() == ["active"] * 3, "the arbiter's services start at boot"


def test_15_frozen_primary_thawed_after_takeover_never_trades_under_its_old_epoch(alerts):
    """Every ct100 process of both accounts frozen (SIGSTOP) past the lease and thawed (SIGCONT) the moment
    ct101 holds the leases, long before their watchdog would kill them: they resume
    mid-cycle believing they lead at the old epoch. The ledger refuses them: no order
    and no fill of ct100 under the old epoch after the takeover (the execution audit
    after the case judges every execution), and ct100's bots end up stopped by its
    monitor or reporting is_primary 0."""
    wait_out_cooldown()
    before = leases()
    pids = [unit_show("ct100", u, "MainPID") for u in COMPONENT_UNITS]
    t0 = time.monotonic()
    ssh("ct100", "sh -c 'kill -STOP " + " ".join(pids) + "'")
    try:
        wait_until("ct101 took both leases", lambda: {h for h, _ in leases().values()} == {"ct101"},
                   THRESHOLD + 30, 0.2)
    finally:
        # Thaw whatever still exists (a stop by ct100's monitor may have thawed and ended it already).
        thawed = ssh("ct100", "sh -c 'for p in " + " ".join(pids) + "; do kill -CONT $p && echo $p; done; true'",
                     check=False).split()
    t_thaw = time.monotonic()
    TIMINGS.add("SIGSTOP primary -> ct101 holds the leases (thaw)", t_thaw - t0,
                f"(lease {THRESHOLD} s; thawed {len(thawed)} of {len(pids)} processes)")
    assert t_thaw - t0 < WATCHDOG, "thawed before the watchdog would have killed the frozen bots"
    assert leases() == {a: ("ct101", e + 1) for a, (_, e) in before.items()}
    trading_on("ct101")
    wait_until("ct100's bots stopped or standby", lambda: stood_down("ct100"), 5 * CHECK + 10, 0.2)
    TIMINGS.add("thawed old primary -> stood down (stopped or is_primary 0)", time.monotonic() - t_thaw,
                f"(check {CHECK} s)")
    time.sleep(HEARTBEAT)  # a thawed bot's cycle in flight has ended by now
    late = ledger_rows_after_epoch("ct100", before)
    assert late == [], f"ledger rows of ct100 under its old epoch after the takeover: {late}"
    assert primary_claims() == {a: {"ct101"} for a in ACCOUNTS}
    restore_ct100()


def ledger_rows_after_epoch(host: str, held: dict[str, tuple[str, int]]) -> list[list[str]]:
    """Orders and fills of host under the epochs it held (account -> (host, epoch))
    that the ledger took after the takeover ending that epoch."""
    parts = []
    for account, (_, epoch) in held.items():
        ended = (f"(SELECT min(created_at) FROM failover_events WHERE account = '{account}' "
                 f"AND event = 'lease_takeover' AND epoch = {epoch + 1})")
        mine = f"o.account = '{account}' AND o.host_id = '{host}' AND o.epoch = {epoch}"
        parts += [f"SELECT 'order', o.client_order_id FROM orders o WHERE {mine} AND o.created_at >= {ended}",
                  f"SELECT 'fill', o.client_order_id FROM fills f JOIN orders o USING (client_order_id) "
                  f"WHERE {mine} AND f.filled_at >= {ended}"]
    return sql(" UNION ALL ".join(parts))


def redis_link_up(host: str) -> bool:
    try:
        return redis_replication(host).get("master_link_status") == "up"
    except redis.RedisError:
        return False


def rejoined(host: str, master: str) -> None:
    """host's container was just started after a failover away from it: with no
    operator action its monitor stops and disables its bots and makes its Redis
    follow master's, within about one check interval after boot."""
    t0, seen = time.monotonic(), {}
    back(host)
    booted = time.monotonic() - t0

    def healed() -> bool:
        for what, done in (("redis", lambda: redis_follows(host, master)), ("bots", lambda: bots_stopped(host))):
            if what not in seen and done():
                seen[what] = time.monotonic() - t0
        return len(seen) == 2

    wait_until(f"{host} healed: bots stopped, Redis following {master}", healed, 5 * CHECK + 10, 0.2)
    TIMINGS.add(f"{host} restarted -> its Redis follows {master}", seen["redis"],
                f"(boot {booted:.1f} s + about one check {CHECK} s)")
    TIMINGS.add(f"{host} restarted -> its bots stopped", seen["bots"], f"(boot {booted:.1f} s)")
    bots_disabled(host)


def test_16_two_failovers_in_a_row_heal_without_an_operator(alerts):
    """ct100's container stops: ct101 takes over. ct100 returns and the pair heals by
    itself (ct100's bots stopped and disabled, its Redis following ct101), so the first
    site.yml run changes nothing. After the cooldown ct101's container stops: ct100
    takes over automatically (Redis promoted, bots started and enabled), and ct101
    heals the same way on its return. No failback: ct100 trades, ct101 replicates."""
    wait_out_cooldown()
    with host_lost("ct100", "ct101", "1st failure: ct100 stopped -> ct101 trading"):
        pass
    rejoined("ct100", "ct101")
    site_yml_keeps_ct101_primary()

    wait_out_cooldown()  # since the first failover
    with host_lost("ct101", "ct100", "2nd failure (after cooldown): ct101 stopped -> ct100 trading"):
        assert any(a.get("event") == "failover" and a.get("to") == "ct100" for a in alerts)
        assert redis_replication("ct100")["role"] == "master"
        states = {u: unit_show("ct100", u, "UnitFileState") for u in ACCOUNT_TARGETS}
        assert all(v == "enabled" for v in states.values()), f"the monitor enables the targets it starts: {states}"
    rejoined("ct101", "ct100")
    wait_until("ct101's Redis replicating ct100 with the link up", lambda: redis_link_up("ct101"), 30)
    trading_on("ct100")


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
    exprs = [r["expr"] for path in sorted((ROOT / "files/prometheus/rules").glob("*.yml"))
             for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    for expr in exprs:
        query(expr)  # must evaluate; most alerts are (rightly) quiet now
    print(f"live queries: {len(panels)} panel queries, {len(exprs)} rule expressions, "
          f"{len(empty)} panels without data")
    assert empty == [], "panels without data:\n" + "\n".join(empty)


@functools.lru_cache(maxsize=1)
def redis_password() -> str:
    """Decrypted once: the case-8 writer asks for it on every write."""
    import lab_secrets  # scripts/ is on the path (lab.py)

    return lab_secrets.load()["vault_redis_password"]
