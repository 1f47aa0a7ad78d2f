"""ccxt broker (spot): exchange id from config (one with a venue profile),
market and limit orders with the exchange's client-order-id parameter (ccxt's
unified `clientOrderId`, sent as newClientOrderId on binance, cl_ord_id on
kraken), lookup by that id as the profile says, balances as cash (the quote
currency) and positions (the base currencies of the configured symbols), and
the recent order history for fenced-order detection (fetch_orders, per
configured symbol where the exchange wants one). The order-safety rules live in RemoteBroker.

Binance accepts a repeated newClientOrderId once the earlier order is no
longer open, so an order is never sent again without first proving by lookup
that the exchange does not have it.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Sequence

from ..store import Database
from ..venues.errors import VenueNotFound, VenueRejected
from ..venues.profiles import BY_ORDER_PARAM, profile, trading_refusal
from ..venues.reports import VenueAccount, VenueOrder
from ..venues.retry import RetryPolicy
from ..venues.startup_errors import AdapterConfigError, require_extra
from .base import OrderRequest
from .remote import RemoteBroker

log = logging.getLogger(__name__)

_STATUS = {"closed": "FILLED", "canceled": "CANCELED", "expired": "CANCELED", "rejected": "REJECTED"}


def split_symbol(symbol: str) -> tuple[str, str]:
    """'BTC/USDT' -> ('BTC', 'USDT'); ccxt unified symbols are BASE/QUOTE[:SETTLE]."""
    if "/" not in symbol:
        raise AdapterConfigError(f"symbols: {symbol!r} is not a ccxt unified symbol (BASE/QUOTE, e.g. BTC/USDT)")
    base, quote = symbol.split("/", 1)
    return base, quote.split(":", 1)[0]


class CcxtBroker(RemoteBroker):
    name = "ccxt"

    def __init__(self, db: Database, account: str, symbols: Sequence[str], *, exchange_id: str,
                 api_key: str | None, api_secret: str | None, paper: bool = True, base_url: str | None = None,
                 timeout_seconds: float = 10.0, retry: RetryPolicy | None = None, sleep=None):
        require_extra("ccxt", "ccxt", "broker.kind ccxt")
        refusal = trading_refusal(exchange_id)
        if refusal:
            raise AdapterConfigError(f"broker.exchange: {refusal}")
        quotes = {split_symbol(s)[1] for s in symbols}
        if len(quotes) != 1:
            raise AdapterConfigError(f"symbols: the ccxt broker trades against one quote currency, got "
                                     f"{', '.join(sorted(quotes))}")
        super().__init__(db, account, retry=retry, sleep=sleep)
        from ..venues import ccxt_client

        self._cc = ccxt_client
        self.exchange_id = exchange_id
        self.profile = profile(exchange_id)
        self.coid_max_len = self.profile.coid_max_len
        self.exchange = ccxt_client.make_exchange(exchange_id, api_key=api_key, api_secret=api_secret, paper=paper,
                                                  base_url=base_url, timeout_seconds=timeout_seconds)
        self.symbols = list(symbols)
        self.quote = quotes.pop()
        log.info("ccxt broker: %s %s%s", exchange_id, "sandbox" if paper else "LIVE",
                 f" (override {base_url})" if base_url else "")

    @classmethod
    def from_config(cls, cfg, db: Database, **kw) -> "CcxtBroker":
        b = cfg.broker
        return cls(db, cfg.name, cfg.symbols, exchange_id=b.exchange, api_key=b.api_key, api_secret=b.api_secret,
                   paper=b.paper, base_url=b.base_url, timeout_seconds=b.timeout_seconds, **kw)

    def _translate(self, exc: Exception):
        return self._cc.translate(exc, self.exchange)

    def _markets(self) -> dict:
        return self.exchange.load_markets()  # cached by ccxt after the first call

    def _before_send(self, req: OrderRequest) -> str | None:
        markets = self._read("load markets", self._markets)
        if req.symbol not in markets:
            return f"{self.exchange_id} has no market {req.symbol}"
        return None

    # -------------------------------------------------------- conversion --
    def to_venue_order(self, o: dict) -> VenueOrder:
        filled = float(o.get("filled") or 0.0)
        status = _STATUS.get(o.get("status") or "") or ("PARTIALLY_FILLED" if filled > 0 else "ACCEPTED")
        avg = o.get("average")
        if not avg and filled > 0 and o.get("cost"):
            avg = float(o["cost"]) / filled
        symbol = o.get("symbol") or ""
        base = symbol.split("/", 1)[0] if "/" in symbol else None
        fee = 0.0
        for f in (o.get("fees") or ([o["fee"]] if o.get("fee") else [])):
            cost, cur = f.get("cost"), f.get("currency")
            if not cost:
                continue
            if cur == self.quote:
                fee += float(cost)
            elif cur == base and avg:
                fee += float(cost) * float(avg)  # binance charges a buy's fee in the bought asset
            else:
                log.debug("fee of %s %s on %s not converted to %s", cost, cur, o.get("id"), self.quote)
        reason = f"{self.exchange_id} status {(o.get('info') or {}).get('status', o.get('status'))}" \
            if status in ("CANCELED", "REJECTED") else None
        # Last trade, else last update (ccxt leaves lastTradeTimestamp empty for a
        # canceled or expired order, even a partly filled one), else creation.
        ms = o.get("lastTradeTimestamp") or o.get("lastUpdateTimestamp") or o.get("timestamp")
        try:
            executed_at = dt.datetime.fromtimestamp(float(ms) / 1000.0, tz=dt.timezone.utc) if ms else None
        except (TypeError, ValueError, OverflowError, OSError):
            executed_at = None
        return VenueOrder(client_order_id=o.get("clientOrderId"), broker_order_id=str(o["id"]) if o.get("id") else None,
                          symbol=symbol, side=o.get("side") or "", qty=float(o.get("amount") or 0.0), status=status,
                          filled_qty=filled, avg_price=float(avg) if avg and filled > 0 else None, fee=fee,
                          reason=reason, executed_at=executed_at)

    # ------------------------------------------------------- venue calls --
    def _venue_submit(self, req: OrderRequest) -> VenueOrder:
        ex = self.exchange
        amount = float(ex.amount_to_precision(req.symbol, req.qty))
        if amount <= 0:
            raise VenueRejected(f"quantity {req.qty} is below the lot size of {req.symbol}")
        price = req.limit_price if req.order_type == "limit" else None
        o = ex.create_order(req.symbol, req.order_type, req.side, amount, price,
                            {"clientOrderId": req.client_order_id})
        return self.to_venue_order(o)

    def _venue_find(self, client_order_id: str, symbol: str | None) -> VenueOrder | None:
        if symbol is None:
            raise VenueNotFound(f"{client_order_id}: no symbol to look it up with on {self.exchange_id}")
        ex, prof = self.exchange, self.profile
        self._markets()
        by_id = {prof.lookup_param: client_order_id}
        if prof.lookup == BY_ORDER_PARAM:
            return self.to_venue_order(ex.fetch_order(None, symbol, by_id))
        # BY_LIST_FILTER: the exchange filters its open, then its closed orders by our id
        # (an id is unique among open orders only: the newest match is ours).
        for fetch in (ex.fetch_open_orders, ex.fetch_closed_orders):
            rows = [o for o in fetch(symbol, params=by_id) if o.get("clientOrderId") == client_order_id]
            if rows:
                return self.to_venue_order(max(rows, key=lambda o: o.get("timestamp") or 0))
        return None

    def _venue_cancel(self, broker_order_id: str, symbol: str) -> None:
        self._markets()
        self.exchange.cancel_order(broker_order_id, symbol)

    def _venue_open_orders(self) -> list[VenueOrder]:
        import ccxt

        self._markets()
        try:
            rows = self.exchange.fetch_open_orders()
        except ccxt.ArgumentsRequired:  # exchanges that list open orders per symbol only
            rows = [o for s in self.symbols for o in self.exchange.fetch_open_orders(s)]
        return [self.to_venue_order(o) for o in rows]

    def _orders_since(self, symbol: str | None, since_ms: int) -> list[dict]:
        """Order history of one symbol (None: all) from since_ms on: fetch_orders
        where the exchange has it, else its open and closed orders."""
        ex, prof = self.exchange, self.profile
        limit = prof.orders_limit
        since: int | None = since_ms
        if prof.orders_window_ms and ex.milliseconds() - since_ms > prof.orders_window_ms - 60_000:
            since = None  # longer than one request may span: the newest orders instead (this runs every cycle)

        def fetch(since_arg):
            if ex.has.get("fetchOrders"):
                return list(ex.fetch_orders(symbol, since_arg, limit))
            rows = list(ex.fetch_open_orders(symbol, since_arg, limit))
            if prof.closed_orders_page:
                rows += self._closed_pages(symbol, since_arg)
            elif ex.has.get("fetchClosedOrders"):
                rows += ex.fetch_closed_orders(symbol, since_arg, limit)
            return rows

        rows = fetch(since)
        if since is not None and limit and len(rows) >= limit:
            # A full page counted from `since` ends before now: add the newest page.
            log.warning("%s: %d or more orders of %s since %d; adding the newest %d", self.exchange_id, limit,
                        symbol or "all symbols", since_ms, limit)
            rows += fetch(None)
        return rows

    MAX_CLOSED_PAGES = 20  # 1000 kraken orders in the lookback: more is a runaway, not trading

    def _closed_pages(self, symbol: str | None, since_ms: int | None) -> list[dict]:
        """Every closed order since since_ms, page by page (kraken: the newest 50
        first; an order older than the first page is still an order to detect).
        The start goes as the exchange's own param and the symbol is filtered here:
        ccxt's `since` and `symbol` filter client-side, which would shorten a page
        and end the paging early."""
        ex, prof = self.exchange, self.profile
        base = {prof.closed_orders_start_param: since_ms // 1000} if since_ms is not None else {}
        rows: list[dict] = []
        for _ in range(self.MAX_CLOSED_PAGES):
            got = ex.fetch_closed_orders(None, None, None, {**base, prof.closed_orders_offset_param: len(rows)})
            rows += got
            if len(got) < prof.closed_orders_page:
                break
        else:
            log.warning("%s: more than %d closed orders since %s; reading no further", self.exchange_id, len(rows),
                        since_ms)
        return [o for o in rows if symbol is None or o.get("symbol") == symbol]

    def _venue_recent_orders(self, since: dt.datetime) -> list[VenueOrder]:
        import ccxt

        self._markets()
        since_ms = int(since.timestamp() * 1000)
        try:
            rows = self._orders_since(None, since_ms)
        except ccxt.ArgumentsRequired:  # binance and others list order history per symbol only
            rows = [o for s in self.symbols for o in self._orders_since(s, since_ms)]
        out, seen = [], set()
        for o in rows:
            key = (o.get("symbol"), o.get("id") or o.get("clientOrderId"))
            if key in seen:
                continue
            seen.add(key)
            out.append(self.to_venue_order(o))
        return out

    def _venue_account(self) -> VenueAccount:
        markets = self._markets()
        bal = self.exchange.fetch_balance()
        cash = float((bal.get(self.quote) or {}).get("free") or 0.0)
        pos = {}
        for s in self.symbols:
            base, _quote = split_symbol(s)
            total = float((bal.get(base) or {}).get("total") or 0.0)
            # Below the minimum order size a balance cannot be sold: dust, not a position.
            dust = ((markets.get(s) or {}).get("limits") or {}).get("amount", {}).get("min") or 0.0
            if total > 0 and total >= float(dust):
                pos[s] = (total, None)
        return VenueAccount(cash=cash, positions=pos)
