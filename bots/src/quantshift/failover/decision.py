"""What the monitor does about one observation of the arbiter: pure, no I/O,
so every rule can be tested without a database, systemd or Redis.

The rules (DESIGN §4, docs/DECISIONS.md):
* unreachable is not stale: without the arbiter nothing is decided;
* the failover moves the whole host, and only when every account there is
  stale: one hung bot beside a live sibling is the watchdog's job (it restarts
  the bot), not a reason to split the accounts over two hosts;
* the cooldown is per account and counts failovers in either direction;
* a takeover this host made but never recorded (a crash half-way) is finished;
* a host that holds no lease heals: its bots stopped, its Redis following.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .monitor_config import MonitorConfig


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


# What decide() concludes; check_once() returns it, a failover as its result.
DB_UNREACHABLE, NO_LEASE, COOLDOWN, HEALTHY, PRIMARY_HERE, FAIL_OVER = (
    "db_unreachable", "no_lease", "cooldown", "healthy", "primary_here", "fail_over")


@dataclass(frozen=True)
class Decision:
    verdict: str
    heal: bool = False                 # this host holds no lease: stop local bots, follow the holder's Redis
    take: tuple[str, ...] = ()         # stale accounts whose leases to take over
    finish: tuple[str, ...] = ()       # taken here, failover never recorded
    held_back: tuple[str, ...] = ()    # why stale accounts were left alone (for the log)


def in_cooldown(seconds_since_last_failover: float | None, cooldown_seconds: float) -> bool:
    """The seed's 5-minute cooldown: no failover of an account within cooldown
    seconds of its last one, in either direction."""
    return seconds_since_last_failover is not None and seconds_since_last_failover < cooldown_seconds


def decide(obs: Observation, cfg: MonitorConfig, accounts: Sequence[str]) -> Decision:
    if not obs.db_up:
        return Decision(DB_UNREACHABLE)
    if not obs.holders:
        return Decision(NO_LEASE)
    me = cfg.host_id
    heal = all(h != me for h in obs.holders.values())
    held_back = []
    elsewhere = [a for a in accounts if a in obs.holders and obs.holders[a] != me]
    stale = [a for a in elsewhere if obs.expired[a] and obs.ages[a] > cfg.stale_threshold_seconds]
    if stale and len(stale) < len(elsewhere):
        held_back.append(f"{stale} stale on {obs.holders[stale[0]]} but {sorted(set(elsewhere) - set(stale))} "
                         "alive there: no failover (the watchdog restarts hung bots)")
        stale = []
    cooling = [a for a in stale if in_cooldown(obs.since_last_failover.get(a), cfg.cooldown_seconds)]
    if cooling:
        held_back.append(f"primary stale for {stale} but {cooling[0]} failed over "
                         f"{obs.since_last_failover[cooling[0]]:.0f} s ago (cooldown {cfg.cooldown_seconds:.0f} s)")
        stale = []
        if not obs.unfinished:
            return Decision(COOLDOWN, heal=heal, held_back=tuple(held_back))
    if stale or obs.unfinished:
        return Decision(FAIL_OVER, heal=heal, take=tuple(stale), finish=tuple(obs.unfinished),
                        held_back=tuple(held_back))
    verdict = PRIMARY_HERE if all(obs.holders.get(a) == me for a in accounts) else HEALTHY
    return Decision(verdict, heal=heal, held_back=tuple(held_back))


def next_check_in(obs: Observation | None, cfg: MonitorConfig) -> float:
    """Seconds to the next check: the check interval, or sooner when another
    host's lease runs out before that, so a dead primary is seen the moment its
    lease expires rather than up to one interval later."""
    wait = cfg.check_interval_seconds
    if obs is not None and obs.db_up:
        ends = [r for a, r in obs.remaining.items() if obs.holders.get(a) != cfg.host_id and r > 0]
        # An expired lease whose staleness is capped by the arbiter's return:
        # look again the moment the reachable period reaches the threshold.
        ends += [cfg.stale_threshold_seconds - obs.reachable_for for a, age in obs.ages.items()
                 if obs.holders.get(a) != cfg.host_id and obs.expired.get(a)
                 and age == obs.reachable_for < cfg.stale_threshold_seconds]
        if ends:
            wait = min(wait, min(ends) + 0.2)
    return wait
