"""Typed bot configuration from YAML + environment.

Validation is explicit (dataclasses + checks, no pydantic: the wheelhouse the
role ships stays small). Every problem is reported as ONE line naming the file
and the dotted key, and the CLI exits with EX_CONFIG (78) so systemd's
RestartPreventExitStatus=78 stops a restart storm on a bad config.
Unknown keys are errors: a typo must not silently fall back to a default.
Secrets come only from the environment and are never part of repr().
"""
from __future__ import annotations

import dataclasses
import os
import re
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import naming
from .venues import budget, credentials, profiles

EX_CONFIG = 78

# Environment variables that may carry secrets; values are read, never logged.
ENV_DB_PASSWORD = "QUANTSHIFT_DB_PASSWORD"
ENV_REDIS_PASSWORD = "QUANTSHIFT_REDIS_PASSWORD"
# Other database logins: the schema owner (migrations, from the deploy only) and
# the failover monitor's own login.
ENV_DB_OWNER_PASSWORD = "QUANTSHIFT_DB_OWNER_PASSWORD"
ENV_MONITOR_DB_PASSWORD = "QUANTSHIFT_MONITOR_DB_PASSWORD"
# Broker keys: named and checked by venues/credentials.py (also the deploy's preflight).
ENV_ALPACA_KEY = credentials.ALPACA_KEY
ENV_ALPACA_SECRET = credentials.ALPACA_SECRET
ENV_EXCHANGE_KEY = credentials.EXCHANGE_KEY
ENV_EXCHANGE_SECRET = credentials.EXCHANGE_SECRET


class ConfigError(Exception):
    """A configuration problem; str() is the single line printed on stderr."""

    def __init__(self, path: str | os.PathLike | None, key: str, message: str):
        self.path = str(path) if path is not None else "<config>"
        self.key = key
        self.message = message
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(f"config error: {where}{message}")


# ---------------------------------------------------------------- schema ---

@dataclass(frozen=True)
class DatabaseConfig:
    dsn: str = "dbname=quantshift user=quantshift host=127.0.0.1"
    connect_timeout_seconds: int = 5
    statement_timeout_ms: int = 5000
    password: str | None = field(default=None, repr=False, metadata={"env": ENV_DB_PASSWORD})


def with_login(db: DatabaseConfig, user: str, password: str | None) -> DatabaseConfig:
    """The same database reached as another login (the DSN's user replaced)."""
    from psycopg2.extensions import make_dsn

    return dataclasses.replace(db, dsn=make_dsn(db.dsn, user=user), password=password)


@dataclass(frozen=True)
class RedisConfig:
    url: str = "redis://127.0.0.1:6379/0"
    enabled: bool = True
    bars_ttl_seconds: int = 300
    socket_timeout_seconds: float = 0.5
    password: str | None = field(default=None, repr=False, metadata={"env": ENV_REDIS_PASSWORD})


BROKER_KINDS = ("sim", "alpaca", "ccxt")


@dataclass(frozen=True)
class BrokerConfig:
    kind: str = "sim"
    initial_cash: float = 100_000.0
    fee_bps: float = 0.0
    slippage_bps: float = 5.0
    qty_decimals: int = 0
    paper: bool = True
    # paper: false sends real orders: refused unless this confirms it.
    allow_live: bool = False
    # The ccxt exchange traded (broker.kind ccxt): one with a venue profile (venues/profiles.py).
    exchange: str = "binance"
    base_url: str | None = None
    timeout_seconds: float = 10.0
    # A working order older than this is canceled at the venue (it would block its symbol).
    order_max_age_seconds: float = 300.0
    api_key: str | None = field(default=None, repr=False, metadata={"env_secret": True})
    api_secret: str | None = field(default=None, repr=False, metadata={"env_secret": True})


MARKETDATA_SOURCES = ("synthetic", "csv", "alpaca", "ccxt")

