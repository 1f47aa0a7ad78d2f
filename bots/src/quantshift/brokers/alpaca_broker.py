"""Alpaca broker (alpaca-py TradingClient): paper or live, market and limit
orders, positions, cash, open orders. The order-safety rules live in
RemoteBroker; this module only speaks Alpaca v2:

  POST /v2/orders                          submit (client_order_id = ours)
  GET  /v2/orders:by_client_order_id       lookup by client order id (404 = none)
  DELETE /v2/orders/{id}                   cancel (204; 422 once final), then looked up
  GET  /v2/orders?status=open&limit=500    open orders (reconciliation)
  GET  /v2/orders?status=all&after=..      recent orders (fenced-order detection)
  GET  /v2/account, GET /v2/positions      cash and positions

Alpaca refuses a client_order_id it has seen before (422 "client_order_id
must be unique"), even for a closed order, so a duplicate is a lookup.
Keys come from APCA_API_KEY_ID / APCA_API_SECRET_KEY via the config, which
requires them (alpaca-py does not read the environment itself).
"""
from __future__ import annotations

import datetime as dt
import logging

from ..store import Database
from ..venues.reports import VenueAccount, VenueOrder
from ..venues.retry import RetryPolicy
from ..venues.startup_errors import require_extra
from ..venues.timestamps import parse_rfc3339
from .base import OrderRequest
from .remote import RemoteBroker

log = logging.getLogger(__name__)

# Alpaca order status -> store status. Everything not listed is still open.
_STATUS = {
    "filled": "FILLED",
    "partially_filled": "PARTIALLY_FILLED",
    "canceled": "CANCELED",
    "expired": "CANCELED",
    "replaced": "CANCELED",
    "rejected": "REJECTED",
}


def _f(v, default=0.0) -> float:
    try:
        return float(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        return default


def to_venue_order(d: dict) -> VenueOrder:
    status = _STATUS.get(str(d.get("status", "")).lower(), "ACCEPTED")
    filled = _f(d.get("filled_qty"))
    if status == "ACCEPTED" and filled > 0:
        status = "PARTIALLY_FILLED"
    avg = _f(d.get("filled_avg_price"), None) if filled > 0 else None
    reason = None
    if status in ("CANCELED", "REJECTED"):
        reason = f"alpaca status {d.get('status')}"
    return VenueOrder(client_order_id=d.get("client_order_id"), broker_order_id=str(d.get("id")) if d.get("id") else None,
                      symbol=str(d.get("symbol") or ""), side=str(d.get("side") or ""), qty=_f(d.get("qty")),
                      status=status, filled_qty=filled, avg_price=avg, fee=0.0, reason=reason,
                      executed_at=parse_rfc3339(d.get("filled_at")) or parse_rfc3339(d.get("updated_at")))


class AlpacaBroker(RemoteBroker):
    name = "alpaca"
    coid_max_len = 128  # Alpaca's client_order_id limit

    def __init__(self, db: Database, account: str, *, api_key: str | None, api_secret: str | None,
                 paper: bool = True, base_url: str | None = None, timeout_seconds: float = 10.0,
                 time_in_force: str = "day", retry: RetryPolicy | None = None, sleep=None):
        require_extra("alpaca", "alpaca", "broker.kind alpaca")
        super().__init__(db, account, retry=retry, sleep=sleep)
        from alpaca.trading.client import TradingClient

        from ..venues import alpaca_client

        self._ac = alpaca_client
        # raw_data: plain dicts, parsed leniently here; a new enum value in an
        # answer must not turn a placed order into a parsing exception.
        self.client = alpaca_client.harden(
            TradingClient(api_key, api_secret, paper=paper, raw_data=True, url_override=base_url), timeout_seconds)
        self.paper = paper
        self.time_in_force = time_in_force
        log.info("alpaca broker: %s endpoint%s", "paper" if paper else "LIVE",
                 f" (override {base_url})" if base_url else "")

    @classmethod
    def from_config(cls, cfg, db: Database, **kw) -> "AlpacaBroker":
        b = cfg.broker
        return cls(db, cfg.name, api_key=b.api_key, api_secret=b.api_secret, paper=b.paper, base_url=b.base_url,
                   timeout_seconds=b.timeout_seconds, **kw)

    def _translate(self, exc: Exception):
        return self._ac.translate(exc)

    def _venue_submit(self, req: OrderRequest) -> VenueOrder:
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

        common = dict(symbol=req.symbol, qty=req.qty, side=OrderSide(req.side),
                      time_in_force=TimeInForce(self.time_in_force), client_order_id=req.client_order_id)
        if req.order_type == "limit":
            data = LimitOrderRequest(limit_price=req.limit_price, **common)
        else:
            data = MarketOrderRequest(**common)
        return to_venue_order(self.client.submit_order(data))

    def _venue_find(self, client_order_id: str, symbol: str | None) -> VenueOrder | None:
        return to_venue_order(self.client.get_order_by_client_id(client_order_id))

    def _venue_cancel(self, broker_order_id: str, symbol: str) -> None:
        self.client.cancel_order_by_id(broker_order_id)

    def _venue_open_orders(self) -> list[VenueOrder]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        rows = self.client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500))
        if len(rows) >= 500:
            log.warning("alpaca: 500 or more open orders; reconciliation saw the newest 500")
        return [to_venue_order(d) for d in rows]

    def _venue_recent_orders(self, since: dt.datetime) -> list[VenueOrder]:
        """All orders submitted after `since`, newest first, up to Alpaca's page
        of 500: called every cycle, so an order older than the newest 500 was
        seen by an earlier call."""
        from alpaca.common.enums import Sort
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        rows = self.client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=since, limit=500,
                                                       direction=Sort.DESC))
        if len(rows) >= 500:
            log.warning("alpaca: 500 or more orders since %s; fenced-order detection saw the newest 500",
                        since.isoformat())
        return [to_venue_order(d) for d in rows]

    def _venue_account(self) -> VenueAccount:
        acct = self.client.get_account()
        if acct.get("trading_blocked") or acct.get("account_blocked"):
            log.error("alpaca: account is blocked (trading_blocked=%s account_blocked=%s)",
                      acct.get("trading_blocked"), acct.get("account_blocked"))
        pos = {}
        for p in self.client.get_all_positions():
            qty = _f(p.get("qty"))
            if str(p.get("side", "long")) == "short":
                qty = -abs(qty)
            pos[str(p["symbol"])] = (qty, _f(p.get("avg_entry_price"), None))
        return VenueAccount(cash=_f(acct.get("cash")), positions=pos)
