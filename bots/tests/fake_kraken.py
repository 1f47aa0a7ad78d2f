"""A stateful loopback fake of Kraken's spot REST API (/0/public/*, /0/private/*),
answering in the recorded shapes of tests/recorded/kraken/ (see its README).

What it holds ccxt's kraken (4.5.90) to: every private call is a POST with a
form body that starts with a nonce larger than the key's last one (else
EAPI:Invalid nonce), an API-Key header, and an API-Sign of
base64(HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body))).
Every answer is HTTP 200 with an `error` array; only the edge in front of it
answers 5xx, in HTML.

Orders: AddOrder answers with the txid alone (no status, no fill), so the
adapter must look again; cl_ord_id is unique among OPEN orders and at most 18
characters of free text (or a UUID); OpenOrders / ClosedOrders filter by
cl_ord_id on the server. Fees are charged in the quote currency (oflags fciq).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import math
import re
import time
from urllib.parse import parse_qs

from .fake_venues import FakeVenue, recorded

_ASSET = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}  # Kraken asset ids -> ccxt codes
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")


class FakeKraken(FakeVenue):
    venue = "kraken"
    key = "KRAKENTESTKEY0000000000000000000000000000000000000000000"
    secret = base64.b64encode(bytes(range(64))).decode()
    NEW, PARTIAL, FILLED, CANCELED = "open", "open", "closed", "canceled"  # no partially-filled status: vol_exec
    TERMINAL = ("closed", "canceled", "expired")
    FEE = 0.004  # the first taker tier of the recorded AssetPairs (0.40 %)
    _ids = itertools.count(1)

    def __init__(self, cash: float = 100_000.0):
        super().__init__()
        self.balances = {"USD": float(cash), "BTC": 0.0, "ETH": 0.0}
        self.pairs = recorded("kraken", "assetPairs")["result"]
        self.unified = {pid: f"{_ASSET[p['base']]}/{_ASSET[p['quote']]}" for pid, p in self.pairs.items()}
        self.pair_of = {u: pid for pid, u in self.unified.items()}
        self.asset_id = {code: aid for aid, code in _ASSET.items()}
        self.order_tpl = recorded("kraken", "order")
        self.last_nonce = 0

    def new_id(self):
        n = next(self._ids)
        return f"O{n:05d}K-FAKE{n % 10}-QS{n:04d}X"

    def book(self, o, qty, price):
        base = o["symbol"].split("/")[0]
        fee = qty * price * self.FEE
        o["fee"] = o.get("fee", 0.0) + fee
        if o["side"] == "buy":
            self.balances["USD"] -= qty * price + fee
            self.balances[base] = self.balances.get(base, 0.0) + qty
        else:
            self.balances[base] -= qty
            self.balances["USD"] += qty * price - fee

    def hold(self, symbol: str, qty: float, avg: float) -> None:
        with self.lock:
            self.balances[symbol.split("/")[0]] = float(qty)

    def _held(self, code: str) -> float:
        """Funds Kraken holds for open orders (hold_trade)."""
        held = 0.0
        for o in self.orders:
            if o["status"] not in self.TERMINAL:
                rest = o["qty"] - o["filled"]
                if code == "USD" and o["side"] == "buy":
                    held += rest * (o["limit_price"] or self.prices.get(o["symbol"], 0.0))
                elif o["side"] == "sell" and o["symbol"].startswith(code + "/"):
                    held += rest
        return held

    # ------------------------------------------------------------ answers --
    @staticmethod
    def ok(result):
        return 200, {"Content-Type": "application/json"}, json.dumps({"error": [], "result": result})

    def order_json(self, o: dict) -> dict:
        d = copy.deepcopy(self.order_tpl)
        pair = self.pairs[self.pair_of[o["symbol"]]]["altname"]
        price = f"{o['limit_price']:.1f}" if o["limit_price"] else "0"
        d.update(cl_ord_id=o["coid"], status=o["status"], opentm=o["created"], vol=f"{o['qty']:.8f}",
                 vol_exec=f"{o['filled']:.8f}", cost=f"{o['cost']:.5f}", fee=f"{o.get('fee', 0.0):.5f}",
                 price=f"{o['avg']:.1f}" if o["avg"] else "0.00000",
                 reason=o.get("reason"))
        d["descr"].update(pair=pair, type=o["side"], ordertype=o["type"], price=price,
                          order=f"{o['side']} {o['qty']:.8f} {pair} @ " +
                                (f"limit {price}" if o["type"] == "limit" else "market"))
        if o["status"] in self.TERMINAL:
            d["closetm"] = o["updated"]
        else:
            d.pop("closetm", None)
            d.pop("reason", None)
        return d

    # ------------------------------------------------------------- auth --
    def _signed(self, path: str, body: str, headers) -> tuple | None:
        if headers.get("API-Key") != self.key:
            return self.error("invalid_key")
        nonce = (parse_qs(body).get("nonce") or [""])[-1]
        if not nonce.isdigit():
            return self.error("invalid_nonce")
        digest = hashlib.sha256((nonce + body).encode()).digest()
        want = base64.b64encode(hmac.new(base64.b64decode(self.secret), path.encode() + digest,
                                         hashlib.sha512).digest()).decode()
        if not hmac.compare_digest(want, headers.get("API-Sign") or ""):
            return self.error("invalid_signature")
        if int(nonce) <= self.last_nonce:  # Kraken: each nonce larger than the key's last
            return self.error("invalid_nonce")
        self.last_nonce = int(nonce)
        return None

    # ----------------------------------------------------------- routing --
    def route(self, method, path, query, q, body, headers):
        if path == "/0/public/AssetPairs":
            return self.ok(self.pairs)
        if path == "/0/public/Assets":
            return self.ok(recorded("kraken", "assets")["result"])
        if path == "/0/public/OHLC":
            return self.ohlc(q)
        if method != "POST" or not path.startswith("/0/private/"):
            return self.error("unknown_method")
        bad = self._signed(path, body, headers)
        if bad:
            return bad
        p = {k: v[-1] for k, v in parse_qs(body).items()}
        name = path.rsplit("/", 1)[1]
        if name == "AddOrder":
            return self.submit(p)
        if name == "CancelOrder":  # like the other fakes: a cancel is answered before time passes
            return self.cancel_order(p.get("txid") or p.get("cl_ord_id"))
        self.advance()
        if name == "OpenOrders":
            return self.ok({"open": {o["id"]: self.order_json(o) for o in self._mine(p)
                                     if o["status"] not in self.TERMINAL}})
        if name == "ClosedOrders":
            return self.closed_orders(p)
        if name == "QueryOrders":
            ids = p.get("txid", "").split(",")
            found = {o["id"]: self.order_json(o) for o in self.orders if o["id"] in ids}
            return self.ok(found) if len(found) == len(ids) else self.error("invalid_order")
        if name in ("Balance", "BalanceEx"):
            rows = {}
            for code, v in sorted(self.balances.items()):
                aid = self.asset_id[code]
                rows[aid] = f"{v:.4f}" if name == "Balance" else \
                    {"balance": f"{v:.10f}", "hold_trade": f"{self._held(code):.10f}"}
            return self.ok(rows)
        return self.error("unknown_method")

    def _mine(self, p: dict) -> list[dict]:
        """Orders matching the request's cl_ord_id filter (all without one)."""
        return [o for o in self.orders if "cl_ord_id" not in p or o["coid"] == p["cl_ord_id"]]

    def closed_orders(self, p: dict):
        """ClosedOrders: the newest 50 closed orders, newest first; `start`/`end` are
        exclusive unix seconds of the close time."""
        rows = [o for o in self._mine(p) if o["status"] in self.TERMINAL]
        if p.get("start"):
            rows = [o for o in rows if o["updated"] > float(p["start"])]
        if p.get("end"):
            rows = [o for o in rows if o["updated"] < float(p["end"])]
        rows.sort(key=lambda o: o["updated"], reverse=True)
        ofs = int(p.get("ofs", 0))
        return self.ok({"closed": {o["id"]: self.order_json(o) for o in rows[ofs: ofs + 50]}, "count": len(rows)})

    def cancel_order(self, ref):
        """CancelOrder by txid or cl_ord_id: the base class cancels (a fill may race
        it); an order already closed is Kraken's EOrder:Unknown order."""
        canceled = [o for o in self.orders if ref in (o["id"], o["coid"]) and self.cancel(o)]
        if not canceled:
            return self.error("unknown_order")
        for o in canceled:
            o["reason"] = "User requested"
        return self.ok({"count": len(canceled)})

    def submit(self, p: dict):
        coid = p.get("cl_ord_id")
        if coid is not None and not (_UUID.match(coid) or (len(coid) <= 18 and coid.isascii())):
            return self.error("invalid_cl_ord_id")
        if coid is not None and any(o["coid"] == coid and o["status"] not in self.TERMINAL for o in self.orders):
            return self.error("duplicate_cl_ord_id")  # unique among open orders only
        if p.get("pair") not in self.unified:
            return self.json({"error": ["EQuery:Unknown asset pair"]})
        sym = self.unified[p["pair"]]
        side, otype, qty = p["type"], p["ordertype"], float(p["volume"])
        limit = float(p["price"]) if p.get("price") else None
        price = limit or self.prices[sym]
        base = sym.split("/")[0]
        if (side == "buy" and qty * price * (1 + self.FEE) > self.balances["USD"] - self._held("USD")) or \
                (side == "sell" and qty > self.balances.get(base, 0.0) - self._held(base) + 1e-12):
            return self.error("insufficient_funds")
        o = self._new_order(coid, sym, side, qty, otype, limit, self.plan)
        self.advance(skip=o)
        pair = self.pairs[p["pair"]]["altname"]
        descr = f"{side} {qty:.8f} {pair} @ " + (f"limit {limit}" if limit else "market")
        return self.ok({"descr": {"order": descr}, "txid": [o["id"]]})

    def ohlc(self, q: dict):
        """OHLC: the newest 720 candles at most, from `since` (seconds), the one
        still forming included; [time, o, h, l, c, vwap, volume, count]."""
        tf = int(q.get("interval", 1)) * 60
        now_open = int(time.time()) // tf * tf
        start = max(int(q.get("since", 0)) // tf * tf + tf, now_open - 719 * tf)
        seed = sum(map(ord, q["pair"]))
        rows = []
        for t in range(start, now_open + 1, tf):
            c = 1000 + seed + 10 * math.sin(t / 900)
            rows.append([t, f"{c - 1:.1f}", f"{c + 2:.1f}", f"{c - 3:.1f}", f"{c:.1f}", f"{c:.1f}", "12.50000000", 40])
        return self.ok({q["pair"]: rows, "last": rows[-1][0] if rows else now_open})