_TIMEFRAME_RE = re.compile(r"^(\d+)\s*(m|min|h|hour|d|day)$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def timeframe_seconds(tf: str) -> int:
    """'1Min'/'5Min'/'1Hour'/'1Day' (Alpaca) or '1m'/'1h'/'1d' (ccxt) -> seconds."""
    m = _TIMEFRAME_RE.match(tf.strip())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"unknown timeframe {tf!r} (use e.g. 1Min, 5Min, 1Hour, 1Day or 1m, 1h, 1d)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]


@dataclass(frozen=True)
class MarketDataConfig:
    source: str = "synthetic"
    seed: int = 42
    timeframe: str = "1Min"
    lookback_bars: int = 300
    csv_path: str | None = None
    feed: str = "iex"
    base_url: str | None = None
    # ccxt: the exchange whose candles are read (default: broker.exchange) and whether
    # from its sandbox; independent of the trading venue, so sim trading reads real candles.
    exchange: str | None = None
    sandbox: bool = False
    api_key: str | None = field(default=None, repr=False, metadata={"env_secret": True})
    api_secret: str | None = field(default=None, repr=False, metadata={"env_secret": True})

    @property
    def timeframe_seconds(self) -> int:
        return timeframe_seconds(self.timeframe)


@dataclass(frozen=True)
class BollingerBounceConfig:
    enabled: bool = True
    period: int = 20
    std_dev: float = 2.0


@dataclass(frozen=True)
class RSIMeanReversionConfig:
    enabled: bool = True
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0


@dataclass(frozen=True)
class BreakoutMomentumConfig:
    enabled: bool = True
    lookback: int = 20


@dataclass(frozen=True)
class StrategiesConfig:
    bollinger_bounce: BollingerBounceConfig = field(default_factory=BollingerBounceConfig)
    rsi_mean_reversion: RSIMeanReversionConfig = field(default_factory=RSIMeanReversionConfig)
    breakout_momentum: BreakoutMomentumConfig = field(default_factory=BreakoutMomentumConfig)


@dataclass(frozen=True)
class RiskConfig:
    position_size_usd: float = 5_000.0
    max_position_usd: float = 10_000.0
    max_open_positions: int = 10
    daily_loss_limit_pct: float = 3.0
    daily_loss_limit_usd: float | None = None
    min_order_usd: float = 10.0


STRATEGY_NAMES = naming.STRATEGIES


@dataclass(frozen=True)
class ModularConfig:
    """The modular architecture (DESIGN §8, docs/modular.md): how the account's
    components talk over the Redis bus, and their metrics ports (the coordinator's
    is metrics_port). Signal worker k (0-based, in STRATEGY_NAMES order), instance
    i (1-based), serves on signal_worker_port + 3 * (i - 1) + k."""
    chunk_size: int = 25
    # The coordinator decides a bar when every strategy's signals for every chunk
    # are in, or this long after the bar was published (then degraded).
    signal_wait_seconds: float = 5.0
    # A bar whose close is older than this is not traded (null: 2 bar lengths).
    max_bar_age_seconds: float | None = None
    # A bars event a worker read but left unacknowledged this long is taken over.
    claim_idle_seconds: float = 30.0
    stream_maxlen: int = 2000
    market_data_port: int = 9300
    regime_port: int = 9400
    signal_worker_port: int = 9210


@dataclass(frozen=True)
class BotConfig:
    name: str
    symbols: list[str]
    metrics_port: int
    host_id: str = field(default_factory=socket.gethostname)
    metrics_bind: str = "0.0.0.0"
    heartbeat_interval_seconds: float = 30.0
    lease_ttl_seconds: float = 60.0
    lease_safety_margin_seconds: float = 5.0
    lease_auto_init: bool = False
    cycle_interval_seconds: float = 60.0
    # Host-local lock directory: one trading process per account per host (host_lock.py).
    lock_dir: str = "/run/quantshift"
    log_level: str = "INFO"
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    marketdata: MarketDataConfig = field(default_factory=MarketDataConfig)
    strategies: StrategiesConfig = field(default_factory=StrategiesConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    modular: ModularConfig = field(default_factory=ModularConfig)
    source_path: str | None = field(default=None, compare=False, metadata={"internal": True})

    @property
    def metrics_prefix(self) -> str:
        return f"quantshift_{self.name}"

    @property
    def max_bar_age_seconds(self) -> float:
        m = self.modular.max_bar_age_seconds
        return m if m is not None else 2.0 * self.marketdata.timeframe_seconds

    def signal_worker_port(self, strategy: str, instance: int) -> int:
        return naming.signal_worker_port(self.modular.signal_worker_port, strategy, instance)


# ------------------------------------------------------------ conversion ---

def _type_name(tp: Any) -> str:
    if tp is float:
        return "number"
    if tp is int:
        return "int"
    if tp is str:
        return "string"
    if tp is bool:
        return "bool (true/false)"
    origin = typing.get_origin(tp)
    if origin is list:
        (inner,) = typing.get_args(tp)
        return f"list of {_type_name(inner)}"
    if origin is dict:
        _k, inner = typing.get_args(tp)
        return f"mapping of {_type_name(inner)}"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str, path: str | None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], key, path)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(path, key, f"expected mapping, got {value!r}")
        return _build(tp, value, key + ".", path)
    if origin is dict:
        _k, inner = typing.get_args(tp)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(path, key, f"expected {_type_name(tp)} with string keys, got {value!r}")
        return {k: _convert(v, inner, f"{key}.{k}", path) for k, v in value.items()}
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(path, key, f"expected {_type_name(tp)}, got {value!r}")
        return [_convert(v, inner, f"{key}[{i}]", path) for i, v in enumerate(value)]
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(path, key, f"expected {_type_name(tp)}, got {value!r}")
    return float(value) if tp is float else value


