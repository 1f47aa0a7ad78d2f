#!/usr/bin/env python3
"""Modular architecture bench (issue #14): 150 symbols x 3 strategies x 500 bars.

  latency     "new bars published" -> the coordinator's decision (every strategy's
              signals for every chunk assembled and the votes computed), with the
              market data service publishing, three signal worker PROCESSES (one
              per strategy) and the coordinator's SignalBook reading the bus: p50/p99
  monolith    the monolith's in-process cycle on the same bars: the window from
              the Redis cache, the three strategies' incremental update, the votes
  throughput  symbols per second of one strategy with 1, 2 and 3 worker instances
              sharing its consumer group (a backlog of bars events)
  memory      RSS of each worker process (the deployed components' RSS is read
              by scripts/bench.sh from systemd)

Runs wherever the package and a Redis are: scripts/bench.sh runs it on the lab's
ct100 with its Redis and venv. It uses streams of its own account (`bench`) and
deletes them afterwards. Goals: latency p99 <= 50 ms and <= 2x the monolith's cycle.

    python bench_modular.py --redis redis://127.0.0.1:6379/0 [--bars 100] [--strict]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import quantshift  # noqa: F401  (first: single-threaded BLAS before numpy loads)
import numpy as np
import yaml

from quantshift import config as config_mod
from quantshift.marketdata import BarCache, MarketData, SyntheticSource
from quantshift.metrics import MarketDataMetrics
from quantshift.modular import streams
from quantshift.modular.market_data_service import MarketDataService
from quantshift.modular.signal_book import SignalBook
from quantshift.modular.streams import COORDINATOR_GROUP, Bus
from quantshift.strategies import build_strategies
from quantshift.watchdog import Notifier

N_SYMBOLS, N_BARS, CHUNK = 150, 500, 25
ACCOUNT = "bench"
GOAL_P99_MS = 50.0
PORT_BASE = 19300


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def write_config(path: Path, redis_url: str) -> config_mod.BotConfig:
    data = {
        "name": ACCOUNT, "host_id": "bench", "metrics_port": PORT_BASE, "metrics_bind": "127.0.0.1",
        "lock_dir": tempfile.gettempdir(),
        "symbols": [f"SYM{i:03d}" for i in range(N_SYMBOLS)],
        "redis": {"url": redis_url, "bars_ttl_seconds": 3600},
        "marketdata": {"source": "synthetic", "seed": 2024, "lookback_bars": N_BARS},
        # Bars are published faster than real time: none is too old for the bench.
        "modular": {"chunk_size": CHUNK, "max_bar_age_seconds": 10 ** 7, "claim_idle_seconds": 60,
                    "market_data_port": PORT_BASE + 1, "regime_port": PORT_BASE + 2,
                    "signal_worker_port": PORT_BASE + 10},
    }
    path.write_text(yaml.safe_dump(data))
    return config_mod.load(path)


def start_workers(cfg_path: Path, specs: list[tuple[str, int]]) -> list[subprocess.Popen]:
    exe = Path(sys.executable).with_name("quantshift-signal-worker")
    procs = [subprocess.Popen([str(exe), "--config", str(cfg_path), "--strategy", s, "--instance", str(i)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NOTIFY_SOCKET": ""})
             for s, i in specs]
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def clean(bus: Bus) -> None:
    for key in bus.r.scan_iter(f"qs:{ACCOUNT}:*"):
        bus.r.delete(key)


def wait_groups(bus: Bus, groups: list[str], timeout: float = 30.0) -> None:
    """Until every worker's consumer group exists (the workers are up)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            have = {g["name"] for g in bus.r.xinfo_groups(streams.bars_stream(ACCOUNT))}
        except Exception:
            have = set()
        if set(groups) <= have:
            return
        time.sleep(0.1)
    raise SystemExit(f"bench: workers did not create their groups {groups} within {timeout:.0f} s")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_latency(cfg, cfg_path: Path, bus: Bus, n_bars: int, spacing: float):
    names = [s.name for s in build_strategies(cfg)]
    procs = start_workers(cfg_path, [(s, 1) for s in names])
    try:
        wait_groups(bus, names)
        bus.ensure_group(streams.bars_stream(ACCOUNT), COORDINATOR_GROUP, start="$")
        bus.ensure_group(streams.signals_stream(ACCOUNT), COORDINATOR_GROUP, start="$")
        clock = Clock(time.time() - (n_bars + 5) * 60)
        m = MarketDataMetrics("bench_md", 0, start_server=False)
        md = MarketDataService(cfg, m, notifier=Notifier(env={}), clock=clock, bus=bus)
        book = SignalBook(cfg.symbols, names, bars_stream=streams.bars_stream(ACCOUNT), timeframe_seconds=60,
                          max_bar_age_seconds=10 ** 7, signal_wait_seconds=30, clock=clock)
        read = [streams.bars_stream(ACCOUNT), streams.signals_stream(ACCOUNT)]
        lat = []
        for k in range(n_bars + 3):             # the first 3 warm the workers' caches and imports
            clock.t += 60
            md.publish_newest()
            deadline = time.monotonic() + 30
            decided = None
            while decided is None and time.monotonic() < deadline:
                book.take(bus.read(COORDINATOR_GROUP, "bench", read, count=500, block_ms=100))
                due, _ = book.due()
                for bar in due:
                    sig, gaps = book.rows(bar)
                    votes = np.vstack(list(sig.values())).sum(axis=0)   # what the decision weighs
                    decided = time.time() - bar.published_at
                    assert not gaps and votes.shape == (N_SYMBOLS,)
                    book.settle(bar, True)
                    book.decided_upto = bar.bar_ts
            if decided is None:
                raise SystemExit("bench: a bar was not decided within 30 s (are the workers running?)")
            if k >= 3:
                lat.append(decided * 1000)
            time.sleep(spacing)
        rss = {f"signal worker {s}": rss_mb(p.pid) for s, p in zip(names, procs)}
        return lat, rss
    finally:
        stop(procs)


