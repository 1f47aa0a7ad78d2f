"""The trading bot: data -> signals -> risk -> orders -> metrics, with a heartbeat
that renews the leader lease, and sd_notify to systemd.

Fencing (DESIGN §4, docs/DECISIONS.md): the bot trades only while it holds a
valid lease for its account (store/lease_holder.py: a local monotonic deadline
moved only by committed renewals). An order is sent only with enough lease
left for the broker's timeout (the send budget), and every ledger write is
checked by the database against the leader row (store/fencing.py): a refused
write (`Fenced`) makes the bot stand down at once. A standby only reads: it
fetches data and computes signals, and writes nothing for the account. When
renewal fails the bot stops trading but keeps running, heartbeating and
pinging the watchdog: it is healthy for systemd, STANDBY in STATUS= and
`_is_primary 0`. One process per account per host (host_lock.py).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import __version__, logs
from .cadence import next_slot_wait
from .brokers import AlpacaBroker, BrokerError, CcxtBroker, OrderRequest, SimBroker
from .config import BotConfig
from .host_lock import HostLock
from .marketdata import BarCache, MarketData, build_source
from .metrics import BotMetrics
from .risk import RiskManager
from .store import Database, DatabaseUnavailable, SchemaNotCurrent, daily_pnl, heartbeat, orders, require_current
from .store.fencing import Fenced
from .store.lease_holder import LeaseHolder
from .strategies import build_strategies
from .venues.market_clock import AlwaysOpen, build_clock
from .watchdog import Notifier

log = logging.getLogger("quantshift.bot")


class StartupError(Exception):
    pass


@dataclass
class CycleReport:
    new_bar: bool = False
    bar_ts: int | None = None
    signals: dict[str, int] = field(default_factory=dict)
    intents: int = 0
    orders_sent: int = 0
    orders_filled: int = 0
    orders_blocked: int = 0
    portfolio_value: float | None = None
    daily_pnl: float | None = None
    positions_open: int | None = None
    kill_switch: bool = False
    market_open: bool | None = None
    errors: list[str] = field(default_factory=list)
    duration: float = 0.0


def build_broker(cfg: BotConfig, db: Database, quote):
    """quote(symbols) -> prices: what the sim broker fills at (venues fill themselves)."""
    b = cfg.broker
    if b.kind == "sim":
        return SimBroker(db, cfg.name, quote, initial_cash=b.initial_cash, fee_bps=b.fee_bps,
                         slippage_bps=b.slippage_bps)
    broker = (AlpacaBroker if b.kind == "alpaca" else CcxtBroker).from_config(cfg, db)
    broker.order_max_age_seconds = b.order_max_age_seconds
    return broker


class Bot:
    """The monolith: one process fetches, computes, decides and trades. The modular
    architecture's trading coordinator (modular/coordinator.py) is this class with
    its inputs taken from the bus instead (the hooks marked "hook")."""

    metrics_class = BotMetrics

    def __init__(self, cfg: BotConfig, *, metrics: BotMetrics | None = None, notifier: Notifier | None = None,
                 clock=time.time, source=None, market_clock=None):
        self.cfg = cfg
        self.clock = clock
        self.db = Database.from_config(cfg.database, application_name=f"quantshift-{cfg.name}")
        # Adapters first: an unusable broker/source is a config error, found
        # before the metrics port is bound.
        self.strategies = build_strategies(cfg)
        self._init_inputs(source)
        self.broker = build_broker(cfg, self.db, self.quote)
        self.market_clock = market_clock if market_clock is not None else build_clock(cfg)
        # Before anything is bound or connected: a second process for this account
        # on this host refuses here with one line.
        self.host_lock = HostLock(cfg.lock_dir, cfg.name).acquire()
        self.metrics = metrics if metrics is not None else self.metrics_class(cfg.metrics_prefix, cfg.metrics_port,
                                                                              cfg.metrics_bind)
        self.notifier = notifier if notifier is not None else Notifier(on_watchdog=self.metrics.record_watchdog)
        self.metrics.declare_strategies(s.name for s in self.strategies)
        # Network adapters observe every request in api_latency_seconds, count
        # each back-off in cycle_errors_total, and ping the watchdog while waiting.
        for part in (self.broker, self._data_source(), self.market_clock):
            if hasattr(part, "instrument"):
                part.instrument(self.metrics, self.notifier.keepalive)
        self.risk = RiskManager(cfg.risk, cfg.broker.qty_decimals)
        self.symbols = list(cfg.symbols)
        self.stop_event = threading.Event()
        self.lease = LeaseHolder(self.db, cfg.name, cfg.host_id, cfg.lease_ttl_seconds, cfg.lease_safety_margin_seconds,
                                 auto_init=cfg.lease_auto_init, config_hint=cfg.source_path or "FILE")
        # Every journal entry of this process names the account, host and current epoch.
        logs.bind(account=cfg.name, host=cfg.host_id, epoch=lambda: self.lease.epoch)
        # A network order may take up to the broker timeout: it is sent only with
        # that much lease left (the sim broker settles inside a fenced transaction).
        self.send_budget = 0.0 if cfg.broker.kind == "sim" else cfg.broker.timeout_seconds
        # signal state
        self._live = None
        self._last_bar_ts: int | None = None
        self._kill_switch = False
        self._kill_day = None
        self._last_report: CycleReport | None = None
        self._redis_warned = False
        self._standby_cycle_logged = False
        self._closed_logged = False
        if isinstance(self.market_clock, AlwaysOpen):
            self.metrics.market_open.set(1)  # from the first scrape; an exchange session is known after a read
        self._export_lease_validity()

    # ----------------------------------------------------- inputs (hook) --
    def _init_inputs(self, source) -> None:
        cfg = self.cfg
        cache = None
        if cfg.redis.enabled:
            cache = BarCache(cfg.redis.url, password=cfg.redis.password, ttl_seconds=cfg.redis.bars_ttl_seconds,
                             socket_timeout=cfg.redis.socket_timeout_seconds)
        self.md = MarketData(source if source is not None else build_source(cfg), cache, clock=self.clock)

    def quote(self, symbols):
        return self.md.quote(symbols)

    def _data_source(self):
        return self.md.source

    def _warm_up(self) -> None:
        fetch = self.md.latest(self.symbols, self.cfg.marketdata.lookback_bars)
        self.metrics.symbols_loaded.set(len(fetch.bars.symbols))

    # ------------------------------------------------------------ lease --
    def _export_lease_validity(self) -> None:
        # Judged at scrape time, not at the last heartbeat: a primary blocked on an
        # unreachable database shows is_primary 0 as soon as its lease runs out.
        self.metrics.is_primary.set_function(lambda: 1.0 if self.lease_valid() else 0.0)

    @property
    def epoch(self) -> int | None:
        return self.lease.epoch

    def lease_valid(self) -> bool:
        return self.lease.valid()

    def _role(self) -> str:
        return "PRIMARY" if self.lease_valid() else "STANDBY"

    def heartbeat(self) -> bool:
        """Renew the lease (or take up a row naming this host), write bot_status,
        update metrics and ping the watchdog. The renewal counts only once its
        transaction committed. Never raises; False when it failed."""
        cfg = self.cfg
        try:
            with self.db.transaction() as cur:
                renewal = self.lease.renew(cur)
                heartbeat.beat(cur, cfg.name, cfg.host_id, renewal.role,
                               epoch=renewal.lease.epoch if renewal.lease else None,
                               is_primary=renewal.role == "PRIMARY", detail=self._detail())
            self.lease.commit(renewal)
            ok = True
        except DatabaseUnavailable as e:
            ok = False
            self.metrics.record_error("db")
            log.error("heartbeat failed (database): %s; %s", e,
                      "still inside the lease" if self.lease_valid() else "not trading until the lease is renewed")
        except Exception as e:  # a heartbeat must never kill the loop
            ok = False
            self.metrics.record_error("lease")
            log.exception("heartbeat failed: %s", e)
            self.db.close()
        self.metrics.record_heartbeat()
        self.metrics.set_leader(self.epoch or 0, self.lease_valid())
        self.notifier.watchdog()
        self.notifier.status(self._status_line())
        return ok

    def _stand_down(self, e: Fenced, rep: CycleReport) -> None:
        self.metrics.record_error("fenced")
        rep.errors.append(f"fenced: {e}")
        self.lease.stand_down(f"ledger refused a write ({e})")
        self.metrics.set_leader(0, False)

    def _detail(self) -> str:
        r = self._last_report
        parts = [f"symbols={len(self.symbols)}"]
        if r is not None and r.portfolio_value is not None:
            parts += [f"value={r.portfolio_value:.2f}", f"positions={r.positions_open}"]
        if self._kill_switch:
            parts.append("kill_switch=on")
        return " ".join(parts)

    def _status_line(self) -> str:
        role = self._role()
        lease = f"epoch {self.epoch} lease {self.lease.seconds_left():.0f}s" if self.epoch is not None else "no lease"
        r = self._last_report
        extra = ""
        if r is not None:
            extra = f" | last cycle {r.duration * 1000:.0f} ms, {r.orders_filled} fills"
            if r.portfolio_value is not None:
                extra += f" | value {r.portfolio_value:.2f} pnl {r.daily_pnl:+.2f} positions {r.positions_open}"
        if self._kill_switch:
            extra += " | DAILY LOSS LIMIT: entries stopped"
        return f"{role} {lease} | {len(self.symbols)} symbols{extra}"

    # ----------------------------------------------------------- startup --
    def _until_ok(self, step, errors, error_type: str, what: str, wait: bool, max_delay: float):
        """Run a start-up step until it succeeds, backing off (1 s doubling to
        max_delay) and keeping the watchdog fed; without wait the first failure ends
        the start."""
        delay = 1.0
        while True:
            try:
                return step()
            except errors as e:
                self.metrics.record_error(error_type)
                if not wait:
                    raise StartupError(f"{what}: {e}") from None
                log.error("%s: %s; not trading, retrying in %.0fs", what, e, delay)
                self.notifier.status(f"waiting ({what}): {e}")
                if self._sleep(delay):
                    raise StartupError(f"stopped while waiting ({what})")
                delay = min(delay * 2, max_delay)

    def start(self, *, wait: bool = True) -> None:
        """Database up and its schema current, start registered, market data warm,
        lease taken up if it names this host and then the broker reconciled (a
        standby reconciles when it gets the lease); then READY=1. With wait=True a
        missing database is retried (watchdog kept alive) until it answers or the
        bot is stopped."""
        cfg = self.cfg
        self.notifier.status("starting: connecting to the database")
        def register_start() -> int:
            require_current(self.db)
            with self.db.transaction() as cur:
                return heartbeat.register_start(cur, cfg.name, cfg.host_id, os.getpid(), __version__)

        starts = self._until_ok(register_start, (DatabaseUnavailable, SchemaNotCurrent), "db", "database not ready",
                               wait, max_delay=15.0)
        self.metrics.set_restarts(starts - 1)
        log.info("start %d of %s on %s (restarts_total=%d)", starts, cfg.name, cfg.host_id, starts - 1)
        self.notifier.keepalive()
        self._warm_up()
        self.notifier.keepalive()
        # The holder does not trade, and sends no READY=1, until the broker's open
        # orders and positions have been reconciled with the store (under its fence).
        self.heartbeat()
        if self.lease_valid():
            self._until_ok(self._reconcile, BrokerError, "broker", "broker reconciliation failed", wait,
                           max_delay=30.0)
        self.notifier.ready(f"ready: {len(self.symbols)} symbols, broker {self.broker.name}, {self._role()}")
        log.info("ready: %d symbols, %d strategies, broker %s, data %s", len(self.symbols), len(self.strategies),
                 self.broker.name, getattr(self._data_source(), "name", "the bus"))

    def _may_send(self) -> bool:
        """The send budget: enough lease left for one broker write (order or cancel)."""
        return self.lease.allows_send(self.send_budget)

    def _reconcile(self) -> None:
        for note in self.broker.reconcile(may_send=self._may_send):
            log.info("reconcile: %s", note)
        self.lease.acquired = False

    # ------------------------------------------------------------- cycle --
    def _signals_for_newest_bar(self, bars) -> dict[str, np.ndarray] | None:
        """Signal row per strategy for the newest bar, or None if no new bar.
        One new bar -> incremental update; otherwise a full recompute (and the
        live state is re-primed from it)."""
        last_ts = int(bars.ts[-1])
        if self._last_bar_ts is not None and last_ts == self._last_bar_ts:
            return None
        out = {}
        if self._live is not None and len(bars) >= 2 and int(bars.ts[-2]) == self._last_bar_ts:
            row = bars.row(-1)
            for s in self.strategies:
                out[s.name] = self._live[s.name].update(row)
        else:
            self._live = {}
            for s in self.strategies:
                out[s.name] = s.signals(bars)[-1]
                self._live[s.name] = s.live(bars)
        self._last_bar_ts = last_ts
        return out

    def cycle(self) -> CycleReport:
        cfg = self.cfg
        rep = CycleReport()
        t0 = time.perf_counter()
        try:
            self._cycle(rep)
        except DatabaseUnavailable as e:
            self.metrics.record_error("db")
            rep.errors.append(f"db: {e}")
            log.error("cycle: database unavailable: %s", e)
        except Fenced as e:
            self._stand_down(e, rep)
        except BrokerError as e:
            self.metrics.record_error("broker")
            rep.errors.append(f"broker: {e}")
            log.error("cycle: broker: %s", e)
        except Exception as e:
            self.metrics.record_error("internal")
            rep.errors.append(f"internal: {e}")
            log.exception("cycle failed: %s", e)
        finally:
            rep.duration = time.perf_counter() - t0
            self.metrics.record_cycle(rep.duration)
            self._last_report = rep
        log.info("cycle %s: bar=%s new=%s signals=%s orders=%d/%d blocked=%d value=%s pnl=%s positions=%s %.1f ms%s",
                 cfg.name, rep.bar_ts, rep.new_bar, rep.signals, rep.orders_filled, rep.intents, rep.orders_blocked,
                 f"{rep.portfolio_value:.2f}" if rep.portfolio_value is not None else "-",
                 f"{rep.daily_pnl:+.2f}" if rep.daily_pnl is not None else "-",
                 rep.positions_open, rep.duration * 1000, " ERRORS " + "; ".join(rep.errors) if rep.errors else "")
        return rep

    def _api_timer(self, part):
        """Adapters that time their own requests are not timed again around the call."""
        return contextlib.nullcontext() if getattr(part, "self_timed", False) else self.metrics.time_api()

    def _cycle(self, rep: CycleReport) -> None:
        inputs = self._inputs(rep)
        if inputs is not None:
            self._trade(rep, *inputs)

    def _inputs(self, rep: CycleReport):
        """(prices, signal rows per strategy or None) for this cycle, or None when
        there is nothing to trade on (hook: the coordinator reads the bus)."""
        cfg, m = self.cfg, self.metrics
        try:
            with self._api_timer(self.md.source):
                fetch = self.md.latest(self.symbols, cfg.marketdata.lookback_bars)
        except Exception as e:
            m.record_error("data")
            rep.errors.append(f"data: {e}")
            log.error("market data failed: %s", e)
            return
        if fetch.redis_error:
            m.record_error("redis")
            rep.errors.append(f"redis: {fetch.redis_error}")
            if not self._redis_warned:
                log.warning("redis unavailable, trading without the bar cache: %s", fetch.redis_error)
                self._redis_warned = True
        elif self._redis_warned:
            log.info("redis is back")
            self._redis_warned = False
        bars = fetch.bars
        m.symbols_loaded.set(len(bars.symbols))
        m.market_data_age.set(fetch.age_seconds)
        rep.bar_ts = int(bars.ts[-1])
        self.notifier.keepalive()

        try:
            sig = self._signals_for_newest_bar(bars)
        except Exception as e:
            m.record_error("strategy")
            self._live, self._last_bar_ts = None, None
            rep.errors.append(f"strategy: {e}")
            log.exception("strategy failed: %s", e)
            sig = None
        self.notifier.keepalive()
        rep.new_bar = sig is not None
        if sig is not None:
            for name, row in sig.items():
                n = int(np.count_nonzero(row))
                rep.signals[name] = n
                if n:
                    m.record_signals(name, n)

        return bars.close[-1], sig

    def _votes(self, sig: dict[str, np.ndarray], m: int):
        """Net vote per symbol and, per symbol, the strategies that voted its way
        (hook: the coordinator weighs them by the regime's allocation)."""
        stacked = np.vstack([sig[s.name] for s in self.strategies]) if self.strategies else np.zeros((0, m))
        votes = stacked.sum(axis=0) if len(stacked) else np.zeros(m)
        names = [s.name for s in self.strategies]
        voters = ["+".join(n for n, v in zip(names, stacked[:, j]) if v != 0 and np.sign(v) == np.sign(votes[j]))
                  for j in range(m)]
        return votes, voters

    def _claim_decision(self, rep: CycleReport) -> bool:
        """Whether this bar may be acted on (hook: the coordinator records the
        decision in the ledger, once per bar)."""
        return True

    def _trade(self, rep: CycleReport, prices: np.ndarray, sig: dict[str, np.ndarray] | None) -> None:
        cfg, m = self.cfg, self.metrics
        market_open = rep.market_open = self._market_open(rep)
        if not self.lease_valid():
            # A standby only reads: no broker sync, no account state, no P&L row.
            if not self._standby_cycle_logged:
                log.info("standby for %s: data and signals only, nothing written for the account", cfg.name)
                self._standby_cycle_logged = True
            return
        self._standby_cycle_logged = False
        if self.lease.acquired:
            self._reconcile()  # a new epoch: the broker's view first (raises BrokerError: no trading this cycle)
        self._detect_fenced()
        # Orders left open (accepted, partly filled, outcome unknown) are looked
        # up by client order id before anything new is decided; working ones past
        # broker.order_max_age_seconds are canceled (within the send budget).
        for res in self.broker.sync(may_send=self._may_send):
            if res.status in ("FILLED", "REJECTED"):
                with self.db.transaction() as cur:
                    o = orders.get(cur, res.client_order_id)
                if o is not None:
                    if res.status == "FILLED":
                        rep.orders_filled += 1
                    m.record_order(o.side, res.status)
        acct = self.broker.account()
        price_map = dict(zip(self.symbols, prices.tolist()))
        value = acct.value(price_map)
        with self.db.transaction() as cur:
            day = daily_pnl.update(cur, cfg.name, value)
            limit_hit = day.limit_hit
            if not limit_hit and self.risk.kill_switch_tripped(day.start_value, value):
                daily_pnl.set_limit_hit(cur, cfg.name, day.day)
                limit_hit = True
                log.error("ALERT daily loss limit hit: account=%s pnl=%.2f limit=-%.2f; new entries stopped until "
                          "the next UTC day", cfg.name, value - day.start_value,
                          self.risk.loss_limit_usd(day.start_value))
        self._kill_switch = limit_hit
        rep.kill_switch = limit_hit
        m.daily_loss_limit_hit.set(1 if limit_hit else 0)

        if sig is not None and self._claim_decision(rep):
            votes, voters = self._votes(sig, len(prices))
            intents = self.risk.plan(self.symbols, votes, voters, prices, acct.positions, acct.cash,
                                     kill_switch=limit_hit)
            rep.intents = len(intents)
            if intents and market_open:
                self._execute(intents, rep)
                acct = self.broker.account()
                value = acct.value(price_map)
        rep.portfolio_value = value
        rep.daily_pnl = value - day.start_value
        rep.positions_open = len(acct.positions)
        m.set_portfolio(value, rep.daily_pnl, rep.positions_open)

    def _market_open(self, rep: CycleReport) -> bool:
        """The market clock's answer, exported as _market_open. No orders while
        closed, nor when the clock cannot be read (its reads are counted as
        broker errors by the clock's own back-off)."""
        try:
            is_open = self.market_clock.is_open(self.clock())
        except BrokerError as e:
            rep.errors.append(f"market clock: {e}")
            log.error("market clock unavailable: %s; no orders this cycle", e)
            return False
        self.metrics.market_open.set(1 if is_open else 0)
        if not is_open and not self._closed_logged:
            log.info("market closed for %s: signals only, no orders until it opens", self.cfg.name)
        elif is_open and self._closed_logged:
            log.info("market open for %s: trading", self.cfg.name)
        self._closed_logged = not is_open
        return is_open

    def _detect_fenced(self) -> None:
        """Orders the broker executed under an older epoch after it ended (only a
        broker without fencing tokens can have them): recorded, counted, alerted."""
        detect = getattr(self.broker, "detect_fenced", None)
        if detect is None:
            return
        for f in detect(self.epoch):
            self.metrics.fenced_orders.inc()
            log.critical("ALERT fenced order %s (epoch %s) executed at the broker after epoch %d began: %s %g %s; "
                         "position adopted from the broker (runbook: docs/runbooks/fenced-order.md)",
                         f.client_order_id, f.order_epoch, self.epoch, f.side, f.filled_qty, f.symbol,
                         **logs.fields(client_order_id=f.client_order_id, symbol=f.symbol, epoch=f.order_epoch))

    def _execute(self, intents, rep: CycleReport) -> None:
        cfg = self.cfg
        with self.db.transaction() as cur:
            busy = {o.symbol for o in orders.open_orders(cur, cfg.name)}
        may_send = self._may_send
        for it in intents:
            self.notifier.keepalive()
            if not may_send():
                rep.orders_blocked += 1
                continue
            if it.symbol in busy:
                # Never a second order while one is open or its outcome unknown.
                log.warning("%s %s not sent: an order for %s is still open or unresolved", it.side, it.symbol,
                            it.symbol, **logs.fields(symbol=it.symbol))
                continue
            epoch = self.epoch
            coid = self.broker.new_client_order_id(cfg.name, epoch)
            with self.db.transaction() as cur:
                orders.create_pending(cur, client_order_id=coid, account=cfg.name, host_id=cfg.host_id, epoch=epoch,
                                      symbol=it.symbol, side=it.side, qty=it.qty, strategy=it.strategy)
            # Every line logged while this order is worked on (here, in the broker
            # adapter, in its retries) carries its client order id and symbol.
            with logs.order(coid, it.symbol):
                self._send(it, coid, rep, may_send)
        if rep.orders_blocked:
            log.warning("%d order(s) not sent: not enough lease left for %s", rep.orders_blocked, cfg.name)

    def _send(self, it, coid: str, rep: CycleReport, may_send) -> None:
        """One planned order, already PENDING in the ledger: sent once, outcome recorded."""
        m = self.metrics
        log.info("order %s: %s %s %g (%s)", coid, it.side, it.symbol, it.qty, it.strategy)
        # Re-check right before sending: the lease may have lapsed during the insert.
        if not may_send():
            with self.db.transaction() as cur:
                orders.set_status(cur, coid, "CANCELED", error="lease too short to send")
            rep.orders_blocked += 1
            return
        try:
            with self._api_timer(self.broker):
                res = self.broker.submit(OrderRequest(coid, it.symbol, it.side, it.qty), may_send=may_send)
        except Fenced:
            raise  # the ledger refused the outcome: stand down (cycle())
        except Exception as e:
            # Unknown outcome: never resend; reconciliation resolves it by client order id.
            m.record_error("broker")
            m.record_order(it.side, "UNKNOWN")
            rep.errors.append(f"broker: {e}")
            log.error("order %s %s %s: outcome unknown: %s", coid, it.side, it.symbol, e)
            try:
                with self.db.transaction() as cur:
                    orders.set_status(cur, coid, "UNKNOWN", error=str(e)[:500])
            except (DatabaseUnavailable, Fenced):
                pass  # the next holder's reconciliation resolves it by client order id
            return
        rep.orders_sent += 1
        m.record_order(it.side, res.status)
        if res.status == "FILLED":
            rep.orders_filled += 1
            log.info("filled %s %s %g @ %.4f fee %.2f (%s, %s)", it.side, it.symbol, res.filled_qty,
                     res.avg_price, res.fee, it.strategy, coid)
        elif res.status == "REJECTED":
            log.warning("rejected %s %s %g: %s (%s)", it.side, it.symbol, it.qty, res.error, coid)

    # -------------------------------------------------------------- loop --
    def _sleep(self, seconds: float) -> bool:
        """Sleep in short slices, pinging the watchdog; True if asked to stop."""
        end = time.monotonic() + seconds
        step = min(1.0, self.notifier.ping_interval or 1.0)
        while True:
            self.notifier.keepalive()
            left = end - time.monotonic()
            if left <= 0:
                return self.stop_event.is_set()
            if self.stop_event.wait(min(step, left)):
                return True

    def _wait(self, seconds: float) -> None:
        """Between heartbeats and cycles (hook: the coordinator decides bars meanwhile)."""
        self._sleep(seconds)

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self, once: bool = False) -> int:
        cfg = self.cfg
        try:
            self.start(wait=not once)
        except StartupError as e:
            log.error("%s", e)
            self.shutdown()
            return 1 if once else 0
        if once:
            self.heartbeat()
            rep = self.cycle()
            self.heartbeat()
            self.shutdown()
            return 1 if rep.errors and any(not e.startswith("redis") for e in rep.errors) else 0
        next_hb = next_cycle = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now >= next_hb:
                # After a failed renewal, try again soon: an arbiter that is back
                # finds the primary renewing within seconds, not a whole interval.
                ok = self.heartbeat()
                next_hb = now + (cfg.heartbeat_interval_seconds if ok else min(cfg.heartbeat_interval_seconds, 2.0))
            if self.stop_event.is_set():
                break
            if now >= next_cycle:
                self.cycle()
                next_cycle = time.monotonic() + self._until_next_cycle()
            self.notifier.keepalive()
            self._wait(max(0.0, min(next_hb, next_cycle) - time.monotonic()))
        self.shutdown()
        return 0

    def _until_next_cycle(self) -> float:
        return next_slot_wait(self.clock(), self.cfg.cycle_interval_seconds)

    def shutdown(self) -> None:
        self.notifier.stopping()
        self.notifier.status("stopping")
        try:
            with self.db.transaction() as cur:
                heartbeat.beat(cur, self.cfg.name, self.cfg.host_id, "STOPPED", epoch=self.epoch, is_primary=False,
                               detail="clean shutdown")
        except Exception:
            pass
        self.lease.release()
        self.metrics.set_leader(0, False)
        self.db.close()
        self.host_lock.release()
        log.info("stopped %s", self.cfg.name)