def _build(cls: type, data: dict, prefix: str, path: str | None) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settable = {n for n, f in fields.items()
                if not f.metadata.get("env") and not f.metadata.get("env_secret")
                and not f.metadata.get("internal")}
    for k in data:
        if k not in settable:
            if k in fields:
                raise ConfigError(path, prefix + str(k), "secrets are read from the environment only; remove this key")
            raise ConfigError(path, prefix + str(k), f"unknown key (allowed: {', '.join(sorted(settable))})")
    kwargs = {}
    for name in settable:
        f = fields[name]
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], prefix + name, path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(path, prefix + name, "required key is missing")
    return cls(**kwargs)


# ------------------------------------------------------------ validation ---

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _check(cond: bool, path: str | None, key: str, message: str) -> None:
    if not cond:
        raise ConfigError(path, key, message)


def _validate(cfg: BotConfig, path: str | None) -> None:
    _check(bool(_NAME_RE.match(cfg.name)), path, "name",
           f"must be lower-case letters, digits and '_' (metric prefix quantshift_<name>), got {cfg.name!r}")
    _check(bool(cfg.host_id.strip()), path, "host_id", "must not be empty")
    _check(1 <= cfg.metrics_port <= 65535, path, "metrics_port", f"must be 1..65535, got {cfg.metrics_port}")
    _check(cfg.heartbeat_interval_seconds > 0, path, "heartbeat_interval_seconds", "must be > 0")
    _check(cfg.cycle_interval_seconds > 0, path, "cycle_interval_seconds", "must be > 0")
    _check(os.path.isabs(cfg.lock_dir), path, "lock_dir", f"must be an absolute path, got {cfg.lock_dir!r}")
    _check(cfg.lease_safety_margin_seconds >= 0, path, "lease_safety_margin_seconds", "must be >= 0")
    # The lease must outlive at least one missed renewal, otherwise a single slow
    # heartbeat fences a healthy primary.
    _check(cfg.lease_ttl_seconds > cfg.heartbeat_interval_seconds + cfg.lease_safety_margin_seconds,
           path, "lease_ttl_seconds",
           f"must exceed heartbeat_interval_seconds + lease_safety_margin_seconds "
           f"({cfg.heartbeat_interval_seconds:g} + {cfg.lease_safety_margin_seconds:g})")
    _check(cfg.log_level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"), path, "log_level",
           f"must be DEBUG, INFO, WARNING or ERROR, got {cfg.log_level!r}")
    _check(len(cfg.symbols) > 0, path, "symbols", "must list at least one symbol")
    seen = set()
    for i, s in enumerate(cfg.symbols):
        _check(bool(s.strip()) and s == s.strip(), path, f"symbols[{i}]", f"invalid symbol {s!r}")
        _check(s not in seen, path, f"symbols[{i}]", f"duplicate symbol {s!r}")
        seen.add(s)
    _check(cfg.database.connect_timeout_seconds > 0, path, "database.connect_timeout_seconds", "must be > 0")
    _check(cfg.database.statement_timeout_ms > 0, path, "database.statement_timeout_ms", "must be > 0")
    _check(cfg.redis.url.startswith(("redis://", "rediss://", "unix://")), path, "redis.url",
           f"must start with redis://, rediss:// or unix://, got {cfg.redis.url!r}")
    _check(cfg.redis.bars_ttl_seconds > 0, path, "redis.bars_ttl_seconds", "must be > 0")
    _check(cfg.redis.socket_timeout_seconds > 0, path, "redis.socket_timeout_seconds", "must be > 0")
    b = cfg.broker
    _check(b.kind in BROKER_KINDS, path, "broker.kind", f"must be one of {', '.join(BROKER_KINDS)}, got {b.kind!r}")
    _check(b.initial_cash > 0, path, "broker.initial_cash", "must be > 0")
    _check(b.fee_bps >= 0, path, "broker.fee_bps", "must be >= 0")
    _check(b.slippage_bps >= 0, path, "broker.slippage_bps", "must be >= 0")
    _check(0 <= b.qty_decimals <= 10, path, "broker.qty_decimals", "must be 0..10")
    _check(b.timeout_seconds > 0, path, "broker.timeout_seconds", "must be > 0")
    _check(b.order_max_age_seconds > 0, path, "broker.order_max_age_seconds", "must be > 0")
    _check(b.base_url is None or b.base_url.startswith(("http://", "https://")), path, "broker.base_url",
           f"must start with http:// or https://, got {b.base_url!r}")
    _check(bool(re.match(r"^[a-z0-9_]+$", b.exchange)), path, "broker.exchange",
           f"must be a ccxt exchange id ({', '.join(profiles.supported())} ...), got {b.exchange!r}")
    if b.kind == "ccxt":
        refusal = profiles.trading_refusal(b.exchange)
        _check(refusal is None, path, "broker.exchange", refusal or "")
    _check(b.kind == "sim" or b.paper or b.allow_live, path, "broker.paper",
           f"false sends real orders to {b.kind}: set broker.allow_live: true to confirm "
           f"(inventory: mode: live with allow_live: true)")
    md = cfg.marketdata
    _check(md.source in MARKETDATA_SOURCES, path, "marketdata.source",
           f"must be one of {', '.join(MARKETDATA_SOURCES)}, got {md.source!r}")
    try:
        md.timeframe_seconds
    except ValueError as e:
        raise ConfigError(path, "marketdata.timeframe", str(e)) from None
    _check(md.lookback_bars >= 50, path, "marketdata.lookback_bars", "must be >= 50")
    _check(md.seed >= 0, path, "marketdata.seed", "must be >= 0")
    _check(md.feed in ("iex", "sip"), path, "marketdata.feed", f"must be iex or sip, got {md.feed!r}")
    _check(md.base_url is None or md.base_url.startswith(("http://", "https://")), path, "marketdata.base_url",
           f"must start with http:// or https://, got {md.base_url!r}")
    _check(md.exchange is None or bool(re.match(r"^[a-z0-9_]+$", md.exchange)), path, "marketdata.exchange",
           f"must be a ccxt exchange id ({', '.join(profiles.supported())} ...), got {md.exchange!r}")
    if "ccxt" in (b.kind, md.source):
        _check_unified_symbols(cfg.symbols, path)
    _check_candle_budget(cfg, path)
    if md.source == "csv":
        _check(bool(md.csv_path), path, "marketdata.csv_path", "required when marketdata.source is csv")
        _check(Path(md.csv_path).is_file(), path, "marketdata.csv_path", f"file not found: {md.csv_path}")
    st = cfg.strategies
    _check(st.bollinger_bounce.period >= 2, path, "strategies.bollinger_bounce.period", "must be >= 2")
    _check(st.bollinger_bounce.std_dev > 0, path, "strategies.bollinger_bounce.std_dev", "must be > 0")
    _check(st.rsi_mean_reversion.period >= 2, path, "strategies.rsi_mean_reversion.period", "must be >= 2")
    _check(0 < st.rsi_mean_reversion.oversold < st.rsi_mean_reversion.overbought < 100, path,
           "strategies.rsi_mean_reversion.oversold", "need 0 < oversold < overbought < 100")
    _check(st.breakout_momentum.lookback >= 2, path, "strategies.breakout_momentum.lookback", "must be >= 2")
    longest = max(st.bollinger_bounce.period, st.rsi_mean_reversion.period + 1, st.breakout_momentum.lookback + 1)
    _check(md.lookback_bars >= 2 * longest, path, "marketdata.lookback_bars",
           f"must be at least twice the longest strategy window ({2 * longest})")
    r = cfg.risk
    _check(r.position_size_usd > 0, path, "risk.position_size_usd", "must be > 0")
    _check(r.max_position_usd > 0, path, "risk.max_position_usd", "must be > 0")
    _check(r.max_open_positions >= 0, path, "risk.max_open_positions", "must be >= 0")
    _check(0 < r.daily_loss_limit_pct <= 100, path, "risk.daily_loss_limit_pct", "must be in (0, 100]")
    _check(r.daily_loss_limit_usd is None or r.daily_loss_limit_usd > 0, path, "risk.daily_loss_limit_usd",
           "must be > 0 or null")
    _check(r.min_order_usd >= 0, path, "risk.min_order_usd", "must be >= 0")
    mo = cfg.modular
    _check(mo.chunk_size >= 1, path, "modular.chunk_size", "must be >= 1")
    _check(mo.signal_wait_seconds > 0, path, "modular.signal_wait_seconds", "must be > 0")
    _check(mo.max_bar_age_seconds is None or mo.max_bar_age_seconds > 0, path, "modular.max_bar_age_seconds",
           "must be > 0 or null")
    _check(mo.claim_idle_seconds > 0, path, "modular.claim_idle_seconds", "must be > 0")
    _check(mo.stream_maxlen >= 100, path, "modular.stream_maxlen", "must be >= 100")
    for key in ("market_data_port", "regime_port", "signal_worker_port"):
        port = getattr(mo, key)
        _check(1 <= port <= 65535, path, f"modular.{key}", f"must be 1..65535, got {port}")


