"""Config: typed, strict, one clear line and exit 78 on any mistake."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quantshift import config
from quantshift.config import EX_CONFIG, ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _base() -> dict:
    return yaml.safe_load((EXAMPLES / "equity_config.yaml").read_text())


def test_example_configs_load_with_the_contract_ports():
    eq = config.load(EXAMPLES / "equity_config.yaml", env={})
    cr = config.load(EXAMPLES / "crypto_config.yaml", env={})
    assert (eq.name, eq.metrics_port, eq.metrics_prefix) == ("equity", 9200, "quantshift_equity")
    assert (cr.name, cr.metrics_port) == ("crypto", 9201)
    assert all("/" in s for s in cr.symbols) and not any("/" in s for s in eq.symbols)
    assert eq.broker.kind == cr.broker.kind == "sim" and eq.marketdata.source == "synthetic"
    assert eq.heartbeat_interval_seconds == 30 and eq.lease_ttl_seconds == 60


def test_defaults_fill_omitted_keys():
    cfg = config.from_mapping({"name": "equity", "metrics_port": 9200, "symbols": ["AAPL"]}, "x.yaml", env={})
    assert cfg.metrics_bind == "0.0.0.0" and cfg.heartbeat_interval_seconds == 30 and cfg.lease_ttl_seconds == 60
    assert cfg.host_id  # socket.gethostname()
    assert cfg.redis.url == "redis://127.0.0.1:6379/0" and cfg.broker.kind == "sim"


@pytest.mark.parametrize("mutate, key, fragment", [
    (lambda d: d["risk"].update(max_open_positions="ten"), "risk.max_open_positions", "expected int, got 'ten'"),
    (lambda d: d.update(metrics_port=True), "metrics_port", "expected int, got True"),
    (lambda d: d["risk"].update(max_open_postions=3), "risk.max_open_postions", "unknown key"),
    (lambda d: d.update(heartbeat_intervall=30), "heartbeat_intervall", "unknown key"),
    (lambda d: d["broker"].update(kind="ibkr"), "broker.kind", "must be one of sim, alpaca, ccxt"),
    (lambda d: d["marketdata"].update(timeframe="7 fortnights"), "marketdata.timeframe", "unknown timeframe"),
    (lambda d: d.pop("metrics_port"), "metrics_port", "required key is missing"),
    (lambda d: d["symbols"].append("AAPL"), "symbols[8]", "duplicate symbol 'AAPL'"),
    (lambda d: d.update(lease_ttl_seconds=20), "lease_ttl_seconds", "must exceed heartbeat_interval_seconds"),
    (lambda d: d["database"].update(password="hunter2"), "database.password", "environment only"),
    (lambda d: d["strategies"].update(macd={"enabled": True}), "strategies.macd", "unknown key"),
    (lambda d: d["broker"].update(order_max_age_seconds=0), "broker.order_max_age_seconds", "must be > 0"),
    (lambda d: d.update(modular={"chunk_size": 0}), "modular.chunk_size", "must be >= 1"),
    (lambda d: d.update(modular={"signal_wait_seconds": -1}), "modular.signal_wait_seconds", "must be > 0"),
    (lambda d: d.update(modular={"regime_port": 70000}), "modular.regime_port", "must be 1..65535"),
    (lambda d: d.update(regime={"allocation": {"sideways": {"bollinger_bounce": 1.0}}}), "regime.allocation.sideways",
     "unknown regime"),
    (lambda d: d.update(regime={"allocation": {"volatile": {"breakout_momentum": 1.5}}}),
     "regime.allocation.volatile.breakout_momentum", "weight 1.5 not in [0, 1]"),
    (lambda d: d.update(regime={"default_allocation": {"macd": 1.0}}), "regime.default_allocation.macd",
     "unknown strategy"),
    (lambda d: d.update(regime={"n_regimes": 5}), "regime.n_regimes", "must be one of 2, 3"),
])
def test_bad_config_names_file_and_dotted_key(mutate, key, fragment):
    d = _base()
    mutate(d)
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "/etc/quantshift/equity_config.yaml", env={})
    msg = str(ei.value)
    assert msg.startswith(f"config error: /etc/quantshift/equity_config.yaml: {key}: "), msg
    assert fragment in msg
    assert "\n" not in msg


def test_secrets_come_from_env_and_never_appear_in_repr():
    d = _base()
    d["broker"]["kind"] = "alpaca"
    env = {"APCA_API_KEY_ID": "PKIDSECRET1XXXXXXXXX", "APCA_API_SECRET_KEY": "S3CR3T2abcdefghijklmnopqrstuvwxyz0123456",
           "QUANTSHIFT_DB_PASSWORD": "dbpw-3", "QUANTSHIFT_REDIS_PASSWORD": "rpw-4"}
    cfg = config.from_mapping(d, "e.yaml", env=env)
    assert cfg.broker.api_key == "PKIDSECRET1XXXXXXXXX" and cfg.database.password == "dbpw-3"
    assert cfg.redis.password == "rpw-4"
    text = repr(cfg)
    for secret in env.values():
        assert secret not in text


def test_alpaca_without_keys_in_env_is_a_config_error():
    d = _base()
    d["broker"]["kind"] = "alpaca"
    with pytest.raises(ConfigError, match="APCA_API_KEY_ID"):
        config.from_mapping(d, "e.yaml", env={})


PAPER_KEY, LIVE_KEY, SECRET = "PK" + "A1" * 9, "AK" + "B2" * 9, "s3" * 20


@pytest.mark.parametrize("paper, env, problem", [
    (True, {"APCA_API_KEY_ID": LIVE_KEY, "APCA_API_SECRET_KEY": SECRET},
     "APCA_API_KEY_ID is a live account's key (AK...) but the bot trades paper"),
    (False, {"APCA_API_KEY_ID": PAPER_KEY, "APCA_API_SECRET_KEY": SECRET},
     "APCA_API_KEY_ID is a paper account's key (PK...) but the bot trades live"),
    (True, {"APCA_API_KEY_ID": "XXXXXXXX", "APCA_API_SECRET_KEY": SECRET}, "APCA_API_KEY_ID looks like a placeholder"),
    (True, {"APCA_API_KEY_ID": PAPER_KEY, "APCA_API_SECRET_KEY": SECRET[:20] + " " + SECRET[21:]},
     "APCA_API_SECRET_KEY contains white space"),
    (True, {"APCA_API_KEY_ID": PAPER_KEY.lower(), "APCA_API_SECRET_KEY": SECRET},
     "APCA_API_KEY_ID must be upper-case letters and digits"),
])
def test_malformed_or_mismatched_broker_keys_are_one_line_naming_the_variable_never_the_value(paper, env, problem):
    d = _base()
    d["broker"].update(kind="alpaca", paper=paper, allow_live=not paper)
    with pytest.raises(ConfigError) as ei:
        config.from_mapping(d, "e.yaml", env=env)
    assert str(ei.value).startswith(f"config error: e.yaml: broker.kind: alpaca: {problem}")
    assert all(v[4:] not in str(ei.value) for v in env.values()), "a key's value is printed"


def _crypto() -> dict:
    return yaml.safe_load((EXAMPLES / "crypto_config.yaml").read_text())


def test_live_trading_needs_allow_live_and_sim_trading_reads_real_candles():
    d = _crypto()
    d["broker"].update(kind="ccxt", exchange="binance", paper=False)
    env = {"QUANTSHIFT_EXCHANGE_API_KEY": "k" * 20, "QUANTSHIFT_EXCHANGE_API_SECRET": "s" * 20}
    with pytest.raises(ConfigError, match="broker.paper: false sends real orders to ccxt: set broker.allow_live: true"):
        config.from_mapping(d, "e.yaml", env=env)
    d["broker"]["allow_live"] = True
    assert config.from_mapping(d, "e.yaml", env=env).broker.paper is False
    # The sim broker on an exchange's real (non-sandbox) candles: no paper flag involved.
    sim = _crypto()
    sim["broker"].update(kind="sim", exchange="kraken")
    sim["marketdata"].update(source="ccxt", exchange="kraken")
    cfg = config.from_mapping(sim, "e.yaml", env={})
    assert (cfg.broker.kind, cfg.marketdata.source, cfg.marketdata.exchange, cfg.marketdata.sandbox) == (
        "sim", "ccxt", "kraken", False)


def test_timeframes_parse_in_alpaca_and_ccxt_spelling():
    assert [config.timeframe_seconds(t) for t in ("1Min", "5Min", "1Hour", "1Day", "1m", "15m", "4h", "1d")] == \
        [60, 300, 3600, 86400, 60, 900, 14400, 86400]


def _run_cli(args, env=None):
    return subprocess.run([sys.executable, "-c", "import sys; from quantshift.cli import bot_main; "
                           "sys.exit(bot_main(sys.argv[1:]))", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_cli_bad_config_prints_one_line_and_exits_78(tmp_path):
    d = _base()
    d["risk"]["max_open_positions"] = "ten"
    p = tmp_path / "equity_config.yaml"
    p.write_text(yaml.safe_dump(d))
    r = _run_cli(["--config", str(p), "--once"])
    assert r.returncode == EX_CONFIG == 78
    assert r.stderr.strip() == f"config error: {p}: risk.max_open_positions: expected int, got 'ten'"
    assert r.stdout == ""


def test_cli_unparsable_yaml_and_missing_file_exit_78(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: equity\nsymbols: [AAPL\n")
    r = _run_cli(["--config", str(p)])
    assert r.returncode == 78 and r.stderr.startswith(f"config error: {p}: line ")
    assert len(r.stderr.strip().splitlines()) == 1
    r = _run_cli(["--config", str(tmp_path / "nope.yaml")])
    assert r.returncode == 78 and "file not found" in r.stderr

