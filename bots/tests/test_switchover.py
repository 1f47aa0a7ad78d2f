"""The planned switchover's pre-check: one verdict with its reason, computed in
the package (the quantshift_ha role only shows it)."""
from __future__ import annotations

import pytest

from quantshift import config
from quantshift.failover.monitor_config import Monitored
from quantshift.failover.switchover import MAX_REPLICA_IO_AGE_SECONDS, ClusterState, precheck

M = Monitored(accounts=["equity", "crypto"], units=[], lease_ttl_seconds=60, heartbeat_interval_seconds=30,
              database=config.DatabaseConfig(), redis=config.RedisConfig())


def state(holder="ct100", ages=(3.0, 4.0), redis=None):
    return ClusterState(
        leases={a: {"holder": holder, "epoch": 1} for a in M.accounts},
        heartbeats={a: {"ct100": {"age_seconds": age, "is_primary": True, "status": "PRIMARY"}}
                    for a, age in zip(M.accounts, ages)},
        redis=redis or {"role": "slave", "link_up": True, "last_io_seconds": 1.0, "offset": 10})


def test_a_healthy_pair_may_switch_over():
    v = precheck(state(), M, "ct100", "ct101")
    assert v.ok and v.as_dict() == {"ok": True, "changed": False, "reason": v.reason}
    assert "equity 3.0 s" in v.reason and "last I/O 1 s" in v.reason


@pytest.mark.parametrize("st, reason", [
    (state(holder="ct101"), "not all by ct100"),
    (state(ages=(3.0, 91.0)), "crypto on ct100 is not healthy: heartbeat 91.0 s old (limit 90 s)"),
    (state(redis={"role": "master", "link_up": None, "last_io_seconds": None, "offset": 0}),
     "ct101's Redis does not replicate"),
    (state(redis={"role": "slave", "link_up": False, "last_io_seconds": 3.0, "offset": 0}),
     "ct101's Redis does not replicate"),
    (state(redis={"role": "slave", "link_up": True, "last_io_seconds": MAX_REPLICA_IO_AGE_SECONDS + 1, "offset": 0}),
     "last heard from its master 21.0 s ago (limit 20 s)"),
])
def test_an_unsafe_switchover_is_refused_with_the_reason(st, reason):
    v = precheck(st, M, "ct100", "ct101")
    assert not v.ok and reason in v.reason, v.reason


def test_a_missing_heartbeat_is_refused():
    st = state()
    del st.heartbeats["equity"]["ct100"]
    v = precheck(st, M, "ct100", "ct101")
    assert not v.ok and "equity on ct100 is not healthy: heartbeat none" in v.reason


def test_a_stopped_bot_on_the_old_primary_is_refused():
    st = state()
    st.heartbeats["crypto"]["ct100"].update(status="STOPPED", is_primary=False)
    v = precheck(st, M, "ct100", "ct101")
    assert not v.ok and v.reason == "crypto on ct100 is not trading: STOPPED"