def bench_monolith(cfg, bus: Bus, n_bars: int):
    """The monolith's cycle: window from the cache (MarketData), incremental signals, votes."""
    strategies = build_strategies(cfg)
    src = SyntheticSource(cfg.symbols, seed=cfg.marketdata.seed, timeframe_seconds=60)
    clock = Clock(time.time() - (n_bars + 5) * 60)
    cache = BarCache(cfg.redis.url, password=cfg.redis.password, ttl_seconds=3600, socket_timeout=5)
    md = MarketData(src, cache, clock=clock)
    bars = md.latest(cfg.symbols, N_BARS).bars
    live = {s.name: s.live(bars) for s in strategies}
    out = []
    for _ in range(n_bars):
        clock.t += 60
        md.latest(cfg.symbols, N_BARS)           # warm the cache as the market data would
        t0 = time.perf_counter()
        bars = md.latest(cfg.symbols, N_BARS).bars
        rows = [live[s.name].update(bars.row(-1)) for s in strategies]
        np.vstack(rows).sum(axis=0)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_throughput(cfg, cfg_path: Path, bus: Bus, instances: int, n_bars: int) -> float:
    """Symbols per second of bollinger_bounce with `instances` workers on a backlog."""
    clean(bus)
    procs = start_workers(cfg_path, [("bollinger_bounce", i) for i in range(1, instances + 1)])
    try:
        wait_groups(bus, ["bollinger_bounce"])
        time.sleep(1.0)                           # every instance blocked on its read
        clock = Clock(time.time() - (n_bars + 5) * 60)
        m = MarketDataMetrics("bench_md", 0, start_server=False)
        md = MarketDataService(cfg, m, notifier=Notifier(env={}), clock=clock, bus=bus)
        # The backlog's bars go into the cache first, then its events all at once.
        events = []
        real_add_many = bus.add_many
        bus.add_many = lambda stream, msgs: events.extend(msgs) or []
        for _ in range(n_bars):
            clock.t += 60
            md.publish_newest()
        bus.add_many = real_add_many
        want = len(events)
        t0 = time.monotonic()
        bus.add_many(streams.bars_stream(ACCOUNT), events)
        out = streams.signals_stream(ACCOUNT)
        while bus.r.xlen(out) < want:
            if time.monotonic() - t0 > 120:
                raise SystemExit(f"bench: {instances} worker(s) did not finish the backlog in 120 s")
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        return n_bars * N_SYMBOLS / elapsed
    finally:
        stop(procs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis", default=os.environ.get("QUANTSHIFT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--bars", type=int, default=100, help="bars published for the latency (default 100)")
    ap.add_argument("--spacing", type=float, default=0.1, help="seconds between bars (default 0.1)")
    ap.add_argument("--backlog", type=int, default=40, help="bars in the throughput backlog (default 40)")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="qs-bench-") as tmp:
        cfg_path = Path(tmp) / "bench_config.yaml"
        cfg = write_config(cfg_path, args.redis)
        bus = Bus(cfg.redis.url, password=cfg.redis.password, maxlen=5000)
        clean(bus)
        try:
            print(f"bench: {N_SYMBOLS} symbols x 3 strategies x {N_BARS} bars, chunks of {CHUNK}, Redis {args.redis}")
            lat, rss = bench_latency(cfg, cfg_path, bus, args.bars, args.spacing)
            clean(bus)
            mono = bench_monolith(cfg, bus, args.bars)
            rates = {}
            for n in (1, 2, 3):
                rates[n] = bench_throughput(cfg, cfg_path, bus, n, args.backlog)
        finally:
            clean(bus)
    p50, p99 = pct(lat, 50), pct(lat, 99)
    m50, m99 = pct(mono, 50), pct(mono, 99)
    ok_abs, ok_rel = p99 <= GOAL_P99_MS, p99 <= 2 * m99
    print(f"\n{'measure':<58} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'modular: bars published -> decision (3 worker processes)':<58} {p50:8.1f} {p99:8.1f}")
    print(f"{'monolith: in-process cycle (cache read, signals, votes)':<58} {m50:8.1f} {m99:8.1f}")
    print(f"  goal p99 <= {GOAL_P99_MS:.0f} ms: {'met' if ok_abs else 'MISSED'}; "
          f"p99 ratio modular/monolith {p99 / m99:.2f} (goal <= 2): {'met' if ok_rel else 'MISSED'}")
    print(f"\n{'throughput, bollinger_bounce workers':<40} {'symbols/s':>10} {'vs 1':>6}")
    for n, r in rates.items():
        print(f"  {n} instance(s){'':<25} {r:10.0f} {r / rates[1]:6.2f}")
    print(f"  ({os.cpu_count()} CPUs on this host)")
    print("\nworker RSS (bench processes)")
    for name, mb in rss.items():
        print(f"  {name}: {mb:.1f} MB")
    return 2 if args.strict and not (ok_abs and ok_rel) else 0


if __name__ == "__main__":
    sys.exit(main())
