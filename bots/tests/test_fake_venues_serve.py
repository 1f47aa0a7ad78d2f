"""The lab's paper mode, off the lab: the fakes served as roles/fake_venues runs
them (fake_venues.py as a script, keys from the environment), and both deployed
bots - the role's base configs in mode paper with their venue URL at the fakes,
rendered by the same trading_mode the deploy uses - trade a full cycle there
through quantshift-bot, as the units do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from quantshift import trading_mode

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BASES = ROOT / "roles/quantshift_bot/files/base_configs"
FAKES = Path(__file__).resolve().parent / "fake_venues.py"
KEYS = {"APCA_API_KEY_ID": "PKLAB0123456789ABCDEF", "APCA_API_SECRET_KEY": "lab-alpaca-secret-0123456789abcdefghij",
        "QUANTSHIFT_EXCHANGE_API_KEY": "lab-exchange-key-0123456789abcdefghijklmnop",
        "QUANTSHIFT_EXCHANGE_API_SECRET": "lab-exchange-secret-0123456789abcdefghijklm"}


def _get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def _wait(url: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            return _get(url, 2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _cli(fn: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    code = f"import sys; from quantshift.cli import {fn}; sys.exit({fn}(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180, env=env)


def test_both_bots_trade_a_full_paper_cycle_at_the_served_fakes(tmp_path, migrated_dsn, redis_url):
    ports = {"alpaca": free_port(), "binance": free_port()}
    crypto_base = yaml.safe_load((BASES / "crypto.yaml").read_text())
    fakes = subprocess.Popen(
        [sys.executable, str(FAKES), "--alpaca", f"127.0.0.1:{ports['alpaca']}",
         "--binance", f"127.0.0.1:{ports['binance']}", "--binance-symbols", ",".join(crypto_base["symbols"])],
        env={"PATH": os.environ["PATH"], **KEYS}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env = {**os.environ, **KEYS}
    try:
        for venue, port in ports.items():
            assert _wait(f"http://127.0.0.1:{port}/_fake/orders") == [], venue
        (tmp_path / "run").mkdir()
        for account, venue, metrics_port in (("equity", "alpaca", free_port()), ("crypto", "binance", free_port())):
            base = yaml.safe_load((BASES / f"{account}.yaml").read_text())
            cfg = trading_mode.apply(base, "paper", "venue", venue_url=f"http://127.0.0.1:{ports[venue]}")
            # What the role adds, and strategies that enter on this cycle whatever the wave does.
            cfg.update(name=account, host_id="ct100", metrics_port=metrics_port, metrics_bind="127.0.0.1",
                       lock_dir=str(tmp_path / "run"), database={"dsn": migrated_dsn}, redis={"url": redis_url},
                       strategies={"rsi_mean_reversion": {"oversold": 99.0, "overbought": 99.5},
                                   "bollinger_bounce": {"enabled": False}, "breakout_momentum": {"enabled": False}})
            path = tmp_path / f"{account}_config.yaml"
            path.write_text(yaml.safe_dump(cfg))
            assert _cli("lease_main", "--config", str(path), "init", "--holder", "ct100", env=env).returncode == 0
            r = _cli("bot_main", "--config", str(path), "--once", env=env)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            at_venue = _get(f"http://127.0.0.1:{ports[venue]}/_fake/orders")
            assert len(at_venue) >= 3 and all(o["status"].lower() == "filled" for o in at_venue), at_venue
            assert all(o["client_order_id"].startswith(f"qs-{account}-e1-") or
                       o["client_order_id"].startswith(f"{account}-e1-") for o in at_venue)
            st = json.loads(_cli("status_main", "--config", str(path), "--json", env=env).stdout)
            assert st["orders_by_status"] == {"FILLED": len(at_venue)}
            assert {p["symbol"] for p in st["positions"]} <= set(base["symbols"]) and st["positions"]
    finally:
        fakes.terminate()
        out, err = fakes.communicate(timeout=10)
    assert fakes.returncode == 0, err
    assert "fake alpaca serving on" in out and "fake binance serving on" in out


def test_the_fakes_refuse_to_start_without_the_keys_they_check():
    r = subprocess.run([sys.executable, str(FAKES), "--alpaca", "127.0.0.1:0"], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"]}, timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "fake_venues.py: error: --alpaca needs APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment")
