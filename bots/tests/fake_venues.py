"""Stateful loopback fakes of Alpaca (trading v2 + data v2) and Binance spot
(Kraken spot: fake_kraken.py), answering with the recorded responses in
recorded/ (see its README for which real API behaviour each one models).

alpaca-py and ccxt talk to them through their real HTTP stacks (requests),
with the client's base URL pointed at http://127.0.0.1:<port>: nothing leaves
the machine. A fault can be injected per endpoint - answer with a recorded
error, with or without applying the request first ("504 on submit, but the
order was accepted"), or hold the answer past the client's timeout.

"Time passes" between requests: every request other than the one that created
an order moves each open order one step along its fill plan, so a market order
accepted by POST is filled when the adapter next looks at it (Alpaca fills
asynchronously), and a partial fill becomes complete on a later look.

Standard library only: the lab serves the same fakes on its monitor host for
paper mode (`python3 fake_venues.py --alpaca 0.0.0.0:18081 --binance ...`, see
serve() below and roles/fake_venues).
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import itertools
import json
import math
import socket
import threading
import time
import uuid
import zoneinfo
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


RECORDED = Path(__file__).resolve().parent / "recorded"


def recorded(venue: str, name: str):
    return json.loads((RECORDED / venue / f"{name}.json").read_text())


def _rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unix(text: str) -> float:
    """An RFC 3339 query parameter (naive = UTC) as unix seconds."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


@dataclass
class Fault:
    method: str
    path: str
    error: str | None = None   # name in recorded/<venue>/errors.json
    process: bool = False      # apply the request first: the venue acted, the answer is lost
    delay: float = 0.0         # hold the answer this long (past the client's timeout)
    times: int = 1


