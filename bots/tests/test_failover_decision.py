"""The failover monitor's decision, without a database: one Observation in, one
Decision out (test_failover_monitor.py runs the same rules end to end)."""
from __future__ import annotations

import pytest

from quantshift.failover.decision import Decision, Observation, decide, in_cooldown, next_check_in
from quantshift.failover.monitor_config import MonitorConfig

ACCOUNTS = ["equity", "crypto"]
CFG = MonitorConfig(bot_configs=["unused"], host_id="ct101", check_interval_seconds=10, stale_threshold_seconds=60,
                    cooldown_seconds=300)


def seen(holder="ct100", age=5.0, expired=False, remaining=30.0, since=None, unfinished=(), reachable_for=3600.0,
         **per_account):
    """Both accounts held by `holder`; per_account overrides one account, e.g. crypto={"age": 1}."""
    obs = Observation(db_up=True, reachable_for=reachable_for, unfinished=list(unfinished))
    for a in ACCOUNTS:
        v = {"holder": holder, "age": age, "expired": expired, "remaining": remaining, "since": since,
             **per_account.get(a, {})}
        obs.holders[a], obs.epochs[a], obs.expired[a] = v["holder"], 1, v["expired"]
        obs.ages[a], obs.remaining[a], obs.since_last_failover[a] = v["age"], v["remaining"], v["since"]
    return obs


def test_an_unreachable_arbiter_decides_nothing():
    assert decide(Observation(db_up=False), CFG, ACCOUNTS) == Decision("db_unreachable")


def test_no_leader_row_means_nothing_to_watch():
    assert decide(Observation(db_up=True), CFG, ACCOUNTS) == Decision("no_lease")


def test_a_healthy_primary_elsewhere_is_left_alone_and_this_host_heals():
    assert decide(seen(), CFG, ACCOUNTS) == Decision("healthy", heal=True)


def test_a_primary_with_expired_lease_and_stale_heartbeat_is_taken_over():
    d = decide(seen(age=90, expired=True, remaining=0), CFG, ACCOUNTS)
    assert d == Decision("fail_over", heal=True, take=("equity", "crypto"))


def test_a_stale_heartbeat_under_a_valid_lease_is_not_a_failover():
    assert decide(seen(age=90, expired=False), CFG, ACCOUNTS).verdict == "healthy"


def test_an_expired_lease_is_not_stale_before_the_threshold():
    assert decide(seen(age=59, expired=True), CFG, ACCOUNTS).take == ()


def test_one_stale_account_beside_a_live_sibling_is_the_watchdogs_job():
    d = decide(seen(crypto={"age": 90, "expired": True}), CFG, ACCOUNTS)
    assert d.verdict == "healthy" and d.take == ()
    assert d.held_back == ("['crypto'] stale on ct100 but ['equity'] alive there: no failover "
                           "(the watchdog restarts hung bots)",)


@pytest.mark.parametrize("since, verdict", [(60.0, "cooldown"), (299.0, "cooldown"), (300.0, "fail_over"),
                                            (None, "fail_over")])
def test_cooldown_holds_a_failover_back_for_cooldown_seconds(since, verdict):
    assert decide(seen(age=90, expired=True, since=since), CFG, ACCOUNTS).verdict == verdict


def test_an_unfinished_takeover_is_finished_even_in_cooldown():
    obs = seen(holder="ct101", unfinished=["equity"], since=10.0)
    assert decide(obs, CFG, ACCOUNTS) == Decision("fail_over", finish=("equity",))


def test_a_host_holding_every_lease_is_primary_here_and_does_not_heal():
    assert decide(seen(holder="ct101"), CFG, ACCOUNTS) == Decision("primary_here")


def test_in_cooldown_is_the_seed_rule():
    assert in_cooldown(299.0, 300) and not in_cooldown(300.0, 300) and not in_cooldown(None, 300)


def test_the_next_check_comes_as_another_hosts_lease_runs_out():
    assert next_check_in(None, CFG) == 10
    assert next_check_in(seen(remaining=3.0), CFG) == pytest.approx(3.2)
    assert next_check_in(seen(holder="ct101", remaining=3.0), CFG) == 10  # our own lease: no hurry
    assert next_check_in(Observation(db_up=False), CFG) == 10


def test_after_an_arbiter_outage_the_next_check_comes_as_the_threshold_is_reached():
    obs = seen(age=55.0, expired=True, remaining=0.0, reachable_for=55.0)
    assert next_check_in(obs, CFG) == pytest.approx(5.2)
