#!/usr/bin/env python3
"""Engine bench: 150 symbols x 500 bars, the three seed strategies.

  (a) full vectorized recompute (quantshift)       - one pass over bars x symbols
  (b) per-symbol TA-Lib loop                       - the peer baseline
  (c) naive per-symbol pandas loop
  (d) incremental one-new-bar update, all symbols  - the live path

Asserts that (a)-(d) give identical signals, prints timings and ratios, and the
RSS of a running `quantshift-bot` when a PostgreSQL DSN is given
(--dsn or QUANTSHIFT_BENCH_DSN; Redis from --redis-url / QUANTSHIFT_BENCH_REDIS_URL,
the bot degrades gracefully without it).

Goals: (a) <= 10 ms and no slower than (b); (d) <= 1 ms; bot RSS <= 150 MB.
Exit status: 1 if signals differ (always); 2 if a goal is missed and --strict.

    python bots/bench/bench_engine.py [--dsn "host=... dbname=... user=..."] [--strict]
"""
from __future__ import annotations

import argparse
import copy
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import quantshift  # noqa: F401  (first: single-threaded BLAS before numpy loads)
import numpy as np

from quantshift.marketdata import SyntheticSource
from quantshift.strategies import BollingerBounce, BreakoutMomentum, RSIMeanReversion, combine

N_SYMBOLS, N_BARS = 150, 500
BB_N, BB_K, RSI_N, RSI_LO, RSI_HI, BO_N = 20, 2.0, 14, 30.0, 70.0, 20
STRATEGIES = [BollingerBounce(BB_N, BB_K), RSIMeanReversion(RSI_N, RSI_LO, RSI_HI), BreakoutMomentum(BO_N)]
GOAL_A_MS, GOAL_D_MS, GOAL_RSS_MB = 10.0, 1.0, 150.0