# ccxt unified spot symbols: BASE/QUOTE (ccxt upper-cases codes; digits occur: 1INCH/USDT).
_UNIFIED_RE = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


def _check_unified_symbols(symbols: list[str], path: str | None) -> None:
    for i, s in enumerate(symbols):
        _check(bool(_UNIFIED_RE.match(s)), path, f"symbols[{i}]",
               f"{s!r} is not a ccxt unified spot symbol (BASE/QUOTE, e.g. BTC/USDT)")


def candle_budget(cfg: BotConfig) -> budget.Budget | None:
    """The config's market data requests per cycle against its venue's rate limit
    (None for local data). ValueError: an exchange id ccxt does not have."""
    md = cfg.marketdata
    return budget.candle_budget(md.source, md.exchange or cfg.broker.exchange, len(cfg.symbols),
                                md.timeframe_seconds, md.lookback_bars, cfg.cycle_interval_seconds)


def _check_candle_budget(cfg: BotConfig, path: str | None) -> None:
    """The symbols' candle requests must fit in half the cycle interval at the venue's rate limit."""
    md = cfg.marketdata
    try:
        found = candle_budget(cfg)
    except ValueError as e:
        raise ConfigError(path, "marketdata.exchange" if md.exchange else "broker.exchange", str(e)) from None
    except ImportError:
        raise ConfigError(path, "marketdata.source", f"ccxt candles from {md.exchange or cfg.broker.exchange} "
                                                     f"need the 'ccxt' extra (its rate limit is read from ccxt)") \
            from None
    if found is not None and not found.fits:
        raise ConfigError(path, "marketdata", found.problem())


