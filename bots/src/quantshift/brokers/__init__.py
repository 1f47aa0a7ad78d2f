"""Brokers behind one interface: sim (default, offline), alpaca, ccxt."""
from .base import AccountState, Broker, OrderRequest, OrderResult
from .remote import AdapterNotImplemented, AlpacaBroker, CcxtBroker
from .sim import SimBroker

__all__ = ["AccountState", "Broker", "OrderRequest", "OrderResult", "SimBroker", "AlpacaBroker", "CcxtBroker",
           "AdapterNotImplemented"]