def make_bars():
    syms = [f"SYM{i:03d}" for i in range(N_SYMBOLS)]
    return SyntheticSource(syms, seed=2024, timeframe_seconds=60).fetch(syms, 1_700_000_000 // 60 * 60, N_BARS)


def timeit(fn, repeat: int, setup=None) -> float:
    """Median wall time of fn in ms (setup, if given, runs untimed before each call)."""
    times = []
    for _ in range(repeat):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(arg) if setup else fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# (a) ---------------------------------------------------------------------
def vectorized(bars):
    return [s.signals(bars) for s in STRATEGIES]


# (b) ---------------------------------------------------------------------
def talib_loop(bars):
    import talib

    T, m = bars.close.shape
    out = [np.zeros((T, m), np.int8) for _ in range(3)]
    for j in range(m):
        c, h, lo = bars.close[:, j], bars.high[:, j], bars.low[:, j]
        up, mid, low = talib.BBANDS(c, BB_N, BB_K, BB_K, 0)
        out[0][:, j] = combine(c < low, c > mid)
        r = talib.RSI(c, RSI_N)
        out[1][:, j] = combine(r < RSI_LO, r > RSI_HI)
        hi_prev = np.concatenate(([np.nan], talib.MAX(h, BO_N)[:-1]))
        lo_prev = np.concatenate(([np.nan], talib.MIN(lo, BO_N)[:-1]))
        out[2][:, j] = combine(c > hi_prev, c < lo_prev)
    return out


# (c) ---------------------------------------------------------------------
def pandas_loop(bars):
    import pandas as pd

    T, m = bars.close.shape
    out = [np.zeros((T, m), np.int8) for _ in range(3)]
    for j in range(m):
        c = pd.Series(bars.close[:, j])
        h, lo = pd.Series(bars.high[:, j]), pd.Series(bars.low[:, j])
        mid = c.rolling(BB_N).mean()
        low = mid - BB_K * c.rolling(BB_N).std(ddof=0)
        out[0][:, j] = combine((c < low).to_numpy(), (c > mid).to_numpy())
        d = c.diff()
        rsi = pd.Series(np.nan, index=c.index)
        avgs = []
        for x in (d.clip(lower=0), (-d).clip(lower=0)):
            seeded = pd.concat([pd.Series([x.iloc[1:RSI_N + 1].mean()], index=[RSI_N]), x.iloc[RSI_N + 1:]])
            avgs.append(seeded.ewm(alpha=1 / RSI_N, adjust=False).mean())
        tot = avgs[0] + avgs[1]
        rsi.iloc[RSI_N:] = np.where(tot > 1e-8, 100 * avgs[0] / tot, 0.0)
        out[1][:, j] = combine((rsi < RSI_LO).to_numpy(), (rsi > RSI_HI).to_numpy())
        hi_prev = h.rolling(BO_N).max().shift(1)
        lo_prev = lo.rolling(BO_N).min().shift(1)
        out[2][:, j] = combine((c > hi_prev).to_numpy(), (c < lo_prev).to_numpy())
    return out


# (d) ---------------------------------------------------------------------
def primed_states(bars):
    return [s.live(bars.head(N_BARS - 1)) for s in STRATEGIES]


def incremental(states, row):
    return [st.update(row) for st in states]


def bot_rss(dsn: str, redis_url: str, cycles: int = 4) -> tuple[float, float, int]:
    """Start quantshift-bot (equity example, 100 symbols) and read VmRSS/VmHWM after a few cycles."""
    import yaml

    example = Path(__file__).resolve().parents[1] / "examples" / "equity_config.yaml"
    cfg = yaml.safe_load(example.read_text())
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg.update(name="bench", host_id=f"bench-{os.getpid()}", metrics_port=port, metrics_bind="127.0.0.1",
               cycle_interval_seconds=1, heartbeat_interval_seconds=1, lease_ttl_seconds=10, lease_auto_init=True)
    cfg["database"]["dsn"] = dsn
    cfg["redis"]["url"] = redis_url
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(cfg, fh)
        path = fh.name
    exe = Path(sys.executable).with_name("quantshift-bot")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                                                                 "sys.exit(bot_main(sys.argv[1:]))"]
    proc = subprocess.Popen(cmd + ["--config", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, fills = 0, 0
    try:
        deadline = time.time() + 60
        while seen < cycles and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line.startswith("INFO quantshift.bot: cycle bench")
            fills += line.startswith("INFO quantshift.bot: filled")
        if seen < cycles:
            raise RuntimeError(f"bot ran {seen} cycle(s) only; exit={proc.poll()}")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in (l.split(":", 1) for l in status.splitlines())
              if k in ("VmRSS", "VmHWM")}
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024, fills
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.unlink(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", default=os.environ.get("QUANTSHIFT_BENCH_DSN"), help="PostgreSQL DSN for the RSS run")
    ap.add_argument("--redis-url", default=os.environ.get("QUANTSHIFT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = ap.parse_args()

    from quantshift.runtime import tune_malloc

    tune_malloc()  # as quantshift-bot does at start
    bars = make_bars()
    row = bars.row(N_BARS - 1)
    print(f"bench: {N_SYMBOLS} symbols x {N_BARS} bars, strategies: {', '.join(s.name for s in STRATEGIES)}")

    # ---- correctness first: identical signals across all four paths
    a = vectorized(bars)
    results = {"(a) vectorized recompute": a}
    missing = []
    try:
        results["(b) TA-Lib per-symbol loop"] = talib_loop(bars)
    except ImportError:
        missing.append("(b) needs TA-Lib: pip install 'quantshift[bench]'")
    try:
        results["(c) pandas per-symbol loop"] = pandas_loop(bars)
    except ImportError:
        missing.append("(c) needs pandas: pip install 'quantshift[bench]'")
    ok = True
    for name, sig in results.items():
        for s, x, y in zip(STRATEGIES, a, sig):
            if not np.array_equal(x, y):
                print(f"MISMATCH {name} vs (a) in {s.name}: {int(np.sum(x != y))} cells")
                ok = False
    d_last = incremental(primed_states(bars), row)
    for s, x, y in zip(STRATEGIES, a, d_last):
        if not np.array_equal(x[-1], y):
            print(f"MISMATCH (d) incremental vs (a) in {s.name}")
            ok = False
    # and a longer incremental run: 100 consecutive bars through the live path
    states = [s.live(bars.head(N_BARS - 100)) for s in STRATEGIES]
    for t in range(N_BARS - 100, N_BARS):
        for s, st, x in zip(STRATEGIES, states, a):
            if not np.array_equal(st.update(bars.row(t)), x[t]):
                print(f"MISMATCH (d) incremental vs (a) in {s.name} at bar {t}")
                ok = False
    n_signals = sum(int(np.count_nonzero(x)) for x in a)
    print(f"signals: {n_signals} non-zero over all bars; identical across "
          f"{', '.join(k.split()[0] for k in results)} and (d): {'YES' if ok else 'NO'}")

    # ---- timings: interleaved rounds, so background load hits every method alike
    fns = {"(a) vectorized recompute": (lambda _: vectorized(bars), None)}
    if "(b) TA-Lib per-symbol loop" in results:
        fns["(b) TA-Lib per-symbol loop"] = (lambda _: talib_loop(bars), None)
    primed = primed_states(bars)
    fns["(d) incremental one new bar"] = (lambda st: incremental(st, row), lambda: copy.deepcopy(primed))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.repeat):
        for name, (fn, setup) in fns.items():
            arg = setup() if setup else None
            t0 = time.perf_counter()
            fn(arg)
            samples[name].append((time.perf_counter() - t0) * 1000)
    if "(c) pandas per-symbol loop" in results:  # ~100x slower: a few runs are enough
        samples["(c) pandas per-symbol loop"] = [timeit(lambda: pandas_loop(bars), 1) for _ in range(3)]
    order = ["(a) vectorized recompute", "(b) TA-Lib per-symbol loop", "(c) pandas per-symbol loop",
             "(d) incremental one new bar"]
    timings = {k: statistics.median(samples[k]) for k in order if k in samples}
    best = {k: min(samples[k]) for k in order if k in samples}
    ta = timings["(a) vectorized recompute"]
    print()
    print(f"{'method':<32} {'median ms':>10} {'best ms':>9} {'x (a)':>8}")
    print("-" * 62)
    for name, ms in timings.items():
        print(f"{name:<32} {ms:>10.3f} {best[name]:>9.3f} {ms / ta:>8.2f}")
    if "(b) TA-Lib per-symbol loop" in timings:
        print(f"(a) is {timings['(b) TA-Lib per-symbol loop'] / ta:.2f}x faster than the TA-Lib loop, "
              f"(d) is {ta / timings['(d) incremental one new bar']:.0f}x faster than a full recompute")
    for m in missing:
        print(f"skipped {m}")
    print()

    goals = []
    goals.append(("(a) <= %.0f ms" % GOAL_A_MS, ta <= GOAL_A_MS))
    if "(b) TA-Lib per-symbol loop" in timings:
        goals.append(("(a) no slower than (b)", ta <= timings["(b) TA-Lib per-symbol loop"]))
    goals.append(("(d) <= %.0f ms" % GOAL_D_MS, timings["(d) incremental one new bar"] <= GOAL_D_MS))

    if args.dsn:
        try:
            rss, hwm, fills = bot_rss(args.dsn, args.redis_url)
            print(f"bot RSS: quantshift-bot (100 symbols, 4 cycles, {fills} fills): VmRSS {rss:.1f} MB, "
                  f"peak VmHWM {hwm:.1f} MB")
            goals.append(("bot RSS <= %.0f MB" % GOAL_RSS_MB, hwm <= GOAL_RSS_MB))
        except Exception as e:
            print(f"bot RSS: FAILED to measure: {e}")
            goals.append(("bot RSS measured", False))
    else:
        print("bot RSS: skipped: no PostgreSQL DSN (pass --dsn or set QUANTSHIFT_BENCH_DSN)")
    for name, met in goals:
        print(f"goal {name}: {'met' if met else 'MISSED'}")
    if not ok:
        return 1
    if args.strict and not all(m for _, m in goals):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