def _with_env(cfg: BotConfig, env: typing.Mapping[str, str], path: str | None) -> BotConfig:
    db = dataclasses.replace(cfg.database, password=env.get(ENV_DB_PASSWORD) or None)
    rd = dataclasses.replace(cfg.redis, password=env.get(ENV_REDIS_PASSWORD) or None)
    b = cfg.broker
    for var, problem in credentials.problems(b.kind, env, paper=b.paper):
        _check(False, path, "broker.kind", _key_problem(b.kind, var, problem))
    if credentials.needed(b.kind):
        key, secret = credentials.needed(b.kind)
        b = dataclasses.replace(b, api_key=env[key], api_secret=env[secret])
    md = cfg.marketdata
    if md.source == "alpaca":  # Alpaca's data API needs the account's keys, even with the sim broker
        for var, problem in credentials.problems("alpaca", env):
            _check(False, path, "marketdata.source", _key_problem("alpaca", var, problem))
        md = dataclasses.replace(md, api_key=env[ENV_ALPACA_KEY], api_secret=env[ENV_ALPACA_SECRET])
    elif md.source == "ccxt":  # public candles need no keys; pass them if present
        md = dataclasses.replace(md, api_key=env.get(ENV_EXCHANGE_KEY) or None,
                                 api_secret=env.get(ENV_EXCHANGE_SECRET) or None)
    return dataclasses.replace(cfg, database=db, redis=rd, broker=b, marketdata=md)


def _key_problem(kind: str, var: str, problem: str) -> str:
    if problem == "is not set":
        return f"{kind} needs {var} in the environment (/opt/quantshift/.env)"
    return f"{kind}: {var} {problem} (/opt/quantshift/.env)"


def from_mapping(data: Any, path: str | None = None, env: typing.Mapping[str, str] | None = None) -> BotConfig:
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"top level must be a mapping, got {type(data).__name__}")
    cfg = _build(BotConfig, data, "", path)
    cfg = dataclasses.replace(cfg, source_path=path)
    _validate(cfg, path)
    return _with_env(cfg, os.environ if env is None else env, path)


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file; every problem is a ConfigError naming the file (and line)."""
    p = str(path)
    try:
        with open(p, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(p, "", "file not found") from None
    except OSError as e:
        raise ConfigError(p, "", f"cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(p, "", f"{where}{problem}") from None


# Shared with other components' configs (e.g. the failover monitor), so every
# quantshift config is checked and reported the same way.
build_section = _build
check = _check


def load(path: str | os.PathLike, env: typing.Mapping[str, str] | None = None) -> BotConfig:
    return from_mapping(read_yaml(path), str(path), env)