class FakeVenue:
    venue = ""
    key = "PKTEST000000000000000000"
    secret = "test-secret-0123456789abcdefghijklmnopqr"

    def __init__(self, bind: tuple[str, int] = ("127.0.0.1", 0)):
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict]] = []
        self.faults: list[Fault] = []
        self.prices: dict[str, float] = {}
        self.orders: list[dict] = []
        self.plan = "fill"  # fill | partial | hold | expire_partial (binance market)
        # A fill that races the cancel: the next step of the fill plan lands just
        # before a DELETE arrives (otherwise a cancel finds the order as it was).
        self.fill_on_cancel = False
        self.errors = recorded(self.venue, "errors")
        venue = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                # headers and body go out as two writes: without this, Nagle + delayed ACK
                # add ~40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self, method):
                parts = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                status, headers, text = venue.dispatch(method, parts.path, parts.query, body, self.headers)
                data = text.encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): the venue acted anyway

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        self.server = ThreadingHTTPServer(bind, Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://{bind[0]}:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -------------------------------------------------------------- faults --
    def fault(self, method: str, path: str, error: str | None = None, *, process: bool = False,
              delay: float = 0.0, times: int = 1) -> None:
        with self.lock:
            self.faults.append(Fault(method, path, error, process, delay, times))

    def _take_fault(self, method, path) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and path.startswith(f.path):
                    f.times -= 1
                    return f
        return None

    def error(self, name: str, **fmt):
        e = self.errors[name]
        body = e["body"]
        for k, v in fmt.items():
            body = body.replace("{" + k + "}", str(v))
        return e["status"], dict(e["headers"]), body

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p.startswith(path))

    def dispatch(self, method, path, query, body, headers):
        if method == "GET" and path == "/_fake/orders":  # the lab's status table, not a venue API
            with self.lock:
                return self.json([{"client_order_id": o["coid"], "symbol": o["symbol"], "side": o["side"],
                                   "qty": o["qty"], "status": o["status"], "filled": o["filled"]}
                                  for o in self.orders])
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self.lock:
            self.requests.append((method, path, {**q, **({"_body": body} if body else {})}))
        f = self._take_fault(method, path)
        resp = None
        if f is None or f.process or not f.error:
            with self.lock:
                resp = self.route(method, path, query, q, body, headers)
        if f is not None and f.delay:
            time.sleep(f.delay)
        if f is not None and f.error:
            return self.error(f.error)
        return resp

    def route(self, method, path, query, q, body, headers):
        raise NotImplementedError

    @staticmethod
    def json(obj, status=200):
        return status, {"Content-Type": "application/json"}, json.dumps(obj)

    # ------------------------------------------------------------- orders --
    def _steps(self, qty: float, price: float, plan: str) -> list[tuple[float, float]]:
        """Cumulative (filled qty, price of this step) per advance."""
        if plan == "hold":
            return []
        if plan == "partial":
            half = round(qty / 2, 8)
            return [(half, price), (qty, round(price * 1.01, 2))]
        return [(qty, price)]

    def advance(self, skip=None) -> None:
        """Time passes: each open order moves one step along its fill plan."""
        for o in self.orders:
            if o is skip or o["status"] in self.TERMINAL or o["step"] >= len(o["steps"]):
                continue
            cum, px = o["steps"][o["step"]]
            o["step"] += 1
            self._fill(o, cum - o["filled"], px)

    def advance_one(self, o):
        cum, px = o["steps"][o["step"]]
        o["step"] += 1
        self._fill(o, cum - o["filled"], px)

    def cancel(self, o: dict) -> bool:
        """DELETE of one order: an open one is canceled at once and keeps what
        it filled; False for an order already final (the venue refuses)."""
        if self.fill_on_cancel and o["status"] not in self.TERMINAL and o["step"] < len(o["steps"]):
            self.advance_one(o)
        if o["status"] in self.TERMINAL:
            return False
        o["status"] = self.CANCELED
        o["updated"] = time.time()
        return True

    def _fill(self, o: dict, qty: float, price: float) -> None:
        if qty <= 0:
            return
        o["cost"] += qty * price
        o["filled"] = round(o["filled"] + qty, 10)
        o["avg"] = o["cost"] / o["filled"]
        o["fills"].append((qty, price))
        self.book(o, qty, price)
        o["status"] = self.FILLED if o["filled"] >= o["qty"] - 1e-12 else self.PARTIAL
        o["updated"] = time.time()

    def place(self, client_order_id: str, symbol: str, side: str, qty: float, *, order_type: str = "market",
              limit_price: float | None = None, plan: str | None = None) -> dict:
        """An order the venue has without a request from the adapter (placed by a
        crashed process, or by a human on the website)."""
        with self.lock:
            return self._new_order(client_order_id, symbol, side, qty, order_type, limit_price, plan or self.plan)

    def _new_order(self, coid, symbol, side, qty, order_type, limit_price, plan) -> dict:
        price = limit_price if order_type == "limit" else self.prices.get(symbol, 100.0)
        o = dict(id=self.new_id(), coid=coid, symbol=symbol, side=side, qty=float(qty), type=order_type,
                 limit_price=limit_price, status=self.NEW, filled=0.0, cost=0.0, avg=None, fills=[],
                 steps=self._steps(float(qty), price, plan), step=0, created=time.time(), updated=time.time())
        self.orders.append(o)
        return o

    def venue_orders(self, client_order_id: str | None = None) -> list[dict]:
        with self.lock:
            return [o for o in self.orders if client_order_id is None or o["coid"] == client_order_id]


# ---------------------------------------------------------------- alpaca --

