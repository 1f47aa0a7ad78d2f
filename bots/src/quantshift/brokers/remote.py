"""Alpaca and ccxt brokers: the interface is fixed, the network code (with
recorded-response tests) is a later issue. Selecting one fails at start with a
clear configuration error rather than failing every cycle."""
from __future__ import annotations

from ..marketdata.remote import AdapterNotImplemented, require_extra


class _RemoteBroker:
    module = extra = what = ""

    def __init__(self, *args, **kwargs):
        require_extra(self.module, self.extra, self.what)
        raise AdapterNotImplemented(f"{self.what}: not implemented in this version; use broker.kind: sim")


class AlpacaBroker(_RemoteBroker):
    module, extra, what = "alpaca", "alpaca", "broker.kind alpaca"


class CcxtBroker(_RemoteBroker):
    module, extra, what = "ccxt", "ccxt", "broker.kind ccxt"
