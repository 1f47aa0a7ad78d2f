"""Console scripts of the modular components that hold no lease: quantshift-market-data,
quantshift-signal-worker, quantshift-regime (quantshift-coordinator is in ../cli.py,
next to quantshift-bot). Each takes the account's config (the same file as the
coordinator's) and serves its metrics on the port the config's `modular:` names.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .. import naming
from ..cli import _config_arg, _load, _setup_logging, run_until_stopped
from ..config import STRATEGY_NAMES

log = logging.getLogger("quantshift.modular")


def _run(kind: str, argv: list[str] | None, description: str, strategy_arg: bool = False) -> int:
    p = argparse.ArgumentParser(prog=naming.component_command(kind), description=description)
    _config_arg(p)
    if strategy_arg:
        p.add_argument("--strategy", required=True, choices=STRATEGY_NAMES)
        p.add_argument("--instance", type=int, default=1, help="instance number (1..), for the port and consumer")
    p.add_argument("--once", action="store_true", help="one step and exit (tests)")
    args = p.parse_args(argv)
    cfg = _load(args.config)
    if strategy_arg and args.instance < 1:
        print(f"{p.prog}: --instance must be >= 1, got {args.instance}", file=sys.stderr)
        return 2
    _setup_logging(cfg.log_level, f"quantshift-{cfg.name}-{kind}")
    from ..runtime import tune_malloc

    tune_malloc()
    try:
        component = _build(kind, cfg, args)
    except OSError as e:
        log.error("cannot start %s for %s: %s", kind, cfg.name, e)
        return 1
    return run_until_stopped(component, args.once)


def _build(kind: str, cfg, args):
    from ..metrics import COMPONENT_PREFIXES, MarketDataMetrics, RegimeMetrics, SignalWorkerMetrics

    prefix, mo, bind = COMPONENT_PREFIXES[kind], cfg.modular, cfg.metrics_bind
    if kind == naming.MARKET_DATA:
        from .market_data_service import MarketDataService

        return MarketDataService(cfg, MarketDataMetrics(prefix, mo.market_data_port, bind))
    if kind == naming.SIGNAL_WORKER:
        from .signal_worker import SignalWorker

        port = cfg.signal_worker_port(args.strategy, args.instance)
        return SignalWorker(cfg, SignalWorkerMetrics(prefix, port, bind), args.strategy, args.instance)
    from .regime_service import RegimeService

    return RegimeService(cfg, RegimeMetrics(prefix, mo.regime_port, bind))


def market_data_main(argv: list[str] | None = None) -> int:
    return _run(naming.MARKET_DATA, argv, "Fetch an account's bars, cache them in Redis, publish new-bars events.")


def signal_worker_main(argv: list[str] | None = None) -> int:
    return _run(naming.SIGNAL_WORKER, argv, "Compute one strategy's signals for the bars events of its consumer "
                "group.", strategy_arg=True)


def regime_main(argv: list[str] | None = None) -> int:
    return _run(naming.REGIME, argv, "Detect the market regime of an account's symbols and publish it.")