class FakeAlpaca(FakeVenue):
    """Alpaca trading API v2 and market data v2 in one server (paths differ)."""
    venue = "alpaca"
    NEW, PARTIAL, FILLED, CANCELED = "accepted", "partially_filled", "filled", "canceled"
    TERMINAL = ("filled", "canceled", "expired", "rejected", "replaced")
    OPEN = ("new", "accepted", "pending_new", "partially_filled", "accepted_for_bidding", "held")

    def __init__(self, cash: float = 100_000.0, bind: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(bind)
        self.cash = float(cash)
        self.positions: dict[str, list[float]] = {}  # symbol -> [qty, avg]
        self.bars_page_size = 250
        self.bar_gaps: set[str] = set()
        self.splits: dict[str, float] = {}
        self.order_tpl = recorded("alpaca", "order")
        self.account_tpl = recorded("alpaca", "account")
        self.position_tpl = recorded("alpaca", "position")
        self.clock_tpl = recorded("alpaca", "clock")
        self.calendar_tpl = recorded("alpaca", "calendar")
        # The regular sessions as (open, close) unix times: by default one that
        # began an hour ago and lasts a month, then another (tests set their own).
        t0 = time.time()
        self.sessions = [(t0 - 3600, t0 + 30 * 86400), (t0 + 31 * 86400, t0 + 31 * 86400 + 23400)]
        self.now = time.time

    def new_id(self):
        return str(uuid.uuid4())

    def book(self, o, qty, price):
        p = self.positions.setdefault(o["symbol"], [0.0, 0.0])
        if o["side"] == "buy":
            p[1] = (p[0] * p[1] + qty * price) / (p[0] + qty)
            p[0] += qty
            self.cash -= qty * price
        else:
            p[0] -= qty
            self.cash += qty * price
        if p[0] <= 1e-12:
            del self.positions[o["symbol"]]

    def hold(self, symbol: str, qty: float, avg: float) -> None:
        with self.lock:
            self.positions[symbol] = [float(qty), float(avg)]

    def order_json(self, o: dict) -> dict:
        d = copy.deepcopy(self.order_tpl)
        d.update(id=o["id"], client_order_id=o["coid"], symbol=o["symbol"], side=o["side"], qty=f"{o['qty']:g}",
                 type=o["type"], order_type=o["type"], status=o["status"], filled_qty=f"{o['filled']:g}",
                 filled_avg_price=f"{o['avg']:.4f}" if o["avg"] else None,
                 limit_price=f"{o['limit_price']:g}" if o["limit_price"] else None,
                 created_at=_rfc3339(o["created"]), submitted_at=_rfc3339(o["created"]),
                 updated_at=_rfc3339(o["updated"]),
                 filled_at=_rfc3339(o["updated"]) if o["status"] == "filled" else None,
                 position_intent="buy_to_open" if o["side"] == "buy" else "sell_to_close")
        return d

    def route(self, method, path, query, q, body, headers):
        if headers.get("APCA-API-KEY-ID") != self.key or headers.get("APCA-API-SECRET-KEY") != self.secret:
            return self.error("unauthorized")
        if path == "/v2/stocks/bars":
            return self.bars(q)
        if method == "POST" and path == "/v2/orders":
            return self.submit(json.loads(body))
        if method == "GET" and path == "/v2/clock":
            return self.clock()
        if method == "GET" and path == "/v2/calendar":
            return self.calendar(q)
        if method == "DELETE" and path.startswith("/v2/orders/"):
            # 204 without a body; the order reads `canceled` from then on
            hit = [o for o in self.orders if o["id"] == path.rsplit("/", 1)[1]]
            if not hit:
                return self.error("order_not_found", client_order_id=path.rsplit("/", 1)[1])
            if not self.cancel(hit[0]):
                return self.error("order_not_cancelable", status=hit[0]["status"])
            return 204, {}, ""
        self.advance()
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            hit = [o for o in self.orders if o["coid"] == q.get("client_order_id")]
            if not hit:
                return self.error("order_not_found", client_order_id=q.get("client_order_id"))
            return self.json(self.order_json(hit[0]))
        if method == "GET" and path == "/v2/orders":
            want = q.get("status", "open")
            rows = [o for o in self.orders if want == "all" or (o["status"] in self.OPEN) == (want == "open")]
            # after/until: submission time, both exclusive; direction: by submission time, desc by default
            if q.get("after"):
                rows = [o for o in rows if o["created"] > _unix(q["after"])]
            if q.get("until"):
                rows = [o for o in rows if o["created"] < _unix(q["until"])]
            rows = sorted(rows, key=lambda o: o["created"], reverse=q.get("direction", "desc") != "asc")
            rows = rows[: min(int(q.get("limit", 50)), 500)]
            return self.json([self.order_json(o) for o in rows])
        if method == "GET" and path == "/v2/account":
            d = copy.deepcopy(self.account_tpl)
            mv = sum(qty * self.prices.get(s, avg) for s, (qty, avg) in self.positions.items())
            d.update(cash=f"{self.cash:.2f}", equity=f"{self.cash + mv:.2f}", portfolio_value=f"{self.cash + mv:.2f}",
                     long_market_value=f"{mv:.2f}", non_marginable_buying_power=f"{self.cash:.2f}",
                     buying_power=f"{self.cash:.2f}")
            return self.json(d)
        if method == "GET" and path == "/v2/positions":
            out = []
            for s, (qty, avg) in sorted(self.positions.items()):
                d = copy.deepcopy(self.position_tpl)
                px = self.prices.get(s, avg)
                d.update(symbol=s, qty=f"{qty:g}", qty_available=f"{qty:g}", avg_entry_price=f"{avg:.4f}",
                         market_value=f"{qty * px:.2f}", cost_basis=f"{qty * avg:.2f}", current_price=f"{px:.2f}")
                out.append(d)
            return self.json(out)
        return self.json({"code": 40410000, "message": "endpoint not found"}, 404)

    def submit(self, req: dict):
        coid = req.get("client_order_id") or str(uuid.uuid4())
        if any(o["coid"] == coid for o in self.orders):  # Alpaca: unique across ALL orders, even closed ones
            return self.error("duplicate_client_order_id")
        sym, side, qty = req["symbol"], req["side"], float(req["qty"])
        limit = float(req["limit_price"]) if req.get("limit_price") else None
        price = limit or self.prices.get(sym, 100.0)
        if side == "buy" and qty * price > self.cash:
            return self.error("insufficient_buying_power", buying_power=f"{self.cash:.2f}", cost=f"{qty * price:.2f}")
        held = self.positions.get(sym, [0.0])[0]
        if side == "sell" and qty > held + 1e-12:
            return self.error("insufficient_qty", qty=f"{qty:g}", available=f"{held:g}", symbol=sym)
        o = self._new_order(coid, sym, side, qty, req.get("type", "market"), limit, self.plan)
        self.advance(skip=o)
        return self.json(self.order_json(o))

    # ------------------------------------------------------------ clock --
    ET = zoneinfo.ZoneInfo("America/New_York")

    def _et(self, ts: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, tz=self.ET)

    def clock(self):
        """GET /v2/clock: times in US Eastern with their offset, as Alpaca sends them."""
        now = self.now()
        d = copy.deepcopy(self.clock_tpl)
        d.update(timestamp=self._et(now).isoformat(), is_open=any(o <= now < c for o, c in self.sessions),
                 next_open=self._et(min(o for o, _c in self.sessions if o > now)).isoformat(),
                 next_close=self._et(min(c for _o, c in self.sessions if c > now)).isoformat())
        return self.json(d)

    def calendar(self, q: dict):
        """GET /v2/calendar?start=&end= (dates, both inclusive): one entry per session."""
        out = []
        for o, c in self.sessions:
            day = self._et(o).date().isoformat()
            if q.get("start", day) <= day <= q.get("end", day):
                d = copy.deepcopy(self.calendar_tpl[0])
                d.update(date=day, open=self._et(o).strftime("%H:%M"), close=self._et(c).strftime("%H:%M"))
                out.append(d)
        return self.json(out)

    # ------------------------------------------------------------- bars --
    def bar(self, sym: str, t: int) -> dict:
        """One bar, split adjusted (adjustment=all): after split(sym, 4) every
        bar of its history reads a quarter of the price, four times the volume."""
        seed = int(hashlib.sha256(sym.encode()).hexdigest()[:6], 16)
        base = 50 + seed % 400
        ratio = self.splits.get(sym, 1.0)
        c = round(base * (1 + 0.01 * math.sin(t / 600 + seed)) / ratio, 4)
        return {"t": dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "o": round(c * 0.999, 4), "h": round(c * 1.002, 4), "l": round(c * 0.997, 4), "c": c,
                "v": round((1000 + (t // 60) % 97) * ratio), "n": 10, "vw": c}

    def live_price(self, sym: str) -> float:
        return self.bar(sym, int(time.time()) // 60 * 60)["c"]

    def split(self, sym: str, ratio: float) -> None:
        """A corporate action: the adjusted history changes retroactively."""
        with self.lock:
            self.splits[sym] = self.splits.get(sym, 1.0) * ratio

    def bars(self, q: dict):
        if q.get("adjustment") != "all":  # raw prices would show a split as a crash
            return self.json({"code": 42210000, "message": f"fake: adjustment=all expected, got "
                                                           f"{q.get('adjustment')!r}"}, 422)
        syms = q["symbols"].split(",")
        start = int(dt.datetime.fromisoformat(q["start"]).timestamp())
        end = int(dt.datetime.fromisoformat(q["end"]).timestamp())
        tf = {"1Min": 60, "5Min": 300, "1Hour": 3600}[q["timeframe"]]
        session_open = self.session_open  # the fake market opened here: no bars before it
        times = [t for t in range(max(start, session_open) // tf * tf, end + 1, tf) if t >= start and t >= session_open]
        items = [(s, t) for s in sorted(syms) for t in times if not (s in self.bar_gaps and (t // tf) % 3 == 0)]
        offset = int(base64.b64decode(q["page_token"]).decode()) if q.get("page_token") else 0
        limit = min(int(q.get("limit") or 1000), self.bars_page_size)
        out: dict[str, list] = {}
        for s, t in items[offset: offset + limit]:  # only the page's bars are made
            out.setdefault(s, []).append(self.bar(s, t))
        nxt = offset + limit
        token = base64.b64encode(str(nxt).encode()).decode() if nxt < len(items) else None
        return self.json({"bars": out, "next_page_token": token})

    session_open = 0


# --------------------------------------------------------------- binance --

class FakeBinance(FakeVenue):
    """Binance spot REST: /api/v3/{exchangeInfo, order, openOrders, account, klines}."""
    venue = "binance"
    NEW, PARTIAL, FILLED, CANCELED = "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED"
    TERMINAL = ("FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH")
    COMMISSION = 0.001
    _ids = itertools.count(28457394110)

    def __init__(self, cash: float = 100_000.0, bind: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(bind)
        self.balances = {"USDT": float(cash), "BTC": 0.0, "ETH": 0.0}
        self.info = recorded("binance", "exchangeInfo")
        self.markets = {s["symbol"]: s for s in self.info["symbols"]}
        self.query_tpl = recorded("binance", "order_query")
        self.full_tpl = recorded("binance", "order_full")
        self.cancel_tpl = recorded("binance", "order_cancel")
        self.account_tpl = recorded("binance", "account")

    def new_id(self):
        return next(self._ids)

    @staticmethod
    def unified(market_id: str) -> str:
        return market_id[:-4] + "/USDT"

    def book(self, o, qty, price):
        base = o["symbol"].split("/")[0]
        if o["side"] == "buy":
            fee = qty * self.COMMISSION
            o.setdefault("commission", []).append((fee, base))
            self.balances["USDT"] -= qty * price
            self.balances[base] = self.balances.get(base, 0.0) + qty - fee
        else:
            fee = qty * price * self.COMMISSION
            o.setdefault("commission", []).append((fee, "USDT"))
            self.balances[base] -= qty
            self.balances["USDT"] += qty * price - fee

    def hold(self, symbol: str, qty: float, avg: float) -> None:
        with self.lock:
            self.balances[symbol.split("/")[0]] = float(qty)

    def _steps(self, qty, price, plan):
        if plan == "expire_partial":
            return []
        return super()._steps(qty, price, plan)

    def order_json(self, o: dict, full: bool = False) -> dict:
        d = copy.deepcopy(self.full_tpl if full else self.query_tpl)
        d.update(symbol=o["symbol"].replace("/", ""), orderId=o["id"], clientOrderId=o["coid"],
                 price=f"{o['limit_price'] or 0:.8f}", origQty=f"{o['qty']:.8f}", executedQty=f"{o['filled']:.8f}",
                 cummulativeQuoteQty=f"{o['cost']:.8f}", status=o["status"], type=o["type"].upper(),
                 side=o["side"].upper(), timeInForce="GTC")
        ms = int(o["created"] * 1000)
        if full:
            d.update(transactTime=ms, workingTime=ms,
                     fills=[{"price": f"{px:.8f}", "qty": f"{qty:.8f}", "commission": f"{fee:.8f}",
                             "commissionAsset": asset, "tradeId": 3477920515 + i}
                            for i, ((qty, px), (fee, asset)) in enumerate(zip(o["fills"], o.get("commission", [])))])
        else:
            d.update(time=ms, updateTime=int(o["updated"] * 1000), workingTime=ms)
        return d

    def _signed(self, query, body, headers) -> tuple | None:
        if headers.get("X-MBX-APIKEY") != self.key:
            return self.error("bad_api_key")
        payload = body if body else query
        if "&signature=" not in payload:
            return self.error("invalid_signature")
        signed, sig = payload.rsplit("&signature=", 1)
        want = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(want, sig) else self.error("invalid_signature")

    def route(self, method, path, query, q, body, headers):
        if path == "/api/v3/exchangeInfo":
            return self.json(self.info)
        if path == "/api/v3/klines":
            return self.klines(q)
        bad = self._signed(query, body, headers)
        if bad:
            return bad
        if method == "POST" and path == "/api/v3/order":
            return self.submit({k: v[-1] for k, v in parse_qs(body).items()})
        if method == "DELETE" and path == "/api/v3/order":
            return self.cancel_order(q)
        self.advance()
        if method == "GET" and path == "/api/v3/order":
            sym = self.unified(q["symbol"])
            hit = [o for o in self.orders if o["symbol"] == sym and
                   (o["coid"] == q.get("origClientOrderId") or str(o["id"]) == q.get("orderId"))]
            return self.json(self.order_json(hit[-1])) if hit else self.error("order_not_found")
        if method == "GET" and path == "/api/v3/allOrders":
            return self.all_orders(q)
        if method == "GET" and path == "/api/v3/openOrders":
            rows = [o for o in self.orders if o["status"] in (self.NEW, self.PARTIAL) and
                    ("symbol" not in q or o["symbol"] == self.unified(q["symbol"]))]
            return self.json([self.order_json(o) for o in rows])
        if method == "GET" and path == "/api/v3/account":
            d = copy.deepcopy(self.account_tpl)
            d["balances"] = [{"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                             for a, v in sorted(self.balances.items())]
            return self.json(d)
        return self.json({"code": -1100, "msg": "Illegal characters found in parameter 'path'."}, 404)

    def submit(self, p: dict):
        coid = p.get("newClientOrderId") or f"x-{uuid.uuid4().hex[:20]}"
        # Binance: newClientOrderId must be unique among OPEN orders only.
        if any(o["coid"] == coid and o["status"] in (self.NEW, self.PARTIAL) for o in self.orders):
            return self.error("duplicate_order")
        sym = self.unified(p["symbol"])
        side, otype, qty = p["side"].lower(), p["type"].lower(), float(p["quantity"])
        limit = float(p["price"]) if p.get("price") else None
        price = limit or self.prices[sym]
        base = sym.split("/")[0]
        if (side == "buy" and qty * price > self.balances["USDT"]) or \
                (side == "sell" and qty > self.balances.get(base, 0.0) + 1e-12):
            return self.error("insufficient_balance")
        plan = self.plan
        if otype == "market" and plan == "partial":
            plan = "fill"  # a market order fills or expires at once on Binance
        o = self._new_order(coid, sym, side, qty, otype, limit, plan)
        if otype == "market":
            if plan == "expire_partial":  # thin book: half executed, the rest expired
                self._fill(o, round(qty / 2, 8), price)
                o["status"] = "EXPIRED"
            elif o["steps"]:
                self.advance_one(o)
        return self.json(self.order_json(o, full=True))

    def cancel_order(self, q: dict):
        """DELETE /api/v3/order?symbol=&orderId= (ccxt cancel_order): the order as
        canceled, with what it executed; -2011 for one that is no longer open."""
        sym = self.unified(q["symbol"])
        hit = [o for o in self.orders if o["symbol"] == sym and
               (str(o["id"]) == q.get("orderId") or o["coid"] == q.get("origClientOrderId"))]
        if not hit or not self.cancel(hit[-1]):
            return self.error("cancel_rejected")
        o = hit[-1]
        d = copy.deepcopy(self.cancel_tpl)
        d.update(symbol=q["symbol"], origClientOrderId=o["coid"], orderId=o["id"], clientOrderId=uuid.uuid4().hex[:22],
                 transactTime=int(o["updated"] * 1000), price=f"{o['limit_price'] or 0:.8f}",
                 origQty=f"{o['qty']:.8f}", executedQty=f"{o['filled']:.8f}", cummulativeQuoteQty=f"{o['cost']:.8f}",
                 status=o["status"], type=o["type"].upper(), side=o["side"].upper())
        return self.json(d)

    DAY_MS = 24 * 3600 * 1000

    def all_orders(self, q: dict):
        """GET /api/v3/allOrders: one symbol (mandatory), ascending by order id;
        startTime/endTime select by order time and may span 24 h at most (one
        of them alone: that 24 h window); without them the newest `limit`."""
        if not q.get("symbol"):
            return self.json({"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                                    "or malformed."}, 400)
        sym = self.unified(q["symbol"])
        rows = sorted((o for o in self.orders if o["symbol"] == sym), key=lambda o: o["id"])
        limit = min(int(q.get("limit", 500)), 1000)
        start, end = q.get("startTime"), q.get("endTime")
        if start or end:
            lo = int(start) if start else int(end) - self.DAY_MS
            hi = int(end) if end else lo + self.DAY_MS
            if hi - lo > self.DAY_MS:
                return self.json({"code": -1127, "msg": "More than 24 hours between startTime and endTime."}, 400)
            rows = [o for o in rows if lo <= int(o["created"] * 1000) <= hi][:limit]
        else:
            rows = rows[-limit:]
        return self.json([self.order_json(o) for o in rows])

    @staticmethod
    def candle_close(market_id: str, t: int) -> float:
        """The close of a market's candle opening at t (a slow wave around its level)."""
        seed = sum(map(ord, market_id))
        return 1000 + seed + 10 * math.sin(t / 900 + seed)  # each market in its own phase

    def list_markets(self, symbols) -> None:
        """Serve mode: every USDT pair the bot trades is a market (as BTCUSDT is), with
        an empty balance of its base asset."""
        template = self.markets["BTCUSDT"]
        for sym in symbols:
            base, quote = sym.split("/")
            if quote != "USDT":
                raise ValueError(f"fake binance lists USDT pairs only, got {sym}")
            m = {**copy.deepcopy(template), "symbol": base + "USDT", "baseAsset": base}
            if m["symbol"] not in self.markets:
                self.info["symbols"].append(m)
                self.markets[m["symbol"]] = m
            self.balances.setdefault(base, 0.0)

    def live_price(self, sym: str) -> float:
        return self.candle_close(sym.replace("/", ""), int(time.time()) // 60 * 60)

    def klines(self, q: dict):
        tf = {"1m": 60, "5m": 300, "1h": 3600}[q["interval"]]
        start = int(q.get("startTime", 0)) // 1000
        limit = int(q.get("limit", 500))
        now_open = int(time.time()) // tf * tf  # the forming candle is included, as on Binance
        rows = []
        t = (start + tf - 1) // tf * tf
        while t <= now_open and len(rows) < limit:
            c = self.candle_close(q["symbol"], t)
            rows.append([t * 1000, f"{c - 1:.8f}", f"{c + 2:.8f}", f"{c - 3:.8f}", f"{c:.8f}", "12.5", t * 1000 + tf * 1000 - 1,
                         f"{12.5 * c:.8f}", 100, "6.0", f"{6 * c:.8f}", "0"])
            t += tf
        return self.json(rows)


# ------------------------------------------------------------ serve mode --

class LivePrices(dict):
    """Serve mode: a symbol's price is the close of the bar the fake serves for now,
    so fills and account values follow the market data the bots read."""

    def __init__(self, price):
        super().__init__()
        self._price = price

    def __missing__(self, sym):
        return self._price(sym)

    def get(self, sym, default=None):
        return self[sym]


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def serve(argv: list[str] | None = None) -> int:
    """The lab's paper venues: python3 fake_venues.py --alpaca 0.0.0.0:18081
    --binance 0.0.0.0:18082 --binance-symbols BTC/USDT,ETH/USDT. They accept only
    the keys in the environment (the bots' own .env names), and keep state in memory."""
    import argparse
    import os
    import signal

    p = argparse.ArgumentParser(prog="fake_venues.py", description="Recorded fake venues for the lab's paper mode.")
    p.add_argument("--alpaca", metavar="HOST:PORT", help="serve Alpaca's trading and data APIs here")
    p.add_argument("--binance", metavar="HOST:PORT", help="serve Binance spot here")
    p.add_argument("--binance-symbols", default="BTC/USDT,ETH/USDT", help="USDT pairs Binance lists")
    args = p.parse_args(argv)
    keys = {
        "alpaca": ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
        "binance": ("QUANTSHIFT_EXCHANGE_API_KEY", "QUANTSHIFT_EXCHANGE_API_SECRET"),
    }
    served = []
    for venue, cls, where in (("alpaca", FakeAlpaca, args.alpaca), ("binance", FakeBinance, args.binance)):
        if not where:
            continue
        missing = [name for name in keys[venue] if not os.environ.get(name)]
        if missing:
            p.error(f"--{venue} needs {' and '.join(missing)} in the environment")
        fake = cls(bind=_address(where))
        fake.key, fake.secret = (os.environ[name] for name in keys[venue])
        fake.prices = LivePrices(fake.live_price)
        if venue == "alpaca":
            fake.bars_page_size = 10_000  # Alpaca's own page size (the tests use a small one)
            # The fake market opened 400 minutes ago and stays open: the bots' first
            # request gets a lookback's worth of bars, not days of them.
            now = time.time()
            fake.session_open = int(now) - 400 * 60
            fake.sessions = [(now - 400 * 60, now + 30 * 86400), (now + 31 * 86400, now + 31 * 86400 + 23400)]
        if venue == "binance":
            fake.list_markets(args.binance_symbols.split(","))
        served.append(fake)
        print(f"fake {venue} serving on {fake.url}", flush=True)
    if not served:
        p.error("name at least one venue (--alpaca, --binance)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for fake in served:
        fake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
